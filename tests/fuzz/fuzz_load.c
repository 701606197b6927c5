/* fuzz_load.c — libFuzzer harness for loading hostile safetensors files into
 * a generated model (examples/two_concat.mn, prefix m).
 *
 * For each input: write it to a temporary file, load it into a model whose
 * every byte is known, and check the loader's contract (docs/api.md, m_load):
 *   - refused: the whole model struct (weights, gradients, optimizer state,
 *     step, RNG, arena) is byte-identical to before, the code is
 *     MN_ERR_FORMAT or MN_ERR_MISMATCH, the same code comes back from
 *     mn_load_safetensors with a message buffer, and the message is one
 *     non-empty, terminated line without control characters;
 *   - accepted: nothing but params changed, the weights are the file's data
 *     (the file's data is the model's tensors laid end to end in some order),
 *     and saving them and loading that into a second instance gives the same
 *     bits.
 * Any violation aborts.
 *
 * Build (runtime/mn_*.c is every file of runtime/):
 *   ./mnc examples/two_concat.mn --prefix m -o build/fuzz/load/m.c
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined
 *         -fno-sanitize-recover=all -Iruntime -Ibuild/fuzz/load
 *         tests/fuzz/fuzz_load.c build/fuzz/load/m.c runtime/mn_*.c
 *         -lopenblas -lm -pthread -o build/fuzz/fuzz_load
 *
 * FUZZ_LOAD_WRITE_SEEDS=DIR ./build/fuzz/fuzz_load writes the seed corpus
 * (a file the model saved and variants of it, named for what they hold)
 * into DIR, prints each seed's load result and exits. tests/fuzz/corpus/load
 * holds those seeds and, as fuzz-*, a few fuzzer finds chosen for the
 * loader lines the seeds miss (parse errors mostly);
 * tests/fuzz/crashers/load the inputs that found a bug.
 */
#define _POSIX_C_SOURCE 200809L

#include "m.h"
#include "mn_runtime.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The model as every input finds it, the one loaded into, and the second
 * instance of the round trip. Static: each struct is tens of kilobytes. */
static m pristine, model, copy;
static char input_path[64], output_path[64];
static int input_fd = -1;

#define MODEL_BYTES ((size_t)M_NUM_PARAMS * sizeof(float))

static void die(const char *what)
{
    fprintf(stderr, "fuzz_load: %s\n", what);
    abort();
}

#define CHECK(cond, what) \
    do { \
        if (!(cond)) \
            die(what); \
    } while (0)

/* Fills the model with values that no load can write by chance into the
 * parts it must not touch: distinct nonzero weights, and a byte pattern in
 * the gradients, the optimizer state, the step, the RNG and the arena. */
static void make_pristine(void)
{
    m_init(&pristine, M_SEED);
    for (size_t i = 0; i < M_NUM_PARAMS; i++)
        if (pristine.params[i] == 0.0f)   /* biases start at zero */
            pristine.params[i] = (float)(i + 1) * (1.0f / 1024);
    memset(pristine.grads, 0x5a, sizeof pristine.grads);
    memset(pristine.opt_m, 0x6b, sizeof pristine.opt_m);
    memset(pristine.opt_v, 0x7c, sizeof pristine.opt_v);
    pristine.step = 12345;
    memset(pristine.arena, 0x3d, sizeof pristine.arena);
}

/* Replaces the contents of the input file with the size bytes of data. */
static void write_input(const uint8_t *data, size_t size)
{
    CHECK(ftruncate(input_fd, 0) == 0, "cannot truncate the input file");
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(input_fd, data + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n > 0, "cannot write the input file");
        done += (size_t)n;
    }
}

