/* test_runtime.c — unit tests of the mnc runtime (mn_rng.c, mn_init.c,
 * mn_safetensors.c, mn_math.h, the matrix products of mn_threads.c and
 * mn_gemm.c), with CUnit.
 *
 * Known-answer values were derived independently of this C code:
 *   - xoshiro256** from the state {1, 2, 3, 4}: the published vector of the
 *     reference implementation (the test suite of Rust's rand_xoshiro);
 *   - splitmix64 from 0: the published first outputs 0xe220a8397b1dcdaf, ...;
 *   - seed 42: a short Python transcription of the reference algorithms
 *     (splitmix64 seeding, xoshiro256**, (x >> 11) * 2^-53, the Keras
 *     glorot formula), which also reproduces the two published vectors.
 */
#define _POSIX_C_SOURCE 200809L

#include "mn_internal.h"
#include "mn_math.h"
#include "mn_runtime.h"

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <cblas.h>
#include <dirent.h>
#include <pthread.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A scratch directory for the files the tests write, made in main. */
static char scratch_dir[] = "/tmp/mn_runtime_test.XXXXXX";

/* scratch_dir/name, in a static buffer (one path at a time per buffer). */
static const char *scratch_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", scratch_dir, name);
    return buf;
}

/* Writes len bytes to path, replacing it. */
static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    if (len > 0)
        CU_ASSERT_FATAL(fwrite(bytes, 1, len, f) == len);
    CU_ASSERT_FATAL(fclose(f) == 0);
}

/* Reads the whole of path into a malloc'ed buffer; NULL if it cannot. */
static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* ---- random numbers ------------------------------------------------------ */

/* The published xoshiro256** vector from the state {1, 2, 3, 4}. */
static void test_xoshiro_published_vector(void)
{
    static const uint64_t expected[10] = {
        UINT64_C(11520), UINT64_C(0), UINT64_C(1509978240), UINT64_C(1215971899390074240),
        UINT64_C(1216172134540287360), UINT64_C(607988272756665600),
        UINT64_C(16172922978634559625), UINT64_C(8476171486693032832),
        UINT64_C(10595114339597558777), UINT64_C(2904607092377533576),
    };
    mn_rng r = {{1, 2, 3, 4}};
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(mn_rng_next(&r), expected[i]);
}

/* Seeding is four successive splitmix64 outputs: from seed 0 these are the
 * published first outputs of splitmix64. */
static void test_seed_is_splitmix64(void)
{
    mn_rng r;
    mn_rng_seed(&r, 0);
    CU_ASSERT_EQUAL(r.s[0], UINT64_C(0xe220a8397b1dcdaf));
    CU_ASSERT_EQUAL(r.s[1], UINT64_C(0x6e789e6aa1b965f4));
    CU_ASSERT_EQUAL(r.s[2], UINT64_C(0x06c45d188009454f));
    CU_ASSERT_EQUAL(r.s[3], UINT64_C(0xf88bb8a8724c81ec));
}

/* Seed 42: state, first outputs and first uniforms (from the Python
 * transcription). */
static void test_seed_42_known_answers(void)
{
    mn_rng r;
    mn_rng_seed(&r, 42);
    CU_ASSERT_EQUAL(r.s[0], UINT64_C(0xbdd732262feb6e95));
    CU_ASSERT_EQUAL(r.s[1], UINT64_C(0x28efe333b266f103));
    CU_ASSERT_EQUAL(r.s[2], UINT64_C(0x47526757130f9f52));
    CU_ASSERT_EQUAL(r.s[3], UINT64_C(0x581ce1ff0e4ae394));
    CU_ASSERT_EQUAL(mn_rng_next(&r), UINT64_C(0x15780b2e0c2ec716));
    CU_ASSERT_EQUAL(mn_rng_next(&r), UINT64_C(0x6104d9866d113a7e));
    CU_ASSERT_EQUAL(mn_rng_next(&r), UINT64_C(0xae17533239e499a1));
    CU_ASSERT_EQUAL(mn_rng_next(&r), UINT64_C(0xecb8ad4703b360a1));
    CU_ASSERT_EQUAL(mn_rng_next(&r), UINT64_C(0xfde6dc7fe2ec5e64));

    mn_rng_seed(&r, 42);
    CU_ASSERT(mn_rng_uniform(&r) == 0x1.5780b2e0c2ec0p-4);
    CU_ASSERT(mn_rng_uniform(&r) == 0x1.84136619b444ep-2);
    CU_ASSERT(mn_rng_uniform(&r) == 0x1.5c2ea66473c93p-1);

    mn_rng a, b;
    mn_rng_seed(&a, 42);
    mn_rng_seed(&b, 43);
    CU_ASSERT_NOT_EQUAL(mn_rng_next(&a), mn_rng_next(&b));
}

/* Uniforms lie in [0, 1), are multiples of 2^-53 and average 1/2. */
static void test_uniform_range(void)
{
    mn_rng r;
    mn_rng_seed(&r, 7);
    const int n = 100000;
    double sum = 0, lowest = 1, highest = 0;
    int all_in_range = 1, all_on_grid = 1;
    for (int i = 0; i < n; i++) {
        double u = mn_rng_uniform(&r);
        all_in_range &= u >= 0.0 && u < 1.0;
        double scaled = u * 0x1.0p53;
        all_on_grid &= scaled == floor(scaled);
        sum += u;
        lowest = u < lowest ? u : lowest;
        highest = u > highest ? u : highest;
    }
    CU_ASSERT(all_in_range);
    CU_ASSERT(all_on_grid);
    CU_ASSERT_DOUBLE_EQUAL(sum / n, 0.5, 0.01);
    CU_ASSERT(lowest < 0.001);
    CU_ASSERT(highest > 0.999);
}

/* 100k normals: mean 0 and variance 1 within a few standard errors, and
 * about 68% within one standard deviation. */
static void test_normal_moments(void)
{
    mn_rng r;
    mn_rng_seed(&r, 123);
    const int n = 100000;
    double sum = 0, sum_sq = 0;
    int within_one = 0, all_finite = 1;
    for (int i = 0; i < n; i++) {
        double z = mn_rng_normal(&r);
        all_finite &= isfinite(z);
        sum += z;
        sum_sq += z * z;
        within_one += fabs(z) < 1.0;
    }
    double mean = sum / n;
    double variance = sum_sq / n - mean * mean;
    CU_ASSERT(all_finite);
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.0, 0.015);      /* standard error 0.0032 */
    CU_ASSERT_DOUBLE_EQUAL(variance, 1.0, 0.025);  /* standard error 0.0045 */
    CU_ASSERT_DOUBLE_EQUAL((double)within_one / n, 0.6827, 0.01);
}

/* mn_rng_below: in range, every value about equally often, and no modulo
 * bias where plain modulo would show a large one. */
static void test_below(void)
{
    mn_rng r;
    mn_rng_seed(&r, 99);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(mn_rng_below(&r, 1), 0);

    int counts[10] = {0};
    int all_in_range = 1;
    for (int i = 0; i < 100000; i++) {
        uint64_t v = mn_rng_below(&r, 10);
        all_in_range &= v < 10;
        if (v < 10)
            counts[v]++;
    }
    CU_ASSERT(all_in_range);
    for (int k = 0; k < 10; k++)
        CU_ASSERT(counts[k] > 9500 && counts[k] < 10500);   /* sd ~95 */

    /* n = 3 * 2^62: plain x % n would put half the results below 2^62
     * (those x < 2^62 and those x >= 3 * 2^62); unbiased gives a third. */
    const uint64_t n = UINT64_C(3) << 62;
    int below_quarter = 0;
    all_in_range = 1;
    for (int i = 0; i < 30000; i++) {
        uint64_t v = mn_rng_below(&r, n);
        all_in_range &= v < n;
        below_quarter += v < (UINT64_C(1) << 62);
    }
    CU_ASSERT(all_in_range);
    CU_ASSERT_DOUBLE_EQUAL(below_quarter / 30000.0, 1.0 / 3.0, 0.02);

    all_in_range = 1;
    for (int i = 0; i < 1000; i++)
        all_in_range &= mn_rng_below(&r, UINT64_MAX) < UINT64_MAX;
    CU_ASSERT(all_in_range);
}

