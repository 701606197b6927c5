/* emit_c.c — the C emitter: the planned graph as C99 source and header.
 *
 * The emitter decides nothing about shapes or gradients: it prints what the
 * IR and the plan say, one block per node, each under a comment naming the
 * .mn line it came from. All writes go through out() (chibicc's println).
 * Output depends only on the graph: no time, no absolute paths, no pointer
 * order, so the same .mn gives byte-identical files.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct Emit {
    Graph *g;
    Buf *b;
    SchedKind sched;
    const char *prefix;     /* C symbols: two_concat_init */
    const char *PREFIX;     /* macros: TWO_CONCAT_BATCH */
    const char *T;          /* "float" or "double" */
    const char *fs;         /* libm suffix: "f" or "" */
    int last_line;          /* provenance comment already printed for this line */
    int last_backward;
} Emit;

typedef void EmitRule(Emit *E, Node *n);

__attribute__((format(printf, 2, 3))) static void out(Emit *E, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(E->b, fmt, ap);
    va_end(ap);
    buf_putc(E->b, '\n');
}

static void blank(Emit *E) { buf_putc(E->b, '\n'); }

/* `#define PREFIX_NAME value  comment`, names padded so values line up. */
static void define(Emit *E, const char *name, const char *value, const char *comment) {
    const char *full = xsprintf("%s_%s", E->PREFIX, name);
    if (comment) out(E, "#define %-30s %-10s /* %s */", full, value, comment);
    else out(E, "#define %-30s %s", full, value);
}

static Node *node(Emit *E, int v) { return &E->g->nodes[v]; }
static Node *in(Emit *E, Node *n, int i) { return &E->g->nodes[n->in[i]]; }

/* The shortest decimal that reads back as exactly x (as a float when
 * `as_float`): 0.9, not 0.90000000000000002. */
static const char *shortest(double x, int as_float) {
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, x);
        double back = strtod(tmp, NULL);
        if (as_float ? (float)back == (float)x : back == x) break;
    }
    return xstrdup(tmp);
}

/* A literal of the model's float type, e.g. 0.5f or 1e-07f. */
static const char *lit(Emit *E, double x) {
    const char *digits = shortest(x, !E->g->f64);
    const char *point = strpbrk(digits, ".eEn") ? "" : ".0";
    return xsprintf("%s%s%s", digits, point, E->g->f64 ? "" : "f");
}

static const char *fn(Emit *E, const char *name) { return xsprintf("%s%s", name, E->fs); }
/* exp or tanh: libm's in double; in float, mn_math.h's, which vectorise */
static const char *math(Emit *E, const char *name) { return E->g->f64 ? name : xsprintf("mn_%s_f", name); }

/* A runtime function of the model's float type: mn_NAME_f32 or mn_NAME_f64. */
static const char *rt(Emit *E, const char *name) { return xsprintf("mn_%s_%s", name, E->g->f64 ? "f64" : "f32"); }

static int root_of(Emit *E, int v) {
    while (op_info[node(E, v)->op].flags & OPF_VIEW) v = node(E, v)->in[0];
    return v;
}

static int param_grad_index(Emit *E, int v) {
    if (E->sched != SCHED_TRAIN) return -1;
    for (int i = 0; i < E->g->nparams; i++)
        if (E->g->param_grad[i] == v) return i;
    return -1;
}

/* Where value v lives, as a C pointer expression. */
static const char *ptr(Emit *E, int v) {
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
static const char *elem(Emit *E, int v, const char *idx) {
    if (node(E, v)->op == OP_CONST) return lit(E, node(E, v)->value);
    return xsprintf("%s[%s]", ptr(E, v), idx);
}

/* Number of elements at run time: "n * 64", "n", or "640". */
static const char *count(const Shape *s) {
    long size = shape_size(s);
    if (!s->batched) return xsprintf("%ld", size);
    return size == 1 ? "n" : xsprintf("n * %ld", size);
}

/* Rows of a value seen as [rows, last axis]. */
static const char *rows(const Shape *s) {
    long r = s->rank ? shape_size(s) / s->dims[s->rank - 1] : 1;
    if (!s->batched) return xsprintf("%ld", r);
    return r == 1 ? "n" : xsprintf("n * %ld", r);
}

static int last_dim(const Shape *s) { return s->rank ? s->dims[s->rank - 1] : 1; }

/* The index into operand `x` of element i of a value of shape `o` that x
 * broadcasts to (NumPy rules, the batch axis in front). */
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
static int trailing_broadcast(const Shape *o, const Shape *x) {
    return !x->batched && shape_size(x) > 1 && !shape_equal(o, x) && suffix_of(o, x);
}

static const char *bcast_index(const Shape *o, const Shape *x) {
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

static const char *describe(Emit *E, int v) {
    Node *n = node(E, v);
    if (n->op == OP_CONST) return lit(E, n->value);
    const char *name = n->name ? n->name : xsprintf("%%%d", v);
    return xsprintf("%s %s", name, shape_str(&n->shape));
}

/* "y [n, 64] = relu(x [n, 10])" — the comment that heads each block. */
static void head(Emit *E, Node *n, const char *what) {
    int v = (int)(n - E->g->nodes);
    Buf b = {0};
    buf_printf(&b, "    /* %s = %s(", describe(E, v), what);
    for (int i = 0; i < n->nin; i++) buf_printf(&b, "%s%s", i ? ", " : "", describe(E, n->in[i]));
    buf_puts(&b, ") */");
    out(E, "%s", b.data);
}

/* ---- emitters (the op table's emit column) ---------------------------------------- */

static void emit_none(Emit *E, Node *n) {
    if (op_info[n->op].flags & OPF_VIEW) head(E, n, xsprintf("%s, a view", op_info[n->op].name));
}

/* A C template of unary.def (see there) with its operands filled in:
 * x, y and dy by the given expressions, #literals, $functions and $T by
 * the model's float type. */
static const char *expand(Emit *E, const char *t, const char *x, const char *y, const char *dy) {
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
static const char *act_expr(Emit *E, Op act, const char *x) {
    if (!unary_info[act].forward) unreachable();
    return expand(E, unary_info[act].forward, x, NULL, NULL);
}

static void gemm(Emit *E, const char *ta, const char *tb, const char *m, long nn, const char *k, const char *a,
                 const char *lda, const char *b, long ldb, const char *c, long ldc) {
    out(E, "    %s(%s, %s, %s, %ld, %s, %s, %s, %s, %s, %ld, %s, %s, %ld);",
        rt(E, "gemm"), ta, tb, m, nn, k, lit(E, 1), a, lda, b, ldb, lit(E, 0), c, ldc);
}

/* A product whose inner dimension is this small (a layer on one or a few
 * features) is a few multiply-adds per output: a direct loop beats a GEMM
 * call, which packs its operands first. */
#define DIRECT_K 8

/* "x[0] * w[j] + x[1] * w[N + j] + ..." over K terms */
static const char *dot_terms(int K, int N) {
    Buf b = {0};
    for (int k = 0; k < K; k++) {
        if (k == 0) buf_puts(&b, "x[0] * w[j]");
        else buf_printf(&b, " + x[%d] * w[%d + j]", k, k * N);
    }
    return b.data;
}

/* The local name of a LINEAR node's bias i (its input 2 + i): b, b2, b3 .. */
static const char *bias_name(int i) { return i ? xsprintf("b%d", i + 1) : "b"; }

static void emit_matmul(Emit *E, Node *n) {
    Node *x = in(E, n, 0), *w = in(E, n, 1);
    int K = w->shape.dims[0], N = w->shape.dims[1];
    int nbias = n->op == OP_LINEAR ? n->nin - 2 : 0, direct = K <= DIRECT_K;
    Buf terms = {0}, sum = {0}; /* " + b + b2", " + b[j] + b2[j]" */
    buf_puts(&terms, "");
    buf_puts(&sum, "");
    for (int i = 0; i < nbias; i++) {
        buf_printf(&terms, " + %s", bias_name(i));
        buf_printf(&sum, " + %s[j]", bias_name(i));
    }
    Op act = n->op == OP_LINEAR ? n->act : OP_COPY;
    head(E, n, n->op == OP_LINEAR ? xsprintf("%s(x W%s)", act == OP_COPY ? "linear" : op_info[act].name, terms.data) : "matmul");
    int v = (int)(n - E->g->nodes);
    if (!direct) {
        gemm(E, "CblasNoTrans", "CblasNoTrans", rows(&x->shape), N, xsprintf("%d", K), ptr(E, n->in[0]),
             xsprintf("%d", K), ptr(E, n->in[1]), N, ptr(E, v), N);
        if (!nbias && act == OP_COPY) return;
    }
    /* one pass over each output row: the product itself when it is direct,
     * then the bias and the activation */
    out(E, "    for (int r = 0; r < %s; r++) {%s", rows(&n->shape),
        direct ? xsprintf(" /* %d input%s: a direct loop */", K, K == 1 ? "" : "s") : "");
    if (direct) out(E, "        const %s *x = %s + (size_t)r * %d, *w = %s;", E->T, ptr(E, n->in[0]), K, ptr(E, n->in[1]));
    for (int i = 0; i < nbias; i++) out(E, "        const %s *%s = %s;", E->T, bias_name(i), ptr(E, n->in[2 + i]));
    out(E, "        %s *y = %s + (size_t)r * %d;", E->T, ptr(E, v), N);
    out(E, "        MN_VEC");
    out(E, "        for (int j = 0; j < %d; j++) {", N);
    out(E, "            const %s z = %s%s;", E->T, direct ? dot_terms(K, N) : "y[j]", sum.data);
    out(E, "            y[j] = %s;", act_expr(E, act, "z"));
    out(E, "        }");
    out(E, "    }");
}

static void emit_linear(Emit *E, Node *n) { emit_matmul(E, n); }

/* dx[.., K] = dy[.., N] W[K, N]^T */
static void emit_matmul_dx(Emit *E, Node *n) {
    Node *w = in(E, n, 1);
    int K = w->shape.dims[0], N = w->shape.dims[1], v = (int)(n - E->g->nodes);
    head(E, n, "dy W^T");
    if (N == 1) { /* one output: dx is dy times W's column */
        out(E, "    for (int r = 0; r < %s; r++) {", rows(&n->shape));
        out(E, "        const %s d = %s[r], *w = %s;", E->T, ptr(E, n->in[0]), ptr(E, n->in[1]));
        out(E, "        %s *dx = %s + (size_t)r * %d;", E->T, ptr(E, v), K);
        out(E, "        MN_VEC");
        out(E, "        for (int k = 0; k < %d; k++) dx[k] = d * w[k];", K);
        out(E, "    }");
        return;
    }
    gemm(E, "CblasNoTrans", "CblasTrans", rows(&n->shape), K, xsprintf("%d", N), ptr(E, n->in[0]),
         xsprintf("%d", N), ptr(E, n->in[1]), N, ptr(E, v), K);
}

/* dW[K, N] = x[rows, K]^T dy[rows, N] */
static void emit_matmul_dw(Emit *E, Node *n) {
    Node *x = in(E, n, 0);
    int K = n->shape.dims[0], N = n->shape.dims[1], v = (int)(n - E->g->nodes);
    head(E, n, "x^T dy");
    if (K <= DIRECT_K || N == 1) { /* a thin product: add up the rows' outer products */
        out(E, "    memset(%s, 0, sizeof(%s) * %ld);", ptr(E, v), E->T, (long)K * N);
        out(E, "    for (int r = 0; r < %s; r++) {", rows(&x->shape));
        out(E, "        const %s *x = %s + (size_t)r * %d, *dy = %s + (size_t)r * %d;", E->T, ptr(E, n->in[0]), K,
            ptr(E, n->in[1]), N);
        if (K <= DIRECT_K) {
            out(E, "        for (int k = 0; k < %d; k++) {", K);
            out(E, "            %s *dw = %s + (size_t)k * %d;", E->T, ptr(E, v), N);
            out(E, "            MN_VEC");
            out(E, "            for (int j = 0; j < %d; j++) dw[j] += x[k] * dy[j];", N);
            out(E, "        }");
        } else {
            out(E, "        %s *dw = %s;", E->T, ptr(E, v));
            out(E, "        MN_VEC");
            out(E, "        for (int k = 0; k < %d; k++) dw[k] += x[k] * dy[0];", K);
        }
        out(E, "    }");
        return;
    }
    gemm(E, "CblasTrans", "CblasNoTrans", xsprintf("%d", K), N, rows(&x->shape), ptr(E, n->in[0]),
         xsprintf("%d", K), ptr(E, n->in[1]), N, ptr(E, v), N);
}

/* y = f(x), f from unary.def */
static void emit_unary(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    head(E, n, op_info[n->op].name);
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++) {", count(&n->shape));
    out(E, "        const %s x = %s;", E->T, elem(E, n->in[0], "i"));
    out(E, "        %s = %s;", elem(E, v, "i"), act_expr(E, n->op, "x"));
    out(E, "    }");
}

/* (x or y, dy) -> dx, the derivative of unary.def's op n->loss */
static void emit_unary_grad(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    const UnaryInfo *u = &unary_info[n->loss];
    const char *operand = u->reads == UNARY_READS_Y ? "y" : "x";
    head(E, n, xsprintf("%s_grad", op_info[n->loss].name));
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++) {", count(&n->shape));
    out(E, "        const %s %s = %s, dy = %s;", E->T, operand, elem(E, n->in[0], "i"), elem(E, n->in[1], "i"));
    out(E, "        %s = %s;", elem(E, v, "i"), expand(E, u->derivative, NULL, NULL, NULL));
    out(E, "    }");
}

static void emit_softmax(Emit *E, Node *n) {
    int C = last_dim(&n->shape);
    head(E, n, "softmax");
    out(E, "    for (int r = 0; r < %s; r++) {", rows(&n->shape));
    out(E, "        const %s *x = %s + (size_t)r * %d;", E->T, ptr(E, n->in[0]), C);
    out(E, "        %s *y = %s + (size_t)r * %d;", E->T, ptr(E, (int)(n - E->g->nodes)), C);
    out(E, "        %s max = x[0], sum = %s;", E->T, lit(E, 0));
    out(E, "        for (int j = 1; j < %d; j++) max = x[j] > max ? x[j] : max;", C);
    out(E, "        for (int j = 0; j < %d; j++) {", C);
    out(E, "            y[j] = %s(x[j] - max);", math(E, "exp"));
    out(E, "            sum += y[j];");
    out(E, "        }");
    out(E, "        for (int j = 0; j < %d; j++) y[j] /= sum;", C);
    out(E, "    }");
}

/* dx = y (dy - <dy, y>) row by row */
static void emit_softmax_grad(Emit *E, Node *n) {
    int C = last_dim(&n->shape);
    head(E, n, "softmax_grad");
    out(E, "    for (int r = 0; r < %s; r++) {", rows(&n->shape));
    out(E, "        const %s *y = %s + (size_t)r * %d, *dy = %s + (size_t)r * %d;", E->T, ptr(E, n->in[0]), C,
        ptr(E, n->in[1]), C);
    out(E, "        %s *dx = %s + (size_t)r * %d;", E->T, ptr(E, (int)(n - E->g->nodes)), C);
    out(E, "        %s dot = %s;", E->T, lit(E, 0));
    out(E, "        for (int j = 0; j < %d; j++) dot += dy[j] * y[j];", C);
    out(E, "        for (int j = 0; j < %d; j++) dx[j] = y[j] * (dy[j] - dot);", C);
    out(E, "    }");
}

static void emit_binary(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    const char *op = NULL;
    switch (n->op) {
    case OP_ADD: op = "a + b"; break;
    case OP_SUB: op = "a - b"; break;
    case OP_MUL: op = "a * b"; break;
    case OP_DIV: op = "a / b"; break;
    case OP_MAX: op = "a >= b ? a : b"; break;
    case OP_POW: op = xsprintf("%s(a, b)", fn(E, "pow")); break;
    case OP_LT: op = "<"; break;
    case OP_LE: op = "<="; break;
    case OP_GT: op = ">"; break;
    case OP_GE: op = ">="; break;
    case OP_EQ: op = "=="; break;
    case OP_NE: op = "!="; break;
    default: unreachable();
    }
    if (n->op >= OP_LT && n->op <= OP_NE) op = xsprintf("a %s b ? %s : %s", op, lit(E, 1), lit(E, 0));
    head(E, n, op_info[n->op].name);
    Shape *o = &n->shape;
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++) {", count(o));
    out(E, "        const %s a = %s, b = %s;", E->T, elem(E, n->in[0], bcast_index(o, &in(E, n, 0)->shape)),
        elem(E, n->in[1], bcast_index(o, &in(E, n, 1)->shape)));
    out(E, "        %s = %s;", elem(E, v, "i"), op);
    out(E, "    }");
}

static void emit_where(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *o = &n->shape;
    head(E, n, "where");
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++)", count(o));
    out(E, "        %s = %s != 0 ? %s : %s;", elem(E, v, "i"), elem(E, n->in[0], bcast_index(o, &in(E, n, 0)->shape)),
        elem(E, n->in[1], bcast_index(o, &in(E, n, 1)->shape)), elem(E, n->in[2], bcast_index(o, &in(E, n, 2)->shape)));
}

static void emit_cast(Emit *E, Node *n) {
    head(E, n, "cast");
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++) %s = (%s)%s;", count(&n->shape), elem(E, (int)(n - E->g->nodes), "i"), E->T,
        elem(E, n->in[0], "i"));
}

