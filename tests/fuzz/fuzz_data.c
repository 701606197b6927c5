/* fuzz_data.c — libFuzzer harness for the trainer's data loading
 * (runtime/mn_data.c): arbitrary bytes as a CSV file, or as one .npy file,
 * against a small fixed model, and what mn_data_load promises checked on
 * every input (abort() on a violation, so that libFuzzer keeps the input).
 *
 * The first byte chooses the reader and the model (mode % 8); the rest is
 * the file, written over one per-process temporary file (mkstemp, once,
 * unlinked at once and reached as /proc/self/fd/N, so that nothing is left
 * in /tmp however the process ends):
 *   0  CSV, inputs x float[3], c int (ids in [0, 4)), target y (bce), training
 *   1  the same CSV, for prediction (the target not read, columns checked)
 *   2  .npy for the input x alone   ("x=FILE")
 *   3  .npy for the input c alone   ("c=FILE")
 *   4  .npy for the target y alone  ("y=FILE"; no inputs)
 *   5  CSV, a wider float64 model: a double[2, 10] in [-100, 100] (20
 *      columns a_0 .. a_19), n an unbounded int, target t double[3] (cce),
 *      training
 *   6  .npy for the input a of that model alone ("a=FILE")
 *   7  CSV, that model with a third input named a_1, so that the column a_1
 *      is ambiguous (every file is refused)
 *
 * Promises checked:
 *   refused: a known error code; *out all zero; the message non-empty, one
 *            line (no byte below 0x20), and it starts with the file's path
 *            followed by ':' (every refusal of a file names it);
 *   loaded:  1 <= n <= MN_DATA_MAX_SAMPLES; for CSV, n is the number of
 *            non-empty lines less the header; every array read is there
 *            (the target's NULL when not wanted) and sized for n samples,
 *            no more (malloc_usable_size: the arrays are sized by the real
 *            rows; exactly, under ASan); every value is what its
 *            descriptor accepts (finite, float-sized for float32, an id in
 *            [0, int_bound), in [0, 1] for a bce or cce target, inside a
 *            declared range).
 * Leaks (ASan's LeakSanitizer) and overflows are found by the sanitizers.
 *
 * Build (from the repository root):
 *   mkdir -p build/fuzz && clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=all -Iruntime tests/fuzz/fuzz_data.c runtime/mn_data.c \
 *     runtime/mn_safetensors.c -lm -pthread -o build/fuzz/fuzz_data
 * Run:    ./build/fuzz/fuzz_data -dict=tests/fuzz/data.dict /tmp/scratch tests/fuzz/corpus/data
 * Replay: ./build/fuzz/fuzz_data -runs=0 tests/fuzz/corpus/data tests/fuzz/crashers/data
 * (FUZZ_DATA_VERBOSE=1 in the environment prints each input's result.)
 */
#define _GNU_SOURCE /* malloc_usable_size */

#include "mn_runtime.h"
#include "mn_internal.h"

#include <float.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* inputs x float[3], c int[1] (ids in [0, 4)); target y float[1] read by bce */
static const mn_io_info inputs[2] = {
    {"x", MN_F32, 1, {3}, 3, 0, MN_DATA_PLAIN, 0, 0, 0, 0},
    {"c", MN_I32, 1, {1}, 1, 4, MN_DATA_PLAIN, 0, 0, 0, 0},
};
static const mn_io_info targets[1] = {
    {"y", MN_F32, 1, {1}, 1, 0, MN_DATA_BINARY, 0, 0, 0, 0},
};

static const mn_io_info wide_inputs[3] = {
    {"a", MN_F64, 2, {2, 10}, 20, 0, MN_DATA_PLAIN, 0, 1, -100, 100},
    {"n", MN_I32, 1, {1}, 1, 0, MN_DATA_PLAIN, 0, 0, 0, 0},
    {"a_1", MN_I32, 1, {1}, 1, 0, MN_DATA_PLAIN, 0, 0, 0, 0},
};
static const mn_io_info wide_targets[1] = {
    {"t", MN_F64, 1, {3}, 3, 0, MN_DATA_ONEHOT, 0, 0, 0, 0},
};

static char path[64]; /* /proc/self/fd/N */
static int fd = -1;

#define CHECK(cond)                                                                                                 \
    do {                                                                                                            \
        if (!(cond)) {                                                                                              \
            fprintf(stderr, "fuzz_data.c:%d: violated: %s\n", __LINE__, #cond);                                    \
            abort();                                                                                                \
        }                                                                                                           \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char name[] = "/tmp/mn_fuzz_data.XXXXXX";
    fd = mkstemp(name);
    if (fd < 0) {
        perror("mkstemp");
        abort();
    }
    unlink(name);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

/* The CSV reader's rows: non-empty lines (more than spaces and tabs, less
 * a final CR), a UTF-8 byte-order mark skipped, less the header. */
static long csv_rows(const unsigned char *p, size_t n)
{
    size_t i = n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF ? 3 : 0;
    long lines = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && p[e] != '\n')
            e++;
        size_t len = e - i;
        if (len > 0 && p[i + len - 1] == '\r')
            len--;
        for (size_t k = i; k < i + len; k++)
            if (p[k] != ' ' && p[k] != '\t') {
                lines++;
                break;
            }
        i = e + 1;
    }
    return lines - 1;
}