/* ---- initialisers --------------------------------------------------------- */

/* fill stores the value, cast for f32. */
static void test_fill(void)
{
    float f[5];
    double d[5];
    mn_init_fill_f32(f, 5, 0.1);
    mn_init_fill_f64(d, 5, 0.1);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT(f[i] == (float)0.1);
        CU_ASSERT(d[i] == 0.1);
    }
}

/* glorot_uniform: the known first values for seed 42 and fans 3 and 5,
 * the limit respected, and f32 == (float) f64 element by element. */
static void test_glorot(void)
{
    enum { N = 10000 };
    static float f[N];
    static double d[N];
    mn_rng r;
    mn_rng_seed(&r, 42);
    mn_init_glorot_uniform_f64(d, 3, 3, 5, &r);
    CU_ASSERT(d[0] == -0x1.7108d3f5935f0p-1);
    CU_ASSERT(d[1] == -0x1.ad493dfdc707cp-3);
    CU_ASSERT(d[2] == 0x1.3f541f191fdb0p-2);

    const double fan_in = 64, fan_out = 10;
    const double limit = sqrt(6.0 / (fan_in + fan_out));
    mn_rng_seed(&r, 5);
    mn_init_glorot_uniform_f32(f, N, fan_in, fan_out, &r);
    mn_rng_seed(&r, 5);
    mn_init_glorot_uniform_f64(d, N, fan_in, fan_out, &r);
    int within = 1, agree = 1;
    double lowest = 0, highest = 0;
    for (int i = 0; i < N; i++) {
        within &= d[i] >= -limit && d[i] < limit;
        within &= f[i] >= -(float)limit && f[i] <= (float)limit;
        agree &= f[i] == (float)d[i];
        lowest = d[i] < lowest ? d[i] : lowest;
        highest = d[i] > highest ? d[i] : highest;
    }
    CU_ASSERT(within);
    CU_ASSERT(agree);
    CU_ASSERT(lowest < -0.99 * limit);   /* the whole range is used */
    CU_ASSERT(highest > 0.99 * limit);
}

/* uniform(lo, hi) stays in [lo, hi), f32 agrees with f64; normal(mean,
 * std) has about that mean and std, f32 agrees with f64. */
static void test_uniform_and_normal_init(void)
{
    enum { N = 20000 };
    static float f[N];
    static double d[N];
    mn_rng r;
    mn_rng_seed(&r, 11);
    mn_init_uniform_f32(f, N, -2.0, 3.0, &r);
    mn_rng_seed(&r, 11);
    mn_init_uniform_f64(d, N, -2.0, 3.0, &r);
    int within = 1, agree = 1;
    for (int i = 0; i < N; i++) {
        within &= d[i] >= -2.0 && d[i] < 3.0;
        agree &= f[i] == (float)d[i];
    }
    CU_ASSERT(within);
    CU_ASSERT(agree);
    mn_rng_seed(&r, 42);
    mn_init_uniform_f64(d, 1, -1.0, 1.0, &r);
    CU_ASSERT(d[0] == -1.0 + 2.0 * 0x1.5780b2e0c2ec0p-4);

    mn_rng_seed(&r, 12);
    mn_init_normal_f32(f, N, 5.0, 0.5, &r);
    mn_rng_seed(&r, 12);
    mn_init_normal_f64(d, N, 5.0, 0.5, &r);
    double sum = 0, sum_sq = 0;
    agree = 1;
    for (int i = 0; i < N; i++) {
        agree &= f[i] == (float)d[i];
        sum += d[i];
        sum_sq += d[i] * d[i];
    }
    double mean = sum / N;
    CU_ASSERT(agree);
    CU_ASSERT_DOUBLE_EQUAL(mean, 5.0, 0.02);
    CU_ASSERT_DOUBLE_EQUAL(sqrt(sum_sq / N - mean * mean), 0.5, 0.02);
}

/* ---- safetensors ---------------------------------------------------------- */

/* The model used by most safetensors tests: a 3x4 kernel, a bias of 4 and
 * a scalar, 17 elements in all. */
#define MODEL_ELEMENTS 17
static const mn_tensor_info model[3] = {
    {"dense.kernel", 2, {3, 4}, 0, 12, 1},
    {"dense.bias", 1, {4}, 12, 4, 1},
    {"lam", 0, {0}, 16, 1, 0},
};

/* The header mnc writes for `model` in F32, before the padding. */
static const char model_header_f32[] =
    "{\"__metadata__\":{\"format\":\"mnc\"},"
    "\"dense.kernel\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]},"
    "\"dense.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[48,64]},"
    "\"lam\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[64,68]}}";

/* Fills the model's f32 weights with distinct values. */
static void fill_model_f32(float *w)
{
    for (int i = 0; i < MODEL_ELEMENTS; i++)
        w[i] = (float)(i * 1.25 - 7.0) / 3.0f;
}

/* Saves the model's f32 weights to scratch/name; returns the path. */
static const char *save_model_f32(char *buf, size_t len, const char *name)
{
    float w[MODEL_ELEMENTS];
    fill_model_f32(w);
    char err[256] = "";
    scratch_path(buf, len, name);
    CU_ASSERT_EQUAL(mn_save_safetensors(buf, model, 3, w, MN_F32, err, sizeof err), MN_OK);
    return buf;
}

/* Saves and loads f32 weights: the loaded bits equal the saved bits. */
static void test_round_trip_f32(void)
{
    char path[512], err[256] = "";
    float saved[MODEL_ELEMENTS], loaded[MODEL_ELEMENTS];
    fill_model_f32(saved);
    saved[3] = -0.0f;
    saved[4] = INFINITY;
    scratch_path(path, sizeof path, "round_f32.safetensors");
    CU_ASSERT_EQUAL(mn_save_safetensors(path, model, 3, saved, MN_F32, err, sizeof err), MN_OK);
    memset(loaded, 0xA5, sizeof loaded);
    CU_ASSERT_EQUAL(mn_load_safetensors(path, model, 3, loaded, MN_F32, err, sizeof err), MN_OK);
    CU_ASSERT(memcmp(saved, loaded, sizeof saved) == 0);
}

/* Saves and loads f64 weights, including a model that is one scalar and
 * tensors listed out of buffer order. */
static void test_round_trip_f64(void)
{
    char path[512], err[256] = "";
    double saved[MODEL_ELEMENTS], loaded[MODEL_ELEMENTS];
    mn_rng r;
    mn_rng_seed(&r, 3);
    mn_init_normal_f64(saved, MODEL_ELEMENTS, 0.0, 1.0, &r);
    scratch_path(path, sizeof path, "round_f64.safetensors");
    CU_ASSERT_EQUAL(mn_save_safetensors(path, model, 3, saved, MN_F64, err, sizeof err), MN_OK);
    memset(loaded, 0xA5, sizeof loaded);
    CU_ASSERT_EQUAL(mn_load_safetensors(path, model, 3, loaded, MN_F64, err, sizeof err), MN_OK);
    CU_ASSERT(memcmp(saved, loaded, sizeof saved) == 0);

    const mn_tensor_info scalar_only[1] = {{"lambda", 0, {0}, 0, 1, 1}};
    double scalar = 0.123456789012345678, scalar_back = 0;
    scratch_path(path, sizeof path, "scalar.safetensors");
    CU_ASSERT_EQUAL(mn_save_safetensors(path, scalar_only, 1, &scalar, MN_F64, err, sizeof err),
                    MN_OK);
    CU_ASSERT_EQUAL(mn_load_safetensors(path, scalar_only, 1, &scalar_back, MN_F64, err,
                                        sizeof err), MN_OK);
    CU_ASSERT(memcmp(&scalar, &scalar_back, sizeof scalar) == 0);

    /* The file order follows the list; the buffer offsets need not. */
    const mn_tensor_info reversed[2] = {
        {"b", 1, {2}, 3, 2, 1},
        {"a", 1, {3}, 0, 3, 1},
    };
    double ab[5] = {1, 2, 3, 4, 5}, ab_back[5] = {0};
    scratch_path(path, sizeof path, "reversed.safetensors");
    CU_ASSERT_EQUAL(mn_save_safetensors(path, reversed, 2, ab, MN_F64, err, sizeof err), MN_OK);
    CU_ASSERT_EQUAL(mn_load_safetensors(path, reversed, 2, ab_back, MN_F64, err, sizeof err),
                    MN_OK);
    CU_ASSERT(memcmp(ab, ab_back, sizeof ab) == 0);
}