/* (x, y, dy) -> d(x^p)/dp = dy y ln x where x > 0, else 0 (TensorFlow's rule:
 * never NaN at x = 0) */
static void emit_pow_dp(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *o = &n->shape;
    head(E, n, "d pow / dp");
    out(E, "    for (int i = 0; i < %s; i++) {", count(o));
    out(E, "        const %s x = %s;", E->T, elem(E, n->in[0], bcast_index(o, &in(E, n, 0)->shape)));
    out(E, "        %s = x > 0 ? %s * %s * %s(x) : %s;", elem(E, v, "i"), elem(E, n->in[2], "i"), elem(E, n->in[1], "i"),
        fn(E, "log"), lit(E, 0));
    out(E, "    }");
}

/* x broadcast up to a larger shape: each element reads its source. */
static void emit_expand(Emit *E, Node *n) {
    head(E, n, "expand");
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++) %s = %s;", count(&n->shape), elem(E, (int)(n - E->g->nodes), "i"),
        elem(E, n->in[0], bcast_index(&n->shape, &in(E, n, 0)->shape)));
}

/* Sum or max over one axis: x seen as [outer, len, inner]. */
static void emit_reduce(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *xs = &in(E, n, 0)->shape;
    long len = xs->dims[n->axis], inner = 1, outer = 1;
    for (int d = n->axis + 1; d < xs->rank; d++) inner *= xs->dims[d];
    for (int d = 0; d < n->axis; d++) outer *= xs->dims[d];
    const char *outers = xs->batched ? (outer == 1 ? "n" : xsprintf("n * %ld", outer)) : xsprintf("%ld", outer);
    int is_max = n->op == OP_REDUCE_MAX;
    head(E, n, op_info[n->op].name);
    out(E, "    for (int o = 0; o < %s; o++)", outers);
    out(E, "        for (int j = 0; j < %ld; j++) {", inner);
    out(E, "            const %s *x = %s + (size_t)o * %ld + j;", E->T, ptr(E, n->in[0]), len * inner);
    out(E, "            %s acc = x[0];", E->T);
    if (is_max) out(E, "            for (int k = 1; k < %ld; k++) acc = x[(size_t)k * %ld] > acc ? x[(size_t)k * %ld] : acc;", len, inner, inner);
    else out(E, "            for (int k = 1; k < %ld; k++) acc += x[(size_t)k * %ld];", len, inner);
    out(E, "            %s[(size_t)o * %ld + j] = acc;", ptr(E, v), inner);
    out(E, "        }");
}

static void emit_one_hot(Emit *E, Node *n) {
    int depth = n->len;
    head(E, n, xsprintf("one_hot %d", depth));
    out(E, "    for (int i = 0; i < %s; i++) {", count(&in(E, n, 0)->shape));
    out(E, "        const int32_t id = %s;", elem(E, n->in[0], "i"));
    out(E, "        %s *y = %s + (size_t)i * %d;", E->T, ptr(E, (int)(n - E->g->nodes)), depth);
    out(E, "        for (int j = 0; j < %d; j++) y[j] = j == id ? %s : %s; /* out of range: all 0 */", depth, lit(E, 1), lit(E, 0));
    out(E, "    }");
}

/* ---- images: x [n, H, W, C], windows k, strides s, padding pad (top, left) ---- */

typedef struct Geometry {
    int H, W, C, Ho, Wo;
} Geometry;

/* The sizes of an image x and of the windowed output y. */
static Geometry geometry(const Node *x, const Node *y) {
    Geometry g = {x->shape.dims[0], x->shape.dims[1], x->shape.dims[2], y->shape.dims[0], y->shape.dims[1]};
    return g;
}

/* The loops over samples, output cells and window cells, with (iy, ix)
 * the input cell; `inside` tells a padding cell from a real one. */
static void window_loops(Emit *E, Node *n, Geometry g) {
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "    for (int oy = 0; oy < %d; oy++)", g.Ho);
    out(E, "    for (int ox = 0; ox < %d; ox++)", g.Wo);
    out(E, "    for (int ky = 0; ky < %d; ky++)", n->k[0]);
    out(E, "    for (int kx = 0; kx < %d; kx++) {", n->k[1]);
    out(E, "        const int iy = oy * %d - %d + ky, ix = ox * %d - %d + kx;", n->s[0], n->pad[0], n->s[1], n->pad[1]);
    out(E, "        const int inside = iy >= 0 && iy < %d && ix >= 0 && ix < %d;", g.H, g.W);
}

/* cols[b, oy, ox, (ky, kx, c)] = x[b, iy, ix, c], 0 in the padding. The
 * kx cells of one window row are next to each other in x (kw * C floats),
 * so a row inside the image is one copy and only the border cells go one
 * by one. */
static void emit_im2col(Emit *E, Node *n) {
    Geometry g = geometry(in(E, n, 0), n);
    int kw = n->k[1], run = n->k[1] * g.C;
    long K = (long)n->k[0] * run;
    const char *x = ptr(E, n->in[0]), *T = E->T;
    head(E, n, xsprintf("im2col %dx%d stride %dx%d", n->k[0], n->k[1], n->s[0], n->s[1]));
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "    for (int oy = 0; oy < %d; oy++)", g.Ho);
    out(E, "    for (int ox = 0; ox < %d; ox++)", g.Wo);
    out(E, "    for (int ky = 0; ky < %d; ky++) {", n->k[0]);
    out(E, "        const int iy = oy * %d - %d + ky, ix = ox * %d - %d;", n->s[0], n->pad[0], n->s[1], n->pad[1]);
    out(E, "        %s *col = %s + (((size_t)b * %d + oy) * %d + ox) * %ld + ky * %d;", T, ptr(E, (int)(n - E->g->nodes)),
        g.Ho, g.Wo, K, run);
    out(E, "        if (iy < 0 || iy >= %d) {", g.H);
    out(E, "            memset(col, 0, sizeof(%s) * %d);", T, run);
    out(E, "        } else if (ix >= 0 && ix + %d <= %d) {", kw, g.W);
    out(E, "            memcpy(col, %s + (((size_t)b * %d + iy) * %d + ix) * %d, sizeof(%s) * %d);", x, g.H, g.W, g.C, T, run);
    out(E, "        } else {");
    out(E, "            for (int kx = 0; kx < %d; kx++) {", kw);
    out(E, "                if (ix + kx >= 0 && ix + kx < %d)", g.W);
    out(E, "                    memcpy(col + kx * %d, %s + (((size_t)b * %d + iy) * %d + ix + kx) * %d, sizeof(%s) * %d);",
        g.C, x, g.H, g.W, g.C, T, g.C);
    out(E, "                else");
    out(E, "                    memset(col + kx * %d, 0, sizeof(%s) * %d);", g.C, T, g.C);
    out(E, "            }");
    out(E, "        }");
    out(E, "    }");
}

