/* test_data.c — unit tests of the trainer's data loading (runtime/mn_data.c),
 * with CUnit: CSV and NumPy files against hand-written descriptors, the
 * values stored, and every refusal with its exact message.
 */
#define _POSIX_C_SOURCE 200809L

#include "mn_runtime.h"
#include "mn_internal.h" /* the loader's limits, MN_CSV_MAX_BYTES .. */

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h> /* malloc_usable_size */
#endif

static char scratch_dir[] = "/tmp/mn_data_test.XXXXXX";

/* Model: inputs x float[2, 3], id int[1] (ids in [0, 5)), t float[1] with
 * range [-1, 1]; target y float[1] read by bce. */
static const mn_io_info inputs[3] = {
    {"x", MN_F32, 2, {2, 3}, 6, 0, MN_DATA_PLAIN, 0, 0, 0, 0},
    {"id", MN_I32, 1, {1}, 1, 5, MN_DATA_PLAIN, 0, 0, 0, 0},
    {"t", MN_F32, 1, {1}, 1, 0, MN_DATA_PLAIN, 0, 1, -1, 1},
};
static const mn_io_info targets[1] = {
    {"y", MN_F32, 1, {1}, 1, 0, MN_DATA_BINARY, 0, 0, 0, 0},
};

static const char *path_of(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s/%s", scratch_dir, name);
    return p;
}

static const char *write_file(const char *name, const void *bytes, size_t len)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    if (len)
        CU_ASSERT_FATAL(fwrite(bytes, 1, len, f) == len);
    CU_ASSERT_FATAL(fclose(f) == 0);
    return path;
}