/* I32 buffers round-trip too. */
static void test_round_trip_i32(void)
{
    char path[512], err[256] = "";
    const mn_tensor_info ids[1] = {{"ids", 1, {4}, 0, 4, 0}};
    int32_t saved[4] = {0, -1, INT32_MAX, INT32_MIN}, loaded[4] = {0};
    scratch_path(path, sizeof path, "i32.safetensors");
    CU_ASSERT_EQUAL(mn_save_safetensors(path, ids, 1, saved, MN_I32, err, sizeof err), MN_OK);
    CU_ASSERT_EQUAL(mn_load_safetensors(path, ids, 1, loaded, MN_I32, err, sizeof err), MN_OK);
    CU_ASSERT(memcmp(saved, loaded, sizeof saved) == 0);
}

/* The same weights give the same bytes, file after file. */
static void test_deterministic_bytes(void)
{
    char path1[512], path2[512];
    size_t len1 = 0, len2 = 0;
    save_model_f32(path1, sizeof path1, "same1.safetensors");
    save_model_f32(path2, sizeof path2, "same2.safetensors");
    unsigned char *bytes1 = read_bytes(path1, &len1);
    unsigned char *bytes2 = read_bytes(path2, &len2);
    CU_ASSERT_FATAL(bytes1 != NULL && bytes2 != NULL);
    CU_ASSERT_EQUAL(len1, len2);
    CU_ASSERT(len1 == len2 && memcmp(bytes1, bytes2, len1) == 0);
    free(bytes1);
    free(bytes2);
}

/* The bytes on disk: little-endian header length (a multiple of 8), the
 * exact header text padded with spaces, then the little-endian data. */
static void test_file_layout(void)
{
    char path[512];
    size_t len = 0;
    save_model_f32(path, sizeof path, "layout.safetensors");
    unsigned char *bytes = read_bytes(path, &len);
    CU_ASSERT_FATAL(bytes != NULL && len >= 8);

    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = (header_len << 8) | bytes[i];
    const size_t text_len = sizeof model_header_f32 - 1;
    CU_ASSERT_EQUAL(header_len % 8, 0);
    CU_ASSERT(header_len >= text_len && header_len < text_len + 8);
    CU_ASSERT_EQUAL(len, 8 + header_len + MODEL_ELEMENTS * 4);
    CU_ASSERT_FATAL(len == 8 + header_len + MODEL_ELEMENTS * 4);
    CU_ASSERT(memcmp(bytes + 8, model_header_f32, text_len) == 0);
    for (size_t i = 8 + text_len; i < 8 + header_len; i++)
        CU_ASSERT_EQUAL(bytes[i], ' ');

    float w[MODEL_ELEMENTS];
    fill_model_f32(w);
    const unsigned char *data = bytes + 8 + header_len;
    int little_endian = 1;
    for (int i = 0; i < MODEL_ELEMENTS; i++) {
        uint32_t bits;
        memcpy(&bits, &w[i], 4);
        for (int b = 0; b < 4; b++)
            little_endian &= data[4 * i + b] == (unsigned char)(bits >> (8 * b));
    }
    CU_ASSERT(little_endian);
    free(bytes);
}

/* Loads path into a buffer full of a pattern and checks the load is
 * refused with `code`, the buffer untouched and a one-line reason given.
 * When `reason` is not NULL the message must contain it. */
static void expect_refused(const char *path, const mn_tensor_info *tensors, int ntensors,
                           mn_dtype dtype, int code, const char *reason)
{
    double buffer[MODEL_ELEMENTS + 8], before[MODEL_ELEMENTS + 8];
    memset(buffer, 0xA5, sizeof buffer);
    memcpy(before, buffer, sizeof buffer);
    char err[512] = "";
    int rc = mn_load_safetensors(path, tensors, ntensors, buffer, dtype, err, sizeof err);
    CU_ASSERT_EQUAL(rc, code);
    CU_ASSERT(memcmp(buffer, before, sizeof buffer) == 0);
    CU_ASSERT(err[0] != '\0');
    CU_ASSERT(strchr(err, '\n') == NULL);
    if (reason != NULL && strstr(err, reason) == NULL) {
        printf("\n    message: %s\n    wanted:  %s\n", err, reason);
        CU_FAIL("the reason does not say what was wrong");
    }
    if (rc != code)
        printf("\n    code %d (%s), message: %s\n", rc, mn_strerror(rc), err);
}

/* A file cut anywhere — inside the length, the header or the data — is
 * not well formed. */
static void test_truncated_files(void)
{
    char path[512], cut[512];
    size_t len = 0;
    save_model_f32(path, sizeof path, "whole.safetensors");
    unsigned char *bytes = read_bytes(path, &len);
    CU_ASSERT_FATAL(bytes != NULL);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = (header_len << 8) | bytes[i];
    const size_t cuts[] = {0, 3, 7, 8, 9, 40, 8 + header_len - 1, 8 + header_len,
                           8 + header_len + 5, len - 4, len - 1};
    scratch_path(cut, sizeof cut, "cut.safetensors");
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(cut, bytes, cuts[i]);
        expect_refused(cut, model, 3, MN_F32, MN_ERR_FORMAT, NULL);
    }
    /* Cut inside the data: the message gives both sizes. */
    char reason[128];
    write_bytes(cut, bytes, len - 1);
    snprintf(reason, sizeof reason, "file is %zu bytes, the header describes %zu", len - 1, len);
    expect_refused(cut, model, 3, MN_F32, MN_ERR_FORMAT, reason);
    /* One byte too many is as wrong as one too few. */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, bytes, len);
    longer[len] = 0;
    write_bytes(cut, longer, len + 1);
    expect_refused(cut, model, 3, MN_F32, MN_ERR_FORMAT, "the header describes");
    free(longer);
    free(bytes);
}

/* Well-formed files for another model: wrong name, missing tensor, extra
 * tensor, wrong shape, wrong dtype. */
static void test_mismatches(void)
{
    char path[512];
    save_model_f32(path, sizeof path, "model.safetensors");

    const mn_tensor_info renamed[3] = {
        {"dense.kernel", 2, {3, 4}, 0, 12, 1},
        {"dense.BIAS", 1, {4}, 12, 4, 1},
        {"lam", 0, {0}, 16, 1, 0},
    };
    expect_refused(path, renamed, 3, MN_F32, MN_ERR_MISMATCH, "'dense.BIAS'");

    const mn_tensor_info more[4] = {
        {"dense.kernel", 2, {3, 4}, 0, 12, 1},
        {"dense.bias", 1, {4}, 12, 4, 1},
        {"lam", 0, {0}, 16, 1, 0},
        {"extra", 1, {2}, 17, 2, 1},
    };
    expect_refused(path, more, 4, MN_F32, MN_ERR_MISMATCH, "tensor 'extra' expected");

    /* The model lacks "lam": the file has a tensor the model does not. */
    expect_refused(path, model, 2, MN_F32, MN_ERR_MISMATCH, "'lam'");

    const mn_tensor_info transposed[3] = {
        {"dense.kernel", 2, {4, 3}, 0, 12, 1},
        {"dense.bias", 1, {4}, 12, 4, 1},
        {"lam", 0, {0}, 16, 1, 0},
    };
    expect_refused(path, transposed, 3, MN_F32, MN_ERR_MISMATCH,
                   "tensor 'dense.kernel': shape [3, 4] in the file, [4, 3] expected");

    const mn_tensor_info scalar_as_vector[3] = {
        {"dense.kernel", 2, {3, 4}, 0, 12, 1},
        {"dense.bias", 1, {4}, 12, 4, 1},
        {"lam", 1, {1}, 16, 1, 0},
    };
    expect_refused(path, scalar_as_vector, 3, MN_F32, MN_ERR_MISMATCH,
                   "shape [] in the file, [1] expected");

    expect_refused(path, model, 3, MN_F64, MN_ERR_MISMATCH, "dtype F32 in the file, F64 expected");
}

