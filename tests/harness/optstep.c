/* optstep.c — the generated optimizer against its formula.
 *
 * Three steps of m_apply_gradients with the gradients of a fixed batch are
 * compared with the optimizer's update computed here, in double, from the
 * formulas (Keras's forms) and the hyperparameters the header states,
 * each step starting from the weights the model holds:
 *   adam: m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *         w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
 *   sgd:  v = momentum v - lr g;  w += v   (w -= lr g without momentum)
 * Weights that are not trainable must not move. Tolerance: 5e-5 of the
 * step size (plus two roundings of the stored weight) for float, 1e-12 for
 * double, where the formula is checked to rounding.
 */
#include <float.h>

#include "harness.h"

int main(void) {
    m *model = model_new(3);
    Data d;
    const int n = M_BATCH < 8 ? M_BATCH : 8;
    data_make(&d, n, 17);
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);
    const long P = M_NUM_PARAMS, T = M_NUM_TRAINABLE;
    double *w = xcalloc(P, sizeof *w), *m1 = xcalloc(T, sizeof *m1), *v = xcalloc(T, sizeof *v);
    real *grads = xcalloc(T, sizeof *grads);
    for (long i = 0; i < P; i++) w[i] = model->params[i];
    /* float: the hyperparameters themselves are float (1 - 0.999f is off by
     * 1.3e-5 relative, as in Keras's float32 arithmetic); double: exact. */
    const double tol = sizeof(real) == 4 ? 5e-5 : 1e-12;
    double worst = 0;
    int is_adam = !strcmp(M_OPTIMIZER, "adam");
    for (int step = 1; step <= 3; step++) {
        m_compute_gradients(model, &in, &tg, n, grads);
        double scale = 1;
        if (M_CLIP_NORM > 0) {
            double norm2 = 0;
            for (long i = 0; i < T; i++) norm2 += (double)grads[i] * grads[i];
            if (sqrt(norm2) > M_CLIP_NORM) scale = M_CLIP_NORM / sqrt(norm2);
        }
        m_apply_gradients(model, grads);
        for (long i = 0; i < T; i++) {
            double g = grads[i] * scale, before = w[i];
#ifdef M_BETA1
            if (is_adam) {
                m1[i] = M_BETA1 * m1[i] + (1 - M_BETA1) * g;
                v[i] = M_BETA2 * v[i] + (1 - M_BETA2) * g * g;
                double lr_t = M_LR * sqrt(1 - pow(M_BETA2, step)) / (1 - pow(M_BETA1, step));
                w[i] -= lr_t * m1[i] / (sqrt(v[i]) + M_EPSILON);
            }
#endif
#ifdef M_MOMENTUM
            if (!is_adam) {
                if (M_MOMENTUM != 0) {
                    m1[i] = M_MOMENTUM * m1[i] - M_LR * g;
                    w[i] += m1[i];
                } else {
                    w[i] -= M_LR * g;
                }
            }
#endif
            double moved = fabs(w[i] - before);
            /* relative to the step, beyond two roundings of the stored weight */
            double ulp = (sizeof(real) == 4 ? FLT_EPSILON : DBL_EPSILON) * fabs(w[i]);
            double err = fmax(fabs(model->params[i] - w[i]) - 2 * ulp, 0) / fmax(moved, 1e-3 * M_LR);
            if (err > worst) worst = err;
            w[i] = model->params[i]; /* follow the model, so errors do not compound */
        }
        for (long i = T; i < P; i++)
            if (model->params[i] != (real)w[i]) {
                printf("optstep: a weight that is not trainable moved (element %ld)\n", i);
                return 1;
            }
    }
    int ok = worst < tol;
    printf("optstep: %s, %ld trainable weights, 3 steps: worst error %.3g of a step (bound %.0e): %s\n", M_OPTIMIZER, T,
           worst, tol, ok ? "ok" : "FAIL");
    data_free(&d);
    free(model);
    return !ok;
}
