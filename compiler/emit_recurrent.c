/* emit_recurrent.c — the LSTM and GRU scans (one GEMM per step on strided
 * rows of the states) and their backward passes.
 */
#include "emit.h"

/* ---- LSTM: states S[b, k] = i f g o c h (each u wide) after processing step k;
 * step k reads time t = k, or T-1-k going backwards ----------------------------- */

static const char *time_of(Node *n, int T) { return n->start ? xsprintf("%d - k", T - 1) : "k"; }

void emit_lstm_scan(Emit *E, Node *n) {
    Node *zx = in(E, n, 0);
    int T = zx->shape.dims[0], u = n->len, v = (int)(n - E->g->nodes);
    const char *S = ptr(E, v), *Z = ptr(E, n->in[0]), *U = ptr(E, n->in[1]);
    head(E, n, xsprintf("lstm scan, %d units%s", u, n->start ? ", backwards" : ""));
    out(E, "    for (int k = 0; k < %d; k++) {", T);
    out(E, "        static const %s zero[%d]; /* the state before the first step */", E->T, u);
    out(E, "        const int t = %s;", time_of(n, T));
    out(E, "        /* z = x_t W + b (precomputed for every step) + h_{k-1} U */");
    out(E, "        for (int b = 0; b < n; b++)");
    out(E, "            memcpy(%s + ((size_t)b * %d + k) * %d, %s + ((size_t)b * %d + t) * %d, sizeof(%s) * %d);", S, T, 6 * u, Z,
        T, 4 * u, E->T, 4 * u);
    out(E, "        if (k > 0)");
    out(E, "            %s(CblasNoTrans, CblasNoTrans, n, %d, %d, %s, %s + (size_t)(k - 1) * %d + %d, %d, %s, %d, %s,",
        rt(E, "gemm"), 4 * u, u, lit(E, 1), S, 6 * u, 5 * u, T * 6 * u, U, 4 * u, lit(E, 1));
    out(E, "                        %s + (size_t)k * %d, %d);", S, 6 * u, T * 6 * u);
    out(E, "        for (int b = 0; b < n; b++) {");
    out(E, "            %s *s = %s + ((size_t)b * %d + k) * %d;", E->T, S, T, 6 * u);
    out(E, "            const %s *c_prev = k > 0 ? s - %d + %d : zero;", E->T, 6 * u, 4 * u);
    out(E, "            MN_VEC");
    out(E, "            for (int j = 0; j < %d; j++) {", u);
    out(E, "                const %s i = %s, f = %s;", E->T, act_expr(E, OP_SIGMOID, xsprintf("s[j]")),
        act_expr(E, OP_SIGMOID, xsprintf("s[%d + j]", u)));
    out(E, "                const %s g = %s(s[%d + j]), o = %s;", E->T, math(E, "tanh"), 2 * u,
        act_expr(E, OP_SIGMOID, xsprintf("s[%d + j]", 3 * u)));
    out(E, "                const %s c = f * c_prev[j] + i * g;", E->T);
    out(E, "                s[j] = i;");
    out(E, "                s[%d + j] = f;", u);
    out(E, "                s[%d + j] = g;", 2 * u);
    out(E, "                s[%d + j] = o;", 3 * u);
    out(E, "                s[%d + j] = c;", 4 * u);
    out(E, "                s[%d + j] = o * %s(c);", 5 * u, math(E, "tanh"));
    out(E, "            }");
    out(E, "        }");
    out(E, "    }");
}

/* h of the last step, or of every step (in processing order, as Keras).
 * The states of a recurrent layer keep h in their last u slots. */
void emit_rnn_h(Emit *E, Node *n) {
    Node *st = in(E, n, 0);
    int T = st->shape.dims[0], W = st->shape.dims[1], u = n->len;
    const char *S = ptr(E, n->in[0]), *H = ptr(E, (int)(n - E->g->nodes));
    head(E, n, n->axis ? "recurrent outputs, every step" : "recurrent output, last step");
    out(E, "    for (int b = 0; b < n; b++)");
    if (n->axis) {
        out(E, "        for (int k = 0; k < %d; k++)", T);
        out(E, "            memcpy(%s + ((size_t)b * %d + k) * %d, %s + ((size_t)b * %d + k) * %d + %d, sizeof(%s) * %d);", H, T, u,
            S, T, W, W - u, E->T, u);
    } else {
        out(E, "        memcpy(%s + (size_t)b * %d, %s + ((size_t)b * %d + %d) * %d + %d, sizeof(%s) * %d);", H, u, S, T, T - 1,
            W, W - u, E->T, u);
    }
}