/* Writes a file with the given header text (length prefixed) followed by
 * data_len zero bytes. */
static void write_with_header(const char *path, const char *header, size_t data_len)
{
    size_t header_len = strlen(header);
    size_t len = 8 + header_len + data_len;
    unsigned char *bytes = calloc(1, len);
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    memcpy(bytes + 8, header, header_len);
    write_bytes(path, bytes, len);
    free(bytes);
}

/* Garbage and malformed headers are format errors; a missing file is an
 * I/O error; a hand-written header with escapes and other metadata loads. */
static void test_malformed_files(void)
{
    char path[512];
    const mn_tensor_info one[1] = {{"ab", 1, {2}, 0, 2, 1}};
    scratch_path(path, sizeof path, "bad.safetensors");

    unsigned char garbage[300];
    mn_rng r;
    mn_rng_seed(&r, 1);
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (unsigned char)mn_rng_next(&r);
    write_bytes(path, garbage, sizeof garbage);
    expect_refused(path, model, 3, MN_F32, MN_ERR_FORMAT, NULL);

    /* A plausible length but text that is not JSON. */
    unsigned char text[64] = {40, 0, 0, 0, 0, 0, 0, 0};
    memset(text + 8, 'x', sizeof text - 8);
    write_bytes(path, text, sizeof text);
    expect_refused(path, model, 3, MN_F32, MN_ERR_FORMAT, "header:");

    /* The header itself well formed, then each way of breaking it. */
    const char *good = "{\"__metadata__\":{\"format\":\"mnc\",\"n\":[1,-2.5e3,true,null,{}]},"
                       " \"a\\u0062\" : {\"shape\":[2],\"dtype\":\"F32\",\"data_offsets\":[0,8]} }  ";
    float loaded[2] = {1, 1};
    char err[256] = "";
    write_with_header(path, good, 8);
    CU_ASSERT_EQUAL(mn_load_safetensors(path, one, 1, loaded, MN_F32, err, sizeof err), MN_OK);
    CU_ASSERT(loaded[0] == 0.0f && loaded[1] == 0.0f);

    static const struct {
        const char *header;
        size_t data_len;
    } broken[] = {
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8},    /* no } */
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}x", 8},  /* trailing */
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8},  /* comma */
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8},                         /* no offsets */
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8},
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4},   /* size */
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12}, /* gap */
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8},
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8},
        {"{\"ab\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
        {"{\"a\\q\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16},  /* twice */
        {"{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"cd\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8},    /* overlap */
        {"", 0},
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        write_with_header(path, broken[i].header, broken[i].data_len);
        expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, NULL);
    }

    /* __metadata__ nested deeper than any real file (and than the parser's
     * recursion limit): refused, not a stack overflow. */
    char deep[1200];
    size_t at = (size_t)snprintf(deep, sizeof deep, "{\"__metadata__\":{\"x\":");
    for (int i = 0; i < 500; i++)
        deep[at++] = '[';
    for (int i = 0; i < 500; i++)
        deep[at++] = ']';
    snprintf(deep + at, sizeof deep - at, "}}");
    write_with_header(path, deep, 0);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, "nested too deeply");

    /* A header length far beyond the file. */
    unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x7f, '{', '}'};
    write_bytes(path, huge, sizeof huge);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, NULL);

    /* A dtype safetensors knows but this model does not use. */
    write_with_header(path, "{\"ab\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4);
    expect_refused(path, one, 1, MN_F32, MN_ERR_MISMATCH, "dtype BF16 in the file");

    scratch_path(path, sizeof path, "does-not-exist.safetensors");
    expect_refused(path, one, 1, MN_F32, MN_ERR_IO, "does-not-exist");
}

/* Writes a file whose 8-byte length field says length, followed by the
 * len bytes of rest. */
static void write_with_length(const char *path, uint64_t length, const char *rest, size_t len)
{
    unsigned char bytes[256];
    CU_ASSERT_FATAL(8 + len <= sizeof bytes);
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(length >> (8 * i));
    memcpy(bytes + 8, rest, len);
    write_bytes(path, bytes, 8 + len);
}

/* The header limit, MN_SAFETENSORS_MAX_HEADER (100,000,000 bytes, the
 * reference implementation's): a length over it is refused with a message
 * that names the limit, before anything is allocated or compared with the
 * file's size; a length at the limit passes that check and is then beyond
 * this small file. The weights are untouched either way. */
static void test_header_limit(void)
{
    char path[512], reason[128];
    const char rest[] = "{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const mn_tensor_info one[1] = {{"ab", 1, {2}, 0, 2, 1}};
    scratch_path(path, sizeof path, "limit.safetensors");
    CU_ASSERT_EQUAL(MN_SAFETENSORS_MAX_HEADER, 100000000u);

    snprintf(reason, sizeof reason, "header length %u is beyond the limit of %u bytes",
             MN_SAFETENSORS_MAX_HEADER + 1, MN_SAFETENSORS_MAX_HEADER);
    write_with_length(path, (uint64_t)MN_SAFETENSORS_MAX_HEADER + 1, rest, sizeof rest - 1);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, reason);

    /* The largest length: 8 + length would overflow 64 bits. */
    write_with_length(path, UINT64_MAX, rest, sizeof rest - 1);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT,
                   "header length 18446744073709551615 is beyond the limit of 100000000 bytes");

    snprintf(reason, sizeof reason, "the header length says %u bytes of header",
             MN_SAFETENSORS_MAX_HEADER);
    write_with_length(path, MN_SAFETENSORS_MAX_HEADER, rest, sizeof rest - 1);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, reason);
}

/* A file far larger than its header describes is refused from its header
 * and its size alone: the loader never reads (nor allocates) the rest. The
 * file is sparse, 1 TiB; the old loader tried to read all of it. */
static void test_huge_file_not_read(void)
{
    char path[512], reason[128];
    size_t len = 0;
    save_model_f32(path, sizeof path, "huge.safetensors");
    unsigned char *bytes = read_bytes(path, &len);
    CU_ASSERT_FATAL(bytes != NULL);
    free(bytes);
    const off_t huge = (off_t)1 << 40;
    if (truncate(path, huge) != 0) {
        printf("\n    (skipped: this file system cannot hold a sparse 1 TiB file)\n");
        return;
    }
    snprintf(reason, sizeof reason, "file is %lld bytes, the header describes %zu",
             (long long)huge, len);
    expect_refused(path, model, 3, MN_F32, MN_ERR_FORMAT, reason);
    unlink(path);
}

/* Sizes in the header that overflow or contradict each other. */
static void test_hostile_sizes(void)
{
    char path[512];
    const mn_tensor_info one[1] = {{"ab", 1, {2}, 0, 2, 1}};
    scratch_path(path, sizeof path, "sizes.safetensors");

    /* A zero dimension empties the tensor however large the others are:
     * well formed (0 bytes at [0, 0]), then the wrong shape for the model. */
    write_with_header(path, "{\"ab\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],"
                            "\"data_offsets\":[0,0]}}", 0);
    expect_refused(path, one, 1, MN_F32, MN_ERR_MISMATCH,
                   "tensor 'ab': shape [4294967296, 4294967296, 0] in the file, [2] expected");

    /* Elements times the element size beyond 64 bits, with or without the
     * product of the dimensions overflowing first. */
    write_with_header(path, "{\"ab\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
                            "\"data_offsets\":[0,8]}}", 8);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, "its shape holds more than 2^64 bytes");
    write_with_header(path, "{\"ab\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],"
                            "\"data_offsets\":[0,8]}}", 8);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, "its shape holds more than 2^64 bytes");

    /* Offsets that end before they begin, and offsets far beyond the file. */
    write_with_header(path, "{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT,
                   "data_offsets [8, 0] end before they begin");
    write_with_header(path, "{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],"
                            "\"data_offsets\":[18446744073709551607,18446744073709551615]}}", 8);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, "its data begins at byte");
    write_with_header(path, "{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],"
                            "\"data_offsets\":[0,18446744073709551616]}}", 8);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, "integer too large");
}

