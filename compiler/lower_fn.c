/* lower_fn.c — the function table: every function of the language that is
 * not a layer (flatten, reshape, merges, losses, pools, dropout, ...), and
 * the elementwise maps of unary.def (relu, exp, ...), each lowered to IR
 * ops with the checks only the language knows (lower.h). */
#include <string.h>

#include "lower.h"
#include "mn_runtime.h" /* mn_target_kind, shared with the generated code's descriptors */

typedef enum FnKind {
    FN_FLATTEN, FN_RESHAPE, FN_CONCAT, FN_ADD, FN_SUBTRACT, FN_MULTIPLY, FN_AVERAGE, FN_MAXIMUM,
    FN_CAST, FN_WHERE, FN_UNARY, FN_SOFTMAX,
    FN_BCE, FN_CCE, FN_SPARSE_CCE, FN_MSE, FN_MAE, FN_L2, FN_L1, FN_ACCURACY,
    FN_POW, FN_STOP_GRADIENT,
    FN_SUM, FN_MEAN, FN_ONE_HOT, FN_GLOBAL_AVG1D, FN_GLOBAL_AVG2D, FN_GLOBAL_MAX1D, FN_GLOBAL_MAX2D,
    FN_MAXPOOL2D, FN_AVGPOOL2D, FN_DROPOUT,
} FnKind;

struct FnSpec {
    const char *name;
    FnKind kind;
    int variadic;           /* one or more values, then named args */
    ArgSpec args[4];
    int nargs;
};

static const FnSpec functions[] = {
    {"flatten", FN_FLATTEN, 0, {{"x", 1}}, 1},
    {"reshape", FN_RESHAPE, 0, {{"x", 1}, {"shape", 1}}, 2},
    {"concat", FN_CONCAT, 1, {{"axis", 0}}, 1},
    {"add", FN_ADD, 1, {{0, 0}}, 0},
    {"subtract", FN_SUBTRACT, 0, {{"a", 1}, {"b", 1}}, 2},
    {"multiply", FN_MULTIPLY, 1, {{0, 0}}, 0},
    {"average", FN_AVERAGE, 1, {{0, 0}}, 0},
    {"maximum", FN_MAXIMUM, 1, {{0, 0}}, 0},
    {"cast", FN_CAST, 0, {{"x", 1}, {"dtype", 1}}, 2},
    {"where", FN_WHERE, 0, {{"mask", 1}, {"a", 1}, {"b", 1}}, 3},
    {"softmax", FN_SOFTMAX, 0, {{"x", 1}, {"axis", 0}}, 2},
    {"bce", FN_BCE, 0, {{"y", 1}, {"target", 1}}, 2},
    {"cce", FN_CCE, 0, {{"y", 1}, {"target", 1}}, 2},
    {"sparse_cce", FN_SPARSE_CCE, 0, {{"y", 1}, {"target", 1}}, 2},
    {"mse", FN_MSE, 0, {{"y", 1}, {"target", 1}}, 2},
    {"mae", FN_MAE, 0, {{"y", 1}, {"target", 1}}, 2},
    {"l2", FN_L2, 0, {{"w", 1}}, 1},
    {"l1", FN_L1, 0, {{"w", 1}}, 1},
    {"accuracy", FN_ACCURACY, 0, {{"y", 1}, {"target", 1}}, 2},
    {"pow", FN_POW, 0, {{"x", 1}, {"p", 1}}, 2},
    {"stop_gradient", FN_STOP_GRADIENT, 0, {{"x", 1}}, 1},
    {"sum", FN_SUM, 0, {{"x", 1}, {"axis", 1}}, 2},
    {"mean", FN_MEAN, 0, {{"x", 1}, {"axis", 1}}, 2},
    {"one_hot", FN_ONE_HOT, 0, {{"ids", 1}, {"depth", 1}}, 2},
    {"global_avgpool1d", FN_GLOBAL_AVG1D, 0, {{"x", 1}}, 1},
    {"global_avgpool2d", FN_GLOBAL_AVG2D, 0, {{"x", 1}}, 1},
    {"global_maxpool1d", FN_GLOBAL_MAX1D, 0, {{"x", 1}}, 1},
    {"global_maxpool2d", FN_GLOBAL_MAX2D, 0, {{"x", 1}}, 1},
    {"maxpool2d", FN_MAXPOOL2D, 0, {{"x", 1}, {"pool", 0}, {"strides", 0}, {"padding", 0}}, 4},
    {"avgpool2d", FN_AVGPOOL2D, 0, {{"x", 1}, {"pool", 0}, {"strides", 0}, {"padding", 0}}, 4},
    {"dropout", FN_DROPOUT, 0, {{"x", 1}, {"rate", 1}}, 2},
};
#define NFUNCTIONS ((int)(sizeof functions / sizeof functions[0]))