/* The message must be a terminated, non-empty line of printable text. */
static void check_message(const char *err, size_t len)
{
    const char *nul = memchr(err, '\0', len);
    CHECK(nul != NULL, "the error message is not terminated");
    CHECK(nul != err, "a refused load gave no message");
    for (const char *c = err; c < nul; c++)
        CHECK((unsigned char)*c >= 0x20 && *c != 0x7f,
              "the error message holds a control character (more than one line)");
    /* And it is UTF-8 (names from the file are printed as they are). */
    const unsigned char *u = (const unsigned char *)err, *end = (const unsigned char *)nul;
    while (u < end) {
        size_t more = *u < 0x80 ? 0 : *u >= 0xc2 && *u <= 0xdf ? 1
                    : *u >= 0xe0 && *u <= 0xef ? 2 : *u >= 0xf0 && *u <= 0xf4 ? 3 : 9;
        CHECK(more != 9 && (size_t)(end - u) > more, "the error message is not UTF-8");
        for (size_t k = 1; k <= more; k++)
            CHECK((u[k] & 0xc0) == 0x80, "the error message is not UTF-8");
        u += more + 1;
    }
}

/* ---- does the loaded model hold what the file says? --------------------- */

static const uint8_t *file_data;   /* the data section of the input */
static int order[M_NUM_TENSORS], used[M_NUM_TENSORS];

/* Whether the tensors, laid end to end in some order starting with the
 * depth-th place at byte `at` of the data, are the loaded weights. */
static int tiles_from(int depth, size_t at, const float *params)
{
    if (depth == M_NUM_TENSORS)
        return 1;
    for (int t = 0; t < M_NUM_TENSORS; t++) {
        if (used[t])
            continue;
        size_t nbytes = m_tensors[t].count * sizeof(float);
        if (memcmp(file_data + at, params + m_tensors[t].offset, nbytes) != 0)
            continue;
        used[t] = 1;
        order[depth] = t;
        int ok = tiles_from(depth + 1, at + nbytes, params);
        used[t] = 0;
        if (ok)
            return 1;
    }
    return 0;
}

/* A file the loader accepted is 8 + header + exactly the model's bytes, and
 * its data is the model's tensors end to end in some order (the loader
 * checked the offsets tile the data): the loaded weights must be a tiling
 * of it. This harness does not parse the JSON, so it is an independent
 * check. Little-endian hosts only (the file's data is little-endian). */
static void check_weights_are_the_files(const uint8_t *data, size_t size, const float *params)
{
    CHECK(size >= 8, "a file shorter than 8 bytes loaded");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = (header_len << 8) | data[i];
    CHECK(header_len <= size - 8, "a header longer than its file loaded");
    CHECK(size - 8 - header_len == MODEL_BYTES, "a file without exactly the model's bytes loaded");
    const uint32_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    if (first != 1)
        return;
    file_data = data + 8 + header_len;
    memset(used, 0, sizeof used);
    CHECK(tiles_from(0, 0, params), "the loaded weights are not the file's data");
}

/* ---- each input ----------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_input(data, size);
    memcpy(&model, &pristine, sizeof model);

    int rc = m_load(&model, input_path);
    if (rc != MN_OK) {
        CHECK(rc == MN_ERR_FORMAT || rc == MN_ERR_MISMATCH,
              "a refused load returned neither MN_ERR_FORMAT nor MN_ERR_MISMATCH");
        CHECK(memcmp(&model, &pristine, sizeof model) == 0, "a refused load changed the model");
        /* The same refusal, with its message. */
        char err[512];
        memset(err, 'X', sizeof err);
        int again = mn_load_safetensors(input_path, m_tensors, M_NUM_TENSORS, model.params,
                                        MN_F32, err, sizeof err);
        CHECK(again == rc, "m_load and mn_load_safetensors disagree");
        CHECK(memcmp(&model, &pristine, sizeof model) == 0, "a refused load changed the model");
        check_message(err, sizeof err);
        return 0;
    }

    CHECK(memcmp((const char *)&model + offsetof(m, grads),
                 (const char *)&pristine + offsetof(m, grads),
                 sizeof model - offsetof(m, grads)) == 0,
          "a load changed more than the weights");
    check_weights_are_the_files(data, size, model.params);

    /* A good load round-trips bit-exactly through save and load. */
    CHECK(m_save(&model, output_path) == MN_OK, "cannot save a loaded model");
    memcpy(&copy, &pristine, sizeof copy);
    memset(copy.params, 0xff, sizeof copy.params);   /* NaNs: every weight must be written */
    CHECK(m_load(&copy, output_path) == MN_OK, "cannot load what was saved");
    CHECK(memcmp(copy.params, model.params, sizeof model.params) == 0,
          "the saved and reloaded weights differ from the loaded ones");
    CHECK(memcmp((const char *)&copy + offsetof(m, grads),
                 (const char *)&pristine + offsetof(m, grads),
                 sizeof copy - offsetof(m, grads)) == 0,
          "a load changed more than the weights");
    return 0;
}