static const char *write_text(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

static char err[1024];

static int load(const char *source, int want_targets, mn_dataset *d)
{
    err[0] = '\0';
    return mn_data_load(source, inputs, 3, targets, 1, want_targets, d, err, sizeof err);
}

/* Loads the CSV text and expects a refusal whose message, less the
 * scratch directory, is `want`. */
static void expect_csv_error(const char *text, const char *want)
{
    mn_dataset d;
    const char *path = write_text("e.csv", text);
    int rc = load(path, 1, &d);
    CU_ASSERT(rc != MN_OK);
    CU_ASSERT(d.n == 0 && d.input == NULL);
    const char *msg = strncmp(err, scratch_dir, strlen(scratch_dir)) == 0 ? err + strlen(scratch_dir) + 1 : err;
    if (strcmp(msg, want) != 0)
        printf("\n  got:  %s\n  want: %s\n", msg, want);
    CU_ASSERT_STRING_EQUAL(msg, want);
}

static const char header[] = "x_0,x_1,x_2,x_3,x_4,x_5,id,t,y\n";

static void test_csv_values(void)
{
    /* columns in another order, a quoted header name, spaces, CRLF, a BOM,
     * an empty line, an integer written as 3.0 */
    const char *text = "\xEF\xBB\xBFy, \"t\" ,id,x_5,x_4,x_3,x_2,x_1,x_0\r\n"
                       "1,0.5,3,5,4,3,2,1,0\r\n"
                       "\r\n"
                       "0 , -1,\"0\",1e1,-2.5,0,0,0,7\n"
                       "0.25,1,3.0,0,0,0,0,0,0";
    mn_dataset d;
    int rc = load(write_text("ok.csv", text), 1, &d);
    CU_ASSERT_EQUAL_FATAL(rc, MN_OK);
    CU_ASSERT_EQUAL(d.n, 3);
    const float *x = d.input[0], *t = d.input[2], *y = d.target[0];
    const int32_t *id = d.input[1];
    for (int k = 0; k < 6; k++)
        CU_ASSERT_EQUAL(x[k], (float)k);
    CU_ASSERT_EQUAL(x[6], 7);
    CU_ASSERT_EQUAL(x[10], -2.5f);
    CU_ASSERT_EQUAL(x[11], 10);
    CU_ASSERT(id[0] == 3 && id[1] == 0 && id[2] == 3);
    CU_ASSERT(t[0] == 0.5f && t[1] == -1 && t[2] == 1);
    CU_ASSERT(y[0] == 1 && y[1] == 0 && y[2] == 0.25f);
    mn_data_free(&d);
    CU_ASSERT(d.input == NULL);
}

static void test_csv_without_targets(void)
{
    /* prediction: the target column may be absent, or hold anything */
    mn_dataset d;
    CU_ASSERT_EQUAL_FATAL(load(write_text("p1.csv", "x_0,x_1,x_2,x_3,x_4,x_5,id,t\n1,2,3,4,5,6,4,0\n"), 0, &d), MN_OK);
    CU_ASSERT(d.n == 1 && d.target[0] == NULL);
    mn_data_free(&d);
    CU_ASSERT_EQUAL_FATAL(load(write_text("p2.csv", "x_0,x_1,x_2,x_3,x_4,x_5,id,t,y\n1,2,3,4,5,6,4,0,abc\n"), 0, &d),
                          MN_OK);
    mn_data_free(&d);
    /* training needs it */
    CU_ASSERT(load(path_of("p1.csv"), 1, &d) == MN_ERR_MISMATCH);
    CU_ASSERT(strstr(err, "p1.csv:1: error: no column 'y' (target 'y')") != NULL);
    /* a column that is not read may not appear twice either: the header has
     * at most one column per value of the model's inputs and targets */
    CU_ASSERT(load(write_text("p3.csv", "x_0,x_1,x_2,x_3,x_4,x_5,id,t,y,y\n1,2,3,4,5,6,4,0,1,1\n"), 0, &d) ==
              MN_ERR_FORMAT);
    CU_ASSERT(strstr(err, "p3.csv:1:32: error: column 'y' appears twice") != NULL);
    CU_ASSERT(d.n == 0 && d.input == NULL && d.target == NULL && d.owned == NULL);
}

static void test_csv_errors(void)
{
    char text[512];
    snprintf(text, sizeof text, "%s0,1,2,3,4,5,1,0,1\n0,1,2,abc,4,5,1,0,1\n", header);
    expect_csv_error(text, "e.csv:3:7: error: column 'x_3': 'abc' is not a number");
    snprintf(text, sizeof text, "%s0,1,2,3,4,5,1,0,1\n0,1,2,3,4,5,1,0\n", header);
    expect_csv_error(text, "e.csv:3:16: error: 8 fields, the header has 9 columns");
    snprintf(text, sizeof text, "%s0,1,2,3,4,5,1,0,1,9\n", header);
    expect_csv_error(text, "e.csv:2:19: error: more fields than the header's 9 columns");
    snprintf(text, sizeof text, "%s0,1,2,,4,5,1,0,1\n", header);
    expect_csv_error(text, "e.csv:2:7: error: column 'x_3': empty cell");
    snprintf(text, sizeof text, "%s0,1,2,3,4,5,5,0,1\n", header);
    expect_csv_error(text, "e.csv:2:13: error: column 'id': '5' is out of range: input 'id' takes ids in [0, 4]");
    snprintf(text, sizeof text, "%s0,1,2,3,4,5,-1,0,1\n", header);
    expect_csv_error(text, "e.csv:2:13: error: column 'id': '-1' is out of range: input 'id' takes ids in [0, 4]");
    snprintf(text, sizeof text, "%s0,1,2,3,4,5,1.5,0,1\n", header);
    expect_csv_error(text, "e.csv:2:13: error: column 'id': '1.5' is not an integer (input 'id' is int)");
    snprintf(text, sizeof text, "%s0,1,2,3,4,5,1,1.5,1\n", header);
    expect_csv_error(text, "e.csv:2:15: error: column 't': '1.5' is out of the declared range [-1, 1] of input 't'");
    snprintf(text, sizeof text, "%s0,1,2,3,4,5,1,0,2\n", header);
    expect_csv_error(text, "e.csv:2:17: error: column 'y': '2' is not in [0, 1] (target 'y' is read by bce)");
    snprintf(text, sizeof text, "%snan,1,2,3,4,5,1,0,1\n", header);
    expect_csv_error(text, "e.csv:2:1: error: column 'x_0': 'nan' is not a finite number");
    snprintf(text, sizeof text, "%s0,1,2,3,4,1e999,1,0,1\n", header);
    expect_csv_error(text, "e.csv:2:11: error: column 'x_5': '1e999' is not a finite number");
    snprintf(text, sizeof text, "%s0,1,2,3,4,1e39,1,0,1\n", header);
    expect_csv_error(text, "e.csv:2:11: error: column 'x_5': '1e39' is too large for a float");
    snprintf(text, sizeof text, "%s0,1,2,3,4,5x,1,0,1\n", header);
    expect_csv_error(text, "e.csv:2:11: error: column 'x_5': '5x' is not a number");
    snprintf(text, sizeof text, "%s0,1,2,3,4,\"5,1,0,1\n", header);
    expect_csv_error(text, "e.csv:2:11: error: unterminated quoted field");
    expect_csv_error("x_0,x_1,x_2,x_3,x_4,x_5,id,t,y,z\n", "e.csv:1:32: error: unknown column 'z' (the first line "
                                                             "must be a header naming the model's inputs and targets)");
    expect_csv_error("x_0,x_1,x_2,x_3,x_4,x_6,id,t,y\n", "e.csv:1:21: error: unknown column 'x_6' (the first line "
                                                          "must be a header naming the model's inputs and targets)");
    expect_csv_error("x_0,x_1,x_2,x_3,x_4,id,t,y\n1,2,3,4,5,1,0,1\n",
                     "e.csv:1: error: no column 'x_5' (input 'x' has 6 values per sample: columns 'x_0' .. 'x_5')");
    expect_csv_error("x_0,x_1,x_2,x_3,x_4,x_5,id,t,y,id\n", "e.csv:1:32: error: column 'id' appears twice");
    expect_csv_error(header, "e.csv: error: no data rows after the header");
    expect_csv_error("\n\n", "e.csv: error: empty file (no header)");
    expect_csv_error("0.5,1\n", "e.csv:1:1: error: unknown column '0.5' (the first line must be a header naming the "
                                "model's inputs and targets)");
    mn_dataset d;
    CU_ASSERT(load(path_of("missing.csv"), 1, &d) == MN_ERR_IO);
    CU_ASSERT(strstr(err, "missing.csv: error: cannot open: ") != NULL);
}

/* ---- NumPy -------------------------------------------------------------------- */

/* Writes an .npy file (format 1.0) with this header dictionary and data. */
static const char *write_npy(const char *name, const char *descr, const char *shape, const void *data, size_t len,
                             const char *fortran)
{
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fortran, shape);
    size_t hlen = strlen(dict) + 1;
    while ((10 + hlen) % 64)
        hlen++;
    unsigned char *buf = calloc(10 + hlen + len, 1);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memset(buf + 10, ' ', hlen);
    memcpy(buf + 10, dict, strlen(dict));
    buf[10 + hlen - 1] = '\n';
    if (len)
        memcpy(buf + 10 + hlen, data, len);
    const char *path = write_file(name, buf, 10 + hlen + len);
    free(buf);
    return path;
}

