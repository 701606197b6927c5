/* emit_loss.c — losses (accumulated in double), their gradients, the
 * weight penalties, and the accuracy metric.
 */
#include "emit.h"

#define EPS "1e-7" /* Keras's epsilon, for clipping probabilities */

/* The loss value, accumulated in double for every model type. */
void emit_loss(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *ys = &in(E, n, 0)->shape;
    int C = last_dim(ys);
    const char *y = ptr(E, n->in[0]), *t = ptr(E, n->in[1]);
    head(E, n, op_info[n->op].name);
    out(E, "    {");
    out(E, "        double acc = 0.0;");
    switch (n->op) {
    case OP_BCE:
    case OP_BCE_LOGITS:
    case OP_MSE:
    case OP_MAE:
        out(E, "        for (int i = 0; i < %s; i++) {", count(ys));
        out(E, "            const double y = %s[i], t = %s[i];", y, t);
        if (n->op == OP_BCE) {
            out(E, "            const double p = y < %s ? %s : y > 1 - %s ? 1 - %s : y;", EPS, EPS, EPS, EPS);
            out(E, "            acc -= t * log(p) + (1 - t) * log(1 - p);");
        } else if (n->op == OP_BCE_LOGITS) {
            out(E, "            acc += (y > 0 ? y : 0) - y * t + log1p(exp(-fabs(y)));");
        } else if (n->op == OP_MSE) {
            out(E, "            acc += (y - t) * (y - t);");
        } else {
            out(E, "            acc += fabs(y - t);");
        }
        out(E, "        }");
        out(E, "        %s[0] = (%s)(acc / (%s));", ptr(E, v), E->T, count(ys));
        break;
    case OP_CCE:
    case OP_CCE_LOGITS:
    case OP_SPARSE_CCE:
    case OP_SPARSE_CCE_LOGITS: {
        int sparse = n->op == OP_SPARSE_CCE || n->op == OP_SPARSE_CCE_LOGITS;
        int logits = n->op == OP_CCE_LOGITS || n->op == OP_SPARSE_CCE_LOGITS;
        out(E, "        for (int r = 0; r < %s; r++) {", rows(ys));
        out(E, "            const %s *y = %s + (size_t)r * %d;", E->T, y, C);
        if (sparse) {
            out(E, "            const int32_t id = %s[r];", t);
            out(E, "            if (id < 0 || id >= %d) continue; /* out of range: no loss */", C);
        } else {
            out(E, "            const %s *t = %s + (size_t)r * %d;", E->T, t, C);
        }
        if (logits) {
            out(E, "            double max = y[0], sum = 0.0;");
            out(E, "            for (int j = 1; j < %d; j++) max = y[j] > max ? y[j] : max;", C);
            out(E, "            for (int j = 0; j < %d; j++) sum += exp(y[j] - max);", C);
            out(E, "            const double lse = max + log(sum);");
            if (sparse) out(E, "            acc += lse - y[id];");
            else out(E, "            for (int j = 0; j < %d; j++) acc += t[j] * (lse - y[j]);", C);
        } else {
            out(E, "            double sum = 0.0;");
            out(E, "            for (int j = 0; j < %d; j++) sum += y[j];", C);
            if (sparse) {
                out(E, "            double p = y[id] / sum;");
                out(E, "            p = p < %s ? %s : p > 1 - %s ? 1 - %s : p;", EPS, EPS, EPS, EPS);
                out(E, "            acc -= log(p);");
            } else {
                out(E, "            for (int j = 0; j < %d; j++) {", C);
                out(E, "                double p = y[j] / sum;");
                out(E, "                p = p < %s ? %s : p > 1 - %s ? 1 - %s : p;", EPS, EPS, EPS, EPS);
                out(E, "                acc -= t[j] * log(p);");
                out(E, "            }");
            }
        }
        out(E, "        }");
        out(E, "        %s[0] = (%s)(acc / (%s));", ptr(E, v), E->T, rows(ys));
        break;
    }
    default: unreachable();
    }
    out(E, "    }");
}

