/* lower_args.c — binding a call's arguments to a parameter list, reading
 * literal arguments (units, axes, windows, activations) with located
 * errors, and "did you mean" suggestions (lower.h). */
#include <string.h>

#include "lower.h"

/* Levenshtein distance, for "did you mean" hints. */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 32 || lb > 32) return 99;
    int d[33][33];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

const char *suggest(const char *word, const char *const *names, int n) {
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best ? xsprintf("; did you mean '%s'?", best) : "";
}

int bind_args(const char *what, Loc call_loc, const ArgSpec *spec, int nspec, const Arg *args,
                     Expr **bound, Loc *bound_loc, int have_first) {
    int ok = 1, pos = have_first ? 1 : 0;
    for (int i = 0; i < nspec; i++) bound[i] = NULL;
    for (const Arg *a = args; a; a = a->next) {
        int slot = -1;
        if (!a->name) {
            if (pos >= nspec) {
                error_at(a->loc, "too many arguments to %s: it takes at most %d", what,
                         nspec - (have_first ? 1 : 0));
                ok = 0;
                continue;
            }
            slot = pos++;
        } else {
            for (int i = 0; i < nspec; i++)
                if (!strcmp(spec[i].name, a->name)) slot = i;
            if (slot < 0) {
                const char *names[MAX_ARGS];
                for (int i = 0; i < nspec; i++) names[i] = spec[i].name;
                error_at(a->name_loc, "%s has no argument '%s'%s", what, a->name,
                         suggest(a->name, names, nspec));
                ok = 0;
                continue;
            }
            if (bound[slot] || (slot == 0 && have_first)) {
                error_at(a->name_loc, "argument '%s' of %s given twice", a->name, what);
                ok = 0;
                continue;
            }
        }
        bound[slot] = a->value;
        bound_loc[slot] = a->loc;
    }
    for (int i = have_first ? 1 : 0; ok && i < nspec; i++)
        if (spec[i].required && !bound[i]) {
            error_at(call_loc, "%s: missing argument '%s'", what, spec[i].name);
            ok = 0;
        }
    return ok;
}

/* A positive integer literal, e.g. units. */
int int_arg(Expr *e, const char *what, const char *arg, int *out) {
    if (e->kind == EX_NUMBER && e->is_integer && !e->is_bool && e->number >= 1 && e->number <= 1e9) {
        *out = (int)e->number;
        return 1;
    }
    error_at(e->loc, "%s: '%s' must be a positive integer", what, arg);
    return 0;
}

int number_arg(Expr *e, const char *what, const char *arg, double *out) {
    if (e->kind == EX_NUMBER && !e->is_bool) {
        *out = e->number;
        return 1;
    }
    if (e->kind == EX_NEG && e->lhs->kind == EX_NUMBER && !e->lhs->is_bool) {
        *out = -e->lhs->number;
        return 1;
    }
    error_at(e->loc, "%s: '%s' must be a number", what, arg);
    return 0;
}

int bool_arg(Expr *e, const char *what, const char *arg, int *out) {
    if (e->kind == EX_NUMBER && e->is_bool) {
        *out = e->number != 0;
        return 1;
    }
    error_at(e->loc, "%s: '%s' must be true or false", what, arg);
    return 0;
}

/* `activation=`: linear, the activations of unary.def (act = 1), softmax. */
int act_arg(Expr *e, const char *what, Op *out) {
    const char *names[OP_COUNT + 2];
    Op ops[OP_COUNT + 2];
    int n = 0;
    names[n] = "linear", ops[n++] = OP_COPY;
    for (int op = 0; op < OP_COUNT; op++)
        if (unary_info[op].act) names[n] = op_info[op].name, ops[n++] = (Op)op;
    names[n] = "softmax", ops[n++] = OP_SOFTMAX;
    if (e->kind == EX_NAME)
        for (int i = 0; i < n; i++)
            if (!strcmp(e->name, names[i])) {
                *out = ops[i];
                return 1;
            }
    Buf expected = {0};
    for (int i = 0; i < n; i++) buf_printf(&expected, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    error_at(e->loc, "%s: unknown activation%s; expected %s%s", what, e->kind == EX_NAME ? xsprintf(" '%s'", e->name) : "",
             expected.data, e->kind == EX_NAME ? suggest(e->name, names, n) : "");
    return 0;
}

int axis_arg(Expr *e, const char *what, int *out) {
    double v;
    int neg = e->kind == EX_NEG;
    Expr *num = neg ? e->lhs : e;
    if (num->kind == EX_NUMBER && num->is_integer && !num->is_bool) {
        v = neg ? -num->number : num->number;
        *out = (int)v;
        return 1;
    }
    error_at(e->loc, "%s: 'axis' must be an integer", what);
    return 0;
}

int pair_arg(Expr *e, const char *what, const char *arg, int out[2]) {
    if (e->kind == EX_LIST) {
        int n = 0;
        for (Arg *a = e->args; a; a = a->next) {
            if (n == 2 || !int_arg(a->value, what, arg, &out[n])) {
                if (n == 2) error_at(e->loc, "%s: '%s' takes one number or two: [height, width]", what, arg);
                return 0;
            }
            n++;
        }
        if (n == 2) return 1;
        error_at(e->loc, "%s: '%s' takes one number or two: [height, width]", what, arg);
        return 0;
    }
    if (!int_arg(e, what, arg, &out[0])) return 0;
    out[1] = out[0];
    return 1;
}

int padding_arg(Expr *e, const char *what, int *same) {
    if (e->kind == EX_NAME && (!strcmp(e->name, "same") || !strcmp(e->name, "valid"))) {
        *same = !strcmp(e->name, "same");
        return 1;
    }
    error_at(e->loc, "%s: padding must be valid or same", what);
    return 0;
}