/* ---- the seed corpus ------------------------------------------------------ */

/* A growing header text. */
static char header[65536];
static size_t header_len;

#if defined(__GNUC__)
static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
static void put(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(header + header_len, sizeof header - header_len, fmt, ap);
    va_end(ap);
    CHECK(n >= 0 && (size_t)n < sizeof header - header_len, "seed header too long");
    header_len += (size_t)n;
}

static const char *seed_dir;

/* Writes dir/name: an 8-byte length (length_field, or the header's length
 * when it is UINT64_MAX), the header, then data; then cuts it to keep bytes
 * when keep is not SIZE_MAX. Prints the load's result. */
static void write_seed_raw(const char *name, uint64_t length_field, const void *data,
                           size_t data_len, size_t keep)
{
    size_t len = 8 + header_len + data_len;
    unsigned char *bytes = malloc(len);
    CHECK(bytes != NULL, "out of memory");
    uint64_t field = length_field == UINT64_MAX ? (uint64_t)header_len : length_field;
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(field >> (8 * i));
    memcpy(bytes + 8, header, header_len);
    if (data_len > 0)
        memcpy(bytes + 8 + header_len, data, data_len);
    if (keep < len)
        len = keep;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", seed_dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create a seed file");
    CHECK(fwrite(bytes, 1, len, f) == len && fclose(f) == 0, "cannot write a seed file");

    char err[512] = "";
    memcpy(&model, &pristine, sizeof model);
    int rc = mn_load_safetensors(path, m_tensors, M_NUM_TENSORS, model.params, MN_F32, err,
                                 sizeof err);
    printf("%-22s %6zu bytes  %-8s %s\n", name, len, rc == MN_OK ? "loads" : mn_strerror(rc),
           err);
    LLVMFuzzerTestOneInput(bytes, len);   /* every seed passes the harness's checks */
    free(bytes);
}

static void write_seed(const char *name, const void *data, size_t data_len)
{
    write_seed_raw(name, UINT64_MAX, data, data_len, SIZE_MAX);
}

/* One tensor entry. */
static void put_entry(const char *name, const char *dtype, const char *shape, uint64_t begin,
                      uint64_t end)
{
    put("\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%llu,%llu]}", name, dtype,
        shape, (unsigned long long)begin, (unsigned long long)end);
}

/* The shape of tensor t as JSON. */
static const char *shape_of(int t)
{
    static char buf[64];
    size_t at = 0;
    buf[at++] = '[';
    for (int d = 0; d < m_tensors[t].rank; d++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%lld", d ? "," : "",
                               (long long)m_tensors[t].dims[d]);
    snprintf(buf + at, sizeof buf - at, "]");
    return buf;
}

/* The model's data in table order (as m_save lays it out) into out;
 * returns its length. */
static size_t model_data(unsigned char *out)
{
    memcpy(out, pristine.params, MODEL_BYTES);
    return MODEL_BYTES;
}

/* The model's entries in table order with the model's own offsets, less
 * tensor `skip` (the later ones move up), and a dtype, shape or name
 * replaced for tensor `change` (NULL: as in the model). Opens the object;
 * the caller closes it. Returns the end of the last entry's data. */
