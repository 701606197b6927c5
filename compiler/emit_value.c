/* emit_value.c — how the emitter names things: where a value lives (arena,
 * weights, gradient buffer, the caller's inputs), literals of the model's
 * float type, broadcast indices, the comment that heads each block, and
 * unary.def's C templates expanded.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

/* `#define PREFIX_NAME value  comment`, names padded so values line up. */
void define(Emit *E, const char *name, const char *value, const char *comment) {
    const char *full = xsprintf("%s_%s", E->PREFIX, name);
    if (comment) out(E, "#define %-30s %-10s /* %s */", full, value, comment);
    else out(E, "#define %-30s %s", full, value);
}

/* The shortest decimal that reads back as exactly x (as a float when
 * `as_float`): 0.9, not 0.90000000000000002. */
const char *shortest(double x, int as_float) {
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, x);
        double back = strtod(tmp, NULL);
        if (as_float ? (float)back == (float)x : back == x) break;
    }
    return xstrdup(tmp);
}

/* A literal of the model's float type, e.g. 0.5f or 1e-07f. */
const char *lit(Emit *E, double x) {
    const char *digits = shortest(x, !E->g->f64);
    const char *point = strpbrk(digits, ".eEn") ? "" : ".0";
    return xsprintf("%s%s%s", digits, point, E->g->f64 ? "" : "f");
}

int param_grad_index(Emit *E, int v) {
    if (E->sched != SCHED_TRAIN) return -1;
    for (int i = 0; i < E->g->nparams; i++)
        if (E->g->param_grad[i] == v) return i;
    return -1;
}

/* Where value v lives, as a C pointer expression. */
const char *ptr(Emit *E, int v) {
    int r = root_of(E, v);
    Node *n = node(E, r);
    switch (n->op) {
    case OP_INPUT: return xsprintf("in->%s", n->name);
    case OP_TARGET: return xsprintf("tg->%s", n->name);
    case OP_PARAM: return xsprintf("(P + %d)", n->param_offset);
    case OP_CONST: unreachable(); /* constants are inlined by elem() */
    default: break;
    }
    int gi = param_grad_index(E, r);
    if (gi >= 0) return xsprintf("(G + %d)", node(E, E->g->params[gi])->param_offset);
    long off = E->g->sched[E->sched].offset[r];
    if (off < 0) unreachable();
    return xsprintf("(A + %ld)", off);
}

/* Element idx of value v: X[idx], or the literal of a constant. */
const char *elem(Emit *E, int v, const char *idx) {
    if (node(E, v)->op == OP_CONST) return lit(E, node(E, v)->value);
    return xsprintf("%s[%s]", ptr(E, v), idx);
}

/* Number of elements at run time: "n * 64", "n", or "640". */
const char *count(const Shape *s) {
    long size = shape_size(s);
    if (!s->batched) return xsprintf("%ld", size);
    return size == 1 ? "n" : xsprintf("n * %ld", size);
}

/* Rows of a value seen as [rows, last axis]. */
const char *rows(const Shape *s) {
    long r = s->rank ? shape_size(s) / s->dims[s->rank - 1] : 1;
    if (!s->batched) return xsprintf("%ld", r);
    return r == 1 ? "n" : xsprintf("n * %ld", r);
}

/* x's per-sample dims are o's last ones (right-aligned, NumPy rules). */
static int suffix_of(const Shape *o, const Shape *x) {
    int off = o->rank - x->rank;
    if (off < 0) return 0;
    for (int d = 0; d < x->rank; d++)
        if (x->dims[d] != o->dims[off + d]) return 0;
    return 1;
}

/* x, one sample's worth of weights, repeats along o's leading axes (a bias
 * against its layer's output): element i of o reads x[i % size(x)]. */
int trailing_broadcast(const Shape *o, const Shape *x) {
    return !x->batched && shape_size(x) > 1 && !shape_equal(o, x) && suffix_of(o, x);
}

/* The index into operand `x` of element i of a value of shape `o` that x
 * broadcasts to (NumPy rules, the batch axis in front). */