/* The elementwise maps of unary.def that the language has (fn = 1). */
static const FnSpec unary_functions[] = {
#define UNARY(id, name, fn, flags, sign, grad, reads, forward, derivative, act, kname, ktype) \
    {fn ? name : NULL, FN_UNARY, 0, {{"x", 1}}, 1},
#include "unary.def"
#undef UNARY
};
#define NUNARY_FUNCTIONS ((int)(sizeof unary_functions / sizeof unary_functions[0]))

const FnSpec *find_function(const char *name) {
    for (int i = 0; i < NFUNCTIONS; i++)
        if (!strcmp(functions[i].name, name)) return &functions[i];
    for (int i = 0; i < NUNARY_FUNCTIONS; i++)
        if (unary_functions[i].name && !strcmp(unary_functions[i].name, name)) return &unary_functions[i];
    return NULL;
}

int function_names(const char **names, int max) {
    int n = 0;
    for (int i = 0; i < NFUNCTIONS && n < max; i++) names[n++] = functions[i].name;
    for (int i = 0; i < NUNARY_FUNCTIONS && n < max; i++)
        if (unary_functions[i].name) names[n++] = unary_functions[i].name;
    return n;
}

/* Keras merges (add, multiply, ...) take values of one shape, no broadcasting. */
static int same_shapes(Lower *L, const char *what, const int *v, int n, Loc loc) {
    Graph *g = L->g;
    for (int i = 1; i < n; i++) {
        Node *a = &g->nodes[v[0]], *b = &g->nodes[v[i]];
        if (!shape_equal(&a->shape, &b->shape)) {
            error_at(loc, "%s: all inputs must have the same shape, but %s and %s differ", what,
                     node_desc(&g->nodes[v[0]]), node_desc(&g->nodes[v[i]]));
            if (a->name && a->loc.line) note_at(a->loc, "'%s' defined here", a->name);
            if (b->name && b->loc.line) note_at(b->loc, "'%s' defined here", b->name);
            return 0;
        }
    }
    return 1;
}

static void set_target_kind(Graph *g, int t, int kind) {
    if (t >= 0 && g->nodes[t].op == OP_TARGET) g->nodes[t].target_kind = kind;
}

/* sum / mean / max over one axis, the axis counted as Keras counts it (the
 * batch is axis 0, which cannot be reduced here). */
static int reduce(Lower *L, Op op, int x, int axis, int mean, Loc axis_loc, Loc loc) {
    Graph *g = L->g;
    int rank = g->nodes[x].shape.rank;
    int per_sample = axis < 0 ? rank + axis : axis - 1;
    if (per_sample < 0 || per_sample >= rank) {
        error_at(axis_loc, "axis %d is out of range for %s (axis 0 is the batch)", axis, node_desc(&g->nodes[x]));
        return -1;
    }
    int size = g->nodes[x].shape.dims[per_sample];
    int v = ir_begin(g, op, &x, 1, loc);
    g->nodes[v].axis = per_sample;
    if (!ir_finish(g, v)) return -1;
    if (mean) v = ir_add2(g, OP_MUL, v, ir_const(g, 1.0 / size, loc), loc);
    return v;
}