/* Names from the file reach messages escaped, cut and as valid UTF-8; the
 * header must be UTF-8 (as JSON must). */
static void test_hostile_names(void)
{
    char path[512];
    scratch_path(path, sizeof path, "names.safetensors");
    const mn_tensor_info two[2] = {
        {"dense.kernel", 2, {3, 4}, 0, 12, 1},
        {"dense.bias", 1, {4}, 12, 4, 1},
    };

    /* A NUL (or another control character) in a name neither ends the
     * message early (naming, wrongly, a tensor the model has) nor breaks
     * its line. */
    write_with_header(path, "{\"dense.kernel\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]},"
                            "\"dense.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[48,64]},"
                            "\"dense.bias\\u0000x\":{\"dtype\":\"F32\",\"shape\":[],"
                            "\"data_offsets\":[64,68]}}", 68);
    expect_refused(path, two, 2, MN_F32, MN_ERR_MISMATCH,
                   "tensor 'dense.bias\\u0000x' in the file is not a weight of this model");
    write_with_header(path, "{\"dense.kernel\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]},"
                            "\"dense.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[48,64]},"
                            "\"a\\nb\\u001f\":{\"dtype\":\"F32\",\"shape\":[],"
                            "\"data_offsets\":[64,68]}}", 68);
    expect_refused(path, two, 2, MN_F32, MN_ERR_MISMATCH, "tensor 'a\\u000ab\\u001f' in the file");

    /* A long name is cut after 64 bytes, at a character boundary: here
     * byte 64 is inside the two-byte e-acute, which goes whole. */
    write_with_header(path, "{\"dense.kernel\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]},"
                            "\"dense.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[48,64]},"
                            "\"0123456789012345678901234567890123456789012345678901234567890xy"
                            "\xc3\xa9tail\":{\"dtype\":\"F32\",\"shape\":[],"
                            "\"data_offsets\":[64,68]}}", 68);
    expect_refused(path, two, 2, MN_F32, MN_ERR_MISMATCH,
                   "tensor '0123456789012345678901234567890123456789012345678901234567890xy...' "
                   "in the file");

    /* Bytes that are not UTF-8 anywhere in the header: a stray
     * continuation, an overlong form, a surrogate, beyond U+10FFFF, a
     * sequence cut by the end of the header. */
    static const char *const not_utf8[] = {
        "{\"a\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"x\":\"\xc0\xaf\"}}",
        "{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"x\":\"\xed\xa0\x80\"}}",
        "{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"x\":\"\xf4\x90\x80\x80\"}}",
        "{\"ab\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}\xe2\x82",
    };
    const mn_tensor_info one[1] = {{"ab", 1, {2}, 0, 2, 1}};
    for (size_t i = 0; i < sizeof not_utf8 / sizeof not_utf8[0]; i++) {
        write_with_header(path, not_utf8[i], 8);
        expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, "header: invalid UTF-8 at byte");
    }

    /* UTF-8 names load, raw or escaped, and an unknown dtype is named. */
    const mn_tensor_info cafe[1] = {{"caf\xc3\xa9", 1, {2}, 0, 2, 1}};
    float loaded[2] = {1, 1};
    char err[256] = "";
    write_with_header(path, "{\"caf\xc3\xa9\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    CU_ASSERT_EQUAL(mn_load_safetensors(path, cafe, 1, loaded, MN_F32, err, sizeof err), MN_OK);
    write_with_header(path, "{\"caf\\u00e9\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    CU_ASSERT_EQUAL(mn_load_safetensors(path, cafe, 1, loaded, MN_F32, err, sizeof err), MN_OK);
    write_with_header(path, "{\"ab\":{\"dtype\":\"F\\u00003\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_refused(path, one, 1, MN_F32, MN_ERR_FORMAT, "unknown dtype \"F\\u00003\"");
}

/* A message cut short by the caller's buffer never ends in half a
 * character. */
static void test_message_cut_at_character(void)
{
    char err[8];
    memset(err, 'x', sizeof err);
    mn_fail_(MN_ERR_FORMAT, err, sizeof err, "abcdef%s", "\xc3\xa9");
    CU_ASSERT_STRING_EQUAL(err, "abcdef");
    mn_fail_(MN_ERR_FORMAT, err, sizeof err, "abcd%s", "\xe2\x82\xac!");
    CU_ASSERT_STRING_EQUAL(err, "abcd\xe2\x82\xac");
    mn_fail_(MN_ERR_FORMAT, err, sizeof err, "abcde%s", "\xe2\x82\xac");
    CU_ASSERT_STRING_EQUAL(err, "abcde");
}

/* Lists how many entries of scratch_dir contain ".tmp." (leftovers). */
static int count_temporary_files(void)
{
    DIR *dir = opendir(scratch_dir);
    CU_ASSERT_FATAL(dir != NULL);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        count += strstr(entry->d_name, ".tmp.") != NULL;
    closedir(dir);
    return count;
}

/* Saving is atomic: into a missing directory it fails with MN_ERR_IO;
 * over an existing file it replaces the whole file; a failed rename leaves
 * no temporary file behind. */
static void test_atomic_save(void)
{
    char path[512], err[256] = "";
    float w[MODEL_ELEMENTS];
    fill_model_f32(w);

    scratch_path(path, sizeof path, "no-such-dir/model.safetensors");
    CU_ASSERT_EQUAL(mn_save_safetensors(path, model, 3, w, MN_F32, err, sizeof err), MN_ERR_IO);
    CU_ASSERT(err[0] != '\0');
    CU_ASSERT(access(path, F_OK) != 0);

    /* A longer file in the way is replaced by exactly the new bytes. */
    char reference[512];
    size_t reference_len = 0, len = 0;
    save_model_f32(reference, sizeof reference, "reference.safetensors");
    unsigned char *expected = read_bytes(reference, &reference_len);
    static unsigned char old_contents[20000];
    memset(old_contents, 'x', sizeof old_contents);
    scratch_path(path, sizeof path, "replace.safetensors");
    write_bytes(path, old_contents, sizeof old_contents);
    CU_ASSERT_EQUAL(mn_save_safetensors(path, model, 3, w, MN_F32, err, sizeof err), MN_OK);
    unsigned char *now = read_bytes(path, &len);
    CU_ASSERT_FATAL(expected != NULL && now != NULL);
    CU_ASSERT_EQUAL(len, reference_len);
    CU_ASSERT(len == reference_len && memcmp(now, expected, len) == 0);
    free(now);
    free(expected);

    /* The destination is a directory: the rename fails, the directory stays
     * and the temporary file is removed. */
    scratch_path(path, sizeof path, "a-directory");
    CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
    CU_ASSERT_EQUAL(mn_save_safetensors(path, model, 3, w, MN_F32, err, sizeof err), MN_ERR_IO);
    struct stat st;
    CU_ASSERT(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    CU_ASSERT_EQUAL(count_temporary_files(), 0);
    rmdir(path);
}

/* Bad arguments are MN_ERR_ARG, and mn_strerror has a phrase per code. */
static void test_arguments_and_strerror(void)
{
    char path[512], err[256] = "";
    float w[MODEL_ELEMENTS] = {0};
    scratch_path(path, sizeof path, "args.safetensors");
    CU_ASSERT_EQUAL(mn_save_safetensors(NULL, model, 3, w, MN_F32, err, sizeof err), MN_ERR_ARG);
    CU_ASSERT_EQUAL(mn_load_safetensors(NULL, model, 3, w, MN_F32, err, sizeof err), MN_ERR_ARG);
    const mn_tensor_info wrong_count[1] = {{"x", 2, {3, 4}, 0, 11, 1}};
    CU_ASSERT_EQUAL(mn_save_safetensors(path, wrong_count, 1, w, MN_F32, err, sizeof err),
                    MN_ERR_ARG);
    const mn_tensor_info twice[2] = {{"x", 1, {2}, 0, 2, 1}, {"x", 1, {2}, 2, 2, 1}};
    CU_ASSERT_EQUAL(mn_save_safetensors(path, twice, 2, w, MN_F32, err, sizeof err), MN_ERR_ARG);
    CU_ASSERT_EQUAL(mn_save_safetensors(path, model, 3, w, (mn_dtype)7, err, sizeof err),
                    MN_ERR_ARG);
    CU_ASSERT(access(path, F_OK) != 0);
    /* err may be NULL. */
    CU_ASSERT_EQUAL(mn_save_safetensors(NULL, model, 3, w, MN_F32, NULL, 0), MN_ERR_ARG);

    const int codes[] = {MN_OK, MN_ERR_IO, MN_ERR_FORMAT, MN_ERR_MISMATCH, MN_ERR_NOMEM,
                         MN_ERR_ARG};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CU_ASSERT(mn_strerror(codes[i]) != NULL && mn_strerror(codes[i])[0] != '\0');
        for (size_t j = 0; j < i; j++)
            CU_ASSERT(strcmp(mn_strerror(codes[i]), mn_strerror(codes[j])) != 0);
    }
    CU_ASSERT(mn_strerror(12345) != NULL);
}

/* ---- vectorisable math (mn_math.h) --------------------------------------- */

/* The error of got against the double-precision reference, in units of the
 * last place of the float nearest ref (2^-149 in the subnormal range).  A
 * reference that rounds to +-inf in float wants +-inf (FLT_MAX is accepted
 * right at the boundary); a NaN reference wants a NaN; a NaN or an infinity
 * anywhere else is an error of 1e30. */
static double ulp_error(float got, double ref)
{
    if (isnan(ref))
        return isnan(got) ? 0.0 : 1e30;
    if (isnan(got))
        return 1e30;
    float ref_f = (float)ref;
    if (isinf(ref_f))
        return got == ref_f || got == copysignf(FLT_MAX, ref_f) ? 0.0 : 1e30;
    if ((double)got == ref)
        return 0.0;
    if (isinf(got))
        return 1e30;
    int e;
    frexp(ref, &e);
    double ulp = fabs(ref) < FLT_MIN ? ldexp(1.0, -149) : ldexp(1.0, e - 24);
    return fabs((double)got - ref) / ulp;
}

static double ref_exp(double x)
{
    return exp(x);
}

static double ref_sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double ref_tanh(double x)
{
    return tanh(x);
}

/* The functions over a block, as the generated code calls them: these loops
 * are the ones gcc and clang vectorise at -O2, so the sweeps below test the
 * vector code. */
enum { MATH_BLOCK = 1024 };

static void exp_block(float *restrict y, const float *restrict x)
{
    for (int i = 0; i < MATH_BLOCK; i++)
        y[i] = mn_exp_f(x[i]);
}

static void sigmoid_block(float *restrict y, const float *restrict x)
{
    for (int i = 0; i < MATH_BLOCK; i++)
        y[i] = mn_sigmoid_f(x[i]);
}

static void tanh_block(float *restrict y, const float *restrict x)
{
    for (int i = 0; i < MATH_BLOCK; i++)
        y[i] = mn_tanh_f(x[i]);
}

typedef struct {
    void (*block)(float *restrict, const float *restrict);
    double (*ref)(double);
    double max_error;   /* over the points with ref >= min_ref */
    float worst_x;
    double min_ref;     /* below it, the error is not counted */
    long nan_for_non_nan;
    int odd;            /* check f(-x) == -f(x) bit for bit as well */
    long not_odd;
} math_sweep;

/* Runs n points (the rest of the block is zeros) through the function and
 * records the worst error. */
static void sweep_block(math_sweep *s, float *x, int n)
{
    static float y[MATH_BLOCK], y_neg[MATH_BLOCK], x_neg[MATH_BLOCK];
    for (int i = n; i < MATH_BLOCK; i++)
        x[i] = 0.0f;
    s->block(y, x);
    if (s->odd) {
        for (int i = 0; i < MATH_BLOCK; i++)
            x_neg[i] = -x[i];
        s->block(y_neg, x_neg);
    }
    for (int i = 0; i < n; i++) {
        s->nan_for_non_nan += isnan(y[i]) && !isnan(x[i]);
        if (s->odd) {
            float minus = -y_neg[i];
            s->not_odd += memcmp(&y[i], &minus, sizeof minus) != 0 && !isnan(x[i]);
        }
        double ref = s->ref(x[i]);
        if (isnan(x[i]) || fabs(ref) < s->min_ref)
            continue;
        double err = ulp_error(y[i], ref);
        if (err > s->max_error) {
            s->max_error = err;
            s->worst_x = x[i];
        }
    }
}

/* Every 997th float bit pattern (all signs, exponents, NaNs and
 * infinities), then n_even points evenly spaced over [lo, hi]. */
static void sweep(math_sweep *s, int n_even, double lo, double hi)
{
    static float x[MATH_BLOCK];
    int n = 0;
    for (uint64_t bits = 0; bits <= UINT32_MAX; bits += 997) {
        uint32_t u = (uint32_t)bits;
        memcpy(&x[n], &u, sizeof u);
        if (++n == MATH_BLOCK) {
            sweep_block(s, x, n);
            n = 0;
        }
    }
    for (int i = 0; i < n_even; i++) {
        x[n] = (float)(lo + (hi - lo) * i / (n_even - 1));
        if (++n == MATH_BLOCK) {
            sweep_block(s, x, n);
            n = 0;
        }
    }
    sweep_block(s, x, n);
}

/* Reports the worst point when a bound is exceeded. */
static void check_sweep(const char *name, const math_sweep *s, double bound)
{
    if (s->max_error > bound)
        fprintf(stderr, "\n%s: %.3f ulp at x = %a (%.9g), bound %.1f\n", name, s->max_error,
                (double)s->worst_x, (double)s->worst_x, bound);
    CU_ASSERT(s->max_error <= bound);
    CU_ASSERT_EQUAL(s->nan_for_non_nan, 0);
    CU_ASSERT_EQUAL(s->not_odd, 0);
}

/* True when a and b are the same float bit for bit (NaNs: both NaN). */
static int same_float(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

/* mn_exp_f: within 2 ulp of exp wherever the result is a normal float
 * ([-87.3, 88.7] and a little more; measured 0.99), correctly scaled
 * through gradual underflow (within 1 subnormal ulp), +inf from
 * ln(FLT_MAX) up, exactly 0 far below, NaN for NaN only. */
static void test_exp_accuracy(void)
{
    math_sweep normal = {exp_block, ref_exp, 0, 0, FLT_MIN, 0, 0, 0};
    sweep(&normal, 1000000, -87.3, 88.7);
    check_sweep("mn_exp_f", &normal, 2.0);

    /* The subnormal results: [-104, -87.3] evenly, absolute error in units
     * of 2^-149. */
    math_sweep subnormal = {exp_block, ref_exp, 0, 0, 0.0, 0, 0, 0};
    static float x[MATH_BLOCK];
    for (int k = 0; k < 100; k++) {
        for (int i = 0; i < MATH_BLOCK; i++)
            x[i] = (float)(-104.0 + 16.7 * (k * MATH_BLOCK + i) / (100.0 * MATH_BLOCK));
        sweep_block(&subnormal, x, MATH_BLOCK);
    }
    check_sweep("mn_exp_f (gradual underflow)", &subnormal, 1.0);
}

static void test_exp_special_values(void)
{
    CU_ASSERT(mn_exp_f(0.0f) == 1.0f);
    CU_ASSERT(mn_exp_f(-0.0f) == 1.0f);
    CU_ASSERT(mn_exp_f(1e-30f) == 1.0f);
    CU_ASSERT(mn_exp_f(-1e-30f) == 1.0f);
    CU_ASSERT(mn_exp_f(1e-8f) == 1.0f);
    CU_ASSERT(mn_exp_f(-1e-8f) == 1.0f);
    CU_ASSERT(same_float(mn_exp_f(INFINITY), INFINITY));
    CU_ASSERT(same_float(mn_exp_f(-INFINITY), 0.0f));
    CU_ASSERT(isnan(mn_exp_f(NAN)));
    CU_ASSERT(isnan(mn_exp_f(-NAN)));
    CU_ASSERT(same_float(mn_exp_f(88.73f), INFINITY));
    CU_ASSERT(same_float(mn_exp_f(89.0f), INFINITY));
    CU_ASSERT(same_float(mn_exp_f(1e30f), INFINITY));
    CU_ASSERT(same_float(mn_exp_f(FLT_MAX), INFINITY));
    CU_ASSERT(same_float(mn_exp_f(-104.0f), 0.0f));
    CU_ASSERT(same_float(mn_exp_f(-1e30f), 0.0f));
    CU_ASSERT(same_float(mn_exp_f(-FLT_MAX), 0.0f));
    /* Near FLT_MAX, at the ends of the normal range, and at 1. */
    const float at[] = {88.7f, 88.72283f, -88.7f, -87.3f, 1.0f};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        CU_ASSERT(ulp_error(mn_exp_f(at[i]), exp(at[i])) <= 2.0);
    CU_ASSERT(mn_exp_f(-103.0f) > 0.0f);   /* 2^-148.6: a subnormal, not 0 */
}

/* mn_sigmoid_f: within 4 ulp of 1 / (1 + exp(-x)) where that is >= 1e-30
 * (measured 2.4), and within 4 ulp (subnormal ulps included) everywhere. */
static void test_sigmoid_accuracy(void)
{
    math_sweep large = {sigmoid_block, ref_sigmoid, 0, 0, 1e-30, 0, 0, 0};
    sweep(&large, 1000000, -70.0, 20.0);
    check_sweep("mn_sigmoid_f", &large, 4.0);

    math_sweep all = {sigmoid_block, ref_sigmoid, 0, 0, 0.0, 0, 0, 0};
    sweep(&all, 100000, -110.0, 0.0);
    check_sweep("mn_sigmoid_f (small results)", &all, 4.0);
}

static void test_sigmoid_special_values(void)
{
    CU_ASSERT(mn_sigmoid_f(0.0f) == 0.5f);
    CU_ASSERT(mn_sigmoid_f(-0.0f) == 0.5f);
    CU_ASSERT(mn_sigmoid_f(1e-30f) == 0.5f);
    CU_ASSERT(mn_sigmoid_f(-1e-30f) == 0.5f);
    CU_ASSERT(mn_sigmoid_f(1e-8f) == 0.5f);
    CU_ASSERT(mn_sigmoid_f(-1e-8f) == 0.5f);
    CU_ASSERT(mn_sigmoid_f(INFINITY) == 1.0f);
    CU_ASSERT(same_float(mn_sigmoid_f(-INFINITY), 0.0f));
    CU_ASSERT(isnan(mn_sigmoid_f(NAN)));
    CU_ASSERT(isnan(mn_sigmoid_f(-NAN)));
    CU_ASSERT(mn_sigmoid_f(88.7f) == 1.0f);
    CU_ASSERT(mn_sigmoid_f(200.0f) == 1.0f);
    CU_ASSERT(mn_sigmoid_f(FLT_MAX) == 1.0f);
    CU_ASSERT(ulp_error(mn_sigmoid_f(-88.7f), ref_sigmoid(-88.7f)) <= 4.0);
    CU_ASSERT(mn_sigmoid_f(-100.0f) > 0.0f);   /* 3.7e-44, subnormal */
    CU_ASSERT(same_float(mn_sigmoid_f(-200.0f), 0.0f));
    CU_ASSERT(same_float(mn_sigmoid_f(-FLT_MAX), 0.0f));
    CU_ASSERT(ulp_error(mn_sigmoid_f(1.0f), ref_sigmoid(1.0f)) <= 4.0);
    CU_ASSERT(ulp_error(mn_sigmoid_f(-1.0f), ref_sigmoid(-1.0f)) <= 4.0);
}

/* mn_tanh_f: odd bit for bit, within 4 ulp of tanh over the whole float
 * range (measured 1.3, at the switch from the polynomial, |x| = 0.625). */
static void test_tanh_accuracy(void)
{
    math_sweep all = {tanh_block, ref_tanh, 0, 0, 0.0, 0, 1, 0};
    sweep(&all, 1000000, -10.0, 10.0);
    check_sweep("mn_tanh_f", &all, 4.0);
}

static void test_tanh_special_values(void)
{
    CU_ASSERT(same_float(mn_tanh_f(0.0f), 0.0f));
    CU_ASSERT(same_float(mn_tanh_f(-0.0f), -0.0f));
    CU_ASSERT(mn_tanh_f(1e-30f) == 1e-30f);
    CU_ASSERT(mn_tanh_f(-1e-30f) == -1e-30f);
    CU_ASSERT(mn_tanh_f(1e-8f) == 1e-8f);
    CU_ASSERT(mn_tanh_f(-1e-8f) == -1e-8f);
    CU_ASSERT(mn_tanh_f(0x1p-149f) == 0x1p-149f);
    CU_ASSERT(mn_tanh_f(INFINITY) == 1.0f);
    CU_ASSERT(mn_tanh_f(-INFINITY) == -1.0f);
    CU_ASSERT(isnan(mn_tanh_f(NAN)));
    CU_ASSERT(isnan(mn_tanh_f(-NAN)));
    CU_ASSERT(mn_tanh_f(88.7f) == 1.0f);
    CU_ASSERT(mn_tanh_f(-88.7f) == -1.0f);
    CU_ASSERT(mn_tanh_f(10.0f) == 1.0f);
    CU_ASSERT(mn_tanh_f(FLT_MAX) == 1.0f);
    CU_ASSERT(mn_tanh_f(-FLT_MAX) == -1.0f);
    /* Either side of the switch at 0.625. */
    const float around[] = {0.62499994f, 0.625f, 0.62500006f, 0.5f, 1.0f};
    for (size_t i = 0; i < sizeof around / sizeof around[0]; i++) {
        CU_ASSERT(ulp_error(mn_tanh_f(around[i]), tanh(around[i])) <= 4.0);
        CU_ASSERT(ulp_error(mn_tanh_f(-around[i]), tanh(-around[i])) <= 4.0);
    }
}

/* ---- matrix products --------------------------------------------------------------------------- */

/* Whether mn_gemm_f32 should be using the AVX-512 kernel here. */
static int kernel_expected(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const char *v = getenv("MNRT_GEMM");
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && !(v && strcmp(v, "blas") == 0);
#else
    return 0;
#endif
}

static float rand_pm1(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

/* One product C = alpha op(A) op(B) + beta C through mn_gemm_f32 against a
 * double-precision triple loop. The leading dimensions are 3 wider than
 * needed; the gap columns of C hold a sentinel that must survive. beta == 0
 * starts C as NaN: the product must not read it. Returns the worst error
 * divided by the bound K * 2^-22 * sum |a b| (+ |beta c|). */
static double check_product(int ta, int tb, int M, int N, int K, float alpha, float beta)
{
    int rows_a = ta == CblasNoTrans ? M : K, cols_a = ta == CblasNoTrans ? K : M;
    int rows_b = tb == CblasNoTrans ? K : N, cols_b = tb == CblasNoTrans ? N : K;
    int lda = cols_a + 3, ldb = cols_b + 3, ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)rows_a * lda + 4);
    float *B = malloc(sizeof(float) * (size_t)rows_b * ldb + 4);
    float *C = malloc(sizeof(float) * (size_t)M * ldc + 4);
    float *C0 = malloc(sizeof(float) * (size_t)M * ldc + 4);
    uint64_t seed = (uint64_t)M * 1000003u + (uint64_t)N * 1009u + (uint64_t)K;
    for (size_t i = 0; i < (size_t)rows_a * lda; i++) A[i] = rand_pm1(&seed);
    for (size_t i = 0; i < (size_t)rows_b * ldb; i++) B[i] = rand_pm1(&seed);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++)
            C[(size_t)i * ldc + j] = j >= N ? 12345.0f : beta == 0 ? NAN : rand_pm1(&seed);
    memcpy(C0, C, sizeof(float) * (size_t)M * ldc);
    mn_gemm_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double worst = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < ldc; j++) {
            float got = C[(size_t)i * ldc + j];
            if (j >= N) {
                if (got != 12345.0f) worst = INFINITY; /* a store past the row */
                continue;
            }
            double sum = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double a = ta == CblasNoTrans ? A[(size_t)i * lda + k] : A[(size_t)k * lda + i];
                double b = tb == CblasNoTrans ? B[(size_t)k * ldb + j] : B[(size_t)j * ldb + k];
                sum += a * b;
                mag += fabs(a * b);
            }
            double want = alpha * sum, c0 = C0[(size_t)i * ldc + j];
            mag = fabs(alpha) * mag;
            if (beta != 0) {
                want += beta * c0;
                mag += fabs(beta * c0);
            }
            double err = fabs(got - want) / ((K + 2) * ldexp(1.0, -22) * (mag + 1e-30));
            if (!(err <= worst)) worst = isnan(err) ? INFINITY : err;
        }
    }
    free(A), free(B), free(C), free(C0);
    return worst;
}

