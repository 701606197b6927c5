/* noalloc.c — train_step, evaluate and predict never allocate.
 *
 * malloc, calloc, realloc and free are interposed (defined here, forwarding
 * to glibc's __libc_ functions), so calls from the generated code, the
 * runtime and OpenBLAS are all counted. After one warm-up call of each
 * (OpenBLAS may set up its buffers once), 20 more must make no call: on
 * one thread, and again on two (mn_set_threads(2): the runtime's workers
 * share the products), which must also give the same gradients.
 */
#include "harness.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static long calls; /* atomic: mn_set_threads's workers run the products */
static void count(void) { __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); }
void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(); return __libc_realloc(p, size); }
void free(void *p) { if (p) count(); __libc_free(p); }

/* On `threads` threads: the gradients of the first batch (into grads_out),
 * then 20 x (train_step + evaluate + predict) after a warm-up; returns the
 * heap calls those made. */
static long run(int threads, real *grads_out) {
    if (mn_set_threads(threads) != MN_OK) {
        printf("noalloc: cannot start %d threads: FAIL\n", threads);
        exit(1);
    }
    m *model = model_new(1);
    Data d;
    data_make(&d, M_BATCH, 1);
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);
    m_outputs out;
    real *outs[M_NUM_OUTPUTS + 1];
    memset(&out, 0, sizeof out);
    for (int i = 0; i < M_NUM_OUTPUTS; i++) {
        outs[i] = xcalloc((size_t)M_BATCH * m_output_info[i].size, sizeof(real));
        memcpy((char *)&out + m_output_info[i].field_offset, &outs[i], sizeof outs[i]);
    }
    real metrics[M_NUM_METRICS + 1];
    m_compute_gradients(model, &in, &tg, M_BATCH, grads_out);
    m_train_step(model, &in, &tg, M_BATCH);
    m_evaluate(model, &in, &tg, M_BATCH, metrics);
    m_predict(model, &in, M_BATCH, &out);
    long before = calls;
    for (int i = 0; i < 20; i++) {
        m_train_step(model, &in, &tg, M_BATCH);
        m_evaluate(model, &in, &tg, M_BATCH, metrics);
        m_predict(model, &in, M_BATCH, &out);
    }
    return calls - before;
}

int main(void) {
    static real g1[M_NUM_TRAINABLE + 1], g2[M_NUM_TRAINABLE + 1];
    long made1 = run(1, g1), made2 = run(2, g2);
    printf("noalloc: heap calls in 20 x (train_step + evaluate + predict): %ld on 1 thread, %ld on 2 (mn_set_threads): %s\n",
           made1, made2, made1 || made2 ? "FAIL" : "ok");
    /* the products cut in slices give the same numbers, to the
     * conformance's gradient tolerance */
    double worst = 0;
    long at = 0;
    for (long i = 0; i < M_NUM_TRAINABLE; i++) {
        double excess = fabs((double)g1[i] - (double)g2[i]) / (1e-6 + 1e-4 * fabs((double)g1[i]));
        if (excess > worst) worst = excess, at = i;
    }
    int same = worst <= 1;
    printf("noalloc: gradients on 2 threads against 1: worst at element %ld: %.9g against %.9g (rtol 1e-4, atol 1e-6): %s\n",
           at, (double)g2[at], (double)g1[at], same ? "ok" : "FAIL");
    return made1 != 0 || made2 != 0 || !same;
}
