/* layers.c — the layer table: every layer kind of the language, one row.
 *
 * A row gives the constructor's name and Keras class, its arguments (each
 * read by a generic reader into a field of Layer, so a new layer reuses
 * units=, activation=, use_bias=, l2= ...), an optional check after the
 * arguments, how the layer applies to a value (its weights are made by its
 * first application, since their shape depends on the input), and its
 * weights by the names Keras gives them (`enc.kernel`).
 *
 * Adding a layer: a row of layer_table[] and its apply function here, plus
 * its tests and docs. Nothing else in the compiler names a layer kind.
 */
#include <string.h>

#include "lower.h"

/* How an argument is read, and into which field of Layer. */
typedef enum ArgKind {
    ARG_INT,      /* a positive integer: int */
    ARG_PAIR,     /* a positive integer or [h, w]: int[2] */
    ARG_BOOL,     /* true / false: int */
    ARG_ACT,      /* an activation: Op */
    ARG_PADDING,  /* valid / same: int (1 = same) */
    ARG_POSITIVE, /* a number > 0: double */
    ARG_FRACTION, /* a number >= 0 and < 1: double */
    ARG_EXPR,     /* the expression itself, read later: Expr * */
    ARG_L2,       /* a penalty strength: Expr * in l2, its place in l2_loc */
    ARG_L1,
} ArgKind;

typedef struct LayerArg {
    const char *name;
    int required;
    ArgKind kind;
    size_t field;           /* offsetof(Layer, ...) */
} LayerArg;

typedef struct LayerWeight {
    const char *name;       /* kernel, bias, embeddings, gamma, ... */
    size_t field;           /* offsetof(Layer, ...): the PARAM id, -1 if absent */
} LayerWeight;

typedef struct LayerSpec {
    const char *name;       /* the constructor: dense(...) */
    const char *keras_type; /* Dense: --emit summary */
    int recurrent;          /* bidirectional can wrap it */
    LayerArg args[MAX_ARGS];
    /* after the arguments: checks and settings that need several; 0 after reporting */
    int (*finish)(Lower *L, Layer *ly);
    /* the layer applied to x (a float or int value, not poisoned); -1 after reporting */
    int (*apply)(Lower *L, Layer *ly, int x, Loc loc, const char *what);
    LayerWeight weights[5];
} LayerSpec;

#define F(field) offsetof(Layer, field)

extern const LayerSpec layer_table[]; /* below, after the functions its rows name */

/* ---- shared by the apply functions ------------------------------------------------- */

static Node *value(Lower *L, int v) { return &L->g->nodes[v]; }

static int activation(Lower *L, Op act, int x, Loc loc) {
    if (act == OP_COPY) return x; /* linear */
    return ir_add1(L->g, act, x, loc);
}

/* The first application records the input's width; a later one must match. */
static void first_application(Layer *ly, int width, Loc loc) {
    ly->applied = 1;
    ly->in_width = width;
    ly->first_apply = loc;
}

static void first_applied_here(Layer *ly) { note_at(ly->first_apply, "'%s' first applied here", ly->name); }

/* y = act(x W + b): the kernel and the optional bias, as dense and the convolutions make them */
static int kernel_and_bias(Lower *L, Layer *ly, int rank, const int *kdims, int fan_in, int fan_out) {
    Init glorot = {.kind = INIT_GLOROT_UNIFORM, .fan_in = fan_in, .fan_out = fan_out};
    ly->kernel = new_param(L, xsprintf("%s.kernel", ly->name), rank, kdims, glorot, ly->loc);
    if (ly->use_bias) {
        Init zeros = {.kind = INIT_ZEROS};
        ly->bias = new_param(L, xsprintf("%s.bias", ly->name), 1, &ly->units, zeros, ly->loc);
    }
    return 1;
}

static int biased(Lower *L, Layer *ly, int y, Loc loc) {
    if (ly->bias >= 0) y = ir_add2(L->g, OP_ADD, y, ly->bias, loc);
    return activation(L, ly->act, y, loc);
}