static char spec[2048];

/* "x=DIR/x.npy,id=DIR/id.npy,t=DIR/t.npy,y=DIR/y.npy" with the given file names. */
static const char *spec_of(const char *x, const char *id, const char *t, const char *y)
{
    snprintf(spec, sizeof spec, "x=%s/%s,id=%s/%s,t=%s/%s,y=%s/%s", scratch_dir, x, scratch_dir, id, scratch_dir, t,
             scratch_dir, y);
    return spec;
}

static void write_good_npys(void)
{
    float x[12];
    for (int k = 0; k < 12; k++)
        x[k] = (float)k;
    int64_t id[2] = {4, 0};
    double t[2] = {-1, 0.5};
    unsigned char y[2] = {1, 0};
    write_npy("x.npy", "<f4", "(2, 2, 3)", x, sizeof x, "False");
    write_npy("id.npy", "<i8", "(2, 1)", id, sizeof id, "False");
    write_npy("t.npy", "<f8", "(2,)", t, sizeof t, "False");
    write_npy("y.npy", "|b1", "(2, 1)", y, sizeof y, "False");
}

static void test_npy_values(void)
{
    write_good_npys();
    mn_dataset d;
    int rc = load(spec_of("x.npy", "id.npy", "t.npy", "y.npy"), 1, &d);
    if (rc != MN_OK)
        printf("\n  %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, MN_OK);
    CU_ASSERT_EQUAL(d.n, 2);
    const float *x = d.input[0], *t = d.input[2], *y = d.target[0];
    const int32_t *id = d.input[1];
    CU_ASSERT(x[0] == 0 && x[7] == 7 && x[11] == 11);
    CU_ASSERT(id[0] == 4 && id[1] == 0);
    CU_ASSERT(t[0] == -1 && t[1] == 0.5f);
    CU_ASSERT(y[0] == 1 && y[1] == 0);
    mn_data_free(&d);
    /* prediction: no target file needed */
    snprintf(spec, sizeof spec, "x=%s/x.npy,id=%s/id.npy,t=%s/t.npy", scratch_dir, scratch_dir, scratch_dir);
    CU_ASSERT_EQUAL(load(spec, 0, &d), MN_OK);
    mn_data_free(&d);
}

static void expect_npy_error(const char *source, const char *want)
{
    mn_dataset d;
    CU_ASSERT(load(source, 1, &d) != MN_OK);
    /* drop the scratch directory from the message */
    char msg[1024];
    const char *in = err;
    size_t n = 0, dl = strlen(scratch_dir);
    while (*in && n + 1 < sizeof msg) {
        if (!strncmp(in, scratch_dir, dl)) {
            in += dl + 1;
            continue;
        }
        msg[n++] = *in++;
    }
    msg[n] = '\0';
    if (strcmp(msg, want) != 0)
        printf("\n  got:  %s\n  want: %s\n", msg, want);
    CU_ASSERT_STRING_EQUAL(msg, want);
}

static void test_npy_errors(void)
{
    write_good_npys();
    float x[12] = {0}, big[2] = {0, 1e30f};
    int32_t ids[3] = {1, 7, 2};
    double frac[2] = {1, 2.5};
    write_npy("x_shape.npy", "<f4", "(2, 3, 2)", x, sizeof x, "False");
    expect_npy_error(spec_of("x_shape.npy", "id.npy", "t.npy", "y.npy"),
                     "x_shape.npy: error: shape (2, 3, 2) does not match input 'x': expected (N, 2, 3)");
    write_npy("x_3.npy", "<f4", "(3, 2, 3)", x, 0, "False");
    expect_npy_error(spec_of("x_3.npy", "id.npy", "t.npy", "y.npy"),
                     "x_3.npy: error: 0 bytes of data, the shape needs 72 (truncated)");
    write_npy("x_f.npy", "<f4", "(2, 2, 3)", x, sizeof x, "True");
    expect_npy_error(spec_of("x_f.npy", "id.npy", "t.npy", "y.npy"),
                     "x_f.npy: error: Fortran order is not supported (save a C-ordered array)");
    write_npy("x_be.npy", ">f4", "(2, 2, 3)", x, sizeof x, "False");
    expect_npy_error(spec_of("x_be.npy", "id.npy", "t.npy", "y.npy"),
                     "x_be.npy: error: big-endian data is not supported");
    write_npy("x_f2.npy", "<f2", "(2, 2, 3)", x, 24, "False");
    expect_npy_error(spec_of("x_f2.npy", "id.npy", "t.npy", "y.npy"),
                     "x_f2.npy: error: unsupported dtype (use float32, float64, an integer type or bool)");
    write_npy("id3.npy", "<i4", "(3,)", ids, sizeof ids, "False");
    expect_npy_error(spec_of("x.npy", "id3.npy", "t.npy", "y.npy"),
                     "id3.npy: error: 3 samples, but x.npy has 2");
    write_npy("id_bad.npy", "<i4", "(2, 1)", ids, 8, "False");
    expect_npy_error(spec_of("x.npy", "id_bad.npy", "t.npy", "y.npy"),
                     "id_bad.npy: error: element [1, 0]: 7 is out of range: input 'id' takes ids in [0, 4]");
    write_npy("id_frac.npy", "<f8", "(2,)", frac, sizeof frac, "False");
    expect_npy_error(spec_of("x.npy", "id_frac.npy", "t.npy", "y.npy"),
                     "id_frac.npy: error: element [1]: 2.5 is not an integer (input 'id' is int)");
    write_npy("y_big.npy", "<f4", "(2, 1)", big, sizeof big, "False");
    expect_npy_error(spec_of("x.npy", "id.npy", "t.npy", "y_big.npy"),
                     "y_big.npy: error: element [1, 0]: 1.0000000150474662e+30 is not in [0, 1] (target 'y' is read "
                     "by bce)");
    write_file("not.npy", "hello, world", 12);
    expect_npy_error(spec_of("x.npy", "id.npy", "t.npy", "not.npy"), "not.npy: error: not a NumPy .npy file");
    snprintf(spec, sizeof spec, "x=%s/x.npy,id=%s/id.npy,t=%s/t.npy", scratch_dir, scratch_dir, scratch_dir);
    expect_npy_error(spec, "error: no file for target 'y' (give y=FILE.npy)");
    snprintf(spec, sizeof spec, "x=%s/x.npy,z=%s/x.npy", scratch_dir, scratch_dir);
    expect_npy_error(spec, "x.npy: error: the model has no input or target 'z'");
    snprintf(spec, sizeof spec, "x=%s/x.npy,x=%s/x.npy", scratch_dir, scratch_dir);
    expect_npy_error(spec, "x.npy: error: a second file for 'x' (the first: x.npy)");
    snprintf(spec, sizeof spec, "x=%s/x.npy,%s/id.npy", scratch_dir, scratch_dir);
    expect_npy_error(spec, "id.npy: error: give NAME=FILE.npy for each input and target");
}

/* ---- hostile files: limits and memory ------------------------------------------ */

static const mn_dataset zero_dataset;

/* "VmPeak:" or "VmSize:" of /proc/self/status in KiB, or -1. */
static long vm_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k))
            v = strtol(line + k, NULL, 10);
    fclose(f);
    return v;
}

