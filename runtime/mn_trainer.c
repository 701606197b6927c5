/* mn_trainer.c — the command-line trainer of any generated model
 * (docs/trainer.md). `mnc model.mn --emit trainer` writes a small C file
 * whose main fills an mn_model_ops table and calls mn_trainer_main.
 *
 * Everything is loaded and checked before the first step: data that fails a
 * check is never trained on. Training is reproducible: the weights come
 * from the seed, and each epoch's shuffle from a generator seeded with
 * (seed, epoch) alone, so a run resumed from the checkpoint of epoch e
 * takes exactly the steps of an uninterrupted run from epoch e + 1 on.
 *
 * The checkpoint is one safetensors file, written atomically after every
 * epoch (mn_save_safetensors: temporary file, fsync, rename): the weights
 * under their own names, "mnc.trainer.opt_m" and "mnc.trainer.opt_v" (the
 * optimizer's buffers), and "mnc.trainer.state": CKPT_WORDS 64-bit words
 * (step, the model's RNG, epochs done, early-stopping state, and the seed,
 * batch and a hash of the training data, checked on resume), each stored
 * as four 16-bit pieces in the model's float type, which holds them exactly.
 */
#define _POSIX_C_SOURCE 200809L

#include "mn_runtime.h"

#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- options --------------------------------------------------------------- */

typedef struct options {
    const char *train, *val, *eval, *predict, *out, *checkpoint, *save, *load;
    long epochs, batch, patience, threads, kill_after_steps, bucket_kib;
    double val_split;
    uint64_t seed;
    int resume, no_time, no_overlap;
} options;

static void usage(FILE *f, const char *prog, const mn_model_ops *ops, int ranks)
{
    fprintf(f,
            "usage: %s [options] [TRAIN_DATA]\n"
            "\n"
            "Trains the model '%s' on TRAIN_DATA and saves its weights; evaluates and\n"
            "predicts with them (docs/trainer.md).\n"
            "\n"
            "DATA is a CSV file whose header row names the columns (an input or target\n"
            "of one value per sample: NAME; of k values: NAME_0 .. NAME_{k-1}, row-major),\n"
            "or NumPy files, one per input and target: NAME=FILE.npy,NAME=FILE.npy\n"
            "\n"
            "training:\n"
            "  --epochs N          epochs in all (default %d)\n"
            "  --batch N           samples per step, 1 .. %d (default %d)\n"
            "  --seed S            seed of the weights and of the shuffling (default %" PRIu64 ")\n"
            "  --val DATA          validation data, evaluated after every epoch\n"
            "  --val-split F       the last fraction F (0 < F < 1) of TRAIN_DATA, in file\n"
            "                      order, is the validation data instead\n"
            "  --patience N        early stopping: stop when val_loss has not improved for\n"
            "                      N epochs (needs validation data)\n"
            "  --checkpoint FILE   write the whole training state to FILE after every epoch\n"
            "                      (atomically: FILE is never half-written)\n"
            "  --resume            continue from the --checkpoint FILE when it exists\n"
            "  --load FILE         start from these weights (a weights or checkpoint file)\n"
            "  --save FILE         where the trained weights go (default %s.safetensors)\n"
            "  --threads N         threads of the matrix products (default 1)\n"
            "\n"
            "data-parallel (a trainer built with -DMN_MPI, run as mpirun -np N ...):\n"
            "  --batch N is the global batch: N divisible by the ranks, each rank takes its\n"
            "  1/ranks of every batch (at most %d samples); rank 0 prints and writes\n"
            "  --bucket-kib K      gradients are averaged in buckets of about K KiB, each\n"
            "                      started as soon as backward has finished it (default 1024)\n"
            "  --no-overlap        average all gradients after backward instead\n"
            "\n"
            "evaluation and prediction, with the trained weights (without TRAIN_DATA: those\n"
            "of --load, default %s.safetensors):\n"
            "  --eval DATA         print the loss and the metrics on DATA\n"
            "  --predict DATA      the outputs for DATA's inputs, as CSV\n"
            "  -o FILE             where the predictions go (default: standard output)\n"
            "\n"
            "output:\n"
            "  --no-time           no progress bar and no durations: the output depends only\n"
            "                      on the data, the seed and the options\n"
            "  --help              this text\n"
            "testing:\n"
            "  --kill-after-steps N  end with SIGKILL after N training steps (tests --resume)\n"
            "\n"
            "A line per epoch is always printed; a progress bar too when standard output\n"
            "is a terminal. Exit status: 0 success, 1 bad data, an unreadable or unwritable\n"
            "file or a diverged loss (nothing is trained on bad data), 2 usage error.\n",
            prog, ops->name, ops->epochs, ops->batch * ranks, ops->batch, ops->seed, ops->name, ops->batch, ops->name);
}

static int usage_error(const char *prog, const char *what, const char *arg)
{
    fprintf(stderr, "%s: error: %s%s%s%s\n(run '%s --help' for the options)\n", prog, what, arg ? " '" : "",
            arg ? arg : "", arg ? "'" : "", prog);
    return 2;
}

/* An integer in [lo, hi], the whole string. */
static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return 0;
    *out = x;
    return 1;
}

/* Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, const mn_model_ops *ops, int ranks, options *o)
{
    const char *prog = argv[0];
    o->epochs = ops->epochs;
    o->batch = ops->batch;
    o->bucket_kib = 1024;
    o->seed = ops->seed;
    o->threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, prog, ops, ranks);
            return 0;
        }
        if (!strcmp(a, "--no-overlap")) {
            o->no_overlap = 1;
            continue;
        }
        if (!strcmp(a, "--resume")) {
            o->resume = 1;
            continue;
        }
        if (!strcmp(a, "--no-time")) {
            o->no_time = 1;
            continue;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (o->train)
                return usage_error(prog, "one training data set at a time; also given:", a);
            o->train = a;
            continue;
        }
        /* options with a value: --name VALUE or --name=VALUE */
        static const char *const with_value[] = {"--epochs", "--batch", "--seed", "--val", "--val-split",
                                                 "--patience", "--checkpoint", "--load", "--save", "--threads",
                                                 "--eval", "--predict", "-o", "--kill-after-steps", "--bucket-kib", NULL};
        const char *v = NULL;
        int k;
        for (k = 0; with_value[k]; k++) {
            size_t len = strlen(with_value[k]);
            if (!strcmp(a, with_value[k])) {
                if (i + 1 >= argc)
                    return usage_error(prog, "a value is missing after", a);
                v = argv[++i];
                break;
            }
            if (!strncmp(a, with_value[k], len) && a[len] == '=') {
                v = a + len + 1;
                break;
            }
        }
        if (!with_value[k])
            return usage_error(prog, "unknown option", a);
        const char *name = with_value[k];
        if (!strcmp(name, "--epochs")) {
            if (!parse_long(v, 1, 100000000, &o->epochs))
                return usage_error(prog, "--epochs needs a positive integer, not", v);
        } else if (!strcmp(name, "--batch")) {
            if (!parse_long(v, 1, (long)ops->batch * ranks, &o->batch)) {
                if (ranks > 1)
                    fprintf(stderr, "%s: error: --batch (the global batch) must be 1 .. %ld (the model's batch %d "
                                    "times %d ranks), not '%s'\n", prog, (long)ops->batch * ranks, ops->batch, ranks, v);
                else
                    fprintf(stderr, "%s: error: --batch must be 1 .. %d (the model's batch), not '%s'\n", prog,
                            ops->batch, v);
                return 2;
            }
            if (o->batch % ranks) {
                fprintf(stderr, "%s: error: the global batch %ld (--batch) is not divisible by the %d ranks: each "
                                "rank takes an equal share of every batch\n", prog, o->batch, ranks);
                return 2;
            }
        } else if (!strcmp(name, "--bucket-kib")) {
            if (!parse_long(v, 1, 1L << 22, &o->bucket_kib))
                return usage_error(prog, "--bucket-kib needs a positive integer (KiB), not", v);
        } else if (!strcmp(name, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (end == v || *end || errno || v[0] == '-')
                return usage_error(prog, "--seed needs a non-negative integer, not", v);
            o->seed = (uint64_t)s;
        } else if (!strcmp(name, "--val-split")) {
            char *end;
            o->val_split = strtod(v, &end);
            if (end == v || *end || !(o->val_split > 0 && o->val_split < 1))
                return usage_error(prog, "--val-split needs a fraction between 0 and 1, not", v);
        } else if (!strcmp(name, "--patience")) {
            if (!parse_long(v, 1, 100000000, &o->patience))
                return usage_error(prog, "--patience needs a positive integer, not", v);
        } else if (!strcmp(name, "--threads")) {
            if (!parse_long(v, 1, MN_MAX_THREADS, &o->threads))
                return usage_error(prog, "--threads needs an integer from 1 to 64, not", v);
        } else if (!strcmp(name, "--kill-after-steps")) {
            if (!parse_long(v, 1, 1000000000, &o->kill_after_steps))
                return usage_error(prog, "--kill-after-steps needs a positive integer, not", v);
        } else if (!strcmp(name, "--val"))
            o->val = v;
        else if (!strcmp(name, "--checkpoint"))
            o->checkpoint = v;
        else if (!strcmp(name, "--load"))
            o->load = v;
        else if (!strcmp(name, "--save"))
            o->save = v;
        else if (!strcmp(name, "--eval"))
            o->eval = v;
        else if (!strcmp(name, "--predict"))
            o->predict = v;
        else
            o->out = v;
    }
    if (!o->train && !o->eval && !o->predict)
        return usage_error(prog, "nothing to do: give training data, --eval DATA or --predict DATA", NULL);
    if (o->val && o->val_split > 0)
        return usage_error(prog, "--val and --val-split exclude each other", NULL);
    if (!o->train && (o->val || o->val_split > 0 || o->checkpoint || o->resume || o->patience))
        return usage_error(prog, "--val, --val-split, --patience, --checkpoint and --resume need training data",
                           NULL);
    if (o->patience && !o->val && !(o->val_split > 0))
        return usage_error(prog, "--patience needs validation data (--val or --val-split)", NULL);
    if (o->resume && !o->checkpoint)
        return usage_error(prog, "--resume needs --checkpoint FILE", NULL);
    if (o->out && !o->predict)
        return usage_error(prog, "-o names the predictions' file: it needs --predict DATA", NULL);
    if (o->batch % ranks) { /* the default batch */
        fprintf(stderr, "%s: error: the global batch %ld (the model's; --batch sets it) is not divisible by the %d "
                        "ranks\n", prog, o->batch, ranks);
        return 2;
    }
    return -1;
}

/* ---- the trainer's state --------------------------------------------------------- */

enum {
    ST_MAGIC, ST_EPOCHS, ST_STEP, ST_RNG, ST_SEED = ST_RNG + 4, ST_BATCH, ST_SAMPLES, ST_HASH, ST_BEST_LOSS,
    ST_BEST_EPOCH, ST_BAD_EPOCHS, ST_RANKS, CKPT_WORDS
};
#define CKPT_MAGIC UINT64_C(0x01544b50434e4d00) /* "\0MNCPKT\1" */

typedef struct trainer {
    const mn_model_ops *ops;
    const mn_comm *comm;        /* NULL: one process */
    int rank, ranks;
    const char *prog;
    options o;
    FILE *log;
    size_t rs;                  /* bytes of one float of the model */
    void *model;
    mn_dataset train, val, eval, pred;
    long n_train;
    void *in, *tg;              /* the _inputs and _targets structs */
    void **batch_in, **batch_tg;
    int32_t *perm;              /* the epoch's order (at most 2^31 - 1 samples) */
    double *metrics, *metric_sums;
    /* the checkpoint: a tensor table over a staging buffer */
    mn_tensor_info *ck_table;
    int ck_ntensors;
    void *staging;
    size_t ck_state_at;         /* elements into staging */
    uint64_t hash;
    /* progress */
    int epochs_done, best_epoch, bad_epochs;
    double best_loss;
    long steps_run;
    int bar;
    double last_draw;
    double reduce_seconds;      /* data-parallel: in the gradients' allreduces, this epoch */
    char who[48];               /* "" or "rank R of N: ", before a rank's own errors */
} trainer;

/* ---- data parallelism --------------------------------------------------------------
 * With a communicator of several ranks, every rank runs this program on the
 * same data and options. Each step's global batch of nb samples is split in
 * contiguous shares (rank r the r-th); the gradients are summed over the
 * ranks, each weighted by its share of nb, so the step equals one process's
 * on the whole batch (up to float summation order). Rank 0 prints and
 * writes every file. Wherever one rank may fail alone (a file, the data),
 * all agree (any) before going on, so no rank waits in a collective that
 * another one has left. */

