/* ir.c — building, inspecting, compacting and verifying the graph IR. */
#include <limits.h>
#include <string.h>

#include "ir.h"

const OpInfo op_info[OP_COUNT] = {
#define OP(id, name, arity, flags, sign, shape, grad, emit) [OP_##id] = {name, arity, flags, sign},
#include "ops.def"
#undef OP
};

const UnaryInfo unary_info[OP_COUNT] = {
#define UNARY(id, name, fn, flags, sign, grad, reads, forward, derivative, act, kname, ktype) \
    [OP_##id] = {forward, derivative, UNARY_READS_##reads, fn, act, kname, ktype},
#include "unary.def"
#undef UNARY
};

int unary_function(const char *name) {
    for (int op = 0; op < OP_COUNT; op++)
        if (unary_info[op].fn && !strcmp(op_info[op].name, name)) return op;
    return -1;
}

Graph *ir_new(const char *model_name, const char *path) {
    Graph *g = xalloc(sizeof *g);
    g->model_name = model_name;
    g->path = path;
    g->loss = -1;
    g->train = (TrainSpec){.optimizer = OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999,
                           .epsilon = 1e-7, .momentum = 0.0, .batch = 32, .epochs = 1, .seed = 0};
    return g;
}

void ir_push(int **list, int *n, int v) {
    /* Lists grow by doubling; capacity is implied by powers of two. */
    if ((*n & (*n - 1)) == 0) {
        int cap = *n ? *n * 2 : 4;
        int *grown = xalloc(sizeof(int) * (size_t)cap);
        if (*n) memcpy(grown, *list, sizeof(int) * (size_t)*n);
        *list = grown;
    }
    (*list)[(*n)++] = v;
}

static Node *new_node(Graph *g, Op op, Loc loc) {
    if (g->nnodes == g->cap) {
        int cap = g->cap ? g->cap * 2 : 64;
        Node *grown = xalloc(sizeof(Node) * (size_t)cap);
        if (g->nnodes) memcpy(grown, g->nodes, sizeof(Node) * (size_t)g->nnodes);
        g->nodes = grown;
        g->cap = cap;
    }
    Node *n = &g->nodes[g->nnodes++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->loc = loc;
    n->dtype = DT_FLOAT;
    n->param_offset = -1;
    return n;
}

int ir_begin(Graph *g, Op op, const int *in, int nin, Loc loc) {
    if (op_info[op].arity >= 0 && nin != op_info[op].arity) unreachable();
    for (int i = 0; i < nin; i++)
        if (in[i] < 0 || in[i] >= g->nnodes) unreachable();
    Node *n = new_node(g, op, loc);
    n->nin = nin;
    n->in = xalloc(sizeof(int) * (size_t)(nin ? nin : 1));
    memcpy(n->in, in, sizeof(int) * (size_t)nin);
    return g->nnodes - 1;
}

/* A value of more than MN_MAX_ELEMS elements per sample is an error at
 * its source text (and poisons it): the generated code indexes with int. */
static int check_size(Graph *g, int v) {
    Node *n = &g->nodes[v];
    if (shape_is_poison(&n->shape) || shape_size(&n->shape) <= MN_MAX_ELEMS) return 1;
    error_at(n->loc, "%s is too large: more than %ld elements per sample", node_desc(n), MN_MAX_ELEMS);
    n->shape.rank = -1;
    return 0;
}

int ir_finish(Graph *g, int v) {
    if (!shape_infer(g, &g->nodes[v]) || !check_size(g, v)) {
        g->nodes[v].shape.rank = -1;
        return 0;
    }
    return 1;
}

int ir_add(Graph *g, Op op, const int *in, int nin, Loc loc) {
    int v = ir_begin(g, op, in, nin, loc);
    ir_finish(g, v);
    return v;
}

int ir_add1(Graph *g, Op op, int a, Loc loc) { return ir_add(g, op, &a, 1, loc); }
int ir_add2(Graph *g, Op op, int a, int b, Loc loc) {
    int in[2] = {a, b};
    return ir_add(g, op, in, 2, loc);
}
int ir_add3(Graph *g, Op op, int a, int b, int c, Loc loc) {
    int in[3] = {a, b, c};
    return ir_add(g, op, in, 3, loc);
}

int ir_source(Graph *g, Op op, Shape shape, Dtype dtype, const char *name, Loc loc) {
    if (!(op_info[op].flags & OPF_SOURCE)) unreachable();
    Node *n = new_node(g, op, loc);
    n->in = xalloc(sizeof(int));
    n->shape = shape;
    n->dtype = dtype;
    n->name = name;
    n->trainable = op == OP_PARAM;
    check_size(g, g->nnodes - 1);
    return g->nnodes - 1;
}

int ir_const(Graph *g, double value, Loc loc) {
    int v = ir_source(g, OP_CONST, shape_scalar(), DT_FLOAT, NULL, loc);
    g->nodes[v].value = value;
    return v;
}

/* ---- shapes ---------------------------------------------------------------- */

Shape shape_scalar(void) { return (Shape){0}; }

Shape shape_make(int batched, int rank, const int *dims) {
    Shape s = {0};
    s.batched = batched;
    s.rank = rank;
    for (int i = 0; i < rank; i++) s.dims[i] = dims[i];
    return s;
}

int shape_equal(const Shape *a, const Shape *b) {
    if (a->rank != b->rank || a->batched != b->batched) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

int shape_is_poison(const Shape *s) { return s->rank < 0; }

/* Saturates at LONG_MAX: a product of dimensions never wraps (a size over
 * MN_MAX_ELEMS is an error where the value is made: check_size). */
long shape_size(const Shape *s) {
    long size = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dims[i] > 0 && size > LONG_MAX / s->dims[i]) return LONG_MAX;
        size *= s->dims[i];
    }
    return size;
}

static const char *format_shape(const Shape *s, int with_batch) {
    if (s->rank < 0) return "<error>";
    Buf b = {0};
    buf_putc(&b, '[');
    int first = 1;
    if (with_batch && s->batched) {
        buf_puts(&b, "n");
        first = 0;
    }
    for (int i = 0; i < s->rank; i++) {
        buf_printf(&b, "%s%d", first ? "" : ", ", s->dims[i]);
        first = 0;
    }
    buf_putc(&b, ']');
    if (first && with_batch) return "scalar";
    return b.data;
}

const char *shape_str(const Shape *s) { return format_shape(s, 1); }

const char *node_desc(const Node *n) {
    if (n->name) return xsprintf("'%s' %s", n->name, shape_str(&n->shape));
    return xsprintf("%s %s", op_info[n->op].name, shape_str(&n->shape));
}
const char *dims_str(const Shape *s) { return format_shape(s, 0); }

/* ---- uses, compaction --------------------------------------------------------- */

int *ir_use_counts(const Graph *g) {
    int *uses = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    for (int v = 0; v < g->nnodes; v++) {
        const Node *n = &g->nodes[v];
        if (n->dead) continue;
        for (int i = 0; i < n->nin; i++) uses[n->in[i]]++;
    }
    return uses;
}

static void remap_list(int *list, int n, const int *map) {
    for (int i = 0; i < n; i++)
        if (list[i] >= 0) list[i] = map[list[i]];
}

void ir_compact(Graph *g) {
    int *map = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    int kept = 0;
    for (int v = 0; v < g->nnodes; v++) {
        if (g->nodes[v].dead) {
            map[v] = -1;
            continue;
        }
        map[v] = kept;
        if (kept != v) g->nodes[kept] = g->nodes[v];
        kept++;
    }
    g->nnodes = kept;
    for (int v = 0; v < g->nnodes; v++) {
        Node *n = &g->nodes[v];
        for (int i = 0; i < n->nin; i++) {
            n->in[i] = map[n->in[i]];
            if (n->in[i] < 0) unreachable(); /* a live node read a dead one */
        }
    }
    remap_list(g->inputs, g->ninputs, map);
    remap_list(g->targets, g->ntargets, map);
    remap_list(g->params, g->nparams, map);
    remap_list(g->outputs, g->noutputs, map);
    if (g->param_grad) remap_list(g->param_grad, g->nparams, map);
    if (g->loss >= 0) g->loss = map[g->loss];
    for (int i = 0; i < g->nmetrics; i++) g->metrics[i].value = map[g->metrics[i].value];
}

void ir_verify(Graph *g) {
    for (int v = 0; v < g->nnodes; v++) {
        Node *n = &g->nodes[v];
        const OpInfo *info = &op_info[n->op];
        if (info->arity >= 0 && n->nin != info->arity) unreachable();
        if (info->arity < 0 && n->nin < 1) unreachable();
        for (int i = 0; i < n->nin; i++)
            if (n->in[i] < 0 || n->in[i] >= v || g->nodes[n->in[i]].dead) unreachable();
        if (info->flags & OPF_SOURCE) continue;
        /* The shape a rule derives now must be the shape the node holds. */
        Shape held = n->shape;
        if (!shape_infer(g, n) || !shape_equal(&held, &n->shape)) unreachable();
    }
}

/* ---- printing ------------------------------------------------------------------ */

void ir_print(Buf *out, const Graph *g) {
    buf_printf(out, "model %s\n", g->model_name ? g->model_name : "?");
    for (int v = 0; v < g->nnodes; v++) {
        const Node *n = &g->nodes[v];
        buf_printf(out, "%%%d = %s", v, op_info[n->op].name);
        for (int i = 0; i < n->nin; i++) buf_printf(out, "%s%%%d", i ? ", " : " ", n->in[i]);
        switch (n->op) {
        case OP_CONST: buf_printf(out, " %.9g", n->value); break;
        case OP_LINEAR: buf_printf(out, " act=%s", n->act == OP_COPY ? "linear" : op_info[n->act].name); break;
        case OP_CONCAT: buf_printf(out, " axis=%d", n->axis); break;
        case OP_SLICE: buf_printf(out, " axis=%d start=%d len=%d", n->axis, n->start, n->len); break;
        case OP_LOSS_GRAD:
        case OP_UNARY_GRAD:
        case OP_PENALTY_GRAD: buf_printf(out, " of=%s", op_info[n->loss].name); break;
        default: break;
        }
        if (n->op == OP_PARAM && !n->trainable) buf_puts(out, " const");
        buf_printf(out, " : %s%s%s", n->dtype == DT_INT ? "int" : "float", n->shape.rank || n->shape.batched ? "" : " ", shape_str(&n->shape));
        if (n->name) buf_printf(out, "  ; %s", n->name);
        if (n->loc.line) buf_printf(out, "  @%d", n->loc.line);
        buf_putc(out, '\n');
    }
    for (int i = 0; i < g->noutputs; i++) buf_printf(out, "output %%%d\n", g->outputs[i]);
    if (g->loss >= 0) buf_printf(out, "loss %%%d\n", g->loss);
    for (int i = 0; g->param_grad && i < g->nparams; i++) {
        if (g->param_grad[i] < 0) buf_printf(out, "grad %%%d = zero\n", g->params[i]);
        else buf_printf(out, "grad %%%d = %%%d\n", g->params[i], g->param_grad[i]);
    }
}