void emit_rnn_h_grad(Emit *E, Node *n) {
    int T = n->shape.dims[0], W = n->shape.dims[1], u = n->len;
    const char *dS = ptr(E, (int)(n - E->g->nodes)), *dH = ptr(E, n->in[0]);
    head(E, n, "d rnn_h / dstates");
    out(E, "    memset(%s, 0, sizeof(%s) * (size_t)n * %d);", dS, E->T, T * W);
    out(E, "    for (int b = 0; b < n; b++)");
    if (n->axis) {
        out(E, "        for (int k = 0; k < %d; k++)", T);
        out(E, "            memcpy(%s + ((size_t)b * %d + k) * %d + %d, %s + ((size_t)b * %d + k) * %d, sizeof(%s) * %d);", dS, T,
            W, W - u, dH, T, u, E->T, u);
    } else {
        out(E, "        memcpy(%s + ((size_t)b * %d + %d) * %d + %d, %s + (size_t)b * %d, sizeof(%s) * %d);", dS, T, T - 1, W,
            W - u, dH, u, E->T, u);
    }
}

/* Backpropagation through time. dz (time order) doubles as the carry: before
 * step k writes its row, that row holds dh (first u) and dc (next u) from
 * the step after it. */
void emit_lstm_scan_grad(Emit *E, Node *n) {
    Node *st = in(E, n, 0);
    int T = st->shape.dims[0], u = n->len, v = (int)(n - E->g->nodes);
    const char *S = ptr(E, n->in[0]), *U = ptr(E, n->in[1]), *dS = ptr(E, n->in[2]), *dZ = ptr(E, v);
    const char *T_ = E->T;
    head(E, n, "lstm backpropagation through time");
    out(E, "    {");
    out(E, "        const int last = %s;", n->start ? "0" : xsprintf("%d", T - 1));
    out(E, "        for (int b = 0; b < n; b++) memset(%s + ((size_t)b * %d + last) * %d, 0, sizeof(%s) * %d);", dZ, T, 4 * u,
        T_, 2 * u);
    out(E, "    }");
    out(E, "    for (int k = %d; k >= 0; k--) {", T - 1);
    out(E, "        const int t = %s;", time_of(n, T));
    out(E, "        const int t_prev = %s; /* the row of step k - 1 */", n->start ? xsprintf("%d - (k - 1)", T - 1) : "k - 1");
    out(E, "        static const %s zero[%d]; /* c before the first step */", T_, u);
    out(E, "        %s sink[%d];               /* the carry out of the first step */", T_, 2 * u);
    out(E, "        for (int b = 0; b < n; b++) {");
    out(E, "            const %s *s = %s + ((size_t)b * %d + k) * %d;", T_, S, T, 6 * u);
    out(E, "            const %s *c_prev = k > 0 ? s - %d : zero;", T_, 2 * u);
    out(E, "            const %s *ds = %s + ((size_t)b * %d + k) * %d;", T_, dS, T, 6 * u);
    out(E, "            %s *dz = %s + ((size_t)b * %d + t) * %d;", T_, dZ, T, 4 * u);
    out(E, "            %s *carry_prev = k > 0 ? %s + ((size_t)b * %d + t_prev) * %d : sink;", T_, dZ, T, 4 * u);
    out(E, "            MN_VEC");
    out(E, "            for (int j = 0; j < %d; j++) {", u);
    out(E, "                const %s i = s[j], f = s[%d + j], g = s[%d + j], o = s[%d + j], c = s[%d + j];", T_, u, 2 * u,
        3 * u, 4 * u);
    out(E, "                const %s tc = %s(c);", T_, math(E, "tanh"));
    out(E, "                const %s dh = dz[j] + ds[%d + j];", T_, 5 * u);
    out(E, "                const %s dc = dz[%d + j] + ds[%d + j] + dh * o * (1 - tc * tc);", T_, u, 4 * u);
    out(E, "                dz[j] = dc * g * i * (1 - i);");
    out(E, "                dz[%d + j] = dc * c_prev[j] * f * (1 - f);", u);
    out(E, "                dz[%d + j] = dc * i * (1 - g * g);", 2 * u);
    out(E, "                dz[%d + j] = dh * tc * o * (1 - o);", 3 * u);
    out(E, "                carry_prev[%d + j] = dc * f;", u);
    out(E, "            }");
    out(E, "        }");
    out(E, "        /* dh for step k - 1: dz U^T */");
    out(E, "        if (k > 0)");
    out(E, "            %s(CblasNoTrans, CblasTrans, n, %d, %d, %s, %s + (size_t)t * %d, %d, %s, %d, %s,",
        rt(E, "gemm"), u, 4 * u, lit(E, 1), dZ, 4 * u, T * 4 * u, U, 4 * u, lit(E, 0));
    out(E, "                        %s + (size_t)t_prev * %d, %d);", dZ, 4 * u, T * 4 * u);
    out(E, "    }");
}

