/* mn_init.c — weight initialisers (Keras definitions).
 *
 * Every value is computed in double from the RNG and only then stored,
 * cast to float for the _f32 variants. The f32 and f64 variants therefore
 * consume the same random numbers in the same order, and an f32 weight is
 * exactly the f64 weight rounded to float.
 *
 * The uniform-based initialisers (uniform, glorot_uniform) are bit-identical
 * on every platform (integer RNG, one multiply-add in double, sqrt is
 * correctly rounded). normal goes through mn_rng_normal and so depends on
 * libm's log and cos (see mn_rng.c).
 *
 * Each initialiser is written once, in MN_DEFINE_INITIALISERS, and expanded
 * for float and double.
 */
#include "mn_runtime.h"

#include <math.h>

/* Bit-identity needs every multiply and add rounded separately: a fused
 * multiply-add (on FMA hardware such as aarch64) would round once and give
 * different low bits. Clang honours the standard pragma; GCC does not know it
 * (and warns), but GCC in ISO mode (-std=c11) already defaults to
 * -ffp-contract=off. Build the runtime with -std=c11 or -ffp-contract=off. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* The half-width of Glorot/Xavier uniform: sqrt(6 / (fan_in + fan_out)). */
static double glorot_limit(double fan_in, double fan_out)
{
    return sqrt(6.0 / (fan_in + fan_out));
}

/* Defines the five initialisers for one element type:
 *   fill            every element = value
 *   uniform         lo + (hi - lo) * u,          u uniform in [0, 1)
 *   normal          mean + std * z,              z standard normal
 *   glorot_uniform  -limit + 2 * limit * u,      limit = glorot_limit(...)
 *   orthogonal      orthonormal rows or columns (recurrent kernels)
 * SUFFIX is f32 or f64, TYPE the matching C type. */
#define MN_DEFINE_INITIALISERS(SUFFIX, TYPE)                                  \
    void mn_init_fill_##SUFFIX(TYPE *w, size_t n, double value)               \
    {                                                                         \
        for (size_t i = 0; i < n; i++)                                        \
            w[i] = (TYPE)value;                                               \
    }                                                                         \
                                                                              \
    void mn_init_uniform_##SUFFIX(TYPE *w, size_t n, double lo, double hi,    \
                                  mn_rng *r)                                  \
    {                                                                         \
        const double width = hi - lo;                                         \
        for (size_t i = 0; i < n; i++)                                        \
            w[i] = (TYPE)(lo + width * mn_rng_uniform(r));                    \
    }                                                                         \
                                                                              \
    void mn_init_normal_##SUFFIX(TYPE *w, size_t n, double mean, double std,  \
                                 mn_rng *r)                                   \
    {                                                                         \
        for (size_t i = 0; i < n; i++)                                        \
            w[i] = (TYPE)(mean + std * mn_rng_normal(r));                     \
    }                                                                         \
                                                                              \
    void mn_init_glorot_uniform_##SUFFIX(TYPE *w, size_t n, double fan_in,    \
                                         double fan_out, mn_rng *r)           \
    {                                                                         \
        const double limit = glorot_limit(fan_in, fan_out);                   \
        for (size_t i = 0; i < n; i++)                                        \
            w[i] = (TYPE)(-limit + 2.0 * limit * mn_rng_uniform(r));          \
    }                                                                         \
                                                                              \
    /* Keras's orthogonal: the rows (rows <= cols) or the columns of a      \
     * standard normal rows x cols matrix, made orthonormal in place by     \
     * modified Gram-Schmidt, run twice for accuracy, dot products in       \
     * double. Equal to QR's Q with a positive diagonal of R, as Keras's    \
     * sign correction makes it. Needs no memory beyond w. */               \
    void mn_init_orthogonal_##SUFFIX(TYPE *w, size_t rows, size_t cols,       \
                                     mn_rng *r)                               \
    {                                                                         \
        const int by_rows = rows <= cols;                                     \
        const size_t count = by_rows ? rows : cols, len = by_rows ? cols : rows; \
        const size_t step = by_rows ? 1 : cols, stride = by_rows ? cols : 1;  \
        for (size_t i = 0; i < rows * cols; i++)                              \
            w[i] = (TYPE)mn_rng_normal(r);                                    \
        for (size_t v = 0; v < count; v++) {                                  \
            TYPE *x = w + v * stride;                                         \
            for (int pass = 0; pass < 2; pass++)                              \
                for (size_t p = 0; p < v; p++) {                              \
                    const TYPE *q = w + p * stride;                           \
                    double dot = 0;                                           \
                    for (size_t j = 0; j < len; j++)                          \
                        dot += (double)x[j * step] * q[j * step];             \
                    for (size_t j = 0; j < len; j++)                          \
                        x[j * step] = (TYPE)(x[j * step] - dot * q[j * step]); \
                }                                                             \
            double norm = 0;                                                  \
            for (size_t j = 0; j < len; j++)                                  \
                norm += (double)x[j * step] * x[j * step];                    \
            norm = sqrt(norm);                                                \
            for (size_t j = 0; j < len; j++)                                  \
                x[j * step] = (TYPE)(x[j * step] / norm);                     \
        }                                                                     \
    }

MN_DEFINE_INITIALISERS(f32, float)
MN_DEFINE_INITIALISERS(f64, double)
