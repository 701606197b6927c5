/* mn_threads.c — the matrix products of generated code, and the threads
 * that share them.
 *
 * Generated code calls mn_gemm_f32/f64 (row-major, cblas's arguments less
 * the order) for every matrix product. With one thread (the default) that
 * is one call of OpenBLAS. mn_set_threads(k) starts k - 1 worker threads,
 * once; from then on a product large enough to be worth it is cut into k
 * slices (rows of C, or columns when C has few rows), each computed by one
 * single-threaded OpenBLAS call, one per thread, and mn_gemm returns when
 * all are done.
 *
 * Why not OpenBLAS's own threads: its threaded level-3 driver allocates on
 * the heap on every call (a job array), and generated code promises a hot
 * path without heap calls. The workers here wait on a condition variable
 * between products; a step allocates nothing. mn_set_threads also sets
 * OpenBLAS to one thread (openblas_set_num_threads(1)): the setting is
 * process-wide, as OpenBLAS's own is.
 *
 * Products with fewer than MIN_SPLIT_FLOPS multiply-adds run on the calling
 * thread alone: waking a worker costs microseconds. Products from several
 * threads at once are taken one at a time (`calls`).
 *
 * Single-precision slices go to the runtime's AVX-512 kernel (mn_gemm.c)
 * where the processor has it, else to OpenBLAS. The kernel packs into a
 * workspace: worker i owns ws[i], allocated when mn_set_threads starts it;
 * the calling thread uses ws0, which is static and taken with a trylock, so
 * a product issued while another thread holds it goes to OpenBLAS instead
 * of waiting or allocating.
 */
#include "mn_internal.h"
#include "mn_runtime.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

void openblas_set_num_threads(int num_threads);

#define MIN_SPLIT_FLOPS (1L << 18)

typedef struct Job {
    int dbl, ta, tb, M, N, K, lda, ldb, ldc;
    double alpha, beta;
    const void *A, *B;
    void *C;
    int split_rows; /* slice the rows of C (else its columns) */
} Job;

static struct {
    int threads;                 /* 1 = no workers */
    pthread_t tid[MN_MAX_THREADS];
    pthread_mutex_t calls;       /* one split product at a time */
    pthread_mutex_t mu;          /* the fields below */
    pthread_cond_t go, done;
    unsigned long generation;    /* bumped for every product handed out */
    int pending;                 /* workers still computing it */
    int quit;
    const Job *job;
    float *ws[MN_MAX_THREADS];   /* the workers' kernel workspaces; [0] unused */
} pool = {1, {0}, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, {NULL}};

static _Alignas(64) float ws0[MN_SGEMM_WS];
static pthread_mutex_t ws0_lock = PTHREAD_MUTEX_INITIALIZER;

static void sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc, int part)
{
    int done = 0;
    if (part > 0) {
        done = mn_sgemm_avx512_(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, pool.ws[part]);
    } else if (pthread_mutex_trylock(&ws0_lock) == 0) {
        done = mn_sgemm_avx512_(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws0);
        pthread_mutex_unlock(&ws0_lock);
    }
    if (!done) cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void part_range(int total, int part, int parts, int *lo, int *len)
{
    int base = total / parts, extra = total % parts;
    *lo = part * base + (part < extra ? part : extra);
    *len = base + (part < extra);
}

/* Slice `part` of `parts` of the product. */
static void run_part(const Job *j, int part, int parts)
{
    int lo, len, M = j->M, N = j->N;
    size_t a_off = 0, b_off = 0, c_off;
    if (j->split_rows) {
        part_range(j->M, part, parts, &lo, &len);
        M = len;
        a_off = j->ta == CblasNoTrans ? (size_t)lo * j->lda : (size_t)lo;
        c_off = (size_t)lo * j->ldc;
    } else {
        part_range(j->N, part, parts, &lo, &len);
        N = len;
        b_off = j->tb == CblasNoTrans ? (size_t)lo : (size_t)lo * j->ldb;
        c_off = (size_t)lo;
    }
    if (M == 0 || N == 0) return;
    if (j->dbl)
        cblas_dgemm(CblasRowMajor, j->ta, j->tb, M, N, j->K, j->alpha, (const double *)j->A + a_off, j->lda,
                    (const double *)j->B + b_off, j->ldb, j->beta, (double *)j->C + c_off, j->ldc);
    else
        sgemm(j->ta, j->tb, M, N, j->K, (float)j->alpha, (const float *)j->A + a_off, j->lda,
              (const float *)j->B + b_off, j->ldb, (float)j->beta, (float *)j->C + c_off, j->ldc, part);
}

static void *worker(void *arg)
{
    int index = (int)(intptr_t)arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.generation == seen && !pool.quit) pthread_cond_wait(&pool.go, &pool.mu);
        if (pool.quit) break;
        seen = pool.generation;
        const Job *job = pool.job;
        int parts = pool.threads;
        pthread_mutex_unlock(&pool.mu);
        run_part(job, index, parts);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

static void stop_workers(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.quit = 1;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 1; i < pool.threads; i++) {
        pthread_join(pool.tid[i], NULL);
        free(pool.ws[i]);
        pool.ws[i] = NULL;
    }
    pool.quit = 0;
    pool.threads = 1;
}

int mn_set_threads(int threads)
{
    if (threads < 1 || threads > MN_MAX_THREADS) return MN_ERR_ARG;
    openblas_set_num_threads(1);
    if (threads == pool.threads) return MN_OK;
    pthread_mutex_lock(&pool.calls); /* no product is running */
    stop_workers();
    for (int i = 1; i < threads; i++) {
        pool.ws[i] = aligned_alloc(64, sizeof(float) * MN_SGEMM_WS);
        if (!pool.ws[i] || pthread_create(&pool.tid[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            free(pool.ws[i]);
            pool.ws[i] = NULL;
            pool.threads = i; /* stop the ones started */
            stop_workers();
            pthread_mutex_unlock(&pool.calls);
            return MN_ERR_NOMEM;
        }
        pool.threads = i + 1;
    }
    pthread_mutex_unlock(&pool.calls);
    return MN_OK;
}

int mn_get_threads(void) { return pool.threads; }

static void gemm(Job *j)
{
    double flops = (double)j->M * j->N * j->K;
    int parts = pool.threads;
    if (parts == 1 || flops < MIN_SPLIT_FLOPS) {
        run_part(j, 0, 1);
        return;
    }
    /* slice whichever of C's dimensions is longer */
    j->split_rows = j->M >= j->N;
    pthread_mutex_lock(&pool.calls);
    pthread_mutex_lock(&pool.mu);
    pool.job = j;
    pool.pending = parts - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    run_part(j, 0, parts);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pool.job = NULL;
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.calls);
}

void mn_gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc)
{
    Job j = {0, ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C, 1};
    gemm(&j);
}

void mn_gemm_f64(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda, const double *B,
                 int ldb, double beta, double *C, int ldc)
{
    Job j = {1, ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C, 1};
    gemm(&j);
}
