/* shape.c — the shape column of the op table.
 *
 * Each rule reads the node's inputs (and its attributes), sets n->shape and
 * n->dtype, and returns 1; or reports a located error naming both sides and
 * returns 0. A poisoned input (an error already reported) makes every rule
 * return 0 silently, so one mistake gives one message.
 */
#include <string.h>

#include "ir.h"

typedef int ShapeRule(Graph *g, Node *n);

static Node *in_node(Graph *g, Node *n, int i) { return &g->nodes[n->in[i]]; }

static void note_defined(const Node *v) {
    if (v->name && v->loc.line) note_at(v->loc, "'%s' defined here", v->name);
}

static int any_poison(Graph *g, Node *n) {
    for (int i = 0; i < n->nin; i++)
        if (shape_is_poison(&in_node(g, n, i)->shape)) return 1;
    return 0;
}

/* Ops on real numbers reject int data (ids, labels) with the op's name. */
static int need_float(Graph *g, Node *n, int i) {
    Node *v = in_node(g, n, i);
    if (v->dtype == DT_FLOAT) return 1;
    error_at(n->loc, "%s needs float values, but %s is int; convert it with cast(x, float)",
             op_info[n->op].name, node_desc(v));
    note_defined(v);
    return 0;
}

static int need_int(Graph *g, Node *n, int i) {
    Node *v = in_node(g, n, i);
    if (v->dtype == DT_INT) return 1;
    error_at(n->loc, "%s needs int ids, but %s is float", op_info[n->op].name, node_desc(v));
    note_defined(v);
    return 0;
}

int broadcast_shapes(const Shape *a, const Shape *b, Shape *out) {
    int rank = a->rank > b->rank ? a->rank : b->rank;
    Shape s = {0};
    s.rank = rank;
    s.batched = a->batched || b->batched;
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return 0;
        s.dims[i] = da > db ? da : db;
    }
    *out = s;
    return 1;
}

static int shape_source(Graph *g, Node *n) {
    (void)g;
    (void)n;
    return 1;
}

static int shape_same(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    n->shape = in_node(g, n, 0)->shape;
    return 1;
}

/* (y, dy): an activation's gradient; both have y's shape. */
static int shape_same2(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    if (!shape_equal(&in_node(g, n, 0)->shape, &in_node(g, n, 1)->shape)) unreachable();
    n->shape = in_node(g, n, 0)->shape;
    return 1;
}

/* x[..., K] W[K, N] -> [..., N]; the shared core of matmul and linear. */
static int matmul_core(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    Node *x = in_node(g, n, 0), *w = in_node(g, n, 1);
    if (w->shape.rank != 2 || w->shape.batched) unreachable();
    if (x->shape.rank < 1 || x->shape.dims[x->shape.rank - 1] != w->shape.dims[0]) {
        error_at(n->loc, "matrix product of %s with %s: the last axis of the first must be %d",
                 node_desc(x), node_desc(w), w->shape.dims[0]);
        return 0;
    }
    n->shape = x->shape;
    n->shape.dims[n->shape.rank - 1] = w->shape.dims[1];
    return 1;
}

static int shape_matmul(Graph *g, Node *n) { return matmul_core(g, n); }

/* x W + b (+ b2 ..): fuse.c made it; every bias is as long as a row */
static int shape_linear(Graph *g, Node *n) {
    if (n->nin < 2) unreachable();
    if (!matmul_core(g, n)) return 0;
    for (int i = 2; i < n->nin; i++) {
        Shape *b = &in_node(g, n, i)->shape;
        if (b->rank != 1 || b->batched || b->dims[0] != n->shape.dims[n->shape.rank - 1]) unreachable();
    }
    return 1;
}

/* dy[..., N] W[K, N] -> dx[..., K] */
static int shape_matmul_dx(Graph *g, Node *n) {
    Node *dy = in_node(g, n, 0), *w = in_node(g, n, 1);
    if (dy->shape.rank < 1 || dy->shape.dims[dy->shape.rank - 1] != w->shape.dims[1]) unreachable();
    n->shape = dy->shape;
    n->shape.dims[n->shape.rank - 1] = w->shape.dims[0];
    return 1;
}

/* x[..., K] dy[..., N] -> dW[K, N], summed over every leading axis. */
static int shape_matmul_dw(Graph *g, Node *n) {
    Shape *x = &in_node(g, n, 0)->shape, *dy = &in_node(g, n, 1)->shape;
    if (x->rank != dy->rank || x->batched != dy->batched) unreachable();
    int dims[2] = {x->dims[x->rank - 1], dy->dims[dy->rank - 1]};
    n->shape = shape_make(0, 2, dims);
    return 1;
}