static void test_csv_blank_lines(void)
{
    /* 20 MB of empty lines around a header and one row: the old reader made
     * room for a row per newline (20M rows x 36 bytes, 720 MB); the arrays
     * must be sized by the one real row, and the peak stay near the file. */
    const size_t blank = (size_t)20 << 20;
    const char *path = path_of("blank.csv");
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    static char nl[1 << 16];
    memset(nl, '\n', sizeof nl);
    for (size_t done = 0; done < blank / 2; done += sizeof nl)
        CU_ASSERT_FATAL(fwrite(nl, 1, sizeof nl, f) == sizeof nl);
    fputs(header, f);
    for (size_t done = 0; done < blank / 4; done += sizeof nl)
        CU_ASSERT_FATAL(fwrite(nl, 1, sizeof nl, f) == sizeof nl);
    fputs("0,1,2,3,4,5,1,0,1\r\n", f);
    for (size_t done = 0; done < blank / 4; done += sizeof nl)
        CU_ASSERT_FATAL(fwrite(nl, 1, sizeof nl, f) == sizeof nl);
    CU_ASSERT_FATAL(fclose(f) == 0);
    const long file_kib = (long)(blank >> 10), slack_kib = 32 << 10;

    struct rusage before, after;
    CU_ASSERT_FATAL(getrusage(RUSAGE_SELF, &before) == 0);
    long size_before = vm_kib("VmSize:");
    mn_dataset d;
    int rc = load(path, 1, &d);
    long peak_after = vm_kib("VmPeak:");
    CU_ASSERT_FATAL(getrusage(RUSAGE_SELF, &after) == 0);
    if (rc != MN_OK)
        printf("\n  %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, MN_OK);
    CU_ASSERT_EQUAL(d.n, 1);
    const float *x = d.input[0];
    CU_ASSERT(x[0] == 0 && x[5] == 5 && ((const int32_t *)d.input[1])[0] == 1);
#if defined(__GLIBC__)
    /* the arrays hold one row (6 floats), not one per newline (the old
     * reader's x was 20M x 24 bytes) */
    CU_ASSERT(malloc_usable_size(d.input[0]) < 4096);
    CU_ASSERT(malloc_usable_size(d.target[0]) < 4096);
#endif
    /* the peak of the address space (what calloc reserved, touched or not:
     * the old reader's 720 MB showed here) stays within the file's size
     * plus slack */
    if (size_before > 0 && peak_after > 0) {
        if (peak_after - size_before > file_kib + slack_kib)
            printf("\n  VmPeak %ld KiB over VmSize before, file %ld KiB\n", peak_after - size_before, file_kib);
        CU_ASSERT(peak_after - size_before <= file_kib + slack_kib);
    }
    /* and so does the resident peak (the old reader did not touch its
     * oversized arrays, so this alone would not have caught it) */
    CU_ASSERT(after.ru_maxrss - before.ru_maxrss <= file_kib + slack_kib);
    mn_data_free(&d);
    unlink(path);
}

/* A file of `size` bytes that holds nothing (sparse): only its size is seen. */
static const char *sparse_file(const char *name, unsigned long long size)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(ftruncate(fileno(f), (off_t)size) == 0);
    CU_ASSERT_FATAL(fclose(f) == 0);
    return path;
}