/* ---- dense ---------------------------------------------------------------------------- */

static int apply_dense(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    Node *xn = value(L, x);
    if (xn->dtype != DT_FLOAT) {
        error_at(loc, "%s needs float values, but %s is int; convert it with cast(x, float)", what, node_desc(xn));
        return -1;
    }
    if (xn->shape.rank < 1) {
        error_at(loc, "%s needs values with at least one axis, but %s has none", what, node_desc(xn));
        return -1;
    }
    int width = xn->shape.dims[xn->shape.rank - 1];
    if (!ly->applied) {
        int kdims[2] = {width, ly->units};
        kernel_and_bias(L, ly, 2, kdims, width, ly->units);
        first_application(ly, width, loc);
    } else if (width != ly->in_width) {
        error_at(loc,
                 "layer '%s' (dense, kernel [%d, %d]) applied to an input of width %d; "
                 "it was first applied to width %d",
                 ly->name, ly->in_width, ly->units, width, ly->in_width);
        note_at(ly->first_apply, "'%s' first applied here, to width %d", ly->name, ly->in_width);
        return -1;
    }
    return biased(L, ly, ir_add2(L->g, OP_MATMUL, x, ly->kernel, loc), loc);
}

/* ---- embedding -------------------------------------------------------------------------- */

static int apply_embedding(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    if (value(L, x)->dtype != DT_INT) {
        error_at(loc, "%s needs int ids, but %s is float", what, node_desc(value(L, x)));
        return -1;
    }
    if (!ly->applied) {
        int dims[2] = {ly->vocab, ly->dim};
        Init init = {.kind = INIT_UNIFORM, .a = -0.05, .b = 0.05};
        ly->kernel = new_param(L, xsprintf("%s.embeddings", ly->name), 2, dims, init, ly->loc);
    }
    if (!bound_ids(L, x, ly->vocab, what, loc)) return -1;
    ly->applied = 1;
    return ir_add2(L->g, OP_EMBEDDING, x, ly->kernel, loc);
}

/* ---- conv2d: the image's patches times the kernel seen as [kh kw C, filters] -------------- */

static int apply_conv2d(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    Graph *g = L->g;
    Node *xn = value(L, x);
    if (xn->dtype != DT_FLOAT || xn->shape.rank != 3 || !xn->shape.batched) {
        error_at(loc, "%s needs per-sample float images [height, width, channels], but %s is given", what, node_desc(xn));
        return -1;
    }
    int channels = xn->shape.dims[2];
    if (!ly->applied) {
        int kdims[4] = {ly->k[0], ly->k[1], channels, ly->units};
        int area = ly->k[0] * ly->k[1];
        kernel_and_bias(L, ly, 4, kdims, area * channels, area * ly->units);
        first_application(ly, channels, loc);
    } else if (channels != ly->in_width) {
        error_at(loc, "layer '%s' (conv2d, kernel [%d, %d, %d, %d]) applied to an image of %d channels; "
                      "it was first applied to %d",
                 ly->name, ly->k[0], ly->k[1], ly->in_width, ly->units, channels, ly->in_width);
        first_applied_here(ly);
        return -1;
    }
    int cols = windowed(L, OP_IM2COL, x, ly->k, ly->s, ly->same, what, loc);
    if (cols < 0) return -1;
    int flat[2] = {ly->k[0] * ly->k[1] * channels, ly->units};
    int w = reshaped(L, ly->kernel, shape_make(0, 2, flat), loc);
    return biased(L, ly, ir_add2(g, OP_MATMUL, cols, w, loc), loc);
}

/* ---- conv1d: conv2d's ops on a one-row image. [T, C] -> [1, T, C], the
 * patches of a 1 x k window with strides 1 x s ([1, T', k C], viewed as
 * [T', k C]) times the kernel [k, C, filters] seen as [k C, filters]. ---------------------- */