/* ---- GRU (reset_after): states S[b, k] = z r hh inh h, inh = (h U + b1)_h ---- */

void emit_gru_scan(Emit *E, Node *n) {
    Node *zx = in(E, n, 0);
    int T = zx->shape.dims[0], u = n->len, v = (int)(n - E->g->nodes);
    const char *S = ptr(E, v), *Z = ptr(E, n->in[0]), *U = ptr(E, n->in[1]), *B = ptr(E, n->in[2]), *T_ = E->T;
    head(E, n, xsprintf("gru scan, %d units%s", u, n->start ? ", backwards" : ""));
    out(E, "    for (int k = 0; k < %d; k++) {", T);
    out(E, "        static const %s zero[%d]; /* the state before the first step */", T_, u);
    out(E, "        const int t = %s;", time_of(n, T));
    out(E, "        /* inner = h_{k-1} U, into the first 3u slots of step k */");
    out(E, "        if (k > 0)");
    out(E, "            %s(CblasNoTrans, CblasNoTrans, n, %d, %d, %s, %s + (size_t)(k - 1) * %d + %d, %d, %s, %d, %s,",
        rt(E, "gemm"), 3 * u, u, lit(E, 1), S, 5 * u, 4 * u, T * 5 * u, U, 3 * u, lit(E, 0));
    out(E, "                        %s + (size_t)k * %d, %d);", S, 5 * u, T * 5 * u);
    out(E, "        else");
    out(E, "            for (int b = 0; b < n; b++) memset(%s + (size_t)b * %d, 0, sizeof(%s) * %d);", S, T * 5 * u, T_, 3 * u);
    out(E, "        for (int b = 0; b < n; b++) {");
    out(E, "            %s *s = %s + ((size_t)b * %d + k) * %d;", T_, S, T, 5 * u);
    out(E, "            const %s *x = %s + ((size_t)b * %d + t) * %d, *b0 = %s, *b1 = %s + %d;", T_, Z, T, 3 * u, B, B, 3 * u);
    out(E, "            const %s *h_prev = k > 0 ? s - %d + %d : zero;", T_, 5 * u, 4 * u);
    out(E, "            MN_VEC");
    out(E, "            for (int j = 0; j < %d; j++) {", u);
    out(E, "                const %s z = %s;", T_, act_expr(E, OP_SIGMOID, xsprintf("(x[j] + b0[j] + s[j] + b1[j])")));
    out(E, "                const %s r = %s;", T_,
        act_expr(E, OP_SIGMOID, xsprintf("(x[%d + j] + b0[%d + j] + s[%d + j] + b1[%d + j])", u, u, u, u)));
    out(E, "                const %s inh = s[%d + j] + b1[%d + j];", T_, 2 * u, 2 * u);
    out(E, "                const %s hh = %s(x[%d + j] + b0[%d + j] + r * inh);", T_, math(E, "tanh"), 2 * u, 2 * u);
    out(E, "                s[j] = z;");
    out(E, "                s[%d + j] = r;", u);
    out(E, "                s[%d + j] = hh;", 2 * u);
    out(E, "                s[%d + j] = inh;", 3 * u);
    out(E, "                s[%d + j] = z * h_prev[j] + (1 - z) * hh;", 4 * u);
    out(E, "            }");
    out(E, "        }");
    out(E, "    }");
}

/* Backpropagation through time for the GRU. The output row of a time step
 * [d zx (3u) | d inner (3u)] holds, before its step writes it, the dh
 * carried from the step after it (first u). */
