/* callgrind.c — a fixed amount of work for `valgrind --tool=callgrind`
 * (bench/callgrind.sh): the repeatable instruction counts of one model's
 * train_step and predict, where wall-clock timings are too noisy to
 * compare two versions of the generated code.
 *
 * Built against a model generated with `--prefix m` (header m.h), linked
 * with build/libmnrt.a -lopenblas -lm. One batch of M_BATCH samples from
 * the harness's seeded generator, weights from m_init(42), one thread;
 * `callgrind STEPS` runs STEPS train steps, then STEPS predicts.
 */
#include "harness.h"

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 10;
    mn_set_threads(1);
    Data d;
    data_make(&d, M_BATCH, 1);
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);
    m *model = model_new(42);
    double loss = 0;
    for (int i = 0; i < steps; i++) loss += m_train_step(model, &in, &tg, M_BATCH);
    m_outputs out;
    memset(&out, 0, sizeof out);
    real *buf[M_NUM_OUTPUTS + 1];
    for (int i = 0; i < M_NUM_OUTPUTS; i++) {
        buf[i] = xcalloc((size_t)M_BATCH * m_output_info[i].size, sizeof(real));
        memcpy((char *)&out + m_output_info[i].field_offset, &buf[i], sizeof buf[i]);
    }
    for (int i = 0; i < steps; i++) m_predict(model, &in, M_BATCH, &out);
    printf("loss %g, first output %g\n", loss, (double)buf[0][0]);
    for (int i = 0; i < M_NUM_OUTPUTS; i++) free(buf[i]);
    free(model);
    data_free(&d);
    return 0;
}
