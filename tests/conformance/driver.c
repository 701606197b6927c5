/* driver.c — mnc's side of the conformance exchange with PyTorch.
 *
 * Built against a model generated with `--prefix m` (float32). One fixed
 * case: weights from m_init(CONFORMANCE_SEED), a batch of N samples from
 * the harness's seeded generator (tests/harness/harness.h).
 *
 *   driver export FILE   writes FILE: the initial weights (weights0.NAME),
 *                        the batch (input.NAME, target.NAME; int data as
 *                        float) and zero-filled slots for the reference's
 *                        numbers (output.NAME, loss, metric.NAME,
 *                        grad.NAME, step5.NAME).
 *                        tests/reference/conformance.py fills them in.
 *   driver check FILE    reads a filled file (live, or a committed golden),
 *                        checks that its weights0 and batch are exactly
 *                        what this build produces, then compares mnc's
 *                        outputs, loss, gradients and weights after 5
 *                        train_steps with the reference's, within
 *                        tolerances.h. Exit 0 iff all agree.
 * Every file is safetensors, every tensor F32.
 */
#include <float.h>

#include "harness.h"
#include "tolerances.h"

#define CONFORMANCE_SEED 42
#define N (M_BATCH < 8 ? M_BATCH : 8) /* samples in the batch (the model takes at most M_BATCH) */
#define MAX_TENSORS (3 * M_NUM_TENSORS + M_NUM_INPUTS + M_NUM_TARGETS + M_NUM_OUTPUTS + M_NUM_METRICS + 2)

typedef enum Kind { K_WEIGHTS0, K_INPUT, K_TARGET, K_OUTPUT, K_LOSS, K_METRIC, K_GRAD, K_STEP5 } Kind;

typedef struct Layout {
    mn_tensor_info t[MAX_TENSORS];
    Kind kind[MAX_TENSORS];
    int index[MAX_TENSORS]; /* which weight / input / target / output */
    int n;
    size_t total;
} Layout;

static void add(Layout *L, Kind kind, int index, const char *name, int batched, int rank, const int64_t *dims) {
    mn_tensor_info *t = &L->t[L->n];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->rank = 0;
    t->count = 1;
    if (batched) {
        t->dims[t->rank++] = N;
        t->count = N;
    }
    for (int d = 0; d < rank; d++) {
        t->dims[t->rank++] = dims[d];
        t->count *= (size_t)dims[d];
    }
    t->offset = L->total;
    t->trainable = 1;
    L->kind[L->n] = kind;
    L->index[L->n] = index;
    L->total += t->count;
    L->n++;
}

static char *cat(const char *a, const char *b) {
    char *s = xcalloc(strlen(a) + strlen(b) + 1, 1);
    strcpy(s, a);
    strcat(s, b);
    return s;
}

static void make_layout(Layout *L) {
    memset(L, 0, sizeof *L);
    for (int i = 0; i < M_NUM_TENSORS; i++)
        add(L, K_WEIGHTS0, i, cat("weights0.", m_tensors[i].name), 0, m_tensors[i].rank, m_tensors[i].dims);
    for (int i = 0; i < M_NUM_INPUTS; i++)
        add(L, K_INPUT, i, cat("input.", m_input_info[i].name), 1, m_input_info[i].rank, m_input_info[i].dims);
    for (int i = 0; i < M_NUM_TARGETS; i++)
        add(L, K_TARGET, i, cat("target.", m_target_info[i].name), 1, m_target_info[i].rank, m_target_info[i].dims);
    for (int i = 0; i < M_NUM_OUTPUTS; i++)
        add(L, K_OUTPUT, i, cat("output.", m_output_info[i].name), 1, m_output_info[i].rank, m_output_info[i].dims);
    add(L, K_LOSS, 0, "loss", 0, 0, NULL);
    for (int i = 0; i < M_NUM_METRICS; i++) add(L, K_METRIC, i, cat("metric.", m_metric_names[i]), 0, 0, NULL);
    for (int i = 0; i < M_NUM_TENSORS; i++)
        if (m_tensors[i].trainable)
            add(L, K_GRAD, i, cat("grad.", m_tensors[i].name), 0, m_tensors[i].rank, m_tensors[i].dims);
    for (int i = 0; i < M_NUM_TENSORS; i++)
        add(L, K_STEP5, i, cat("step5.", m_tensors[i].name), 0, m_tensors[i].rank, m_tensors[i].dims);
}

