/* bench.c — mnc's side of the benchmark (make bench; bench/bench.py drives it).
 *
 * Built against a model generated with `--prefix m --batch B` (float32),
 * compiled the way the README tells users to (-std=c99 -O2; this file is
 * gnu99 for dlsym(RTLD_NEXT)), linked with build/libmnrt.a -lopenblas -lm.
 * One fixed batch of M_BATCH samples from the harness's seeded generator
 * (tests/harness/harness.h), weights from m_init(42).
 *
 *   bench export FILE        the initial weights (weights0.NAME, or
 *                            frozen0.NAME when not trainable) and the batch
 *                            (input.NAME, target.NAME; int data as float),
 *                            safetensors F32, for the PyTorch side.
 *   bench run THREADS STEPS  times train_step and predict with
 *                            mn_set_threads(THREADS) (STEPS = 0: about
 *                            0.5 s per measurement, 5..200 steps), records
 *                            the matrix products of one train_step (on one
 *                            thread) and times them alone, twice: on
 *                            OpenBLAS's cblas_sgemm with THREADS threads of
 *                            its own, and on the runtime's mn_gemm_f32 with
 *                            mn_set_threads(THREADS) (its AVX-512 kernel
 *                            where the processor has one); prints
 *                            key=value lines.
 *
 * malloc, calloc and realloc are interposed (forwarding to glibc's __libc_
 * functions) to count heap calls per step. The generated code's calls of
 * mn_gemm_f32 are wrapped (bench.py links with -Wl,--wrap=mn_gemm_f32) to
 * record the shapes.
 */
#include <time.h>

#include <cblas.h>

#include "harness.h"

/* ---- heap calls ---------------------------------------------------------- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static long heap_calls;
void *malloc(size_t size) { __atomic_add_fetch(&heap_calls, 1, __ATOMIC_RELAXED); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { __atomic_add_fetch(&heap_calls, 1, __ATOMIC_RELAXED); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { __atomic_add_fetch(&heap_calls, 1, __ATOMIC_RELAXED); return __libc_realloc(p, size); }

/* ---- sgemm shapes ---------------------------------------------------------- */
typedef struct Gemm {
    int ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
} Gemm;
#define MAX_GEMMS 4096
static Gemm gemms[MAX_GEMMS];
static int ngemms, recording, gemm_overflow;
static double gemm_flops;

void __real_mn_gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc);
void __wrap_mn_gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc);

void __wrap_mn_gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc) {
    if (recording) {
        if (ngemms < MAX_GEMMS) {
            Gemm g = {ta, tb, M, N, K, lda, ldb, ldc, alpha, beta};
            gemms[ngemms++] = g;
        } else {
            gemm_overflow = 1;
        }
        gemm_flops += 2.0 * M * N * K;
    }
    __real_mn_gemm_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---- timing ------------------------------------------------------------------- */
static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median and p90 of t[0..n) (sorted in place) */
static void stats(double *t, int n, double *median, double *p90) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    *median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    int k = (int)(0.9 * (n - 1) + 0.5);
    *p90 = t[k];
}

static int auto_steps(double one_us) {
    if (one_us <= 0) one_us = 1;
    double s = 0.5e6 / one_us;
    return s < 5 ? 5 : s > 200 ? 200 : (int)s;
}

typedef struct Ctx {
    m *model;
    m_inputs in;
    m_targets tg;
    m_outputs out;
} Ctx;

static void do_train(Ctx *c) { m_train_step(c->model, &c->in, &c->tg, M_BATCH); }
static void do_predict(Ctx *c) { m_predict(c->model, &c->in, M_BATCH, &c->out); }

/* Warm-up, then `steps` (0: auto) individually timed calls. */
static void measure(const char *what, void (*f)(Ctx *), Ctx *c, int steps) {
    for (int i = 0; i < 2; i++) f(c);
    double t0 = now_us();
    f(c);
    double one = now_us() - t0;
    if (steps <= 0) steps = auto_steps(one);
    double *t = xcalloc((size_t)steps, sizeof *t);
    long calls0 = heap_calls;
    for (int i = 0; i < steps; i++) {
        double a = now_us();
        f(c);
        t[i] = now_us() - a;
    }
    long calls = heap_calls - calls0;
    double med, p90;
    stats(t, steps, &med, &p90);
    printf("%s_steps=%d\n%s_us=%.3f\n%s_p90_us=%.3f\n%s_allocs_per_step=%.3f\n", what, steps, what, med, what, p90,
           what, (double)calls / steps);
    free(t);
}

