/* autodiff.c — reverse-mode differentiation on the IR.
 *
 * Starting from d(loss)/d(loss) = 1, walks the forward nodes in reverse
 * topological order and asks each op's gradient rule (the op table's grad
 * column) to add the IR nodes that compute the gradients of its inputs.
 * A value used twice (a shared layer, a value feeding two branches) gets
 * one contribution per use; they are summed with ADD nodes here, in the IR.
 * Only values that depend on a trainable param get a gradient: inputs,
 * targets and masks never do.
 */
#include <string.h>

#include "ir.h"

typedef struct Grad {
    Graph *g;
    int nforward;           /* nodes before autodiff; backward nodes come after */
    int *grad;              /* per forward node: its gradient value, -1 none yet */
    char *needs;            /* per forward node: depends on a trainable param */
} Grad;

typedef void GradRule(Grad *G, int v, int dy);

static Node *node(Grad *G, int v) { return &G->g->nodes[v]; }
static int input(Grad *G, int v, int i) { return G->g->nodes[v].in[i]; }

/* A new backward node, located at the forward node it differentiates. */
static int bw(Grad *G, Op op, int a, int b, int c, int from) {
    int in[3] = {a, b, c}, n = op_info[op].arity;
    int v = ir_add(G->g, op, in, n, node(G, from)->loc);
    node(G, v)->backward = 1;
    if (node(G, from)->name) node(G, v)->name = xsprintf("d_%s", node(G, from)->name);
    return v;
}

static void accumulate(Grad *G, int v, int dv, int from) {
    if (!G->needs[v]) return;
    if (G->grad[v] < 0) G->grad[v] = dv;
    else G->grad[v] = bw(G, OP_ADD, G->grad[v], dv, 0, from);
}

/* dy summed down to the shape of v (undoing a broadcast); dy itself if the
 * shapes already agree. */
static int sum_to(Grad *G, int dy, int v, int from) {
    if (shape_equal(&node(G, dy)->shape, &node(G, v)->shape)) return dy;
    int s = ir_begin(G->g, OP_SUM_TO, &dy, 1, node(G, from)->loc);
    node(G, s)->to = node(G, v)->shape;
    node(G, s)->backward = 1;
    ir_finish(G->g, s);
    return s;
}

static void grad_none(Grad *G, int v, int dy) {
    (void)G, (void)v, (void)dy;
}

static void grad_matmul(Grad *G, int v, int dy) {
    int x = input(G, v, 0), w = input(G, v, 1);
    if (G->needs[x]) accumulate(G, x, bw(G, OP_MATMUL_DX, dy, w, 0, v), v);
    if (G->needs[w]) accumulate(G, w, bw(G, OP_MATMUL_DW, x, dy, 0, v), v);
}

/* linear is made by fuse_linear, after autodiff: it is never differentiated. */
static void grad_linear(Grad *G, int v, int dy) {
    (void)G, (void)v, (void)dy;
    unreachable();
}

/* An elementwise map of unary.def: dx from its derivative column, which
 * reads x or y (the op's input or its own value) and dy. */
static void grad_unary(Grad *G, int v, int dy) {
    int x = input(G, v, 0);
    int d = bw(G, OP_UNARY_GRAD, unary_info[node(G, v)->op].reads == UNARY_READS_Y ? v : x, dy, 0, v);
    node(G, d)->loss = node(G, v)->op;
    accumulate(G, x, d, v);
}

static void grad_softmax(Grad *G, int v, int dy) { accumulate(G, input(G, v, 0), bw(G, OP_SOFTMAX_GRAD, v, dy, 0, v), v); }

static void grad_add(Grad *G, int v, int dy) {
    int a = input(G, v, 0), b = input(G, v, 1);
    if (G->needs[a]) accumulate(G, a, sum_to(G, dy, a, v), v);
    if (G->needs[b]) accumulate(G, b, sum_to(G, dy, b, v), v);
}

