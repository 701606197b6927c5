/* gradcheck.c — the generated backward pass against finite differences.
 *
 * Built against a model generated with `--dtype f64 --prefix m`. For every
 * trainable weight element (or an evenly spread sample of 4000 elements in
 * a larger tensor), the analytic gradient from m_compute_gradients is
 * compared with the central difference (L(w + h) - L(w - h)) / 2h of the
 * loss that m_evaluate computes, on a fixed random batch.
 *
 *   relative error = |analytic - numeric| / max(|analytic|, |numeric|, 1e-3)
 *
 * The floor keeps gradients that are zero up to rounding (a relu that is
 * off, an embedding row nobody looked up) from dividing by ~0: below 1e-3
 * the test is an absolute one at 1e-9. Exit status 0 iff every element is
 * below the bound (default 1e-6, argv[1] overrides).
 */
#include "harness.h"

#define MAX_CHECKED 4000

int main(int argc, char **argv) {
    const double bound = argc > 1 ? atof(argv[1]) : 1e-6;
    const double h = 1e-6, floor_ = 1e-3;
    if (sizeof(real) != sizeof(double)) {
        fprintf(stderr, "gradcheck: build the model with --dtype f64\n");
        return 2;
    }
    m *model = model_new(7);
    /* Move the weights off their initial values (zero biases) so that every
     * term of the gradient is exercised. */
    mn_rng r;
    mn_rng_seed(&r, 99);
    for (long i = 0; i < M_NUM_PARAMS; i++) model->params[i] += 0.1 * (2 * mn_rng_uniform(&r) - 1);

    Data d;
    const int n = M_BATCH < 5 ? M_BATCH : 5;
    data_make(&d, n, 11);
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);

    real *grads = xcalloc(M_NUM_TRAINABLE, sizeof *grads);
    double loss = m_compute_gradients(model, &in, &tg, n, grads);
    double check = m_evaluate(model, &in, &tg, n, NULL);
    int failed = 0;
    if (!(fabs(loss - check) <= 1e-12 * (1 + fabs(loss)))) {
        printf("loss from compute_gradients %.17g differs from evaluate %.17g\n", loss, check);
        failed = 1;
    }
    double worst = 0;
    long checked = 0;
    for (int t = 0; t < M_NUM_TENSORS; t++) {
        const mn_tensor_info *w = &m_tensors[t];
        if (!w->trainable) continue;
        size_t step = w->count > MAX_CHECKED ? w->count / MAX_CHECKED + 1 : 1;
        double tensor_worst = 0;
        size_t worst_at = 0;
        double worst_a = 0, worst_f = 0;
        for (size_t k = 0; k < w->count; k += step) {
            size_t i = w->offset + k;
            const real saved = model->params[i];
            model->params[i] = saved + h;
            double up = m_evaluate(model, &in, &tg, n, NULL);
            model->params[i] = saved - h;
            double down = m_evaluate(model, &in, &tg, n, NULL);
            model->params[i] = saved;
            double numeric = (up - down) / (2 * h), analytic = grads[i];
            double scale = fmax(fmax(fabs(analytic), fabs(numeric)), floor_);
            double rel = fabs(analytic - numeric) / scale;
            if (!(rel <= tensor_worst)) {
                tensor_worst = rel;
                worst_at = k;
                worst_a = analytic;
                worst_f = numeric;
            }
            checked++;
        }
        printf("  %-28s %8zu elements  worst rel. error %.3g at [%zu] (analytic %.12g, numeric %.12g)\n", w->name,
               w->count, tensor_worst, worst_at, worst_a, worst_f);
        if (!(tensor_worst < bound)) failed = 1;
        if (!(tensor_worst <= worst)) worst = tensor_worst;
    }
    printf("gradcheck: loss %.12g, %ld gradient elements, worst relative error %.3g (bound %.0e): %s\n", loss, checked,
           worst, bound, failed ? "FAIL" : "ok");
    data_free(&d);
    free(grads);
    free(model);
    return failed;
}
