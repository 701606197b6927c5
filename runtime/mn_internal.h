/* mn_internal.h — helpers shared by the runtime's own files; not installed,
 * not for generated code (their names end in _ and are not part of the API). */
#ifndef MN_INTERNAL_H
#define MN_INTERNAL_H

#include <stddef.h>

/* Writes a formatted one-line reason into err (when the caller gave one)
 * and returns code, so that failures read `return mn_fail_(...)`. Control
 * characters (a tensor name or a CSV cell may hold them) become '?' to keep
 * the message on one line. */
#if defined(__GNUC__)
int mn_fail_(int code, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#else
int mn_fail_(int code, char *err, size_t errlen, const char *fmt, ...);
#endif

/* mn_gemm.c: C = alpha op(A) op(B) + beta C (row-major, cblas's arguments
 * less the order) with the runtime's AVX-512 kernel. Returns 1 when it
 * computed the product, 0 when the caller must (no AVX-512 on this
 * processor, MNRT_GEMM=blas in the environment, alpha = 0 or K = 0). ws: MN_SGEMM_WS floats, 64-byte aligned, used by no
 * other call at the same time. */
#define MN_SGEMM_KC 256
#define MN_SGEMM_MC 384
#define MN_SGEMM_NC 1024
#define MN_SGEMM_WS (MN_SGEMM_MC * MN_SGEMM_KC + MN_SGEMM_KC * MN_SGEMM_NC)
int mn_sgemm_avx512_(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                     float beta, float *C, int ldc, float *ws);

#endif /* MN_INTERNAL_H */
