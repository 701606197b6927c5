/* emit_c.c — the C emitter: the planned graph as C99 source and header.
 *
 * The emitter decides nothing about shapes or gradients: it prints what the
 * IR and the plan say, one block per node, each under a comment naming the
 * .mn line it came from. All writes go through out() (chibicc's println).
 * Output depends only on the graph: no time, no absolute paths, no pointer
 * order, so the same .mn gives byte-identical files.
 *
 * This file is the module: the header, the descriptors, init, the entry
 * points (forward_infer, predict, evaluate, compute_gradients, train_step,
 * save, load) and the optimizer; each schedule's nodes go through the
 * kernels of ops.def's emit column (emit_linear.c ... emit_loss.c), which
 * name values through emit_value.c. emit.h lists the files.
 */
#include <ctype.h>
#include <string.h>

#include "emit.h"

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
        int w = kind == SCHED_TRAIN && E->ready_param ? E->ready_param[s->order[i]] : -1;
        if (w >= 0) {
            Node *p = node(E, E->g->params[w]);
            out(E, "    if (ready) ready(ctx, %d, %ld); /* %s: its gradient is final */", p->param_offset,
                shape_size(&p->shape), p->name);
        }
    }
}

static int ngrads_of(const Graph *g) {
    int k = 0;
    for (int i = 0; i < g->nparams; i++) k += g->nodes[g->params[i]].trainable;
    return k;
}

/* The trainable weights (indices into params) in the order compute_gradients
 * makes their gradients final: those the loss does not depend on (zeroed
 * first), then by the place of the gradient's storage in the train schedule
 * (backward runs from the loss: the last layer's first). Returns how many;
 * ready_param[v] (if given) is the weight node v finishes, or -1. */