static void *xcalloc(size_t n, size_t size);

/* 1 on every rank if `failed` on any (then rank 0 says which). */
static int agree_failed(trainer *T, int failed, const char *what)
{
    if (!T->comm || T->ranks == 1)
        return failed;
    int first = 0;
    if (!T->comm->any(T->comm->ctx, failed, &first))
        return 0;
    if (T->rank == 0 && first != 0)
        fprintf(stderr, "%s: error: rank %d of %d failed %s (its message above); stopping every rank\n", T->prog, first,
                T->ranks, what);
    return 1;
}

/* The share of rank r in a batch of nb samples: [*first, *first + return). */
static int share_of(const trainer *T, int nb, int r, int *first)
{
    int base = nb / T->ranks, extra = nb % T->ranks;
    *first = r * base + (r < extra ? r : extra);
    return base + (r < extra);
}

/* Rank 0's weights, optimizer state, step and progress to every rank. */
static int share_state(trainer *T)
{
    if (!T->comm || T->ranks == 1)
        return 0;
    const mn_model_ops *ops = T->ops;
    const mn_comm *c = T->comm;
    char *m = T->model;
    double progress[4] = {T->epochs_done, T->best_loss, T->best_epoch, T->bad_epochs};
    int bad = c->bcast(c->ctx, m + ops->params_offset, ops->num_params * T->rs) != MN_OK ||
              c->bcast(c->ctx, m + ops->opt_m_offset, ops->num_trainable * T->rs) != MN_OK ||
              (ops->has_opt_v && c->bcast(c->ctx, m + ops->opt_v_offset, ops->num_trainable * T->rs) != MN_OK) ||
              c->bcast(c->ctx, m + ops->step_offset, sizeof(int64_t)) != MN_OK ||
              c->bcast(c->ctx, progress, sizeof progress) != MN_OK;
    T->epochs_done = (int)progress[0];
    T->best_loss = progress[1];
    T->best_epoch = (int)progress[2];
    T->bad_epochs = (int)progress[3];
    return bad;
}

/* Batchnorm's moving statistics (non-trainable weights named *.moving_mean
 * and *.moving_variance) are per rank during an epoch, from each rank's
 * batches as DDP does without SyncBatchNorm; at the end of each epoch they
 * become their mean over the ranks, so that every rank holds one model. */
static int average_moving_statistics(trainer *T)
{
    if (!T->comm || T->ranks == 1)
        return 0;
    const mn_model_ops *ops = T->ops;
    int bad = 0;
    for (int i = 0; i < ops->num_tensors && !bad; i++) {
        const mn_tensor_info *t = &ops->tensors[i];
        if (t->trainable || !strstr(t->name, ".moving_"))
            continue;
        double *v = xcalloc(t->count, sizeof(double));
        char *p = (char *)T->model + ops->params_offset + t->offset * T->rs;
        for (size_t k = 0; k < t->count; k++)
            v[k] = ops->real == MN_F64 ? ((double *)p)[k] : ((float *)p)[k];
        bad = T->comm->sum(T->comm->ctx, v, (long)t->count) != MN_OK;
        for (size_t k = 0; k < t->count; k++) {
            if (ops->real == MN_F64)
                ((double *)p)[k] = v[k] / T->ranks;
            else
                ((float *)p)[k] = (float)(v[k] / T->ranks);
        }
        free(v);
    }
    return bad;
}

