/* check.c — model-level checks on the lowered graph.
 *
 * Shape errors are found as nodes are built (shape.c); what is left here is
 * what needs the whole model: an output and a loss exist, and warnings for
 * models that are legal but probably not what was meant: an input that
 * reaches no output, a target nothing reads, a value computed for nothing,
 * a loss that no trainable weight can change, a trainable param whose
 * gradient never changes sign (see one_signed_params).
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

/* ---- params that gradient descent drives to infinity ------------------------
 *
 * A learned loss weight (w * L), a learned penalty strength (lam * l2(W)):
 * the loss only ever grows with the param, nothing pulls it back, and
 * gradient descent drives it to minus infinity. Found by a sign analysis,
 * each op's rule from the sign column of ops.def (or unary.def; SignRule in
 * ir.h):
 *
 *   forward:  the set of signs each value can take (losses, penalties, relu,
 *             sigmoid, softmax, exp, ... are >= 0; a constant has its own;
 *             add/sub/mul/div/neg/max/where combine the sets);
 *   backward: the set of signs d(loss)/d(value) can take, from the loss
 *             (> 0) down: add and copies pass it on, sub and neg flip it
 *             for their negated operand, mul scales it by the sign of the
 *             other operand, monotone activations keep it (with 0), and
 *             every other op (matmul, losses, penalties, softmax, ops
 *             of rule SR_UNKNOWN) makes it unknown. A value used several times
 *             takes the union of its uses' sets.
 *
 * A trainable param whose set lies within >= 0 (or <= 0), and is not {0},
 * gets a warning, unless its gradient is a constant (a param only added to
 * the loss: its drift changes no other gradient). */

enum { SG_NEG = 1, SG_ZERO = 2, SG_POS = 4, SG_NONNEG = SG_ZERO | SG_POS,
       SG_NONPOS = SG_NEG | SG_ZERO, SG_ANY = 7 };

static int sg_of(double v) { return v > 0 ? SG_POS : v < 0 ? SG_NEG : v == 0 ? SG_ZERO : SG_ANY; }
static int sg_neg(int s) { return (s & SG_ZERO) | (s & SG_NEG ? SG_POS : 0) | (s & SG_POS ? SG_NEG : 0); }

/* The signs of a op b for every pair of signs the operands can take. */
static int sg_combine(int a, int b, int (*f)(int, int)) {
    int r = 0;
    for (int x = 1; x <= 4; x <<= 1)
        for (int y = 1; y <= 4; y <<= 1)
            if ((a & x) && (b & y)) r |= f(x, y);
    return r;
}
static int rank_of(int s) { return s == SG_NEG ? -1 : s == SG_ZERO ? 0 : 1; }
static int sign_add(int x, int y) {
    int a = rank_of(x), b = rank_of(y);
    return a * b < 0 ? SG_ANY : sg_of(a + b);
}
static int sign_mul(int x, int y) { return sg_of(rank_of(x) * rank_of(y)); }
static int sign_max(int x, int y) { return sg_of(rank_of(x) > rank_of(y) ? rank_of(x) : rank_of(y)); }
static int sg_add(int a, int b) { return sg_combine(a, b, sign_add); }
static int sg_mul(int a, int b) { return sg_combine(a, b, sign_mul); }
static int sg_max(int a, int b) { return sg_combine(a, b, sign_max); }
/* The signs of 1/b: unknown when b can be 0. */
static int sg_recip(int b) { return b & SG_ZERO ? SG_ANY : b; }

/* The signs a param's value can take: unknown if trained, else from its init. */
static int param_sign(const Node *p) {
    if (p->trainable) return SG_ANY;
    switch (p->init.kind) {
    case INIT_ZEROS: return SG_ZERO;
    case INIT_ONES: return SG_POS;
    case INIT_CONST: return sg_of(p->init.a);
    case INIT_UNIFORM: return p->init.a >= 0 ? SG_NONNEG : p->init.b <= 0 ? SG_NONPOS : SG_ANY;
    default: return SG_ANY;
    }
}

