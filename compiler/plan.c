/* plan.c — the memory plan.
 *
 * 1. Weights: every PARAM gets an offset in one flat buffer, trainable ones
 *    first, so that the optimizer is one loop over [0, ntrainable) and the
 *    gradient buffer has exactly that length.
 * 2. Schedules: predict runs what the outputs need; evaluate what the loss
 *    and metrics need; train_step what the loss and the parameter gradients
 *    need. Predict and evaluate (both in inference mode) first run the
 *    nodes both need, in id order, at the same offsets: emit_c emits them
 *    once, as forward_infer(); then each its own rest, in id order.
 *    train_step runs its nodes in id order.
 * 3. Arena: every value of a schedule that is not a source, a view or a
 *    parameter gradient gets an offset in one arena, sized for the maximum
 *    batch. Offsets come from lifetimes [defined, last read] by first fit:
 *    two values share bytes only if their lifetimes do not overlap. One
 *    plan covers predict and evaluate (plan_inference), one train_step;
 *    the arena is the larger. Nothing is allocated at run time.
 */
#include <stdarg.h>
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

/* The nodes a schedule runs: what its roots need, sources excepted. */
static char *needed(const Graph *g, SchedKind kind, int **roots, int *nroots) {
    char *need = xalloc((size_t)g->nnodes + 1);
    *roots = NULL;
    *nroots = 0;
    if (kind == SCHED_PREDICT)
        for (int i = 0; i < g->noutputs; i++) ir_push(roots, nroots, g->outputs[i]);
    if (kind != SCHED_PREDICT) ir_push(roots, nroots, g->loss);
    if (kind == SCHED_EVAL)
        for (int i = 0; i < g->nmetrics; i++) ir_push(roots, nroots, g->metrics[i].value);
    if (kind == SCHED_TRAIN)
        for (int i = 0; i < g->nparams; i++)
            if (g->param_grad[i] >= 0) ir_push(roots, nroots, g->param_grad[i]);
    for (int i = 0; i < *nroots; i++) need[(*roots)[i]] = 1;
    for (int v = g->nnodes - 1; v >= 0; v--)
        if (need[v])
            for (int i = 0; i < g->nodes[v].nin; i++) need[g->nodes[v].in[i]] = 1;
    for (int v = 0; v < g->nnodes; v++)
        if (op_info[g->nodes[v].op].flags & OPF_SOURCE) need[v] = 0;
    return need;
}

/* Offsets for the nodes order[0..n) run in that order (a topological one):
 * root r must stay intact until position keep[r] (a node's own last read
 * otherwise). offset[] gets the offsets, -1 elsewhere; returns the arena
 * size, or -1 after reporting an arena that is too large. */