static int apply_conv1d(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    Graph *g = L->g;
    Node *xn = value(L, x);
    if (xn->dtype != DT_FLOAT || xn->shape.rank != 2 || !xn->shape.batched) {
        error_at(loc, "%s needs per-sample float sequences [steps, channels], but %s is given", what, node_desc(xn));
        return -1;
    }
    int steps = xn->shape.dims[0], channels = xn->shape.dims[1], k = ly->k[1];
    if (!ly->applied) {
        int kdims[3] = {k, channels, ly->units};
        kernel_and_bias(L, ly, 3, kdims, k * channels, k * ly->units);
        first_application(ly, channels, loc);
    } else if (channels != ly->in_width) {
        error_at(loc, "layer '%s' (conv1d, kernel [%d, %d, %d]) applied to sequences of %d channels; "
                      "it was first applied to %d",
                 ly->name, k, ly->in_width, ly->units, channels, ly->in_width);
        first_applied_here(ly);
        return -1;
    }
    if (!ly->same && steps < k) {
        error_at(loc, "%s: the kernel of %d steps does not fit in %s with padding=valid", what, k, node_desc(xn));
        return -1;
    }
    int row[3] = {1, steps, channels};
    int image = reshaped(L, x, shape_make(1, 3, row), loc);
    int cols = windowed(L, OP_IM2COL, image, ly->k, ly->s, ly->same, what, loc);
    if (cols < 0) return -1;
    int patches[2] = {value(L, cols)->shape.dims[1], k * channels}, flat[2] = {k * channels, ly->units};
    cols = reshaped(L, cols, shape_make(1, 2, patches), loc);
    int w = reshaped(L, ly->kernel, shape_make(0, 2, flat), loc);
    return biased(L, ly, ir_add2(g, OP_MATMUL, cols, w, loc), loc);
}

/* ---- lstm and gru ------------------------------------------------------------------------
 * lstm(x [steps, features]) = rnn_h(lstm_scan(x W + b, U)), gates in Keras's
 * order i, f, c, o; gru(x) = rnn_h(gru_scan(x W, U, bias)), Keras's
 * reset_after form, gates z, r, h, bias [2, 3u] (input row, recurrent row).
 * Keras's initialisers: kernel glorot_uniform, recurrent kernel orthogonal,
 * bias zeros (an LSTM's forget gate 1). */
static int apply_recurrent(Lower *L, Layer *ly, int x, Loc loc, const char *what, int lstm) {
    Graph *g = L->g;
    Node *xn = value(L, x);
    if (xn->dtype != DT_FLOAT || xn->shape.rank != 2 || !xn->shape.batched) {
        error_at(loc, "%s needs per-sample float sequences [steps, features], but %s is given", what, node_desc(xn));
        return -1;
    }
    int features = xn->shape.dims[1], u = ly->units, gates = (lstm ? 4 : 3) * u;
    if (!ly->applied) {
        int kdims[2] = {features, gates}, rdims[2] = {u, gates}, bdims[2] = {2, gates};
        Init glorot = {.kind = INIT_GLOROT_UNIFORM, .fan_in = features, .fan_out = gates};
        Init orthogonal = {.kind = INIT_ORTHOGONAL, .fan_in = u, .fan_out = gates};
        Init bias_init = {.kind = lstm ? INIT_FORGET_BIAS : INIT_ZEROS, .fan_in = u};
        ly->kernel = new_param(L, xsprintf("%s.kernel", ly->name), 2, kdims, glorot, ly->loc);
        ly->recurrent = new_param(L, xsprintf("%s.recurrent_kernel", ly->name), 2, rdims, orthogonal, ly->loc);
        ly->bias = lstm ? new_param(L, xsprintf("%s.bias", ly->name), 1, &gates, bias_init, ly->loc)
                        : new_param(L, xsprintf("%s.bias", ly->name), 2, bdims, bias_init, ly->loc);
        first_application(ly, features, loc);
    } else if (features != ly->in_width) {
        error_at(loc, "layer '%s' (%s, kernel [%d, %d]) applied to sequences of %d features; it was first applied to %d",
                 ly->name, layer_kind_name(ly->kind), ly->in_width, gates, features, ly->in_width);
        first_applied_here(ly);
        return -1;
    }
    int states;
    if (lstm) {
        int zx = ir_add2(g, OP_ADD, ir_add2(g, OP_MATMUL, x, ly->kernel, loc), ly->bias, loc);
        int scan_in[2] = {zx, ly->recurrent};
        states = ir_begin(g, OP_LSTM_SCAN, scan_in, 2, loc);
    } else {
        int scan_in[3] = {ir_add2(g, OP_MATMUL, x, ly->kernel, loc), ly->recurrent, ly->bias};
        states = ir_begin(g, OP_GRU_SCAN, scan_in, 3, loc);
    }
    g->nodes[states].len = u;
    g->nodes[states].start = ly->backwards;
    ir_finish(g, states);
    int h = ir_begin(g, OP_RNN_H, &states, 1, loc);
    g->nodes[h].len = u;
    g->nodes[h].start = ly->backwards;
    g->nodes[h].axis = ly->sequences;
    ir_finish(g, h);
    return h;
}

