/* mn_mpi.c — the runtime's MPI layer (mn_mpi.h): built with mpicc into
 * libmnrt_mpi.a, apart from libmnrt.a, so that only its users need MPI.
 *
 * The gradient buckets follow PyTorch DDP's Reducer: the trainable tensors
 * are grouped, in the order backward finishes them, into buckets of about
 * bucket_bytes that are contiguous in the flat gradient buffer; a bucket's
 * MPI_Iallreduce (in place, MPI_SUM) starts when its last tensor is ready,
 * buckets start in order on every rank (collectives must match), and
 * MPI_Test on the started ones at every later callback lets the MPI library
 * progress them while backward computes.
 */
#define _POSIX_C_SOURCE 200809L

#include "mn_mpi.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int initialised_here = 0;

static int world_rank(void)
{
    int r = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

static int world_size(void)
{
    int s = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

/* MN_OK, or MN_ERR_IO after printing which call failed, where, and why. */
static int check(int rc, const char *call)
{
    if (rc == MPI_SUCCESS)
        return MN_OK;
    char msg[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error %d", rc);
    msg[len < MPI_MAX_ERROR_STRING ? len : MPI_MAX_ERROR_STRING] = '\0';
    fprintf(stderr, "mnc mpi: rank %d of %d: %s: %s\n", world_rank(), world_size(), call, msg);
    return MN_ERR_IO;
}

int mn_mpi_init(int *argc, char ***argv)
{
    int done = 0;
    MPI_Initialized(&done);
    if (!done) {
        int rc = MPI_Init(argc, argv);
        if (rc != MPI_SUCCESS) {
            fprintf(stderr, "mnc mpi: MPI_Init failed (error %d): is this run under mpirun?\n", rc);
            return MN_ERR_IO;
        }
        initialised_here = 1;
    }
    return check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
}

int mn_mpi_finalize(void)
{
    if (!initialised_here)
        return MN_OK;
    initialised_here = 0;
    return check(MPI_Finalize(), "MPI_Finalize");
}

int mn_mpi_rank(void) { return world_rank(); }
int mn_mpi_size(void) { return world_size(); }

void mn_mpi_abort(int status, const char *why)
{
    if (why)
        fprintf(stderr, "mnc mpi: rank %d of %d: %s; ending the job\n", world_rank(), world_size(), why);
    fflush(NULL);
    MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    exit(status ? status : 1); /* not reached */
}

int mn_mpi_bcast(void *buf, size_t bytes)
{
    char *p = buf;
    while (bytes > 0) { /* MPI counts are int */
        int chunk = bytes > (1u << 30) ? (1 << 30) : (int)bytes;
        if (check(MPI_Bcast(p, chunk, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast"))
            return MN_ERR_IO;
        p += chunk;
        bytes -= (size_t)chunk;
    }
    return MN_OK;
}

int mn_mpi_sum(double *values, long count)
{
    if (count <= 0)
        return MN_OK;
    return check(MPI_Allreduce(MPI_IN_PLACE, values, (int)count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                 "MPI_Allreduce");
}

int mn_mpi_any(int failed, int *first_rank)
{
    int mine = failed ? world_rank() : world_size(), lowest = mine;
    if (check(MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce"))
        return 1;
    if (first_rank)
        *first_rank = lowest;
    return lowest < world_size();
}

/* ---- the gradient buckets ------------------------------------------------------ */

typedef struct bucket {
    long lo, hi;     /* elements [lo, hi) of the gradient buffer */
    int tensors;     /* how many tensors it holds */
    int pending;     /* of those, not yet ready this step */
} bucket;

struct mn_mpi_grads {
    mn_dtype real;
    size_t elem;
    int nbuckets, ntensors;
    bucket *b;
    long *t_offset, *t_count;  /* per tensor, in the ready order */
    int *t_bucket;
    MPI_Request *req;
    char *grads;
    double weight;
    int overlap, started, status;
    int next;        /* where the next callback's tensor is looked for first */
    double seconds;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mn_mpi_grads *mn_mpi_grads_new(const mn_tensor_info *tensors, const int *order, int ngrads, mn_dtype real,
                               size_t bucket_bytes)
{
    mn_mpi_grads *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->real = real;
    r->elem = real == MN_F64 ? sizeof(double) : sizeof(float);
    size_t cap = (bucket_bytes ? bucket_bytes : MN_MPI_BUCKET_BYTES) / r->elem;
    int n = ngrads > 0 ? ngrads : 1;
    r->b = calloc((size_t)n, sizeof *r->b);
    r->t_offset = calloc((size_t)n, sizeof *r->t_offset);
    r->t_count = calloc((size_t)n, sizeof *r->t_count);
    r->t_bucket = calloc((size_t)n, sizeof *r->t_bucket);
    r->req = calloc((size_t)n, sizeof *r->req);
    if (!r->b || !r->t_offset || !r->t_count || !r->t_bucket || !r->req) {
        mn_mpi_grads_free(r);
        return NULL;
    }
    r->ntensors = ngrads;
    for (int k = 0; k < ngrads; k++) {
        const mn_tensor_info *t = &tensors[order[k]];
        long lo = (long)t->offset, hi = lo + (long)t->count;
        bucket *cur = r->nbuckets ? &r->b[r->nbuckets - 1] : NULL;
        /* joins the open bucket when adjacent to it and the bucket stays within cap */
        int joins = cur && (size_t)(cur->hi - cur->lo + (hi - lo)) <= cap && (hi == cur->lo || lo == cur->hi);
        if (!joins) {
            cur = &r->b[r->nbuckets++];
            cur->lo = lo;
            cur->hi = hi;
        } else {
            if (hi == cur->lo)
                cur->lo = lo;
            else
                cur->hi = hi;
        }
        cur->tensors++;
        r->t_offset[k] = lo;
        r->t_count[k] = hi - lo;
        r->t_bucket[k] = r->nbuckets - 1;
    }
    for (int b = 0; b < r->nbuckets; b++)
        r->req[b] = MPI_REQUEST_NULL;
    return r;
}

void mn_mpi_grads_free(mn_mpi_grads *r)
{
    if (!r)
        return;
    free(r->b);
    free(r->t_offset);
    free(r->t_count);
    free(r->t_bucket);
    free(r->req);
    free(r);
}

int mn_mpi_grads_buckets(const mn_mpi_grads *r) { return r->nbuckets; }

double mn_mpi_grads_seconds(mn_mpi_grads *r)
{
    double s = r->seconds;
    r->seconds = 0;
    return s;
}

int mn_mpi_grads_begin(mn_mpi_grads *r, void *grads, double weight, int overlap)
{
    r->grads = grads;
    r->weight = weight;
    r->overlap = overlap;
    r->started = 0;
    r->next = 0;
    r->status = MN_OK;
    for (int b = 0; b < r->nbuckets; b++) {
        r->b[b].pending = r->b[b].tensors;
        r->req[b] = MPI_REQUEST_NULL;
    }
    return MN_OK;
}

static void start_bucket(mn_mpi_grads *r, int b)
{
    bucket *k = &r->b[b];
    double t0 = now();
    int rc = MPI_Iallreduce(MPI_IN_PLACE, r->grads + (size_t)k->lo * r->elem, (int)(k->hi - k->lo),
                            r->real == MN_F64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r->req[b]);
    if (check(rc, "MPI_Iallreduce"))
        r->status = MN_ERR_IO;
    r->seconds += now() - t0;
}

static void scale(mn_mpi_grads *r, long offset, long count)
{
    if (r->weight == 1)
        return;
    if (r->real == MN_F64) {
        double *g = (double *)r->grads + offset;
        for (long i = 0; i < count; i++)
            g[i] *= r->weight;
    } else {
        float *g = (float *)r->grads + offset;
        float w = (float)r->weight;
        for (long i = 0; i < count; i++)
            g[i] *= w;
    }
}

void mn_mpi_grads_ready(void *ctx, long offset, long count)
{
    mn_mpi_grads *r = ctx;
    /* the tensor: callbacks come in grad_order, so the search starts after the last one */
    int k = -1;
    for (int tried = 0, at = r->next; tried < r->ntensors && k < 0; tried++, at = (at + 1) % r->ntensors)
        if (r->t_offset[at] == offset && r->t_count[at] == count)
            k = at;
    if (k < 0) {
        fprintf(stderr, "mnc mpi: rank %d: no trainable tensor at [%ld, %ld) of the gradients\n", world_rank(), offset,
                offset + count);
        r->status = MN_ERR_ARG;
        return;
    }
    r->next = (k + 1) % r->ntensors;
    scale(r, offset, count);
    r->b[r->t_bucket[k]].pending--;
    if (!r->overlap)
        return;
    /* start every complete bucket, in order (collectives match across ranks) */
    while (r->started < r->nbuckets && r->b[r->started].pending == 0)
        start_bucket(r, r->started++);
    /* let the library progress what is started */
    if (r->started > 0) {
        double t0 = now();
        int flag = 0;
        if (check(MPI_Testall(r->started, r->req, &flag, MPI_STATUSES_IGNORE), "MPI_Testall"))
            r->status = MN_ERR_IO;
        r->seconds += now() - t0;
    }
}

int mn_mpi_grads_end(mn_mpi_grads *r)
{
    for (int b = 0; b < r->nbuckets; b++)
        if (r->b[b].pending != 0) {
            fprintf(stderr, "mnc mpi: rank %d: %d gradients of bucket %d were never reported ready\n", world_rank(),
                    r->b[b].pending, b);
            r->status = MN_ERR_ARG;
        }
    if (r->status != MN_OK) /* the other ranks would wait for us: end the job */
        mn_mpi_abort(1, "the gradients of this step could not be reduced");
    double t0 = now();
    int rc = check(MPI_Waitall(r->started, r->req, MPI_STATUSES_IGNORE), "MPI_Waitall");
    /* the rest blocking: MPI_Allreduce is faster than its non-blocking form
     * when nothing is left to overlap (in order, as on every rank) */
    for (; rc == MN_OK && r->started < r->nbuckets; r->started++) {
        bucket *k = &r->b[r->started];
        rc = check(MPI_Allreduce(MPI_IN_PLACE, r->grads + (size_t)k->lo * r->elem, (int)(k->hi - k->lo),
                                 r->real == MN_F64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                   "MPI_Allreduce");
    }
    r->seconds += now() - t0;
    return rc != MN_OK ? rc : r->status;
}

/* ---- the trainer's communicator ----------------------------------------------------- */

typedef struct comm_ctx {
    const mn_model_ops *ops;
    mn_mpi_grads *grads;
} comm_ctx;

static int c_sum(void *ctx, double *v, long n) { (void)ctx; return mn_mpi_sum(v, n); }
static int c_bcast(void *ctx, void *buf, size_t bytes) { (void)ctx; return mn_mpi_bcast(buf, bytes); }
static int c_any(void *ctx, int failed, int *first) { (void)ctx; return mn_mpi_any(failed, first); }

static int c_grads_setup(void *ctx, size_t bucket_bytes)
{
    comm_ctx *c = ctx;
    mn_mpi_grads_free(c->grads);
    c->grads = mn_mpi_grads_new(c->ops->tensors, c->ops->grad_order, c->ops->num_grads, c->ops->real, bucket_bytes);
    return c->grads ? MN_OK : MN_ERR_NOMEM;
}

static int c_grads_begin(void *ctx, void *grads, double weight, int overlap)
{
    return mn_mpi_grads_begin(((comm_ctx *)ctx)->grads, grads, weight, overlap);
}

static void c_grads_ready(void *ctx, long offset, long count) { mn_mpi_grads_ready(((comm_ctx *)ctx)->grads, offset, count); }
static int c_grads_end(void *ctx) { return mn_mpi_grads_end(((comm_ctx *)ctx)->grads); }
static double c_grads_seconds(void *ctx) { return mn_mpi_grads_seconds(((comm_ctx *)ctx)->grads); }

int mn_mpi_trainer_main(int argc, char **argv, const mn_model_ops *ops)
{
    if (mn_mpi_init(&argc, &argv) != MN_OK)
        return 1;
    comm_ctx ctx = {ops, NULL};
    mn_comm comm = {
        .rank = world_rank(),
        .size = world_size(),
        .ctx = &ctx,
        .sum = c_sum,
        .bcast = c_bcast,
        .any = c_any,
        .grads_setup = c_grads_setup,
        .grads_begin = c_grads_begin,
        .grads_ready = c_grads_ready,
        .grads_end = c_grads_end,
        .grads_seconds = c_grads_seconds,
    };
    int status = mn_trainer_run(argc, argv, ops, &comm);
    mn_mpi_grads_free(ctx.grads);
    /* every rank ends with the worst status of any */
    int worst = status;
    if (check(MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce"))
        worst = 1;
    mn_mpi_finalize();
    return worst;
}