/* In place, the sums over every rank (nothing with one process). */
static int sum_over_ranks(trainer *T, double *v, long n)
{
    if (!T->comm || T->ranks == 1)
        return 0;
    return T->comm->sum(T->comm->ctx, v, n) != MN_OK;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t io_elem(const trainer *T, const mn_io_info *io)
{
    return io->dtype == MN_I32 ? sizeof(int32_t) : T->rs;
}

static char *model_part(const trainer *T, size_t offset)
{
    return (char *)T->model + offset;
}

/* Points the field of an _inputs/_targets/_outputs struct at p. */
static void set_field(void *strct, const mn_io_info *io, const void *p)
{
    memcpy((char *)strct + io->field_offset, &p, sizeof p);
}

/* The structs for samples [first, ...) of d. */
static void point_at(trainer *T, const mn_dataset *d, long first, int with_targets)
{
    const mn_model_ops *ops = T->ops;
    for (int i = 0; i < ops->num_inputs; i++)
        set_field(T->in, &ops->inputs[i],
                  (char *)d->input[i] + (size_t)first * ops->inputs[i].size * io_elem(T, &ops->inputs[i]));
    for (int i = 0; with_targets && i < ops->num_targets; i++)
        set_field(T->tg, &ops->targets[i],
                  (char *)d->target[i] + (size_t)first * ops->targets[i].size * io_elem(T, &ops->targets[i]));
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "error: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- data --------------------------------------------------------------------------- */

static int load_data(trainer *T, const char *source, int want_targets, mn_dataset *d)
{
    char err[1024];
    const mn_model_ops *ops = T->ops;
    int rc = mn_data_load(source, ops->inputs, ops->num_inputs, ops->targets, ops->num_targets, want_targets, d,
                          err, sizeof err);
    if (rc != MN_OK) {
        fprintf(stderr, "%s%s\n", T->who, err);
        return 1;
    }
    if (d->n > INT32_MAX) {
        fprintf(stderr, "%s%s: error: %ld samples; at most %d\n", T->who, source, d->n, INT32_MAX);
        return 1;
    }
    return 0;
}

/* The last n_val samples of T->train become T->val (a view: no copy). */
static void split_validation(trainer *T, long n_val)
{
    const mn_model_ops *ops = T->ops;
    T->n_train = T->train.n - n_val;
    T->val.n = n_val;
    T->val.ninputs = ops->num_inputs;
    T->val.ntargets = ops->num_targets;
    T->val.input = xcalloc((size_t)ops->num_inputs + 1, sizeof(void *));
    T->val.target = xcalloc((size_t)ops->num_targets + 1, sizeof(void *));
    for (int i = 0; i < ops->num_inputs; i++)
        T->val.input[i] = (char *)T->train.input[i] + (size_t)T->n_train * ops->inputs[i].size * io_elem(T, &ops->inputs[i]);
    for (int i = 0; i < ops->num_targets; i++)
        T->val.target[i] =
            (char *)T->train.target[i] + (size_t)T->n_train * ops->targets[i].size * io_elem(T, &ops->targets[i]);
}

/* FNV-1a over the bytes of the training samples, so that a checkpoint is
 * resumed only with the data it was made with. */
static uint64_t data_hash(const trainer *T)
{
    const mn_model_ops *ops = T->ops;
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ (uint64_t)T->n_train;
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < (t ? ops->num_targets : ops->num_inputs); i++) {
            const mn_io_info *io = t ? &ops->targets[i] : &ops->inputs[i];
            const unsigned char *p = t ? T->train.target[i] : T->train.input[i];
            size_t len = (size_t)T->n_train * io->size * io_elem(T, io), chunk = (size_t)16 << 20;
            for (size_t at = 0; at < len; at += chunk) { /* a mapped .npy: read, then dropped from memory */
                size_t end = len - at < chunk ? len : at + chunk;
                for (size_t k = at; k < end; k++)
                    h = (h ^ p[k]) * UINT64_C(0x100000001b3);
                mn_data_release(&T->train, p + at, end - at);
            }
        }
    return h;
}

/* The loss (and metrics) on a whole data set, BATCH samples at a time;
 * data-parallel, each rank its contiguous share, summed. */
static double evaluate_set(trainer *T, const mn_dataset *d, double *metrics)
{
    const mn_model_ops *ops = T->ops;
    long lo = d->n * T->rank / T->ranks, hi = d->n * (T->rank + 1) / T->ranks;
    double *sums = xcalloc((size_t)ops->num_metrics + 1, sizeof(double)); /* loss, then the metrics */
    for (long first = lo; first < hi; first += ops->batch) {
        int n = hi - first < ops->batch ? (int)(hi - first) : ops->batch;
        point_at(T, d, first, 1);
        sums[0] += ops->evaluate(T->model, T->in, T->tg, n, T->metrics) * n;
        for (int k = 0; k < ops->num_metrics; k++)
            sums[1 + k] += T->metrics[k] * n;
    }
    if (sum_over_ranks(T, sums, 1 + ops->num_metrics))
        sums[0] = NAN;
    for (int k = 0; k < ops->num_metrics; k++)
        metrics[k] = sums[1 + k] / (double)d->n;
    double loss = sums[0] / (double)d->n;
    free(sums);
    return loss;
}

/* ---- weights and checkpoints ------------------------------------------------------- */

/* The checkpoint's tensor table over the staging buffer: the weights, the
 * optimizer's buffers, the state words. */
static void build_checkpoint_table(trainer *T)
{
    const mn_model_ops *ops = T->ops;
    if (T->ck_table)
        return;
    int n = ops->num_tensors;
    T->ck_table = xcalloc((size_t)n + 3, sizeof *T->ck_table);
    memcpy(T->ck_table, ops->tensors, (size_t)n * sizeof *T->ck_table);
    size_t at = ops->num_params;
    if (ops->num_trainable > 0) {
        for (int k = 0; k < 1 + ops->has_opt_v; k++) {
            mn_tensor_info *t = &T->ck_table[n++];
            t->name = k ? "mnc.trainer.opt_v" : "mnc.trainer.opt_m";
            t->rank = 1;
            t->dims[0] = (int64_t)ops->num_trainable;
            t->offset = at;
            t->count = ops->num_trainable;
            at += ops->num_trainable;
        }
    }
    mn_tensor_info *t = &T->ck_table[n++];
    t->name = "mnc.trainer.state";
    t->rank = 1;
    t->dims[0] = 4 * CKPT_WORDS;
    t->offset = at;
    t->count = 4 * CKPT_WORDS;
    T->ck_state_at = at;
    T->ck_ntensors = n;
    T->staging = xcalloc(at + 4 * CKPT_WORDS, T->rs);
}

static void put_real(trainer *T, size_t at, double v)
{
    if (T->ops->real == MN_F64)
        ((double *)T->staging)[at] = v;
    else
        ((float *)T->staging)[at] = (float)v;
}

static double get_real(const trainer *T, size_t at)
{
    return T->ops->real == MN_F64 ? ((double *)T->staging)[at] : ((float *)T->staging)[at];
}

/* Copies the model's weights and optimizer state into staging (to = 1) or back. */
static void copy_state(trainer *T, int to_staging, int weights_only)
{
    const mn_model_ops *ops = T->ops;
    struct {
        size_t offset, count;
    } parts[3] = {{ops->params_offset, ops->num_params},
                  {ops->opt_m_offset, ops->num_trainable},
                  {ops->opt_v_offset, ops->has_opt_v ? ops->num_trainable : 0}};
    size_t at = 0;
    for (int k = 0; k < (weights_only ? 1 : 3); k++) {
        char *stage = (char *)T->staging + at * T->rs, *model = model_part(T, parts[k].offset);
        size_t bytes = parts[k].count * T->rs;
        if (bytes)
            memcpy(to_staging ? stage : model, to_staging ? model : stage, bytes);
        at += parts[k].count;
    }
}

/* A trainer killed while it wrote the checkpoint leaves the temporary file
 * of mn_save_safetensors (FILE.tmp.XXXXXX; FILE itself is intact): removed
 * before training writes new ones. */
static void remove_stale_temporaries(const char *checkpoint)
{
    size_t len = strlen(checkpoint);
    char *pattern = xcalloc(2 * len + 16, 1), *p = pattern;
    for (size_t i = 0; i < len; i++) {
        if (strchr("*?[\\", checkpoint[i]))
            *p++ = '\\';
        *p++ = checkpoint[i];
    }
    strcpy(p, ".tmp.??????");
    glob_t g;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            unlink(g.gl_pathv[i]);
        globfree(&g);
    }
    free(pattern);
}