static int shape_broadcast(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0) || !need_float(g, n, 1)) return 0;
    Node *a = in_node(g, n, 0), *b = in_node(g, n, 1);
    if (!broadcast_shapes(&a->shape, &b->shape, &n->shape)) {
        error_at(n->loc, "%s: cannot broadcast %s with %s", op_info[n->op].name, node_desc(a),
                 node_desc(b));
        note_defined(a);
        note_defined(b);
        return 0;
    }
    return 1;
}

static int shape_where(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    for (int i = 0; i < 3; i++)
        if (!need_float(g, n, i)) return 0;
    Shape ab;
    Node *m = in_node(g, n, 0), *a = in_node(g, n, 1), *b = in_node(g, n, 2);
    if (!broadcast_shapes(&a->shape, &b->shape, &ab) || !broadcast_shapes(&m->shape, &ab, &n->shape)) {
        error_at(n->loc, "where: cannot broadcast the mask %s with %s and %s", node_desc(m),
                 node_desc(a), node_desc(b));
        return 0;
    }
    return 1;
}

static int shape_cast(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    n->shape = in_node(g, n, 0)->shape;
    n->dtype = DT_FLOAT;
    return 1;
}

/* dy summed down to n->to, which dy must broadcast from. */
static int shape_sum_to(Graph *g, Node *n) {
    Shape out;
    if (!broadcast_shapes(&in_node(g, n, 0)->shape, &n->to, &out) ||
        !shape_equal(&out, &in_node(g, n, 0)->shape))
        unreachable();
    n->shape = n->to;
    return 1;
}

/* (x, y, dy) -> dp, in y's (the broadcast) shape */
static int shape_pow_dp(Graph *g, Node *n) {
    n->shape = in_node(g, n, 2)->shape;
    return 1;
}

/* x broadcast up to n->to, which must be a broadcast of x */
static int shape_expand(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    Shape out;
    if (!broadcast_shapes(&in_node(g, n, 0)->shape, &n->to, &out) || !shape_equal(&out, &n->to)) unreachable();
    n->shape = n->to;
    return 1;
}

/* x with the per-sample axis n->axis summed (or maxed) away */
static int shape_reduce(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    Shape x = in_node(g, n, 0)->shape;
    if (n->axis < 0 || n->axis >= x.rank) unreachable(); /* lowering checks the axis */
    for (int d = n->axis; d + 1 < x.rank; d++) x.dims[d] = x.dims[d + 1];
    x.rank--;
    n->shape = x;
    return 1;
}

/* ids[...] -> [..., depth] */
static int shape_one_hot(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_int(g, n, 0)) return 0;
    Node *ids = in_node(g, n, 0);
    if (ids->shape.rank + 1 > MN_MAX_RANK) {
        error_at(n->loc, "one_hot of %s would have more than %d axes", node_desc(ids), MN_MAX_RANK);
        return 0;
    }
    n->shape = ids->shape;
    n->shape.dims[n->shape.rank++] = n->len;
    return 1;
}

/* Output size of a window k with stride s and the node's padding over
 * `size` cells (the padding was fixed by lowering, TensorFlow's rule). */
static int window_out(int size, int k, int s, int pad_before, int same) {
    if (same) return (size + s - 1) / s;
    (void)pad_before;
    return size >= k ? (size - k) / s + 1 : 0;
}

/* The geometry is checked by lowering; here it only sets the shape. Same
 * padding is recorded as pad[] >= 0 with `start` = 1. */
static int image_out(Graph *g, Node *n, int *ho, int *wo) {
    Shape *x = &in_node(g, n, 0)->shape;
    if (x->rank != 3 || !x->batched) unreachable();
    *ho = window_out(x->dims[0], n->k[0], n->s[0], n->pad[0], n->start);
    *wo = window_out(x->dims[1], n->k[1], n->s[1], n->pad[1], n->start);
    return *ho > 0 && *wo > 0;
}

static int shape_im2col(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    int ho, wo;
    if (!image_out(g, n, &ho, &wo)) unreachable();
    int dims[3] = {ho, wo, n->k[0] * n->k[1] * in_node(g, n, 0)->shape.dims[2]};
    n->shape = shape_make(1, 3, dims);
    return 1;
}

static int shape_col2im(Graph *g, Node *n) {
    (void)g;
    n->shape = n->to;
    return 1;
}

static int shape_pool(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    int ho, wo;
    if (!image_out(g, n, &ho, &wo)) unreachable();
    int dims[3] = {ho, wo, in_node(g, n, 0)->shape.dims[2]};
    n->shape = shape_make(1, 3, dims);
    return 1;
}

/* (x, y, dy) -> dx */
static int shape_pool_grad(Graph *g, Node *n) {
    n->shape = in_node(g, n, 0)->shape;
    return 1;
}

