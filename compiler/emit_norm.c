/* emit_norm.c — normalisation and dropout; the schedule decides the form
 * (training in compute_gradients, inference in predict and evaluate).
 */
#include "emit.h"

static int training(Emit *E) { return E->sched == SCHED_TRAIN; }

/* A param the generated code updates (moving averages): m->params, not P. */
static const char *writable(Emit *E, int v) { return xsprintf("(m->params + %d)", node(E, root_of(E, v))->param_offset); }

void emit_norm(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes), C = last_dim(&n->shape);
    const char *x = ptr(E, n->in[0]), *y = ptr(E, v);
    if (n->op == OP_LAYERNORM) {
        head(E, n, xsprintf("layernorm over the last axis, epsilon %s", shortest(n->value, 0)));
        out(E, "    for (int r = 0; r < %s; r++) {", rows(&n->shape));
        out(E, "        const %s *xr = %s + (size_t)r * %d;", E->T, x, C);
        out(E, "        %s *yr = %s + (size_t)r * %d;", E->T, y, C);
        out(E, "        double mean = 0, var = 0;");
        out(E, "        for (int j = 0; j < %d; j++) mean += xr[j];", C);
        out(E, "        mean /= %d;", C);
        out(E, "        for (int j = 0; j < %d; j++) var += (xr[j] - mean) * (xr[j] - mean);", C);
        out(E, "        const double inv = 1 / sqrt(var / %d + %s);", C, shortest(n->value, 0));
        out(E, "        for (int j = 0; j < %d; j++) yr[j] = (%s)((xr[j] - mean) * inv);", C, E->T);
        out(E, "    }");
        return;
    }
    const char *mm = training(E) ? writable(E, n->in[1]) : ptr(E, n->in[1]);
    const char *mv = training(E) ? writable(E, n->in[2]) : ptr(E, n->in[2]);
    const char *R = rows(&n->shape);
    if (!training(E)) {
        head(E, n, "batchnorm, inference: the moving statistics");
        out(E, "    for (int r = 0; r < %s; r++)", R);
        out(E, "        for (int c = 0; c < %d; c++)", C);
        out(E, "            %s[(size_t)r * %d + c] = (%s)((%s[(size_t)r * %d + c] - %s[c]) / sqrt((double)%s[c] + %s));", y, C,
            E->T, x, C, mm, mv, shortest(n->value, 0));
        return;
    }
    head(E, n, xsprintf("batchnorm, training: batch statistics; moving averages, momentum %s", shortest(n->momentum, 0)));
    out(E, "    for (int c = 0; c < %d; c++) {", C);
    out(E, "        double mean = 0, var = 0;");
    out(E, "        for (int r = 0; r < %s; r++) mean += %s[(size_t)r * %d + c];", R, x, C);
    out(E, "        mean /= (%s);", R);
    out(E, "        for (int r = 0; r < %s; r++) {", R);
    out(E, "            const double d = %s[(size_t)r * %d + c] - mean;", x, C);
    out(E, "            var += d * d;");
    out(E, "        }");
    out(E, "        var /= (%s);", R);
    out(E, "        const double inv = 1 / sqrt(var + %s);", shortest(n->value, 0));
    out(E, "        for (int r = 0; r < %s; r++)", R);
    out(E, "            %s[(size_t)r * %d + c] = (%s)((%s[(size_t)r * %d + c] - mean) * inv);", y, C, E->T, x, C);
    out(E, "        %s[c] = (%s)(%s * %s[c] + (1 - %s) * mean);", mm, E->T, shortest(n->momentum, 0), mm, shortest(n->momentum, 0));
    out(E, "        %s[c] = (%s)(%s * %s[c] + (1 - %s) * var);", mv, E->T, shortest(n->momentum, 0), mv, shortest(n->momentum, 0));
    out(E, "    }");
}

/* dx = (dy - mean(dy) - xhat mean(dy xhat)) / sigma over each normalised
 * group: a row (layernorm) or a channel across the batch (batchnorm); sigma
 * from x again. */
void emit_norm_grad(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes), C = last_dim(&n->shape), ln = n->loss == OP_LAYERNORM;
    const char *x = ptr(E, n->in[0]), *xh = ptr(E, n->in[1]), *dy = ptr(E, n->in[2]), *dx = ptr(E, v);
    const char *groups = ln ? rows(&n->shape) : xsprintf("%d", C), *size = ln ? xsprintf("%d", C) : rows(&n->shape);
    /* element k of group g */
    const char *at = ln ? xsprintf("(size_t)g * %d + k", C) : xsprintf("(size_t)k * %d + g", C);
    head(E, n, xsprintf("d %s / dx", op_info[n->loss].name));
    out(E, "    for (int g = 0; g < %s; g++) {", groups);
    out(E, "        double mean = 0, var = 0, mdy = 0, mdyx = 0;");
    out(E, "        for (int k = 0; k < %s; k++) mean += %s[%s];", size, x, at);
    out(E, "        mean /= (%s);", size);
    out(E, "        for (int k = 0; k < %s; k++) {", size);
    out(E, "            const double d = %s[%s] - mean;", x, at);
    out(E, "            var += d * d;");
    out(E, "            mdy += %s[%s];", dy, at);
    out(E, "            mdyx += (double)%s[%s] * %s[%s];", dy, at, xh, at);
    out(E, "        }");
    out(E, "        const double inv = 1 / sqrt(var / (%s) + %s);", size, shortest(n->value, 0));
    out(E, "        mdy /= (%s);", size);
    out(E, "        mdyx /= (%s);", size);
    out(E, "        for (int k = 0; k < %s; k++)", size);
    out(E, "            %s[%s] = (%s)((%s[%s] - mdy - %s[%s] * mdyx) * inv);", dx, at, E->T, dy, at, xh, at);
    out(E, "    }");
}

void emit_dropout_mask(Emit *E, Node *n) {
    if (!training(E)) {
        out(E, "    /* dropout mask: not drawn in inference */");
        return;
    }
    double keep = 1 - n->value;
    head(E, n, xsprintf("dropout mask, rate %s, from the model's RNG", shortest(n->value, 0)));
    out(E, "    for (int i = 0; i < %s; i++)", count(&n->shape));
    out(E, "        %s = mn_rng_uniform(&m->rng) < %s ? %s : %s;", elem(E, (int)(n - E->g->nodes), "i"), shortest(keep, 0),
        lit(E, 1 / keep), lit(E, 0));
}

void emit_dropout(Emit *E, Node *n) {
    int v = (int)(n - E->g->nodes);
    if (!training(E)) {
        head(E, n, "dropout, inference: the identity");
        out(E, "    memcpy(%s, %s, sizeof(%s) * (size_t)(%s));", ptr(E, v), ptr(E, n->in[0]), E->T, count(&n->shape));
        return;
    }
    head(E, n, "dropout, training");
    out(E, "    for (int i = 0; i < %s; i++) %s = %s * %s;", count(&n->shape), elem(E, v, "i"), elem(E, n->in[0], "i"),
        elem(E, n->in[1], "i"));
}
