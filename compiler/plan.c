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
        if (off + shape_size(&p->shape) > MN_MAX_ELEMS) { /* each is at most that: no overflow */
            error_at(p->loc, "the weights are too large: with '%s' more than %ld elements", p->name ? p->name : "this",
                     MN_MAX_ELEMS);
            return;
        }
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

typedef struct Interval {
    int value;
    int first, last;
    long size, offset;
} Interval;

/* ---- first fit in O(log n) per value --------------------------------------
 * Values are placed in order of definition, so the values alive when one is
 * placed are exactly the placed ones not yet dead, and those never overlap
 * in space: first fit is "the lowest gap between live blocks that is large
 * enough". The live blocks are kept in a treap ordered by offset; each node
 * knows its subtree's lowest offset, highest end and largest gap between
 * two of its blocks, so the lowest fitting gap is found going down one
 * path. The priorities are a hash of the value's index: the plan does not
 * depend on them, only the tree's balance does. */
typedef struct Block {
    long off, end;         /* [off, end) */
    long lo, hi, gap;      /* the subtree: lowest offset, highest end, widest inner gap */
    unsigned prio;
    int left, right;       /* indices into the pool, -1 for none */
} Block;

static long max3(long a, long b, long c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

static void pull(Block *b, int t) {
    Block *n = &b[t];
    long gap = 0, lo = n->off, hi = n->end;
    if (n->left >= 0) {
        Block *l = &b[n->left];
        lo = l->lo;
        gap = max3(gap, l->gap, n->off - l->hi);
    }
    if (n->right >= 0) {
        Block *r = &b[n->right];
        hi = r->hi;
        gap = max3(gap, r->gap, r->lo - n->end);
    }
    n->lo = lo, n->hi = hi, n->gap = gap;
}

/* Splits tree t into blocks with off < key (*l) and the rest (*r). */
static void split(Block *b, int t, long key, int *l, int *r) {
    if (t < 0) {
        *l = *r = -1;
        return;
    }
    if (b[t].off < key) {
        split(b, b[t].right, key, &b[t].right, r);
        *l = t;
    } else {
        split(b, b[t].left, key, l, &b[t].left);
        *r = t;
    }
    pull(b, t);
}

/* Joins l and r, every block of l below every block of r. */
static int join(Block *b, int l, int r) {
    if (l < 0) return r;
    if (r < 0) return l;
    if (b[l].prio > b[r].prio) {
        b[l].right = join(b, b[l].right, r);
        pull(b, l);
        return l;
    }
    b[r].left = join(b, l, b[r].left);
    pull(b, r);
    return r;
}

static int insert(Block *b, int t, int x) {
    int l, r;
    split(b, t, b[x].off, &l, &r);
    return join(b, join(b, l, x), r);
}

static int erase(Block *b, int t, int x) {
    int l, mid, r;
    split(b, t, b[x].off, &l, &mid);
    split(b, mid, b[x].off + 1, &mid, &r); /* mid: the one block at that offset */
    return join(b, l, r);
}

/* The lowest offset >= `from` (the end of what precedes subtree t) where
 * `size` fits before t's blocks end, or -1. */
static long fit(const Block *b, int t, long from, long size) {
    while (t >= 0) {
        const Block *n = &b[t];
        if (n->lo - from >= size) return from;
        if (n->left >= 0) {
            const Block *l = &b[n->left];
            if (l->gap >= size) {
                t = n->left; /* the first fitting gap lies inside the left subtree */
                continue;
            }
            from = l->hi;
        }
        if (n->off - from >= size) return from;
        from = n->end;
        t = n->right;
        if (t >= 0 && b[t].lo - from < size && b[t].gap < size) return -1;
    }
    return -1;
}

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
    char *grad_of = xalloc((size_t)g->nnodes + 1); /* the parameter gradients, which live in the gradient buffer */
    for (int i = 0; i < g->nparams; i++)
        if (g->param_grad[i] >= 0) grad_of[g->param_grad[i]] = 1;
    for (int i = 0; i < s->n; i++) {
        int v = s->order[i];
        slot[v] = -1;
        const Node *n = &g->nodes[v];
        if (op_info[n->op].flags & OPF_VIEW) continue;
        if (kind == SCHED_TRAIN && grad_of[v]) continue;
        long size = shape_size(&n->shape) * (n->shape.batched ? g->train.batch : 1); /* < 2^31 * 2^20 */
        if (size > MN_MAX_ELEMS) {
            error_at(n->loc, "%s is too large at batch %d: %ld elements, at most %ld", node_desc(n), g->train.batch,
                     size, MN_MAX_ELEMS);
            return;
        }
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
     * free of every placed value alive at the same time. The values alive
     * when interval i is placed are those placed with last >= first_i;
     * they leave the treap when they die (dead[t]: the intervals whose
     * last read is at position t). O(n log n) expected for n values. */
    Block *b = xalloc(sizeof(Block) * (size_t)(niv + 1));
    int *dead_head = xalloc(sizeof(int) * (size_t)(s->n + 2)), *dead_next = xalloc(sizeof(int) * (size_t)(niv + 1));
    for (int t = 0; t <= s->n; t++) dead_head[t] = -1;
    int root = -1, expired = 0; /* positions < expired have had their dead removed */
    s->arena_size = 0;
    for (int i = 0; i < niv; i++) {
        for (; expired < iv[i].first; expired++)
            for (int j = dead_head[expired]; j >= 0; j = dead_next[j]) root = erase(b, root, j);
        long offset = 0;
        if (iv[i].size > 0 && root >= 0) {
            offset = fit(b, root, 0, iv[i].size);
            if (offset < 0) offset = b[root].hi;
        }
        if (offset + iv[i].size > MN_MAX_ELEMS) { /* offset <= the arena so far: no overflow */
            error_at(g->nodes[iv[i].value].loc, "the arena is too large: with %s more than %ld elements",
                     node_desc(&g->nodes[iv[i].value]), MN_MAX_ELEMS);
            return;
        }
        iv[i].offset = offset;
        if (offset + iv[i].size > s->arena_size) s->arena_size = offset + iv[i].size;
        s->offset[iv[i].value] = offset;
        if (iv[i].size > 0) { /* a value of no bytes is in nobody's way */
            unsigned h = (unsigned)i * 2654435761u;
            b[i] = (Block){.off = offset, .end = offset + iv[i].size, .prio = h ^ (h >> 15), .left = -1, .right = -1};
            pull(b, i);
            root = insert(b, root, i);
            dead_next[i] = dead_head[iv[i].last];
            dead_head[iv[i].last] = i;
        }
    }
    for (int i = 0; i < s->n; i++) {
        int v = s->order[i];
        if (op_info[g->nodes[v].op].flags & OPF_VIEW) s->offset[v] = s->offset[storage_root(g, v)];
    }
}

void plan_memory(Graph *g) {
    if (!g->param_grad) unreachable(); /* autodiff runs first */
    layout_params(g);
    for (int k = 0; k < SCHED_COUNT && !diag_error_count(); k++) plan_schedule(g, (SchedKind)k);
}
