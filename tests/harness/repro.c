/* repro.c — training is reproducible, inference is deterministic.
 *
 *  1. Two instances initialised with the same seed and trained for the same
 *     10 steps on the same batches end with bit-identical weights, optimizer
 *     state and RNG (dropout masks come from the model's own seeded RNG).
 *  2. predict and evaluate are functions of the weights: called twice they
 *     give bit-identical results (no dropout, batchnorm's moving statistics),
 *     and they do not touch the weights or the RNG.
 *  3. A model with batchnorm: training moved the moving statistics away from
 *     their initial zeros and ones.
 */
#include "harness.h"

static int failures = 0;

static void train(m *model, const Data *d, int steps) {
    for (int s = 0; s < steps; s++) {
        m_inputs in;
        m_targets tg;
        int first = (s * M_BATCH) % (d->n - M_BATCH + 1);
        data_view(d, first, &in, &tg);
        m_train_step(model, &in, &tg, M_BATCH);
    }
}

int main(void) {
    Data d;
    data_make(&d, 3 * M_BATCH, 21);
    m *a = model_new(5), *b = model_new(5);
    train(a, &d, 10);
    train(b, &d, 10);
    EXPECT(memcmp(a->params, b->params, sizeof a->params) == 0, "two runs with one seed gave different weights");
    EXPECT(memcmp(a->opt_m, b->opt_m, sizeof a->opt_m) == 0, "two runs gave different optimizer state");
    EXPECT(memcmp(&a->rng, &b->rng, sizeof a->rng) == 0, "two runs left the RNG in different states");

    /* inference twice, weights and RNG untouched */
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);
    real *outs[2][M_NUM_OUTPUTS + 1];
    m_outputs out[2];
    for (int k = 0; k < 2; k++) {
        memset(&out[k], 0, sizeof out[k]);
        for (int i = 0; i < M_NUM_OUTPUTS; i++) {
            outs[k][i] = xcalloc((size_t)M_BATCH * m_output_info[i].size, sizeof(real));
            memcpy((char *)&out[k] + m_output_info[i].field_offset, &outs[k][i], sizeof outs[k][i]);
        }
    }
    real *params = xcalloc(M_NUM_PARAMS, sizeof(real));
    memcpy(params, a->params, sizeof(real) * M_NUM_PARAMS);
    mn_rng rng = a->rng;
    real metrics[2][M_NUM_METRICS + 1];
    double l0 = m_evaluate(a, &in, &tg, M_BATCH, metrics[0]);
    m_predict(a, &in, M_BATCH, &out[0]);
    double l1 = m_evaluate(a, &in, &tg, M_BATCH, metrics[1]);
    m_predict(a, &in, M_BATCH, &out[1]);
    EXPECT(l0 == l1, "evaluate gave %.17g, then %.17g", l0, l1);
    for (int i = 0; i < M_NUM_OUTPUTS; i++)
        EXPECT(memcmp(outs[0][i], outs[1][i], sizeof(real) * M_BATCH * m_output_info[i].size) == 0,
               "predict gave two different outputs %s", m_output_info[i].name);
    EXPECT(memcmp(params, a->params, sizeof(real) * M_NUM_PARAMS) == 0, "inference changed the weights");
    EXPECT(memcmp(&rng, &a->rng, sizeof rng) == 0, "inference drew from the RNG");

    /* batchnorm's moving statistics moved */
    int moving = 0;
    for (int t = 0; t < M_NUM_TENSORS; t++) {
        const mn_tensor_info *w = &m_tensors[t];
        const char *dot = strrchr(w->name, '.');
        if (!dot || (strcmp(dot, ".moving_mean") && strcmp(dot, ".moving_variance"))) continue;
        double start = strcmp(dot, ".moving_mean") ? 1.0 : 0.0;
        int moved = 0;
        for (size_t e = 0; e < w->count; e++) moved |= a->params[w->offset + e] != start;
        EXPECT(moved, "%s did not move in training", w->name);
        moving++;
    }
    printf("repro: 2 runs x 10 steps bit-identical; inference deterministic%s: %s\n",
           moving ? "; batchnorm moving statistics updated" : "", failures ? "FAIL" : "ok");
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < M_NUM_OUTPUTS; i++) free(outs[k][i]);
    free(params);
    data_free(&d);
    free(a);
    free(b);
    return failures != 0;
}