/* dx[b, iy, ix, c] += dcols[b, oy, ox, (ky, kx, c)] */
static void emit_col2im(Emit *E, Node *n) {
    Geometry g = geometry(n, in(E, n, 0));
    long K = (long)n->k[0] * n->k[1] * g.C;
    int v = (int)(n - E->g->nodes);
    head(E, n, "col2im");
    out(E, "    memset(%s, 0, sizeof(%s) * (size_t)n * %ld);", ptr(E, v), E->T, (long)g.H * g.W * g.C);
    window_loops(E, n, g);
    out(E, "        if (!inside) continue;");
    out(E, "        const %s *col = %s + (((size_t)b * %d + oy) * %d + ox) * %ld + (ky * %d + kx) * %d;", E->T,
        ptr(E, n->in[0]), g.Ho, g.Wo, K, n->k[1], g.C);
    out(E, "        %s *dx = %s + (((size_t)b * %d + iy) * %d + ix) * %d;", E->T, ptr(E, v), g.H, g.W, g.C);
    out(E, "        for (int c = 0; c < %d; c++) dx[c] += col[c];", g.C);
    out(E, "    }");
}

/* max or mean of each window (mean over the cells inside the image, as
 * TensorFlow's same padding does) */
static void emit_pool(Emit *E, Node *n) {
    Geometry g = geometry(in(E, n, 0), n);
    int v = (int)(n - E->g->nodes), is_max = n->op == OP_MAXPOOL2D;
    head(E, n, xsprintf("%s %dx%d stride %dx%d", op_info[n->op].name, n->k[0], n->k[1], n->s[0], n->s[1]));
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "    for (int oy = 0; oy < %d; oy++)", g.Ho);
    out(E, "    for (int ox = 0; ox < %d; ox++)", g.Wo);
    out(E, "    for (int c = 0; c < %d; c++) {", g.C);
    out(E, "        %s acc = %s;", E->T, is_max ? (E->g->f64 ? "-HUGE_VAL" : "-HUGE_VALF") : lit(E, 0));
    out(E, "        int cells = 0;");
    out(E, "        for (int ky = 0; ky < %d; ky++)", n->k[0]);
    out(E, "            for (int kx = 0; kx < %d; kx++) {", n->k[1]);
    out(E, "                const int iy = oy * %d - %d + ky, ix = ox * %d - %d + kx;", n->s[0], n->pad[0], n->s[1], n->pad[1]);
    out(E, "                if (iy < 0 || iy >= %d || ix < 0 || ix >= %d) continue;", g.H, g.W);
    out(E, "                const %s x = %s[(((size_t)b * %d + iy) * %d + ix) * %d + c];", E->T, ptr(E, n->in[0]), g.H, g.W, g.C);
    if (is_max) out(E, "                acc = x > acc ? x : acc;");
    else out(E, "                acc += x;");
    out(E, "                cells++;");
    out(E, "            }");
    out(E, "        %s[(((size_t)b * %d + oy) * %d + ox) * %d + c] = %s;", ptr(E, v), g.Ho, g.Wo, g.C,
        is_max ? "acc" : xsprintf("acc / (%s)cells", E->T));
    out(E, "    }");
}

/* (x, y, dy) -> dx: max pooling routes dy to the first maximum of each
 * window; average pooling spreads it over the window's cells */
static void emit_pool_grad(Emit *E, Node *n) {
    Node *xn = in(E, n, 0), *yn = in(E, n, 1);
    Geometry g = geometry(xn, yn);
    int v = (int)(n - E->g->nodes), is_max = n->loss == OP_MAXPOOL2D;
    const char *x = ptr(E, n->in[0]), *y = ptr(E, n->in[1]), *dy = ptr(E, n->in[2]), *dx = ptr(E, v);
    head(E, n, xsprintf("d %s / dx", op_info[n->loss].name));
    out(E, "    memset(%s, 0, sizeof(%s) * (size_t)n * %ld);", dx, E->T, (long)g.H * g.W * g.C);
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "    for (int oy = 0; oy < %d; oy++)", g.Ho);
    out(E, "    for (int ox = 0; ox < %d; ox++)", g.Wo);
    out(E, "    for (int c = 0; c < %d; c++) {", g.C);
    out(E, "        const size_t o = (((size_t)b * %d + oy) * %d + ox) * %d + c;", g.Ho, g.Wo, g.C);
    out(E, "        int cells = 0, done = 0;");
    if (!is_max) {
        out(E, "        for (int pass = 0; pass < 2; pass++)"); /* count, then spread */
    } else {
        out(E, "        (void)cells;");
        out(E, "        for (int pass = 1; pass < 2; pass++)");
    }
    out(E, "        for (int ky = 0; ky < %d; ky++)", n->k[0]);
    out(E, "            for (int kx = 0; kx < %d; kx++) {", n->k[1]);
    out(E, "                const int iy = oy * %d - %d + ky, ix = ox * %d - %d + kx;", n->s[0], n->pad[0], n->s[1], n->pad[1]);
    out(E, "                if (iy < 0 || iy >= %d || ix < 0 || ix >= %d) continue;", g.H, g.W);
    out(E, "                const size_t i = (((size_t)b * %d + iy) * %d + ix) * %d + c;", g.H, g.W, g.C);
    if (is_max) {
        out(E, "                if (!done && %s[i] == %s[o]) {", x, y);
        out(E, "                    %s[i] += %s[o];", dx, dy);
        out(E, "                    done = 1;");
        out(E, "                }");
    } else {
        out(E, "                (void)done;");
        out(E, "                if (pass == 0) cells++;");
        out(E, "                else %s[i] += %s[o] / (%s)cells;", dx, dy, E->T);
    }
    out(E, "            }");
    out(E, "    }");
}

/* ---- normalisation and dropout: train_step trains, predict and evaluate infer ---- */

static int training(Emit *E) { return E->sched == SCHED_TRAIN; }

/* A param the generated code updates (moving averages): m->params, not P. */
static const char *writable(Emit *E, int v) { return xsprintf("(m->params + %d)", node(E, root_of(E, v))->param_offset); }

static void emit_norm(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes), C = last_dim(&n->shape);
    const char *x = ptr(E, n->in[0]), *y = ptr(E, v);
    if (n->op == OP_LAYERNORM) {
        head(E, n, xsprintf("layernorm over the last axis, epsilon %s", shortest(n->value, 0)));
        out(E, "    for (int r = 0; r < %s; r++) {", rows(&n->shape));
        out(E, "        const %s *xr = %s + (size_t)r * %d;", E->T, x, C);
        out(E, "        %s *yr = %s + (size_t)r * %d;", E->T, y, C);
        out(E, "        double mean = 0, var = 0;");
        out(E, "        for (int j = 0; j < %d; j++) mean += xr[j];", C);
        out(E, "        mean /= %d;", C);
        out(E, "        for (int j = 0; j < %d; j++) var += (xr[j] - mean) * (xr[j] - mean);", C);
        out(E, "        const double inv = 1 / sqrt(var / %d + %s);", C, shortest(n->value, 0));
        out(E, "        for (int j = 0; j < %d; j++) yr[j] = (%s)((xr[j] - mean) * inv);", C, E->T);
        out(E, "    }");
        return;
    }
    const char *mm = training(E) ? writable(E, n->in[1]) : ptr(E, n->in[1]);
    const char *mv = training(E) ? writable(E, n->in[2]) : ptr(E, n->in[2]);
    const char *R = rows(&n->shape);
    if (!training(E)) {
        head(E, n, "batchnorm, inference: the moving statistics");
        out(E, "    for (int r = 0; r < %s; r++)", R);
        out(E, "        for (int c = 0; c < %d; c++)", C);
        out(E, "            %s[(size_t)r * %d + c] = (%s)((%s[(size_t)r * %d + c] - %s[c]) / sqrt((double)%s[c] + %s));", y, C,
            E->T, x, C, mm, mv, shortest(n->value, 0));
        return;
    }
    head(E, n, xsprintf("batchnorm, training: batch statistics; moving averages, momentum %s", shortest(n->momentum, 0)));
    out(E, "    for (int c = 0; c < %d; c++) {", C);
    out(E, "        double mean = 0, var = 0;");
    out(E, "        for (int r = 0; r < %s; r++) mean += %s[(size_t)r * %d + c];", R, x, C);
    out(E, "        mean /= (%s);", R);
    out(E, "        for (int r = 0; r < %s; r++) {", R);
    out(E, "            const double d = %s[(size_t)r * %d + c] - mean;", x, C);
    out(E, "            var += d * d;");
    out(E, "        }");
    out(E, "        var /= (%s);", R);
    out(E, "        const double inv = 1 / sqrt(var + %s);", shortest(n->value, 0));
    out(E, "        for (int r = 0; r < %s; r++)", R);
    out(E, "            %s[(size_t)r * %d + c] = (%s)((%s[(size_t)r * %d + c] - mean) * inv);", y, C, E->T, x, C);
    out(E, "        %s[c] = (%s)(%s * %s[c] + (1 - %s) * mean);", mm, E->T, shortest(n->momentum, 0), mm, shortest(n->momentum, 0));
    out(E, "        %s[c] = (%s)(%s * %s[c] + (1 - %s) * var);", mv, E->T, shortest(n->momentum, 0), mv, shortest(n->momentum, 0));
    out(E, "    }");
}

/* dx = (dy - mean(dy) - xhat mean(dy xhat)) / sigma over each normalised
 * group: a row (layernorm) or a channel across the batch (batchnorm); sigma
 * from x again. */
static void emit_norm_grad(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes), C = last_dim(&n->shape), ln = n->loss == OP_LAYERNORM;
    const char *x = ptr(E, n->in[0]), *xh = ptr(E, n->in[1]), *dy = ptr(E, n->in[2]), *dx = ptr(E, v);
    const char *groups = ln ? rows(&n->shape) : xsprintf("%d", C), *size = ln ? xsprintf("%d", C) : rows(&n->shape);
    /* element k of group g */
    const char *at = ln ? xsprintf("(size_t)g * %d + k", C) : xsprintf("(size_t)k * %d + g", C);
    head(E, n, xsprintf("d %s / dx", op_info[n->loss].name));
    out(E, "    for (int g = 0; g < %s; g++) {", groups);
    out(E, "        double mean = 0, var = 0, mdy = 0, mdyx = 0;");
    out(E, "        for (int k = 0; k < %s; k++) mean += %s[%s];", size, x, at);
    out(E, "        mean /= (%s);", size);
    out(E, "        for (int k = 0; k < %s; k++) {", size);
    out(E, "            const double d = %s[%s] - mean;", x, at);
    out(E, "            var += d * d;");
    out(E, "            mdy += %s[%s];", dy, at);
    out(E, "            mdyx += (double)%s[%s] * %s[%s];", dy, at, xh, at);
    out(E, "        }");
    out(E, "        const double inv = 1 / sqrt(var / (%s) + %s);", size, shortest(n->value, 0));
    out(E, "        mdy /= (%s);", size);
    out(E, "        mdyx /= (%s);", size);
    out(E, "        for (int k = 0; k < %s; k++)", size);
    out(E, "            %s[%s] = (%s)((%s[%s] - mdy - %s[%s] * mdyx) * inv);", dx, at, E->T, dy, at, xh, at);
    out(E, "    }");
}

