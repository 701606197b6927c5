/* lower.c — from the AST to the graph IR: symbols, expressions, statements.
 *
 * Resolves names, expands layers into IR ops (a dense layer becomes
 * matmul + add + activation over two PARAM nodes), creates the weights of a
 * layer at its first application (their shape depends on the input), and
 * checks what only the language knows: argument lists, layer sharing,
 * merges of equal shapes, the loss, the train block. Shape rules of the IR
 * ops run as nodes are added (shape.c). Errors poison the value (-1) so that
 * one mistake gives one message; lowering goes on to report the rest.
 * The layer table is layers.c, the function table lower_fn.c, argument
 * binding lower_args.c (lower.h).
 */
#include <string.h>

#include "lower.h"

/* ---- symbols ------------------------------------------------------------------------ */

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

const Stmt *later_definition(Lower *L, const char *name) {
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

/* ---- building values: weights, ids, windows, views ------------------------------------ */

int new_param(Lower *L, const char *name, int rank, const int *dims, Init init, Loc loc) {
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

int bound_ids(Lower *L, int ids, int count, const char *what, Loc loc) {
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

int windowed(Lower *L, Op op, int x, const int k[2], const int s[2], int same, const char *what, Loc loc) {
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

int reshaped(Lower *L, int x, Shape to, Loc loc) {
    int v = ir_begin(L->g, OP_RESHAPE, &x, 1, loc);
    L->g->nodes[v].to = to;
    ir_finish(L->g, v);
    return v;
}

static void remember_layer(Lower *L, Layer *ly) {
    L->layers = xgrow(L->layers, L->nlayers, sizeof *L->layers);
    L->layers[L->nlayers++] = ly;
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
    if (layer_kind(name) >= 0) {
        Expr bare = {.kind = EX_CALL, .loc = callee->loc, .name = name, .name_loc = callee->loc};
        Layer *ly = make_layer(L, callee->kind == EX_NAME ? &bare : callee, NULL); /* `x -> layernorm` */
        if (!ly) return -1;
        remember_layer(L, ly);
        return apply_layer(L, ly, x, loc);
    }
    const FnSpec *fn = find_function(name);
    if (fn) return call_function(L, fn, callee->kind == EX_CALL ? callee : NULL, x, loc);
    const char *names[256];
    int nnames = function_names(names, 256 - nlayer_kinds);
    for (int k = 0; k < nlayer_kinds; k++) names[nnames++] = layer_kind_name(k);
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
    if (layer_kind(e->name) >= 0) {
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
        return layer_weight(L, ly, e->name, e->name_loc, e->loc);
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
int lower_expr(Lower *L, Expr *e) {
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

/* `input NAME : type` and `target NAME : type`, with range = [lo, hi] */
static void lower_io(Lower *L, const Stmt *s) {
    Graph *g = L->g;
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
}

/* `param NAME : float[..] = init, trainable=...` */
static void lower_param(Lower *L, const Stmt *s) {
    Graph *g = L->g;
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
}

/* `layer NAME = kind(...)`: a named layer, applied later */
static void lower_layer_stmt(Lower *L, const Stmt *s) {
    Layer *ly = NULL;
    if (s->expr->kind != EX_CALL || layer_kind(s->expr->name) < 0) {
        const char *name = s->expr->kind == EX_CALL ? s->expr->name : NULL;
        Buf kinds = {0};
        const char *kind_names[64];
        for (int k = 0; k < nlayer_kinds && k < 64; k++) {
            kind_names[k] = layer_kind_name(k);
            buf_printf(&kinds, "%s%s(...)", k == 0 ? "" : k == nlayer_kinds - 1 ? " or " : ", ", kind_names[k]);
        }
        if (name && find_function(name))
            error_at(s->expr->loc, "'%s' is a function, not a layer; a named layer is %s", name, kinds.data);
        else
            error_at(s->expr->loc, "unknown layer%s; expected %s%s", name ? xsprintf(" '%s'", name) : "", kinds.data,
                     name ? suggest(name, kind_names, nlayer_kinds < 64 ? nlayer_kinds : 64) : "");
    } else {
        ly = make_layer(L, s->expr, s->name);
        if (ly) {
            ly->loc = s->loc;
            remember_layer(L, ly);
        }
    }
    Sym *sym = define(L, s->name, s->name_loc, SYM_LAYER, -1);
    if (sym) sym->layer = ly;
}

/* `output a, b`: the values predict returns, by name */
static void lower_outputs(Lower *L, const Stmt *s) {
    Graph *g = L->g;
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
}

static void lower_stmt(Lower *L, const Stmt *s) {
    Graph *g = L->g;
    L->cur = s;
    switch (s->kind) {
    case ST_INPUT:
    case ST_TARGET: lower_io(L, s); return;
    case ST_PARAM: lower_param(L, s); return;
    case ST_LAYER: lower_layer_stmt(L, s); return;
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
    case ST_OUTPUT: lower_outputs(L, s); return;
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
    L.counter = xalloc(sizeof(int) * (size_t)nlayer_kinds);
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