static uint64_t put_model_entries(int skip, int change, const char *name, const char *dtype,
                                  const char *shape, uint64_t nbytes_of_change)
{
    uint64_t at = 0;
    int first = 1;
    put("{");
    for (int t = 0; t < M_NUM_TENSORS; t++) {
        if (t == skip)
            continue;
        uint64_t nbytes = m_tensors[t].count * sizeof(float);
        const char *n = m_tensors[t].name, *d = "F32", *sh = shape_of(t);
        if (t == change) {
            n = name ? name : n;
            d = dtype ? dtype : d;
            sh = shape ? shape : sh;
            nbytes = nbytes_of_change ? nbytes_of_change : nbytes;
        }
        put("%s", first ? "" : ",");
        first = 0;
        put_entry(n, d, sh, at, at + nbytes);
        at += nbytes;
    }
    return at;
}

/* The model's data with tensor `skip` left out; returns its length. */
static size_t model_data_without(int skip, unsigned char *out)
{
    size_t at = 0;
    for (int t = 0; t < M_NUM_TENSORS; t++) {
        if (t == skip)
            continue;
        size_t nbytes = m_tensors[t].count * sizeof(float);
        memcpy(out + at, pristine.params + m_tensors[t].offset, nbytes);
        at += nbytes;
    }
    return at;
}