void emit_gru_scan_grad(Emit *E, Node *n) {
    Node *st = in(E, n, 0);
    int T = st->shape.dims[0], u = n->len, v = (int)(n - E->g->nodes);
    const char *S = ptr(E, n->in[0]), *U = ptr(E, n->in[1]), *dS = ptr(E, n->in[2]), *G = ptr(E, v), *T_ = E->T;
    head(E, n, "gru backpropagation through time");
    out(E, "    {");
    out(E, "        const int last = %s;", n->start ? "0" : xsprintf("%d", T - 1));
    out(E, "        for (int b = 0; b < n; b++) memset(%s + ((size_t)b * %d + last) * %d, 0, sizeof(%s) * %d);", G, T, 6 * u, T_, u);
    out(E, "    }");
    out(E, "    for (int k = %d; k >= 0; k--) {", T - 1);
    out(E, "        const int t = %s;", time_of(n, T));
    out(E, "        const int t_prev = %s; /* the row of step k - 1 */", n->start ? xsprintf("%d - (k - 1)", T - 1) : "k - 1");
    out(E, "        static const %s zero[%d]; /* h before the first step */", T_, u);
    out(E, "        %s sink[%d];               /* the carry out of the first step */", T_, u);
    out(E, "        for (int b = 0; b < n; b++) {");
    out(E, "            const %s *s = %s + ((size_t)b * %d + k) * %d;", T_, S, T, 5 * u);
    out(E, "            const %s *ds = %s + ((size_t)b * %d + k) * %d;", T_, dS, T, 5 * u);
    out(E, "            %s *g = %s + ((size_t)b * %d + t) * %d;", T_, G, T, 6 * u);
    out(E, "            %s *carry_prev = k > 0 ? %s + ((size_t)b * %d + t_prev) * %d : sink;", T_, G, T, 6 * u);
    out(E, "            const %s *hp = k > 0 ? s - %d : zero;", T_, u);
    out(E, "            MN_VEC");
    out(E, "            for (int j = 0; j < %d; j++) {", u);
    out(E, "                const %s z = s[j], r = s[%d + j], hh = s[%d + j], inh = s[%d + j];", T_, u, 2 * u, 3 * u);
    out(E, "                const %s h_prev = hp[j];", T_);
    out(E, "                const %s dh = g[j] + ds[%d + j];", T_, 4 * u);
    out(E, "                const %s dz = dh * (h_prev - hh) * z * (1 - z);", T_);
    out(E, "                const %s dah = dh * (1 - z) * (1 - hh * hh);", T_);
    out(E, "                const %s dr = dah * inh * r * (1 - r);", T_);
    out(E, "                g[j] = dz;");
    out(E, "                g[%d + j] = dr;", u);
    out(E, "                g[%d + j] = dah;", 2 * u);
    out(E, "                g[%d + j] = dz;", 3 * u);
    out(E, "                g[%d + j] = dr;", 4 * u);
    out(E, "                g[%d + j] = dah * r;", 5 * u);
    out(E, "                carry_prev[j] = dh * z;");
    out(E, "            }");
    out(E, "        }");
    out(E, "        /* dh for step k - 1 += d inner U^T */");
    out(E, "        if (k > 0)");
    out(E, "            %s(CblasNoTrans, CblasTrans, n, %d, %d, %s, %s + (size_t)t * %d + %d, %d, %s, %d, %s,",
        rt(E, "gemm"), u, 3 * u, lit(E, 1), G, 6 * u, 3 * u, T * 6 * u, U, 3 * u, lit(E, 1));
    out(E, "                        %s + (size_t)t_prev * %d, %d);", G, 6 * u, T * 6 * u);
    out(E, "    }");
}

/* hprev[b, t] = the h before the step that read time t (0 for the first) */
void emit_rnn_hprev(Emit *E, Node *n) {
    int T = n->shape.dims[0], u = n->len, W = in(E, n, 0)->shape.dims[1];
    const char *S = ptr(E, n->in[0]), *HP = ptr(E, (int)(n - E->g->nodes));
    head(E, n, "h before each step");
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "        for (int k = 0; k < %d; k++) {", T);
    out(E, "            const int t = %s;", time_of(n, T));
    out(E, "            %s *hp = %s + ((size_t)b * %d + t) * %d;", E->T, HP, T, u);
    out(E, "            if (k == 0) memset(hp, 0, sizeof(%s) * %d);", E->T, u);
    out(E, "            else memcpy(hp, %s + ((size_t)b * %d + k - 1) * %d + %d, sizeof(%s) * %d);", S, T, W, W - u, E->T, u);
    out(E, "        }");
}