static int save_checkpoint(trainer *T)
{
    const mn_model_ops *ops = T->ops;
    uint64_t w[CKPT_WORDS] = {0};
    int64_t step;
    mn_rng rng;
    memcpy(&step, model_part(T, ops->step_offset), sizeof step);
    memcpy(&rng, model_part(T, ops->rng_offset), sizeof rng);
    w[ST_MAGIC] = CKPT_MAGIC;
    w[ST_EPOCHS] = (uint64_t)T->epochs_done;
    w[ST_STEP] = (uint64_t)step;
    for (int k = 0; k < 4; k++)
        w[ST_RNG + k] = rng.s[k];
    w[ST_SEED] = T->o.seed;
    w[ST_BATCH] = (uint64_t)T->o.batch;
    w[ST_SAMPLES] = (uint64_t)T->n_train;
    w[ST_HASH] = T->hash;
    memcpy(&w[ST_BEST_LOSS], &T->best_loss, sizeof(double));
    w[ST_BEST_EPOCH] = (uint64_t)T->best_epoch;
    w[ST_BAD_EPOCHS] = (uint64_t)T->bad_epochs;
    w[ST_RANKS] = (uint64_t)T->ranks;
    copy_state(T, 1, 0);
    for (int k = 0; k < CKPT_WORDS; k++)
        for (int piece = 0; piece < 4; piece++)
            put_real(T, T->ck_state_at + 4 * (size_t)k + (size_t)piece, (double)((w[k] >> (16 * piece)) & 0xffff));
    char err[512];
    int rc = mn_save_safetensors(T->o.checkpoint, T->ck_table, T->ck_ntensors, T->staging, ops->real, err, sizeof err);
    if (rc != MN_OK) {
        fprintf(stderr, "%s: error: cannot write the checkpoint: %s\n", T->o.checkpoint, err);
        return 1;
    }
    return 0;
}

/* Reads the state words from staging; 0 if they are not well formed. */
static int read_state_words(const trainer *T, uint64_t *w)
{
    for (int k = 0; k < CKPT_WORDS; k++) {
        w[k] = 0;
        for (int piece = 0; piece < 4; piece++) {
            double v = get_real(T, T->ck_state_at + 4 * (size_t)k + (size_t)piece);
            if (!(v >= 0 && v <= 65535 && v == floor(v)))
                return 0;
            w[k] |= (uint64_t)v << (16 * piece);
        }
    }
    return w[ST_MAGIC] == CKPT_MAGIC;
}

static int resume_checkpoint(trainer *T)
{
    const mn_model_ops *ops = T->ops;
    const char *path = T->o.checkpoint;
    char err[512];
    int rc = mn_load_safetensors(path, T->ck_table, T->ck_ntensors, T->staging, ops->real, err, sizeof err);
    if (rc != MN_OK) {
        fprintf(stderr, "%s: error: cannot resume from this checkpoint: %s\n", path, err);
        return 1;
    }
    uint64_t w[CKPT_WORDS];
    if (!read_state_words(T, w)) {
        fprintf(stderr, "%s: error: not a checkpoint of this trainer (bad mnc.trainer.state)\n", path);
        return 1;
    }
    char differs[160] = "";
    if (w[ST_SEED] != T->o.seed)
        snprintf(differs, sizeof differs, "seed %" PRIu64 ", not %" PRIu64, w[ST_SEED], T->o.seed);
    else if (w[ST_BATCH] != (uint64_t)T->o.batch)
        snprintf(differs, sizeof differs, "batch %" PRIu64 ", not %ld", w[ST_BATCH], T->o.batch);
    else if (w[ST_SAMPLES] != (uint64_t)T->n_train || w[ST_HASH] != T->hash)
        snprintf(differs, sizeof differs, "other training data (%" PRIu64 " samples; now %ld)", w[ST_SAMPLES],
                 T->n_train);
    if (differs[0]) {
        fprintf(stderr, "%s: error: the checkpoint was made with %s: resume with the same, or start afresh "
                        "without --resume\n", path, differs);
        return 1;
    }
    if (w[ST_RANKS] != (uint64_t)T->ranks)
        fprintf(T->log, "note: the checkpoint was made with %" PRIu64 " rank%s, resumed with %d: the same global "
                        "batches, but dropout masks and batchnorm's batch statistics differ from that run's\n",
                w[ST_RANKS], w[ST_RANKS] == 1 ? "" : "s", T->ranks);
    copy_state(T, 0, 0);
    int64_t step = (int64_t)w[ST_STEP];
    mn_rng rng;
    for (int k = 0; k < 4; k++)
        rng.s[k] = w[ST_RNG + k];
    memcpy(model_part(T, ops->step_offset), &step, sizeof step);
    memcpy(model_part(T, ops->rng_offset), &rng, sizeof rng);
    T->epochs_done = (int)w[ST_EPOCHS];
    memcpy(&T->best_loss, &w[ST_BEST_LOSS], sizeof(double));
    T->best_epoch = (int)w[ST_BEST_EPOCH];
    T->bad_epochs = (int)w[ST_BAD_EPOCHS];
    fprintf(T->log, "resuming from %s: %d epoch%s done\n", path, T->epochs_done, T->epochs_done == 1 ? "" : "s");
    return 0;
}

/* Loads weights: a weights file (P_save's), or the weights of a checkpoint. */
static int load_weights(trainer *T, const char *path)
{
    const mn_model_ops *ops = T->ops;
    char err[512], err2[512];
    int rc = mn_load_safetensors(path, ops->tensors, ops->num_tensors, model_part(T, ops->params_offset), ops->real,
                                 err, sizeof err);
    if (rc == MN_ERR_MISMATCH) {
        build_checkpoint_table(T);
        if (mn_load_safetensors(path, T->ck_table, T->ck_ntensors, T->staging, ops->real, err2, sizeof err2) ==
            MN_OK) {
            copy_state(T, 0, 1);
            return 0;
        }
    }
    if (rc != MN_OK) {
        fprintf(stderr, "%s: error: cannot load the weights: %s\n", path, err);
        return 1;
    }
    return 0;
}

static int save_weights(trainer *T, const char *path)
{
    const mn_model_ops *ops = T->ops;
    char err[512];
    int rc = mn_save_safetensors(path, ops->tensors, ops->num_tensors, model_part(T, ops->params_offset), ops->real,
                                 err, sizeof err);
    if (rc != MN_OK) {
        fprintf(stderr, "%s: error: cannot save the weights: %s\n", path, err);
        return 1;
    }
    fprintf(T->log, "saved the weights to %s\n", path);
    return 0;
}

/* ---- training ---------------------------------------------------------------------- */

/* The order of the epoch's samples: a Fisher-Yates shuffle by a generator
 * seeded from the seed and the epoch alone. */
static void shuffle(trainer *T, int epoch)
{
    mn_rng r;
    mn_rng_seed(&r, T->o.seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(epoch + 1)));
    for (long i = 0; i < T->n_train; i++)
        T->perm[i] = (int32_t)i;
    for (long i = T->n_train - 1; i > 0; i--) {
        long j = (long)mn_rng_below(&r, (uint64_t)i + 1);
        int32_t t = T->perm[i];
        T->perm[i] = T->perm[j];
        T->perm[j] = t;
    }
}