static void test_file_size_limits(void)
{
    /* refused from fstat's size, before a byte is read */
    mn_dataset d;
    char want[256];
    memset(&d, 0x5a, sizeof d);
    const char *csv = sparse_file("huge.csv", MN_CSV_MAX_BYTES + 1);
    CU_ASSERT(load(csv, 1, &d) == MN_ERR_FORMAT);
    CU_ASSERT(memcmp(&d, &zero_dataset, sizeof d) == 0);
    snprintf(want, sizeof want, "%s: error: %llu bytes, more than the %llu a CSV file may have", csv,
             MN_CSV_MAX_BYTES + 1, MN_CSV_MAX_BYTES);
    CU_ASSERT_STRING_EQUAL(err, want);
    unlink(csv);
    write_good_npys();
    const char *npy = sparse_file("huge.npy", MN_NPY_MAX_BYTES + 1);
    CU_ASSERT(load(spec_of("x.npy", "id.npy", "huge.npy", "y.npy"), 1, &d) == MN_ERR_FORMAT);
    CU_ASSERT(memcmp(&d, &zero_dataset, sizeof d) == 0);
    snprintf(want, sizeof want, "%s: error: %llu bytes, more than the %llu a .npy file may have", npy,
             MN_NPY_MAX_BYTES + 1, MN_NPY_MAX_BYTES);
    CU_ASSERT_STRING_EQUAL(err, want);
    unlink(npy);
}

