/* ready.c — compute_gradients_ready reports every gradient when it is final.
 *
 *  1. The callback runs once per trainable tensor, with that tensor's
 *     offset and size, in the order of m_grad_order[].
 *  2. What the gradient buffer holds for a range when its callback runs is
 *     what it holds when compute_gradients_ready returns. A reduction that
 *     starts at the callback (data-parallel training) therefore sends the
 *     final values.
 *  3. compute_gradients gives the same gradients and loss, bit for bit.
 *  4. Ranges reported earlier are not written again: the harness overwrites
 *     a reported range with a marker, and the marker must survive to the
 *     return. (A reduction in place may change a range once it is reported.)
 */
#include "harness.h"

static int failures = 0;

typedef struct Seen {
    real *grads;     /* the buffer compute_gradients_ready writes */
    real *snapshot;  /* each range as it was at its callback */
    int calls;
    int tensor[M_NUM_TENSORS + 1];
    int mark;        /* 1: overwrite each reported range with a marker */
} Seen;

static int tensor_at(long offset, long count) {
    for (int t = 0; t < M_NUM_TENSORS; t++)
        if ((long)m_tensors[t].offset == offset && (long)m_tensors[t].count == count) return t;
    return -1;
}

static void ready(void *ctx, long offset, long count) {
    Seen *s = ctx;
    int t = tensor_at(offset, count);
    EXPECT(t >= 0 && m_tensors[t].trainable, "ready(%ld, %ld) is no trainable tensor", offset, count);
    if (s->calls < M_NUM_TENSORS) s->tensor[s->calls] = t;
    s->calls++;
    if (offset < 0 || offset + count > M_NUM_TRAINABLE) return;
    memcpy(s->snapshot + offset, s->grads + offset, sizeof(real) * (size_t)count);
    if (s->mark)
        for (long i = 0; i < count; i++) s->grads[offset + i] = (real)12345;
}

int main(void) {
    Data d;
    data_make(&d, M_BATCH, 31);
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);
    real *plain = xcalloc(M_NUM_TRAINABLE, sizeof(real));
    m *model = model_new(7);
    mn_rng rng = model->rng;
    real loss = m_compute_gradients(model, &in, &tg, M_BATCH, plain);
    for (int mark = 0; mark < 2; mark++) {
        Seen s = {.grads = xcalloc(M_NUM_TRAINABLE, sizeof(real)), .snapshot = xcalloc(M_NUM_TRAINABLE, sizeof(real)),
                  .mark = mark};
        for (long i = 0; i < M_NUM_TRAINABLE; i++) s.grads[i] = (real)-777; /* nothing left from before */
        model->rng = rng; /* the same dropout masks */
        real l = m_compute_gradients_ready(model, &in, &tg, M_BATCH, s.grads, ready, &s);
        EXPECT(memcmp(&l, &loss, sizeof l) == 0, "the loss %g differs from compute_gradients' %g", (double)l,
               (double)loss);
        EXPECT(s.calls == M_NUM_GRADS, "%d callbacks for %d trainable tensors", s.calls, M_NUM_GRADS);
        for (int k = 0; k < s.calls && k < M_NUM_GRADS; k++)
            EXPECT(s.tensor[k] == m_grad_order[k], "callback %d was tensor %d, grad_order says %d", k, s.tensor[k],
                   m_grad_order[k]);
        for (int k = 0; k < M_NUM_GRADS; k++) {
            const mn_tensor_info *t = &m_tensors[m_grad_order[k]];
            for (size_t i = 0; i < t->count; i++) {
                size_t at = (size_t)t->offset + i;
                if (memcmp(&s.snapshot[at], &plain[at], sizeof(real))) {
                    EXPECT(0, "%s[%zu] was %g at its callback, compute_gradients gives %g", t->name, i,
                           (double)s.snapshot[at], (double)plain[at]);
                    break;
                }
                real want = mark ? (real)12345 : plain[at];
                if (memcmp(&s.grads[at], &want, sizeof(real))) {
                    EXPECT(0, "%s[%zu] was written after its callback: %g at the end, %g wanted", t->name, i,
                           (double)s.grads[at], (double)want);
                    break;
                }
            }
        }
        free(s.grads);
        free(s.snapshot);
    }
    printf("ready: %d trainable tensors reported, each once, in grad_order, final at its callback: %s\n", M_NUM_GRADS,
           failures ? "FAILED" : "ok");
    return failures != 0;
}