/* Copies the samples perm[first .. first + n) into the batch buffers. */
static void gather(trainer *T, long first, int n)
{
    const mn_model_ops *ops = T->ops;
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < (t ? ops->num_targets : ops->num_inputs); i++) {
            const mn_io_info *io = t ? &ops->targets[i] : &ops->inputs[i];
            size_t bytes = io->size * io_elem(T, io);
            const char *src = t ? T->train.target[i] : T->train.input[i];
            char *dst = t ? T->batch_tg[i] : T->batch_in[i];
            mn_data_gather(&T->train, src, bytes, T->perm + first, n, dst); /* a mapped .npy: pread */
        }
}

static void draw_bar(trainer *T, long done, long total, double started, double loss)
{
    double t = now();
    if (done != total && t - T->last_draw < 0.1)
        return;
    T->last_draw = t;
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int filled = (int)(WIDTH * done / total);
    for (int k = 0; k < WIDTH; k++)
        bar[k] = k < filled ? '=' : k == filled ? '>' : ' ';
    bar[WIDTH] = '\0';
    double rate = done / (t - started > 1e-9 ? t - started : 1e-9);
    long eta = (long)((double)(total - done) / rate + 0.5);
    fprintf(T->log, "\r%ld/%ld [%s] %3d%%  %.1f steps/s  ETA %ld:%02ld  loss %.4f\033[K", done, total, bar,
            (int)(100 * done / total), rate, eta / 60, eta % 60, loss);
    fflush(T->log);
}

static void print_metrics(trainer *T, const char *prefix, const double *m)
{
    for (int k = 0; k < T->ops->num_metrics; k++)
        fprintf(T->log, "  %s%s %.4f", prefix, T->ops->metric_names[k], m[k]);
}

/* One data-parallel step: this rank's `mine` samples of the global batch of
 * n (already in T->in, T->tg): its gradients, weighted by mine / n and summed
 * over the ranks as backward finishes them, then the optimizer step (the
 * same on every rank). Returns the global batch's loss (NaN on a failure). */
static double parallel_step(trainer *T, int mine, int n)
{
    const mn_model_ops *ops = T->ops;
    const mn_comm *c = T->comm;
    void *grads = model_part(T, ops->grads_offset);
    double loss = 0;
    if (c->grads_begin(c->ctx, grads, (double)mine / n, !T->o.no_overlap) != MN_OK)
        return NAN;
    if (mine > 0) {
        loss = ops->compute_gradients_ready(T->model, T->in, T->tg, mine, grads, c->grads_ready, c->ctx);
    } else { /* a batch smaller than the ranks: nothing to add, but the same collectives */
        memset(grads, 0, ops->num_trainable * T->rs);
        for (int k = 0; k < ops->num_grads; k++) {
            const mn_tensor_info *t = &ops->tensors[ops->grad_order[k]];
            c->grads_ready(c->ctx, (long)t->offset, (long)t->count);
        }
    }
    double weighted = loss * mine;
    if (c->grads_end(c->ctx) != MN_OK || c->sum(c->ctx, &weighted, 1) != MN_OK)
        return NAN;
    T->reduce_seconds += c->grads_seconds(c->ctx);
    ops->apply_gradients(T->model, grads);
    return weighted / n;
}

static int train(trainer *T)
{
    const mn_model_ops *ops = T->ops;
    options *o = &T->o;
    long steps = (T->n_train + o->batch - 1) / o->batch;
    double *val_metrics = xcalloc((size_t)ops->num_metrics + 1, sizeof(double));
    int status = 0;
    if (o->patience && T->bad_epochs >= o->patience)
        fprintf(T->log, "early stopping: already stopped at epoch %d\n", T->epochs_done);
    else if (T->epochs_done >= o->epochs)
        fprintf(T->log, "training done: %d epochs\n", T->epochs_done);
    for (int epoch = T->epochs_done; epoch < o->epochs && !(o->patience && T->bad_epochs >= o->patience); epoch++) {
        double started = now(), loss_sum = 0;
        for (int k = 0; k < ops->num_metrics; k++)
            T->metric_sums[k] = 0;
        shuffle(T, epoch);
        T->last_draw = 0;
        if (T->ranks > 1 && T->rank > 0) /* dropout: each rank its own masks, from (seed, rank, epoch) */
            mn_rng_seed((mn_rng *)model_part(T, ops->rng_offset),
                        T->o.seed ^ (UINT64_C(0xd1b54a32d192ed03) * (uint64_t)T->rank) ^
                            (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(epoch + 1)));
        for (long s = 0; s < steps; s++) {
            long first = s * o->batch;
            int n = T->n_train - first < o->batch ? (int)(T->n_train - first) : (int)o->batch;
            int mine_at, mine = share_of(T, n, T->rank, &mine_at); /* n, 0 with one process */
            gather(T, first + mine_at, mine);
            for (int i = 0; i < ops->num_inputs; i++)
                set_field(T->in, &ops->inputs[i], T->batch_in[i]);
            for (int i = 0; i < ops->num_targets; i++)
                set_field(T->tg, &ops->targets[i], T->batch_tg[i]);
            if (ops->num_metrics > 0) { /* the metrics of the batch, before its step */
                for (int k = 0; k < ops->num_metrics; k++)
                    T->metrics[k] = 0;
                if (mine > 0)
                    ops->evaluate(T->model, T->in, T->tg, mine, T->metrics);
                for (int k = 0; k < ops->num_metrics; k++)
                    T->metric_sums[k] += T->metrics[k] * mine; /* summed over the ranks at the epoch's end */
            }
            double loss = T->ranks > 1 ? parallel_step(T, mine, n) : ops->train_step(T->model, T->in, T->tg, n);
            if (!isfinite(loss)) {
                if (T->bar)
                    fprintf(T->log, "\r\033[K");
                fprintf(stderr,
                        "%s: error: the loss is %g at epoch %d, step %ld: training diverged (nothing saved%s)\n",
                        T->prog, loss, epoch + 1, s + 1, o->checkpoint ? "; the checkpoint holds the last epoch" : "");
                status = 1;
                goto done;
            }
            loss_sum += loss * n;
            T->steps_run++;
            if (o->kill_after_steps && T->steps_run == o->kill_after_steps) {
                fflush(NULL);
                raise(SIGKILL);
            }
            if (T->bar)
                draw_bar(T, s + 1, steps, started, loss_sum / (double)(first + n));
        }
        if (T->bar)
            fprintf(T->log, "\r\033[K");
        if (sum_over_ranks(T, T->metric_sums, ops->num_metrics) || average_moving_statistics(T)) {
            status = 1;
            goto done;
        }
        fprintf(T->log, "epoch %d/%ld  loss %.4f", epoch + 1, o->epochs, loss_sum / (double)T->n_train);
        for (int k = 0; k < ops->num_metrics; k++)
            T->metric_sums[k] /= (double)T->n_train;
        print_metrics(T, "", T->metric_sums);
        if (T->val.n > 0) {
            double val_loss = evaluate_set(T, &T->val, val_metrics);
            fprintf(T->log, "  val_loss %.4f", val_loss);
            print_metrics(T, "val_", val_metrics);
            if (val_loss < T->best_loss) {
                T->best_loss = val_loss;
                T->best_epoch = epoch + 1;
                T->bad_epochs = 0;
            } else {
                T->bad_epochs++;
            }
        }
        if (!o->no_time) {
            double seconds = now() - started;
            fprintf(T->log, seconds < 1 ? "  %.1f ms" : "  %.1f s", seconds < 1 ? 1000 * seconds : seconds);
        }
        fprintf(T->log, "\n");
        fflush(T->log);
        T->epochs_done = epoch + 1;
        if (o->checkpoint && agree_failed(T, T->rank == 0 && save_checkpoint(T), "to write the checkpoint")) {
            status = 1;
            goto done;
        }
        if (o->patience && T->bad_epochs >= o->patience)
            fprintf(T->log, "early stopping: val_loss has not improved for %d epochs (best %.4f at epoch %d)\n",
                    T->bad_epochs, T->best_loss, T->best_epoch);
    }
done:
    free(val_metrics);
    return status;
}

