/* dp.c — data-parallel training over MPI equals its definition (run under
 * mpirun -np N; built with mpicc against the model and libmnrt_mpi.a).
 *
 * Every rank trains one instance for STEPS steps of the global batch M_BATCH
 * (rank r takes its contiguous share) with the runtime's MPI layer: rank 0's
 * initial weights broadcast, compute_gradients_ready with the bucketed,
 * overlapped allreduce (mn_mpi_grads_ready), then apply_gradients. Rank 0
 * then checks the weights against two references computed alone, from the
 * same initial weights and samples:
 *   1. per-rank semantics: N instances, one per rank (rank r's RNG: dropout),
 *      each computing its share's gradients; their sum weighted by share
 *      size, applied to all; batchnorm's moving statistics per instance, then
 *      averaged (as the trainer does at an epoch's end). Always required.
 *   2. one process on the whole batch (train_step): required unless the model
 *      has dropout or batchnorm (M_TRAINING_DIFFERS), whose per-rank
 *      semantics differ by definition.
 * The weights within rtol 1e-5 (atol 1e-6 in float, 1e-12 in double: Adam
 * turns float summation-order noise in tiny gradients into steps of about
 * that size), and every rank must end with rank 0's weights exactly. Since
 * Adam's step hardly depends on the gradients' scale, the first step's
 * averaged gradients are also compared with the references' (rtol 1e-4 and
 * atol 1e-6 of the largest in float, 1e-10 in double), which a wrong weight
 * in the average would fail.
 *   dp [STEPS] [BUCKET_BYTES] [overlap 0/1]
 */
#include "harness.h"
#include "mn_mpi.h"

#define RTOL 1e-5
#define ATOL (sizeof(real) == 8 ? 1e-12 : 1e-6)
#define GRAD_RTOL (sizeof(real) == 8 ? 1e-10 : 1e-4)

static int failures = 0;