/* mnc's numbers for every slot of the layout, computed from scratch. */
static void compute(const Layout *L, float *buf) {
    m *model = model_new(CONFORMANCE_SEED);
    Data d;
    data_make(&d, N, CONFORMANCE_SEED);
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);
    float *outs[M_NUM_OUTPUTS + 1];
    m_outputs out;
    memset(&out, 0, sizeof out);
    for (int i = 0; i < M_NUM_OUTPUTS; i++) {
        outs[i] = xcalloc((size_t)N * m_output_info[i].size, sizeof(float));
        memcpy((char *)&out + m_output_info[i].field_offset, &outs[i], sizeof outs[i]);
    }
    float *weights0 = xcalloc(M_NUM_PARAMS, sizeof(float));
    memcpy(weights0, model->params, sizeof(float) * M_NUM_PARAMS);
    m_predict(model, &in, N, &out);
    float metrics[M_NUM_METRICS + 1];
    m_evaluate(model, &in, &tg, N, metrics);
    float *grads = xcalloc(M_NUM_TRAINABLE, sizeof(float));
    const mn_rng rng = model->rng;
    float loss = m_compute_gradients(model, &in, &tg, N, grads);
    /* compute_gradients trains batchnorm's moving averages (and draws dropout
     * masks): start the 5 steps from the initial state again */
    memcpy(model->params, weights0, sizeof(float) * M_NUM_PARAMS);
    model->rng = rng;
    for (int s = 0; s < 5; s++) m_train_step(model, &in, &tg, N);

    for (int k = 0; k < L->n; k++) {
        const mn_tensor_info *t = &L->t[k];
        float *dst = buf + t->offset;
        int i = L->index[k];
        switch (L->kind[k]) {
        case K_WEIGHTS0: memcpy(dst, weights0 + m_tensors[i].offset, sizeof(float) * t->count); break;
        case K_STEP5: memcpy(dst, model->params + m_tensors[i].offset, sizeof(float) * t->count); break;
        case K_GRAD: memcpy(dst, grads + m_tensors[i].offset, sizeof(float) * t->count); break;
        case K_LOSS: dst[0] = loss; break;
        case K_METRIC: dst[0] = metrics[i]; break;
        case K_OUTPUT: memcpy(dst, outs[i], sizeof(float) * t->count); break;
        case K_INPUT:
        case K_TARGET: {
            const mn_io_info *io = L->kind[k] == K_INPUT ? &m_input_info[i] : &m_target_info[i];
            const void *src = L->kind[k] == K_INPUT ? d.input[i] : d.target[i];
            for (size_t e = 0; e < t->count; e++)
                dst[e] = io->dtype == MN_I32 ? (float)((const int32_t *)src)[e] : ((const float *)src)[e];
            break;
        }
        }
    }
    for (int i = 0; i < M_NUM_OUTPUTS; i++) free(outs[i]);
    free(weights0);
    free(grads);
    data_free(&d);
    free(model);
}

static const Tolerance *tolerance_of(Kind kind) {
    switch (kind) {
    case K_OUTPUT: return &TOL_OUTPUT;
    case K_LOSS: return &TOL_LOSS;
    case K_METRIC: return &TOL_METRIC;
    case K_GRAD: return &TOL_GRAD;
    case K_STEP5: return &TOL_STEP5;
    default: return NULL; /* weights0 and the batch must be identical */
    }
}

/* "[3, 17]" for flat index e of tensor t. */
static const char *index_str(const mn_tensor_info *t, size_t e, char *buf, size_t len) {
    size_t rest = e;
    long idx[MN_MAX_RANK];
    for (int d = t->rank - 1; d >= 0; d--) {
        idx[d] = (long)(rest % (size_t)t->dims[d]);
        rest /= (size_t)t->dims[d];
    }
    int at = snprintf(buf, len, "[");
    for (int d = 0; d < t->rank; d++) at += snprintf(buf + at, len - (size_t)at, "%s%ld", d ? ", " : "", idx[d]);
    snprintf(buf + at, len - (size_t)at, "]");
    return buf;
}