/* The recorded products of one train_step, alone, on buffers of their
 * shapes: on OpenBLAS (runtime = 0, key prefix "sgemm") or on the runtime's
 * mn_gemm_f32 (runtime = 1, key prefix "mn_gemm"). */
static void sgemm_peak(int steps, int runtime) {
    const char *key = runtime ? "mn_gemm" : "sgemm";
    if (ngemms == 0) {
        printf("%s_calls=0\n%s_peak_gflops=0\n", key, key);
        return;
    }
    /* Operand buffers per distinct shape (calls of one shape, e.g. an
     * LSTM's steps, share them: a step of a large model would not fit in
     * memory with buffers per call). */
    float **A = xcalloc((size_t)ngemms, sizeof *A), **B = xcalloc((size_t)ngemms, sizeof *B),
          **C = xcalloc((size_t)ngemms, sizeof *C);
    size_t *asz = xcalloc((size_t)ngemms, sizeof *asz), *bsz = xcalloc((size_t)ngemms, sizeof *bsz),
           *csz = xcalloc((size_t)ngemms, sizeof *csz);
    char *owner = xcalloc((size_t)ngemms, 1);
    for (int i = 0; i < ngemms; i++) {
        const Gemm *g = &gemms[i];
        size_t arows = g->ta == CblasNoTrans ? g->M : g->K;
        size_t brows = g->tb == CblasNoTrans ? g->K : g->N;
        size_t crows = (size_t)g->M;
        asz[i] = arows * (size_t)g->lda;
        bsz[i] = brows * (size_t)g->ldb;
        csz[i] = crows * (size_t)g->ldc;
        int j = 0;
        while (j < i && !(asz[j] == asz[i] && bsz[j] == bsz[i] && csz[j] == csz[i])) j++;
        if (j < i) {
            A[i] = A[j], B[i] = B[j], C[i] = C[j];
            continue;
        }
        owner[i] = 1;
        A[i] = xcalloc(asz[i] + 1, sizeof(float));
        B[i] = xcalloc(bsz[i] + 1, sizeof(float));
        C[i] = xcalloc(csz[i] + 1, sizeof(float));
        for (size_t e = 0; e < asz[i]; e++) A[i][e] = (float)((e % 7) * 0.1 - 0.3);
        for (size_t e = 0; e < bsz[i]; e++) B[i][e] = (float)((e % 5) * 0.1 - 0.2);
    }
    double *t = NULL;
    int n = 0;
    for (int pass = 0; pass < 2; pass++) { /* pass 0: warm-up and one timing */
        int reps = pass ? steps : 3;
        if (pass) t = xcalloc((size_t)reps, sizeof *t);
        for (int r = 0; r < reps; r++) {
            double a = now_us();
            for (int i = 0; i < ngemms; i++) {
                const Gemm *g = &gemms[i];
                if (runtime)
                    __real_mn_gemm_f32(g->ta, g->tb, g->M, g->N, g->K, g->alpha, A[i], g->lda, B[i], g->ldb, g->beta,
                                       C[i], g->ldc);
                else
                    cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->M, g->N, g->K, g->alpha, A[i], g->lda, B[i], g->ldb,
                                g->beta, C[i], g->ldc);
            }
            double d = now_us() - a;
            if (pass) t[r] = d;
            else if (steps <= 0 && r == 2) steps = auto_steps(d);
        }
        n = reps;
    }
    double med, p90;
    stats(t, n, &med, &p90);
    printf("%s_calls=%d\n%s_steps=%d\n%s_us=%.3f\n%s_peak_gflops=%.4f\n", key, ngemms, key, n, key, med, key,
           med > 0 ? gemm_flops / med / 1e3 : 0);
    for (int i = 0; i < ngemms; i++) {
        if (!owner[i]) continue;
        free(A[i]);
        free(B[i]);
        free(C[i]);
    }
    free(owner);
    free(asz);
    free(bsz);
    free(csz);
    free(A);
    free(B);
    free(C);
    free(t);
}