static void emit_dropout_mask(Emit *E, Node *n) {
    if (!training(E)) {
        out(E, "    /* dropout mask: not drawn in inference */");
        return;
    }
    double keep = 1 - n->value;
    head(E, n, xsprintf("dropout mask, rate %s, from the model's RNG", shortest(n->value, 0)));
    out(E, "    for (int i = 0; i < %s; i++)", count(&n->shape));
    out(E, "        %s = mn_rng_uniform(&m->rng) < %s ? %s : %s;", elem(E, (int)(n - E->g->nodes), "i"), shortest(keep, 0),
        lit(E, 1 / keep), lit(E, 0));
}

static void emit_dropout(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    if (!training(E)) {
        head(E, n, "dropout, inference: the identity");
        out(E, "    memcpy(%s, %s, sizeof(%s) * (size_t)(%s));", ptr(E, v), ptr(E, n->in[0]), E->T, count(&n->shape));
        return;
    }
    head(E, n, "dropout, training");
    out(E, "    for (int i = 0; i < %s; i++) %s = %s * %s;", count(&n->shape), elem(E, v, "i"), elem(E, n->in[0], "i"),
        elem(E, n->in[1], "i"));
}

/* ---- LSTM: states S[b, k] = i f g o c h (each u wide) after processing step k;
 * step k reads time t = k, or T-1-k going backwards ----------------------------- */

static const char *time_of(Node *n, int T) { return n->start ? xsprintf("%d - k", T - 1) : "k"; }

static void emit_lstm_scan(Emit *E, Node *n) {
    Node *zx = in(E, n, 0);
    int T = zx->shape.dims[0], u = n->len, v = (int)(n - E->g->nodes);
    const char *S = ptr(E, v), *Z = ptr(E, n->in[0]), *U = ptr(E, n->in[1]);
    head(E, n, xsprintf("lstm scan, %d units%s", u, n->start ? ", backwards" : ""));
    out(E, "    for (int k = 0; k < %d; k++) {", T);
    out(E, "        static const %s zero[%d]; /* the state before the first step */", E->T, u);
    out(E, "        const int t = %s;", time_of(n, T));
    out(E, "        /* z = x_t W + b (precomputed for every step) + h_{k-1} U */");
    out(E, "        for (int b = 0; b < n; b++)");
    out(E, "            memcpy(%s + ((size_t)b * %d + k) * %d, %s + ((size_t)b * %d + t) * %d, sizeof(%s) * %d);", S, T, 6 * u, Z,
        T, 4 * u, E->T, 4 * u);
    out(E, "        if (k > 0)");
    out(E, "            %s(CblasNoTrans, CblasNoTrans, n, %d, %d, %s, %s + (size_t)(k - 1) * %d + %d, %d, %s, %d, %s,",
        rt(E, "gemm"), 4 * u, u, lit(E, 1), S, 6 * u, 5 * u, T * 6 * u, U, 4 * u, lit(E, 1));
    out(E, "                        %s + (size_t)k * %d, %d);", S, 6 * u, T * 6 * u);
    out(E, "        for (int b = 0; b < n; b++) {");
    out(E, "            %s *s = %s + ((size_t)b * %d + k) * %d;", E->T, S, T, 6 * u);
    out(E, "            const %s *c_prev = k > 0 ? s - %d + %d : zero;", E->T, 6 * u, 4 * u);
    out(E, "            MN_VEC");
    out(E, "            for (int j = 0; j < %d; j++) {", u);
    out(E, "                const %s i = %s, f = %s;", E->T, act_expr(E, OP_SIGMOID, xsprintf("s[j]")),
        act_expr(E, OP_SIGMOID, xsprintf("s[%d + j]", u)));
    out(E, "                const %s g = %s(s[%d + j]), o = %s;", E->T, math(E, "tanh"), 2 * u,
        act_expr(E, OP_SIGMOID, xsprintf("s[%d + j]", 3 * u)));
    out(E, "                const %s c = f * c_prev[j] + i * g;", E->T);
    out(E, "                s[j] = i;");
    out(E, "                s[%d + j] = f;", u);
    out(E, "                s[%d + j] = g;", 2 * u);
    out(E, "                s[%d + j] = o;", 3 * u);
    out(E, "                s[%d + j] = c;", 4 * u);
    out(E, "                s[%d + j] = o * %s(c);", 5 * u, math(E, "tanh"));
    out(E, "            }");
    out(E, "        }");
    out(E, "    }");
}

/* h of the last step, or of every step (in processing order, as Keras).
 * The states of a recurrent layer keep h in their last u slots. */
static void emit_rnn_h(Emit *E, Node *n) {
    Node *st = in(E, n, 0);
    int T = st->shape.dims[0], W = st->shape.dims[1], u = n->len;
    const char *S = ptr(E, n->in[0]), *H = ptr(E, (int)(n - E->g->nodes));
    head(E, n, n->axis ? "recurrent outputs, every step" : "recurrent output, last step");
    out(E, "    for (int b = 0; b < n; b++)");
    if (n->axis) {
        out(E, "        for (int k = 0; k < %d; k++)", T);
        out(E, "            memcpy(%s + ((size_t)b * %d + k) * %d, %s + ((size_t)b * %d + k) * %d + %d, sizeof(%s) * %d);", H, T, u,
            S, T, W, W - u, E->T, u);
    } else {
        out(E, "        memcpy(%s + (size_t)b * %d, %s + ((size_t)b * %d + %d) * %d + %d, sizeof(%s) * %d);", H, u, S, T, T - 1,
            W, W - u, E->T, u);
    }
}

static void emit_rnn_h_grad(Emit *E, Node *n) {
    int T = n->shape.dims[0], W = n->shape.dims[1], u = n->len;
    const char *dS = ptr(E, (int)(n - E->g->nodes)), *dH = ptr(E, n->in[0]);
    head(E, n, "d rnn_h / dstates");
    out(E, "    memset(%s, 0, sizeof(%s) * (size_t)n * %d);", dS, E->T, T * W);
    out(E, "    for (int b = 0; b < n; b++)");
    if (n->axis) {
        out(E, "        for (int k = 0; k < %d; k++)", T);
        out(E, "            memcpy(%s + ((size_t)b * %d + k) * %d + %d, %s + ((size_t)b * %d + k) * %d, sizeof(%s) * %d);", dS, T,
            W, W - u, dH, T, u, E->T, u);
    } else {
        out(E, "        memcpy(%s + ((size_t)b * %d + %d) * %d + %d, %s + (size_t)b * %d, sizeof(%s) * %d);", dS, T, T - 1, W,
            W - u, dH, u, E->T, u);
    }
}

/* Backpropagation through time. dz (time order) doubles as the carry: before
 * step k writes its row, that row holds dh (first u) and dc (next u) from
 * the step after it. */
static void emit_lstm_scan_grad(Emit *E, Node *n) {
    Node *st = in(E, n, 0);
    int T = st->shape.dims[0], u = n->len, v = (int)(n - E->g->nodes);
    const char *S = ptr(E, n->in[0]), *U = ptr(E, n->in[1]), *dS = ptr(E, n->in[2]), *dZ = ptr(E, v);
    const char *T_ = E->T;
    head(E, n, "lstm backpropagation through time");
    out(E, "    {");
    out(E, "        const int last = %s;", n->start ? "0" : xsprintf("%d", T - 1));
    out(E, "        for (int b = 0; b < n; b++) memset(%s + ((size_t)b * %d + last) * %d, 0, sizeof(%s) * %d);", dZ, T, 4 * u,
        T_, 2 * u);
    out(E, "    }");
    out(E, "    for (int k = %d; k >= 0; k--) {", T - 1);
    out(E, "        const int t = %s;", time_of(n, T));
    out(E, "        const int t_prev = %s; /* the row of step k - 1 */", n->start ? xsprintf("%d - (k - 1)", T - 1) : "k - 1");
    out(E, "        static const %s zero[%d]; /* c before the first step */", T_, u);
    out(E, "        %s sink[%d];               /* the carry out of the first step */", T_, 2 * u);
    out(E, "        for (int b = 0; b < n; b++) {");
    out(E, "            const %s *s = %s + ((size_t)b * %d + k) * %d;", T_, S, T, 6 * u);
    out(E, "            const %s *c_prev = k > 0 ? s - %d : zero;", T_, 2 * u);
    out(E, "            const %s *ds = %s + ((size_t)b * %d + k) * %d;", T_, dS, T, 6 * u);
    out(E, "            %s *dz = %s + ((size_t)b * %d + t) * %d;", T_, dZ, T, 4 * u);
    out(E, "            %s *carry_prev = k > 0 ? %s + ((size_t)b * %d + t_prev) * %d : sink;", T_, dZ, T, 4 * u);
    out(E, "            MN_VEC");
    out(E, "            for (int j = 0; j < %d; j++) {", u);
    out(E, "                const %s i = s[j], f = s[%d + j], g = s[%d + j], o = s[%d + j], c = s[%d + j];", T_, u, 2 * u,
        3 * u, 4 * u);
    out(E, "                const %s tc = %s(c);", T_, math(E, "tanh"));
    out(E, "                const %s dh = dz[j] + ds[%d + j];", T_, 5 * u);
    out(E, "                const %s dc = dz[%d + j] + ds[%d + j] + dh * o * (1 - tc * tc);", T_, u, 4 * u);
    out(E, "                dz[j] = dc * g * i * (1 - i);");
    out(E, "                dz[%d + j] = dc * c_prev[j] * f * (1 - f);", u);
    out(E, "                dz[%d + j] = dc * i * (1 - g * g);", 2 * u);
    out(E, "                dz[%d + j] = dh * tc * o * (1 - o);", 3 * u);
    out(E, "                carry_prev[%d + j] = dc * f;", u);
    out(E, "            }");
    out(E, "        }");
    out(E, "        /* dh for step k - 1: dz U^T */");
    out(E, "        if (k > 0)");
    out(E, "            %s(CblasNoTrans, CblasTrans, n, %d, %d, %s, %s + (size_t)t * %d, %d, %s, %d, %s,",
        rt(E, "gemm"), u, 4 * u, lit(E, 1), dZ, 4 * u, T * 4 * u, U, 4 * u, lit(E, 0));
    out(E, "                        %s + (size_t)t_prev * %d, %d);", dZ, 4 * u, T * 4 * u);
    out(E, "    }");
}

/* ---- GRU (reset_after): states S[b, k] = z r hh inh h, inh = (h U + b1)_h ---- */

static void emit_gru_scan(Emit *E, Node *n) {
    Node *zx = in(E, n, 0);
    int T = zx->shape.dims[0], u = n->len, v = (int)(n - E->g->nodes);
    const char *S = ptr(E, v), *Z = ptr(E, n->in[0]), *U = ptr(E, n->in[1]), *B = ptr(E, n->in[2]), *T_ = E->T;
    head(E, n, xsprintf("gru scan, %d units%s", u, n->start ? ", backwards" : ""));
    out(E, "    for (int k = 0; k < %d; k++) {", T);
    out(E, "        static const %s zero[%d]; /* the state before the first step */", T_, u);
    out(E, "        const int t = %s;", time_of(n, T));
    out(E, "        /* inner = h_{k-1} U, into the first 3u slots of step k */");
    out(E, "        if (k > 0)");
    out(E, "            %s(CblasNoTrans, CblasNoTrans, n, %d, %d, %s, %s + (size_t)(k - 1) * %d + %d, %d, %s, %d, %s,",
        rt(E, "gemm"), 3 * u, u, lit(E, 1), S, 5 * u, 4 * u, T * 5 * u, U, 3 * u, lit(E, 0));
    out(E, "                        %s + (size_t)k * %d, %d);", S, 5 * u, T * 5 * u);
    out(E, "        else");
    out(E, "            for (int b = 0; b < n; b++) memset(%s + (size_t)b * %d, 0, sizeof(%s) * %d);", S, T * 5 * u, T_, 3 * u);
    out(E, "        for (int b = 0; b < n; b++) {");
    out(E, "            %s *s = %s + ((size_t)b * %d + k) * %d;", T_, S, T, 5 * u);
    out(E, "            const %s *x = %s + ((size_t)b * %d + t) * %d, *b0 = %s, *b1 = %s + %d;", T_, Z, T, 3 * u, B, B, 3 * u);
    out(E, "            const %s *h_prev = k > 0 ? s - %d + %d : zero;", T_, 5 * u, 4 * u);
    out(E, "            MN_VEC");
    out(E, "            for (int j = 0; j < %d; j++) {", u);
    out(E, "                const %s z = %s;", T_, act_expr(E, OP_SIGMOID, xsprintf("(x[j] + b0[j] + s[j] + b1[j])")));
    out(E, "                const %s r = %s;", T_,
        act_expr(E, OP_SIGMOID, xsprintf("(x[%d + j] + b0[%d + j] + s[%d + j] + b1[%d + j])", u, u, u, u)));
    out(E, "                const %s inh = s[%d + j] + b1[%d + j];", T_, 2 * u, 2 * u);
    out(E, "                const %s hh = %s(x[%d + j] + b0[%d + j] + r * inh);", T_, math(E, "tanh"), 2 * u, 2 * u);
    out(E, "                s[j] = z;");
    out(E, "                s[%d + j] = r;", u);
    out(E, "                s[%d + j] = hh;", 2 * u);
    out(E, "                s[%d + j] = inh;", 3 * u);
    out(E, "                s[%d + j] = z * h_prev[j] + (1 - z) * hh;", 4 * u);
    out(E, "            }");
    out(E, "        }");
    out(E, "    }");
}

