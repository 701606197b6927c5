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

/* mn_safetensors.c: the limits of what mn_load_safetensors accepts.
 *
 * MN_SAFETENSORS_MAX_HEADER is the largest header (the JSON text after the
 * 8-byte length) a file may have: 100,000,000 bytes, the cap of the
 * safetensors reference implementation (MAX_HEADER_SIZE in the Rust crate),
 * so that mnc refuses no header the format allows and accepts none it
 * refuses. mnc writes about 100 bytes per tensor, so a real model's header
 * is a few kilobytes; the cap only bounds what a hostile length can make
 * the loader allocate (the header, its decoded strings and one entry per
 * tensor: a small multiple of the limit, never a function of the file's
 * size, whose data is read only once the header matched the model).
 *
 * MN_SAFETENSORS_MAX_DEPTH is how deeply __metadata__ may nest arrays and
 * objects (the parser recurses once per level). */
#define MN_SAFETENSORS_MAX_HEADER 100000000u
#define MN_SAFETENSORS_MAX_DEPTH 64

/* mn_data.c: the limits of what mn_data_load accepts (docs/trainer.md,
 * "Limits"). A file past one is refused with a one-line message naming it.
 *
 * MN_CSV_MAX_BYTES, 4 GiB: the largest CSV file. It is read whole, and
 * the reader parses some 35 MB a second (two minutes for 4 GiB), so a
 * bigger text is better saved as .npy; at 2 bytes a value ("0,") it still
 * holds 2^31 values.
 *
 * MN_NPY_MAX_BYTES, 16 GiB: the largest .npy file (read whole, then
 * converted: about twice its size in memory for float32 data).
 *
 * MN_NPY_MAX_HEADER, 65535 bytes: the largest .npy header (the dictionary
 * with its padding, after the magic string, the version and the length).
 * It is the most a format 1.0 file can state (a 2-byte length), and more
 * than NumPy's own reader accepts by default (np.load's max_header_size,
 * 10000); numpy.save writes 128 bytes for every dtype mnc reads, and
 * turns to format 2.0 or 3.0 only for a header longer than 65535 (a
 * structured dtype of many fields, which mnc does not read anyway).
 *
 * MN_DATA_MAX_SAMPLES, INT32_MAX: the most samples (CSV data rows, or the
 * N of .npy files); the trainer counts its batches in int.
 *
 * MN_CSV_MAX_FIELD, 511: the longest CSV field, quotes removed. */
#define MN_CSV_MAX_BYTES 4294967296ull
#define MN_NPY_MAX_BYTES 17179869184ull
#define MN_NPY_MAX_HEADER 65535u
#define MN_DATA_MAX_SAMPLES 2147483647L
#define MN_CSV_MAX_FIELD 511

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
