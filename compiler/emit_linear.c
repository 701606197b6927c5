/* emit_linear.c — products: LINEAR/MATMUL (a GEMM, or a direct loop when the
 * inner dimension is small), their gradients, and embedding lookups.
 */
#include "emit.h"

/* A product whose inner dimension is this small (a layer on one or a few
 * features) is a few multiply-adds per output: a direct loop beats a GEMM
 * call, which packs its operands first. */
#define DIRECT_K 8

/* "x[0] * w[j] + x[1] * w[N + j] + ..." over K terms */
static const char *dot_terms(int K, int N) {
    Buf b = {0};
    for (int k = 0; k < K; k++) {
        if (k == 0) buf_puts(&b, "x[0] * w[j]");
        else buf_printf(&b, " + x[%d] * w[%d + j]", k, k * N);
    }
    return b.data;
}

/* The local name of a LINEAR node's bias i (its input 2 + i): b, b2, b3 .. */
static const char *bias_name(int i) { return i ? xsprintf("b%d", i + 1) : "b"; }

void emit_matmul(Emit *E, Node *n) {
    Node *x = in(E, n, 0), *w = in(E, n, 1);
    int K = w->shape.dims[0], N = w->shape.dims[1];
    int nbias = n->op == OP_LINEAR ? n->nin - 2 : 0, direct = K <= DIRECT_K;
    Buf terms = {0}, sum = {0}; /* " + b + b2", " + b[j] + b2[j]" */
    buf_puts(&terms, "");
    buf_puts(&sum, "");
    for (int i = 0; i < nbias; i++) {
        buf_printf(&terms, " + %s", bias_name(i));
        buf_printf(&sum, " + %s[j]", bias_name(i));
    }
    Op act = n->op == OP_LINEAR ? n->act : OP_COPY;
    head(E, n, n->op == OP_LINEAR ? xsprintf("%s(x W%s)", act == OP_COPY ? "linear" : op_info[act].name, terms.data) : "matmul");
    int v = (int)(n - E->g->nodes);
    if (!direct) {
        gemm(E, "CblasNoTrans", "CblasNoTrans", rows(&x->shape), N, xsprintf("%d", K), ptr(E, n->in[0]),
             xsprintf("%d", K), ptr(E, n->in[1]), N, ptr(E, v), N);
        if (!nbias && act == OP_COPY) return;
    }
    /* one pass over each output row: the product itself when it is direct,
     * then the bias and the activation */
    out(E, "    for (int r = 0; r < %s; r++) {%s", rows(&n->shape),
        direct ? xsprintf(" /* %d input%s: a direct loop */", K, K == 1 ? "" : "s") : "");
    if (direct) out(E, "        const %s *x = %s + (size_t)r * %d, *w = %s;", E->T, ptr(E, n->in[0]), K, ptr(E, n->in[1]));
    for (int i = 0; i < nbias; i++) out(E, "        const %s *%s = %s;", E->T, bias_name(i), ptr(E, n->in[2 + i]));
    out(E, "        %s *y = %s + (size_t)r * %d;", E->T, ptr(E, v), N);
    out(E, "        MN_VEC");
    out(E, "        for (int j = 0; j < %d; j++) {", N);
    out(E, "            const %s z = %s%s;", E->T, direct ? dot_terms(K, N) : "y[j]", sum.data);
    out(E, "            y[j] = %s;", act_expr(E, act, "z"));
    out(E, "        }");
    out(E, "    }");
}

void emit_linear(Emit *E, Node *n) { emit_matmul(E, n); }

/* dx[.., K] = dy[.., N] W[K, N]^T */
void emit_matmul_dx(Emit *E, Node *n) {
    Node *w = in(E, n, 1);
    int K = w->shape.dims[0], N = w->shape.dims[1], v = (int)(n - E->g->nodes);
    head(E, n, "dy W^T");
    if (N == 1) { /* one output: dx is dy times W's column */
        out(E, "    for (int r = 0; r < %s; r++) {", rows(&n->shape));
        out(E, "        const %s d = %s[r], *w = %s;", E->T, ptr(E, n->in[0]), ptr(E, n->in[1]));
        out(E, "        %s *dx = %s + (size_t)r * %d;", E->T, ptr(E, v), K);
        out(E, "        MN_VEC");
        out(E, "        for (int k = 0; k < %d; k++) dx[k] = d * w[k];", K);
        out(E, "    }");
        return;
    }
    gemm(E, "CblasNoTrans", "CblasTrans", rows(&n->shape), K, xsprintf("%d", N), ptr(E, n->in[0]),
         xsprintf("%d", N), ptr(E, n->in[1]), N, ptr(E, v), K);
}

