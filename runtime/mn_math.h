/* mn_math.h — vectorisable single-precision exp, sigmoid and tanh.
 *
 * Why these exist: the generated code's hot loops (LSTM/GRU gates, the
 * sigmoid and tanh activations, softmax) would otherwise call libm's expf
 * and tanhf once per element.  A call into libm inside a loop stops gcc's
 * and clang's auto-vectorisers, so those loops run one float at a time.
 * The functions here are static inline, straight-line C99 that gcc -O2
 * (even its "very cheap" vectoriser cost model) and clang -O2 vectorise:
 * every case is computed and then chosen without a branch, type punning is
 * via memcpy.  The choices are made on the bits (an unsigned min, masks
 * from integer compares) rather than as float ternaries: gcc 12 turns
 * those into branches, jump-threads or sinks whole computations into them,
 * and then refuses to if-convert the loop ("control flow in loop").  They need no
 * intrinsics, no builtins and no -ffast-math.  They are not meant for
 * -ffast-math either: it may regroup the two-part range reduction (errors
 * of ~60 ulp seen near |x| = 72) and assume away the infinities that the
 * saturation of sigmoid and tanh relies on.
 *
 * They are approximations, as are the vectorised CPU kernels of the big
 * frameworks: PyTorch's use Sleef (its 1-ulp variants) and TensorFlow's use
 * Eigen's polynomial expf/tanhf.  Measured against double-precision libm
 * over every float bit pattern (x86-64, gcc 12 -O2 and clang 14 -O2; the
 * vectorised loops), as error in units of the last place of the float
 * result (2^-149 for subnormal results):
 *
 *   mn_exp_f      0.99 ulp max wherever e^x is a normal float (1.01 with
 *                 FMA contraction, -march=native -std=gnu99); +inf from
 *                 x = 88.7228394 (= ln FLT_MAX rounded, as libm); gradual
 *                 underflow kept, 0.75 subnormal ulp max (2^n is applied in
 *                 two steps, so that only the last product rounds); 0
 *                 from x = -103.97; NaN for a NaN only.
 *   mn_sigmoid_f  2.40 ulp max where the result is >= 1e-30, 1.0 below
 *                 (subnormals included); exactly 0.5 at +-0, 1 from
 *                 x = 16.64 and at +inf, 0 from -103.97 and at -inf; NaN
 *                 for a NaN only.
 *   mn_tanh_f     1.33 ulp max over the whole float range (at |x| = 0.628,
 *                 just above the switch from the polynomial); odd bit for
 *                 bit (tanh(-0) = -0); +-1 from |x| = 9.0109 (as libm's
 *                 tanhf); NaN for a NaN only.
 *
 * tests/unit/test_runtime.c checks bounds of 2 ulp (exp), 4 ulp (sigmoid,
 * tanh) on every 997th bit pattern plus dense sweeps, and the special
 * values.
 *
 * mn_exp_f is Cephes expf: n = round(x log2 e), r = x - n ln 2 with ln 2
 * split in a 9-bit high part and a low part, e^r = 1 + r + r^2 P(r) with
 * Cephes' degree-5 minimax P, and 2^n built in the exponent bits.
 * mn_sigmoid_f is 1 / (1 + e^-x) written with e = exp(-|x|) so that the
 * exponential never overflows: 1 / (1 + e) for x >= 0, e / (1 + e) for
 * x < 0 (the same function; one division).  mn_tanh_f is Cephes tanhf:
 * x + x^3 P(x^2) for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1), with the
 * sign of x put back in the sign bit.
 */
#ifndef MN_MATH_H
#define MN_MATH_H

#include <stdint.h>
#include <string.h>

/* The bits of a float and back (memcpy: well defined, and compiled to a
 * register move). */