/* (y, t, dL) -> dL/dy for each loss. */
void emit_loss_grad(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *ys = &in(E, n, 0)->shape;
    int C = last_dim(ys);
    const char *y = ptr(E, n->in[0]), *t = ptr(E, n->in[1]), *dy = ptr(E, v);
    head(E, n, xsprintf("d %s / dy", op_info[n->loss].name));
    out(E, "    {");
    switch (n->loss) {
    case OP_BCE:
    case OP_BCE_LOGITS:
    case OP_MSE:
    case OP_MAE:
        out(E, "        const double g = (double)%s / (%s);", elem(E, n->in[2], "0"), count(ys));
        out(E, "        for (int i = 0; i < %s; i++) {", count(ys));
        out(E, "            const double y = %s[i], t = %s[i];", y, t);
        if (n->loss == OP_BCE)
            out(E, "            %s[i] = (%s)(y > %s && y < 1 - %s ? g * ((1 - t) / (1 - y) - t / y) : 0.0);", dy, E->T, EPS, EPS);
        else if (n->loss == OP_BCE_LOGITS)
            out(E, "            %s[i] = (%s)(g * (1 / (1 + exp(-y)) - t));", dy, E->T);
        else if (n->loss == OP_MSE)
            out(E, "            %s[i] = (%s)(g * 2 * (y - t));", dy, E->T);
        else
            out(E, "            %s[i] = (%s)(g * ((y > t) - (y < t)));", dy, E->T);
        out(E, "        }");
        break;
    case OP_CCE:
    case OP_CCE_LOGITS:
    case OP_SPARSE_CCE:
    case OP_SPARSE_CCE_LOGITS: {
        int sparse = n->loss == OP_SPARSE_CCE || n->loss == OP_SPARSE_CCE_LOGITS;
        int logits = n->loss == OP_CCE_LOGITS || n->loss == OP_SPARSE_CCE_LOGITS;
        out(E, "        const double g = (double)%s / (%s);", elem(E, n->in[2], "0"), rows(ys));
        out(E, "        for (int r = 0; r < %s; r++) {", rows(ys));
        out(E, "            const %s *y = %s + (size_t)r * %d;", E->T, y, C);
        out(E, "            %s *dy = %s + (size_t)r * %d;", E->T, dy, C);
        if (sparse) {
            out(E, "            const int32_t id = %s[r];", t);
            out(E, "            if (id < 0 || id >= %d) {", C);
            out(E, "                memset(dy, 0, sizeof(%s) * %d);", E->T, C);
            out(E, "                continue;");
            out(E, "            }");
        } else {
            out(E, "            const %s *t = %s + (size_t)r * %d;", E->T, t, C);
        }
        const char *tj = sparse ? "(j == id)" : "t[j]";
        if (logits) {
            /* d/dz of sum_j t_j (lse - z_j) = p * sum(t) - t */
            out(E, "            double max = y[0], sum = 0.0, tsum = %s;", sparse ? "1.0" : "0.0");
            out(E, "            for (int j = 1; j < %d; j++) max = y[j] > max ? y[j] : max;", C);
            out(E, "            for (int j = 0; j < %d; j++) sum += exp(y[j] - max);", C);
            if (!sparse) out(E, "            for (int j = 0; j < %d; j++) tsum += t[j];", C);
            out(E, "            for (int j = 0; j < %d; j++)", C);
            out(E, "                dy[j] = (%s)(g * (exp(y[j] - max) / sum * tsum - %s));", E->T, tj);
        } else {
            /* p = y / sum(y), clipped; L = -sum t log p;
             * dL/dy_i = (q_i - sum_j q_j p_j) / sum(y), q_j = -t_j / p_j where not clipped */
            out(E, "            double sum = 0.0, qp = 0.0;");
            out(E, "            for (int j = 0; j < %d; j++) sum += y[j];", C);
            out(E, "            for (int j = 0; j < %d; j++) {", C);
            out(E, "                const double p = y[j] / sum;");
            out(E, "                const double q = p > %s && p < 1 - %s ? -%s / p : 0.0;", EPS, EPS, tj);
            out(E, "                dy[j] = (%s)q;", E->T);
            out(E, "                qp += q * p;");
            out(E, "            }");
            out(E, "            for (int j = 0; j < %d; j++) dy[j] = (%s)(g * (dy[j] - qp) / sum);", C, E->T);
        }
        out(E, "        }");
        break;
    }
    default: unreachable();
    }
    out(E, "    }");
}

void emit_penalty(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *ws = &in(E, n, 0)->shape;
    head(E, n, op_info[n->op].name);
    out(E, "    {");
    out(E, "        double acc = 0.0;");
    out(E, "        for (int i = 0; i < %s; i++) {", count(ws));
    out(E, "            const double w = %s;", elem(E, n->in[0], "i"));
    out(E, "            acc += %s;", n->op == OP_L2 ? "w * w" : "fabs(w)");
    out(E, "        }");
    out(E, "        %s = (%s)acc;", elem(E, v, "0"), E->T);
    out(E, "    }");
}

void emit_penalty_grad(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    head(E, n, xsprintf("d %s / dw", op_info[n->loss].name));
    out(E, "    for (int i = 0; i < %s; i++) {", count(&n->shape));
    out(E, "        const %s w = %s, dl = %s;", E->T, elem(E, n->in[0], "i"), elem(E, n->in[1], "0"));
    if (n->loss == OP_L2) out(E, "        %s = 2 * w * dl;", elem(E, v, "i"));
    else out(E, "        %s = ((w > 0) - (w < 0)) * dl;", elem(E, v, "i"));
    out(E, "    }");
}

void emit_accuracy(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    Shape *ys = &in(E, n, 0)->shape;
    int C = last_dim(ys), sparse = in(E, n, 1)->dtype == DT_INT;
    const char *y = ptr(E, n->in[0]), *t = ptr(E, n->in[1]);
    head(E, n, C == 1 ? "accuracy, threshold 0.5" : "accuracy, argmax");
    out(E, "    {");
    out(E, "        long correct = 0;");
    if (C == 1) {
        /* Keras's binary_accuracy: the thresholded prediction equals the target */
        out(E, "        for (int i = 0; i < %s; i++) correct += (%s[i] > 0.5 ? 1.0 : 0.0) == (double)%s[i];", count(ys), y, t);
        out(E, "        %s = (%s)((double)correct / (%s));", elem(E, v, "0"), E->T, count(ys));
    } else {
        out(E, "        for (int r = 0; r < %s; r++) {", rows(ys));
        out(E, "            const %s *y = %s + (size_t)r * %d;", E->T, y, C);
        out(E, "            int best = 0;");
        out(E, "            for (int j = 1; j < %d; j++) best = y[j] > y[best] ? j : best;", C);
        if (sparse) {
            out(E, "            correct += best == %s[r];", t);
        } else {
            out(E, "            const %s *t = %s + (size_t)r * %d;", E->T, t, C);
            out(E, "            int want = 0;");
            out(E, "            for (int j = 1; j < %d; j++) want = t[j] > t[want] ? j : want;", C);
            out(E, "            correct += best == want;");
        }
        out(E, "        }");
        out(E, "        %s = (%s)((double)correct / (%s));", elem(E, v, "0"), E->T, rows(ys));
    }
    out(E, "    }");
}
