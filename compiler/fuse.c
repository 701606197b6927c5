/* fuse.c — rewrites that merge ops into cheaper equivalents.
 *
 * fuse_logits (before autodiff): a cross-entropy read through the sigmoid
 * or softmax that produced its probabilities is rewritten to the logits
 * form, as Keras does: stable (no log of a rounded 0), and its gradient
 * with respect to the logits is simply p - t.
 *
 * fuse_linear (after autodiff): matmul, then + bias (or several: a layer's
 * bias and a learned per-feature offset added to its output), then an
 * elementwise activation (unary.def's act column) becomes one LINEAR node:
 * one GEMM and one pass over its output. The biases are added in the graph's order, so the sums
 * round as before.
 * It is safe after autodiff because the backward pass never reads the
 * matmul's or the bias add's own output where the activation's derivative
 * reads its output y; one that reads its input x (gelu) makes that input a
 * value with two users, and the use counts leave the activation out.
 */
#include "ir.h"

void fuse_logits(Graph *g) {
    for (int v = 0; v < g->nnodes; v++) {
        Node *n = &g->nodes[v];
        Op from = n->op;
        if (from != OP_BCE && from != OP_CCE && from != OP_SPARSE_CCE) continue;
        Node *p = &g->nodes[n->in[0]];
        Op want = from == OP_BCE ? OP_SIGMOID : OP_SOFTMAX;
        if (p->op != want) continue;
        n->in[0] = p->in[0];
        n->op = from == OP_BCE ? OP_BCE_LOGITS : from == OP_CCE ? OP_CCE_LOGITS : OP_SPARSE_CCE_LOGITS;
    }
    ir_verify(g);
}

/* The one node that reads v, or -1 when v has no user or several. */
static int sole_user(const Graph *g, const int *uses, int v) {
    if (uses[v] != 1) return -1;
    for (int u = v + 1; u < g->nnodes; u++) {
        const Node *n = &g->nodes[u];
        if (n->dead) continue;
        for (int i = 0; i < n->nin; i++)
            if (n->in[i] == v) return u;
    }
    unreachable();
}

#define MAX_BIASES 4

/* add is v + b, with b a vector param as long as v's last dimension */
static int is_bias_of(const Graph *g, const Node *add, int m) {
    if (add->op != OP_ADD || add->in[0] != m) return 0;
    const Node *b = &g->nodes[add->in[1]];
    const Shape *ms = &g->nodes[m].shape;
    return b->op == OP_PARAM && !b->shape.batched && b->shape.rank == 1 &&
           b->shape.dims[0] == ms->dims[ms->rank - 1];
}

void fuse_linear(Graph *g) {
    int *uses = ir_use_counts(g);
    for (int m = 0; m < g->nnodes; m++) {
        if (g->nodes[m].op != OP_MATMUL || g->nodes[m].dead) continue;
        int x = g->nodes[m].in[0], w = g->nodes[m].in[1];
        int last = m, nbias = 0, bias[MAX_BIASES], add[MAX_BIASES];
        Op act = OP_COPY; /* none */
        int u = sole_user(g, uses, m);
        while (u >= 0 && nbias < MAX_BIASES && is_bias_of(g, &g->nodes[u], last)) {
            bias[nbias] = g->nodes[u].in[1];
            add[nbias++] = u;
            last = u;
            u = sole_user(g, uses, last);
        }
        if (u >= 0 && g->nodes[u].in[0] == last) {
            Op op = g->nodes[u].op;
            if (unary_info[op].act) { /* an activation of unary.def */
                act = op;
                last = u;
            }
        }
        if (last == m) continue; /* a bare product stays a matmul */
        /* The last node of the chain becomes the linear node, so every
         * reader of the chain's value keeps its id. */
        Node *l = &g->nodes[last];
        l->op = OP_LINEAR;
        l->act = act;
        l->nin = 2 + nbias;
        l->in = xalloc(sizeof(int) * (size_t)(2 + nbias));
        l->in[0] = x;
        l->in[1] = w;
        for (int i = 0; i < nbias; i++) {
            l->in[2 + i] = bias[i];
            if (add[i] != last) g->nodes[add[i]].dead = 1;
        }
        g->nodes[m].dead = 1;
    }
    ir_compact(g);
    ir_verify(g);
}
