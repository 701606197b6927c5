/* gradcheck.c — the generated backward pass against finite differences.
 *
 * Built against a model generated with `--dtype f64 --prefix m`. The
 * analytic gradient from m_compute_gradients is compared with the central
 * difference (L(w + h) - L(w - h)) / 2h of the loss that m_evaluate
 * computes, on a fixed random batch, for every trainable weight element of
 * a small model. A large model (a long LSTM, a big image) gets a budget of
 * loss evaluations in proportion to its size (its arena): per tensor, the
 * elements with the largest gradients (where a wrong rule shows most) and
 * as many spread evenly over the tensor.
 *
 *   relative error = |analytic - numeric| / max(|analytic|, |numeric|, 1e-3)
 *
 * with h = 1e-5, or 1e-6 where 1e-5 does not agree (see below).
 *
 * The floor keeps gradients that are zero up to rounding (a relu that is
 * off, an embedding row nobody looked up) from dividing by ~0: below 1e-3
 * the test is an absolute one at 1e-9. Exit status 0 iff every element is
 * below the bound (default 1e-6, argv[1] overrides).
 */
#include "harness.h"

/* The loss the gradients belong to: evaluate's (inference), or, when
 * training differs (dropout, batchnorm), compute_gradients' own with the
 * RNG rewound so that every evaluation draws the same dropout masks. */
static double loss_at(m *model, const m_inputs *in, const m_targets *tg, int n, real *scratch, const mn_rng *rng) {
    if (!M_TRAINING_DIFFERS) return m_evaluate(model, in, tg, n, NULL);
    model->rng = *rng;
    return m_compute_gradients(model, in, tg, n, scratch);
}

/* Loss evaluations the check may spend: all of a small model's elements,
 * and for a large one about what 3e8 arena element-touches allow. */
static long eval_budget(void) {
    double per_eval = (double)M_ARENA_SIZE * 5.0 / M_BATCH;
    double budget = 3e8 / (per_eval > 1 ? per_eval : 1);
    return budget > 2e6 ? 2000000 : (long)budget;
}

/* The elements of a tensor to check: all of them if `quota` allows, else
 * the quota/2 largest |gradients| and quota/2 spread evenly. */
static size_t pick(const real *g, size_t count, size_t quota, size_t *out) {
    if (count <= quota) {
        for (size_t i = 0; i < count; i++) out[i] = i;
        return count;
    }
    size_t k = 0, largest = quota / 2;
    char *taken = xcalloc(count, 1);
    for (size_t r = 0; r < largest; r++) {
        size_t best = count;
        for (size_t i = 0; i < count; i++)
            if (!taken[i] && (best == count || fabs(g[i]) > fabs(g[best]))) best = i;
        taken[best] = 1;
        out[k++] = best;
    }
    size_t spread = quota - largest, step = count / spread;
    for (size_t i = 0; i < count && k < quota; i += step)
        if (!taken[i]) {
            taken[i] = 1;
            out[k++] = i;
        }
    free(taken);
    return k;
}

int main(int argc, char **argv) {
    const double bound = argc > 1 ? atof(argv[1]) : 1e-6;
    /* Two steps: 1e-5 keeps the rounding of L(w +- h) small next to a large
     * loss, 1e-6 keeps the difference off the kinks of relu and max pooling.
     * A right gradient agrees with the difference at one of them at least;
     * a wrong rule agrees with neither. */
    const double steps[2] = {1e-5, 1e-6}, floor_ = 1e-3;
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

    real *grads = xcalloc(M_NUM_TRAINABLE, sizeof *grads), *scratch = xcalloc(M_NUM_TRAINABLE, sizeof *scratch);
    const mn_rng rng = model->rng;
    double loss = m_compute_gradients(model, &in, &tg, n, grads);
    double check = loss_at(model, &in, &tg, n, scratch, &rng);
    int failed = 0;
    if (!(fabs(loss - check) <= 1e-12 * (1 + fabs(loss)))) {
        printf("loss from compute_gradients %.17g differs from the loss checked against %.17g\n", loss, check);
        failed = 1;
    }
    double worst = 0;
    long checked = 0;
    int trainable_tensors = 0;
    for (int t = 0; t < M_NUM_TENSORS; t++) trainable_tensors += m_tensors[t].trainable;
    long budget = argc > 2 ? atol(argv[2]) : eval_budget();
    size_t quota = (size_t)(budget / 2 / (trainable_tensors ? trainable_tensors : 1));
    if (quota < 8) quota = 8;
    for (int t = 0; t < M_NUM_TENSORS; t++) {
        const mn_tensor_info *w = &m_tensors[t];
        if (!w->trainable) continue;
        size_t *which = xcalloc(quota < w->count ? quota : w->count, sizeof *which);
        size_t picked = pick(grads + w->offset, w->count, quota, which);
        double tensor_worst = 0;
        size_t worst_at = 0;
        double worst_a = 0, worst_f = 0;
        for (size_t p = 0; p < picked; p++) {
            size_t k = which[p], i = w->offset + k;
            const real saved = model->params[i];
            double analytic = grads[i], numeric = 0, rel = INFINITY;
            for (int s = 0; s < 2 && !(rel < bound); s++) {
                const double h = steps[s];
                model->params[i] = saved + h;
                double up = loss_at(model, &in, &tg, n, scratch, &rng);
                model->params[i] = saved - h;
                double down = loss_at(model, &in, &tg, n, scratch, &rng);
                model->params[i] = saved;
                double num = (up - down) / (2 * h);
                double r = fabs(analytic - num) / fmax(fmax(fabs(analytic), fabs(num)), floor_);
                if (r < rel) {
                    rel = r;
                    numeric = num;
                }
            }
            if (!(rel <= tensor_worst)) {
                tensor_worst = rel;
                worst_at = k;
                worst_a = analytic;
                worst_f = numeric;
            }
            checked++;
        }
        printf("  %-28s %8zu of %8zu elements  worst rel. error %.3g at [%zu] (analytic %.12g, numeric %.12g)\n",
               w->name, picked, w->count, tensor_worst, worst_at, worst_a, worst_f);
        free(which);
        if (!(tensor_worst < bound)) failed = 1;
        if (!(tensor_worst <= worst)) worst = tensor_worst;
    }
    printf("gradcheck: loss %.12g, %ld gradient elements, worst relative error %.3g (bound %.0e): %s\n", loss, checked,
           worst, bound, failed ? "FAIL" : "ok");
    data_free(&d);
    free(grads);
    free(scratch);
    free(model);
    return failed;
}