/* A value training never changes: a literal or a frozen param. */
static int is_constant(const Graph *g, int v) {
    const Node *n = &g->nodes[v];
    return n->op == OP_CONST || (n->op == OP_PARAM && !n->trainable);
}

static int is_penalty(const Graph *g, int v) { return g->nodes[v].op == OP_L2 || g->nodes[v].op == OP_L1; }

/* The warning for each trainable param whose derivative's signs `der` lie
 * within >= 0 or <= 0 (and vary: `varies`). */
static void warn_one_signed(Graph *g, const int *der, const char *varies) {
    for (int i = 0; i < g->nparams; i++) {
        int p = g->params[i];
        const Node *pn = &g->nodes[p];
        int d = der[p];
        if (!pn->trainable || !d || d == SG_ZERO || !varies[p]) continue;
        int up = (d & ~SG_NONNEG) == 0, down = (d & ~SG_NONPOS) == 0;
        if (!up && !down) continue;
        /* The first use on the way to the loss says what the param is. */
        int use = -1, penalty = 0;
        for (int u = p + 1; u <= g->loss && use < 0; u++) {
            const Node *un = &g->nodes[u];
            if (!der[u] || un->dead) continue;
            for (int k = 0; k < un->nin; k++)
                if (un->in[k] == p) use = u;
        }
        if (use >= 0) {
            const Node *un = &g->nodes[use];
            penalty = (un->op == OP_MUL || un->op == OP_DIV) && un->nin == 2 &&
                      is_penalty(g, un->in[un->in[0] == p ? 1 : 0]);
        }
        const char *effect = up ? "only ever increases the loss (its gradient is never negative), so gradient "
                                  "descent drives it to minus infinity"
                                : "only ever decreases the loss as it grows (its gradient is never positive), so "
                                  "gradient descent drives it to plus infinity";
        if (penalty)
            warning_at(pn->loc, "param '%s' %s, where the penalty rewards large weights; keep a penalty "
                       "strength fixed (trainable=false)", pn->name, effect);
        else
            warning_at(pn->loc, "param '%s' %s; for a learned loss weight use a bounded form such as "
                       "exp(-s) * L + s", pn->name, effect);
        if (use >= 0 && g->nodes[use].loc.line > 0) {
            const Node *un = &g->nodes[use];
            if (penalty) note_at(un->loc, "'%s' scales this %s penalty", pn->name, op_info[g->nodes[un->in[un->in[0] == p ? 1 : 0]].op].name);
            else if (un->op == OP_MUL || un->op == OP_DIV) note_at(un->loc, "'%s' weights this loss term", pn->name);
            else note_at(un->loc, "'%s' reaches the loss here", pn->name);
        }
    }
}

