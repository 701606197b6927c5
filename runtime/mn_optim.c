/* mn_optim.c — the optimizers' update, one loop over the flat buffer of
 * trainable weights (Keras's definitions; the generated apply_gradients
 * computes the step's scalars and calls one of these).
 *
 * Each element is updated independently, so the loops vectorise; the
 * expressions are written in the order Keras computes them, so a
 * vectorised build gives the same bits as a scalar one. sqrt in a loop
 * vectorises only without errno: the Makefile builds the runtime with
 * -fno-math-errno (the results are the same; only errno is not set).
 * gcc -O2 vectorises only a loop whose trip count is a known multiple of
 * the vector width, so each loop runs over count rounded down to a
 * multiple of 16, then over the rest (MN_SPLIT_LOOP).
 *
 * Written once in MN_DEFINE_OPTIMIZERS and expanded for float and double.
 */
#include "mn_runtime.h"

#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* for (i = 0; i < count; i++) BODY, as a vectorisable main loop and a tail */
#define MN_SPLIT_LOOP(count, BODY)                                                                      \
    do {                                                                                                \
        const long mn_main_ = (count) & ~15L;                                                           \
        long i = 0;                                                                                     \
        for (; i < mn_main_; i++) BODY                                                                  \
        for (; i < (count); i++) BODY                                                                   \
    } while (0)

#define MN_DEFINE_OPTIMIZERS(T, SFX, SQRT)                                                              \
    double mn_sum_squares_##SFX(const T *g, long count)                                                 \
    {                                                                                                   \
        double s = 0.0;                                                                                 \
        for (long i = 0; i < count; i++) s += (double)g[i] * g[i];                                      \
        return s;                                                                                       \
    }                                                                                                   \
                                                                                                        \
    void mn_adam_##SFX(T *restrict w, T *restrict m, T *restrict v, const T *restrict g, long count,   \
                       T scale, T lr_t, T b1, T b2, T eps)                                              \
    {                                                                                                   \
        MN_SPLIT_LOOP(count, {                                                                          \
            const T gi = g[i] * scale;                                                                  \
            m[i] = b1 * m[i] + (1 - b1) * gi;                                                           \
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;                                                      \
            w[i] -= lr_t * m[i] / (SQRT(v[i]) + eps);                                                   \
        });                                                                                             \
    }                                                                                                   \
                                                                                                        \
    void mn_sgd_momentum_##SFX(T *restrict w, T *restrict m, const T *restrict g, long count, T scale, \
                               T lr, T momentum)                                                        \
    {                                                                                                   \
        MN_SPLIT_LOOP(count, {                                                                          \
            m[i] = momentum * m[i] - lr * g[i] * scale;                                                 \
            w[i] += m[i];                                                                               \
        });                                                                                             \
    }                                                                                                   \
                                                                                                        \
    void mn_sgd_##SFX(T *restrict w, const T *restrict g, long count, T scale, T lr)                    \
    {                                                                                                   \
        MN_SPLIT_LOOP(count, { w[i] -= lr * g[i] * scale; });                                          \
    }

MN_DEFINE_OPTIMIZERS(float, f32, sqrtf)
MN_DEFINE_OPTIMIZERS(double, f64, sqrt)