static void write_seeds(void)
{
    static unsigned char data[2 * MODEL_BYTES + 64];
    size_t n;
    char path[4096];

    /* The model's own file, as m_save writes it (__metadata__, padding). */
    snprintf(path, sizeof path, "%s/valid", seed_dir);
    CHECK(m_save(&pristine, path) == MN_OK, "cannot save the seed model");
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "cannot read the saved seed");
    static unsigned char saved[16384];
    size_t saved_len = fread(saved, 1, sizeof saved, f);
    fclose(f);
    uint64_t saved_header = 0;
    for (int i = 7; i >= 0; i--)
        saved_header = (saved_header << 8) | saved[i];
    CHECK(saved_header < sizeof header && saved_len == 8 + saved_header + MODEL_BYTES,
          "the saved seed is not what it should be");
    memcpy(header, saved + 8, (size_t)saved_header);
    header_len = (size_t)saved_header;
    const unsigned char *saved_data = saved + 8 + saved_header;
    write_seed("valid", saved_data, MODEL_BYTES);

    /* Cut in the length, the header and the data; one byte too many. */
    write_seed_raw("truncated_length", UINT64_MAX, saved_data, MODEL_BYTES, 5);
    write_seed_raw("truncated_header", UINT64_MAX, saved_data, MODEL_BYTES,
                   8 + (size_t)saved_header / 2);
    write_seed_raw("truncated_data", UINT64_MAX, saved_data, MODEL_BYTES, saved_len - 3);
    memcpy(data, saved_data, MODEL_BYTES);
    data[MODEL_BYTES] = 0;
    write_seed("one_byte_more", data, MODEL_BYTES + 1);
    /* A length beyond the limit, and one just beyond the file. */
    write_seed_raw("header_over_limit", 100000001u, saved_data, MODEL_BYTES, SIZE_MAX);
    write_seed_raw("header_beyond_file", saved_len - 7, saved_data, MODEL_BYTES, SIZE_MAX);

    /* No __metadata__, no padding, the tensors in reverse order. */
    header_len = 0;
    put("{");
    uint64_t at = 0;
    for (int t = M_NUM_TENSORS - 1; t >= 0; t--) {
        uint64_t nbytes = m_tensors[t].count * sizeof(float);
        put_entry(m_tensors[t].name, "F32", shape_of(t), at, at + nbytes);
        put("%s", t > 0 ? "," : "}");
        memcpy(data + at, pristine.params + m_tensors[t].offset, nbytes);
        at += nbytes;
    }
    write_seed("valid_reversed", data, (size_t)at);

    /* __metadata__ last, with every kind of JSON value, escapes in names
     * and strings, and whitespace between the tokens. */
    header_len = 0;
    put("{ \"dense\\u002ekernel\" :\t{\"shape\":[10,64],\"data_offsets\":[0,2560],\"dtype\":\"F32\"},\n");
    put("\"dense.bias\":{\"dtype\":\"F32\",\"shape\":[ 64 ],\"data_offsets\":[2560,2816]},\r\n");
    put("\"dense_1.kernel\":{\"dtype\":\"F32\",\"shape\":[5,32],\"data_offsets\":[2816,3456]},");
    put("\"dense_1.bias\":{\"dtype\":\"F32\",\"shape\":[32],\"data_offsets\":[3456,3584]},");
    put("\"dense_2.kernel\":{\"dtype\":\"F32\",\"shape\":[96,1],\"data_offsets\":[3584,3968]},");
    put("\"dense_2.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[3968,3972]},");
    put("\"__metadata__\":{\"format\":\"pt\",\"n\":[0,-1,2.5e-3,1E+2,true,false,null,{}],");
    put("\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\xc3\xa9\"}}    ");
    n = model_data(data);
    write_seed("valid_metadata", data, n);

    /* Well formed, but not this model's: dtype, shape, a tensor missing, a
     * tensor more, a name changed. */
    header_len = 0;
    at = put_model_entries(-1, 5, NULL, "F64", NULL, 8);   /* dense_2.bias as one F64 */
    put("}");
    n = model_data(data);
    data[n] = 0, data[n + 1] = 0, data[n + 2] = 0, data[n + 3] = 0;
    write_seed("wrong_dtype", data, (size_t)at);

    header_len = 0;
    at = put_model_entries(-1, 1, NULL, "BF16", NULL, 128);   /* dense.bias as BF16 */
    put("}");
    n = model_data_without(1, data);
    memmove(data + 2560 + 128, data + 2560, n - 2560);
    write_seed("wrong_dtype_bf16", data, (size_t)at);

    header_len = 0;
    at = put_model_entries(-1, 0, NULL, NULL, "[64,10]", 0);
    put("}");
    write_seed("wrong_shape", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, 4, NULL, NULL, "[96]", 0);   /* rank differs */
    put("}");
    write_seed("wrong_rank", data, model_data(data));

    header_len = 0;
    at = put_model_entries(5, -1, NULL, NULL, NULL, 0);
    put("}");
    write_seed("missing_tensor", data, model_data_without(5, data));

    header_len = 0;
    at = put_model_entries(-1, -1, NULL, NULL, NULL, 0);
    put(",");
    put_entry("extra.bias", "F32", "[2]", at, at + 8);
    put("}");
    n = model_data(data);
    memset(data + n, 0, 8);
    write_seed("extra_tensor", data, n + 8);

    header_len = 0;
    at = put_model_entries(-1, 3, "dense_1.BIAS", NULL, NULL, 0);
    put("}");
    write_seed("renamed_tensor", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, 3, "dense_1.bias\\u0000x", NULL, NULL, 0);
    put("}");
    write_seed("nul_in_name", data, model_data(data));

    /* Not well formed: the model's entries, then what breaks them. */
    static const struct { const char *name, *tail; } malformed[] = {
        {"bad_json_no_brace", ""},
        {"bad_json_comma", ",}"},
        {"unterminated_string", ",\"__metadata__\":{\"s\":\"unterminated}}"},
        {"lone_surrogate", ",\"__metadata__\":{\"s\":\"\\ud800\"}}"},
        {"bad_utf8", ",\"__metadata__\":{\"s\":\"\xff\xfe\"}}"},
        {"huge_exponent", ",\"__metadata__\":{\"x\":1e999999999999999999,\"y\":-0.0e-99999999999}}"},
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        header_len = 0;
        at = put_model_entries(-1, -1, NULL, NULL, NULL, 0);
        put("%s", malformed[i].tail);
        write_seed(malformed[i].name, data, model_data(data));
    }

    header_len = 0;
    at = put_model_entries(-1, -1, NULL, NULL, NULL, 0);
    put(",\"__metadata__\":{\"x\":");
    for (int i = 0; i < 80; i++)
        put("[");
    for (int i = 0; i < 80; i++)
        put("]");
    put("}}");
    write_seed("deep_metadata", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, -1, NULL, NULL, NULL, 0);
    put(",");
    put_entry("dense.bias", "F32", "[64]", at, at + 256);
    put("}");
    n = model_data(data);
    memcpy(data + n, pristine.params + 640, 256);
    write_seed("duplicate_name", data, n + 256);

    header_len = 0;
    put("{");
    put_entry("dense.kernel", "F32", "[10,64]", 0, 2560);
    put(",");
    put_entry("dense.bias", "F32", "[64]", 2500, 2756);   /* overlaps the kernel */
    put(",");
    put_entry("dense_1.kernel", "F32", "[5,32]", 2816, 3456);
    put(",");
    put_entry("dense_1.bias", "F32", "[32]", 3456, 3584);
    put(",");
    put_entry("dense_2.kernel", "F32", "[96,1]", 3584, 3968);
    put(",");
    put_entry("dense_2.bias", "F32", "[1]", 3968, 3972);
    put("}");
    write_seed("overlapping_offsets", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, 5, NULL, NULL, NULL, 0);
    header_len -= strlen("[3968,3972]}");
    put("[3972,3968]}}");
    write_seed("offsets_reversed", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, 5, NULL, NULL, NULL, 0);
    header_len -= strlen("[3968,3972]}");
    put("[18446744073709551611,18446744073709551615]}}");
    write_seed("offsets_beyond_file", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, 5, NULL, NULL, "[4294967296,4294967296,16]", 0);
    put("}");
    write_seed("shape_overflow", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, 5, NULL, NULL, "[4294967296,4294967296,0]", 0);
    put("}");
    write_seed("shape_zero_times_huge", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, 2, NULL, NULL, "[5,32", 0);
    put("}");
    write_seed("shape_unclosed", data, model_data(data));

    /* A rank beyond MN_MAX_RANK (the message shortens the shape), and a
     * long name with a two-byte character where the message cuts it. */
    header_len = 0;
    at = put_model_entries(-1, 4, NULL, NULL, "[1,1,1,1,1,1,96,1]", 0);
    put("}");
    write_seed("rank_beyond_max", data, model_data(data));

    header_len = 0;
    at = put_model_entries(-1, -1, NULL, NULL, NULL, 0);
    put(",");
    put_entry("extra_with_a_long_name_that_a_message_has_to_cut_somewhere_\\u00e9xy\xc3\xa9_end",
              "F32", "[1]", at, at + 4);
    put("}");
    n = model_data(data);
    memset(data + n, 0, 4);
    write_seed("long_name", data, n + 4);
}

/* Removes the two temporary files when the fuzzer exits normally. */
static void remove_temporary_files(void)
{
    unlink(input_path);
    unlink(output_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_pristine();
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || strlen(tmp) > 30)
        tmp = "/tmp";
    snprintf(input_path, sizeof input_path, "%s/fuzz_load_in.XXXXXX", tmp);
    snprintf(output_path, sizeof output_path, "%s/fuzz_load_out.XXXXXX", tmp);
    input_fd = mkstemp(input_path);
    int output_fd = mkstemp(output_path);
    CHECK(input_fd >= 0 && output_fd >= 0, "cannot create the temporary files");
    close(output_fd);
    atexit(remove_temporary_files);

    seed_dir = getenv("FUZZ_LOAD_WRITE_SEEDS");
    if (seed_dir != NULL) {
        mkdir(seed_dir, 0777);
        write_seeds();
        exit(0);
    }
    return 0;
}