static long place(const Graph *g, const int *order, int n, const int *keep, int train, long *offset) {
    for (int v = 0; v < g->nnodes; v++) offset[v] = -1;

    /* Lifetimes of the storage roots that live in the arena. */
    Interval *iv = xalloc(sizeof(Interval) * (size_t)(n + 1));
    int *slot = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    int niv = 0;
    char *grad_of = xalloc((size_t)g->nnodes + 1); /* the parameter gradients, which live in the gradient buffer */
    for (int i = 0; train && i < g->nparams; i++)
        if (g->param_grad[i] >= 0) grad_of[g->param_grad[i]] = 1;
    for (int i = 0; i < n; i++) {
        int v = order[i];
        slot[v] = -1;
        const Node *nd = &g->nodes[v];
        if (op_info[nd->op].flags & OPF_VIEW) continue;
        if (grad_of[v]) continue;
        long size = shape_size(&nd->shape) * (nd->shape.batched ? g->train.batch : 1); /* < 2^31 * 2^20 */
        if (size > MN_MAX_ELEMS) {
            error_at(nd->loc, "%s is too large at batch %d: %ld elements, at most %ld", node_desc(nd), g->train.batch,
                     size, MN_MAX_ELEMS);
            return -1;
        }
        slot[v] = niv;
        iv[niv++] = (Interval){.value = v, .first = i, .last = i, .size = round_up(size), .offset = -1};
    }
    for (int i = 0; i < n; i++) {
        const Node *nd = &g->nodes[order[i]];
        for (int k = 0; k < nd->nin; k++) {
            int r = storage_root(g, nd->in[k]);
            if (!(op_info[g->nodes[r].op].flags & OPF_SOURCE) && slot[r] >= 0 && iv[slot[r]].last < i)
                iv[slot[r]].last = i;
        }
    }
    for (int i = 0; i < n; i++) {
        int v = order[i];
        if (keep[v] < 0) continue;
        int r = storage_root(g, v);
        if (!(op_info[g->nodes[r].op].flags & OPF_SOURCE) && slot[r] >= 0 && iv[slot[r]].last < keep[v])
            iv[slot[r]].last = keep[v];
    }

    /* First fit, in order of definition: the lowest offset whose range is
     * free of every placed value alive at the same time. The values alive
     * when interval i is placed are those placed with last >= first_i;
     * they leave the treap when they die (dead[t]: the intervals whose
     * last read is at position t). O(n log n) expected for n values. */
    Block *b = xalloc(sizeof(Block) * (size_t)(niv + 1));
    int *dead_head = xalloc(sizeof(int) * (size_t)(n + 2)), *dead_next = xalloc(sizeof(int) * (size_t)(niv + 1));
    for (int t = 0; t <= n; t++) dead_head[t] = -1;
    int root = -1, expired = 0; /* positions < expired have had their dead removed */
    long arena = 0;
    for (int i = 0; i < niv; i++) {
        for (; expired < iv[i].first; expired++)
            for (int j = dead_head[expired]; j >= 0; j = dead_next[j]) root = erase(b, root, j);
        long off = 0;
        if (iv[i].size > 0 && root >= 0) {
            off = fit(b, root, 0, iv[i].size);
            if (off < 0) off = b[root].hi;
        }
        if (off + iv[i].size > MN_MAX_ELEMS) { /* off <= the arena so far: no overflow */
            error_at(g->nodes[iv[i].value].loc, "the arena is too large: with %s more than %ld elements",
                     node_desc(&g->nodes[iv[i].value]), MN_MAX_ELEMS);
            return -1;
        }
        iv[i].offset = off;
        if (off + iv[i].size > arena) arena = off + iv[i].size;
        offset[iv[i].value] = off;
        if (iv[i].size > 0) { /* a value of no bytes is in nobody's way */
            unsigned h = (unsigned)i * 2654435761u;
            b[i] = (Block){.off = off, .end = off + iv[i].size, .prio = h ^ (h >> 15), .left = -1, .right = -1};
            pull(b, i);
            root = insert(b, root, i);
            dead_next[i] = dead_head[iv[i].last];
            dead_head[iv[i].last] = i;
        }
    }
    for (int i = 0; i < n; i++) {
        int v = order[i];
        if (op_info[g->nodes[v].op].flags & OPF_VIEW) offset[v] = offset[storage_root(g, v)];
    }
    return arena;
}

static int *keep_array(const Graph *g) {
    int *keep = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    for (int v = 0; v < g->nnodes; v++) keep[v] = -1;
    return keep;
}

/* train_step: its nodes in id order, its roots kept to the end. */
static void plan_train(Graph *g) {
    Schedule *s = &g->sched[SCHED_TRAIN];
    int *roots, nroots;
    char *need = needed(g, SCHED_TRAIN, &roots, &nroots);
    s->order = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    s->offset = xalloc(sizeof(long) * (size_t)(g->nnodes + 1));
    s->n = 0;
    for (int v = 0; v < g->nnodes; v++)
        if (need[v]) s->order[s->n++] = v;
    int *keep = keep_array(g);
    for (int i = 0; i < nroots; i++) keep[roots[i]] = s->n;
    s->arena_size = place(g, s->order, s->n, keep, 1, s->offset);
}

