/* mn_gemm.c — the runtime's own single-precision matrix product for x86-64
 * processors with AVX-512.
 *
 * Why: OpenBLAS picks its kernel by processor model, and on processors it
 * does not know (or where OPENBLAS_CORETYPE says so) it runs its AVX2
 * (Haswell) kernel. On a processor whose AVX-512 units are as wide as its
 * registers (AMD Zen 5, Intel Xeon since Skylake-SP) that is half the
 * multiply-add rate: on the machine the benchmark runs on, 102 GFLOP/s for
 * 256-bit FMAs against 204 GFLOP/s for 512-bit ones on one core, and
 * OpenBLAS's Haswell sgemm reaches about 95. This file reaches about 150 on
 * the dense models' shapes (bench/ measures both side by side).
 *
 * The structure is the one BLIS and OpenBLAS use (Goto's algorithm):
 *
 *   for each block of NC columns of C:
 *     for each block of KC along K:        pack B's KC x NC block (NR panels)
 *       for each block of MC rows of C:    pack A's MC x KC block (MR panels, L2)
 *         for each panel of NR columns:    (B's KC x NR panel stays in L1)
 *           for each MR rows in the block: kernel: MR x NR tile of C
 *
 * The kernel keeps an 8 x 32 tile of C in 16 zmm registers and, for each k,
 * loads two vectors of B's panel and broadcasts eight values of A's panel:
 * 16 FMAs for 10 loads. Packing pads the panels with zeros, so the kernel
 * always runs full tiles; the edges of C are written with masked stores.
 * Packing also absorbs transposition: all four (ta, tb) cases use the one
 * kernel.
 *
 * A product with at most 16 columns (a dense layer with few outputs, or
 * its weight gradient) has a kernel of its own: an 8 x 16 tile, one zmm
 * per row. Blocks that gain nothing from packing are read in place: A
 * when C has one panel of columns (each row of A is used once) or when A
 * is not transposed (the kernel reads its eight rows in order) or small,
 * B when its block fits L1 untransposed.
 *
 * OpenBLAS keeps: every product on a processor without AVX-512 (or built
 * for another architecture), double precision, alpha = 0 or K = 0, and
 * every product when the environment variable MNRT_GEMM is "blas" (to
 * reproduce OpenBLAS's rounding exactly).
 *
 * Each call needs MN_SGEMM_WS floats of workspace, 64-byte aligned, that no
 * other call is using: mn_threads.c owns them (one per thread of its pool).
 * Nothing here allocates.
 */
#include "mn_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_KERNEL 1
#include <immintrin.h>
#include <stdatomic.h>
#else
#define HAVE_KERNEL 0
#endif

#define MR 8               /* rows of C per kernel call */
#define NR 32              /* columns of C per kernel call: two zmm */
#define KC MN_SGEMM_KC     /* depth of a block: B's panel, KC x NR, fits L1 */
#define MC MN_SGEMM_MC     /* rows of A per packed block: MC x KC fits L2 */
#define NC MN_SGEMM_NC     /* columns of B per packed block */

_Static_assert(MC % MR == 0, "MC is a multiple of MR");
_Static_assert(NC % NR == 0, "NC is a multiple of NR");
_Static_assert(MN_SGEMM_WS == MC * KC + KC * NC, "workspace = A's block + B's block");

#if HAVE_KERNEL

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
/* Row i's offset in a when A is read in place (rows past m repeat row 0). */
#define OFFSET(i) const ptrdiff_t o##i = (i < m ? i : 0) * rs;

