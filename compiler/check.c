/* check.c — model-level checks on the lowered graph.
 *
 * Shape errors are found as nodes are built (shape.c); what is left here is
 * what needs the whole model: an output and a loss exist, and warnings for
 * models that are legal but probably not what was meant: an input that
 * reaches no output, a target nothing reads, a value computed for nothing,
 * a loss that no trainable weight can change.
 */
#include "ir.h"

/* reach[v] = 1 for every ancestor of the roots (the roots included). */
static char *ancestors(const Graph *g, const int *roots, int nroots) {
    char *reach = xalloc((size_t)g->nnodes + 1);
    for (int i = 0; i < nroots; i++)
        if (roots[i] >= 0) reach[roots[i]] = 1;
    for (int v = g->nnodes - 1; v >= 0; v--) {
        if (!reach[v]) continue;
        const Node *n = &g->nodes[v];
        for (int i = 0; i < n->nin; i++) reach[n->in[i]] = 1;
    }
    return reach;
}

void check_graph(Graph *g) {
    if (g->noutputs == 0) error_at((Loc){0}, "the model has no 'output' statement: predict would return nothing");
    if (g->loss < 0 && diag_error_count() == 0)
        error_at((Loc){0}, "the model has no 'loss' statement: train_step needs one (e.g. loss bce(y, label))");
    if (diag_error_count()) return; /* the graph is incomplete; warnings would mislead */

    char *to_output = ancestors(g, g->outputs, g->noutputs);
    int roots[2] = {g->loss, -1};
    char *to_loss = ancestors(g, roots, 1);
    int *uses = ir_use_counts(g);

    for (int i = 0; i < g->ninputs; i++) {
        const Node *in = &g->nodes[g->inputs[i]];
        if (!to_output[g->inputs[i]])
            warning_at(in->loc, "input '%s' reaches no output%s", in->name,
                       to_loss[g->inputs[i]] ? " (only the loss reads it)" : "");
    }
    for (int i = 0; i < g->ntargets; i++) {
        const Node *t = &g->nodes[g->targets[i]];
        if (!uses[g->targets[i]]) warning_at(t->loc, "target '%s' is never used by the loss or a metric", t->name);
    }
    for (int v = 0; v < g->nnodes; v++) {
        const Node *n = &g->nodes[v];
        if (n->name && !(op_info[n->op].flags & OPF_SOURCE) && !uses[v] && !to_output[v] && !to_loss[v]) {
            int is_metric = 0;
            for (int i = 0; i < g->nmetrics; i++) is_metric |= g->metrics[i].value == v;
            if (!is_metric) warning_at(n->loc, "'%s' is computed but never used", n->name);
        }
    }
    int trainable_reaches = 0;
    for (int i = 0; i < g->nparams; i++) {
        const Node *p = &g->nodes[g->params[i]];
        if (p->trainable && to_loss[g->params[i]]) trainable_reaches = 1;
    }
    if (!trainable_reaches)
        warning_at(g->nodes[g->loss].loc, "the loss depends on no trainable weight: training cannot change it");
}