/* predict and evaluate run in the same (inference) mode: the nodes both
 * need (g->infer_shared of them, first in both orders, at the same
 * offsets) are emitted once, as forward_infer(). One plan covers the
 * three parts in the order shared, evaluate's rest, predict's rest:
 * what evaluate's rest returns is kept to its end, what predict's rest
 * reads of the shared part to its read, the outputs to the end; each
 * function's values are then apart from all that is alive beside them. */
static void plan_inference(Graph *g) {
    int *proots, npr, *eroots, ner;
    char *needp = needed(g, SCHED_PREDICT, &proots, &npr), *neede = needed(g, SCHED_EVAL, &eroots, &ner);
    int *order = xalloc(sizeof(int) * (size_t)(2 * g->nnodes + 1)), n = 0;
    for (int v = 0; v < g->nnodes; v++)
        if (needp[v] && neede[v]) order[n++] = v;
    int shared = n;
    for (int v = 0; v < g->nnodes; v++)
        if (neede[v] && !needp[v]) order[n++] = v;
    int eval_end = n;
    for (int v = 0; v < g->nnodes; v++)
        if (needp[v] && !neede[v]) order[n++] = v;
    int *keep = keep_array(g);
    for (int i = 0; i < ner; i++) keep[eroots[i]] = eval_end;
    for (int i = 0; i < npr; i++) keep[proots[i]] = n;
    long *offset = xalloc(sizeof(long) * (size_t)(g->nnodes + 1));
    long arena = place(g, order, n, keep, 0, offset);
    g->infer_shared = shared;
    for (int k = SCHED_PREDICT; k <= SCHED_EVAL; k++) {
        Schedule *s = &g->sched[k];
        char *need = k == SCHED_PREDICT ? needp : neede;
        s->order = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
        s->offset = xalloc(sizeof(long) * (size_t)(g->nnodes + 1));
        s->n = 0;
        for (int i = 0; i < n; i++)
            if (need[order[i]]) s->order[s->n++] = order[i];
        for (int v = 0; v < g->nnodes; v++) s->offset[v] = need[v] ? offset[v] : -1;
        s->arena_size = arena;
    }
}

void plan_memory(Graph *g) {
    if (!g->param_grad) unreachable(); /* autodiff runs first */
    layout_params(g);
    if (!diag_error_count()) plan_inference(g);
    if (!diag_error_count()) plan_train(g);
}

/* ---- checking the plan (MNC_VERIFY) and printing it (--dump=plan) ----------
 * plan_check recomputes what the plan must satisfy from the graph alone,
 * independently of the treap above: the weights' layout; per schedule,
 * the order (ids increasing, no sources, inputs sources or run earlier,
 * the roots run), the lifetimes as plan_schedule defines them ([defined,
 * last read], reads through views counting for the view's root, the roots
 * alive to the end; views, sources and, in train, the parameter gradients
 * outside the arena), and that no two values alive at once share bytes:
 * O(n log n), by a sweep in order of definition over the live blocks
 * sorted by offset (a Fenwick tree over their ranks), checking each new
 * block against its neighbours only (the live blocks are disjoint). */

static const char *const sched_names[SCHED_COUNT] = {"predict", "evaluate", "train_step"};

typedef struct Check {
    FILE *report;
    long failures;
} Check;

