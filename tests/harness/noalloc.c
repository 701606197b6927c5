/* noalloc.c — train_step, evaluate and predict never allocate.
 *
 * malloc, calloc, realloc and free are interposed (defined here, forwarding
 * to glibc's __libc_ functions), so calls from the generated code, the
 * runtime and OpenBLAS are all counted. After one warm-up call of each
 * (OpenBLAS may set up its buffers once), 20 more must make no call.
 */
#include "harness.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static long calls;
void *malloc(size_t size) { calls++; return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { calls++; return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { calls++; return __libc_realloc(p, size); }
void free(void *p) { if (p) calls++; __libc_free(p); }

int main(void) {
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
    m_train_step(model, &in, &tg, M_BATCH);
    m_evaluate(model, &in, &tg, M_BATCH, metrics);
    m_predict(model, &in, M_BATCH, &out);
    long before = calls;
    for (int i = 0; i < 20; i++) {
        m_train_step(model, &in, &tg, M_BATCH);
        m_evaluate(model, &in, &tg, M_BATCH, metrics);
        m_predict(model, &in, M_BATCH, &out);
    }
    long made = calls - before;
    printf("noalloc: %ld heap calls in 20 x (train_step + evaluate + predict): %s\n", made, made ? "FAIL" : "ok");
    return made != 0;
}
