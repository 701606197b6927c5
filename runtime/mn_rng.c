/* mn_rng.c — the runtime's random number generator.
 *
 * xoshiro256** (Blackman & Vigna, https://prng.di.unimi.it/xoshiro256starstar.c)
 * seeded through splitmix64: the state s[0..3] is four successive splitmix64
 * outputs of the seed. Everything is integer arithmetic on uint64_t, so
 * mn_rng_next, mn_rng_uniform and mn_rng_below (and the uniform-based
 * initialisers built on them) give bit-identical results on every platform.
 *
 * mn_rng_normal is the exception: Box-Muller calls log, cos and sqrt from
 * libm. sqrt is correctly rounded everywhere (IEEE 754), but log and cos are
 * not required to be, so normal variates are bit-identical across platforms
 * only as far as the platforms' libm agree.
 *
 * The generator's whole state lives in the caller's mn_rng: no globals.
 */
#include "mn_runtime.h"

#include <math.h>

/* A 64-bit left rotation; k is in 1..63 at every call site. */
static inline uint64_t rotate_left(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* One step of splitmix64 (Steele, Lea & Flood; Vigna's reference code):
 * advances *counter and returns a well-mixed 64-bit value. Used only to
 * expand a seed into the xoshiro state. */
static uint64_t splitmix64_next(uint64_t *counter)
{
    uint64_t z = (*counter += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Seeds the generator. splitmix64 is a bijection of its counter, so four
 * successive outputs are never all zero (the one state xoshiro must avoid). */
void mn_rng_seed(mn_rng *r, uint64_t seed)
{
    uint64_t counter = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64_next(&counter);
}

/* The next 64 random bits: xoshiro256** exactly as in the reference code. */
uint64_t mn_rng_next(mn_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotate_left(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotate_left(s[3], 45);
    return result;
}

/* A double uniform in [0, 1): the top 53 bits of one output scaled by 2^-53,
 * so every value is an exact multiple of 2^-53 (no rounding anywhere). */
double mn_rng_uniform(mn_rng *r)
{
    return (double)(mn_rng_next(r) >> 11) * 0x1.0p-53;
}

/* A standard normal variate by Box-Muller, one per call (the second variate
 * of the pair, sin, is discarded: mn_rng has no room to cache it, and one
 * value per call keeps the stream position easy to reason about).
 * u1 is taken in (0, 1] so that log(u1) is finite. Uses libm's log, cos and
 * sqrt: see the note at the top of this file about bit-identity. */
double mn_rng_normal(mn_rng *r)
{
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = 1.0 - mn_rng_uniform(r);   /* (0, 1] */
    double u2 = mn_rng_uniform(r);         /* [0, 1) */
    return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

/* An integer uniform in [0, n) without modulo bias, by rejection: outputs
 * below 2^64 mod n are thrown away, so the accepted range [threshold, 2^64)
 * holds a whole number of copies of [0, n). At most half the outputs are
 * rejected for any n, so the expected number of draws is below 2.
 * n == 0 is outside the contract; it returns 0 rather than looping. */
uint64_t mn_rng_below(mn_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    const uint64_t threshold = (0 - n) % n;   /* == 2^64 mod n */
    for (;;) {
        uint64_t x = mn_rng_next(r);
        if (x >= threshold)
            return x % n;
    }
}