static int apply_lstm(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    return apply_recurrent(L, ly, x, loc, what, 1);
}

static int apply_gru(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    return apply_recurrent(L, ly, x, loc, what, 0);
}

/* ---- bidirectional: Keras's layout, one layer per direction, the backward
 * one reading the sequence from its end; their weights are NAME.forward.*
 * and NAME.backward.* ------------------------------------------------------------------------ */

static int finish_bidirectional(Lower *L, Layer *ly) {
    Expr *in = ly->wrapped;
    int kind = in->kind == EX_CALL ? layer_kind(in->name) : -1;
    if (kind < 0 || !layer_table[kind].recurrent) {
        error_at(in->loc, "bidirectional wraps a recurrent layer: bidirectional(lstm(units, ...)) or gru(...)");
        return 0;
    }
    static const char *const merges[] = {"concat", "sum", "mul", "ave"};
    ly->merge = MERGE_CONCAT;
    if (ly->merge_arg) {
        int found = -1;
        for (int i = 0; i < 4 && ly->merge_arg->kind == EX_NAME; i++)
            if (!strcmp(ly->merge_arg->name, merges[i])) found = i;
        if (found < 0) {
            error_at(ly->merge_arg->loc, "bidirectional: merge must be concat, sum, mul or ave");
            return 0;
        }
        ly->merge = found;
    }
    for (int d = 0; d < 2; d++) {
        Layer *r = make_layer(L, in, xsprintf("%s.%s", ly->name, d ? "backward" : "forward"));
        if (!r) return 0;
        r->named = 0;
        r->backwards = d == 1 ? !r->backwards : r->backwards;
        ly->inner[d] = r;
    }
    return 1;
}

static int apply_bidirectional(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    Graph *g = L->g;
    (void)what;
    int f = apply_layer(L, ly->inner[0], x, loc), b = apply_layer(L, ly->inner[1], x, loc);
    if (f < 0 || b < 0) return -1;
    ly->applied = ly->inner[0]->applied;
    /* Keras reverses the backward layer's sequence back to time order */
    if (ly->inner[1]->sequences) b = ir_add1(g, OP_REVERSE, b, loc);
    switch (ly->merge) {
    case MERGE_CONCAT: {
        int pair[2] = {f, b};
        int v = ir_begin(g, OP_CONCAT, pair, 2, loc);
        g->nodes[v].axis = g->nodes[f].shape.rank - 1;
        ir_finish(g, v);
        return v;
    }
    case MERGE_SUM: return ir_add2(g, OP_ADD, f, b, loc);
    case MERGE_MUL: return ir_add2(g, OP_MUL, f, b, loc);
    default: return ir_add2(g, OP_MUL, ir_add2(g, OP_ADD, f, b, loc), ir_const(g, 0.5, loc), loc);
    }
}