/* npy: the array may point into the file's mapping (read in place), which
 * malloc_usable_size knows nothing of; reading every element below still
 * checks its extent (past the mapping is a fault). */
static void check_array(const mn_io_info *io, const void *data, long n, int npy)
{
    CHECK(data != NULL);
    size_t count = (size_t)n * io->size;
    size_t elem = io->dtype == MN_I32 ? 4 : io->dtype == MN_F32 ? 4 : 8;
    /* sized by the samples, not by anything larger (the lines of a CSV
     * file): under ASan the usable size is the size asked for, exactly */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_EXACT_SIZE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(FUZZ_EXACT_SIZE)
    CHECK(npy || malloc_usable_size((void *)data) == count * elem);
#else
    CHECK(npy || malloc_usable_size((void *)data) >= count * elem);
#endif
    for (size_t i = 0; i < count; i++) {
        double v = io->dtype == MN_I32 ? ((const int32_t *)data)[i]
                   : io->dtype == MN_F32 ? ((const float *)data)[i]
                                         : ((const double *)data)[i];
        CHECK(isfinite(v));
        if (io->dtype == MN_F32)
            CHECK(fabs(v) <= FLT_MAX);
        if (io->int_bound > 0)
            CHECK(v >= 0 && v < (double)io->int_bound);
        if (io->kind == MN_DATA_BINARY || io->kind == MN_DATA_ONEHOT)
            CHECK(v >= 0 && v <= 1);
        if (io->has_range)
            CHECK(v >= io->lo && v <= io->hi);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0] % 8;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(len == 0 || pwrite(fd, body, len, 0) == (ssize_t)len);

    char source[64];
    const mn_io_info *in = inputs, *tg = targets;
    int nin = 2, ntg = 1, want = 1;
    switch (mode) {
    case 0: snprintf(source, sizeof source, "%s", path); break;
    case 1: snprintf(source, sizeof source, "%s", path); want = 0; break;
    case 2: snprintf(source, sizeof source, "x=%s", path); nin = 1; ntg = 0; break;
    case 3: snprintf(source, sizeof source, "c=%s", path); in = &inputs[1]; nin = 1; ntg = 0; break;
    case 4: snprintf(source, sizeof source, "y=%s", path); nin = 0; break;
    case 5: snprintf(source, sizeof source, "%s", path); in = wide_inputs; tg = wide_targets; break;
    case 6: snprintf(source, sizeof source, "a=%s", path); in = wide_inputs; nin = 1; ntg = 0; break;
    default: snprintf(source, sizeof source, "%s", path); in = wide_inputs; nin = 3; tg = wide_targets; break;
    }

    mn_dataset d;
    memset(&d, 0xA5, sizeof d); /* the loader must overwrite every field */
    char err[512];
    memset(err, 'Z', sizeof err);
    int rc = mn_data_load(source, in, nin, tg, ntg, want, &d, err, sizeof err);
    if (getenv("FUZZ_DATA_VERBOSE") != NULL) /* replaying: what each input gives */
        fprintf(stderr, "mode %d: %s\n", mode, rc == MN_OK ? "loaded" : err);
    if (rc != MN_OK) {
        CHECK(rc == MN_ERR_IO || rc == MN_ERR_FORMAT || rc == MN_ERR_MISMATCH || rc == MN_ERR_NOMEM ||
              rc == MN_ERR_ARG);
        static const mn_dataset zero;
        CHECK(memcmp(&d, &zero, sizeof d) == 0);
        size_t n = strnlen(err, sizeof err);
        CHECK(n > 0 && n < sizeof err);
        for (size_t i = 0; i < n; i++)
            CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
        CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
        return 0;
    }
    CHECK(err[0] == '\0');
    CHECK(d.n >= 1 && d.n <= MN_DATA_MAX_SAMPLES);
    CHECK(d.ninputs == nin && d.ntargets == ntg);
    CHECK(d.input != NULL && d.target != NULL && d.owned != NULL);
    CHECK(mode != 7); /* a_1 is always ambiguous */
    if (mode <= 1 || mode == 5)
        CHECK(d.n == csv_rows(body, len));
    int npy = strchr(source, '=') != NULL;
    for (int i = 0; i < nin; i++)
        check_array(&in[i], d.input[i], d.n, npy);
    for (int i = 0; i < ntg; i++) {
        if (want)
            check_array(&tg[i], d.target[i], d.n, npy);
        else
            CHECK(d.target[i] == NULL);
    }
    mn_data_free(&d);
    CHECK(d.input == NULL && d.owned == NULL && d.n == 0);
    return 0;
}