const char *bcast_index(const Shape *o, const Shape *x) {
    if (shape_equal(o, x)) return "i";
    long sx = shape_size(x), so = shape_size(o);
    if (!x->batched && sx == 1) return "0";
    int off = o->rank - x->rank;
    int suffix_equal = suffix_of(o, x);
    if (trailing_broadcast(o, x)) return xsprintf("i %% %ld", sx);
    if (x->batched && sx == 1) return so == 1 ? "i" : xsprintf("i / %ld", so);
    if (x->batched && suffix_equal && x->rank == o->rank) return "i";
    /* General case: one term per axis that x does not broadcast. */
    Buf b = {0};
    long ostride = 1, xstride = 1;
    int terms = 0;
    for (int d = o->rank - 1; d >= 0; d--) {
        int xd = d - off;
        int xdim = xd >= 0 ? x->dims[xd] : 1;
        if (xdim != 1) {
            buf_printf(&b, "%s(i / %ld %% %d) * %ld", terms++ ? " + " : "", ostride, o->dims[d], xstride);
            xstride *= xdim;
        }
        ostride *= o->dims[d];
    }
    if (x->batched) buf_printf(&b, "%s(i / %ld) * %ld", terms++ ? " + " : "", so, sx);
    return terms ? b.data : "0";
}

const char *describe(Emit *E, int v) {
    Node *n = node(E, v);
    if (n->op == OP_CONST) return lit(E, n->value);
    const char *name = n->name ? n->name : xsprintf("%%%d", v);
    return xsprintf("%s %s", name, shape_str(&n->shape));
}

/* "y [n, 64] = relu(x [n, 10])" — the comment that heads each block. */
void head(Emit *E, Node *n, const char *what) {
    int v = (int)(n - E->g->nodes);
    Buf b = {0};
    buf_printf(&b, "    /* %s = %s(", describe(E, v), what);
    for (int i = 0; i < n->nin; i++) buf_printf(&b, "%s%s", i ? ", " : "", describe(E, n->in[i]));
    buf_puts(&b, ") */");
    out(E, "%s", b.data);
}

/* ---- emitters (the op table's emit column) ---------------------------------------- */

void emit_none(Emit *E, Node *n) {
    if (op_info[n->op].flags & OPF_VIEW) head(E, n, xsprintf("%s, a view", op_info[n->op].name));
}

/* A C template of unary.def (see there) with its operands filled in:
 * x, y and dy by the given expressions, #literals, $functions and $T by
 * the model's float type. */
const char *expand(Emit *E, const char *t, const char *x, const char *y, const char *dy) {
    Buf b = {0};
    buf_puts(&b, "");
    while (*t) {
        if (*t == '#') { /* a literal: #1, #0.5, #-0.5 */
            char *end;
            double v = strtod(t + 1, &end);
            buf_puts(&b, lit(E, v));
            t = end;
        } else if (*t == '$') {
            const char *name = ++t;
            while (isalnum((unsigned char)*t) || *t == '_') t++;
            const char *f = xstrndup(name, (size_t)(t - name));
            if (!strcmp(f, "T")) buf_puts(&b, E->T);
            else if (!strcmp(f, "mn_sigmoid") && E->g->f64) { /* 1 / (1 + exp(-arg)) */
                int depth = 0;
                const char *arg = t + 1, *p = arg;
                for (; *p && !(*p == ')' && depth == 0); p++) depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
                buf_printf(&b, "%s / (%s + %s(-%s))", lit(E, 1), lit(E, 1), fn(E, "exp"),
                           expand(E, xstrndup(arg, (size_t)(p - arg)), x, y, dy));
                t = *p ? p + 1 : p;
            } else if (!strncmp(f, "mn_", 3)) buf_puts(&b, math(E, f + 3));
            else buf_puts(&b, fn(E, f));
        } else if (isalpha((unsigned char)*t) || *t == '_') {
            const char *word = t;
            while (isalnum((unsigned char)*t) || *t == '_') t++;
            const char *w = xstrndup(word, (size_t)(t - word));
            buf_puts(&b, !strcmp(w, "x") && x ? x : !strcmp(w, "y") && y ? y : !strcmp(w, "dy") && dy ? dy : w);
        } else {
            buf_putc(&b, *t++);
        }
    }
    return b.data;
}

/* An activation applied to the expression x: the identity (OP_COPY) or a
 * unary.def op. */
const char *act_expr(Emit *E, Op act, const char *x) {
    if (!unary_info[act].forward) unreachable();
    return expand(E, unary_info[act].forward, x, NULL, NULL);
}

void gemm(Emit *E, const char *ta, const char *tb, const char *m, long nn, const char *k, const char *a,
                 const char *lda, const char *b, long ldb, const char *c, long ldc) {
    out(E, "    %s(%s, %s, %s, %ld, %s, %s, %s, %s, %s, %ld, %s, %s, %ld);",
        rt(E, "gemm"), ta, tb, m, nn, k, lit(E, 1), a, lda, b, ldb, lit(E, 0), c, ldc);
}