/* ---- layernorm and batchnorm: xhat * gamma + beta over the last axis (the
 * features, or the channels of an image). gamma ones, beta zeros; batchnorm's
 * moving mean (zeros) and variance (ones) are weights that training updates
 * and predict uses, saved with the others, not trainable. ------------------------------------ */

static int apply_norm(Lower *L, Layer *ly, int x, Loc loc, const char *what, int batch) {
    Graph *g = L->g;
    Node *xn = value(L, x);
    if (xn->dtype != DT_FLOAT || xn->shape.rank < 1) {
        error_at(loc, "%s needs float values with at least one axis, but %s is given", what, node_desc(xn));
        return -1;
    }
    if (batch && !xn->shape.batched) {
        error_at(loc, "%s normalises over the batch: %s has no batch axis", what, node_desc(xn));
        return -1;
    }
    int C = xn->shape.dims[xn->shape.rank - 1];
    if (!ly->applied) {
        Init ones = {.kind = INIT_ONES}, zeros = {.kind = INIT_ZEROS};
        ly->kernel = new_param(L, xsprintf("%s.gamma", ly->name), 1, &C, ones, ly->loc);
        ly->bias = new_param(L, xsprintf("%s.beta", ly->name), 1, &C, zeros, ly->loc);
        if (batch) {
            ly->moving_mean = new_param(L, xsprintf("%s.moving_mean", ly->name), 1, &C, zeros, ly->loc);
            ly->moving_var = new_param(L, xsprintf("%s.moving_variance", ly->name), 1, &C, ones, ly->loc);
            g->nodes[ly->moving_mean].trainable = 0;
            g->nodes[ly->moving_var].trainable = 0;
        }
        first_application(ly, C, loc);
    } else if (C != ly->in_width) {
        error_at(loc, "layer '%s' (%s over %d features) applied to values with %d", ly->name, layer_kind_name(ly->kind),
                 ly->in_width, C);
        first_applied_here(ly);
        return -1;
    }
    int xhat;
    if (!batch) {
        xhat = ir_add1(g, OP_LAYERNORM, x, loc);
    } else {
        xhat = ir_add3(g, OP_BATCHNORM, x, ly->moving_mean, ly->moving_var, loc);
        g->nodes[xhat].momentum = ly->momentum;
    }
    g->nodes[xhat].value = ly->epsilon;
    return ir_add2(g, OP_ADD, ir_add2(g, OP_MUL, xhat, ly->kernel, loc), ly->bias, loc);
}

static int apply_layernorm(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    return apply_norm(L, ly, x, loc, what, 0);
}

static int apply_batchnorm(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    return apply_norm(L, ly, x, loc, what, 1);
}

/* ---- the table ---------------------------------------------------------------------------- */

#define PENALTIES {"l2", 0, ARG_L2, F(l2)}, {"l1", 0, ARG_L1, F(l1)}