static void setup(Ctx *c, Data *d) {
    c->model = model_new(42);
    data_make(d, M_BATCH, 42);
    data_view(d, 0, &c->in, &c->tg);
    memset(&c->out, 0, sizeof c->out);
    for (int i = 0; i < M_NUM_OUTPUTS; i++) {
        real *o = xcalloc((size_t)M_BATCH * m_output_info[i].size, sizeof(real));
        memcpy((char *)&c->out + m_output_info[i].field_offset, &o, sizeof o);
    }
}

static int export_file(const char *path) {
    Ctx c;
    Data d;
    setup(&c, &d);
    int n = M_NUM_TENSORS + M_NUM_INPUTS + M_NUM_TARGETS;
    mn_tensor_info *t = xcalloc((size_t)n, sizeof *t);
    size_t total = 0;
    int k = 0;
    for (int i = 0; i < M_NUM_TENSORS; i++, k++) {
        t[k] = m_tensors[i];
        char *name = xcalloc(strlen(m_tensors[i].name) + 16, 1);
        sprintf(name, "%s.%s", m_tensors[i].trainable ? "weights0" : "frozen0", m_tensors[i].name);
        t[k].name = name;
        t[k].offset = total;
        total += t[k].count;
    }
    for (int i = 0; i < M_NUM_INPUTS + M_NUM_TARGETS; i++, k++) {
        const mn_io_info *io = i < M_NUM_INPUTS ? &m_input_info[i] : &m_target_info[i - M_NUM_INPUTS];
        char *name = xcalloc(strlen(io->name) + 16, 1);
        sprintf(name, "%s.%s", i < M_NUM_INPUTS ? "input" : "target", io->name);
        memset(&t[k], 0, sizeof t[k]);
        t[k].name = name;
        t[k].rank = io->rank + 1;
        t[k].dims[0] = M_BATCH;
        for (int r = 0; r < io->rank; r++) t[k].dims[r + 1] = io->dims[r];
        t[k].count = (size_t)M_BATCH * io->size;
        t[k].offset = total;
        t[k].trainable = 1;
        total += t[k].count;
    }
    float *buf = xcalloc(total, sizeof(float));
    k = 0;
    for (int i = 0; i < M_NUM_TENSORS; i++, k++)
        memcpy(buf + t[k].offset, c.model->params + m_tensors[i].offset, sizeof(float) * t[k].count);
    for (int i = 0; i < M_NUM_INPUTS + M_NUM_TARGETS; i++, k++) {
        const mn_io_info *io = i < M_NUM_INPUTS ? &m_input_info[i] : &m_target_info[i - M_NUM_INPUTS];
        const void *src = i < M_NUM_INPUTS ? d.input[i] : d.target[i - M_NUM_INPUTS];
        for (size_t e = 0; e < t[k].count; e++)
            buf[t[k].offset + e] = io->dtype == MN_I32 ? (float)((const int32_t *)src)[e] : ((const float *)src)[e];
    }
    char err[512] = "";
    int rc = mn_save_safetensors(path, t, n, buf, MN_F32, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "bench: cannot write %s: %s (%s)\n", path, mn_strerror(rc), err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "export") == 0) return export_file(argv[2]);
    if (argc != 4 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: bench export FILE | bench run THREADS STEPS(0=auto)\n");
        return 2;
    }
    int threads = atoi(argv[2]), steps = atoi(argv[3]);
    Ctx c;
    Data d;
    setup(&c, &d);
    printf("corename=%s\nbatch=%d\nthreads=%d\n", openblas_get_corename(), M_BATCH, threads);
    printf("arena_bytes=%zu\n", sizeof c.model->arena);
    /* the products of one train_step, recorded on one thread */
    mn_set_threads(1);
    do_train(&c); /* the first call (OpenBLAS sets up its buffers) */
    recording = 1;
    do_train(&c);
    recording = 0;
    printf("gemm_flops=%.0f\n", gemm_flops);
    if (gemm_overflow) printf("gemm_overflow=1\n");
    /* measured the way a user runs it: mn_set_threads(threads) */
    if (mn_set_threads(threads) != MN_OK) {
        fprintf(stderr, "bench: cannot start %d threads\n", threads);
        return 2;
    }
    measure("train", do_train, &c, steps);
    measure("predict", do_predict, &c, steps);
    /* the products alone: on the runtime's mn_gemm (threads as measured),
     * then on OpenBLAS with its own `threads` threads */
    sgemm_peak(steps, 1);
    mn_set_threads(1);
    openblas_set_num_threads(threads);
    sgemm_peak(steps, 0);
    return 0;
}