static inline uint32_t mn_math_bits_(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float mn_math_float_(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* e^x. */
static inline float mn_exp_f(float x)
{
    /* Clamp x to [-104, 89] (far enough for +inf above ln(FLT_MAX) and
     * for 0 below ln(2^-150), near enough for n to fit the scaling below),
     * on the bits: an unsigned min of |x| with 104 or 89 by the sign.  This
     * also maps +-inf and NaN into range; a NaN is made NaN again at the
     * end.  (Float ternaries here would be branches that gcc jump-threads
     * into copies of the whole function, which it cannot if-convert.) */
    uint32_t ux = mn_math_bits_(x);
    uint32_t sign = ux >> 31;
    uint32_t ax = ux & 0x7fffffffu;
    uint32_t lim = 0x42b20000u + ((0u - sign) & 0x1e0000u);   /* 89 or 104 */
    float xc = mn_math_float_((ax < lim ? ax : lim) | (sign << 31));

    /* n = round(x log2 e), n in [-150, 128], by the 1.5 * 2^23 trick: the
     * sum's low mantissa bits are 2^22 + n.  n is read from the bits and
     * no float is converted to an integer (undefined for a NaN). */
    float t = xc * 1.44269504088896341f + 12582912.0f;
    int32_t n = (int32_t)(mn_math_bits_(t) & 0x7fffffu) - 0x400000;
    float fn = (float)n;

    /* r = x - n ln 2, |r| <= ~0.347; n * 0.693359375 is exact. */
    float r = xc - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;

    /* e^r = 1 + r + r^2 P(r). */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;

    /* 2^n in two steps, n = n1 + n2 with n1, n2 in [-75, 64]: n1 is added
     * to the exponent field of e^r (in [0.7, 1.42], so e^r 2^n1 is a
     * normal float, exactly), then one product with the normal float 2^n2
     * rounds once, to +inf above FLT_MAX and to a subnormal in gradual
     * underflow.  (Integer arithmetic, unsigned so that a negative n1
     * wraps as it should; a single float product, so no regrouping by a
     * compiler can overflow or flush an intermediate.) */
    int32_t n1 = n / 2;
    int32_t n2 = n - n1;
    float p1 = mn_math_float_(mn_math_bits_(p) + ((uint32_t)n1 << 23));
    float y = p1 * mn_math_float_((uint32_t)(n2 + 127) << 23);   /* >= 0 */

    /* NaN in, NaN out: or-ing 0x7fc00000 into y's bits makes a quiet NaN. */
    uint32_t nan = 0u - (uint32_t)(ax > 0x7f800000u);
    return mn_math_float_(mn_math_bits_(y) | (nan & 0x7fc00000u));
}

/* 1 / (1 + e^-x). */
static inline float mn_sigmoid_f(float x)
{
    uint32_t ux = mn_math_bits_(x);
    float ax = mn_math_float_(ux & 0x7fffffffu);
    float e = mn_exp_f(-ax);               /* in [0, 1]; NaN for NaN */
    /* num = x < 0 ? e : 1, selected on the bits by the sign bit (see
     * mn_tanh_f for why not a float ternary); at -0 both are 1. */
    uint32_t neg = 0u - (ux >> 31);
    float num = mn_math_float_((mn_math_bits_(e) & neg) | (0x3f800000u & ~neg));
    return num / (1.0f + e);
}

/* tanh x. */
static inline float mn_tanh_f(float x)
{
    uint32_t ux = mn_math_bits_(x);
    uint32_t sign = ux & 0x80000000u;
    float ax = mn_math_float_(ux & 0x7fffffffu);

    /* |x| < 0.625: Cephes' odd polynomial. */
    float z = ax * ax;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * ax + ax;

    /* Otherwise 1 - 2 / (e^{2|x|} + 1): 1 once e^{2|x|} is +inf. */
    float big = 1.0f - 2.0f / (mn_exp_f(2.0f * ax) + 1.0f);

    /* Select on the bits, |x| < 0.625 as an integer compare: a float
     * ternary between two computed values becomes a branch into which gcc
     * sinks the division, and then it no longer if-converts the loop.  A
     * NaN takes big, which is NaN. */
    uint32_t use_small = 0u - (uint32_t)((ux & 0x7fffffffu) < 0x3f200000u);
    uint32_t t = (mn_math_bits_(small) & use_small) | (mn_math_bits_(big) & ~use_small);
    return mn_math_float_(t | sign);
}

#endif /* MN_MATH_H */