/* Shapes on both sides of the kernels' blocks (MR 8, NR 32, KC 256, MC 384,
 * NC 1024), of one panel of columns (A read in place), and of 16 columns
 * (the narrow kernel). */
static const int product_shapes[][3] = {
    {1, 24, 1}, {7, 33, 5}, {8, 32, 256}, {9, 64, 257}, {17, 31, 40}, {3, 10, 70},
    {385, 50, 300}, {170, 97, 520}, {9, 1057, 30}, {1, 1, 1}, {50, 10, 300}, {400, 7, 20}, {24, 1, 3},
};

static void check_all_products(void)
{
    static const float alphas[] = {1.0f, -0.5f}, betas[] = {0.0f, 1.0f, 0.25f};
    for (size_t s = 0; s < sizeof product_shapes / sizeof product_shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 3; b++) {
                        const int *d = product_shapes[s];
                        double e = check_product(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, d[0],
                                                 d[1], d[2], alphas[a], betas[b]);
                        if (!(e <= 1.0))
                            fprintf(stderr, "\n  %dx%dx%d ta=%d tb=%d alpha=%g beta=%g: error %g of bound\n", d[0],
                                    d[1], d[2], ta, tb, alphas[a], betas[b], e);
                        CU_ASSERT(e <= 1.0);
                    }
}