const LayerSpec layer_table[] = {
    {"dense", "Dense", 0,
     {{"units", 1, ARG_INT, F(units)}, {"activation", 0, ARG_ACT, F(act)}, {"use_bias", 0, ARG_BOOL, F(use_bias)},
      PENALTIES},
     NULL, apply_dense, {{"kernel", F(kernel)}, {"bias", F(bias)}}},
    {"embedding", "Embedding", 0,
     {{"vocab", 1, ARG_INT, F(vocab)}, {"dim", 1, ARG_INT, F(dim)}},
     NULL, apply_embedding, {{"embeddings", F(kernel)}}},
    {"conv2d", "Conv2D", 0,
     {{"filters", 1, ARG_INT, F(units)}, {"kernel", 1, ARG_PAIR, F(k)}, {"strides", 0, ARG_PAIR, F(s)},
      {"padding", 0, ARG_PADDING, F(same)}, {"activation", 0, ARG_ACT, F(act)}, {"use_bias", 0, ARG_BOOL, F(use_bias)},
      PENALTIES},
     NULL, apply_conv2d, {{"kernel", F(kernel)}, {"bias", F(bias)}}},
    {"conv1d", "Conv1D", 0,
     {{"filters", 1, ARG_INT, F(units)}, {"kernel", 1, ARG_INT, F(k[1])}, {"strides", 0, ARG_INT, F(s[1])},
      {"padding", 0, ARG_PADDING, F(same)}, {"activation", 0, ARG_ACT, F(act)}, {"use_bias", 0, ARG_BOOL, F(use_bias)},
      PENALTIES},
     NULL, apply_conv1d, {{"kernel", F(kernel)}, {"bias", F(bias)}}},
    {"lstm", "LSTM", 1,
     {{"units", 1, ARG_INT, F(units)}, {"return_sequences", 0, ARG_BOOL, F(sequences)},
      {"go_backwards", 0, ARG_BOOL, F(backwards)}, PENALTIES},
     NULL, apply_lstm, {{"kernel", F(kernel)}, {"recurrent_kernel", F(recurrent)}, {"bias", F(bias)}}},
    {"bidirectional", "Bidirectional", 0,
     {{"layer", 1, ARG_EXPR, F(wrapped)}, {"merge", 0, ARG_EXPR, F(merge_arg)}},
     finish_bidirectional, apply_bidirectional, {{0, 0}}},
    {"layernorm", "LayerNormalization", 0,
     {{"epsilon", 0, ARG_POSITIVE, F(epsilon)}},
     NULL, apply_layernorm, {{"gamma", F(kernel)}, {"beta", F(bias)}}},
    {"batchnorm", "BatchNormalization", 0,
     {{"epsilon", 0, ARG_POSITIVE, F(epsilon)}, {"momentum", 0, ARG_FRACTION, F(momentum)}},
     NULL, apply_batchnorm,
     {{"gamma", F(kernel)}, {"beta", F(bias)}, {"moving_mean", F(moving_mean)}, {"moving_variance", F(moving_var)}}},
    {"gru", "GRU", 1,
     {{"units", 1, ARG_INT, F(units)}, {"return_sequences", 0, ARG_BOOL, F(sequences)},
      {"go_backwards", 0, ARG_BOOL, F(backwards)}, PENALTIES},
     NULL, apply_gru, {{"kernel", F(kernel)}, {"recurrent_kernel", F(recurrent)}, {"bias", F(bias)}}},
};
#define NKINDS ((int)(sizeof layer_table / sizeof layer_table[0]))

const int nlayer_kinds = NKINDS;
const char *layer_kind_name(int kind) { return layer_table[kind].name; }

int layer_kind(const char *name) {
    for (int k = 0; k < NKINDS; k++)
        if (!strcmp(name, layer_table[k].name)) return k;
    return -1;
}

const char *layer_keras_type(const char *name) {
    int k = layer_kind(name);
    return k < 0 ? NULL : layer_table[k].keras_type;
}

/* ---- making and applying a layer -------------------------------------------------------------- */

/* One argument into its field; 0 after reporting. */
static int read_arg(Layer *ly, const LayerArg *a, Expr *e, Loc loc, const char *what) {
    void *field = (char *)ly + a->field;
    double v;
    switch (a->kind) {
    case ARG_INT: return int_arg(e, what, a->name, field);
    case ARG_PAIR: return pair_arg(e, what, a->name, field);
    case ARG_BOOL: return bool_arg(e, what, a->name, field);
    case ARG_ACT: return act_arg(e, what, field);
    case ARG_PADDING: return padding_arg(e, what, field);
    case ARG_POSITIVE:
    case ARG_FRACTION:
        if (!number_arg(e, what, a->name, &v)) return 1; /* reported; the value stays the default */
        *(double *)field = v;
        if (a->kind == ARG_POSITIVE && !(v > 0)) {
            error_at(e->loc, "%s: '%s' must be > 0", what, a->name);
            return 0;
        }
        if (a->kind == ARG_FRACTION && !(v >= 0 && v < 1)) {
            error_at(e->loc, "%s: '%s' must be >= 0 and < 1", what, a->name);
            return 0;
        }
        return 1;
    case ARG_EXPR: *(Expr **)field = e; return 1;
    case ARG_L2: ly->l2 = e, ly->l2_loc = loc; return 1;
    case ARG_L1: ly->l1 = e, ly->l1_loc = loc; return 1;
    }
    unreachable();
}