/* Backpropagation through time for the GRU. The output row of a time step
 * [d zx (3u) | d inner (3u)] holds, before its step writes it, the dh
 * carried from the step after it (first u). */
static void emit_gru_scan_grad(Emit *E, Node *n) {
    Node *st = in(E, n, 0);
    int T = st->shape.dims[0], u = n->len, v = (int)(n - E->g->nodes);
    const char *S = ptr(E, n->in[0]), *U = ptr(E, n->in[1]), *dS = ptr(E, n->in[2]), *G = ptr(E, v), *T_ = E->T;
    head(E, n, "gru backpropagation through time");
    out(E, "    {");
    out(E, "        const int last = %s;", n->start ? "0" : xsprintf("%d", T - 1));
    out(E, "        for (int b = 0; b < n; b++) memset(%s + ((size_t)b * %d + last) * %d, 0, sizeof(%s) * %d);", G, T, 6 * u, T_, u);
    out(E, "    }");
    out(E, "    for (int k = %d; k >= 0; k--) {", T - 1);
    out(E, "        const int t = %s;", time_of(n, T));
    out(E, "        const int t_prev = %s; /* the row of step k - 1 */", n->start ? xsprintf("%d - (k - 1)", T - 1) : "k - 1");
    out(E, "        static const %s zero[%d]; /* h before the first step */", T_, u);
    out(E, "        %s sink[%d];               /* the carry out of the first step */", T_, u);
    out(E, "        for (int b = 0; b < n; b++) {");
    out(E, "            const %s *s = %s + ((size_t)b * %d + k) * %d;", T_, S, T, 5 * u);
    out(E, "            const %s *ds = %s + ((size_t)b * %d + k) * %d;", T_, dS, T, 5 * u);
    out(E, "            %s *g = %s + ((size_t)b * %d + t) * %d;", T_, G, T, 6 * u);
    out(E, "            %s *carry_prev = k > 0 ? %s + ((size_t)b * %d + t_prev) * %d : sink;", T_, G, T, 6 * u);
    out(E, "            const %s *hp = k > 0 ? s - %d : zero;", T_, u);
    out(E, "            MN_VEC");
    out(E, "            for (int j = 0; j < %d; j++) {", u);
    out(E, "                const %s z = s[j], r = s[%d + j], hh = s[%d + j], inh = s[%d + j];", T_, u, 2 * u, 3 * u);
    out(E, "                const %s h_prev = hp[j];", T_);
    out(E, "                const %s dh = g[j] + ds[%d + j];", T_, 4 * u);
    out(E, "                const %s dz = dh * (h_prev - hh) * z * (1 - z);", T_);
    out(E, "                const %s dah = dh * (1 - z) * (1 - hh * hh);", T_);
    out(E, "                const %s dr = dah * inh * r * (1 - r);", T_);
    out(E, "                g[j] = dz;");
    out(E, "                g[%d + j] = dr;", u);
    out(E, "                g[%d + j] = dah;", 2 * u);
    out(E, "                g[%d + j] = dz;", 3 * u);
    out(E, "                g[%d + j] = dr;", 4 * u);
    out(E, "                g[%d + j] = dah * r;", 5 * u);
    out(E, "                carry_prev[j] = dh * z;");
    out(E, "            }");
    out(E, "        }");
    out(E, "        /* dh for step k - 1 += d inner U^T */");
    out(E, "        if (k > 0)");
    out(E, "            %s(CblasNoTrans, CblasTrans, n, %d, %d, %s, %s + (size_t)t * %d + %d, %d, %s, %d, %s,",
        rt(E, "gemm"), u, 3 * u, lit(E, 1), G, 6 * u, 3 * u, T * 6 * u, U, 3 * u, lit(E, 1));
    out(E, "                        %s + (size_t)t_prev * %d, %d);", G, 6 * u, T * 6 * u);
    out(E, "    }");
}

/* hprev[b, t] = the h before the step that read time t (0 for the first) */
static void emit_rnn_hprev(Emit *E, Node *n) {
    int T = n->shape.dims[0], u = n->len, W = in(E, n, 0)->shape.dims[1];
    const char *S = ptr(E, n->in[0]), *HP = ptr(E, (int)(n - E->g->nodes));
    head(E, n, "h before each step");
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "        for (int k = 0; k < %d; k++) {", T);
    out(E, "            const int t = %s;", time_of(n, T));
    out(E, "            %s *hp = %s + ((size_t)b * %d + t) * %d;", E->T, HP, T, u);
    out(E, "            if (k == 0) memset(hp, 0, sizeof(%s) * %d);", E->T, u);
    out(E, "            else memcpy(hp, %s + ((size_t)b * %d + k - 1) * %d + %d, sizeof(%s) * %d);", S, T, W, W - u, E->T, u);
    out(E, "        }");
}

/* y[b, t] = x[b, T-1-t] along the first axis of a sample */
static void emit_reverse(Emit *E, Node *n) {
    int T = n->shape.dims[0];
    long inner = shape_size(&n->shape) / T;
    const char *ty = n->dtype == DT_INT ? "int32_t" : E->T;
    head(E, n, "reverse");
    out(E, "    for (int b = 0; b < %s; b++)", n->shape.batched ? "n" : "1");
    out(E, "        for (int t = 0; t < %d; t++)", T);
    out(E, "            memcpy(%s + ((size_t)b * %d + t) * %ld, %s + ((size_t)b * %d + %d - t) * %ld, sizeof(%s) * %ld);",
        ptr(E, (int)(n - E->g->nodes)), T, inner, ptr(E, n->in[0]), T, T - 1, inner, ty, inner);
}

/* Blocks of a value seen as [outer, axis * inner]. */
static long inner_size(const Shape *s, int axis) {
    long inner = 1;
    for (int d = axis; d < s->rank; d++) inner *= s->dims[d];
    return inner;
}

static const char *outer_count(const Shape *s, int axis) {
    long outer = 1;
    for (int d = 0; d < axis; d++) outer *= s->dims[d];
    if (!s->batched) return xsprintf("%ld", outer);
    return outer == 1 ? "n" : xsprintf("n * %ld", outer);
}

/* Undoes a broadcast: every element of dy adds into the element of the
 * smaller shape it was broadcast from. */
static void emit_sum_to(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *from = &in(E, n, 0)->shape;
    head(E, n, "sum_to");
    out(E, "    memset(%s, 0, sizeof(%s) * (size_t)(%s));", ptr(E, v), E->T, count(&n->shape));
    if (trailing_broadcast(from, &n->shape)) {
        /* a bias's gradient: add up the rows */
        long inner = shape_size(&n->shape);
        out(E, "    for (int r = 0; r < %s; r++) {", outer_count(from, from->rank - n->shape.rank));
        out(E, "        const %s *d = %s + (size_t)r * %ld;", E->T, ptr(E, n->in[0]), inner);
        out(E, "        %s *s = %s;", E->T, ptr(E, v));
        out(E, "        MN_VEC");
        out(E, "        for (int j = 0; j < %ld; j++) s[j] += d[j];", inner);
        out(E, "    }");
        return;
    }
    out(E, "    for (int i = 0; i < %s; i++) %s += %s;", count(from), elem(E, v, bcast_index(from, &n->shape)),
        elem(E, n->in[0], "i"));
}

static void emit_concat(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    long total = inner_size(&n->shape, n->axis), at = 0;
    head(E, n, "concat");
    out(E, "    for (int o = 0; o < %s; o++) {", outer_count(&n->shape, n->axis));
    for (int i = 0; i < n->nin; i++) {
        long part = inner_size(&in(E, n, i)->shape, n->axis);
        out(E, "        memcpy(%s + (size_t)o * %ld + %ld, %s + (size_t)o * %ld, sizeof(%s) * %ld);", ptr(E, v), total, at,
            ptr(E, n->in[i]), part, E->T, part);
        at += part;
    }
    out(E, "    }");
}

static void emit_slice(Emit *E, Node *n) {
    Shape *from = &in(E, n, 0)->shape;
    long total = inner_size(from, n->axis), part = inner_size(&n->shape, n->axis);
    long at = part / n->len * n->start;
    head(E, n, xsprintf("slice %d:%d of axis %d", n->start, n->start + n->len, n->axis));
    out(E, "    for (int o = 0; o < %s; o++)", outer_count(from, n->axis));
    out(E, "        memcpy(%s + (size_t)o * %ld, %s + (size_t)o * %ld + %ld, sizeof(%s) * %ld);", ptr(E, (int)(n - E->g->nodes)),
        part, ptr(E, n->in[0]), total, at, E->T, part);
}

static void emit_embedding(Emit *E, Node *n) {
    Node *table = in(E, n, 1);
    int V = table->shape.dims[0], D = table->shape.dims[1];
    head(E, n, "embedding");
    out(E, "    for (int i = 0; i < %s; i++) {", count(&in(E, n, 0)->shape));
    out(E, "        const int32_t id = %s;", elem(E, n->in[0], "i"));
    out(E, "        %s *y = %s + (size_t)i * %d;", E->T, ptr(E, (int)(n - E->g->nodes)), D);
    out(E, "        if (id >= 0 && id < %d) memcpy(y, %s + (size_t)id * %d, sizeof(%s) * %d);", V, ptr(E, n->in[1]), D, E->T, D);
    out(E, "        else memset(y, 0, sizeof(%s) * %d); /* out of range: a zero vector */", E->T, D);
    out(E, "    }");
}

static void emit_embedding_dw(Emit *E, Node *n) {
    int V = n->shape.dims[0], D = n->shape.dims[1];
    int v = (int)(n - E->g->nodes);
    head(E, n, "embedding_dw");
    out(E, "    memset(%s, 0, sizeof(%s) * %ld);", ptr(E, v), E->T, (long)V * D);
    out(E, "    for (int i = 0; i < %s; i++) {", count(&in(E, n, 0)->shape));
    out(E, "        const int32_t id = %s;", elem(E, n->in[0], "i"));
    out(E, "        if (id < 0 || id >= %d) continue;", V);
    out(E, "        %s *dw = %s + (size_t)id * %d;", E->T, ptr(E, v), D);
    out(E, "        const %s *dy = %s + (size_t)i * %d;", E->T, ptr(E, n->in[1]), D);
    out(E, "        for (int j = 0; j < %d; j++) dw[j] += dy[j];", D);
    out(E, "    }");
}

#define EPS "1e-7" /* Keras's epsilon, for clipping probabilities */

