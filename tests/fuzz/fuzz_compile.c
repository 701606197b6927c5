/* fuzz_compile.c — libFuzzer harness: the whole compiler, in process, on
 * arbitrary bytes as a .mn file.
 *
 * Each input runs through compile_model (parse, lower, check, autodiff,
 * fusion, memory plan, emit) exactly as `mnc` runs it, emitting C and one
 * of the other kinds (summary, dot, trainer, ir: chosen by the input's
 * length), in f32 or f64; then every byte the compiler allocated is
 * released (mnc_free_all) and the diagnostics are reset, so no state
 * outlives an input. Beyond the sanitizers' findings it asserts:
 *   - the result is 0 (compiled), 1 (the model has errors) or
 *     COMPILE_PREFIX_MAIN, and 1 comes with at least one error;
 *   - every line of the diagnostics is a located message
 *     (fuzz.mn:LINE:COL: error|warning|note: ...) whose line exists in the
 *     input, one about the whole file (fuzz.mn: error: ...), a quoted
 *     source line or its caret line, or `mnc: error: ...`;
 *   - a model that compiles gives non-empty C and header, and compiling it
 *     again gives the same bytes (the output is deterministic).
 *
 *   make fuzz                      (each harness for FUZZ_SECONDS)
 *   build/fuzz/fuzz_compile FILE...  (replays inputs: make test does)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_compile: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static int count_lines(const char *text) {
    int n = 1;
    for (const char *p = text; *p; p++) n += *p == '\n';
    return n;
}

/* One line of the diagnostics, checked against what diag.c prints. */
static void check_diag_line(const char *line, size_t len, int nlines, int *errors) {
    static const char path[] = "fuzz.mn:";
    if (len >= 12 && !strncmp(line, "mnc: error: ", 12)) {
        (*errors)++;
        return;
    }
    if (!strncmp(line, "fuzz.mn: ", 9)) { /* about the whole file: no line */
        CHECK(!strncmp(line + 9, "error: ", 7) || !strncmp(line + 9, "warning: ", 9) || !strncmp(line + 9, "note: ", 6));
        *errors += !strncmp(line + 9, "error: ", 7);
        return;
    }
    if (!strncmp(line, path, sizeof path - 1)) {
        const char *p = line + sizeof path - 1;
        char *end;
        long l = strtol(p, &end, 10);
        CHECK(end > p && *end == ':');
        long c = strtol(end + 1, &end, 10);
        CHECK(*end == ':' && l >= 1 && l <= nlines && c >= 1);
        CHECK(!strncmp(end, ": error: ", 9) || !strncmp(end, ": warning: ", 11) || !strncmp(end, ": note: ", 8));
        *errors += !strncmp(end, ": error: ", 9);
        CHECK(len > (size_t)(end - line) + 9); /* a message follows */
        return;
    }
    /* "%5d | text" or "      | caret" */
    size_t i = 0, digits = 0;
    while (i < len && line[i] == ' ') i++;
    while (i < len && line[i] >= '0' && line[i] <= '9') i++, digits++;
    if (digits) CHECK(i >= 5 && i + 2 <= len && line[i] == ' ' && line[i + 1] == '|');
    else CHECK(i == 6 && len >= 7 && line[6] == '|');
}

static int compile(const char *text, EmitKind emit, int f64, Buf *out, Buf *header, int check_diags) {
    char *diags = NULL;
    size_t diags_len = 0;
    FILE *stream = open_memstream(&diags, &diags_len);
    CHECK(stream);
    diag_set_stream(stream);
    diag_reset_counts();
    CompileOptions o = {.emit = emit, .f64 = f64, .verify = 1, .eo = {.header_name = "fuzz.h"}}; /* ir_verify, plan_verify */
    int rc = compile_model("fuzz.mn", text, &o, out, header);
    int reported = diag_error_count();
    diag_set_stream(NULL);
    fclose(stream);
    CHECK(rc == 0 || rc == 1 || rc == COMPILE_PREFIX_MAIN);
    CHECK(rc != 1 || reported > 0);
    if (check_diags) {
        int nlines = count_lines(text), errors = 0;
        for (const char *p = diags; *p;) {
            const char *nl = memchr(p, '\n', diags_len - (size_t)(p - diags));
            CHECK(nl); /* every message ends its line */
            check_diag_line(p, (size_t)(nl - p), nlines, &errors);
            p = nl + 1;
        }
        CHECK(errors <= reported && (reported == 0) == (errors == 0));
    }
    free(diags);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    CHECK(text);
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) != size) { /* mnc refuses a NUL byte before it parses */
        free(text);
        return 0;
    }
    static const EmitKind others[] = {EMIT_SUMMARY, EMIT_DOT, EMIT_TRAINER, EMIT_IR};
    int f64 = size % 2;
    Buf c = {0}, h = {0};
    int rc = compile(text, EMIT_C, f64, &c, &h, 1);
    if (rc == 0) {
        CHECK(c.len > 0 && h.len > 0);
        Buf c2 = {0}, h2 = {0};
        CHECK(compile(text, EMIT_C, f64, &c2, &h2, 0) == 0);
        CHECK(c2.len == c.len && !memcmp(c2.data, c.data, c.len));
        CHECK(h2.len == h.len && !memcmp(h2.data, h.data, h.len));
    }
    mnc_free_all();
    if (rc != 1) { /* the other kinds of output of a model that compiles */
        Buf out = {0}, none = {0};
        int rc2 = compile(text, others[(size / 2) % 4], f64, &out, &none, 1);
        CHECK(rc2 != 1);
        mnc_free_all();
    }
    diag_set_source(NULL, NULL);
    free(text);
    return 0;
}
