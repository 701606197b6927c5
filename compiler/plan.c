/* plan.c — the memory plan.
 *
 * 1. Weights: every PARAM gets an offset in one flat buffer, trainable ones
 *    first, so that the optimizer is one loop over [0, ntrainable) and the
 *    gradient buffer has exactly that length.
 * 2. Schedules: predict runs what the outputs need; evaluate what the loss
 *    and metrics need; train_step what the loss and the parameter gradients
 *    need. Nodes run in id order (a topological order).
 * 3. Arena: every value of a schedule that is not a source, a view or a
 *    parameter gradient gets an offset in one arena, sized for the maximum
 *    batch. Offsets come from lifetimes [defined, last read] by first fit:
 *    two values share bytes only if their lifetimes do not overlap. The
 *    arena is the largest of the three plans. Nothing is allocated at run
 *    time.
 */
#include <stdlib.h>

#include "ir.h"

#define ALIGN 16 /* elements: 64 bytes for float, a cache line */

static long round_up(long x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

static void layout_params(Graph *g) {
    int *order = xalloc(sizeof(int) * (size_t)(g->nparams + 1));
    int *grads = xalloc(sizeof(int) * (size_t)(g->nparams + 1));
    int k = 0;
    for (int pass = 1; pass >= 0; pass--)
        for (int i = 0; i < g->nparams; i++)
            if (g->nodes[g->params[i]].trainable == pass) {
                grads[k] = g->param_grad ? g->param_grad[i] : -1;
                order[k++] = g->params[i];
            }
    g->params = order;
    g->param_grad = grads;
    long off = 0;
    g->ntrainable_elems = 0;
    for (int i = 0; i < g->nparams; i++) {
        Node *p = &g->nodes[g->params[i]];
        p->param_offset = (int)off;
        off += shape_size(&p->shape);
        if (p->trainable) g->ntrainable_elems = off;
    }
    g->nparam_elems = off;
}

/* The value whose storage v uses: itself, or the root of a view chain. */
static int storage_root(const Graph *g, int v) {
    while (op_info[g->nodes[v].op].flags & OPF_VIEW) v = g->nodes[v].in[0];
    return v;
}

static int is_param_grad(const Graph *g, int v) {
    for (int i = 0; i < g->nparams; i++)
        if (g->param_grad[i] == v) return 1;
    return 0;
}

typedef struct Interval {
    int value;
    int first, last;
    long size, offset;
} Interval;

static void plan_schedule(Graph *g, SchedKind kind) {
    Schedule *s = &g->sched[kind];
    char *need = xalloc((size_t)g->nnodes + 1);
    int *roots = NULL, nroots = 0;
    if (kind == SCHED_PREDICT)
        for (int i = 0; i < g->noutputs; i++) ir_push(&roots, &nroots, g->outputs[i]);
    if (kind != SCHED_PREDICT) ir_push(&roots, &nroots, g->loss);
    if (kind == SCHED_EVAL)
        for (int i = 0; i < g->nmetrics; i++) ir_push(&roots, &nroots, g->metrics[i].value);
    if (kind == SCHED_TRAIN)
        for (int i = 0; i < g->nparams; i++)
            if (g->param_grad[i] >= 0) ir_push(&roots, &nroots, g->param_grad[i]);
    for (int i = 0; i < nroots; i++) need[roots[i]] = 1;
    for (int v = g->nnodes - 1; v >= 0; v--)
        if (need[v])
            for (int i = 0; i < g->nodes[v].nin; i++) need[g->nodes[v].in[i]] = 1;

    s->n = 0;
    s->order = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    s->offset = xalloc(sizeof(long) * (size_t)(g->nnodes + 1));
    int *pos = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    for (int v = 0; v < g->nnodes; v++) {
        s->offset[v] = -1;
        if (need[v] && !(op_info[g->nodes[v].op].flags & OPF_SOURCE)) {
            pos[v] = s->n;
            s->order[s->n++] = v;
        }
    }

    /* Lifetimes of the storage roots that live in the arena. */
    Interval *iv = xalloc(sizeof(Interval) * (size_t)(s->n + 1));
    int *slot = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    int niv = 0;
    for (int i = 0; i < s->n; i++) {
        int v = s->order[i];
        slot[v] = -1;
        const Node *n = &g->nodes[v];
        if (op_info[n->op].flags & OPF_VIEW) continue;
        if (kind == SCHED_TRAIN && is_param_grad(g, v)) continue;
        long size = shape_size(&n->shape) * (n->shape.batched ? g->train.batch : 1);
        slot[v] = niv;
        iv[niv++] = (Interval){.value = v, .first = i, .last = i, .size = round_up(size), .offset = -1};
    }
    for (int i = 0; i < s->n; i++) {
        const Node *n = &g->nodes[s->order[i]];
        for (int k = 0; k < n->nin; k++) {
            int r = storage_root(g, n->in[k]);
            if (!(op_info[g->nodes[r].op].flags & OPF_SOURCE) && slot[r] >= 0 && iv[slot[r]].last < i)
                iv[slot[r]].last = i;
        }
    }
    for (int i = 0; i < nroots; i++) {
        int r = storage_root(g, roots[i]);
        if (!(op_info[g->nodes[r].op].flags & OPF_SOURCE) && slot[r] >= 0) iv[slot[r]].last = s->n;
    }

    /* First fit, in order of definition: the lowest offset whose range is
     * free of every placed value alive at the same time. */
    s->arena_size = 0;
    for (int i = 0; i < niv; i++) {
        long offset = 0;
        int moved = 1;
        while (moved) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                int overlap_time = iv[j].first <= iv[i].last && iv[i].first <= iv[j].last;
                int overlap_space = iv[j].offset < offset + iv[i].size && offset < iv[j].offset + iv[j].size;
                if (overlap_time && overlap_space) {
                    offset = iv[j].offset + iv[j].size;
                    moved = 1;
                }
            }
        }
        iv[i].offset = offset;
        if (offset + iv[i].size > s->arena_size) s->arena_size = offset + iv[i].size;
        s->offset[iv[i].value] = offset;
    }
    for (int i = 0; i < s->n; i++) {
        int v = s->order[i];
        if (op_info[g->nodes[v].op].flags & OPF_VIEW) s->offset[v] = s->offset[storage_root(g, v)];
    }
}

void plan_memory(Graph *g) {
    if (!g->param_grad) unreachable(); /* autodiff runs first */
    layout_params(g);
    for (int k = 0; k < SCHED_COUNT; k++) plan_schedule(g, (SchedKind)k);
}