/* The loss value, accumulated in double for every model type. */
static void emit_loss(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *ys = &in(E, n, 0)->shape;
    int C = last_dim(ys);
    const char *y = ptr(E, n->in[0]), *t = ptr(E, n->in[1]);
    head(E, n, op_info[n->op].name);
    out(E, "    {");
    out(E, "        double acc = 0.0;");
    switch (n->op) {
    case OP_BCE:
    case OP_BCE_LOGITS:
    case OP_MSE:
    case OP_MAE:
        out(E, "        for (int i = 0; i < %s; i++) {", count(ys));
        out(E, "            const double y = %s[i], t = %s[i];", y, t);
        if (n->op == OP_BCE) {
            out(E, "            const double p = y < %s ? %s : y > 1 - %s ? 1 - %s : y;", EPS, EPS, EPS, EPS);
            out(E, "            acc -= t * log(p) + (1 - t) * log(1 - p);");
        } else if (n->op == OP_BCE_LOGITS) {
            out(E, "            acc += (y > 0 ? y : 0) - y * t + log1p(exp(-fabs(y)));");
        } else if (n->op == OP_MSE) {
            out(E, "            acc += (y - t) * (y - t);");
        } else {
            out(E, "            acc += fabs(y - t);");
        }
        out(E, "        }");
        out(E, "        %s[0] = (%s)(acc / (%s));", ptr(E, v), E->T, count(ys));
        break;
    case OP_CCE:
    case OP_CCE_LOGITS:
    case OP_SPARSE_CCE:
    case OP_SPARSE_CCE_LOGITS: {
        int sparse = n->op == OP_SPARSE_CCE || n->op == OP_SPARSE_CCE_LOGITS;
        int logits = n->op == OP_CCE_LOGITS || n->op == OP_SPARSE_CCE_LOGITS;
        out(E, "        for (int r = 0; r < %s; r++) {", rows(ys));
        out(E, "            const %s *y = %s + (size_t)r * %d;", E->T, y, C);
        if (sparse) {
            out(E, "            const int32_t id = %s[r];", t);
            out(E, "            if (id < 0 || id >= %d) continue; /* out of range: no loss */", C);
        } else {
            out(E, "            const %s *t = %s + (size_t)r * %d;", E->T, t, C);
        }
        if (logits) {
            out(E, "            double max = y[0], sum = 0.0;");
            out(E, "            for (int j = 1; j < %d; j++) max = y[j] > max ? y[j] : max;", C);
            out(E, "            for (int j = 0; j < %d; j++) sum += exp(y[j] - max);", C);
            out(E, "            const double lse = max + log(sum);");
            if (sparse) out(E, "            acc += lse - y[id];");
            else out(E, "            for (int j = 0; j < %d; j++) acc += t[j] * (lse - y[j]);", C);
        } else {
            out(E, "            double sum = 0.0;");
            out(E, "            for (int j = 0; j < %d; j++) sum += y[j];", C);
            if (sparse) {
                out(E, "            double p = y[id] / sum;");
                out(E, "            p = p < %s ? %s : p > 1 - %s ? 1 - %s : p;", EPS, EPS, EPS, EPS);
                out(E, "            acc -= log(p);");
            } else {
                out(E, "            for (int j = 0; j < %d; j++) {", C);
                out(E, "                double p = y[j] / sum;");
                out(E, "                p = p < %s ? %s : p > 1 - %s ? 1 - %s : p;", EPS, EPS, EPS, EPS);
                out(E, "                acc -= t[j] * log(p);");
                out(E, "            }");
            }
        }
        out(E, "        }");
        out(E, "        %s[0] = (%s)(acc / (%s));", ptr(E, v), E->T, rows(ys));
        break;
    }
    default: unreachable();
    }
    out(E, "    }");
}

/* (y, t, dL) -> dL/dy for each loss. */
static void emit_loss_grad(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *ys = &in(E, n, 0)->shape;
    int C = last_dim(ys);
    const char *y = ptr(E, n->in[0]), *t = ptr(E, n->in[1]), *dy = ptr(E, v);
    head(E, n, xsprintf("d %s / dy", op_info[n->loss].name));
    out(E, "    {");
    switch (n->loss) {
    case OP_BCE:
    case OP_BCE_LOGITS:
    case OP_MSE:
    case OP_MAE:
        out(E, "        const double g = (double)%s / (%s);", elem(E, n->in[2], "0"), count(ys));
        out(E, "        for (int i = 0; i < %s; i++) {", count(ys));
        out(E, "            const double y = %s[i], t = %s[i];", y, t);
        if (n->loss == OP_BCE)
            out(E, "            %s[i] = (%s)(y > %s && y < 1 - %s ? g * ((1 - t) / (1 - y) - t / y) : 0.0);", dy, E->T, EPS, EPS);
        else if (n->loss == OP_BCE_LOGITS)
            out(E, "            %s[i] = (%s)(g * (1 / (1 + exp(-y)) - t));", dy, E->T);
        else if (n->loss == OP_MSE)
            out(E, "            %s[i] = (%s)(g * 2 * (y - t));", dy, E->T);
        else
            out(E, "            %s[i] = (%s)(g * ((y > t) - (y < t)));", dy, E->T);
        out(E, "        }");
        break;
    case OP_CCE:
    case OP_CCE_LOGITS:
    case OP_SPARSE_CCE:
    case OP_SPARSE_CCE_LOGITS: {
        int sparse = n->loss == OP_SPARSE_CCE || n->loss == OP_SPARSE_CCE_LOGITS;
        int logits = n->loss == OP_CCE_LOGITS || n->loss == OP_SPARSE_CCE_LOGITS;
        out(E, "        const double g = (double)%s / (%s);", elem(E, n->in[2], "0"), rows(ys));
        out(E, "        for (int r = 0; r < %s; r++) {", rows(ys));
        out(E, "            const %s *y = %s + (size_t)r * %d;", E->T, y, C);
        out(E, "            %s *dy = %s + (size_t)r * %d;", E->T, dy, C);
        if (sparse) {
            out(E, "            const int32_t id = %s[r];", t);
            out(E, "            if (id < 0 || id >= %d) {", C);
            out(E, "                memset(dy, 0, sizeof(%s) * %d);", E->T, C);
            out(E, "                continue;");
            out(E, "            }");
        } else {
            out(E, "            const %s *t = %s + (size_t)r * %d;", E->T, t, C);
        }
        const char *tj = sparse ? "(j == id)" : "t[j]";
        if (logits) {
            /* d/dz of sum_j t_j (lse - z_j) = p * sum(t) - t */
            out(E, "            double max = y[0], sum = 0.0, tsum = %s;", sparse ? "1.0" : "0.0");
            out(E, "            for (int j = 1; j < %d; j++) max = y[j] > max ? y[j] : max;", C);
            out(E, "            for (int j = 0; j < %d; j++) sum += exp(y[j] - max);", C);
            if (!sparse) out(E, "            for (int j = 0; j < %d; j++) tsum += t[j];", C);
            out(E, "            for (int j = 0; j < %d; j++)", C);
            out(E, "                dy[j] = (%s)(g * (exp(y[j] - max) / sum * tsum - %s));", E->T, tj);
        } else {
            /* p = y / sum(y), clipped; L = -sum t log p;
             * dL/dy_i = (q_i - sum_j q_j p_j) / sum(y), q_j = -t_j / p_j where not clipped */
            out(E, "            double sum = 0.0, qp = 0.0;");
            out(E, "            for (int j = 0; j < %d; j++) sum += y[j];", C);
            out(E, "            for (int j = 0; j < %d; j++) {", C);
            out(E, "                const double p = y[j] / sum;");
            out(E, "                const double q = p > %s && p < 1 - %s ? -%s / p : 0.0;", EPS, EPS, tj);
            out(E, "                dy[j] = (%s)q;", E->T);
            out(E, "                qp += q * p;");
            out(E, "            }");
            out(E, "            for (int j = 0; j < %d; j++) dy[j] = (%s)(g * (dy[j] - qp) / sum);", C, E->T);
        }
        out(E, "        }");
        break;
    }
    default: unreachable();
    }
    out(E, "    }");
}

static void emit_penalty(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *ws = &in(E, n, 0)->shape;
    head(E, n, op_info[n->op].name);
    out(E, "    {");
    out(E, "        double acc = 0.0;");
    out(E, "        for (int i = 0; i < %s; i++) {", count(ws));
    out(E, "            const double w = %s;", elem(E, n->in[0], "i"));
    out(E, "            acc += %s;", n->op == OP_L2 ? "w * w" : "fabs(w)");
    out(E, "        }");
    out(E, "        %s = (%s)acc;", elem(E, v, "0"), E->T);
    out(E, "    }");
}

static void emit_penalty_grad(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    head(E, n, xsprintf("d %s / dw", op_info[n->loss].name));
    out(E, "    for (int i = 0; i < %s; i++) {", count(&n->shape));
    out(E, "        const %s w = %s, dl = %s;", E->T, elem(E, n->in[0], "i"), elem(E, n->in[1], "0"));
    if (n->loss == OP_L2) out(E, "        %s = 2 * w * dl;", elem(E, v, "i"));
    else out(E, "        %s = ((w > 0) - (w < 0)) * dl;", elem(E, v, "i"));
    out(E, "    }");
}

static void emit_accuracy(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *ys = &in(E, n, 0)->shape;
    int C = last_dim(ys), sparse = in(E, n, 1)->dtype == DT_INT;
    const char *y = ptr(E, n->in[0]), *t = ptr(E, n->in[1]);
    head(E, n, C == 1 ? "accuracy, threshold 0.5" : "accuracy, argmax");
    out(E, "    {");
    out(E, "        long correct = 0;");
    if (C == 1) {
        /* Keras's binary_accuracy: the thresholded prediction equals the target */
        out(E, "        for (int i = 0; i < %s; i++) correct += (%s[i] > 0.5 ? 1.0 : 0.0) == (double)%s[i];", count(ys), y, t);
        out(E, "        %s = (%s)((double)correct / (%s));", elem(E, v, "0"), E->T, count(ys));
    } else {
        out(E, "        for (int r = 0; r < %s; r++) {", rows(ys));
        out(E, "            const %s *y = %s + (size_t)r * %d;", E->T, y, C);
        out(E, "            int best = 0;");
        out(E, "            for (int j = 1; j < %d; j++) best = y[j] > y[best] ? j : best;", C);
        if (sparse) {
            out(E, "            correct += best == %s[r];", t);
        } else {
            out(E, "            const %s *t = %s + (size_t)r * %d;", E->T, t, C);
            out(E, "            int want = 0;");
            out(E, "            for (int j = 1; j < %d; j++) want = t[j] > t[want] ? j : want;", C);
            out(E, "            correct += best == want;");
        }
        out(E, "        }");
        out(E, "        %s = (%s)((double)correct / (%s));", elem(E, v, "0"), E->T, rows(ys));
    }
    out(E, "    }");
}

static EmitRule *const emit_rules[OP_COUNT] = {
#define OP(id, name, arity, flags, sign, shape, grad, emit) [OP_##id] = emit_##emit,
#include "ops.def"
#undef OP
};

/* ---- functions ---------------------------------------------------------------------- */

static const char *basename_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The .mn line a block came from, once per run of nodes from that line. */
static void provenance(Emit *E, Node *n) {
    if (n->loc.line == E->last_line && n->backward == E->last_backward) return;
    E->last_line = n->loc.line;
    E->last_backward = n->backward;
    int len = 0;
    const char *text = diag_line_text(n->loc.line, &len);
    Buf b = {0};
    for (int i = 0; text && i < len; i++) {
        char c = text[i];
        if (c == '*' && i + 1 < len && text[i + 1] == '/') c = '+'; /* never close the comment */
        if (c == '\t') c = ' ';
        buf_putc(&b, c);
    }
    while (b.len && b.data[b.len - 1] == ' ') b.data[--b.len] = 0;
    const char *src = b.data ? b.data : "";
    while (*src == ' ') src++;
    blank(E);
    out(E, "    /* %s%s:%d: %s */", n->backward ? "backward of " : "", basename_of(E->g->path), n->loc.line, src);
}

