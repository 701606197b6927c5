/* lower.c — from the AST to the graph IR.
 *
 * Resolves names, expands layers into IR ops (a dense layer becomes
 * matmul + add + activation over two PARAM nodes), creates the weights of a
 * layer at its first application (their shape depends on the input), and
 * checks what only the language knows: argument lists, layer sharing,
 * merges of equal shapes, the loss, the train block. Shape rules of the IR
 * ops run as nodes are added (shape.c). Errors poison the value (-1) so that
 * one mistake gives one message; lowering goes on to report the rest.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "ir.h"
#include "mn_runtime.h" /* mn_target_kind, shared with the generated code's descriptors */

/* ---- layers and symbols -------------------------------------------------------- */

typedef enum LayerKind {
    LK_DENSE, LK_EMBEDDING, LK_CONV2D, LK_LSTM, LK_BIDIRECTIONAL, LK_LAYERNORM, LK_BATCHNORM, LK_GRU, LK_COUNT
} LayerKind;

typedef struct Layer {
    LayerKind kind;
    const char *name;       /* "shared", or "dense_1" for an anonymous layer */
    int named;              /* declared with `layer NAME = ...` */
    Loc loc;                /* the constructor call */
    int units, vocab, dim;
    int k[2], s[2], same;   /* conv2d: kernel, strides, padding=same; units = filters */
    Op act;                 /* OP_COPY (linear), OP_SOFTMAX or a unary.def activation */
    int use_bias;
    Expr *l2, *l1;          /* penalty strengths (a number or a param), or NULL */
    Loc l2_loc, l1_loc;
    int attempted;          /* some statement applies it (even if that failed) */
    /* set by the first application */
    int applied;
    Loc first_apply;
    int in_width;
    int kernel, bias;       /* PARAM ids (embedding: kernel = the table) */
    int recurrent;          /* lstm: the recurrent kernel */
    int sequences, backwards; /* lstm: return_sequences, go_backwards */
    struct Layer *inner[2]; /* bidirectional: the forward and the backward layer */
    int merge;              /* bidirectional: MERGE_* */
    double epsilon, momentum; /* layernorm, batchnorm */
    int moving_mean, moving_var; /* batchnorm: its moving statistics (PARAMs, not trainable) */
} Layer;

typedef enum SymKind { SYM_INPUT, SYM_TARGET, SYM_PARAM, SYM_LAYER, SYM_VALUE } SymKind;

typedef struct Sym {
    const char *name;
    SymKind kind;
    int value;              /* node id, -1 when its definition failed */
    Layer *layer;
    Loc loc;                /* the defined name */
    struct Sym *next;       /* all symbols, newest first (for "did you mean") */
} Sym;

typedef struct Lower {
    Graph *g;
    Sym *syms;
    StrMap sym_index;       /* name -> its index in symv: an O(1) lookup however long the file */
    Sym **symv;
    int nsyms;
    const Program *prog;
    const Stmt *cur;        /* the statement being lowered */
    Layer **layers;
    int nlayers;
    int counter[LK_COUNT];  /* anonymous layers per kind, for Keras-style names */
    Loc loss_loc;
} Lower;

static const char *layer_kind_name[] = {"dense",         "embedding", "conv2d",   "lstm",
                                        "bidirectional", "layernorm", "batchnorm", "gru"};

enum { MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE };

static Sym *find_sym(Lower *L, const char *name) {
    const int *i = strmap_get(&L->sym_index, name);
    return i ? L->symv[*i] : NULL;
}

static void add_sym(Lower *L, Sym *s) {
    L->symv = xgrow(L->symv, L->nsyms, sizeof *L->symv);
    L->symv[L->nsyms] = s;
    strmap_put(&L->sym_index, s->name, L->nsyms++);
    s->next = L->syms;
    L->syms = s;
}

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