/* A merge: one or more values (positional), then named options (concat's
 * axis); Keras's merges take values of one shape, no broadcasting. */
static int call_merge(Lower *L, const FnSpec *fn, Expr *call, int first, Loc loc) {
    Graph *g = L->g;
    const char *what = fn->name;
    int vals[64], nvals = 0;
    /* values first (positional), then named options */
    Expr *opts[MAX_ARGS] = {0};
    if (first >= 0) vals[nvals++] = first;
    for (Arg *a = call ? call->args : NULL; a; a = a->next) {
        if (!a->name) {
            if (nvals == 64) {
                error_at(a->loc, "%s: too many inputs", what);
                return -1;
            }
            vals[nvals++] = lower_expr(L, a->value);
            continue;
        }
        int slot = -1;
        for (int i = 0; i < fn->nargs; i++)
            if (fn->args[i].name && !strcmp(fn->args[i].name, a->name)) slot = i;
        if (slot < 0) {
            error_at(a->name_loc, "%s has no argument '%s'", what, a->name);
            return -1;
        }
        opts[slot] = a->value;
    }
    for (int i = 0; i < nvals; i++)
        if (vals[i] < 0 || shape_is_poison(&g->nodes[vals[i]].shape)) return -1;
    if (nvals < (fn->kind == FN_CONCAT ? 1 : 2)) {
        error_at(loc, "%s needs at least %d inputs", what, fn->kind == FN_CONCAT ? 1 : 2);
        return -1;
    }
    if (fn->kind == FN_CONCAT) {
        int axis = -1;
        if (opts[0] && !axis_arg(opts[0], what, &axis)) return -1;
        int rank = g->nodes[vals[0]].shape.rank;
        /* Keras counts the batch axis: axis=1 is the first axis of a sample. */
        int per_sample = axis < 0 ? rank + axis : axis - 1;
        if (per_sample < 0 || per_sample >= rank) {
            error_at(opts[0] ? opts[0]->loc : loc, "concat: axis %d is out of range for %s", axis,
                     node_desc(&g->nodes[vals[0]]));
            return -1;
        }
        int v = ir_begin(g, OP_CONCAT, vals, nvals, loc);
        g->nodes[v].axis = per_sample;
        ir_finish(g, v);
        return v;
    }
    for (int i = 0; i < nvals; i++)
        if (g->nodes[vals[i]].dtype != DT_FLOAT) {
            error_at(loc, "%s needs float values, but %s is int; convert it with cast(x, float)", what,
                     node_desc(&g->nodes[vals[i]]));
            return -1;
        }
    if (!same_shapes(L, what, vals, nvals, loc)) return -1;
    Op op = fn->kind == FN_MULTIPLY ? OP_MUL : fn->kind == FN_MAXIMUM ? OP_MAX : OP_ADD;
    int acc = vals[0];
    for (int i = 1; i < nvals; i++) acc = ir_add2(g, op, acc, vals[i], loc);
    if (fn->kind == FN_AVERAGE) acc = ir_add2(g, OP_MUL, acc, ir_const(g, 1.0 / nvals, loc), loc);
    return acc;
}

/* flatten(x): one axis */
static int fn_flatten(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    (void)fn, (void)b;
    int size = (int)shape_size(&L->g->nodes[a0].shape);
    return reshaped(L, a0, shape_make(0, 1, &size), loc);
}