static void grad_sub(Grad *G, int v, int dy) {
    int a = input(G, v, 0), b = input(G, v, 1);
    if (G->needs[a]) accumulate(G, a, sum_to(G, dy, a, v), v);
    if (G->needs[b]) accumulate(G, b, bw(G, OP_NEG, sum_to(G, dy, b, v), 0, 0, v), v);
}

static void grad_mul(Grad *G, int v, int dy) {
    int a = input(G, v, 0), b = input(G, v, 1);
    if (G->needs[a]) accumulate(G, a, sum_to(G, bw(G, OP_MUL, dy, b, 0, v), a, v), v);
    if (G->needs[b]) accumulate(G, b, sum_to(G, bw(G, OP_MUL, dy, a, 0, v), b, v), v);
}

/* y = a / b: da = dy / b, db = -dy y / b */
static void grad_div(Grad *G, int v, int dy) {
    int a = input(G, v, 0), b = input(G, v, 1);
    if (G->needs[a]) accumulate(G, a, sum_to(G, bw(G, OP_DIV, dy, b, 0, v), a, v), v);
    if (G->needs[b]) {
        int t = bw(G, OP_DIV, bw(G, OP_MUL, dy, v, 0, v), b, 0, v);
        accumulate(G, b, bw(G, OP_NEG, sum_to(G, t, b, v), 0, 0, v), v);
    }
}

/* Both branches of a select: where(m, dy, 0) to the first, where(m, 0, dy)
 * to the second. */
static void select_grads(Grad *G, int v, int dy, int mask, int a, int b) {
    int zero = ir_const(G->g, 0.0, node(G, v)->loc);
    if (G->needs[a]) accumulate(G, a, sum_to(G, bw(G, OP_WHERE, mask, dy, zero, v), a, v), v);
    if (G->needs[b]) accumulate(G, b, sum_to(G, bw(G, OP_WHERE, mask, zero, dy, v), b, v), v);
}

/* max(a, b): the gradient goes to a where a >= b (TensorFlow's tie rule). */
static void grad_max(Grad *G, int v, int dy) {
    int a = input(G, v, 0), b = input(G, v, 1);
    select_grads(G, v, dy, bw(G, OP_GE, a, b, 0, v), a, b);
}

static void grad_where(Grad *G, int v, int dy) {
    select_grads(G, v, dy, input(G, v, 0), input(G, v, 1), input(G, v, 2));
}

static void grad_neg(Grad *G, int v, int dy) { accumulate(G, input(G, v, 0), bw(G, OP_NEG, dy, 0, 0, v), v); }
static void grad_copy(Grad *G, int v, int dy) { accumulate(G, input(G, v, 0), dy, v); }

/* A backward node whose shape rule reads `to` (reshape, expand). */
static int shaped(Grad *G, Op op, int x, Shape to, int from) {
    int r = ir_begin(G->g, op, &x, 1, node(G, from)->loc);
    node(G, r)->to = to;
    node(G, r)->backward = 1;
    ir_finish(G->g, r);
    return r;
}

static void grad_reshape(Grad *G, int v, int dy) {
    int x = input(G, v, 0);
    accumulate(G, x, shaped(G, OP_RESHAPE, dy, node(G, x)->shape, v), v);
}

/* y = x^p: dx = dy p x^(p-1); dp = dy y ln x where x > 0, else 0 */
static void grad_pow(Grad *G, int v, int dy) {
    int x = input(G, v, 0), p = input(G, v, 1);
    if (G->needs[x]) {
        int one = ir_const(G->g, 1.0, node(G, v)->loc);
        int slope = bw(G, OP_MUL, p, bw(G, OP_POW, x, bw(G, OP_SUB, p, one, 0, v), 0, v), 0, v);
        accumulate(G, x, sum_to(G, bw(G, OP_MUL, dy, slope, 0, v), x, v), v);
    }
    if (G->needs[p]) accumulate(G, p, sum_to(G, bw(G, OP_POW_DP, x, v, dy, v), p, v), v);
}