/* any dtype, same shape (reverse works on int ids too) */
static int shape_same_any(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    Node *x = in_node(g, n, 0);
    if (x->shape.rank < 1) unreachable();
    n->shape = x->shape;
    n->dtype = x->dtype;
    return 1;
}

/* zx [T, 4u], U [u, 4u] -> S [T, 6u] */
static int shape_lstm_scan(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    Shape *zx = &in_node(g, n, 0)->shape;
    if (zx->rank != 2 || zx->dims[1] != 4 * n->len) unreachable();
    int dims[2] = {zx->dims[0], 6 * n->len};
    n->shape = shape_make(zx->batched, 2, dims);
    return 1;
}

/* zx [T, 3u], U [u, 3u], bias [2, 3u] -> S [T, 5u] */
static int shape_gru_scan(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    Shape *zx = &in_node(g, n, 0)->shape;
    if (zx->rank != 2 || zx->dims[1] != 3 * n->len) unreachable();
    int dims[2] = {zx->dims[0], 5 * n->len};
    n->shape = shape_make(zx->batched, 2, dims);
    return 1;
}

static int shape_gru_scan_grad(Graph *g, Node *n) {
    Shape *st = &in_node(g, n, 0)->shape;
    int dims[2] = {st->dims[0], 6 * n->len};
    n->shape = shape_make(st->batched, 2, dims);
    return 1;
}

static int shape_rnn_h(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    Shape *st = &in_node(g, n, 0)->shape;
    int dims[2] = {st->dims[0], n->len};
    n->shape = n->axis ? shape_make(st->batched, 2, dims) : shape_make(st->batched, 1, &n->len);
    return 1;
}

static int shape_rnn_h_grad(Graph *g, Node *n) {
    (void)g;
    n->shape = n->to;
    return 1;
}

/* (S, U, dS) -> dzx [T, 4u] */
static int shape_lstm_scan_grad(Graph *g, Node *n) {
    Shape *st = &in_node(g, n, 0)->shape;
    int dims[2] = {st->dims[0], 4 * n->len};
    n->shape = shape_make(st->batched, 2, dims);
    return 1;
}

static int shape_rnn_hprev(Graph *g, Node *n) {
    Shape *st = &in_node(g, n, 0)->shape;
    int dims[2] = {st->dims[0], n->len};
    n->shape = shape_make(st->batched, 2, dims);
    return 1;
}

/* (x, moving mean [C], moving var [C]) -> x's shape */
static int shape_batchnorm(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    n->shape = in_node(g, n, 0)->shape;
    return 1;
}

static int shape_norm_grad(Graph *g, Node *n) {
    n->shape = in_node(g, n, 0)->shape;
    return 1;
}

static int shape_dropout_mask(Graph *g, Node *n) {
    (void)g;
    n->shape = n->to;
    return 1;
}

/* (x, mask) */
static int shape_dropout(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    n->shape = in_node(g, n, 0)->shape;
    return 1;
}

static int shape_reshape(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    Node *x = in_node(g, n, 0);
    if (shape_size(&x->shape) != shape_size(&n->to)) {
        error_at(n->loc, "reshape: %s has %ld values per sample, the new shape %s has %ld",
                 node_desc(x), shape_size(&x->shape), dims_str(&n->to), shape_size(&n->to));
        note_defined(x);
        return 0;
    }
    n->shape = n->to;
    n->shape.batched = x->shape.batched;
    n->dtype = x->dtype;
    return 1;
}

static int shape_concat(Graph *g, Node *n) {
    if (any_poison(g, n)) return 0;
    Node *first = in_node(g, n, 0);
    int axis = n->axis, total = 0;
    for (int i = 0; i < n->nin; i++) {
        Node *x = in_node(g, n, i);
        if (!need_float(g, n, i)) return 0;
        if (x->shape.batched != first->shape.batched) {
            error_at(n->loc, "concat: %s and %s must both be per-sample values (or both not): one has a batch axis",
                     node_desc(first), node_desc(x));
            note_defined(first);
            note_defined(x);
            return 0;
        }
        int ok = x->shape.rank == first->shape.rank && axis >= 0 && axis < x->shape.rank;
        for (int d = 0; ok && d < x->shape.rank; d++)
            if (d != axis && x->shape.dims[d] != first->shape.dims[d]) ok = 0;
        if (!ok) {
            /* Axes as Keras counts them: the batch is axis 0. */
            error_at(n->loc,
                     "concat along axis %d: %s and %s differ in a dimension other than that axis",
                     axis + 1, node_desc(first), node_desc(x));
            note_defined(first);
            note_defined(x);
            return 0;
        }
        total += x->shape.dims[axis];
    }
    n->shape = first->shape;
    n->shape.dims[axis] = total;
    return 1;
}