static void fail_if(int bad, const char *what) {
    if (bad) {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

/* The rank-r instance's own RNG: rank 0 keeps the seed's, so that one rank
 * is exactly one process. */
static void rank_rng(m *model, int r) {
    if (r > 0) mn_rng_seed(&model->rng, 1000003u * (uint64_t)r + 17u);
}

static int share(int nb, int ranks, int r, int *first) {
    int base = nb / ranks, extra = nb % ranks;
    *first = r * base + (r < extra ? r : extra);
    return base + (r < extra);
}

static int is_moving(const mn_tensor_info *t) { return !t->trainable && strstr(t->name, ".moving_") != NULL; }

/* Worst |a - b| / (ATOL + RTOL |b|) over the weights: <= 1 passes. */
static double worst(const real *a, const real *b, const char **where) {
    double w = 0;
    for (int t = 0; t < M_NUM_TENSORS; t++)
        for (size_t i = 0; i < m_tensors[t].count; i++) {
            size_t k = m_tensors[t].offset + i;
            double d = fabs((double)a[k] - (double)b[k]) / (ATOL + RTOL * fabs((double)b[k]));
            if (d > w) {
                w = d;
                *where = m_tensors[t].name;
            }
        }
    return w;
}

/* Gradients: worst |a - b| / (atol + rtol |b|), atol scaled by the largest |b|. */
static double grad_worst(const real *a, const real *b) {
    double big = 0, w = 0;
    for (long k = 0; k < M_NUM_TRAINABLE; k++)
        if (fabs((double)b[k]) > big) big = fabs((double)b[k]);
    for (long k = 0; k < M_NUM_TRAINABLE; k++) {
        double d = fabs((double)a[k] - (double)b[k]) / (GRAD_RTOL * (big + fabs((double)b[k])) + 1e-300);
        if (d > w) w = d;
    }
    return w;
}

static double max_rel(const real *a, const real *b) {
    double w = 0;
    for (long k = 0; k < M_NUM_PARAMS; k++) {
        double d = fabs((double)a[k] - (double)b[k]) / (fabs((double)b[k]) + 1e-6);
        if (d > w) w = d;
    }
    return w;
}

int main(int argc, char **argv) {
    if (mn_mpi_init(&argc, &argv) != MN_OK) return 2;
    int rank = mn_mpi_rank(), ranks = mn_mpi_size();
    int steps = argc > 1 ? atoi(argv[1]) : 5;
    size_t bucket = argc > 2 ? (size_t)atol(argv[2]) : 0;
    int overlap = argc > 3 ? atoi(argv[3]) : 1;
    const int nb = M_BATCH;
    Data d;
    data_make(&d, steps * nb, 11); /* the same samples on every rank */

    /* data-parallel: rank 0's weights everywhere */
    m *model = model_new(rank == 0 ? 3 : 99);
    if (mn_mpi_bcast(model->params, sizeof model->params) != MN_OK) mn_mpi_abort(1, "bcast");
    rank_rng(model, rank);
    mn_mpi_grads *red = mn_mpi_grads_new(m_tensors, m_grad_order, M_NUM_GRADS, sizeof(real) == 8 ? MN_F64 : MN_F32,
                                         bucket);
    if (!red) mn_mpi_abort(1, "out of memory");
    real *grads = xcalloc(M_NUM_TRAINABLE, sizeof(real)), *first_grads = xcalloc(M_NUM_TRAINABLE, sizeof(real));
    for (int s = 0; s < steps; s++) {
        int at, mine = share(nb, ranks, rank, &at);
        m_inputs in;
        m_targets tg;
        data_view(&d, s * nb + at, &in, &tg);
        mn_mpi_grads_begin(red, grads, (double)mine / nb, overlap);
        if (mine > 0) {
            m_compute_gradients_ready(model, &in, &tg, mine, grads, mn_mpi_grads_ready, red);
        } else {
            memset(grads, 0, sizeof(real) * M_NUM_TRAINABLE);
            for (int k = 0; k < M_NUM_GRADS; k++)
                mn_mpi_grads_ready(red, (long)m_tensors[m_grad_order[k]].offset, (long)m_tensors[m_grad_order[k]].count);
        }
        if (mn_mpi_grads_end(red) != MN_OK) mn_mpi_abort(1, "the gradients' allreduce");
        if (s == 0) memcpy(first_grads, grads, sizeof(real) * M_NUM_TRAINABLE);
        m_apply_gradients(model, grads);
    }
    /* batchnorm's moving statistics: their mean over the ranks */
    for (int t = 0; t < M_NUM_TENSORS; t++) {
        if (!is_moving(&m_tensors[t])) continue;
        double *v = xcalloc(m_tensors[t].count, sizeof(double));
        for (size_t i = 0; i < m_tensors[t].count; i++) v[i] = model->params[m_tensors[t].offset + i];
        mn_mpi_sum(v, (long)m_tensors[t].count);
        for (size_t i = 0; i < m_tensors[t].count; i++) model->params[m_tensors[t].offset + i] = (real)(v[i] / ranks);
        free(v);
    }
    /* every rank holds rank 0's weights exactly */
    real *zero = xcalloc(M_NUM_PARAMS, sizeof(real));
    memcpy(zero, model->params, sizeof(real) * M_NUM_PARAMS);
    mn_mpi_bcast(zero, sizeof(real) * M_NUM_PARAMS);
    int differs = memcmp(zero, model->params, sizeof(real) * M_NUM_PARAMS) != 0, any_rank = 0;
    int any = mn_mpi_any(differs, &any_rank);

    if (rank == 0) {
        fail_if(any, "a rank ended with weights other than rank 0's");
        /* reference 1: the ranks one after the other, in this process */
        m **inst = xcalloc((size_t)ranks, sizeof *inst);
        for (int r = 0; r < ranks; r++) {
            inst[r] = model_new(3);
            rank_rng(inst[r], r);
        }
        real *g = xcalloc(M_NUM_TRAINABLE, sizeof(real)), *sum = xcalloc(M_NUM_TRAINABLE, sizeof(real));
        real *ref_grads = xcalloc(M_NUM_TRAINABLE, sizeof(real)), *one_grads = xcalloc(M_NUM_TRAINABLE, sizeof(real));
        for (int s = 0; s < steps; s++) {
            for (long k = 0; k < M_NUM_TRAINABLE; k++) sum[k] = 0;
            for (int r = 0; r < ranks; r++) {
                int at, mine = share(nb, ranks, r, &at);
                if (mine == 0) continue;
                m_inputs in;
                m_targets tg;
                data_view(&d, s * nb + at, &in, &tg);
                m_compute_gradients(inst[r], &in, &tg, mine, g);
                for (long k = 0; k < M_NUM_TRAINABLE; k++) sum[k] += (real)((double)mine / nb) * g[k];
            }
            if (s == 0) memcpy(ref_grads, sum, sizeof(real) * M_NUM_TRAINABLE);
            for (int r = 0; r < ranks; r++) m_apply_gradients(inst[r], sum);
        }
        real *ref = xcalloc(M_NUM_PARAMS, sizeof(real));
        memcpy(ref, inst[0]->params, sizeof(real) * M_NUM_PARAMS);
        for (int t = 0; t < M_NUM_TENSORS; t++) {
            if (!is_moving(&m_tensors[t])) continue;
            for (size_t i = 0; i < m_tensors[t].count; i++) {
                double v = 0;
                for (int r = 0; r < ranks; r++) v += inst[r]->params[m_tensors[t].offset + i];
                ref[m_tensors[t].offset + i] = (real)(v / ranks);
            }
        }
        const char *where = "";
        double g1 = grad_worst(first_grads, ref_grads);
        printf("dp: first step's averaged gradients against the per-rank reference: %.3g of the tolerance", g1);
        fail_if(g1 > 1, "the averaged gradients differ from the per-rank reference");
        if (!M_TRAINING_DIFFERS) {
            m *fresh = model_new(3);
            m_inputs in;
            m_targets tg;
            data_view(&d, 0, &in, &tg);
            m_compute_gradients(fresh, &in, &tg, nb, one_grads);
            double g2 = grad_worst(first_grads, one_grads);
            printf(", against one process's: %.3g", g2);
            fail_if(g2 > 1, "the averaged gradients differ from one process's");
        }
        printf("\n");
        double w1 = worst(model->params, ref, &where);
        printf("dp: %d ranks, %d steps of global batch %d, %d buckets%s: against the per-rank reference: worst "
               "relative difference %.3g (%s)",
               ranks, steps, nb, mn_mpi_grads_buckets(red), overlap ? "" : " (no overlap)", max_rel(model->params, ref),
               where);
        fail_if(w1 > 1, "the weights differ from the per-rank reference beyond rtol 1e-5");
        /* reference 2: one process, the whole batch */
        m *one = model_new(3);
        for (int s = 0; s < steps; s++) {
            m_inputs in;
            m_targets tg;
            data_view(&d, s * nb, &in, &tg);
            m_train_step(one, &in, &tg, nb);
        }
        double w2 = worst(model->params, one->params, &where);
        printf("; against one process: %.3g (%s)%s\n", max_rel(model->params, one->params), where,
               M_TRAINING_DIFFERS ? " (dropout or batchnorm: per rank by definition, not required)" : "");
        if (!M_TRAINING_DIFFERS) fail_if(w2 > 1, "the weights differ from one process's beyond rtol 1e-5");
        printf("%s\n", failures ? "dp: FAILED" : "dp: ok");
    }
    mn_mpi_grads_free(red);
    int bad = mn_mpi_any(failures != 0, NULL);
    mn_mpi_finalize();
    return bad;
}