static void test_products_one_thread(void)
{
    CU_ASSERT_EQUAL(mn_set_threads(1), MN_OK);
    check_all_products();
}

static void test_products_two_threads(void)
{
    CU_ASSERT_EQUAL(mn_set_threads(2), MN_OK);
    check_all_products();
    CU_ASSERT_EQUAL(mn_set_threads(1), MN_OK);
}

/* The kernel takes every product (wide, and narrow: at most 16 columns) on
 * a processor with AVX-512 and declines them all elsewhere; alpha = 0 is
 * left to OpenBLAS everywhere. */
static void test_kernel_engaged(void)
{
    static _Alignas(64) float ws[MN_SGEMM_WS];
    float A[64 * 4], B[4 * 64], C[64 * 64];
    for (int i = 0; i < 256; i++) A[i] = B[i] = (float)(i % 7) - 3.0f;
    int expect = kernel_expected();
    CU_ASSERT_EQUAL(mn_sgemm_avx512_(CblasNoTrans, CblasNoTrans, 64, 64, 4, 1.0f, A, 4, B, 64, 0.0f, C, 64, ws), expect);
    if (expect) CU_ASSERT_EQUAL(C[0], A[0] * B[0] + A[1] * B[64] + A[2] * B[128] + A[3] * B[192]);
    CU_ASSERT_EQUAL(mn_sgemm_avx512_(CblasNoTrans, CblasNoTrans, 64, 10, 4, 1.0f, A, 4, B, 10, 0.0f, C, 10, ws), expect);
    if (expect) CU_ASSERT_EQUAL(C[10 * 63 + 9], A[252] * B[9] + A[253] * B[19] + A[254] * B[29] + A[255] * B[39]);
    CU_ASSERT_EQUAL(mn_sgemm_avx512_(CblasNoTrans, CblasNoTrans, 8, 8, 4, 0.0f, A, 4, B, 8, 0.0f, C, 8, ws), 0);
}