/* ---- prediction ---------------------------------------------------------------------- */

static void write_value(FILE *f, const trainer *T, const mn_io_info *io, const void *base, size_t at)
{
    if (io->dtype == MN_I32)
        fprintf(f, "%" PRId32, ((const int32_t *)base)[at]);
    else if (T->ops->real == MN_F64)
        fprintf(f, "%.17g", ((const double *)base)[at]);
    else
        fprintf(f, "%.9g", (double)((const float *)base)[at]);
}

static int predict(trainer *T)
{
    const mn_model_ops *ops = T->ops;
    void *outs = xcalloc(1, ops->outputs_size);
    void **bufs = xcalloc((size_t)ops->num_outputs + 1, sizeof(void *));
    long n = T->pred.n;
    for (int k = 0; k < ops->num_outputs; k++) {
        const mn_io_info *io = &ops->outputs[k];
        bufs[k] = xcalloc((ops->output_batched[k] ? (size_t)n : 1) * io->size, io_elem(T, io));
        set_field(outs, io, bufs[k]);
    }
    point_at(T, &T->pred, 0, 0);
    ops->predict(T->model, T->in, (int)n, outs);

    const char *path = T->o.out;
    char *temp = NULL;
    FILE *f = stdout;
    int status = 0;
    if (path && strcmp(path, "-")) {
        static const char suffix[] = ".tmp.XXXXXX";
        temp = xcalloc(strlen(path) + sizeof suffix, 1);
        strcpy(temp, path);
        strcat(temp, suffix);
        int fd = mkstemp(temp);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (f == NULL) {
            fprintf(stderr, "%s: error: cannot write: %s\n", path, strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(temp);
            }
            status = 1;
        }
    }
    if (status == 0) {
        for (int k = 0; k < ops->num_outputs; k++) {
            const mn_io_info *io = &ops->outputs[k];
            for (size_t e = 0; e < io->size; e++) {
                fprintf(f, "%s%s", k || e ? "," : "", io->name);
                if (io->size > 1)
                    fprintf(f, "_%zu", e);
            }
        }
        fprintf(f, "\n");
        for (long r = 0; r < n; r++) {
            for (int k = 0; k < ops->num_outputs; k++) {
                const mn_io_info *io = &ops->outputs[k];
                size_t row = ops->output_batched[k] ? (size_t)r * io->size : 0;
                for (size_t e = 0; e < io->size; e++) {
                    if (k || e)
                        fputc(',', f);
                    write_value(f, T, io, bufs[k], row + e);
                }
            }
            fputc('\n', f);
        }
        int bad = fflush(f) != 0 || ferror(f);
        if (temp) {
            bad |= fsync(fileno(f)) != 0;
            bad |= fclose(f) != 0;
            if (!bad && rename(temp, path) != 0)
                bad = 1;
            if (bad)
                unlink(temp);
        }
        if (bad) {
            fprintf(stderr, "%s: error: cannot write the predictions: %s\n", path ? path : "standard output",
                    strerror(errno));
            status = 1;
        } else if (temp) {
            fprintf(T->log, "wrote %ld predictions to %s\n", n, path);
        }
    }
    for (int k = 0; k < ops->num_outputs; k++)
        free(bufs[k]);
    free(bufs);
    free(outs);
    free(temp);
    return status;
}

/* ---- the program ---------------------------------------------------------------------- */