static void grad_expand(Grad *G, int v, int dy) {
    int x = input(G, v, 0);
    accumulate(G, x, sum_to(G, dy, x, v), v);
}

/* The shape of a reduction's input with the reduced axis kept as 1. */
static Shape keepdims(Grad *G, int v) {
    Shape s = node(G, input(G, v, 0))->shape;
    s.dims[node(G, v)->axis] = 1;
    return s;
}

static void grad_reduce_sum(Grad *G, int v, int dy) {
    int x = input(G, v, 0);
    int dyk = shaped(G, OP_RESHAPE, dy, keepdims(G, v), v);
    accumulate(G, x, shaped(G, OP_EXPAND, dyk, node(G, x)->shape, v), v);
}

/* The gradient goes to the maxima, shared equally among ties (TensorFlow). */
static void grad_reduce_max(Grad *G, int v, int dy) {
    int x = input(G, v, 0);
    Shape k = keepdims(G, v);
    int yk = shaped(G, OP_RESHAPE, v, k, v), dyk = shaped(G, OP_RESHAPE, dy, k, v);
    int is_max = bw(G, OP_EQ, x, yk, 0, v);
    int ties = ir_begin(G->g, OP_REDUCE_SUM, &is_max, 1, node(G, v)->loc);
    node(G, ties)->axis = node(G, v)->axis;
    node(G, ties)->backward = 1;
    ir_finish(G->g, ties);
    int share = bw(G, OP_DIV, dyk, shaped(G, OP_RESHAPE, ties, k, v), 0, v);
    accumulate(G, x, bw(G, OP_MUL, is_max, share, 0, v), v);
}

static void grad_concat(Grad *G, int v, int dy) {
    int start = 0, axis = node(G, v)->axis;
    for (int i = 0; i < node(G, v)->nin; i++) {
        int x = input(G, v, i), len = node(G, x)->shape.dims[axis];
        if (G->needs[x]) {
            int s = ir_begin(G->g, OP_SLICE, &dy, 1, node(G, v)->loc);
            node(G, s)->axis = axis;
            node(G, s)->start = start;
            node(G, s)->len = len;
            node(G, s)->backward = 1;
            ir_finish(G->g, s);
            accumulate(G, x, s, v);
        }
        start += len;
    }
}

static void grad_embedding(Grad *G, int v, int dy) {
    int ids = input(G, v, 0), table = input(G, v, 1);
    if (!G->needs[table]) return;
    int in[2] = {ids, dy};
    int d = ir_begin(G->g, OP_EMBEDDING_DW, in, 2, node(G, v)->loc);
    node(G, d)->to = node(G, table)->shape;
    node(G, d)->backward = 1;
    ir_finish(G->g, d);
    accumulate(G, table, d, v);
}

/* A node that copies v's window geometry. */
static void same_window(Grad *G, int to, int from) {
    Node *a = node(G, to), *b = node(G, from);
    memcpy(a->k, b->k, sizeof a->k);
    memcpy(a->s, b->s, sizeof a->s);
    memcpy(a->pad, b->pad, sizeof a->pad);
    a->start = b->start;
}

static void grad_im2col(Grad *G, int v, int dy) {
    int x = input(G, v, 0);
    int c = ir_begin(G->g, OP_COL2IM, &dy, 1, node(G, v)->loc);
    same_window(G, c, v);
    node(G, c)->to = node(G, x)->shape;
    node(G, c)->backward = 1;
    ir_finish(G->g, c);
    accumulate(G, x, c, v);
}