/* Two threads of the caller's issue products at once: each gets the right
 * answer (the static workspace is taken by one, the other uses OpenBLAS). */
static void *concurrent_products(void *arg)
{
    double *worst = arg;
    for (int r = 0; r < 20; r++) {
        double e = check_product(CblasNoTrans, CblasTrans, 40 + r, 48, 64, 1.0f, 0.0f);
        if (e > *worst) *worst = e;
    }
    return NULL;
}

static void test_products_from_two_callers(void)
{
    pthread_t t;
    double worst_main = 0, worst_other = 0;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, concurrent_products, &worst_other), 0);
    concurrent_products(&worst_main);
    pthread_join(t, NULL);
    CU_ASSERT(worst_main <= 1.0);
    CU_ASSERT(worst_other <= 1.0);
}

/* Removes every file in scratch_dir, then the directory. */
static void remove_scratch_dir(void)
{
    DIR *dir = opendir(scratch_dir);
    if (dir == NULL)
        return;
    struct dirent *entry;
    char path[512];
    while ((entry = readdir(dir)) != NULL)
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            unlink(scratch_path(path, sizeof path, entry->d_name));
    closedir(dir);
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
    CU_pSuite rng = CU_add_suite("rng", NULL, NULL);
    CU_pSuite init = CU_add_suite("init", NULL, NULL);
    CU_pSuite st = CU_add_suite("safetensors", NULL, NULL);
    CU_pSuite math = CU_add_suite("math", NULL, NULL);
    CU_pSuite gemm = CU_add_suite("gemm", NULL, NULL);
    if (rng == NULL || init == NULL || st == NULL || math == NULL || gemm == NULL)
        return 2;
    CU_add_test(rng, "xoshiro256** published vector", test_xoshiro_published_vector);
    CU_add_test(rng, "seeding is splitmix64", test_seed_is_splitmix64);
    CU_add_test(rng, "seed 42 known answers", test_seed_42_known_answers);
    CU_add_test(rng, "uniform in [0,1)", test_uniform_range);
    CU_add_test(rng, "normal moments", test_normal_moments);
    CU_add_test(rng, "below: range, uniformity, no modulo bias", test_below);
    CU_add_test(init, "fill", test_fill);
    CU_add_test(init, "glorot uniform", test_glorot);
    CU_add_test(init, "uniform and normal", test_uniform_and_normal_init);
    CU_add_test(st, "round trip f32", test_round_trip_f32);
    CU_add_test(st, "round trip f64 and scalar", test_round_trip_f64);
    CU_add_test(st, "round trip i32", test_round_trip_i32);
    CU_add_test(st, "deterministic bytes", test_deterministic_bytes);
    CU_add_test(st, "file layout", test_file_layout);
    CU_add_test(st, "truncated files", test_truncated_files);
    CU_add_test(st, "mismatches", test_mismatches);
    CU_add_test(st, "malformed files", test_malformed_files);
    CU_add_test(st, "header limit", test_header_limit);
    CU_add_test(st, "a huge file is not read", test_huge_file_not_read);
    CU_add_test(st, "hostile sizes", test_hostile_sizes);
    CU_add_test(st, "hostile names and UTF-8", test_hostile_names);
    CU_add_test(st, "messages cut at a character", test_message_cut_at_character);
    CU_add_test(st, "atomic save", test_atomic_save);
    CU_add_test(st, "arguments and strerror", test_arguments_and_strerror);
    CU_add_test(math, "exp accuracy", test_exp_accuracy);
    CU_add_test(math, "exp special values", test_exp_special_values);
    CU_add_test(math, "sigmoid accuracy", test_sigmoid_accuracy);
    CU_add_test(math, "sigmoid special values", test_sigmoid_special_values);
    CU_add_test(math, "tanh accuracy", test_tanh_accuracy);
    CU_add_test(math, "tanh special values", test_tanh_special_values);
    CU_add_test(gemm, "products on one thread match a double loop", test_products_one_thread);
    CU_add_test(gemm, "products on two threads match a double loop", test_products_two_threads);
    CU_add_test(gemm, "the AVX-512 kernel takes what it should", test_kernel_engaged);
    CU_add_test(gemm, "products from two callers at once", test_products_from_two_callers);

    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    remove_scratch_dir();
    return failures != 0;
}
