/* emit.h — the C emitter's state and helpers, shared by its files:
 *
 *   emit_value.c       where a value lives (ptr, elem), literals, the
 *                      comment heading each block, unary.def's templates
 *   emit_linear.c      products: matmul and its gradients, embedding
 *   emit_elementwise.c unary.def's maps, softmax, binary ops, reductions,
 *                      broadcasts undone, concat/slice/reverse, one_hot
 *   emit_conv.c        im2col/col2im, pools
 *   emit_norm.c        layernorm/batchnorm, dropout
 *   emit_recurrent.c   the LSTM and GRU scans and their backward passes
 *   emit_loss.c        losses, penalties, accuracy
 *   emit_c.c           the module: descriptors, header, init, the entry
 *                      points, the optimizer; it runs a schedule through
 *                      the emit column of ops.def
 *
 * Each op's kernel is emit_<rule> (ops.def's emit column); its declaration
 * is generated below from ops.def, so a rule without a kernel fails the
 * link. Only the emitter's files include this header.
 */
#ifndef MNC_EMIT_H
#define MNC_EMIT_H

#include <stdarg.h>

#include "ir.h"

typedef struct Emit {
    Graph *g;
    Buf *b;
    SchedKind sched;
    const char *prefix;     /* C symbols: two_concat_init */
    const char *PREFIX;     /* macros: TWO_CONCAT_BATCH */
    const char *T;          /* "float" or "double" */
    const char *fs;         /* libm suffix: "f" or "" */
    int last_line;          /* provenance comment already printed for this line */
    int last_backward;
    const int *ready_param; /* compute_gradients: per node, the param whose gradient it makes final, or -1 */
} Emit;

typedef void EmitRule(Emit *E, Node *n);

/* One line of output: all writes go through out() (chibicc's println). */
__attribute__((format(printf, 2, 3))) static inline void out(Emit *E, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(E->b, fmt, ap);
    va_end(ap);
    buf_putc(E->b, '\n');
}

static inline void blank(Emit *E) { buf_putc(E->b, '\n'); }
static inline Node *node(Emit *E, int v) { return &E->g->nodes[v]; }
static inline Node *in(Emit *E, Node *n, int i) { return &E->g->nodes[n->in[i]]; }
/* libm's function of the model's float type: expf or exp */
static inline const char *fn(Emit *E, const char *name) { return xsprintf("%s%s", name, E->fs); }
/* exp or tanh: libm's in double; in float, mn_math.h's, which vectorise */
static inline const char *math(Emit *E, const char *name) { return E->g->f64 ? name : xsprintf("mn_%s_f", name); }
/* A runtime function of the model's float type: mn_NAME_f32 or mn_NAME_f64. */
static inline const char *rt(Emit *E, const char *name) { return xsprintf("mn_%s_%s", name, E->g->f64 ? "f64" : "f32"); }
static inline int last_dim(const Shape *s) { return s->rank ? s->dims[s->rank - 1] : 1; }
/* The value whose storage v is a view of (v itself if it is not a view). */
static inline int root_of(Emit *E, int v) {
    while (op_info[node(E, v)->op].flags & OPF_VIEW) v = node(E, v)->in[0];
    return v;
}

/* ---- emit_value.c ------------------------------------------------------------------ */
void define(Emit *E, const char *name, const char *value, const char *comment);
const char *shortest(double x, int as_float);
const char *lit(Emit *E, double x);
int param_grad_index(Emit *E, int v);
const char *ptr(Emit *E, int v);
const char *elem(Emit *E, int v, const char *idx);
const char *count(const Shape *s);
const char *rows(const Shape *s);
int trailing_broadcast(const Shape *o, const Shape *x);
const char *bcast_index(const Shape *o, const Shape *x);
const char *describe(Emit *E, int v);
void head(Emit *E, Node *n, const char *what);
const char *expand(Emit *E, const char *t, const char *x, const char *y, const char *dy);
const char *act_expr(Emit *E, Op act, const char *x);
void gemm(Emit *E, const char *ta, const char *tb, const char *m, long nn, const char *k, const char *a,
          const char *lda, const char *b, long ldb, const char *c, long ldc);

/* ---- the kernels: ops.def's emit column ------------------------------------------ */
#define OP(id, name, arity, flags, sign, shape, grad, emit) EmitRule emit_##emit;
#include "ops.def"
#undef OP

#endif