static void pool_grad(Grad *G, int v, int dy) {
    int x = input(G, v, 0);
    int in[3] = {x, v, dy};
    int d = ir_begin(G->g, OP_POOL_GRAD, in, 3, node(G, v)->loc);
    same_window(G, d, v);
    node(G, d)->loss = node(G, v)->op;
    node(G, d)->backward = 1;
    ir_finish(G->g, d);
    accumulate(G, x, d, v);
}
static void grad_maxpool(Grad *G, int v, int dy) { pool_grad(G, v, dy); }
static void grad_avgpool(Grad *G, int v, int dy) { pool_grad(G, v, dy); }

/* A backward recurrent node with v's units, direction and output mode. */
static int recurrent(Grad *G, Op op, const int *in, int nin, int from) {
    int r = ir_begin(G->g, op, in, nin, node(G, from)->loc);
    node(G, r)->len = node(G, from)->len;
    node(G, r)->start = node(G, from)->start;
    node(G, r)->axis = node(G, from)->axis;
    node(G, r)->backward = 1;
    return r;
}

/* rnn_h only reads the h slots of the states: its gradient fills them. */
static void grad_rnn_h(Grad *G, int v, int dy) {
    int states = input(G, v, 0);
    int d = recurrent(G, OP_RNN_H_GRAD, &dy, 1, v);
    node(G, d)->to = node(G, states)->shape;
    ir_finish(G->g, d);
    accumulate(G, states, d, v);
}

/* Backpropagation through time gives d(zx); dU = hprev^T d(zx). */
static void grad_lstm_scan(Grad *G, int v, int ds) {
    int zx = input(G, v, 0), u = input(G, v, 1);
    int in[3] = {v, u, ds};
    int dz = recurrent(G, OP_LSTM_SCAN_GRAD, in, 3, v);
    ir_finish(G->g, dz);
    accumulate(G, zx, dz, v);
    if (G->needs[u]) {
        int hp = recurrent(G, OP_RNN_HPREV, &v, 1, v);
        ir_finish(G->g, hp);
        accumulate(G, u, bw(G, OP_MATMUL_DW, hp, dz, 0, v), v);
    }
}

/* A slice [start, start + len) of the last axis of v (a backward node). */
static int last_axis_slice(Grad *G, int v, int start, int len, int from) {
    int s = ir_begin(G->g, OP_SLICE, &v, 1, node(G, from)->loc);
    node(G, s)->axis = node(G, v)->shape.rank - 1;
    node(G, s)->start = start;
    node(G, s)->len = len;
    node(G, s)->backward = 1;
    ir_finish(G->g, s);
    return s;
}

/* Backpropagation through time gives d[zx | inner]: d zx flows to the input
 * projection, dU = hprev^T d inner, and the bias rows get the sums of both. */
static void grad_gru_scan(Grad *G, int v, int ds) {
    int zx = input(G, v, 0), u = input(G, v, 1), bias = input(G, v, 2), units = node(G, v)->len;
    int in[3] = {v, u, ds};
    int dg = recurrent(G, OP_GRU_SCAN_GRAD, in, 3, v);
    ir_finish(G->g, dg);
    accumulate(G, zx, last_axis_slice(G, dg, 0, 3 * units, v), v);
    if (G->needs[u]) {
        int hp = recurrent(G, OP_RNN_HPREV, &v, 1, v);
        ir_finish(G->g, hp);
        accumulate(G, u, bw(G, OP_MATMUL_DW, hp, last_axis_slice(G, dg, 3 * units, 3 * units, v), 0, v), v);
    }
    if (G->needs[bias]) {
        int flat = 6 * units;
        int sum = shaped(G, OP_SUM_TO, dg, shape_make(0, 1, &flat), v);
        accumulate(G, bias, shaped(G, OP_RESHAPE, sum, node(G, bias)->shape, v), v);
    }
}

static void grad_reverse(Grad *G, int v, int dy) {
    accumulate(G, input(G, v, 0), bw(G, OP_REVERSE, dy, 0, 0, v), v);
}