/* Writes an .npy file of format 2.0 whose header is padded to hlen bytes. */
static const char *write_npy_v2(const char *name, const char *dict, size_t hlen, const void *data, size_t len)
{
    unsigned char *buf = calloc(12 + hlen + len, 1);
    CU_ASSERT_FATAL(buf != NULL && strlen(dict) < hlen);
    memcpy(buf, "\x93NUMPY\x02\x00", 8);
    for (int k = 0; k < 4; k++)
        buf[8 + k] = (unsigned char)(hlen >> (8 * k));
    memset(buf + 12, ' ', hlen);
    memcpy(buf + 12, dict, strlen(dict));
    buf[12 + hlen - 1] = '\n';
    if (len)
        memcpy(buf + 12 + hlen, data, len);
    const char *path = write_file(name, buf, 12 + hlen + len);
    free(buf);
    return path;
}

static void test_npy_header_limit(void)
{
    write_good_npys();
    float x[12] = {0};
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3), }";
    mn_dataset d;
    /* the largest header a format 1.0 file can state loads, in format 2.0 too */
    write_npy_v2("xh_ok.npy", dict, MN_NPY_MAX_HEADER, x, sizeof x);
    CU_ASSERT_EQUAL(load(spec_of("xh_ok.npy", "id.npy", "t.npy", "y.npy"), 1, &d), MN_OK);
    CU_ASSERT(d.n == 2);
    mn_data_free(&d);
    /* one of 70000 bytes (the old loader read any up to 4 GB) */
    write_npy_v2("xh_big.npy", dict, 70000, x, sizeof x);
    expect_npy_error(spec_of("xh_big.npy", "id.npy", "t.npy", "y.npy"),
                     "xh_big.npy: error: a header of 70000 bytes (at most 65535)");
    CU_ASSERT(load(spec_of("xh_big.npy", "id.npy", "t.npy", "y.npy"), 1, &d) == MN_ERR_FORMAT);
    CU_ASSERT(memcmp(&d, &zero_dataset, sizeof d) == 0);
}