static int run(trainer *T)
{
    const mn_model_ops *ops = T->ops;
    options *o = &T->o;
    char default_save[512];
    snprintf(default_save, sizeof default_save, "%s.safetensors", ops->name);
    const char *save = o->save ? o->save : default_save;

    /* every data file, checked, before anything else (on every rank) */
    int failed = (o->train && load_data(T, o->train, 1, &T->train)) || (o->val && load_data(T, o->val, 1, &T->val)) ||
                 (o->eval && load_data(T, o->eval, 1, &T->eval)) ||
                 (o->predict && load_data(T, o->predict, 0, &T->pred));
    if (agree_failed(T, failed, "to load its data"))
        return 1;
    T->n_train = T->train.n;
    if (o->train && o->val_split > 0) {
        long n_val = (long)floor(o->val_split * (double)T->train.n);
        if (n_val < 1 || n_val >= T->train.n) {
            fprintf(stderr, "%s: error: --val-split %g of %ld samples leaves %ld for validation and %ld for training\n",
                    T->prog, o->val_split, T->train.n, n_val, T->train.n - n_val);
            return 1;
        }
        split_validation(T, n_val);
    }
    if (o->threads > 1 && mn_set_threads((int)o->threads) != MN_OK)
        fprintf(stderr, "%s: warning: could not start %ld threads; using 1\n", T->prog, o->threads);

    T->model = xcalloc(1, ops->model_size);
    T->in = xcalloc(1, ops->inputs_size);
    T->tg = xcalloc(1, ops->targets_size);
    T->metrics = xcalloc((size_t)ops->num_metrics + 1, sizeof(double));
    T->metric_sums = xcalloc((size_t)ops->num_metrics + 1, sizeof(double));
    ops->init(T->model, o->seed);
    T->best_loss = INFINITY;

    if (agree_failed(T, T->rank == 0 && o->load && load_weights(T, o->load), "to load the weights") ||
        share_state(T))
        return 1;
    if (o->train) {
        T->hash = data_hash(T);
        T->perm = xcalloc((size_t)T->n_train, sizeof *T->perm);
        T->batch_in = xcalloc((size_t)ops->num_inputs + 1, sizeof(void *));
        T->batch_tg = xcalloc((size_t)ops->num_targets + 1, sizeof(void *));
        for (int i = 0; i < ops->num_inputs; i++)
            T->batch_in[i] = xcalloc((size_t)o->batch * ops->inputs[i].size, io_elem(T, &ops->inputs[i]));
        for (int i = 0; i < ops->num_targets; i++)
            T->batch_tg[i] = xcalloc((size_t)o->batch * ops->targets[i].size, io_elem(T, &ops->targets[i]));
        fprintf(T->log, "training %s on %ld samples%s", ops->name, T->n_train, T->val.n ? "" : "\n");
        if (T->val.n)
            fprintf(T->log, ", validating on %ld\n", T->val.n);
        if (o->checkpoint) {
            build_checkpoint_table(T);
            remove_stale_temporaries(o->checkpoint);
        }
        if (o->resume) { /* rank 0 reads the checkpoint, every rank gets its state */
            failed = 0;
            if (T->rank == 0 && access(o->checkpoint, F_OK) == 0)
                failed = resume_checkpoint(T);
            else if (T->rank == 0)
                fprintf(T->log, "no checkpoint %s yet: training from the start\n", o->checkpoint);
            if (agree_failed(T, failed, "to resume") || share_state(T))
                return 1;
        }
        if (T->ranks > 1 && T->comm->grads_setup(T->comm->ctx, (size_t)o->bucket_kib << 10) != MN_OK) {
            fprintf(stderr, "%s%s: error: out of memory for the gradient buckets\n", T->who, T->prog);
            return 1;
        }
        if (train(T))
            return 1;
        if (agree_failed(T, T->rank == 0 && save_weights(T, save), "to save the weights"))
            return 1;
    } else {
        failed = T->rank == 0 && !o->load && load_weights(T, save);
        if (failed)
            fprintf(stderr, "%s: note: evaluation and prediction without training data use the weights of --load "
                            "FILE (default %s)\n",
                    T->prog, save);
        if (agree_failed(T, failed, "to load the weights") || share_state(T))
            return 1;
    }
    if (o->eval) {
        double *m = xcalloc((size_t)ops->num_metrics + 1, sizeof(double));
        double loss = evaluate_set(T, &T->eval, m);
        fprintf(T->log, "eval %s: %ld samples  loss %.4f", o->eval, T->eval.n, loss);
        print_metrics(T, "", m);
        fprintf(T->log, "\n");
        free(m);
    }
    if (o->predict && agree_failed(T, T->rank == 0 && predict(T), "to predict"))
        return 1;
    return 0;
}

int mn_trainer_main(int argc, char **argv, const mn_model_ops *ops)
{
    return mn_trainer_run(argc, argv, ops, NULL);
}

int mn_trainer_run(int argc, char **argv, const mn_model_ops *ops, const mn_comm *comm)
{
    trainer T;
    memset(&T, 0, sizeof T);
    T.ops = ops;
    T.comm = comm;
    T.rank = comm ? comm->rank : 0;
    T.ranks = comm ? comm->size : 1;
    if (T.ranks > 1)
        snprintf(T.who, sizeof T.who, "rank %d of %d: ", T.rank, T.ranks);
    T.prog = argc > 0 && argv[0] ? argv[0] : ops->name;
    /* options are the same on every rank: so are the usage errors (rank 0 prints them) */
    FILE *quiet = NULL;
    if (T.rank > 0 && (quiet = fopen("/dev/null", "w")) == NULL) {
        fprintf(stderr, "%s%s: error: cannot open /dev/null\n", T.who, T.prog);
        return 1;
    }
    int saved_stderr = -1;
    if (quiet) { /* every rank parses the same options: only rank 0 reports them */
        fflush(stderr);
        saved_stderr = dup(fileno(stderr));
        dup2(fileno(quiet), fileno(stderr));
    }
    int status = parse_options(argc, argv, ops, T.ranks, &T.o);
    if (saved_stderr >= 0) {
        fflush(stderr);
        dup2(saved_stderr, fileno(stderr));
        close(saved_stderr);
    }
    if (status >= 0) {
        if (quiet)
            fclose(quiet);
        return status;
    }
    if (T.ranks > 1 && (!ops->compute_gradients_ready || !ops->apply_gradients || !ops->grad_order)) {
        fprintf(stderr, "%s%s: error: this trainer was generated by an mnc without data-parallel training: rerun "
                        "mnc --emit trainer\n", T.who, T.prog);
        if (quiet)
            fclose(quiet);
        return 2;
    }
    T.rs = ops->real == MN_F64 ? sizeof(double) : sizeof(float);
    /* predictions on standard output: everything else goes to stderr; only rank 0 prints */
    T.log = quiet ? quiet : T.o.predict && (!T.o.out || !strcmp(T.o.out, "-")) ? stderr : stdout;
    T.bar = !quiet && !T.o.no_time && isatty(fileno(T.log));
    status = run(&T);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "%s: error: cannot write the standard output\n", T.prog);
        status = 1;
    }
    mn_data_free(&T.train);
    mn_data_free(&T.val);
    mn_data_free(&T.eval);
    mn_data_free(&T.pred);
    for (int i = 0; T.batch_in && i < ops->num_inputs; i++)
        free(T.batch_in[i]);
    for (int i = 0; T.batch_tg && i < ops->num_targets; i++)
        free(T.batch_tg[i]);
    free(T.batch_in);
    free(T.batch_tg);
    free(T.perm);
    free(T.metrics);
    free(T.metric_sums);
    free(T.ck_table);
    free(T.staging);
    free(T.in);
    free(T.tg);
    free(T.model);
    if (quiet)
        fclose(quiet);
    return status;
}
