/* saveload.c — weights survive save + load bit for bit, and a load of a
 * bad file is refused with the model left exactly as it was.
 *
 * Usage: saveload DIR (a writable scratch directory).
 */
#include "harness.h"

static int failures = 0;

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    return size;
}

/* Copies the first `len` bytes of src to dst. */
static void truncate_copy(const char *src, const char *dst, long len) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    if (!in || !out) exit(2);
    for (long i = 0; i < len; i++) {
        int c = fgetc(in);
        if (c == EOF) break;
        fputc(c, out);
    }
    fclose(in);
    fclose(out);
}

/* A load of `path` must fail and leave the weights as they were. */
static void expect_refused(m *model, const char *path, const char *what) {
    real *before = xcalloc(M_NUM_PARAMS, sizeof(real));
    memcpy(before, model->params, sizeof(real) * M_NUM_PARAMS);
    int rc = m_load(model, path);
    EXPECT(rc != 0, "%s: load succeeded", what);
    EXPECT(memcmp(before, model->params, sizeof(real) * M_NUM_PARAMS) == 0, "%s: the weights changed", what);
    free(before);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *dir = argv[1];
    char path[4096], bad[4096];
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);

    m *a = model_new(1), *b = model_new(2);
    EXPECT(memcmp(a->params, b->params, sizeof a->params) != 0 || M_NUM_PARAMS == 0, "two seeds gave the same weights");
    EXPECT(m_save(a, path) == 0, "save failed");
    EXPECT(m_load(b, path) == 0, "load failed");
    EXPECT(memcmp(a->params, b->params, sizeof a->params) == 0, "weights differ after save + load");

    /* the same predictions from the loaded model */
    Data d;
    const int n = M_BATCH < 7 ? M_BATCH : 7;
    data_make(&d, n, 3);
    m_inputs in;
    m_targets tg;
    data_view(&d, 0, &in, &tg);
    double la = m_evaluate(a, &in, &tg, n, NULL), lb = m_evaluate(b, &in, &tg, n, NULL);
    EXPECT(la == lb, "loss differs after load: %.17g vs %.17g", la, lb);

    /* truncated files: inside the length, inside the header, inside the data */
    long size = file_size(path);
    long cuts[] = {0, 4, 8, 20, size / 2, size - 1};
    m *c = model_new(3);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        truncate_copy(path, bad, cuts[i]);
        char what[64];
        snprintf(what, sizeof what, "file cut to %ld of %ld bytes", cuts[i], size);
        expect_refused(c, bad, what);
    }
    /* a file written for other shapes */
    if (M_NUM_TENSORS > 0) {
        mn_tensor_info other[M_NUM_TENSORS];
        memcpy(other, m_tensors, sizeof other);
        other[0].dims[0] += 1;
        other[0].count = 1;
        for (int k = 0; k < other[0].rank; k++) other[0].count *= (size_t)other[0].dims[k];
        size_t total = 0;
        for (int t = 0; t < M_NUM_TENSORS; t++) {
            if (t) other[t].offset = other[t - 1].offset + other[t - 1].count;
            total = other[t].offset + other[t].count;
        }
        real *buf = xcalloc(total, sizeof(real));
        if (other[0].rank > 0) {
            EXPECT(mn_save_safetensors(bad, other, M_NUM_TENSORS, buf, sizeof(real) == 8 ? MN_F64 : MN_F32, NULL, 0) == 0,
                   "saving the mismatched file failed");
            expect_refused(c, bad, "a tensor of another shape");
        }
        free(buf);
    }
    /* a file of another dtype: written from a double buffer of the right size */
    {
        double *wide = xcalloc(M_NUM_PARAMS, sizeof(double));
        mn_dtype other = sizeof(real) == 8 ? MN_F32 : MN_F64;
        void *src = wide;
        float *narrow = xcalloc(M_NUM_PARAMS, sizeof(float));
        if (other == MN_F32) src = narrow;
        EXPECT(mn_save_safetensors(bad, m_tensors, M_NUM_TENSORS, src, other, NULL, 0) == 0, "saving another dtype failed");
        expect_refused(c, bad, "a file of another dtype");
        free(wide);
        free(narrow);
    }
    /* not a file at all, and a directory that does not exist */
    snprintf(bad, sizeof bad, "%s/missing/none.safetensors", dir);
    expect_refused(c, bad, "a missing file");
    EXPECT(m_save(a, bad) != 0, "save into a missing directory succeeded");

    printf("saveload: %d tensors, %ld weights: %s\n", M_NUM_TENSORS, (long)M_NUM_PARAMS, failures ? "FAIL" : "ok");
    data_free(&d);
    free(a);
    free(b);
    free(c);
    return failures != 0;
}