static int grad_order(Emit *E, int *order, int *ready_param) {
    Graph *g = E->g;
    const Schedule *s = &g->sched[SCHED_TRAIN];
    int *at = xalloc(sizeof(int) * (size_t)(g->nnodes + 1)), count = 0;
    for (int v = 0; v < g->nnodes; v++) at[v] = -1;
    for (int i = 0; i < s->n; i++) at[s->order[i]] = i;
    if (ready_param)
        for (int v = 0; v < g->nnodes; v++) ready_param[v] = -1;
    int *key = xalloc(sizeof(int) * (size_t)(g->nparams + 1));
    for (int i = 0; i < g->nparams; i++) {
        if (!node(E, g->params[i])->trainable) continue;
        int d = g->param_grad[i], r = d >= 0 ? root_of(E, d) : -1;
        key[i] = r >= 0 ? at[r] : -1;
        if (r >= 0 && ready_param) ready_param[r] = i;
        int k = count++; /* insertion by key, stable */
        while (k > 0 && key[order[k - 1]] > key[i]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    return count;
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

/* The header's guard and includes, and its macros: batch, seed, optimizer, sizes. */
static void header_macros(Emit *E, long arena) {
    Graph *g = E->g;
    const char *P = E->PREFIX, *p = E->prefix;
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
    define(E, "NUM_GRADS", xsprintf("%d", ngrads_of(g)), "trainable tensors: the entries of grad_order");
    define(E, "ARENA_SIZE", xsprintf("%ld", arena), "elements of activations, gradients, temporaries");
    define(E, "NUM_INPUTS", xsprintf("%d", g->ninputs), NULL);
    define(E, "NUM_TARGETS", xsprintf("%d", g->ntargets), NULL);
    define(E, "NUM_OUTPUTS", xsprintf("%d", g->noutputs), NULL);
    define(E, "NUM_METRICS", xsprintf("%d", g->nmetrics), NULL);
    int differs = 0;
    for (int v = 0; v < g->nnodes; v++) differs |= g->nodes[v].op == OP_DROPOUT || g->nodes[v].op == OP_BATCHNORM;
    define(E, "TRAINING_DIFFERS", differs ? "1" : "0", "dropout or batchnorm: training and inference differ");
}

/* The model's state, and the structs of its inputs, targets and outputs. */
static void header_structs(Emit *E, long arena) {
    Graph *g = E->g;
    const char *p = E->prefix, *T = E->T;
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
}

/* The entry points and the descriptors, and the header's end. */
static void header_api(Emit *E) {
    Graph *g = E->g;
    const char *p = E->prefix, *T = E->T;
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
    out(E, "/* compute_gradients that also calls ready(ctx, offset, count) as each trainable");
    out(E, " * weight's gradient grads[offset .. offset + count) becomes final, in grad_order's");
    out(E, " * order (the last layer's first): a reduction can start while backward goes on. */");
    out(E, "%s %s_compute_gradients_ready(%s *m, const %s_inputs *in, const %s_targets *tg, int n, %s *grads,", T, p, p, p,
        p, T);
    out(E, "    mn_grad_ready ready, void *ctx);");
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
    out(E, "/* The trainable tensors (indices into %s_tensors) in the order", p);
    out(E, " * compute_gradients_ready reports their gradients final. */");
    out(E, "extern const int %s_grad_order[%d];", p, ngrads_of(g) ? ngrads_of(g) : 1);
    blank(E);
    out(E, "#ifdef __cplusplus");
    out(E, "}");
    out(E, "#endif");
    out(E, "#endif");
}

static void emit_header(Emit *E) {
    Graph *g = E->g;
    long arena = 0;
    for (int k = 0; k < SCHED_COUNT; k++)
        if (g->sched[k].arena_size > arena) arena = g->sched[k].arena_size;
    header_macros(E, arena);
    blank(E);
    header_structs(E, arena);
    header_api(E);
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

/* The source's top: its comment, includes and MN_VEC. */
static void source_prelude(Emit *E, const EmitOptions *opt) {
    Graph *g = E->g;
    const char *p = E->prefix;
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
}

/* The weights' and the inputs', targets' and outputs' descriptors. */
static void source_descriptors(Emit *E) {
    Graph *g = E->g;
    const char *p = E->prefix;
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
    int *order = xalloc(sizeof(int) * (size_t)(g->nparams + 1));
    int count = grad_order(E, order, NULL);
    Buf ob = {0};
    for (int i = 0; i < count; i++) buf_printf(&ob, "%s%d", i ? ", " : "", order[i]);
    out(E, "const int %s_grad_order[%d] = {%s};", p, count ? count : 1, ob.data ? ob.data : "0");
}

/* PFX_init: every weight from its initialiser. */
static void source_init(Emit *E) {
    Graph *g = E->g;
    const char *p = E->prefix;
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
}

/* forward_infer: the forward pass predict and evaluate share (inference mode). */
static void source_forward_infer(Emit *E) {
    Graph *g = E->g;
    const char *P = E->PREFIX, *p = E->prefix;
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
}

/* predict_batch (its own nodes after forward_infer, the copies of the outputs) and PFX_predict. */
static void source_predict(Emit *E) {
    Graph *g = E->g;
    const char *P = E->PREFIX, *p = E->prefix, *T = E->T;
    int shared = g->infer_shared;
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
}

/* PFX_evaluate: forward_infer, then the loss and the metrics. */
static void source_evaluate(Emit *E) {
    Graph *g = E->g;
    const char *P = E->PREFIX, *p = E->prefix, *T = E->T;
    int shared = g->infer_shared;
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
}

/* PFX_compute_gradients: the forward pass in training mode and the backward pass. */
static void source_gradients(Emit *E) {
    Graph *g = E->g;
    const char *P = E->PREFIX, *p = E->prefix, *T = E->T;
    blank(E);
    out(E, "%s %s_compute_gradients_ready(%s *m, const %s_inputs *in, const %s_targets *tg, int n, %s *grads,", T, p, p,
        p, p, T);
    out(E, "    mn_grad_ready ready, void *ctx)");
    out(E, "{");
    function_prologue(E, 1);
    out(E, "    if (n < 1 || n > %s_BATCH) return (%s)NAN;", P, T);
    for (int i = 0; i < g->nparams; i++) {
        Node *w = node(E, g->params[i]);
        if (w->trainable && g->param_grad[i] < 0) {
            out(E, "    memset(G + %d, 0, sizeof(%s) * %ld); /* %s: the loss does not depend on it */", w->param_offset, T,
                shape_size(&w->shape), w->name);
            out(E, "    if (ready) ready(ctx, %d, %ld);", w->param_offset, shape_size(&w->shape));
        }
    }
    int *order = xalloc(sizeof(int) * (size_t)(g->nparams + 1)), *ready = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    grad_order(E, order, ready);
    E->ready_param = ready;
    emit_schedule(E, SCHED_TRAIN, 0, g->sched[SCHED_TRAIN].n);
    E->ready_param = NULL;
    blank(E);
    out(E, "    (void)P;");
    out(E, "    (void)G;");
    out(E, "    (void)in;");
    out(E, "    (void)tg;");
    out(E, "    (void)ctx;");
    out(E, "    return %s;", elem(E, g->loss, "0"));
    out(E, "}");
    blank(E);
    out(E, "%s %s_compute_gradients(%s *m, const %s_inputs *in, const %s_targets *tg, int n, %s *grads)", T, p, p, p, p,
        T);
    out(E, "{");
    out(E, "    return %s_compute_gradients_ready(m, in, tg, n, grads, NULL, NULL);", p);
    out(E, "}");
}

/* PFX_train_step, PFX_save and PFX_load. */
static void source_train_save_load(Emit *E) {
    Graph *g = E->g;
    const char *P = E->PREFIX, *p = E->prefix, *T = E->T;

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

static void emit_source(Emit *E, const EmitOptions *opt) {
    source_prelude(E, opt);
    source_descriptors(E);
    source_init(E);
    source_forward_infer(E);
    source_predict(E);
    source_evaluate(E);
    source_gradients(E);
    emit_optimizer(E);
    source_train_save_load(E);
}

void emit_c(Graph *g, const EmitOptions *opt, Buf *c_out, Buf *h_out) {
    Emit E = {.g = g};
    E.prefix = opt->prefix ? opt->prefix : g->model_name;
    E.PREFIX = upper(E.prefix);
    E.T = g->f64 ? "double" : "float";
    E.fs = g->f64 ? "" : "f";
    E.b = h_out;
    emit_header(&E);
    E.b = c_out;
    emit_source(&E, opt);
}