/* reshape(x, [d, ...]): one -1 takes what the others leave */
static int fn_reshape(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    Graph *g = L->g;
    const char *what = fn->name;
    Node *x = &g->nodes[a0];
    Expr *list = b[1];
    if (list->kind != EX_LIST) {
        error_at(list->loc, "reshape: the shape must be a list, e.g. [1, 1, 32]");
        return -1;
    }
    Shape to = {0};
    int infer = -1;
    long known = 1;
    for (Arg *a = list->args; a; a = a->next) {
        Expr *d = a->value;
        int neg1 = d->kind == EX_NEG && d->lhs->kind == EX_NUMBER && d->lhs->number == 1;
        if (to.rank == MN_MAX_RANK) {
            error_at(list->loc, "reshape: at most %d axes", MN_MAX_RANK);
            return -1;
        }
        if (neg1 && infer < 0) {
            infer = to.rank;
            to.dims[to.rank++] = 1;
            continue;
        }
        int dim;
        if (!int_arg(d, what, "shape", &dim)) return -1;
        to.dims[to.rank++] = dim;
        known *= dim;
    }
    if (infer >= 0) {
        long size = shape_size(&x->shape);
        if (known == 0 || size % known) {
            error_at(list->loc, "reshape: %s has %ld values per sample, which no -1 can make into this shape",
                     node_desc(&g->nodes[a0]), size);
            return -1;
        }
        to.dims[infer] = (int)(size / known);
    }
    int v = ir_begin(g, OP_RESHAPE, &a0, 1, loc);
    g->nodes[v].to = to;
    ir_finish(g, v);
    return v;
}

/* cast(x, float | int): int to float; float to int is refused */
static int fn_cast(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    Graph *g = L->g;
    (void)fn;
    Node *x = &g->nodes[a0];
    Expr *d = b[1];
    if (d->kind != EX_NAME || (strcmp(d->name, "float") && strcmp(d->name, "int"))) {
        error_at(d->loc, "cast: the type must be float or int");
        return -1;
    }
    if (!strcmp(d->name, "int")) {
        if (x->dtype == DT_INT) return a0;
        error_at(d->loc, "cast to int is not supported: int values only come from inputs");
        return -1;
    }
    if (x->dtype == DT_FLOAT) return a0;
    return ir_add1(g, OP_CAST, a0, loc);
}

/* subtract(a, b): of one shape */
static int fn_subtract(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    Graph *g = L->g;
    const char *what = fn->name;
    int a1 = lower_expr(L, b[1]);
    if (a1 < 0 || shape_is_poison(&g->nodes[a1].shape)) return -1;
    int v2[2] = {a0, a1};
    if (!same_shapes(L, what, v2, 2, loc)) return -1;
    return ir_add2(g, OP_SUB, a0, a1, loc);
}

/* softmax over the last axis only */
static int fn_softmax(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    Graph *g = L->g;
    const char *what = fn->name;
    Node *x = &g->nodes[a0];
    int axis = -1;
    if (b[1] && !axis_arg(b[1], what, &axis)) return -1;
    if (axis != -1 && axis != x->shape.rank) {
        error_at(b[1]->loc, "softmax: only the last axis (axis=-1) is supported");
        return -1;
    }
    return ir_add1(g, OP_SOFTMAX, a0, loc);
}

/* a loss or the accuracy metric: (y, target); the target learns its data kind */
static int fn_loss(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    Graph *g = L->g;
    const char *what = fn->name;
    static const Op ops[] = {[FN_BCE] = OP_BCE, [FN_CCE] = OP_CCE, [FN_SPARSE_CCE] = OP_SPARSE_CCE,
                             [FN_MSE] = OP_MSE, [FN_MAE] = OP_MAE, [FN_ACCURACY] = OP_ACCURACY};
    int t = lower_expr(L, b[1]);
    if (t < 0) return -1;
    if (fn->kind == FN_ACCURACY && L->cur->kind != ST_METRIC) {
        error_at(loc, "accuracy is a metric: write it in a 'metric' statement");
        return -1;
    }
    if (fn->kind != FN_ACCURACY && L->cur->kind != ST_LOSS) {
        error_at(loc, "%s is a loss: use it in the 'loss' statement", what);
        return -1;
    }
    static const int kinds[] = {[FN_BCE] = MN_DATA_BINARY, [FN_CCE] = MN_DATA_ONEHOT,
                                [FN_SPARSE_CCE] = MN_DATA_CLASS, [FN_MSE] = MN_DATA_PLAIN,
                                [FN_MAE] = MN_DATA_PLAIN, [FN_ACCURACY] = -1};
    if (kinds[fn->kind] >= 0) set_target_kind(g, t, kinds[fn->kind]);
    int v = ir_add2(g, ops[fn->kind], a0, t, loc);
    if (fn->kind == FN_SPARSE_CCE && !shape_is_poison(&g->nodes[v].shape)) {
        Node *y = &g->nodes[a0];
        if (!bound_ids(L, t, y->shape.dims[y->shape.rank - 1], "sparse_cce", loc)) return -1;
    }
    return v;
}