static void test_npy_overflow(void)
{
    mn_dataset d;
    char source[512];
    /* 2^62 samples of float[4]: the byte count (2^66) would wrap */
    static const mn_io_info w4[1] = {{"w", MN_F32, 1, {4}, 4, 0, MN_DATA_PLAIN, 0, 0, 0, 0}};
    write_npy("w4.npy", "<f4", "(4611686018427387904, 4)", NULL, 0, "False");
    snprintf(source, sizeof source, "w=%s", path_of("w4.npy"));
    memset(&d, 0x5a, sizeof d);
    CU_ASSERT(mn_data_load(source, w4, 1, NULL, 0, 0, &d, err, sizeof err) == MN_ERR_MISMATCH);
    CU_ASSERT(memcmp(&d, &zero_dataset, sizeof d) == 0);
    CU_ASSERT(strstr(err, "w4.npy: error: 4611686018427387904 samples (at least 1, at most 2147483647)") != NULL);
    /* 4 samples of a descriptor with 2^62 values each: samples x values
     * wraps to 0 in a size_t, so the old loader took a file with no data for
     * 4 samples and returned an empty array */
    static const mn_io_info g[1] = {
        {"g", MN_F32, 2, {2147483648LL, 2147483648LL}, (size_t)1 << 62, 0, MN_DATA_PLAIN, 0, 0, 0, 0}};
    write_npy("g.npy", "<f4", "(4, 2147483648, 2147483648)", NULL, 0, "False");
    snprintf(source, sizeof source, "g=%s", path_of("g.npy"));
    memset(&d, 0x5a, sizeof d);
    int rc = mn_data_load(source, g, 1, NULL, 0, 0, &d, err, sizeof err);
    CU_ASSERT(rc == MN_ERR_FORMAT);
    CU_ASSERT(memcmp(&d, &zero_dataset, sizeof d) == 0);
    if (rc == MN_OK)
        mn_data_free(&d);
    CU_ASSERT(strstr(err, "g.npy: error: shape (4, 2147483648, 2147483648) has more elements than fit in memory") !=
              NULL);
}

static void remove_scratch_dir(void)
{
    static const char *const names[] = {"e.csv", "ok.csv", "p1.csv", "p2.csv", "x.npy", "id.npy", "t.npy",
                                        "y.npy", "x_shape.npy", "x_3.npy", "x_f.npy", "x_be.npy", "x_f2.npy",
                                        "id3.npy", "id_bad.npy", "id_frac.npy", "y_big.npy", "not.npy", "p3.csv",
                                        "blank.csv", "huge.csv", "huge.npy", "xh_ok.npy", "xh_big.npy", "w4.npy",
                                        "g.npy", NULL};
    for (int i = 0; names[i]; i++)
        unlink(path_of(names[i]));
    rmdir(scratch_dir);
}

int main(void)
{
    if (mkdtemp(scratch_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite csv = CU_add_suite("csv", NULL, NULL);
    CU_pSuite npy = CU_add_suite("npy", NULL, NULL);
    CU_pSuite hostile = CU_add_suite("hostile files", NULL, NULL);
    if (csv == NULL || npy == NULL || hostile == NULL)
        return 2;
    CU_add_test(csv, "values, column order, quotes, CRLF, BOM", test_csv_values);
    CU_add_test(csv, "targets not wanted for prediction", test_csv_without_targets);
    CU_add_test(csv, "every refusal names file, line and column", test_csv_errors);
    CU_add_test(npy, "f4, f8, i8, b1, (N,) and (N, dims)", test_npy_values);
    CU_add_test(npy, "every refusal names the file", test_npy_errors);
    CU_add_test(hostile, "20 MB of empty lines: arrays sized by the real rows", test_csv_blank_lines);
    CU_add_test(hostile, "files past the size limits refused before reading", test_file_size_limits);
    CU_add_test(hostile, ".npy header past the limit refused", test_npy_header_limit);
    CU_add_test(hostile, ".npy shapes whose size overflows refused", test_npy_overflow);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    remove_scratch_dir();
    return failures != 0;
}