Layer *make_layer(Lower *L, const Expr *call, const char *name) {
    int kind = layer_kind(call->name);
    if (kind < 0) unreachable();
    const LayerSpec *spec = &layer_table[kind];
    Layer *ly = xalloc(sizeof *ly);
    ly->kind = kind;
    ly->loc = call->loc;
    ly->kernel = ly->bias = ly->recurrent = ly->moving_mean = ly->moving_var = -1;
    /* the defaults (Keras's) of every argument not given */
    ly->use_bias = 1;
    ly->act = OP_COPY;
    ly->k[0] = ly->k[1] = ly->s[0] = ly->s[1] = 1;
    ly->epsilon = 1e-3;
    ly->momentum = 0.99;
    if (name) {
        ly->name = name;
        ly->named = 1;
    } else {
        /* Keras-style names (dense, dense_1, ...), skipping any name the
         * file gives to something else, so that weight names stay unique. */
        do {
            int k = L->counter[kind]++;
            ly->name = k ? xsprintf("%s_%d", spec->name, k) : spec->name;
        } while (later_definition(L, ly->name));
    }
    ArgSpec names[MAX_ARGS];
    int nargs = 0;
    while (nargs < MAX_ARGS && spec->args[nargs].name) {
        names[nargs] = (ArgSpec){spec->args[nargs].name, spec->args[nargs].required};
        nargs++;
    }
    Expr *b[MAX_ARGS];
    Loc bl[MAX_ARGS];
    if (!bind_args(spec->name, call->loc, names, nargs, call->args, b, bl, 0)) return NULL;
    int ok = 1;
    for (int i = 0; i < nargs; i++)
        if (b[i]) ok &= read_arg(ly, &spec->args[i], b[i], bl[i], spec->name);
    if (ok && spec->finish) ok = spec->finish(L, ly);
    return ok ? ly : NULL;
}

int apply_layer(Lower *L, Layer *ly, int x, Loc loc) {
    ly->attempted = 1;
    if (x < 0 || shape_is_poison(&value(L, x)->shape)) return -1;
    const char *kind = layer_table[ly->kind].name;
    const char *what = ly->named ? xsprintf("layer '%s' (%s)", ly->name, kind) : kind;
    return layer_table[ly->kind].apply(L, ly, x, loc, what);
}

int layer_weight(Lower *L, Layer *ly, const char *field, Loc field_loc, Loc loc) {
    (void)L;
    const LayerSpec *spec = &layer_table[ly->kind];
    const LayerWeight *found = NULL;
    Buf fields = {0};
    for (const LayerWeight *w = spec->weights; w < spec->weights + 5 && w->name; w++) {
        buf_printf(&fields, "%s%s", fields.len ? ", " : "", w->name);
        if (!strcmp(w->name, field)) found = w;
    }
    if (!found) {
        if (!fields.len)
            error_at(field_loc, "layer '%s' (%s) has no weights of its own to name", ly->name, spec->name);
        else
            error_at(field_loc, "layer '%s' (%s) has no weight '%s'; it has %s", ly->name, spec->name, field, fields.data);
        return -1;
    }
    if (!ly->applied) {
        error_at(loc, "'%s.%s' has no shape yet: layer '%s' must be applied before its weights are used", ly->name,
                 field, ly->name);
        return -1;
    }
    int w = *(const int *)((const char *)ly + found->field);
    if (w < 0) {
        error_at(loc, "layer '%s' has no %s (use_bias=false)", ly->name, field);
        return -1;
    }
    return w;
}