static void failed(Check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failed(Check *c, const char *fmt, ...) {
    if (c->report && c->failures < 20) {
        va_list ap;
        va_start(ap, fmt);
        fputs("mnc: plan_verify: ", c->report);
        vfprintf(c->report, fmt, ap);
        fputc('\n', c->report);
        va_end(ap);
    }
    c->failures++;
}

static void check_params(const Graph *g, Check *c) {
    long off = 0, trainable = 0;
    int frozen_seen = 0;
    for (int i = 0; i < g->nparams; i++) {
        int p = g->params[i];
        if (p < 0 || p >= g->nnodes || g->nodes[p].op != OP_PARAM) {
            failed(c, "params[%d] = %%%d is not a param", i, p);
            continue;
        }
        const Node *n = &g->nodes[p];
        if (n->param_offset != off) failed(c, "param %%%d at %d in the weights, expected %ld", p, n->param_offset, off);
        if (n->trainable && frozen_seen) failed(c, "trainable param %%%d after a constant one", p);
        frozen_seen |= !n->trainable;
        off += shape_size(&n->shape);
        if (n->trainable) trainable = off;
        int d = g->param_grad[i];
        if (d >= g->nnodes || (d >= 0 && !shape_equal(&g->nodes[d].shape, &n->shape)))
            failed(c, "the gradient %%%d of param %%%d is not a value of its shape", d, p);
    }
    if (off != g->nparam_elems || trainable != g->ntrainable_elems)
        failed(c, "the weights are %ld elements (%ld trainable), the plan says %ld (%ld)", off, trainable,
               g->nparam_elems, g->ntrainable_elems);
}

/* Fenwick tree over 1..n: counts of live blocks by rank of offset. */
static void fw_add(int *t, int n, int i, int d) {
    for (; i <= n; i += i & -i) t[i] += d;
}
static int fw_prefix(const int *t, int i) {
    int s = 0;
    for (; i > 0; i -= i & -i) s += t[i];
    return s;
}
/* The smallest i with prefix(i) >= k (1 <= k <= the total). */
static int fw_kth(const int *t, int n, int k) {
    int i = 0, step = 1;
    while (step * 2 <= n) step *= 2;
    for (; step; step /= 2)
        if (i + step <= n && t[i + step] < k) {
            i += step;
            k -= t[i];
        }
    return i + 1;
}

typedef struct Placed {
    long off;
    int v;
} Placed;

static int by_offset(const void *a, const void *b) {
    const Placed *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    return (x->v > y->v) - (x->v < y->v);
}

/* One schedule under check: what its order, roots and lifetimes give. */
typedef struct SchedCheck {
    const Graph *g;
    const Schedule *s;
    SchedKind kind;
    const char *name;
    Check *c;
    int n, nn;
    int *pos;         /* each node's place in the order, -1 if not run */
    int *roots, nroots; /* what the schedule's function returns */
    char *grad;       /* in train: the parameter gradients, in the gradient buffer */
    char *in_arena;   /* values with a block in the arena */
    int *last;        /* a block's last read (n: a root, alive to the end) */
    long *size;
    int nplaced;      /* blocks of a nonzero size */
} SchedCheck;

/* Every node run once, no source or dead node, every input run before its
 * reader. 0 when the rest cannot be checked. */
static int check_order(SchedCheck *S) {
    const Graph *g = S->g;
    const Schedule *s = S->s;
    int n = S->n, nn = S->nn;
    S->pos = xalloc(sizeof(int) * (size_t)(nn + 1));
    for (int v = 0; v < nn; v++) S->pos[v] = -1;
    for (int i = 0; i < n; i++) {
        int v = s->order[i];
        if (v < 0 || v >= nn || S->pos[v] >= 0) {
            failed(S->c, "schedule %s: order[%d] = %%%d is out of range or run twice", S->name, i, v);
            return 0;
        }
        S->pos[v] = i;
        if (op_info[g->nodes[v].op].flags & OPF_SOURCE) failed(S->c, "schedule %s: runs the source %%%d", S->name, v);
        if (g->nodes[v].dead) failed(S->c, "schedule %s: runs the dead node %%%d", S->name, v);
    }
    for (int i = 0; i < n; i++) {
        const Node *nd = &g->nodes[s->order[i]];
        for (int k = 0; k < nd->nin; k++) {
            int u = nd->in[k];
            if (u < 0 || u >= nn) {
                failed(S->c, "schedule %s: %%%d reads %%%d, not a value", S->name, s->order[i], u);
                return 0;
            }
            if (!((op_info[g->nodes[u].op].flags & OPF_SOURCE) || (S->pos[u] >= 0 && S->pos[u] < i)))
                failed(S->c, "schedule %s: %%%d reads %%%d, neither a source nor run before it", S->name, s->order[i],
                       u);
        }
    }
    return 1;
}

/* The roots (outputs, loss, metrics, in train the parameter gradients) are
 * computed. 0 when one is not. */
static int check_roots(SchedCheck *S) {
    const Graph *g = S->g;
    int nn = S->nn;
    if (S->kind == SCHED_PREDICT)
        for (int i = 0; i < g->noutputs; i++) ir_push(&S->roots, &S->nroots, g->outputs[i]);
    else ir_push(&S->roots, &S->nroots, g->loss);
    if (S->kind == SCHED_EVAL)
        for (int i = 0; i < g->nmetrics; i++) ir_push(&S->roots, &S->nroots, g->metrics[i].value);
    S->grad = xalloc((size_t)nn + 1);
    for (int i = 0; i < g->nparams; i++) {
        int d = g->param_grad[i];
        if (S->kind != SCHED_TRAIN || d < 0 || d >= nn) continue;
        S->grad[d] = 1;
        ir_push(&S->roots, &S->nroots, d);
    }
    for (int i = 0; i < S->nroots; i++) {
        int r = S->roots[i];
        if (r < 0 || r >= nn || !((op_info[g->nodes[r].op].flags & OPF_SOURCE) || S->pos[r] >= 0)) {
            failed(S->c, "schedule %s: the result %%%d is not computed", S->name, r);
            return 0;
        }
    }
    return 1;
}

/* Each block's size and lifetime, and its offset inside the arena and
 * aligned; views at their storage's offset; nothing else has one. */
static void check_offsets(SchedCheck *S) {
    const Graph *g = S->g;
    const Schedule *s = S->s;
    int n = S->n, nn = S->nn;
    S->in_arena = xalloc((size_t)nn + 1);
    S->last = xalloc(sizeof(int) * (size_t)(nn + 1));
    S->size = xalloc(sizeof(long) * (size_t)(nn + 1));
    for (int i = 0; i < n; i++) {
        int v = s->order[i];
        const Node *nd = &g->nodes[v];
        if (op_info[nd->op].flags & OPF_VIEW) continue;
        if (S->grad[v]) {
            if (s->offset[v] != -1) failed(S->c, "schedule %s: the gradient %%%d is in the arena", S->name, v);
            continue;
        }
        S->in_arena[v] = 1;
        S->last[v] = i;
        S->size[v] = round_up(shape_size(&nd->shape) * (nd->shape.batched ? g->train.batch : 1));
        if (S->size[v] > 0) S->nplaced++;
        long off = s->offset[v];
        if (off < 0 || off % ALIGN || off > s->arena_size - S->size[v])
            failed(S->c, "schedule %s: %%%d at %ld, %ld elements: outside the arena of %ld or not aligned to %d",
                   S->name, v, off, S->size[v], s->arena_size, ALIGN);
    }
    if (s->arena_size < 0 || s->arena_size > MN_MAX_ELEMS)
        failed(S->c, "schedule %s: an arena of %ld elements", S->name, s->arena_size);
    for (int i = 0; i < n; i++) {
        const Node *nd = &g->nodes[s->order[i]];
        for (int k = 0; k < nd->nin; k++) {
            int r = storage_root(g, nd->in[k]);
            if (S->in_arena[r] && S->last[r] < i) S->last[r] = i;
        }
    }
    for (int i = 0; i < S->nroots; i++) {
        int r = storage_root(g, S->roots[i]);
        if (S->in_arena[r]) S->last[r] = n;
    }
    for (int v = 0; v < nn; v++) {
        if (S->pos[v] >= 0 && (op_info[g->nodes[v].op].flags & OPF_VIEW)) {
            if (s->offset[v] != s->offset[storage_root(g, v)])
                failed(S->c, "schedule %s: the view %%%d at %ld, its storage %%%d at %ld", S->name, v, s->offset[v],
                       storage_root(g, v), s->offset[storage_root(g, v)]);
        } else if (S->pos[v] < 0 && s->offset[v] != -1) {
            failed(S->c, "schedule %s: %%%d is not run but has the offset %ld", S->name, v, s->offset[v]);
        }
    }
}

/* No two blocks alive at once share bytes. The sweep: blocks enter in order
 * of definition and leave after their last read; the live ones are ranked
 * by offset in a Fenwick tree, and a new block can only overlap its two
 * neighbours by offset (the live blocks are disjoint, or already reported). */
static void check_sweep(SchedCheck *S) {
    const Schedule *s = S->s;
    int n = S->n, nn = S->nn, nplaced = S->nplaced;
    Placed *byoff = xalloc(sizeof(Placed) * (size_t)(nplaced + 1));
    int k = 0;
    for (int i = 0; i < n; i++) {
        int v = s->order[i];
        if (S->in_arena[v] && S->size[v] > 0) byoff[k++] = (Placed){s->offset[v], v};
    }
    qsort(byoff, (size_t)nplaced, sizeof *byoff, by_offset);
    int *rank = xalloc(sizeof(int) * (size_t)(nn + 1)); /* 1-based */
    for (int r = 0; r < nplaced; r++) rank[byoff[r].v] = r + 1;
    int *tree = xalloc(sizeof(int) * (size_t)(nplaced + 2));
    int *dead_head = xalloc(sizeof(int) * (size_t)(n + 2)), *dead_next = xalloc(sizeof(int) * (size_t)(nn + 1));
    for (int t = 0; t <= n; t++) dead_head[t] = -1;
    int expired = 0, live = 0;
    for (int i = 0; i < n; i++) {
        int v = s->order[i];
        if (!S->in_arena[v] || S->size[v] == 0) continue;
        for (; expired < i; expired++)
            for (int u = dead_head[expired]; u >= 0; u = dead_next[u]) {
                fw_add(tree, nplaced, rank[u], -1);
                live--;
            }
        long off = s->offset[v], end = off + S->size[v];
        int before = fw_prefix(tree, rank[v] - 1);
        int near[2] = {before > 0 ? fw_kth(tree, nplaced, before) : 0,
                       before < live ? fw_kth(tree, nplaced, before + 1) : 0};
        for (int j = 0; j < 2; j++) {
            if (!near[j]) continue;
            int u = byoff[near[j] - 1].v;
            long uoff = s->offset[u], uend = uoff + S->size[u];
            if (uoff < end && off < uend)
                failed(S->c, "schedule %s: %%%d [%d, %d] at [%ld, %ld) overlaps %%%d [%d, %d] at [%ld, %ld)", S->name,
                       v, i, S->last[v], off, end, u, S->pos[u], S->last[u], uoff, uend);
        }
        fw_add(tree, nplaced, rank[v], 1);
        live++;
        dead_next[v] = dead_head[S->last[v]];
        dead_head[S->last[v]] = v;
    }
}

static void check_schedule(const Graph *g, SchedKind kind, Check *c) {
    SchedCheck S = {.g = g, .s = &g->sched[kind], .kind = kind, .name = sched_names[kind], .c = c, .nn = g->nnodes};
    if (!S.s->order || !S.s->offset || S.s->n < 0 || S.s->n > g->nnodes) {
        failed(c, "schedule %s: not planned", S.name);
        return;
    }
    S.n = S.s->n;
    if (!check_order(&S) || !check_roots(&S)) return;
    check_offsets(&S);
    check_sweep(&S);
}

/* forward_infer: the first infer_shared nodes of predict and evaluate are
 * the same nodes at the same offsets. */
static void check_shared(const Graph *g, Check *c) {
    const Schedule *p = &g->sched[SCHED_PREDICT], *e = &g->sched[SCHED_EVAL];
    if (!p->order || !e->order) return; /* reported */
    if (g->infer_shared < 0 || g->infer_shared > p->n || g->infer_shared > e->n) {
        failed(c, "%d shared nodes, but predict runs %d and evaluate %d", g->infer_shared, p->n, e->n);
        return;
    }
    for (int i = 0; i < g->infer_shared; i++) {
        int v = p->order[i];
        if (e->order[i] != v) failed(c, "shared node %d: %%%d in predict, %%%d in evaluate", i, v, e->order[i]);
        else if (p->offset[v] != e->offset[v])
            failed(c, "shared node %%%d: at %ld in predict, %ld in evaluate", v, p->offset[v], e->offset[v]);
    }
}

long plan_check(const Graph *g, FILE *report) {
    Check c = {report, 0};
    if (!g->param_grad) {
        failed(&c, "no gradients: autodiff has not run");
        return c.failures;
    }
    check_params(g, &c);
    for (int k = 0; k < SCHED_COUNT; k++) check_schedule(g, (SchedKind)k, &c);
    check_shared(g, &c);
    if (report && c.failures > 20) fprintf(report, "mnc: plan_verify: %ld failures in all\n", c.failures);
    return c.failures;
}

void plan_verify(const Graph *g) {
    if (plan_check(g, stderr)) unreachable();
}

void plan_print(Buf *out, const Graph *g) {
    buf_printf(out, "weights %ld elements, %ld trainable\n", g->nparam_elems, g->ntrainable_elems);
    for (int i = 0; i < g->nparams; i++) {
        const Node *p = &g->nodes[g->params[i]];
        buf_printf(out, "param %%%d @%d +%ld", g->params[i], p->param_offset, shape_size(&p->shape));
        if (g->param_grad[i] >= 0) buf_printf(out, " grad %%%d", g->param_grad[i]);
        if (p->name) buf_printf(out, "  ; %s", p->name);
        buf_putc(out, '\n');
    }
    char *grad = xalloc((size_t)g->nnodes + 1);
    for (int i = 0; i < g->nparams; i++)
        if (g->param_grad[i] >= 0) grad[g->param_grad[i]] = 1;
    for (int k = 0; k < SCHED_COUNT; k++) {
        const Schedule *s = &g->sched[k];
        buf_printf(out, "schedule %s: %d nodes, arena %ld elements (batch %d)\n", sched_names[k], s->n, s->arena_size,
                   g->train.batch);
        for (int i = 0; i < s->n; i++) {
            int v = s->order[i];
            if (k != SCHED_TRAIN && i == 0 && g->infer_shared) buf_printf(out, "  forward_infer: %d nodes\n", g->infer_shared);
            if (k != SCHED_TRAIN && i == g->infer_shared && i) buf_puts(out, "  its own:\n");
            const Node *n = &g->nodes[v];
            buf_printf(out, "  %%%d", v);
            if (op_info[n->op].flags & OPF_VIEW) {
                int r = storage_root(g, v);
                if (s->offset[v] >= 0) buf_printf(out, " @%ld view of %%%d", s->offset[v], r);
                else buf_printf(out, " view of %%%d, outside the arena", r);
            } else if (k == SCHED_TRAIN && grad[v]) {
                buf_puts(out, " in the gradient buffer");
            } else {
                long size = round_up(shape_size(&n->shape) * (n->shape.batched ? g->train.batch : 1));
                buf_printf(out, " @%ld +%ld", s->offset[v], size);
            }
            buf_putc(out, '\n');
        }
    }
}