/* ", did you mean 'x'?" or "" — the closest of `names` within distance 2. */
static const char *suggest(const char *word, const char *const *names, int n) {
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

/* Names that become C identifiers in the generated code (the model, its
 * inputs, targets and outputs) must not be C keywords. */
static int check_c_name(const char *name, Loc loc, const char *what) {
    if (!is_c_keyword(name)) return 1;
    error_at(loc, "'%s' cannot name %s: it is a C keyword, and the generated code uses the name as is", name, what);
    return 0;
}

static Sym *define(Lower *L, const char *name, Loc loc, SymKind kind, int value) {
    Sym *old = find_sym(L, name);
    if (old) {
        error_at(loc, "redefinition of '%s'", name);
        note_at(old->loc, "'%s' first defined here", name);
        return NULL;
    }
    Sym *s = xalloc(sizeof *s);
    *s = (Sym){.name = name, .kind = kind, .value = value, .loc = loc};
    add_sym(L, s);
    return s;
}

/* The statement that defines `name` anywhere in the file, for the message
 * about a name used before its definition. */
static const Stmt *later_definition(Lower *L, const char *name) {
    for (const Stmt *s = L->prog->stmts; s; s = s->next)
        if (s->name && (s->kind == ST_INPUT || s->kind == ST_TARGET || s->kind == ST_PARAM ||
                        s->kind == ST_LAYER || s->kind == ST_ASSIGN) &&
            !strcmp(s->name, name))
            return s;
    return NULL;
}

static void undefined_name(Lower *L, const char *name, Loc loc) {
    const Stmt *later = later_definition(L, name);
    if (later) {
        error_at(loc, "'%s' is used before its definition", name);
        note_at(later->name_loc, "'%s' is defined here", name);
        return;
    }
    const char *names[256];
    int n = 0;
    for (Sym *s = L->syms; s && n < 256; s = s->next) names[n++] = s->name;
    error_at(loc, "undefined name '%s'%s", name, suggest(name, names, n));
}

/* ---- argument binding ------------------------------------------------------------ */

typedef struct ArgSpec {
    const char *name;
    int required;
} ArgSpec;

#define MAX_ARGS 8

/* Binds a call's arguments to the parameter list `spec` (positional in
 * order, then by name). `pre` is a value already bound to the first
 * parameter (the left side of `->`). Reports unknown, duplicate, missing
 * and surplus arguments against `what` (the callee's name). */
static int bind_args(const char *what, Loc call_loc, const ArgSpec *spec, int nspec, const Arg *args,
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
static int int_arg(Expr *e, const char *what, const char *arg, int *out) {
    if (e->kind == EX_NUMBER && e->is_integer && !e->is_bool && e->number >= 1 && e->number <= 1e9) {
        *out = (int)e->number;
        return 1;
    }
    error_at(e->loc, "%s: '%s' must be a positive integer", what, arg);
    return 0;
}

static int number_arg(Expr *e, const char *what, const char *arg, double *out) {
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

static int bool_arg(Expr *e, const char *what, const char *arg, int *out) {
    if (e->kind == EX_NUMBER && e->is_bool) {
        *out = e->number != 0;
        return 1;
    }
    error_at(e->loc, "%s: '%s' must be true or false", what, arg);
    return 0;
}

/* `activation=`: linear, the activations of unary.def (act = 1), softmax. */
static int act_arg(Expr *e, const char *what, Op *out) {
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

/* An integer literal, possibly negative (axes). */
static int axis_arg(Expr *e, const char *what, int *out) {
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

/* A window size or stride: `3` (both axes) or `[3, 2]`. */
static int pair_arg(Expr *e, const char *what, const char *arg, int out[2]) {
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

static int padding_arg(Expr *e, const char *what, int *same) {
    if (e->kind == EX_NAME && (!strcmp(e->name, "same") || !strcmp(e->name, "valid"))) {
        *same = !strcmp(e->name, "same");
        return 1;
    }
    error_at(e->loc, "%s: padding must be valid or same", what);
    return 0;
}

/* TensorFlow's window geometry over an image of h x w: the padding before
 * (top, left) and whether any output exists. valid: no padding; same:
 * ceil(size / stride) outputs, the padding split with the extra cell at the
 * bottom/right. */
static int window_geometry(int h, int w, const int k[2], const int s[2], int same, int pad[2]) {
    int size[2] = {h, w};
    for (int d = 0; d < 2; d++) {
        if (!same) {
            pad[d] = 0;
            if (size[d] < k[d]) return 0;
            continue;
        }
        int out = (size[d] + s[d] - 1) / s[d];
        int total = (out - 1) * s[d] + k[d] - size[d];
        pad[d] = total > 0 ? total / 2 : 0;
    }
    return 1;
}

/* A windowed op (im2col or a pool) over the image x. */
static int windowed(Lower *L, Op op, int x, const int k[2], const int s[2], int same, const char *what, Loc loc) {
    Graph *g = L->g;
    Node *xn = &g->nodes[x];
    if (xn->dtype != DT_FLOAT || xn->shape.rank != 3 || !xn->shape.batched) {
        error_at(loc, "%s needs per-sample float images [height, width, channels], but %s is given", what,
                 node_desc(&g->nodes[x]));
        return -1;
    }
    int pad[2];
    if (!window_geometry(xn->shape.dims[0], xn->shape.dims[1], k, s, same, pad)) {
        error_at(loc, "%s: the %dx%d window does not fit in %s with padding=valid", what, k[0], k[1], node_desc(&g->nodes[x]));
        return -1;
    }
    int v = ir_begin(g, op, &x, 1, loc);
    Node *n = &g->nodes[v];
    memcpy(n->k, k, sizeof n->k);
    memcpy(n->s, s, sizeof n->s);
    memcpy(n->pad, pad, sizeof n->pad);
    n->start = same;
    ir_finish(g, v);
    return v;
}

/* ---- layers ---------------------------------------------------------------------- */

/* `l2=` / `l1=` on a layer: strengths (a number or a param) of penalties on
 * its kernel, added to the loss once per layer (Keras's kernel_regularizer). */
static void penalty_args(Layer *ly, Expr *l2, Loc l2_loc, Expr *l1, Loc l1_loc) {
    ly->l2 = l2;
    ly->l1 = l1;
    if (l2) ly->l2_loc = l2_loc;
    if (l1) ly->l1_loc = l1_loc;
}

static Layer *make_layer(Lower *L, const Expr *call, const char *name) {
    LayerKind kind = LK_COUNT;
    for (int k = 0; k < LK_COUNT; k++)
        if (!strcmp(call->name, layer_kind_name[k])) kind = (LayerKind)k;
    if (kind == LK_COUNT) unreachable();
    Layer *ly = xalloc(sizeof *ly);
    ly->kind = kind;
    ly->loc = call->loc;
    ly->kernel = ly->bias = ly->recurrent = ly->moving_mean = ly->moving_var = -1;
    ly->use_bias = 1;
    ly->act = OP_COPY;
    if (name) {
        ly->name = name;
        ly->named = 1;
    } else {
        /* Keras-style names (dense, dense_1, ...), skipping any name the
         * file gives to something else, so that weight names stay unique. */
        do {
            int k = L->counter[kind]++;
            ly->name = k ? xsprintf("%s_%d", layer_kind_name[kind], k) : layer_kind_name[kind];
        } while (later_definition(L, ly->name));
    }
    const char *what = layer_kind_name[kind];
    Expr *b[MAX_ARGS];
    Loc bl[MAX_ARGS];
    int ok = 1;
    if (kind == LK_DENSE) {
        static const ArgSpec spec[] = {{"units", 1}, {"activation", 0}, {"use_bias", 0},
                                       {"l2", 0},    {"l1", 0}};
        if (!bind_args(what, call->loc, spec, 5, call->args, b, bl, 0)) return NULL;
        ok &= int_arg(b[0], what, "units", &ly->units);
        if (b[1]) ok &= act_arg(b[1], what, &ly->act);
        if (b[2]) ok &= bool_arg(b[2], what, "use_bias", &ly->use_bias);
        penalty_args(ly, b[3], bl[3], b[4], bl[4]);
    } else if (kind == LK_EMBEDDING) {
        static const ArgSpec spec[] = {{"vocab", 1}, {"dim", 1}};
        if (!bind_args(what, call->loc, spec, 2, call->args, b, bl, 0)) return NULL;
        ok &= int_arg(b[0], what, "vocab", &ly->vocab);
        ok &= int_arg(b[1], what, "dim", &ly->dim);
    } else if (kind == LK_LSTM || kind == LK_GRU) {
        static const ArgSpec spec[] = {{"units", 1}, {"return_sequences", 0}, {"go_backwards", 0}, {"l2", 0}, {"l1", 0}};
        if (!bind_args(what, call->loc, spec, 5, call->args, b, bl, 0)) return NULL;
        ok &= int_arg(b[0], what, "units", &ly->units);
        if (b[1]) ok &= bool_arg(b[1], what, "return_sequences", &ly->sequences);
        if (b[2]) ok &= bool_arg(b[2], what, "go_backwards", &ly->backwards);
        penalty_args(ly, b[3], bl[3], b[4], bl[4]);
    } else if (kind == LK_LAYERNORM || kind == LK_BATCHNORM) {
        static const ArgSpec spec[] = {{"epsilon", 0}, {"momentum", 0}};
        int nspec = kind == LK_BATCHNORM ? 2 : 1;
        ly->epsilon = 1e-3; /* Keras's defaults */
        ly->momentum = 0.99;
        if (!bind_args(what, call->loc, spec, nspec, call->args, b, bl, 0)) return NULL;
        if (b[0] && number_arg(b[0], what, "epsilon", &ly->epsilon) && !(ly->epsilon > 0)) {
            error_at(b[0]->loc, "%s: 'epsilon' must be > 0", what);
            ok = 0;
        }
        if (nspec == 2 && b[1] && number_arg(b[1], what, "momentum", &ly->momentum) &&
            !(ly->momentum >= 0 && ly->momentum < 1)) {
            error_at(b[1]->loc, "%s: 'momentum' must be >= 0 and < 1", what);
            ok = 0;
        }
    } else if (kind == LK_BIDIRECTIONAL) {
        static const ArgSpec spec[] = {{"layer", 1}, {"merge", 0}};
        if (!bind_args(what, call->loc, spec, 2, call->args, b, bl, 0)) return NULL;
        Expr *in = b[0];
        if (in->kind != EX_CALL || (strcmp(in->name, "lstm") && strcmp(in->name, "gru"))) {
            error_at(in->loc, "bidirectional wraps a recurrent layer: bidirectional(lstm(units, ...)) or gru(...)");
            return NULL;
        }
        static const char *const merges[] = {"concat", "sum", "mul", "ave"};
        ly->merge = MERGE_CONCAT;
        if (b[1]) {
            int found = -1;
            for (int i = 0; i < 4 && b[1]->kind == EX_NAME; i++)
                if (!strcmp(b[1]->name, merges[i])) found = i;
            if (found < 0) {
                error_at(b[1]->loc, "bidirectional: merge must be concat, sum, mul or ave");
                return NULL;
            }
            ly->merge = found;
        }
        /* Keras's layout: one layer per direction, the backward one reading the
         * sequence from its end. Their weights are NAME.forward.* and NAME.backward.*. */
        for (int d = 0; d < 2; d++) {
            Layer *r = make_layer(L, in, xsprintf("%s.%s", ly->name, d ? "backward" : "forward"));
            if (!r) return NULL;
            r->named = 0;
            r->backwards = d == 1 ? !r->backwards : r->backwards;
            ly->inner[d] = r;
        }
    } else {
        static const ArgSpec spec[] = {{"filters", 1}, {"kernel", 1},     {"strides", 0}, {"padding", 0},
                                       {"activation", 0}, {"use_bias", 0}, {"l2", 0},      {"l1", 0}};
        if (!bind_args(what, call->loc, spec, 8, call->args, b, bl, 0)) return NULL;
        penalty_args(ly, b[6], bl[6], b[7], bl[7]);
        ok &= int_arg(b[0], what, "filters", &ly->units);
        ok &= pair_arg(b[1], what, "kernel", ly->k);
        ly->s[0] = ly->s[1] = 1;
        if (b[2]) ok &= pair_arg(b[2], what, "strides", ly->s);
        if (b[3]) ok &= padding_arg(b[3], what, &ly->same);
        if (b[4]) ok &= act_arg(b[4], what, &ly->act);
        if (b[5]) ok &= bool_arg(b[5], what, "use_bias", &ly->use_bias);
    }
    if (!ok) return NULL;
    return ly;
}

static void remember_layer(Lower *L, Layer *ly) {
    L->layers = xgrow(L->layers, L->nlayers, sizeof *L->layers);
    L->layers[L->nlayers++] = ly;
}

static int new_param(Lower *L, const char *name, int rank, const int *dims, Init init, Loc loc) {
    Graph *g = L->g;
    int p = ir_source(g, OP_PARAM, shape_make(0, rank, dims), DT_FLOAT, name, loc);
    g->nodes[p].init = init;
    ir_push(&g->params, &g->nparams, p);
    return p;
}

/* The INPUT behind a value seen through views (flatten of an input). */
static int source_input(Graph *g, int v) {
    while (op_info[g->nodes[v].op].flags & OPF_VIEW) v = g->nodes[v].in[0];
    return g->nodes[v].op == OP_INPUT || g->nodes[v].op == OP_TARGET ? v : -1;
}

/* An op that reads int ids below `count` (an embedding's vocabulary, a
 * one_hot depth, classes): the input behind them learns its bound, and a
 * declared range must fit. */
static int bound_ids(Lower *L, int ids, int count, const char *what, Loc loc) {
    Graph *g = L->g;
    int src = source_input(g, ids);
    if (src < 0) return 1;
    Node *in = &g->nodes[src];
    if (in->has_range && in->hi >= count) {
        error_at(loc, "%s takes ids below %d, but '%s' is declared with ids up to %.0f", what, count, in->name, in->hi);
        note_at(in->loc, "'%s' declared here", in->name);
        return 0;
    }
    if (!in->int_bound || in->int_bound > count) in->int_bound = count;
    return 1;
}

static int activation(Lower *L, Op act, int x, Loc loc) {
    if (act == OP_COPY) return x; /* linear */
    return ir_add1(L->g, act, x, loc);
}

/* lstm(x [steps, features]) = rnn_h(lstm_scan(x W + b, U)), gates in
 * Keras's order i, f, c, o; gru(x) = rnn_h(gru_scan(x W, U, bias)), Keras's
 * reset_after form, gates z, r, h, bias [2, 3u] (input row, recurrent row).
 * Keras's initialisers: kernel glorot_uniform, recurrent kernel orthogonal,
 * bias zeros (an LSTM's forget gate 1). */
static int apply_recurrent(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    Graph *g = L->g;
    Node *xn = &g->nodes[x];
    if (xn->dtype != DT_FLOAT || xn->shape.rank != 2 || !xn->shape.batched) {
        error_at(loc, "%s needs per-sample float sequences [steps, features], but %s is given", what, node_desc(&g->nodes[x]));
        return -1;
    }
    int features = xn->shape.dims[1], u = ly->units, lstm = ly->kind == LK_LSTM, gates = (lstm ? 4 : 3) * u;
    if (!ly->applied) {
        int kdims[2] = {features, gates}, rdims[2] = {u, gates}, bdims[2] = {2, gates};
        Init glorot = {.kind = INIT_GLOROT_UNIFORM, .fan_in = features, .fan_out = gates};
        Init orthogonal = {.kind = INIT_ORTHOGONAL, .fan_in = u, .fan_out = gates};
        Init bias_init = {.kind = lstm ? INIT_FORGET_BIAS : INIT_ZEROS, .fan_in = u};
        ly->kernel = new_param(L, xsprintf("%s.kernel", ly->name), 2, kdims, glorot, ly->loc);
        ly->recurrent = new_param(L, xsprintf("%s.recurrent_kernel", ly->name), 2, rdims, orthogonal, ly->loc);
        ly->bias = lstm ? new_param(L, xsprintf("%s.bias", ly->name), 1, &gates, bias_init, ly->loc)
                        : new_param(L, xsprintf("%s.bias", ly->name), 2, bdims, bias_init, ly->loc);
        ly->applied = 1;
        ly->in_width = features;
        ly->first_apply = loc;
    } else if (features != ly->in_width) {
        error_at(loc, "layer '%s' (%s, kernel [%d, %d]) applied to sequences of %d features; it was first applied to %d",
                 ly->name, layer_kind_name[ly->kind], ly->in_width, gates, features, ly->in_width);
        note_at(ly->first_apply, "'%s' first applied here", ly->name);
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

/* layernorm / batchnorm: xhat * gamma + beta over the last axis (the
 * features, or the channels of an image). gamma ones, beta zeros; batchnorm's
 * moving mean (zeros) and variance (ones) are weights that training updates
 * and predict uses, saved with the others, not trainable. */
static int apply_norm(Lower *L, Layer *ly, int x, Loc loc, const char *what) {
    Graph *g = L->g;
    Node *xn = &g->nodes[x];
    if (xn->dtype != DT_FLOAT || xn->shape.rank < 1) {
        error_at(loc, "%s needs float values with at least one axis, but %s is given", what, node_desc(&g->nodes[x]));
        return -1;
    }
    if (ly->kind == LK_BATCHNORM && !xn->shape.batched) {
        error_at(loc, "%s normalises over the batch: %s has no batch axis", what, node_desc(&g->nodes[x]));
        return -1;
    }
    int C = xn->shape.dims[xn->shape.rank - 1];
    if (!ly->applied) {
        Init ones = {.kind = INIT_ONES}, zeros = {.kind = INIT_ZEROS};
        ly->kernel = new_param(L, xsprintf("%s.gamma", ly->name), 1, &C, ones, ly->loc);
        ly->bias = new_param(L, xsprintf("%s.beta", ly->name), 1, &C, zeros, ly->loc);
        if (ly->kind == LK_BATCHNORM) {
            ly->moving_mean = new_param(L, xsprintf("%s.moving_mean", ly->name), 1, &C, zeros, ly->loc);
            ly->moving_var = new_param(L, xsprintf("%s.moving_variance", ly->name), 1, &C, ones, ly->loc);
            g->nodes[ly->moving_mean].trainable = 0;
            g->nodes[ly->moving_var].trainable = 0;
        }
        ly->applied = 1;
        ly->in_width = C;
        ly->first_apply = loc;
    } else if (C != ly->in_width) {
        error_at(loc, "layer '%s' (%s over %d features) applied to values with %d", ly->name, layer_kind_name[ly->kind],
                 ly->in_width, C);
        note_at(ly->first_apply, "'%s' first applied here", ly->name);
        return -1;
    }
    int xhat;
    if (ly->kind == LK_LAYERNORM) {
        xhat = ir_add1(g, OP_LAYERNORM, x, loc);
    } else {
        xhat = ir_add3(g, OP_BATCHNORM, x, ly->moving_mean, ly->moving_var, loc);
        g->nodes[xhat].momentum = ly->momentum;
    }
    g->nodes[xhat].value = ly->epsilon;
    return ir_add2(g, OP_ADD, ir_add2(g, OP_MUL, xhat, ly->kernel, loc), ly->bias, loc);
}

static int apply_layer(Lower *L, Layer *ly, int x, Loc loc) {
    Graph *g = L->g;
    ly->attempted = 1;
    if (x < 0) return -1;
    Node *xn = &g->nodes[x];
    if (shape_is_poison(&xn->shape)) return -1;
    const char *what = ly->named ? xsprintf("layer '%s' (%s)", ly->name, layer_kind_name[ly->kind])
                                 : layer_kind_name[ly->kind];
    if (ly->kind == LK_EMBEDDING) {
        if (xn->dtype != DT_INT) {
            error_at(loc, "%s needs int ids, but %s is float", what, node_desc(&g->nodes[x]));
            return -1;
        }
        if (!ly->applied) {
            int dims[2] = {ly->vocab, ly->dim};
            Init init = {.kind = INIT_UNIFORM, .a = -0.05, .b = 0.05};
            ly->kernel = new_param(L, xsprintf("%s.embeddings", ly->name), 2, dims, init, ly->loc);
        }
        if (!bound_ids(L, x, ly->vocab, what, loc)) return -1;
        ly->applied = 1;
        return ir_add2(g, OP_EMBEDDING, x, ly->kernel, loc);
    }
    if (ly->kind == LK_LSTM || ly->kind == LK_GRU) return apply_recurrent(L, ly, x, loc, what);
    if (ly->kind == LK_LAYERNORM || ly->kind == LK_BATCHNORM) return apply_norm(L, ly, x, loc, what);
    if (ly->kind == LK_BIDIRECTIONAL) {
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
    if (ly->kind == LK_CONV2D) {
        if (xn->dtype != DT_FLOAT || xn->shape.rank != 3 || !xn->shape.batched) {
            error_at(loc, "%s needs per-sample float images [height, width, channels], but %s is given", what,
                     node_desc(&g->nodes[x]));
            return -1;
        }
        int channels = xn->shape.dims[2];
        if (!ly->applied) {
            int kdims[4] = {ly->k[0], ly->k[1], channels, ly->units};
            int area = ly->k[0] * ly->k[1];
            Init glorot = {.kind = INIT_GLOROT_UNIFORM, .fan_in = area * channels, .fan_out = area * ly->units};
            ly->kernel = new_param(L, xsprintf("%s.kernel", ly->name), 4, kdims, glorot, ly->loc);
            if (ly->use_bias) {
                Init zeros = {.kind = INIT_ZEROS};
                ly->bias = new_param(L, xsprintf("%s.bias", ly->name), 1, &ly->units, zeros, ly->loc);
            }
            ly->applied = 1;
            ly->in_width = channels;
            ly->first_apply = loc;
        } else if (channels != ly->in_width) {
            error_at(loc, "layer '%s' (conv2d, kernel [%d, %d, %d, %d]) applied to an image of %d channels; "
                          "it was first applied to %d",
                     ly->name, ly->k[0], ly->k[1], ly->in_width, ly->units, channels, ly->in_width);
            note_at(ly->first_apply, "'%s' first applied here", ly->name);
            return -1;
        }
        /* conv2d = the image's patches times the kernel seen as [kh kw C, filters] */
        int cols = windowed(L, OP_IM2COL, x, ly->k, ly->s, ly->same, what, loc);
        if (cols < 0) return -1;
        int flat[2] = {ly->k[0] * ly->k[1] * channels, ly->units};
        int w = ir_begin(g, OP_RESHAPE, &ly->kernel, 1, loc);
        g->nodes[w].to = shape_make(0, 2, flat);
        ir_finish(g, w);
        int y = ir_add2(g, OP_MATMUL, cols, w, loc);
        if (ly->bias >= 0) y = ir_add2(g, OP_ADD, y, ly->bias, loc);
        return activation(L, ly->act, y, loc);
    }
    /* dense */
    if (xn->dtype != DT_FLOAT) {
        error_at(loc, "%s needs float values, but %s is int; convert it with cast(x, float)", what,
                 node_desc(&g->nodes[x]));
        return -1;
    }
    if (xn->shape.rank < 1) {
        error_at(loc, "%s needs values with at least one axis, but %s has none", what, node_desc(&g->nodes[x]));
        return -1;
    }
    int width = xn->shape.dims[xn->shape.rank - 1];
    if (!ly->applied) {
        int kdims[2] = {width, ly->units};
        Init glorot = {.kind = INIT_GLOROT_UNIFORM, .fan_in = width, .fan_out = ly->units};
        ly->kernel = new_param(L, xsprintf("%s.kernel", ly->name), 2, kdims, glorot, ly->loc);
        if (ly->use_bias) {
            Init zeros = {.kind = INIT_ZEROS};
            ly->bias = new_param(L, xsprintf("%s.bias", ly->name), 1, &ly->units, zeros, ly->loc);
        }
        ly->applied = 1;
        ly->in_width = width;
        ly->first_apply = loc;
    } else if (width != ly->in_width) {
        error_at(loc,
                 "layer '%s' (dense, kernel [%d, %d]) applied to an input of width %d; "
                 "it was first applied to width %d",
                 ly->name, ly->in_width, ly->units, width, ly->in_width);
        note_at(ly->first_apply, "'%s' first applied here, to width %d", ly->name, ly->in_width);
        return -1;
    }
    int y = ir_add2(g, OP_MATMUL, x, ly->kernel, loc);
    if (ly->bias >= 0) y = ir_add2(g, OP_ADD, y, ly->bias, loc);
    return activation(L, ly->act, y, loc);
}

/* ---- functions ------------------------------------------------------------------- */

static int lower_expr(Lower *L, Expr *e);

typedef enum FnKind {
    FN_FLATTEN, FN_RESHAPE, FN_CONCAT, FN_ADD, FN_SUBTRACT, FN_MULTIPLY, FN_AVERAGE, FN_MAXIMUM,
    FN_CAST, FN_WHERE, FN_UNARY, FN_SOFTMAX,
    FN_BCE, FN_CCE, FN_SPARSE_CCE, FN_MSE, FN_MAE, FN_L2, FN_L1, FN_ACCURACY,
    FN_POW, FN_STOP_GRADIENT,
    FN_SUM, FN_MEAN, FN_ONE_HOT, FN_GLOBAL_AVG1D, FN_GLOBAL_AVG2D, FN_GLOBAL_MAX1D, FN_GLOBAL_MAX2D,
    FN_MAXPOOL2D, FN_AVGPOOL2D, FN_DROPOUT,
} FnKind;

typedef struct FnSpec {
    const char *name;
    FnKind kind;
    int variadic;           /* one or more values, then named args */
    ArgSpec args[4];
    int nargs;
} FnSpec;

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

static const FnSpec *find_function(const char *name) {
    for (int i = 0; i < NFUNCTIONS; i++)
        if (!strcmp(functions[i].name, name)) return &functions[i];
    for (int i = 0; i < NUNARY_FUNCTIONS; i++)
        if (unary_functions[i].name && !strcmp(unary_functions[i].name, name)) return &unary_functions[i];
    return NULL;
}

static int is_layer_kind(const char *name) {
    for (int k = 0; k < LK_COUNT; k++)
        if (!strcmp(name, layer_kind_name[k])) return 1;
    return 0;
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

static int call_function(Lower *L, const FnSpec *fn, Expr *call, int first, Loc loc) {
    Graph *g = L->g;
    const char *what = fn->name;
    int vals[64], nvals = 0;
    if (fn->variadic) {
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
    Node *x = &g->nodes[a0];
    switch (fn->kind) {
    case FN_FLATTEN: {
        int size = (int)shape_size(&x->shape);
        int v = ir_begin(g, OP_RESHAPE, &a0, 1, loc);
        g->nodes[v].to = shape_make(0, 1, &size);
        ir_finish(g, v);
        return v;
    }
    case FN_RESHAPE: {
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
    case FN_CAST: {
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
    case FN_SUBTRACT: {
        int a1 = lower_expr(L, b[1]);
        if (a1 < 0 || shape_is_poison(&g->nodes[a1].shape)) return -1;
        int v2[2] = {a0, a1};
        if (!same_shapes(L, what, v2, 2, loc)) return -1;
        return ir_add2(g, OP_SUB, a0, a1, loc);
    }
    case FN_WHERE: {
        int a1 = lower_expr(L, b[1]), a2 = lower_expr(L, b[2]);
        if (a1 < 0 || a2 < 0) return -1;
        return ir_add3(g, OP_WHERE, a0, a1, a2, loc);
    }
    case FN_UNARY: return ir_add1(g, (Op)unary_function(fn->name), a0, loc);
    case FN_SOFTMAX: {
        int axis = -1;
        if (b[1] && !axis_arg(b[1], what, &axis)) return -1;
        if (axis != -1 && axis != x->shape.rank) {
            error_at(b[1]->loc, "softmax: only the last axis (axis=-1) is supported");
            return -1;
        }
        return ir_add1(g, OP_SOFTMAX, a0, loc);
    }
    case FN_BCE: case FN_CCE: case FN_SPARSE_CCE: case FN_MSE: case FN_MAE: case FN_ACCURACY: {
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
    case FN_ONE_HOT: {
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
    case FN_GLOBAL_AVG1D:
    case FN_GLOBAL_AVG2D:
    case FN_GLOBAL_MAX1D:
    case FN_GLOBAL_MAX2D: {
        /* [steps, C] or [H, W, C] -> [C]: the positions folded into one axis, then reduced */
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
    case FN_MAXPOOL2D:
    case FN_AVGPOOL2D: {
        /* Keras: pool 2, strides = pool, padding valid */
        int pool[2] = {2, 2}, strides[2], same = 0;
        if (b[1] && !pair_arg(b[1], what, "pool", pool)) return -1;
        memcpy(strides, pool, sizeof strides);
        if (b[2] && !pair_arg(b[2], what, "strides", strides)) return -1;
        if (b[3] && !padding_arg(b[3], what, &same)) return -1;
        return windowed(L, fn->kind == FN_MAXPOOL2D ? OP_MAXPOOL2D : OP_AVGPOOL2D, a0, pool, strides, same, what, loc);
    }
    case FN_DROPOUT: {
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
    case FN_L2: return ir_add1(g, OP_L2, a0, loc);
    case FN_L1: return ir_add1(g, OP_L1, a0, loc);
    default: unreachable();
    }
}

/* ---- expressions ------------------------------------------------------------------ */

/* `callee` applied to the value x: a layer (anonymous or named) or a
 * function with x as its first argument. */
static int apply_callee(Lower *L, Expr *callee, int x, Loc loc) {
    const char *name = callee->name;
    Loc name_loc = callee->kind == EX_CALL ? callee->name_loc : callee->loc;
    if (callee->kind != EX_CALL && callee->kind != EX_NAME) {
        error_at(callee->loc, "the right side of '->' must be a layer or a function");
        return -1;
    }
    Sym *s = find_sym(L, name);
    if (s && s->kind == SYM_LAYER) {
        if (callee->kind == EX_CALL) {
            error_at(callee->loc, "'%s' is a layer already built; apply it as %s(x) or x -> %s", name, name, name);
            return -1;
        }
        if (!s->layer) return -1;
        return apply_layer(L, s->layer, x, loc);
    }
    if (s) {
        error_at(name_loc, "'%s' is a value, not a layer or a function", name);
        note_at(s->loc, "'%s' defined here", name);
        return -1;
    }
    if (is_layer_kind(name)) {
        Expr bare = {.kind = EX_CALL, .loc = callee->loc, .name = name, .name_loc = callee->loc};
        Layer *ly = make_layer(L, callee->kind == EX_NAME ? &bare : callee, NULL); /* `x -> layernorm` */
        if (!ly) return -1;
        remember_layer(L, ly);
        return apply_layer(L, ly, x, loc);
    }
    const FnSpec *fn = find_function(name);
    if (fn) return call_function(L, fn, callee->kind == EX_CALL ? callee : NULL, x, loc);
    const char *names[NFUNCTIONS + NUNARY_FUNCTIONS + LK_COUNT];
    int nnames = 0;
    for (int i = 0; i < NFUNCTIONS; i++) names[nnames++] = functions[i].name;
    for (int i = 0; i < NUNARY_FUNCTIONS; i++)
        if (unary_functions[i].name) names[nnames++] = unary_functions[i].name;
    for (int k = 0; k < LK_COUNT; k++) names[nnames++] = layer_kind_name[k];
    error_at(name_loc, "unknown layer or function '%s'%s", name, suggest(name, names, nnames));
    return -1;
}

static int lower_call(Lower *L, Expr *e) {
    Sym *s = find_sym(L, e->name);
    if (s && s->kind == SYM_LAYER) {
        /* enc(x): a named layer applied to one value */
        int n = 0;
        for (Arg *a = e->args; a; a = a->next) n++;
        if (n != 1 || e->args->name) {
            error_at(e->loc, "layer '%s' takes exactly one value: %s(x)", e->name, e->name);
            return -1;
        }
        int x = lower_expr(L, e->args->value);
        if (!s->layer) return -1;
        return apply_layer(L, s->layer, x, e->loc);
    }
    if (s) {
        error_at(e->name_loc, "'%s' is a value, not a layer or a function", e->name);
        note_at(s->loc, "'%s' defined here", e->name);
        return -1;
    }
    if (is_layer_kind(e->name)) {
        error_at(e->loc, "%s(...) makes a layer; apply it to a value: %s(...)(x) or x -> %s(...)", e->name,
                 e->name, e->name);
        return -1;
    }
    const FnSpec *fn = find_function(e->name);
    if (!fn) return apply_callee(L, e, -1, e->loc); /* reports the unknown name */
    return call_function(L, fn, e, -1, e->loc);
}

/* One expression that is not the left operand of a chain link (see
 * lower_expr): a leaf, a call, a field, a negation or a list. */
static int lower_leaf(Lower *L, Expr *e) {
    Graph *g = L->g;
    switch (e->kind) {
    case EX_NUMBER: return ir_const(g, e->number, e->loc);
    case EX_NAME: {
        Sym *s = find_sym(L, e->name);
        if (!s) {
            undefined_name(L, e->name, e->loc);
            return -1;
        }
        if (s->kind == SYM_LAYER) {
            error_at(e->loc, "'%s' is a layer; apply it to a value: %s(x) or x -> %s", e->name, e->name, e->name);
            return -1;
        }
        if (s->kind == SYM_TARGET && L->cur->kind != ST_LOSS && L->cur->kind != ST_METRIC) {
            error_at(e->loc, "target '%s' is only available to 'loss' and 'metric'", e->name);
            note_at(s->loc, "'%s' declared as a target here", e->name);
            return -1;
        }
        return s->value;
    }
    case EX_FIELD: {
        Expr *base = e->lhs;
        Sym *s = base->kind == EX_NAME ? find_sym(L, base->name) : NULL;
        if (!s || s->kind != SYM_LAYER) {
            if (base->kind == EX_NAME && !s) undefined_name(L, base->name, base->loc);
            else error_at(base->loc, "only a named layer has weights ('layer NAME = ...')");
            return -1;
        }
        Layer *ly = s->layer;
        if (!ly) return -1;
        /* The weights each kind of layer has, by the names Keras gives them. */
        static const struct {
            LayerKind kind;
            const char *field;
            size_t slot; /* offsetof(Layer, ...) */
        } weights[] = {
            {LK_DENSE, "kernel", offsetof(Layer, kernel)},        {LK_DENSE, "bias", offsetof(Layer, bias)},
            {LK_EMBEDDING, "embeddings", offsetof(Layer, kernel)}, {LK_CONV2D, "kernel", offsetof(Layer, kernel)},
            {LK_CONV2D, "bias", offsetof(Layer, bias)},            {LK_LSTM, "kernel", offsetof(Layer, kernel)},
            {LK_LSTM, "recurrent_kernel", offsetof(Layer, recurrent)}, {LK_LSTM, "bias", offsetof(Layer, bias)},
            {LK_GRU, "kernel", offsetof(Layer, kernel)},           {LK_GRU, "recurrent_kernel", offsetof(Layer, recurrent)},
            {LK_GRU, "bias", offsetof(Layer, bias)},               {LK_LAYERNORM, "gamma", offsetof(Layer, kernel)},
            {LK_LAYERNORM, "beta", offsetof(Layer, bias)},         {LK_BATCHNORM, "gamma", offsetof(Layer, kernel)},
            {LK_BATCHNORM, "beta", offsetof(Layer, bias)},         {LK_BATCHNORM, "moving_mean", offsetof(Layer, moving_mean)},
            {LK_BATCHNORM, "moving_variance", offsetof(Layer, moving_var)},
        };
        int nweights = (int)(sizeof weights / sizeof weights[0]), found = -1;
        Buf fields = {0};
        for (int i = 0; i < nweights; i++) {
            if (weights[i].kind != ly->kind) continue;
            buf_printf(&fields, "%s%s", fields.len ? ", " : "", weights[i].field);
            if (!strcmp(weights[i].field, e->name)) found = i;
        }
        if (found < 0) {
            if (!fields.len)
                error_at(e->name_loc, "layer '%s' (%s) has no weights of its own to name", ly->name, layer_kind_name[ly->kind]);
            else
                error_at(e->name_loc, "layer '%s' (%s) has no weight '%s'; it has %s", ly->name, layer_kind_name[ly->kind],
                         e->name, fields.data);
            return -1;
        }
        if (!ly->applied) {
            error_at(e->loc, "'%s.%s' has no shape yet: layer '%s' must be applied before its weights are used",
                     ly->name, e->name, ly->name);
            return -1;
        }
        int w = *(const int *)((const char *)ly + weights[found].slot);
        if (w < 0) {
            error_at(e->loc, "layer '%s' has no %s (use_bias=false)", ly->name, e->name);
            return -1;
        }
        return w;
    }
    case EX_CALL: return lower_call(L, e);
    case EX_APPLY: return -1; /* f(...)() with no value: the parser reported it */
    case EX_BINARY: unreachable(); /* a chain link: lower_expr */
    case EX_NEG: {
        if (e->lhs->kind == EX_NUMBER) return ir_const(g, -e->lhs->number, e->loc);
        int a = lower_expr(L, e->lhs);
        if (a < 0) return -1;
        return ir_add1(g, OP_NEG, a, e->loc);
    }
    case EX_LIST: error_at(e->loc, "a list is only allowed as the shape of reshape"); return -1;
    }
    unreachable();
}

/* An expression. `a + b + c` and `x -> f -> g` are left-leaning chains as
 * long as the source line (100,000 links are a real case: generated
 * models), so the left spine is walked with a loop, not recursion: the
 * links are collected innermost last, the innermost operand is lowered,
 * then each link is applied going out. Only right operands and the
 * arguments of calls recurse, and the parser bounds their nesting
 * (MN_MAX_NESTING). */
static int lower_expr(Lower *L, Expr *e) {
    Expr *local[16], **links = local;
    int n = 0, cap = 16;
    Expr *leaf = e;
    while (leaf->kind == EX_BINARY || (leaf->kind == EX_APPLY && leaf->arg)) {
        if (n == cap) {
            Expr **more = xalloc(sizeof *more * (size_t)cap * 2);
            memcpy(more, links, sizeof *more * (size_t)n);
            links = more;
            cap *= 2;
        }
        links[n++] = leaf;
        leaf = leaf->kind == EX_BINARY ? leaf->lhs : leaf->arg;
    }
    int x = lower_leaf(L, leaf);
    while (n > 0) {
        Expr *link = links[--n];
        if (link->kind == EX_APPLY) { /* the callee is not looked at when x failed: one error */
            x = x < 0 ? -1 : apply_callee(L, link->callee, x, link->loc);
            continue;
        }
        static const Op ops[] = {[BIN_ADD] = OP_ADD, [BIN_SUB] = OP_SUB, [BIN_MUL] = OP_MUL,
                                 [BIN_DIV] = OP_DIV, [BIN_LT] = OP_LT,   [BIN_LE] = OP_LE,
                                 [BIN_GT] = OP_GT,   [BIN_GE] = OP_GE,   [BIN_EQ] = OP_EQ,
                                 [BIN_NE] = OP_NE};
        int b = lower_expr(L, link->rhs); /* both sides are lowered, for their errors */
        x = x < 0 || b < 0 ? -1 : ir_add2(L->g, ops[link->op], x, b, link->loc);
    }
    return x;
}

/* ---- statements -------------------------------------------------------------------- */

static Shape type_shape(const Type *t, int batched) { return shape_make(batched, t->rank, t->dims); }

static int lower_init(Lower *L, const Stmt *s, Init *init) {
    Expr *e = s->expr;
    double v;
    (void)L;
    if (e->kind == EX_NUMBER || (e->kind == EX_NEG && e->lhs->kind == EX_NUMBER)) {
        number_arg(e, "param", "init", &v);
        *init = (Init){.kind = INIT_CONST, .a = v};
        return 1;
    }
    const char *name = e->kind == EX_NAME || e->kind == EX_CALL ? e->name : "";
    const char *what = xsprintf("initialiser %s", name);
    int fan_in = 1, fan_out = 1;
    if (s->type.rank == 1) fan_in = fan_out = s->type.dims[0];
    if (s->type.rank >= 2) {
        int receptive = 1;
        for (int i = 0; i < s->type.rank - 2; i++) receptive *= s->type.dims[i];
        fan_in = s->type.dims[s->type.rank - 2] * receptive;
        fan_out = s->type.dims[s->type.rank - 1] * receptive;
    }
    if (e->kind == EX_NAME) {
        if (!strcmp(name, "zeros")) *init = (Init){.kind = INIT_ZEROS};
        else if (!strcmp(name, "ones")) *init = (Init){.kind = INIT_ONES};
        else if (!strcmp(name, "glorot_uniform"))
            *init = (Init){.kind = INIT_GLOROT_UNIFORM, .fan_in = fan_in, .fan_out = fan_out};
        else goto unknown;
        return 1;
    }
    if (e->kind == EX_CALL && (!strcmp(name, "normal") || !strcmp(name, "uniform"))) {
        Expr *b[MAX_ARGS];
        Loc bl[MAX_ARGS];
        if (!strcmp(name, "normal")) {
            static const ArgSpec spec[] = {{"std", 0}, {"mean", 0}};
            double std = 0.05, mean = 0;
            if (!bind_args(what, e->loc, spec, 2, e->args, b, bl, 0)) return 0;
            if (b[0] && !number_arg(b[0], what, "std", &std)) return 0;
            if (b[1] && !number_arg(b[1], what, "mean", &mean)) return 0;
            *init = (Init){.kind = INIT_NORMAL, .a = mean, .b = std};
        } else {
            static const ArgSpec spec[] = {{"lo", 0}, {"hi", 0}};
            double lo = -0.05, hi = 0.05;
            if (!bind_args(what, e->loc, spec, 2, e->args, b, bl, 0)) return 0;
            if (b[0] && !number_arg(b[0], what, "lo", &lo)) return 0;
            if (b[1] && !number_arg(b[1], what, "hi", &hi)) return 0;
            *init = (Init){.kind = INIT_UNIFORM, .a = lo, .b = hi};
        }
        return 1;
    }
unknown:
    error_at(e->loc, "unknown initialiser; expected a number, zeros, ones, glorot_uniform, normal(std) or uniform(lo, hi)");
    return 0;
}

/* A setting given twice in a train block (or an optimizer's argument list
 * twice is caught by bind_args). */
static int repeated_key(const Arg *first, const Arg *a) {
    for (const Arg *b = first; b != a; b = b->next)
        if (!strcmp(b->name, a->name)) {
            error_at(a->name_loc, "train: '%s' is given twice", a->name);
            note_at(b->name_loc, "first given here");
            return 1;
        }
    return 0;
}

/* Optimizer hyperparameters: lr > 0, betas in [0, 1), epsilon > 0, momentum >= 0. */
static void check_range(Expr *e, const char *what, const char *arg, double v, double lo, int lo_open, double hi) {
    int ok = (lo_open ? v > lo : v >= lo) && v < hi;
    if (!ok)
        error_at(e->loc, "%s: '%s' must be %s %g%s", what, arg, lo_open ? ">" : ">=", lo,
                 hi < 1e300 ? xsprintf(" and < %g", hi) : "");
}

/* `range = [lo, hi]`: the values the data holds, inclusive. For int data
 * it bounds the ids (an embedding then checks its vocabulary against it). */
static void lower_range(Lower *L, Node *n, Expr *e) {
    (void)L;
    double bounds[2];
    int count = 0, ok = e->kind == EX_LIST;
    for (Arg *a = ok ? e->args : NULL; a && ok; a = a->next) {
        if (count == 2 || !number_arg(a->value, "range", "lo/hi", &bounds[count])) ok = 0;
        count++;
    }
    if (!ok || count != 2 || !(bounds[0] < bounds[1])) {
        if (ok) error_at(e->loc, "range must be [lo, hi] with lo < hi");
        else if (e->kind != EX_LIST) error_at(e->loc, "range must be a list [lo, hi]");
        return;
    }
    if (n->dtype == DT_INT && (bounds[0] != (long long)bounds[0] || bounds[1] != (long long)bounds[1] || bounds[0] < 0)) {
        error_at(e->loc, "the range of int data is two non-negative integers [lo, hi]");
        return;
    }
    n->has_range = 1;
    n->lo = bounds[0];
    n->hi = bounds[1];
    if (n->dtype == DT_INT) n->int_bound = (int64_t)bounds[1] + 1;
}

static void lower_train(Lower *L, const Stmt *s) {
    TrainSpec *t = &L->g->train;
    if (t->loc.line) {
        error_at(s->loc, "a second 'train' block; give every setting in one");
        note_at(t->loc, "the first 'train' block is here");
        return;
    }
    t->loc = s->loc;
    for (Arg *a = s->args; a; a = a->next) {
        Expr *v = a->value;
        if (repeated_key(s->args, a)) continue;
        double num;
        int k;
        if (!strcmp(a->name, "batch")) {
            if (int_arg(v, "train", "batch", &k)) t->batch = k;
        } else if (!strcmp(a->name, "epochs")) {
            if (int_arg(v, "train", "epochs", &k)) t->epochs = k;
        } else if (!strcmp(a->name, "seed")) {
            if (v->kind == EX_NUMBER && v->is_integer && v->number >= 0 && v->number < 9.007199254740992e15)
                t->seed = (uint64_t)v->number;
            else error_at(v->loc, "train: 'seed' must be a non-negative integer");
        } else if (!strcmp(a->name, "clip_norm")) {
            if (number_arg(v, "train", "clip_norm", &num)) {
                if (num <= 0) error_at(v->loc, "train: 'clip_norm' must be positive");
                else t->clip_norm = num;
            }
        } else if (!strcmp(a->name, "optimizer")) {
            const char *name = v->kind == EX_CALL || v->kind == EX_NAME ? v->name : "";
            Expr *b[MAX_ARGS];
            Loc bl[MAX_ARGS];
            Arg *args = v->kind == EX_CALL ? v->args : NULL;
            if (!strcmp(name, "adam")) {
                static const ArgSpec spec[] = {{"lr", 0}, {"beta1", 0}, {"beta2", 0}, {"epsilon", 0}};
                t->optimizer = OPT_ADAM;
                if (!bind_args("adam", v->loc, spec, 4, args, b, bl, 0)) continue;
                double *fields[] = {&t->lr, &t->beta1, &t->beta2, &t->epsilon};
                for (int i = 0; i < 4; i++)
                    if (b[i] && number_arg(b[i], "adam", spec[i].name, fields[i]))
                        check_range(b[i], "adam", spec[i].name, *fields[i], 0, i == 0 || i == 3, i == 1 || i == 2 ? 1 : 1e308);
            } else if (!strcmp(name, "sgd")) {
                static const ArgSpec spec[] = {{"lr", 0}, {"momentum", 0}};
                t->optimizer = OPT_SGD;
                t->lr = 0.01;
                if (!bind_args("sgd", v->loc, spec, 2, args, b, bl, 0)) continue;
                if (b[0] && number_arg(b[0], "sgd", "lr", &t->lr)) check_range(b[0], "sgd", "lr", t->lr, 0, 1, 1e308);
                if (b[1] && number_arg(b[1], "sgd", "momentum", &t->momentum))
                    check_range(b[1], "sgd", "momentum", t->momentum, 0, 0, 1e308);
            } else {
                error_at(v->loc, "train: unknown optimizer; expected adam(...) or sgd(...)");
            }
        } else {
            static const char *const keys[] = {"optimizer", "batch", "epochs", "seed", "clip_norm"};
            error_at(a->name_loc, "train has no setting '%s'%s", a->name, suggest(a->name, keys, 5));
        }
    }
}

/* A scalar-valued loss term with located checks. */
static int scalar_or_error(Lower *L, int v, Loc loc, const char *what) {
    Node *n = &L->g->nodes[v];
    if (shape_is_poison(&n->shape)) return 0;
    if (n->shape.batched || n->shape.rank != 0) {
        error_at(loc, "%s must be a scalar, but this is %s; losses such as bce(y, t) and penalties l2(w) give one",
                 what, shape_str(&n->shape));
        return 0;
    }
    return 1;
}

/* Penalty strengths written on layers: `dense(64, l2=lam)` adds lam * l2(kernel). */
static int add_layer_penalties(Lower *L, int loss) {
    Graph *g = L->g;
    for (int i = 0; i < L->nlayers; i++) {
        Layer *ly = L->layers[i];
        for (int which = 0; which < 2; which++) {
            Expr *coef = which ? ly->l1 : ly->l2;
            if (!coef || !ly->applied) continue;
            Loc loc = which ? ly->l1_loc : ly->l2_loc;
            int c = lower_expr(L, coef);
            if (c < 0) continue;
            if (!scalar_or_error(L, c, coef->loc, which ? "an l1 strength" : "an l2 strength")) continue;
            int pen = ir_add1(g, which ? OP_L1 : OP_L2, ly->kernel, loc);
            int term = ir_add2(g, OP_MUL, c, pen, loc);
            loss = ir_add2(g, OP_ADD, loss, term, loc);
        }
    }
    return loss;
}

static void lower_stmt(Lower *L, const Stmt *s) {
    Graph *g = L->g;
    L->cur = s;
    switch (s->kind) {
    case ST_INPUT:
    case ST_TARGET: {
        Op op = s->kind == ST_INPUT ? OP_INPUT : OP_TARGET;
        check_c_name(s->name, s->name_loc, s->kind == ST_INPUT ? "an input" : "a target");
        int v = ir_source(g, op, type_shape(&s->type, 1), s->type.is_int ? DT_INT : DT_FLOAT, s->name, s->name_loc);
        g->nodes[v].loc = s->loc;
        if (s->kind == ST_INPUT) {
            g->nodes[v].io_index = g->ninputs;
            ir_push(&g->inputs, &g->ninputs, v);
        } else {
            g->nodes[v].io_index = g->ntargets;
            ir_push(&g->targets, &g->ntargets, v);
        }
        define(L, s->name, s->name_loc, s->kind == ST_INPUT ? SYM_INPUT : SYM_TARGET, v);
        for (Arg *a = s->args; a; a = a->next) {
            if (strcmp(a->name, "range")) {
                error_at(a->name_loc, "%s has no option '%s'; it has range = [lo, hi]",
                         s->kind == ST_INPUT ? "input" : "target", a->name);
                continue;
            }
            lower_range(L, &g->nodes[v], a->value);
        }
        return;
    }
    case ST_PARAM: {
        if (s->type.is_int) {
            error_at(s->type.loc, "a param is trainable: its type must be float");
            define(L, s->name, s->name_loc, SYM_PARAM, -1);
            return;
        }
        Init init;
        int trainable = 1;
        int ok = lower_init(L, s, &init);
        for (Arg *a = s->args; a; a = a->next) {
            if (!strcmp(a->name, "trainable")) ok &= bool_arg(a->value, "param", "trainable", &trainable);
            else {
                error_at(a->name_loc, "param has no option '%s'; it has trainable", a->name);
                ok = 0;
            }
        }
        int v = -1;
        if (ok) {
            v = new_param(L, s->name, s->type.rank, s->type.dims, init, s->loc);
            g->nodes[v].trainable = trainable;
        }
        define(L, s->name, s->name_loc, SYM_PARAM, v);
        return;
    }
    case ST_LAYER: {
        Layer *ly = NULL;
        if (s->expr->kind != EX_CALL || !is_layer_kind(s->expr->name)) {
            const char *name = s->expr->kind == EX_CALL ? s->expr->name : NULL;
            Buf kinds = {0};
            for (int k = 0; k < LK_COUNT; k++)
                buf_printf(&kinds, "%s%s(...)", k == 0 ? "" : k == LK_COUNT - 1 ? " or " : ", ", layer_kind_name[k]);
            if (name && find_function(name))
                error_at(s->expr->loc, "'%s' is a function, not a layer; a named layer is %s", name, kinds.data);
            else
                error_at(s->expr->loc, "unknown layer%s; expected %s%s", name ? xsprintf(" '%s'", name) : "", kinds.data,
                         name ? suggest(name, layer_kind_name, LK_COUNT) : "");
        } else {
            ly = make_layer(L, s->expr, s->name);
            if (ly) {
                ly->loc = s->loc;
                remember_layer(L, ly);
            }
        }
        Sym *sym = define(L, s->name, s->name_loc, SYM_LAYER, -1);
        if (sym) sym->layer = ly;
        return;
    }
    case ST_ASSIGN: {
        int v = lower_expr(L, s->expr);
        if (v >= 0) {
            Node *n = &g->nodes[v];
            /* Name the node after the statement, unless it already is a named
             * value (an alias like `y = c` keeps c's node and name). */
            if (!n->name && !(op_info[n->op].flags & OPF_SOURCE)) {
                n->name = s->name;
                n->loc = s->loc;
            }
        }
        define(L, s->name, s->name_loc, SYM_VALUE, v);
        return;
    }
    case ST_OUTPUT:
        for (NameList *nl = s->names; nl; nl = nl->next) {
            Sym *sym = find_sym(L, nl->name);
            if (!sym) {
                undefined_name(L, nl->name, nl->loc);
                continue;
            }
            if (sym->kind != SYM_VALUE && sym->kind != SYM_INPUT && sym->kind != SYM_PARAM) {
                error_at(nl->loc, "'%s' is not a value: an output is a value computed by the model", nl->name);
                continue;
            }
            for (int i = 0; i < g->noutputs; i++)
                if (!strcmp(g->output_names[i], nl->name)) {
                    error_at(nl->loc, "'%s' is already an output", nl->name);
                    sym = NULL;
                    break;
                }
            if (!sym || sym->value < 0) continue;
            if (!check_c_name(nl->name, nl->loc, "an output")) continue;
            if (g->nodes[sym->value].dtype != DT_FLOAT) {
                error_at(nl->loc, "output '%s' is int; outputs are float values", nl->name);
                continue;
            }
            int value = sym->value;
            /* An output that is a constant, a param or an input gets a value of
             * its own, computed by predict like any other. */
            if (op_info[g->nodes[value].op].flags & OPF_SOURCE) value = ir_add1(g, OP_COPY, value, nl->loc);
            const char **names = xalloc(sizeof(char *) * (size_t)(g->noutputs + 1));
            if (g->noutputs) memcpy(names, g->output_names, sizeof(char *) * (size_t)g->noutputs);
            names[g->noutputs] = nl->name;
            g->output_names = names;
            ir_push(&g->outputs, &g->noutputs, value);
        }
        return;
    case ST_LOSS: {
        if (g->loss >= 0 || L->loss_loc.line) {
            error_at(s->loc, "a second 'loss' statement; write one loss as a sum of terms");
            note_at(L->loss_loc, "the first 'loss' is here");
            return;
        }
        L->loss_loc = s->loc;
        int v = lower_expr(L, s->expr);
        if (v >= 0 && scalar_or_error(L, v, s->expr->loc, "the loss")) g->loss = v;
        return;
    }
    case ST_METRIC: {
        Expr *e = s->expr;
        if (e->kind != EX_CALL || strcmp(e->name, "accuracy")) {
            error_at(e->loc, "unknown metric; expected accuracy(y, target)");
            return;
        }
        int v = lower_expr(L, e);
        if (v < 0 || shape_is_poison(&g->nodes[v].shape)) return;
        Metric *m = xalloc(sizeof(Metric) * (size_t)(g->nmetrics + 1));
        if (g->nmetrics) memcpy(m, g->metrics, sizeof(Metric) * (size_t)g->nmetrics);
        m[g->nmetrics++] = (Metric){.name = "accuracy", .value = v, .loc = s->loc};
        g->metrics = m;
        return;
    }
    case ST_TRAIN: lower_train(L, s); return;
    }
    unreachable();
}

Graph *lower_program(const Program *prog, const char *path) {
    Lower L = {0};
    L.prog = prog;
    if (prog->model_name) check_c_name(prog->model_name, prog->model_loc, "a model");
    L.g = ir_new(prog->model_name ? prog->model_name : "model", path);
    for (const Stmt *s = prog->stmts; s; s = s->next) lower_stmt(&L, s);
    /* Layer penalties join the loss once per layer, however often it is applied. */
    if (L.g->loss >= 0) {
        Stmt penalty_ctx = {.kind = ST_LOSS};
        L.cur = &penalty_ctx;
        int loss = add_layer_penalties(&L, L.g->loss);
        if (!shape_is_poison(&L.g->nodes[loss].shape)) L.g->loss = loss;
    }
    for (int i = 0; i < L.nlayers; i++)
        if (L.layers[i]->named && !L.layers[i]->attempted)
            warning_at(L.layers[i]->loc, "layer '%s' is never applied", L.layers[i]->name);
    return L.g;
}
