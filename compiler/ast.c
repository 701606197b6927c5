/* ast.c — AST constructors and the S-expression dump used by tests and
 * `-d ast`-style debugging. The dump is deterministic: one line per
 * statement, numbers in their shortest round-trip form (0.5, 64, 1e-07).
 */
#include "ast.h"

#include <math.h>
#include <stdlib.h>

/* A new expression node of `kind` spanning `loc`. */
Expr *new_expr(ExprKind kind, Loc loc) {
    Expr *e = xalloc(sizeof(*e));
    e->kind = kind;
    e->loc = loc;
    e->depth = 1;
    return e;
}

static int deeper(int a, int b) { return a > b ? a : b; }

Expr *expr_nested(Expr *e) {
    int d = 1, child = 0; /* child: the deepest child's own depth */
    switch (e->kind) {
    case EX_BINARY:
        d = deeper(e->lhs->depth, e->rhs->depth + 1);
        child = deeper(e->lhs->depth, e->rhs->depth);
        break;
    case EX_APPLY:
        d = child = deeper(e->arg ? e->arg->depth : 1, e->callee->depth);
        break;
    case EX_NEG:
        child = e->lhs->depth;
        d = child + 1;
        break;
    case EX_CALL:
    case EX_LIST:
        for (const Arg *a = e->args; a; a = a->next)
            child = deeper(child, a->value->depth);
        d = child + 1;
        break;
    default:
        break;
    }
    e->depth = d;
    if (d > MN_MAX_NESTING && child <= MN_MAX_NESTING)
        error_at(e->loc, "the expression is nested too deeply (at most %d levels)", MN_MAX_NESTING);
    return e;
}

/* A new argument; `name` is NULL for a positional one. */
Arg *new_arg(const char *name, Loc loc, Loc name_loc, Expr *value) {
    Arg *a = xalloc(sizeof(*a));
    a->name = name;
    a->loc = loc;
    a->name_loc = name_loc;
    a->value = value;
    return a;
}

/* A new statement of `kind` spanning `loc`. */
Stmt *new_stmt(StmtKind kind, Loc loc) {
    Stmt *s = xalloc(sizeof(*s));
    s->kind = kind;
    s->loc = loc;
    return s;
}

/* The source spelling of a binary operator. */
const char *binop_spelling(BinOp op) {
    switch (op) {
    case BIN_ADD: return "+";
    case BIN_SUB: return "-";
    case BIN_MUL: return "*";
    case BIN_DIV: return "/";
    case BIN_LT: return "<";
    case BIN_LE: return "<=";
    case BIN_GT: return ">";
    case BIN_GE: return ">=";
    case BIN_EQ: return "==";
    case BIN_NE: return "!=";
    }
    unreachable();
}

/* Prints a number with the fewest significant digits that read back to the
 * same double: 0.5, 64, 1e-07, 0.1 (never 0.10000000000000001); whole
 * numbers below 1e15 in plain digits. */
static void print_number(Buf *out, double v) {
    char text[32];
    if (fabs(v) < 1e15 && v == (double)(long long)v) {
        buf_printf(out, "%lld", (long long)v);   /* 10, not 1e+01 */
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof(text), "%.*g", prec, v);
        if (strtod(text, NULL) == v)
            break;
    }
    buf_puts(out, text);
}

/* Prints an argument list, each preceded by a space: ` 64 activation=relu`. */
static void print_args(Buf *out, const Arg *a) {
    for (; a; a = a->next) {
        buf_putc(out, ' ');
        if (a->name)
            buf_printf(out, "%s=", a->name);
        ast_print_expr(out, a->value);
    }
}

/* Appends the S-expression of `e`:
 *   64  true  x  (field d1 kernel)  (call dense 64 activation=relu)
 *   (apply CALLEE ARG)  (+ a b)  (neg a)  (list 1 1 32) */