/* Nodes [from, to) of a schedule's order. */
static void emit_schedule(Emit *E, SchedKind kind, int from, int to) {
    E->sched = kind;
    E->last_line = -1;
    Schedule *s = &E->g->sched[kind];
    for (int i = from; i < to; i++) {
        Node *n = node(E, s->order[i]);
        provenance(E, n);
        emit_rules[n->op](E, n);
    }
}

static const char *upper(const char *s) {
    char *u = xstrdup(s);
    for (char *p = u; *p; p++) *p = (char)toupper((unsigned char)*p);
    return u;
}

static const char *io_type(Emit *E, const Node *n) { return n->dtype == DT_INT ? "int32_t" : E->T; }

static void emit_info_table(Emit *E, const char *what, const char *strct, const int *ids, int n, const char **names) {
    out(E, "const mn_io_info %s_%s_info[%d] = {", E->prefix, what, n ? n : 1);
    for (int i = 0; i < n; i++) {
        Node *v = node(E, ids[i]);
        Buf dims = {0};
        for (int d = 0; d < v->shape.rank; d++) buf_printf(&dims, "%s%d", d ? ", " : "", v->shape.dims[d]);
        const char *name = names ? names[i] : v->name;
        static const char *const kinds[] = {"MN_DATA_PLAIN", "MN_DATA_BINARY", "MN_DATA_ONEHOT", "MN_DATA_CLASS"};
        out(E, "    {\"%s\", %s, %d, {%s}, %ld, %lld, %s, offsetof(%s_%s, %s), %d, %s, %s},", name,
            v->dtype == DT_INT ? "MN_I32" : E->g->f64 ? "MN_F64" : "MN_F32", v->shape.rank, dims.data ? dims.data : "0",
            shape_size(&v->shape), (long long)v->int_bound, kinds[v->target_kind], E->prefix, strct, name, v->has_range,
            shortest(v->lo, 0), shortest(v->hi, 0));
    }
    if (!n) out(E, "    {0}");
    out(E, "};");
}

static const char *init_call(Emit *E, Node *p) {
    long size = shape_size(&p->shape);
    const char *dst = xsprintf("m->params + %d", p->param_offset);
    const Init *in = &p->init;
    switch (in->kind) {
    case INIT_ZEROS: return xsprintf("%s(%s, %ld, 0.0);", rt(E, "init_fill"), dst, size);
    case INIT_ONES: return xsprintf("%s(%s, %ld, 1.0);", rt(E, "init_fill"), dst, size);
    case INIT_CONST: return xsprintf("%s(%s, %ld, %s);", rt(E, "init_fill"), dst, size, shortest(in->a, 0));
    case INIT_UNIFORM:
        return xsprintf("%s(%s, %ld, %s, %s, &m->rng);", rt(E, "init_uniform"), dst, size, shortest(in->a, 0),
                        shortest(in->b, 0));
    case INIT_NORMAL:
        return xsprintf("%s(%s, %ld, %s, %s, &m->rng);", rt(E, "init_normal"), dst, size, shortest(in->a, 0),
                        shortest(in->b, 0));
    case INIT_GLOROT_UNIFORM:
        return xsprintf("%s(%s, %ld, %d, %d, &m->rng);", rt(E, "init_glorot_uniform"), dst, size, in->fan_in,
                        in->fan_out);
    case INIT_ORTHOGONAL:
        return xsprintf("%s(%s, %d, %d, &m->rng);", rt(E, "init_orthogonal"), dst, in->fan_in, in->fan_out);
    case INIT_FORGET_BIAS: /* zeros, and 1 for the forget gate (Keras's unit_forget_bias) */
        return xsprintf("%s(%s, %ld, 0.0); %s(%s + %d, %d, 1.0);", rt(E, "init_fill"), dst, size, rt(E, "init_fill"),
                        dst, in->fan_in, in->fan_in);
    }
    unreachable();
}

static void emit_header(Emit *E, const EmitOptions *opt) {
    Graph *g = E->g;
    const char *P = E->PREFIX, *p = E->prefix, *T = E->T;
    long arena = 0;
    for (int k = 0; k < SCHED_COUNT; k++)
        if (g->sched[k].arena_size > arena) arena = g->sched[k].arena_size;
    (void)opt;
    out(E, "/* %s.h — generated by mnc %s from %s. Do not edit: edit the .mn file and rerun mnc. */", p, MNC_VERSION,
        basename_of(g->path));
    out(E, "#ifndef %s_H", P);
    out(E, "#define %s_H", P);
    blank(E);
    out(E, "#include <stdint.h>");
    blank(E);
    out(E, "#include \"mn_runtime.h\"");
    blank(E);
    out(E, "#ifdef __cplusplus");
    out(E, "extern \"C\" {");
    out(E, "#endif");
    blank(E);
    define(E, "BATCH", xsprintf("%d", g->train.batch), "the largest n of evaluate and the training calls");
    define(E, "SEED", xsprintf("%lluu", (unsigned long long)g->train.seed), "the seed of the train block");
    define(E, "EPOCHS", xsprintf("%d", g->train.epochs), NULL);
    static const char *const opt_names[] = {"adam", "sgd"};
    define(E, "OPTIMIZER", xsprintf("\"%s\"", opt_names[g->train.optimizer]), NULL);
    define(E, "LR", shortest(g->train.lr, 0), NULL);
    if (g->train.optimizer == OPT_ADAM) {
        define(E, "BETA1", shortest(g->train.beta1, 0), NULL);
        define(E, "BETA2", shortest(g->train.beta2, 0), NULL);
        define(E, "EPSILON", shortest(g->train.epsilon, 0), NULL);
    } else {
        define(E, "MOMENTUM", shortest(g->train.momentum, 0), NULL);
    }
    define(E, "CLIP_NORM", shortest(g->train.clip_norm, 0), "0: off");
    define(E, "NUM_PARAMS", xsprintf("%ld", g->nparam_elems), "elements of the flat weight buffer");
    define(E, "NUM_TRAINABLE", xsprintf("%ld", g->ntrainable_elems), "its trainable prefix: the gradient's length");
    define(E, "NUM_TENSORS", xsprintf("%d", g->nparams), NULL);
    define(E, "ARENA_SIZE", xsprintf("%ld", arena), "elements of activations, gradients, temporaries");
    define(E, "NUM_INPUTS", xsprintf("%d", g->ninputs), NULL);
    define(E, "NUM_TARGETS", xsprintf("%d", g->ntargets), NULL);
    define(E, "NUM_OUTPUTS", xsprintf("%d", g->noutputs), NULL);
    define(E, "NUM_METRICS", xsprintf("%d", g->nmetrics), NULL);
    int differs = 0;
    for (int v = 0; v < g->nnodes; v++) differs |= g->nodes[v].op == OP_DROPOUT || g->nodes[v].op == OP_BATCHNORM;
    define(E, "TRAINING_DIFFERS", differs ? "1" : "0", "dropout or batchnorm: training and inference differ");
    blank(E);
    out(E, "typedef %s %s_real;", T, p);
    blank(E);
    out(E, "/* The whole state of one model instance: no pointers, no heap. Place it");
    out(E, " * in static memory or on a (large) stack; several instances are independent. */");
    out(E, "typedef struct %s {", p);
    out(E, "    %s params[%ld];   /* every weight, trainable first */", T, g->nparam_elems ? g->nparam_elems : 1);
    out(E, "    %s grads[%ld];    /* train_step's gradient buffer */", T, g->ntrainable_elems ? g->ntrainable_elems : 1);
    out(E, "    %s opt_m[%ld];    /* %s */", T, g->ntrainable_elems ? g->ntrainable_elems : 1,
        g->train.optimizer == OPT_ADAM ? "Adam's first moments" : "SGD's velocities");
    if (g->train.optimizer == OPT_ADAM)
        out(E, "    %s opt_v[%ld];    /* Adam's second moments */", T, g->ntrainable_elems ? g->ntrainable_elems : 1);
    out(E, "    int64_t step;        /* optimizer steps taken */");
    out(E, "    mn_rng rng;");
    out(E, "    %s arena[%ld];", T, arena ? arena : 1);
    out(E, "} %s;", p);
    blank(E);
    const char *structs[3] = {"inputs", "targets", "outputs"};
    int *lists[3] = {g->inputs, g->targets, g->outputs};
    int counts[3] = {g->ninputs, g->ntargets, g->noutputs};
    for (int k = 0; k < 3; k++) {
        out(E, "typedef struct %s_%s {", p, structs[k]);
        for (int i = 0; i < counts[k]; i++) {
            Node *v = node(E, lists[k][i]);
            const char *name = k == 2 ? g->output_names[i] : v->name;
            out(E, "    %s%s *%s; /* %s per sample */", k == 2 ? "" : "const ", io_type(E, v), name, dims_str(&v->shape));
        }
        if (!counts[k]) out(E, "    char unused; /* this model has no %s */", structs[k]);
        out(E, "} %s_%s;", p, structs[k]);
        blank(E);
    }
    out(E, "/* Sets every weight from the seed (Keras initialisers) and resets the optimizer. */");
    out(E, "void %s_init(%s *m, uint64_t seed);", p, p);
    out(E, "/* Inference for any n >= 0 (taken BATCH rows at a time); never allocates. */");
    out(E, "void %s_predict(%s *m, const %s_inputs *in, int n, const %s_outputs *out);", p, p, p, p);
    out(E, "/* The loss on n <= BATCH samples, and the metrics into metrics[NUM_METRICS]");
    out(E, " * (may be NULL); NaN if n is out of range. */");
    out(E, "%s %s_evaluate(%s *m, const %s_inputs *in, const %s_targets *tg, int n, %s *metrics);", T, p, p, p, p, T);
    out(E, "/* Forward, loss and backward on n <= BATCH samples: writes the gradient of");
    out(E, " * every trainable weight into grads[NUM_TRAINABLE]; returns the loss. */");
    out(E, "%s %s_compute_gradients(%s *m, const %s_inputs *in, const %s_targets *tg, int n, %s *grads);", T, p, p, p,
        p, T);
    out(E, "/* One optimizer step with the given gradients (e.g. averaged over workers). */");
    out(E, "void %s_apply_gradients(%s *m, const %s *grads);", p, p, T);
    out(E, "/* compute_gradients then apply_gradients; returns the loss before the step. */");
    out(E, "%s %s_train_step(%s *m, const %s_inputs *in, const %s_targets *tg, int n);", T, p, p, p, p);
    out(E, "/* Weights as safetensors (atomic write). load checks names, shapes, dtype and");
    out(E, " * size and leaves the model untouched on any mismatch. 0 or an MN_ERR_ code. */");
    out(E, "int %s_save(const %s *m, const char *path);", p, p);
    out(E, "int %s_load(%s *m, const char *path);", p, p);
    blank(E);
    out(E, "/* Descriptors, for generic tools (trainers, test harnesses). */");
    out(E, "extern const mn_tensor_info %s_tensors[%d];", p, g->nparams ? g->nparams : 1);
    out(E, "extern const mn_io_info %s_input_info[%d];", p, g->ninputs ? g->ninputs : 1);
    out(E, "extern const mn_io_info %s_target_info[%d];", p, g->ntargets ? g->ntargets : 1);
    out(E, "extern const mn_io_info %s_output_info[%d];", p, g->noutputs ? g->noutputs : 1);
    out(E, "extern const char *const %s_metric_names[%d];", p, g->nmetrics ? g->nmetrics : 1);
    blank(E);
    out(E, "#ifdef __cplusplus");
    out(E, "}");
    out(E, "#endif");
    out(E, "#endif");
}