/* one_hot(ids, depth) */
static int fn_one_hot(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    Graph *g = L->g;
    const char *what = fn->name;
    Node *x = &g->nodes[a0];
    int depth;
    if (!int_arg(b[1], what, "depth", &depth)) return -1;
    if (x->dtype != DT_INT) {
        error_at(loc, "one_hot needs int ids, but %s is float", node_desc(&g->nodes[a0]));
        return -1;
    }
    int v = ir_begin(g, OP_ONE_HOT, &a0, 1, loc);
    g->nodes[v].len = depth;
    ir_finish(g, v);
    if (!bound_ids(L, a0, depth, "one_hot", loc)) return -1;
    return v;
}

/* inverted dropout (kept values scaled by 1 / (1 - rate)), training only */
static int fn_dropout(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    Graph *g = L->g;
    const char *what = fn->name;
    Node *x = &g->nodes[a0];
    /* inverted dropout (kept values scaled by 1 / (1 - rate)), training only */
    double rate;
    if (!number_arg(b[1], what, "rate", &rate)) return -1;
    if (!(rate >= 0 && rate < 1)) {
        error_at(b[1]->loc, "dropout: 'rate' must be >= 0 and < 1");
        return -1;
    }
    if (x->dtype != DT_FLOAT) {
        error_at(loc, "dropout needs float values, but %s is int", node_desc(&g->nodes[a0]));
        return -1;
    }
    int dummy = 0;
    int mask = ir_begin(g, OP_DROPOUT_MASK, &dummy, 0, loc);
    g->nodes[mask].to = g->nodes[a0].shape;
    g->nodes[mask].value = rate;
    ir_finish(g, mask);
    return ir_add2(g, OP_DROPOUT, a0, mask, loc);
}

/* global_avgpool1d .. global_maxpool2d: [steps, C] or [H, W, C] -> [C], the positions folded into one axis, then reduced */
static int fn_global_pool(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    Graph *g = L->g;
    (void)b;
    const char *what = fn->name;
    Node *x = &g->nodes[a0];
    int two = fn->kind == FN_GLOBAL_AVG2D || fn->kind == FN_GLOBAL_MAX2D;
    int is_max = fn->kind == FN_GLOBAL_MAX1D || fn->kind == FN_GLOBAL_MAX2D;
    if (x->dtype != DT_FLOAT || x->shape.rank != (two ? 3 : 2) || !x->shape.batched) {
        error_at(loc, "%s needs per-sample float values of shape %s, but %s is given", what,
                 two ? "[height, width, channels]" : "[steps, channels]", node_desc(&g->nodes[a0]));
        return -1;
    }
    int v = a0;
    if (two) {
        int dims[2] = {x->shape.dims[0] * x->shape.dims[1], x->shape.dims[2]};
        v = ir_begin(g, OP_RESHAPE, &a0, 1, loc);
        g->nodes[v].to = shape_make(0, 2, dims);
        ir_finish(g, v);
    }
    return reduce(L, is_max ? OP_REDUCE_MAX : OP_REDUCE_SUM, v, 1, !is_max, loc, loc);
}