void ast_print_expr(Buf *out, const Expr *e) {
    if (!e) {
        buf_puts(out, "<null>");
        return;
    }
    switch (e->kind) {
    case EX_NUMBER:
        if (e->is_bool)
            buf_puts(out, e->number != 0 ? "true" : "false");
        else
            print_number(out, e->number);
        return;
    case EX_NAME:
        buf_puts(out, e->name);
        return;
    case EX_FIELD:
        buf_puts(out, "(field ");
        ast_print_expr(out, e->lhs);
        buf_printf(out, " %s)", e->name);
        return;
    case EX_CALL:
        buf_printf(out, "(call %s", e->name);
        print_args(out, e->args);
        buf_putc(out, ')');
        return;
    case EX_APPLY:
        buf_puts(out, "(apply ");
        ast_print_expr(out, e->callee);
        buf_putc(out, ' ');
        ast_print_expr(out, e->arg);
        buf_putc(out, ')');
        return;
    case EX_BINARY:
        buf_printf(out, "(%s ", binop_spelling(e->op));
        ast_print_expr(out, e->lhs);
        buf_putc(out, ' ');
        ast_print_expr(out, e->rhs);
        buf_putc(out, ')');
        return;
    case EX_NEG:
        buf_puts(out, "(neg ");
        ast_print_expr(out, e->lhs);
        buf_putc(out, ')');
        return;
    case EX_LIST:
        buf_puts(out, "(list");
        print_args(out, e->args);
        buf_putc(out, ')');
        return;
    }
    unreachable();
}

/* Appends a type: float, int[200], float[50, 1]. */
static void print_type(Buf *out, const Type *t) {
    buf_puts(out, t->is_int ? "int" : "float");
    if (t->rank == 0)
        return;
    buf_putc(out, '[');
    for (int i = 0; i < t->rank; i++)
        buf_printf(out, i ? ", %d" : "%d", t->dims[i]);
    buf_putc(out, ']');
}

/* The keyword that starts each kind of statement in the dump. */
static const char *stmt_keyword(StmtKind kind) {
    switch (kind) {
    case ST_INPUT: return "input";
    case ST_TARGET: return "target";
    case ST_PARAM: return "param";
    case ST_LAYER: return "layer";
    case ST_ASSIGN: return "assign";
    case ST_OUTPUT: return "output";
    case ST_LOSS: return "loss";
    case ST_METRIC: return "metric";
    case ST_TRAIN: return "train";
    }
    unreachable();
}

/* Appends one line per statement, after a `(model NAME)` line:
 *   (input x float[10])   (param b float[32] zeros trainable=false)
 *   (layer d (call dense 3))   (assign y EXPR)   (output y z)
 *   (loss EXPR)   (metric EXPR)   (train batch=32 epochs=10) */
void ast_print_program(Buf *out, const Program *p) {
    if (p->model_name)
        buf_printf(out, "(model %s)\n", p->model_name);
    else
        buf_puts(out, "(model)\n");
    for (const Stmt *s = p->stmts; s; s = s->next) {
        buf_printf(out, "(%s", stmt_keyword(s->kind));
        if (s->name)
            buf_printf(out, " %s", s->name);
        switch (s->kind) {
        case ST_INPUT:
        case ST_TARGET:
            buf_putc(out, ' ');
            print_type(out, &s->type);
            break;
        case ST_PARAM:
            buf_putc(out, ' ');
            print_type(out, &s->type);
            buf_putc(out, ' ');
            ast_print_expr(out, s->expr);
            print_args(out, s->args);
            break;
        case ST_LAYER:
        case ST_ASSIGN:
        case ST_LOSS:
        case ST_METRIC:
            buf_putc(out, ' ');
            ast_print_expr(out, s->expr);
            break;
        case ST_OUTPUT:
            for (const NameList *n = s->names; n; n = n->next)
                buf_printf(out, " %s", n->name);
            break;
        case ST_TRAIN:
            print_args(out, s->args);
            break;
        }
        buf_puts(out, ")\n");
    }
}
