/* emit_elementwise.c — maps and moves: unary.def's ops and their gradient,
 * softmax, binary ops with broadcasting, where, cast, pow, reductions and
 * their undoing (expand, sum_to), one_hot, reverse, concat and slice.
 */
#include "emit.h"

/* y = f(x), f from unary.def */
void emit_unary(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    head(E, n, op_info[n->op].name);
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++) {", count(&n->shape));
    out(E, "        const %s x = %s;", E->T, elem(E, n->in[0], "i"));
    out(E, "        %s = %s;", elem(E, v, "i"), act_expr(E, n->op, "x"));
    out(E, "    }");
}

/* (x or y, dy) -> dx, the derivative of unary.def's op n->loss */
void emit_unary_grad(Emit *E, Node *n) {
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

void emit_softmax(Emit *E, Node *n) {
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
void emit_softmax_grad(Emit *E, Node *n) {
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

void emit_binary(Emit *E, Node *n) {
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

void emit_where(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *o = &n->shape;
    head(E, n, "where");
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++)", count(o));
    out(E, "        %s = %s != 0 ? %s : %s;", elem(E, v, "i"), elem(E, n->in[0], bcast_index(o, &in(E, n, 0)->shape)),
        elem(E, n->in[1], bcast_index(o, &in(E, n, 1)->shape)), elem(E, n->in[2], bcast_index(o, &in(E, n, 2)->shape)));
}

void emit_cast(Emit *E, Node *n) {
    head(E, n, "cast");
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++) %s = (%s)%s;", count(&n->shape), elem(E, (int)(n - E->g->nodes), "i"), E->T,
        elem(E, n->in[0], "i"));
}

/* (x, y, dy) -> d(x^p)/dp = dy y ln x where x > 0, else 0 (TensorFlow's rule:
 * never NaN at x = 0) */
void emit_pow_dp(Emit *E, Node *n) {
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
void emit_expand(Emit *E, Node *n) {
    head(E, n, "expand");
    out(E, "    MN_VEC");
    out(E, "    for (int i = 0; i < %s; i++) %s = %s;", count(&n->shape), elem(E, (int)(n - E->g->nodes), "i"),
        elem(E, n->in[0], bcast_index(&n->shape, &in(E, n, 0)->shape)));
}

/* Sum or max over one axis: x seen as [outer, len, inner]. */
void emit_reduce(Emit *E, Node *n) {
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

void emit_one_hot(Emit *E, Node *n) {
    int depth = n->len;
    head(E, n, xsprintf("one_hot %d", depth));
    out(E, "    for (int i = 0; i < %s; i++) {", count(&in(E, n, 0)->shape));
    out(E, "        const int32_t id = %s;", elem(E, n->in[0], "i"));
    out(E, "        %s *y = %s + (size_t)i * %d;", E->T, ptr(E, (int)(n - E->g->nodes)), depth);
    out(E, "        for (int j = 0; j < %d; j++) y[j] = j == id ? %s : %s; /* out of range: all 0 */", depth, lit(E, 1), lit(E, 0));
    out(E, "    }");
}

/* y[b, t] = x[b, T-1-t] along the first axis of a sample */
void emit_reverse(Emit *E, Node *n) {
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
void emit_sum_to(Emit *E, Node *n) {
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

void emit_concat(Emit *E, Node *n) {
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

void emit_slice(Emit *E, Node *n) {
    Shape *from = &in(E, n, 0)->shape;
    long total = inner_size(from, n->axis), part = inner_size(&n->shape, n->axis);
    long at = part / n->len * n->start;
    head(E, n, xsprintf("slice %d:%d of axis %d", n->start, n->start + n->len, n->axis));
    out(E, "    for (int o = 0; o < %s; o++)", outer_count(from, n->axis));
    out(E, "        memcpy(%s + (size_t)o * %ld, %s + (size_t)o * %ld + %ld, sizeof(%s) * %ld);", ptr(E, (int)(n - E->g->nodes)),
        part, ptr(E, n->in[0]), total, at, E->T, part);
}