/* Both normalisations: dx from x, xhat and dy over the normalised group. */
static void norm_grad(Grad *G, int v, int dy) {
    int x = input(G, v, 0);
    int in[3] = {x, v, dy};
    int d = ir_begin(G->g, OP_NORM_GRAD, in, 3, node(G, v)->loc);
    node(G, d)->loss = node(G, v)->op;
    node(G, d)->value = node(G, v)->value;
    node(G, d)->backward = 1;
    ir_finish(G->g, d);
    accumulate(G, x, d, v);
}
static void grad_layernorm(Grad *G, int v, int dy) { norm_grad(G, v, dy); }
static void grad_batchnorm(Grad *G, int v, int dy) { norm_grad(G, v, dy); }

/* training: y = x * mask, so dx = dy * mask */
static void grad_dropout(Grad *G, int v, int dy) {
    accumulate(G, input(G, v, 0), bw(G, OP_MUL, dy, input(G, v, 1), 0, v), v);
}

static void grad_loss(Grad *G, int v, int dl) {
    int y = input(G, v, 0);
    if (!G->needs[y]) return;
    int d = bw(G, OP_LOSS_GRAD, y, input(G, v, 1), dl, v);
    node(G, d)->loss = node(G, v)->op;
    accumulate(G, y, d, v);
}

static void grad_penalty(Grad *G, int v, int dl) {
    int w = input(G, v, 0);
    if (!G->needs[w]) return;
    int d = bw(G, OP_PENALTY_GRAD, w, dl, 0, v);
    node(G, d)->loss = node(G, v)->op;
    accumulate(G, w, d, v);
}

static GradRule *const grad_rules[OP_COUNT] = {
#define OP(id, name, arity, flags, sign, shape, grad, emit) [OP_##id] = grad_##grad,
#include "ops.def"
#undef OP
};

void autodiff(Graph *g) {
    if (g->loss < 0) unreachable();
    Grad G = {.g = g, .nforward = g->nnodes};
    G.grad = xalloc(sizeof(int) * (size_t)g->nnodes);
    G.needs = xalloc((size_t)g->nnodes);
    for (int v = 0; v < g->nnodes; v++) {
        Node *n = &g->nodes[v];
        G.grad[v] = -1;
        if (n->op == OP_PARAM) G.needs[v] = (char)n->trainable;
        else if (!(op_info[n->op].flags & OPF_NOGRAD))
            for (int i = 0; i < n->nin; i++) G.needs[v] |= G.needs[n->in[i]];
    }
    if (G.needs[g->loss]) G.grad[g->loss] = ir_const(g, 1.0, g->nodes[g->loss].loc);
    for (int v = G.nforward - 1; v >= 0; v--)
        if (G.grad[v] >= 0 && G.needs[v]) grad_rules[g->nodes[v].op](&G, v, G.grad[v]);

    /* Each param's gradient must be a value of its own: it is written into
     * the flat gradient buffer. A shared value (a forward value, a constant,
     * a view, a value read by other nodes, or one already owned by an earlier
     * param) is copied first; such a copy reads the earlier param's slot. */
    g->param_grad = xalloc(sizeof(int) * (size_t)(g->nparams ? g->nparams : 1));
    int *uses = ir_use_counts(g);
    char *owned = xalloc((size_t)(g->nnodes + g->nparams) + 1); /* copies add nodes */
    for (int i = 0; i < g->nparams; i++) {
        int p = g->params[i], dv = G.grad[p];
        if (dv >= 0) {
            Node *n = &g->nodes[dv];
            if (dv < G.nforward || uses[dv] || owned[dv] || (op_info[n->op].flags & (OPF_SOURCE | OPF_VIEW))) {
                dv = ir_add1(g, OP_COPY, dv, g->nodes[p].loc);
                g->nodes[dv].backward = 1;
            }
            owned[dv] = 1;
        }
        g->param_grad[i] = dv;
    }
    ir_verify(g);
}