static int count_trainable(void) {
    int k = 0;
    for (int i = 0; i < M_NUM_TENSORS; i++) k += m_tensors[i].trainable;
    return k;
}
#define M_NUM_TRAINABLE_TENSORS count_trainable()

static int check(const Layout *L, const char *path, const char *case_name) {
    float *ref = xcalloc(L->total, sizeof(float)), *mine = xcalloc(L->total, sizeof(float));
    char err[512] = "";
    int rc = mn_load_safetensors(path, L->t, L->n, ref, MN_F32, err, sizeof err);
    if (rc != 0) {
        printf("%s: cannot read %s: %s (%s)\n", case_name, path, mn_strerror(rc), err);
        return 1;
    }
    compute(L, mine);
    int failures = 0, compared = 0;
    for (int k = 0; k < L->n; k++) {
        const mn_tensor_info *t = &L->t[k];
        const Tolerance *tol = tolerance_of(L->kind[k]);
        double worst = -1, worst_ratio = 0, largest = 0;
        size_t worst_at = 0;
        for (size_t e = 0; e < t->count; e++) {
            double a = mine[t->offset + e], b = ref[t->offset + e];
            if (fabs(b) > largest) largest = fabs(b);
            double allowed = tol ? tol->atol + tol->rtol * fabs(b) : 0;
            double diff = fabs(a - b);
            double ratio = allowed > 0 ? diff / allowed : (diff > 0 ? INFINITY : 0);
            if (!(ratio <= worst_ratio) || worst < 0) {
                worst_ratio = ratio;
                worst = diff;
                worst_at = e;
            }
        }
        int ok = worst_ratio <= 1;
        compared++;
        if (!ok || getenv("CONFORMANCE_VERBOSE")) {
            char idx[128];
            double a = mine[t->offset + worst_at], b = ref[t->offset + worst_at];
            if (!tol)
                printf("%s %s: %s %s: mnc %.9g, the file %.9g: %s\n", ok ? "ok  " : "FAIL", case_name, t->name,
                       index_str(t, worst_at, idx, sizeof idx), a, b,
                       ok ? "identical" : "must be identical (same seed, same generator)");
            else
                printf("%s %s: %s: worst element %s: mnc %.9g, PyTorch %.9g, |diff| %.3g; largest |value| %.3g "
                       "(%s: rtol %g, atol %g)\n",
                       ok ? "ok  " : "FAIL", case_name, t->name, index_str(t, worst_at, idx, sizeof idx), a, b, worst,
                       largest, tol->quantity, tol->rtol, tol->atol);
        }
        failures += !ok;
    }
    printf("conformance %s: %d tensors compared (outputs, loss, %d metrics, %d gradients, %d weights after 5 steps): %s\n",
           case_name, compared, M_NUM_METRICS, M_NUM_TRAINABLE_TENSORS, M_NUM_TENSORS, failures ? "FAIL" : "ok");
    free(ref);
    free(mine);
    return failures != 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: driver export FILE | driver check FILE [CASE]\n");
        return 2;
    }
    Layout *L = xcalloc(1, sizeof *L);
    make_layout(L);
    if (!strcmp(argv[1], "export")) {
        float *buf = xcalloc(L->total, sizeof(float));
        compute(L, buf);
        /* only weights0 and the batch are mnc's to give; the rest is the reference's */
        for (int k = 0; k < L->n; k++)
            if (L->kind[k] != K_WEIGHTS0 && L->kind[k] != K_INPUT && L->kind[k] != K_TARGET)
                memset(buf + L->t[k].offset, 0, sizeof(float) * L->t[k].count);
        char err[512] = "";
        int rc = mn_save_safetensors(argv[2], L->t, L->n, buf, MN_F32, err, sizeof err);
        if (rc) fprintf(stderr, "driver: %s: %s\n", mn_strerror(rc), err);
        return rc != 0;
    }
    if (!strcmp(argv[1], "check")) return check(L, argv[2], argc > 3 ? argv[3] : "model");
    fprintf(stderr, "driver: unknown mode '%s'\n", argv[1]);
    return 2;
}