static void one_signed_params(Graph *g) {
    int nn = g->nnodes;
    int *val = xalloc(sizeof(int) * (size_t)(nn + 1));
    int *der = xalloc(sizeof(int) * (size_t)(nn + 1));  /* 0: no path to the loss */
    char *varies = xalloc((size_t)nn + 1);               /* the derivative is not a constant */
    SignRule *rule = xalloc(sizeof(SignRule) * (size_t)(nn + 1));

    for (int v = 0; v < nn; v++) {
        const Node *n = &g->nodes[v];
        const int *in = n->in;
        rule[v] = op_info[n->op].sign;
        int s = SG_ANY;
        if (n->op == OP_CONST) s = sg_of(n->value);
        else if (n->op == OP_PARAM) s = param_sign(n);
        else if (n->dead || n->nin < 1) s = SG_ANY;
        else switch (rule[v]) {
        case SR_NOGRAD_01: case SR_NONNEG_OPAQUE: case SR_NONNEG_INCR: s = SG_NONNEG; break;
        case SR_NOGRAD_SAME: case SR_SAME_INCR: case SR_PASS: case SR_PICK: s = val[in[0]]; break;
        case SR_SUM: s = sg_add(val[in[0]], val[in[0]]); break;
        case SR_POW: s = n->nin == 2 && !(val[in[0]] & SG_NEG) ? SG_NONNEG : SG_ANY; break;
        case SR_NEG: s = sg_neg(val[in[0]]); break;
        case SR_ADD: s = n->nin == 2 ? sg_add(val[in[0]], val[in[1]]) : SG_ANY; break;
        case SR_SUB: s = n->nin == 2 ? sg_add(val[in[0]], sg_neg(val[in[1]])) : SG_ANY; break;
        case SR_MUL: s = n->nin == 2 ? sg_mul(val[in[0]], val[in[1]]) : SG_ANY; break;
        case SR_DIV: s = n->nin == 2 ? sg_mul(val[in[0]], sg_recip(val[in[1]])) : SG_ANY; break;
        case SR_MAX: s = n->nin == 2 ? sg_max(val[in[0]], val[in[1]]) : SG_ANY; break;
        case SR_WHERE: s = n->nin == 3 ? val[in[1]] | val[in[2]] : SG_ANY; break;
        case SR_CONCAT:
            s = 0;
            for (int i = 0; i < n->nin; i++) s |= val[in[i]];
            break;
        case SR_NOGRAD: case SR_INCR: case SR_UNKNOWN: s = SG_ANY; break;
        }
        val[v] = s ? s : SG_ANY;
    }

    der[g->loss] = SG_POS;
    for (int v = g->loss; v >= 0; v--) {
        const Node *n = &g->nodes[v];
        int d = der[v];
        if (!d || n->dead || n->nin < 1) continue;
        if (n->nin > 64) { /* more inputs than tracked here: unknown */
            for (int i = 0; i < n->nin; i++) der[n->in[i]] = SG_ANY, varies[n->in[i]] = 1;
            continue;
        }
        int d_in[64];
        char var[64];
        int nin = n->nin;
        for (int i = 0; i < nin; i++) d_in[i] = SG_ANY, var[i] = 1;
        switch (rule[v]) {
        case SR_NOGRAD: case SR_NOGRAD_01: case SR_NOGRAD_SAME: nin = 0; break; /* no gradient reaches the inputs */
        case SR_PASS: case SR_ADD: case SR_CONCAT: case SR_SUM:
            for (int i = 0; i < nin; i++) d_in[i] = d, var[i] = varies[v];
            break;
        case SR_SUB:
            if (nin == 2) d_in[0] = d, d_in[1] = sg_neg(d), var[0] = var[1] = varies[v];
            break;
        case SR_NEG: d_in[0] = sg_neg(d), var[0] = varies[v]; break;
        case SR_MUL:
            if (nin == 2) {
                d_in[0] = sg_mul(d, val[n->in[1]]);
                d_in[1] = sg_mul(d, val[n->in[0]]);
                var[0] = varies[v] || !is_constant(g, n->in[1]);
                var[1] = varies[v] || !is_constant(g, n->in[0]);
            }
            break;
        case SR_DIV: /* d/da = 1/b, d/db = -a/b^2 */
            if (nin == 2) {
                d_in[0] = sg_mul(d, sg_recip(val[n->in[1]]));
                d_in[1] = val[n->in[1]] & SG_ZERO ? SG_ANY : sg_neg(sg_mul(d, val[n->in[0]]));
                var[0] = varies[v] || !is_constant(g, n->in[1]);
            }
            break;
        case SR_MAX: case SR_WHERE: case SR_NONNEG_INCR: case SR_SAME_INCR: case SR_INCR: case SR_PICK:
            /* a 0/1 mask or a positive slope: the sign stays, 0 joins it */
            for (int i = 0; i < nin; i++) d_in[i] = d | SG_ZERO;
            if (rule[v] == SR_WHERE) d_in[0] = 0; /* the mask */
            break;
        case SR_NONNEG_OPAQUE: case SR_POW: case SR_UNKNOWN: break;
        }
        for (int i = 0; i < nin; i++) {
            if (!d_in[i]) continue;
            der[n->in[i]] |= d_in[i];
            varies[n->in[i]] |= var[i];
        }
    }
    warn_one_signed(g, der, varies);
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
    one_signed_params(g);
}
