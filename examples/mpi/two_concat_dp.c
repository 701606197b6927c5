/* two_concat_dp.c — a hand-written data-parallel training loop over the
 * runtime's MPI layer (docs/api.md, "Data-parallel training"): two_concat on
 * a synthetic task, the global batch split over the ranks.
 *
 *   mnc examples/two_concat.mn -o two_concat.c && make mpi
 *   mpicc -std=c99 -O2 -I runtime -I . two_concat.c examples/mpi/two_concat_dp.c \
 *       build/libmnrt_mpi.a build/libmnrt.a -lopenblas -lm -o two_concat_dp
 *   mpirun -np 2 ./two_concat_dp
 */
#include <stdio.h>
#include <string.h>

#include "mn_mpi.h"
#include "two_concat.h"

#define SAMPLES 2048
#define GLOBAL_BATCH TWO_CONCAT_BATCH /* 32: each of N ranks computes 32 / N samples a step */
#define EPOCHS 5

static float x1[SAMPLES * 10], x2[SAMPLES * 5], label[SAMPLES];
static two_concat model; /* static: the struct holds every buffer */
static float grads[TWO_CONCAT_NUM_TRAINABLE];

int main(int argc, char **argv) {
    if (mn_mpi_init(&argc, &argv) != MN_OK) return 1;
    int rank = mn_mpi_rank(), ranks = mn_mpi_size();
    if (GLOBAL_BATCH % ranks || GLOBAL_BATCH / ranks > TWO_CONCAT_BATCH) {
        if (rank == 0) fprintf(stderr, "two_concat_dp: the number of ranks must divide %d\n", GLOBAL_BATCH);
        mn_mpi_finalize();
        return 2;
    }
    /* the same data on every rank (a real program reads its files): the label
     * is 1 when the sum of x1 is positive */
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (int i = 0; i < SAMPLES; i++) {
        float s = 0;
        for (int j = 0; j < 10; j++) s += x1[i * 10 + j] = (float)(2 * mn_rng_uniform(&r) - 1);
        for (int j = 0; j < 5; j++) x2[i * 5 + j] = (float)(2 * mn_rng_uniform(&r) - 1);
        label[i] = s > 0;
    }
    /* rank 0's weights everywhere */
    two_concat_init(&model, TWO_CONCAT_SEED);
    if (mn_mpi_bcast(model.params, sizeof model.params) != MN_OK) mn_mpi_abort(1, "broadcast of the weights");
    /* buckets of about 1 MiB over the gradient buffer, in backward's order */
    mn_mpi_grads *red = mn_mpi_grads_new(two_concat_tensors, two_concat_grad_order, TWO_CONCAT_NUM_GRADS, MN_F32, 0);
    if (!red) mn_mpi_abort(1, "out of memory");
    const int mine = GLOBAL_BATCH / ranks;
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        double loss_sum = 0;
        for (int first = 0; first + GLOBAL_BATCH <= SAMPLES; first += GLOBAL_BATCH) {
            int at = first + rank * mine; /* this rank's contiguous share */
            two_concat_inputs in = {x1 + (size_t)at * 10, x2 + (size_t)at * 5};
            two_concat_targets tg = {label + at};
            /* each rank's gradients count for its share: weight mine / GLOBAL_BATCH */
            mn_mpi_grads_begin(red, grads, (double)mine / GLOBAL_BATCH, 1);
            /* each bucket's allreduce starts as soon as backward has finished it */
            double loss = two_concat_compute_gradients_ready(&model, &in, &tg, mine, grads, mn_mpi_grads_ready, red);
            if (mn_mpi_grads_end(red) != MN_OK) mn_mpi_abort(1, "the gradients' allreduce");
            two_concat_apply_gradients(&model, grads); /* the same step on every rank */
            loss_sum += loss * mine;
        }
        mn_mpi_sum(&loss_sum, 1); /* over the ranks' samples */
        if (rank == 0) printf("epoch %d  loss %.4f\n", epoch + 1, loss_sum / (SAMPLES / GLOBAL_BATCH * GLOBAL_BATCH));
    }
    /* the accuracy of the trained weights (rank 0; every rank holds them) */
    if (rank == 0) {
        float metrics[TWO_CONCAT_NUM_METRICS], correct = 0;
        for (int first = 0; first < SAMPLES; first += TWO_CONCAT_BATCH) {
            two_concat_inputs in = {x1 + (size_t)first * 10, x2 + (size_t)first * 5};
            two_concat_targets tg = {label + first};
            two_concat_evaluate(&model, &in, &tg, TWO_CONCAT_BATCH, metrics);
            correct += metrics[0] * TWO_CONCAT_BATCH;
        }
        printf("accuracy %.4f on %d ranks\n", correct / SAMPLES, ranks);
        if (two_concat_save(&model, "two_concat_dp.safetensors") != MN_OK) mn_mpi_abort(1, "cannot save");
    }
    mn_mpi_grads_free(red);
    mn_mpi_finalize();
    return 0;
}