static int shape_slice(Graph *g, Node *n) {
    Node *x = in_node(g, n, 0);
    if (n->axis < 0 || n->axis >= x->shape.rank || n->start < 0 ||
        n->start + n->len > x->shape.dims[n->axis])
        unreachable();
    n->shape = x->shape;
    n->shape.dims[n->axis] = n->len;
    return 1;
}

/* ids[...] table[V, D] -> [..., D] */
static int shape_embedding(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_int(g, n, 0)) return 0;
    Node *ids = in_node(g, n, 0), *table = in_node(g, n, 1);
    if (ids->shape.rank + 1 > MN_MAX_RANK) {
        error_at(n->loc, "embedding of %s would have more than %d axes", node_desc(ids), MN_MAX_RANK);
        return 0;
    }
    n->shape = ids->shape;
    n->shape.dims[n->shape.rank++] = table->shape.dims[1];
    return 1;
}

static int shape_embedding_dw(Graph *g, Node *n) {
    (void)g;
    n->shape = n->to;
    return 1;
}

/* A loss: y and its target t of the same shape; a scalar. */
static int shape_loss_same(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    Node *y = in_node(g, n, 0), *t = in_node(g, n, 1);
    if (t->dtype == DT_INT) {
        error_at(n->loc, "%s needs float targets, but %s is int%s", op_info[n->op].name, node_desc(t),
                 n->op == OP_CCE || n->op == OP_CCE_LOGITS ? "; for class ids use sparse_cce" : "");
        note_defined(t);
        return 0;
    }
    if (!y->shape.batched || !shape_equal(&y->shape, &t->shape)) {
        error_at(n->loc, "%s: the prediction %s and the target %s must have the same shape",
                 op_info[n->op].name, node_desc(y), node_desc(t));
        note_defined(y);
        note_defined(t);
        return 0;
    }
    n->shape = shape_scalar();
    return 1;
}

/* sparse_cce: y[..., C] with int ids[...] or ids[..., 1]. */
static int shape_loss_sparse(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0) || !need_int(g, n, 1)) return 0;
    Node *y = in_node(g, n, 0), *t = in_node(g, n, 1);
    int ok = y->shape.batched && t->shape.batched && y->shape.rank >= 1;
    if (ok) {
        Shape lead = y->shape;
        lead.rank--;
        Shape with1 = lead;
        with1.dims[with1.rank++] = 1;
        ok = shape_equal(&t->shape, &lead) || shape_equal(&t->shape, &with1);
    }
    if (!ok) {
        error_at(n->loc, "%s: class ids %s do not match the prediction %s (expected %s or %s with a trailing 1)",
                 op_info[n->op].name, node_desc(t), node_desc(y), "its shape without the last axis", "that");
        note_defined(y);
        note_defined(t);
        return 0;
    }
    n->shape = shape_scalar();
    return 1;
}

/* (y, t, dL) -> dy */
static int shape_loss_grad(Graph *g, Node *n) {
    n->shape = in_node(g, n, 0)->shape;
    return 1;
}

static int shape_penalty(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    n->shape = shape_scalar();
    return 1;
}

static int shape_penalty_grad(Graph *g, Node *n) {
    n->shape = in_node(g, n, 0)->shape;
    return 1;
}

static int shape_accuracy(Graph *g, Node *n) {
    if (any_poison(g, n) || !need_float(g, n, 0)) return 0;
    Node *y = in_node(g, n, 0), *t = in_node(g, n, 1);
    if (t->dtype == DT_INT) {
        /* class scores [..., C] against ids [...] or [..., 1]: a scalar
         * prediction has no class axis (and no room to build the shapes) */
        if (y->shape.rank >= 1) {
            Shape lead = y->shape;
            lead.rank--;
            Shape with1 = lead;
            with1.dims[with1.rank++] = 1;
            if (shape_equal(&t->shape, &lead) || shape_equal(&t->shape, &with1)) {
                n->shape = shape_scalar();
                return 1;
            }
        }
    } else if (shape_equal(&y->shape, &t->shape) && y->shape.batched) {
        n->shape = shape_scalar();
        return 1;
    }
    error_at(n->loc, "accuracy: the prediction %s and the target %s do not match", node_desc(y), node_desc(t));
    note_defined(y);
    note_defined(t);
    return 0;
}

static ShapeRule *const shape_rules[OP_COUNT] = {
#define OP(id, name, arity, flags, sign, shape, grad, emit) [OP_##id] = shape_##shape,
#include "ops.def"
#undef OP
};

int shape_infer(Graph *g, Node *n) {
    if (op_info[n->op].flags & OPF_SOURCE) return 1;
    n->dtype = DT_FLOAT;
    return shape_rules[n->op](g, n);
}