static void emit_optimizer(Emit *E) {
    Graph *g = E->g;
    const char *p = E->prefix, *T = E->T;
    TrainSpec *t = &g->train;
    blank(E);
    out(E, "void %s_apply_gradients(%s *m, const %s *grads)", p, p, T);
    out(E, "{");
    out(E, "    const long count = %s_NUM_TRAINABLE;", E->PREFIX);
    out(E, "    %s scale = %s;", T, lit(E, 1));
    if (t->clip_norm > 0) {
        out(E, "    /* clip_norm: scale the gradients so their global norm is at most %g */", t->clip_norm);
        out(E, "    const double norm = sqrt(%s(grads, count));", rt(E, "sum_squares"));
        out(E, "    if (norm > %s) scale = (%s)(%s / norm);", shortest(t->clip_norm, 0), T, shortest(t->clip_norm, 0));
    }
    out(E, "    m->step++;");
    if (t->optimizer == OPT_ADAM) {
        out(E, "    /* Adam, Keras form: w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps) */");
        out(E, "    const double steps = (double)m->step;");
        out(E, "    const %s lr_t = (%s)(%s * sqrt(1.0 - pow(%s, steps)) / (1.0 - pow(%s, steps)));", T, T,
            shortest(t->lr, 0), shortest(t->beta2, 0), shortest(t->beta1, 0));
        out(E, "    %s(m->params, m->opt_m, m->opt_v, grads, count, scale, lr_t, %s, %s, %s);", rt(E, "adam"),
            lit(E, t->beta1), lit(E, t->beta2), lit(E, t->epsilon));
    } else if (t->momentum != 0) {
        out(E, "    /* SGD with momentum, Keras form: v = momentum v - lr g; w += v */");
        out(E, "    %s(m->params, m->opt_m, grads, count, scale, %s, %s);", rt(E, "sgd_momentum"), lit(E, t->lr),
            lit(E, t->momentum));
    } else {
        out(E, "    /* SGD: w -= lr g */");
        out(E, "    %s(m->params, grads, count, scale, %s);", rt(E, "sgd"), lit(E, t->lr));
    }
    out(E, "}");
}

static void function_prologue(Emit *E, int grads) {
    out(E, "    %s *const A = m->arena;", E->T);
    out(E, "    const %s *const P = m->params;", E->T);
    if (grads) out(E, "    %s *const G = grads;", E->T);
}

static void emit_source(Emit *E, const EmitOptions *opt) {
    Graph *g = E->g;
    const char *p = E->prefix, *P = E->PREFIX, *T = E->T;
    out(E, "/* %s.c — generated by mnc %s from %s. Do not edit: edit the .mn file and rerun mnc.", p, MNC_VERSION,
        basename_of(g->path));
    out(E, " *");
    out(E, " * Shapes: n is the number of samples of a call; [n, 64] is n rows of 64.");
    out(E, " * A is the arena (every activation, gradient and temporary, offsets fixed");
    out(E, " * at compile time), P the weights, G the gradient buffer. */");
    out(E, "#include <math.h>");
    out(E, "#include <stddef.h>");
    out(E, "#include <string.h>");
    blank(E);
    out(E, "#include <cblas.h>");
    blank(E);
    out(E, "#include \"mn_math.h\"");
    out(E, "#include \"%s\"", opt->header_name);
    blank(E);
    out(E, "/* MN_VEC marks a loop whose iterations are independent (no value's");
    out(E, " * memory overlaps another's): the compiler may vectorise it without");
    out(E, " * run-time overlap checks, which gcc -O2 does not insert. */");
    out(E, "#if defined(__clang__)");
    out(E, "#define MN_VEC _Pragma(\"clang loop vectorize(assume_safety)\")");
    out(E, "#pragma clang diagnostic ignored \"-Wpass-failed\" /* a loop that cannot be (a libm call) stays scalar */");
    out(E, "#elif defined(__GNUC__)");
    out(E, "#define MN_VEC _Pragma(\"GCC ivdep\")");
    out(E, "#else");
    out(E, "#define MN_VEC");
    out(E, "#endif");
    blank(E);

    /* descriptors */
    out(E, "const mn_tensor_info %s_tensors[%d] = {", p, g->nparams ? g->nparams : 1);
    for (int i = 0; i < g->nparams; i++) {
        Node *w = node(E, g->params[i]);
        Buf dims = {0};
        for (int d = 0; d < w->shape.rank; d++) buf_printf(&dims, "%s%d", d ? ", " : "", w->shape.dims[d]);
        out(E, "    {\"%s\", %d, {%s}, %d, %ld, %d},", w->name, w->shape.rank, dims.data ? dims.data : "0", w->param_offset,
            shape_size(&w->shape), w->trainable);
    }
    if (!g->nparams) out(E, "    {0}");
    out(E, "};");
    emit_info_table(E, "input", "inputs", g->inputs, g->ninputs, NULL);
    emit_info_table(E, "target", "targets", g->targets, g->ntargets, NULL);
    emit_info_table(E, "output", "outputs", g->outputs, g->noutputs, g->output_names);
    Buf mnames = {0};
    for (int i = 0; i < g->nmetrics; i++) buf_printf(&mnames, "%s\"%s\"", i ? ", " : "", g->metrics[i].name);
    out(E, "const char *const %s_metric_names[%d] = {%s};", p, g->nmetrics ? g->nmetrics : 1,
        mnames.data ? mnames.data : "0");

    /* init */
    blank(E);
    out(E, "void %s_init(%s *m, uint64_t seed)", p, p);
    out(E, "{");
    out(E, "    memset(m, 0, sizeof *m);");
    out(E, "    mn_rng_seed(&m->rng, seed);");
    for (int i = 0; i < g->nparams; i++) {
        Node *w = node(E, g->params[i]);
        out(E, "    %s /* %s %s */", init_call(E, w), w->name, dims_str(&w->shape));
    }
    out(E, "}");

    /* the forward pass of predict and evaluate */
    int shared = g->infer_shared;
    if (shared) {
        blank(E);
        out(E, "/* The forward pass in inference mode, on n <= %s_BATCH samples: what", P);
        out(E, " * both predict and evaluate compute (%d ops). */", shared);
        out(E, "static void forward_infer(%s *m, const %s_inputs *in, int n)", p, p);
        out(E, "{");
        function_prologue(E, 0);
        emit_schedule(E, SCHED_PREDICT, 0, shared);
        blank(E);
        out(E, "    (void)P;");
        out(E, "    (void)in;");
        out(E, "    (void)n;");
        out(E, "}");
    }

    /* predict */
    blank(E);
    out(E, "/* Inference on n <= %s_BATCH samples. */", P);
    out(E, "static void predict_batch(%s *m, const %s_inputs *in, int n, const %s_outputs *out)", p, p, p);
    out(E, "{");
    function_prologue(E, 0);
    if (shared) out(E, "    forward_infer(m, in, n);");
    emit_schedule(E, SCHED_PREDICT, shared, g->sched[SCHED_PREDICT].n);
    blank(E);
    out(E, "    /* the outputs */");
    for (int i = 0; i < g->noutputs; i++) {
        Node *o = node(E, g->outputs[i]);
        out(E, "    memcpy(out->%s, %s, sizeof(%s) * (size_t)(%s));", g->output_names[i], ptr(E, g->outputs[i]), T,
            count(&o->shape));
    }
    out(E, "    (void)A;");
    out(E, "    (void)P;");
    out(E, "}");
    blank(E);
    out(E, "void %s_predict(%s *m, const %s_inputs *in, int n, const %s_outputs *out)", p, p, p, p);
    out(E, "{");
    out(E, "    for (int base = 0; base < n; base += %s_BATCH) {", P);
    out(E, "        const int k = n - base < %s_BATCH ? n - base : %s_BATCH;", P, P);
    Buf parts = {0};
    for (int i = 0; i < g->ninputs; i++) {
        Node *v = node(E, g->inputs[i]);
        buf_printf(&parts, "%sin->%s + (size_t)base * %ld", i ? ", " : "", v->name, shape_size(&v->shape));
    }
    out(E, "        const %s_inputs part = {%s};", p, parts.data ? parts.data : "0");
    Buf oparts = {0};
    for (int i = 0; i < g->noutputs; i++) {
        Node *v = node(E, g->outputs[i]);
        if (v->shape.batched)
            buf_printf(&oparts, "%sout->%s + (size_t)base * %ld", i ? ", " : "", g->output_names[i], shape_size(&v->shape));
        else
            buf_printf(&oparts, "%sout->%s", i ? ", " : "", g->output_names[i]);
    }
    out(E, "        const %s_outputs outp = {%s};", p, oparts.data ? oparts.data : "0");
    out(E, "        predict_batch(m, &part, k, &outp);");
    out(E, "    }");
    out(E, "}");

    /* evaluate */
    blank(E);
    out(E, "%s %s_evaluate(%s *m, const %s_inputs *in, const %s_targets *tg, int n, %s *metrics)", T, p, p, p, p, T);
    out(E, "{");
    function_prologue(E, 0);
    out(E, "    if (n < 1 || n > %s_BATCH) return (%s)NAN;", P, T);
    if (shared) out(E, "    forward_infer(m, in, n);");
    emit_schedule(E, SCHED_EVAL, shared, g->sched[SCHED_EVAL].n);
    blank(E);
    out(E, "    if (metrics) {");
    for (int i = 0; i < g->nmetrics; i++) out(E, "        metrics[%d] = %s;", i, elem(E, g->metrics[i].value, "0"));
    out(E, "    }");
    out(E, "    (void)P;");
    out(E, "    (void)in;");
    out(E, "    (void)tg;");
    out(E, "    return %s;", elem(E, g->loss, "0"));
    out(E, "}");

    /* compute_gradients */
    blank(E);
    out(E, "%s %s_compute_gradients(%s *m, const %s_inputs *in, const %s_targets *tg, int n, %s *grads)", T, p, p, p, p,
        T);
    out(E, "{");
    function_prologue(E, 1);
    out(E, "    if (n < 1 || n > %s_BATCH) return (%s)NAN;", P, T);
    for (int i = 0; i < g->nparams; i++) {
        Node *w = node(E, g->params[i]);
        if (w->trainable && g->param_grad[i] < 0)
            out(E, "    memset(G + %d, 0, sizeof(%s) * %ld); /* %s: the loss does not depend on it */", w->param_offset, T,
                shape_size(&w->shape), w->name);
    }
    emit_schedule(E, SCHED_TRAIN, 0, g->sched[SCHED_TRAIN].n);
    blank(E);
    out(E, "    (void)P;");
    out(E, "    (void)G;");
    out(E, "    (void)in;");
    out(E, "    (void)tg;");
    out(E, "    return %s;", elem(E, g->loss, "0"));
    out(E, "}");

    emit_optimizer(E);

    blank(E);
    out(E, "%s %s_train_step(%s *m, const %s_inputs *in, const %s_targets *tg, int n)", T, p, p, p, p);
    out(E, "{");
    out(E, "    if (n < 1 || n > %s_BATCH) return (%s)NAN; /* nothing done */", P, T);
    out(E, "    const %s loss = %s_compute_gradients(m, in, tg, n, m->grads);", T, p);
    out(E, "    %s_apply_gradients(m, m->grads);", p);
    out(E, "    return loss;");
    out(E, "}");
    blank(E);
    out(E, "int %s_save(const %s *m, const char *path)", p, p);
    out(E, "{");
    out(E, "    return mn_save_safetensors(path, %s_tensors, %s_NUM_TENSORS, m->params, %s, NULL, 0);", p, P,
        g->f64 ? "MN_F64" : "MN_F32");
    out(E, "}");
    blank(E);
    out(E, "int %s_load(%s *m, const char *path)", p, p);
    out(E, "{");
    out(E, "    return mn_load_safetensors(path, %s_tensors, %s_NUM_TENSORS, m->params, %s, NULL, 0);", p, P,
        g->f64 ? "MN_F64" : "MN_F32");
    out(E, "}");
}

void emit_c(Graph *g, const EmitOptions *opt, Buf *c_out, Buf *h_out) {
    Emit E = {.g = g};
    E.prefix = opt->prefix ? opt->prefix : g->model_name;
    E.PREFIX = upper(E.prefix);
    E.T = g->f64 ? "double" : "float";
    E.fs = g->f64 ? "" : "f";
    E.b = h_out;
    emit_header(&E, opt);
    E.b = c_out;
    emit_source(&E, opt);
}
