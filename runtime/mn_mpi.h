/* mn_mpi.h — data-parallel training over MPI (Open MPI): one model, N
 * processes, the same weights as one process (docs/api.md, docs/trainer.md).
 *
 * Optional: this header and runtime/mn_mpi.c build into libmnrt_mpi.a with
 * mpicc (`make mpi`); users who do not use MPI link libmnrt.a alone and need
 * neither mpicc nor libmpi. Nothing here assumes one host.
 *
 * Every rank runs the same model with the same weights (rank 0's, sent by
 * mn_mpi_bcast) on its own shard of each global batch. The gradients of a
 * step are averaged with allreduces over buckets of weights: a bucket starts
 * (MPI_Iallreduce) as soon as backward has made all its gradients final
 * (the model's compute_gradients_ready calls mn_mpi_grads_ready), while the
 * rest of backward runs, as PyTorch DDP does; mn_mpi_grads_end waits for them
 * before the optimizer step.
 *
 * Every MPI call's error is checked: a failing call prints
 * "mnc mpi: rank R of N: CALL: MPI's message" on stderr and the function
 * returns MN_ERR_IO (the caller ends the job, e.g. with mn_mpi_abort).
 */
#ifndef MN_MPI_H
#define MN_MPI_H

#include <stddef.h>

#include "mn_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MPI_Init (unless MPI is initialised already) with errors returned, not
 * fatal, on MPI_COMM_WORLD. MN_OK or MN_ERR_IO. */
int mn_mpi_init(int *argc, char ***argv);
/* MPI_Finalize, if mn_mpi_init initialised MPI. */
int mn_mpi_finalize(void);
int mn_mpi_rank(void);
int mn_mpi_size(void);
/* Ends every rank of the job with `status`, after printing why (may be
 * NULL) with this rank's number. Does not return. */
void mn_mpi_abort(int status, const char *why);

/* `bytes` bytes from rank 0 to every rank (the initial weights). */
int mn_mpi_bcast(void *buf, size_t bytes);
/* In place, the sum over every rank (losses, metrics, sample counts). */
int mn_mpi_sum(double *values, long count);
/* 1 on every rank if `failed` is nonzero on any; *first_rank (may be NULL)
 * the lowest such rank. Every rank must call it (a collective). */
int mn_mpi_any(int failed, int *first_rank);

/* ---- the gradients of a step, bucketed ------------------------------------------ */

typedef struct mn_mpi_grads mn_mpi_grads;
/* The default bucket size: 1 MiB (DDP's 25 MB, scaled to these models). */
#define MN_MPI_BUCKET_BYTES ((size_t)1 << 20)

/* Buckets over the trainable tensors of a model (PFX_tensors), in the
 * order its compute_gradients_ready reports them (PFX_grad_order,
 * PFX_NUM_GRADS of them): runs of that order contiguous in the gradient
 * buffer, each at most bucket_bytes (a larger tensor is a bucket alone; 0:
 * the default). `real` is the model's float type. NULL when out of memory. */
mn_mpi_grads *mn_mpi_grads_new(const mn_tensor_info *tensors, const int *order, int ngrads, mn_dtype real,
                               size_t bucket_bytes);
void mn_mpi_grads_free(mn_mpi_grads *r);
/* Before compute_gradients_ready: the buffer it writes, and this rank's
 * weight in the average (its samples over the global batch's, n_r / n; a
 * rank with no sample calls it with 0 and reports every tensor itself, in
 * order, after zeroing the buffer). overlap 0: nothing starts before
 * mn_mpi_grads_end, which then reduces every bucket (for comparison). */
int mn_mpi_grads_begin(mn_mpi_grads *r, void *grads, double weight, int overlap);
/* An mn_grad_ready for compute_gradients_ready (ctx: the mn_mpi_grads):
 * scales the range by the weight and starts its bucket's allreduce when
 * the bucket is complete. An error is kept for mn_mpi_grads_end. */
void mn_mpi_grads_ready(void *ctx, long offset, long count);
/* Waits for every bucket: the buffer then holds sum over ranks of
 * weight_r * gradient_r on every rank. MN_OK or MN_ERR_IO. */
int mn_mpi_grads_end(mn_mpi_grads *r);
/* Seconds spent inside MPI calls on the gradients (waiting included) since
 * the last call; the number of buckets. */
double mn_mpi_grads_seconds(mn_mpi_grads *r);
int mn_mpi_grads_buckets(const mn_mpi_grads *r);

/* ---- the generated trainer ------------------------------------------------------- */

/* main of a trainer built with -DMN_MPI (mnc --emit trainer): initialises
 * MPI, runs mn_trainer_main's program data-parallel over every rank, and
 * finalises. Returns the exit status (the same on every rank). */
int mn_mpi_trainer_main(int argc, char **argv, const mn_model_ops *ops);

#ifdef __cplusplus
}
#endif
#endif
