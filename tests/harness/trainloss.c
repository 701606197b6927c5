/* trainloss.c — the generated train_step learns.
 *
 * The task: a teacher, the same architecture initialised with another seed,
 * labels 256 random samples through its predict (outputs paired with
 * targets in declaration order): bce targets are the teacher's outputs
 * thresholded at 0.5, cce targets the one-hot of its argmax, sparse_cce
 * targets the argmax id, mse/mae targets its outputs themselves. The task is
 * learnable by construction (the teacher is a point of the student's own
 * weight space). The student, from its own seed, trains with train_step on
 * mini-batches, at most 500 steps (argv[2]); every 25 steps the loss over
 * the whole set is measured, and the test passes as soon as it is at most
 * half its initial value (argv[1] overrides the fraction).
 */
#include "harness.h"

#define SAMPLES 256

static double full_loss(m *model, const Data *d) {
    double sum = 0;
    int batches = 0;
    for (int first = 0; first < d->n; first += M_BATCH) {
        int k = d->n - first < M_BATCH ? d->n - first : M_BATCH;
        m_inputs in;
        m_targets tg;
        data_view(d, first, &in, &tg);
        sum += m_evaluate(model, &in, &tg, k, NULL) * k;
        batches += k;
    }
    return sum / batches;
}

/* Targets from the teacher's outputs, where an output pairs with the
 * target of the same position and shape; other targets stay random. */
static void label_with_teacher(const Data *d) {
    m *teacher = model_new(1234);
    m_inputs in;
    m_targets tg;
    data_view(d, 0, &in, &tg);
    real *outs[M_NUM_OUTPUTS + 1];
    m_outputs out;
    memset(&out, 0, sizeof out);
    for (int i = 0; i < M_NUM_OUTPUTS; i++) {
        outs[i] = xcalloc((size_t)d->n * m_output_info[i].size, sizeof(real));
        memcpy((char *)&out + m_output_info[i].field_offset, &outs[i], sizeof outs[i]);
    }
    m_predict(teacher, &in, d->n, &out);
    for (int t = 0; t < M_NUM_TARGETS && t < M_NUM_OUTPUTS; t++) {
        const mn_io_info *ti = &m_target_info[t], *oi = &m_output_info[t];
        size_t last = oi->rank ? (size_t)oi->dims[oi->rank - 1] : 1;
        size_t rows = (size_t)d->n * oi->size / last;
        if (ti->kind == MN_DATA_CLASS) {
            int32_t *ids = d->target[t];
            if (ti->size * last != oi->size) continue;
            for (size_t r = 0; r < rows; r++) {
                size_t best = 0;
                for (size_t j = 1; j < last; j++)
                    if (outs[t][r * last + j] > outs[t][r * last + best]) best = j;
                ids[r] = (int32_t)best;
            }
            continue;
        }
        if (ti->size != oi->size) continue;
        real *y = d->target[t];
        for (size_t r = 0; r < rows; r++) {
            size_t best = 0;
            for (size_t j = 0; j < last; j++) {
                real v = outs[t][r * last + j];
                if (v > outs[t][r * last + best]) best = j;
                if (ti->kind == MN_DATA_BINARY) y[r * last + j] = v > 0.5 ? 1 : 0;
                else if (ti->kind == MN_DATA_PLAIN) y[r * last + j] = v;
                else y[r * last + j] = 0;
            }
            if (ti->kind == MN_DATA_ONEHOT) y[r * last + best] = 1;
        }
    }
    for (int i = 0; i < M_NUM_OUTPUTS; i++) free(outs[i]);
    free(teacher);
}

int main(int argc, char **argv) {
    const double fraction = argc > 1 ? atof(argv[1]) : 0.5;
    const int steps = argc > 2 ? atoi(argv[2]) : 500;
    Data d;
    data_make(&d, SAMPLES, 5);
    label_with_teacher(&d);
    m *model = model_new(42);
    double before = full_loss(model, &d);
    int first = 0, s;
    double after = before;
    for (s = 0; s < steps; s++) {
        if (s % 25 == 0 && s > 0) {
            after = full_loss(model, &d);
            if (after <= fraction * before) break;
        }
        int k = M_BATCH < SAMPLES ? M_BATCH : SAMPLES;
        if (first + k > SAMPLES) first = 0;
        m_inputs in;
        m_targets tg;
        data_view(&d, first, &in, &tg);
        double loss = m_train_step(model, &in, &tg, k);
        if (!isfinite(loss)) {
            printf("trainloss: step %d gave loss %g\n", s, loss);
            return 1;
        }
        first += k;
    }
    if (s == steps) after = full_loss(model, &d);
    if (after < 0)
        printf("trainloss: note: the loss went below 0: a param drives it without bound (mnc warns about such params)\n");
    int ok = after <= fraction * before;
    printf("trainloss: teacher task, %d samples, %d steps of batch %d: loss %.6g -> %.6g (%.1f%% of the start; need <= %.0f%%): %s\n",
           SAMPLES, s, M_BATCH, before, after, 100 * after / before, 100 * fraction, ok ? "ok" : "FAIL");
    data_free(&d);
    free(model);
    return !ok;
}
