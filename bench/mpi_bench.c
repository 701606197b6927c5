/* mpi_bench.c — data-parallel training speed (make bench-mpi): samples per
 * second of one model, compiled with --prefix m and a batch of at least its
 * share, on however many ranks mpirun starts.
 *   mpi_bench GLOBAL_BATCH STEPS OVERLAP(0/1) [BUCKET_BYTES]
 * Each rank computes GLOBAL_BATCH / ranks samples a step (synthetic data
 * shaped by the model's descriptors); the gradients go through the runtime's
 * MPI layer (bucketed MPI_Iallreduce, overlapped with backward or all after
 * it). Prints, on rank 0, one line of key=value: the median step time over
 * STEPS (after 3 warm-up steps), samples/s, and the median time per step
 * inside MPI on the gradients (rank 0's; waiting included).
 */
#include <time.h>

#include "harness.h"
#include "mn_mpi.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    if (mn_mpi_init(&argc, &argv) != MN_OK) return 2;
    int rank = mn_mpi_rank(), ranks = mn_mpi_size();
    if (argc < 4) {
        if (rank == 0) fprintf(stderr, "usage: mpi_bench GLOBAL_BATCH STEPS OVERLAP [BUCKET_BYTES]\n");
        mn_mpi_finalize();
        return 2;
    }
    int global = atoi(argv[1]), steps = atoi(argv[2]), overlap = atoi(argv[3]);
    size_t bucket = argc > 4 ? (size_t)atol(argv[4]) : 0;
    int mine = global / ranks;
    if (global % ranks || mine > M_BATCH || steps < 1) {
        if (rank == 0) fprintf(stderr, "mpi_bench: %d ranks do not split %d into shares of at most %d\n", ranks, global,
                               M_BATCH);
        mn_mpi_finalize();
        return 2;
    }
    Data d;
    data_make(&d, mine, 5 + (uint64_t)rank);
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);
    m *model = model_new(1);
    mn_mpi_bcast(model->params, sizeof model->params);
    mn_mpi_grads *red = mn_mpi_grads_new(m_tensors, m_grad_order, M_NUM_GRADS, sizeof(real) == 8 ? MN_F64 : MN_F32,
                                         bucket);
    real *grads = xcalloc(M_NUM_TRAINABLE, sizeof(real));
    double *step_s = xcalloc((size_t)steps, sizeof(double)), *mpi_s = xcalloc((size_t)steps, sizeof(double));
    for (int s = -3; s < steps; s++) {
        double t0 = now();
        mn_mpi_grads_begin(red, grads, (double)mine / global, overlap);
        m_compute_gradients_ready(model, &in, &tg, mine, grads, mn_mpi_grads_ready, red);
        if (mn_mpi_grads_end(red) != MN_OK) mn_mpi_abort(1, "allreduce");
        m_apply_gradients(model, grads);
        double in_mpi = mn_mpi_grads_seconds(red);
        double t = now() - t0; /* the allreduces keep the ranks in step */
        if (s >= 0) {
            step_s[s] = t;
            mpi_s[s] = in_mpi;
        }
    }
    double med = median(step_s, steps), med_mpi = median(mpi_s, steps);
    if (rank == 0)
        printf("ranks=%d global_batch=%d overlap=%d buckets=%d step_ms=%.3f samples_per_s=%.1f allreduce_ms=%.3f\n",
               ranks, global, overlap, mn_mpi_grads_buckets(red), 1e3 * med, global / med, 1e3 * med_mpi);
    mn_mpi_grads_free(red);
    mn_mpi_finalize();
    return 0;
}