/* dW[K, N] = x[rows, K]^T dy[rows, N] */
void emit_matmul_dw(Emit *E, Node *n) {
    Node *x = in(E, n, 0);
    int K = n->shape.dims[0], N = n->shape.dims[1], v = (int)(n - E->g->nodes);
    head(E, n, "x^T dy");
    if (K <= DIRECT_K || N == 1) { /* a thin product: add up the rows' outer products */
        out(E, "    memset(%s, 0, sizeof(%s) * %ld);", ptr(E, v), E->T, (long)K * N);
        out(E, "    for (int r = 0; r < %s; r++) {", rows(&x->shape));
        out(E, "        const %s *x = %s + (size_t)r * %d, *dy = %s + (size_t)r * %d;", E->T, ptr(E, n->in[0]), K,
            ptr(E, n->in[1]), N);
        if (K <= DIRECT_K) {
            out(E, "        for (int k = 0; k < %d; k++) {", K);
            out(E, "            %s *dw = %s + (size_t)k * %d;", E->T, ptr(E, v), N);
            out(E, "            MN_VEC");
            out(E, "            for (int j = 0; j < %d; j++) dw[j] += x[k] * dy[j];", N);
            out(E, "        }");
        } else {
            out(E, "        %s *dw = %s;", E->T, ptr(E, v));
            out(E, "        MN_VEC");
            out(E, "        for (int k = 0; k < %d; k++) dw[k] += x[k] * dy[0];", K);
        }
        out(E, "    }");
        return;
    }
    gemm(E, "CblasTrans", "CblasNoTrans", xsprintf("%d", K), N, rows(&x->shape), ptr(E, n->in[0]),
         xsprintf("%d", K), ptr(E, n->in[1]), N, ptr(E, v), N);
}

void emit_embedding(Emit *E, Node *n) {
    Node *table = in(E, n, 1);
    int V = table->shape.dims[0], D = table->shape.dims[1];
    head(E, n, "embedding");
    out(E, "    for (int i = 0; i < %s; i++) {", count(&in(E, n, 0)->shape));
    out(E, "        const int32_t id = %s;", elem(E, n->in[0], "i"));
    out(E, "        %s *y = %s + (size_t)i * %d;", E->T, ptr(E, (int)(n - E->g->nodes)), D);
    out(E, "        if (id >= 0 && id < %d) memcpy(y, %s + (size_t)id * %d, sizeof(%s) * %d);", V, ptr(E, n->in[1]), D, E->T, D);
    out(E, "        else memset(y, 0, sizeof(%s) * %d); /* out of range: a zero vector */", E->T, D);
    out(E, "    }");
}

void emit_embedding_dw(Emit *E, Node *n) {
    int V = n->shape.dims[0], D = n->shape.dims[1];
    int v = (int)(n - E->g->nodes);
    head(E, n, "embedding_dw");
    out(E, "    memset(%s, 0, sizeof(%s) * %ld);", ptr(E, v), E->T, (long)V * D);
    out(E, "    for (int i = 0; i < %s; i++) {", count(&in(E, n, 0)->shape));
    out(E, "        const int32_t id = %s;", elem(E, n->in[0], "i"));
    out(E, "        if (id < 0 || id >= %d) continue;", V);
    out(E, "        %s *dw = %s + (size_t)id * %d;", E->T, ptr(E, v), D);
    out(E, "        const %s *dy = %s + (size_t)i * %d;", E->T, ptr(E, n->in[1]), D);
    out(E, "        for (int j = 0; j < %d; j++) dw[j] += dy[j];", D);
    out(E, "    }");
}