/* maxpool2d, avgpool2d; Keras: pool 2, strides = pool, padding valid */
static int fn_pool(Lower *L, const FnSpec *fn, Expr **b, int a0, Loc loc) {
    const char *what = fn->name;
    int pool[2] = {2, 2}, strides[2], same = 0;
    if (b[1] && !pair_arg(b[1], what, "pool", pool)) return -1;
    memcpy(strides, pool, sizeof strides);
    if (b[2] && !pair_arg(b[2], what, "strides", strides)) return -1;
    if (b[3] && !padding_arg(b[3], what, &same)) return -1;
    return windowed(L, fn->kind == FN_MAXPOOL2D ? OP_MAXPOOL2D : OP_AVGPOOL2D, a0, pool, strides, same, what, loc);
}

int call_function(Lower *L, const FnSpec *fn, Expr *call, int first, Loc loc) {
    if (fn->variadic) return call_merge(L, fn, call, first, loc);
    Graph *g = L->g;
    const char *what = fn->name;
    Expr *b[MAX_ARGS];
    Loc bl[MAX_ARGS];
    if (!bind_args(what, loc, fn->args, fn->nargs, call ? call->args : NULL, b, bl, first >= 0)) return -1;
    if (first < 0 && fn->nargs > 0 && !b[0]) {
        error_at(loc, "%s: missing argument '%s'", what, fn->args[0].name);
        return -1;
    }
    /* Lower the value arguments (the first, and the others that are values). */
    int a0 = first >= 0 ? first : lower_expr(L, b[0]);
    if (a0 < 0 || shape_is_poison(&g->nodes[a0].shape)) return -1;
    switch (fn->kind) {
    case FN_FLATTEN: return fn_flatten(L, fn, b, a0, loc);
    case FN_RESHAPE: return fn_reshape(L, fn, b, a0, loc);
    case FN_CAST: return fn_cast(L, fn, b, a0, loc);
    case FN_SUBTRACT: return fn_subtract(L, fn, b, a0, loc);
    case FN_WHERE: {
        int a1 = lower_expr(L, b[1]), a2 = lower_expr(L, b[2]);
        if (a1 < 0 || a2 < 0) return -1;
        return ir_add3(g, OP_WHERE, a0, a1, a2, loc);
    }
    case FN_UNARY: return ir_add1(g, (Op)unary_function(fn->name), a0, loc);
    case FN_SOFTMAX: return fn_softmax(L, fn, b, a0, loc);
    case FN_BCE: case FN_CCE: case FN_SPARSE_CCE: case FN_MSE: case FN_MAE: case FN_ACCURACY: return fn_loss(L, fn, b, a0, loc);
    case FN_STOP_GRADIENT: return ir_add1(g, OP_STOP_GRADIENT, a0, loc);
    case FN_POW: {
        int p = lower_expr(L, b[1]);
        if (p < 0) return -1;
        return ir_add2(g, OP_POW, a0, p, loc);
    }
    case FN_SUM:
    case FN_MEAN: {
        int axis;
        if (!axis_arg(b[1], what, &axis)) return -1;
        return reduce(L, OP_REDUCE_SUM, a0, axis, fn->kind == FN_MEAN, b[1]->loc, loc);
    }
    case FN_ONE_HOT: return fn_one_hot(L, fn, b, a0, loc);
    case FN_GLOBAL_AVG1D:
    case FN_GLOBAL_AVG2D:
    case FN_GLOBAL_MAX1D:
    case FN_GLOBAL_MAX2D: return fn_global_pool(L, fn, b, a0, loc);
    case FN_MAXPOOL2D:
    case FN_AVGPOOL2D: return fn_pool(L, fn, b, a0, loc);
    case FN_DROPOUT: return fn_dropout(L, fn, b, a0, loc);
    case FN_L2: return ir_add1(g, OP_L2, a0, loc);
    case FN_L1: return ir_add1(g, OP_L1, a0, loc);
    default: unreachable();
    }
}