/* The lanes of a 16-float vector that hold columns 0 .. n-1. */
static __mmask16 mask_of(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

/* The MR x NR tile C[0..m, 0..n] = alpha * (a x b) + beta * C, C not read
 * when beta is 0. Row k of b (its first n floats) is at b + k * bs: B's
 * packed panel (bs NR, zero-padded) or B itself. a: element (i, k) at
 * a[i * rs + k * cs]: a packed panel (rs 1, cs MR, zero-padded) or A
 * itself (then rows i >= m are never read: they repeat row 0, and are not
 * stored). */
__attribute__((target("avx512f"))) static void kernel(int kc, const float *a, ptrdiff_t rs, ptrdiff_t cs,
                                                      const float *restrict b, ptrdiff_t bs, float *c, int ldc, int m,
                                                      int n, float alpha, float beta)
{
    __mmask16 ml = mask_of(n), mh = mask_of(n - 16);
#define DECL(i) __m512 c##i##l = _mm512_setzero_ps(), c##i##h = _mm512_setzero_ps();
#define FMA(i, at)                                                                                                     \
    {                                                                                                                  \
        __m512 ai = _mm512_set1_ps(at);                                                                                \
        c##i##l = _mm512_fmadd_ps(ai, bl, c##i##l);                                                                    \
        c##i##h = _mm512_fmadd_ps(ai, bh, c##i##h);                                                                    \
    }
#define PACKED(i) FMA(i, a[i])
#define STRIDED(i) FMA(i, a[o##i])
    ROWS(DECL)
    if (rs == 1 && cs == MR) { /* the packed panel: offsets known here */
        for (int k = 0; k < kc; k++, a += MR, b += bs) {
            __m512 bl = _mm512_maskz_loadu_ps(ml, b), bh = _mm512_maskz_loadu_ps(mh, b + 16);
            ROWS(PACKED)
        }
    } else {
        ROWS(OFFSET)
        for (int k = 0; k < kc; k++, a += cs, b += bs) {
            __m512 bl = _mm512_maskz_loadu_ps(ml, b), bh = _mm512_maskz_loadu_ps(mh, b + 16);
            ROWS(STRIDED)
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#define STORE(i)                                                                                                       \
    if (i < m) {                                                                                                       \
        float *r = c + (size_t)i * ldc;                                                                                \
        __m512 lo = _mm512_mul_ps(va, c##i##l), hi = _mm512_mul_ps(va, c##i##h);                                       \
        if (beta != 0) {                                                                                               \
            lo = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(ml, r), lo);                                                \
            hi = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mh, r + 16), hi);                                           \
        }                                                                                                              \
        _mm512_mask_storeu_ps(r, ml, lo);                                                                              \
        _mm512_mask_storeu_ps(r + 16, mh, hi);                                                                         \
    }
    ROWS(STORE)
#undef DECL
#undef FMA
#undef PACKED
#undef STRIDED
#undef STORE
}

/* The same for a product with at most 16 columns: an MR x 16 tile, one zmm
 * per row. Row k of b (its first n floats) is at b + k * ldb: B's packed
 * panel (ldb 16) or B itself. a is always A itself (a narrow product uses
 * each row of A once, so packing it would only copy it). */
__attribute__((target("avx512f"))) static void kernel_narrow(int kc, const float *a, ptrdiff_t rs, ptrdiff_t cs,
                                                             const float *restrict b, ptrdiff_t ldb, float *c, int ldc,
                                                             int m, int n, float alpha, float beta)
{
#define DECL(i) __m512 c##i = _mm512_setzero_ps();
#define FMA(i) c##i = _mm512_fmadd_ps(_mm512_set1_ps(a[o##i]), bk, c##i);
    __mmask16 mk = mask_of(n);
    ROWS(DECL)
    ROWS(OFFSET)
    for (int k = 0; k < kc; k++, a += cs, b += ldb) {
        __m512 bk = _mm512_maskz_loadu_ps(mk, b);
        ROWS(FMA)
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#define STORE(i)                                                                                                       \
    if (i < m) {                                                                                                       \
        float *r = c + (size_t)i * ldc;                                                                                \
        __m512 v = _mm512_mul_ps(va, c##i);                                                                            \
        if (beta != 0) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, r), v);                                       \
        _mm512_mask_storeu_ps(r, mk, v);                                                                               \
    }
    ROWS(STORE)
#undef DECL
#undef FMA
#undef STORE
}

/* Rows i0 .. i0+mc, depth p0 .. p0+kc of op(A) as MR-row panels (k-major,
 * the last one zero-padded). Both cases read A along its rows, so that the
 * hardware prefetcher follows: a panel's worth of a transposed A would be
 * MR floats from each of kc rows, a page apart. */
static void pack_a(int ta, const float *A, int lda, int i0, int mc, int p0, int kc, float *dst)
{
    int padded = (mc + MR - 1) / MR * MR;
    if (ta == CblasNoTrans) { /* op(A)[i][k] = A[i * lda + k] */
        for (int i = 0; i < mc; i++) {
            const float *s = A + (size_t)(i0 + i) * lda + p0;
            float *d = dst + (size_t)(i / MR) * MR * kc + i % MR;
            for (int k = 0; k < kc; k++) d[k * MR] = s[k];
        }
    } else { /* op(A)[i][k] = A[k * lda + i] */
        for (int k = 0; k < kc; k++) {
            const float *s = A + (size_t)(p0 + k) * lda + i0;
            for (int i = 0; i < mc; i++) dst[(size_t)(i / MR) * MR * kc + k * MR + i % MR] = s[i];
        }
    }
    for (int i = mc; i < padded; i++) {
        float *d = dst + (size_t)(i / MR) * MR * kc + i % MR;
        for (int k = 0; k < kc; k++) d[k * MR] = 0;
    }
}

/* Columns j0 .. j0+nc, depth p0 .. p0+kc of op(B) as panels of `w`
 * columns (k-major, the last one zero-padded), read along B's rows. */
__attribute__((target("avx512f"))) static void pack_b(int tb, const float *B, int ldb, int j0, int nc, int p0,
                                                      int kc, float *dst, int w)
{
    if (tb == CblasNoTrans) { /* op(B)[k][j] = B[k * ldb + j]: 16 floats at a time, masked at the edge */
        for (int k = 0; k < kc; k++) {
            const float *s = B + (size_t)(p0 + k) * ldb + j0;
            for (int jp = 0; jp < nc; jp += w) { /* panel jp / w starts at dst + jp * kc */
                float *d = dst + (size_t)jp * kc + (size_t)k * w;
                for (int j = 0; j < w; j += 16)
                    _mm512_storeu_ps(d + j, _mm512_maskz_loadu_ps(mask_of(nc - jp - j), s + jp + j));
            }
        }
    } else { /* op(B)[k][j] = B[j * ldb + k] */
        for (int jp = 0; jp < nc; jp += w) {
            int n = nc - jp < w ? nc - jp : w;
            for (int j = 0; j < w; j++) {
                float *d = dst + (size_t)jp * kc + j;
                const float *s = B + (size_t)(j0 + jp + j) * ldb + p0;
                if (j < n)
                    for (int k = 0; k < kc; k++) d[(size_t)k * w] = s[k];
                else
                    for (int k = 0; k < kc; k++) d[(size_t)k * w] = 0;
            }
        }
    }
}

static atomic_int enabled = -1; /* -1: not decided yet; every thread decides the same */

static int decide(void)
{
    const char *v = getenv("MNRT_GEMM");
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && !(v && strcmp(v, "blas") == 0);
}

/* Where the kernel reads rows i.. of op(A) at depth p.. in place. */
static const float *in_place(int ta, const float *A, int lda, int i, int p, ptrdiff_t *rs, ptrdiff_t *cs)
{
    *rs = ta == CblasNoTrans ? lda : 1;
    *cs = ta == CblasNoTrans ? 1 : lda;
    return ta == CblasNoTrans ? A + (size_t)i * lda + p : A + (size_t)p * lda + i;
}

int mn_sgemm_avx512_(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                     float beta, float *C, int ldc, float *ws)
{
    int on = atomic_load_explicit(&enabled, memory_order_relaxed);
    if (on < 0) atomic_store_explicit(&enabled, on = decide(), memory_order_relaxed);
    if (!on || K <= 0 || alpha == 0) return 0;
    float *wa = ws, *wb = ws + (size_t)MC * KC;
    ptrdiff_t rs, cs;
    if (N <= 16) { /* one 16-wide panel of B per block of K: B itself, or packed when transposed */
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            const float *b = B + (size_t)pc * ldb;
            ptrdiff_t bstride = ldb;
            if (tb != CblasNoTrans) {
                pack_b(tb, B, ldb, 0, N, pc, kc, wb, 16);
                b = wb, bstride = 16;
            }
            for (int i = 0; i < M; i += MR) {
                const float *a = in_place(ta, A, lda, i, pc, &rs, &cs);
                kernel_narrow(kc, a, rs, cs, b, bstride, C + (size_t)i * ldc, ldc, M - i < MR ? M - i : MR, N, alpha,
                              pc == 0 ? beta : 1.0f);
            }
        }
        return 1;
    }
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            float be = pc == 0 ? beta : 1.0f;
            /* Packing is for blocks that stream through the caches: a
             * block of B that fits L1 as it is (32 KiB) is read in place. */
            int b_direct = tb == CblasNoTrans && (size_t)kc * nc <= 8192;
            if (!b_direct) pack_b(tb, B, ldb, jc, nc, pc, kc, wb, NR);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                /* A in place: when C has one panel of columns (each row of
                 * A meets B once), when A's rows run along K (the kernel
                 * reads eight rows, each in order), or when the block is
                 * small. A transposed block, reused, is packed: its rows
                 * may be a page apart. */
                int a_direct = nc <= NR || ta == CblasNoTrans || (size_t)mc * kc <= 8192;
                if (!a_direct) pack_a(ta, A, lda, ic, mc, pc, kc, wa);
                for (int jr = 0; jr < nc; jr += NR)
                    for (int ir = 0; ir < mc; ir += MR) {
                        const float *a = wa + (size_t)ir * kc, *b = wb + (size_t)jr * kc;
                        ptrdiff_t bs = NR;
                        rs = 1, cs = MR;
                        if (a_direct) a = in_place(ta, A, lda, ic + ir, pc, &rs, &cs);
                        if (b_direct) b = B + (size_t)pc * ldb + jc + jr, bs = ldb;
                        kernel(kc, a, rs, cs, b, bs, C + (size_t)(ic + ir) * ldc + jc + jr, ldc,
                               mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, alpha, be);
                    }
            }
        }
    }
    return 1;
}

#else /* no kernel for this processor or compiler: OpenBLAS does it all */

int mn_sgemm_avx512_(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                     float beta, float *C, int ldc, float *ws)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta;
    (void)C, (void)ldc, (void)ws;
    return 0;
}

#endif
