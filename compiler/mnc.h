/* mnc.h — what every stage of the compiler shares: source locations,
 * diagnostics, and the compiler's memory.
 *
 * Memory: mnc is a short-lived program. Everything it allocates comes from
 * one arena (xalloc) and is freed once, at exit (chibicc's rule). No stage
 * frees anything; no stage needs to track ownership.
 */
#ifndef MNC_H
#define MNC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define MNC_VERSION "0.1.0"

/* ---- limits -------------------------------------------------------------
 * What mnc accepts, stated once; each is checked with a located error (see
 * docs/language.md, "Limits"). They are far above any real model (the
 * largest example is 3 KB, 40 statements, nesting 6) and keep a hostile or
 * generated file within bounded time and memory: compile time is
 * O(n log n) in the number of terms, memory about 8 KB per term. */
#define MN_MAX_SOURCE_BYTES (16L << 20) /* a .mn file: 16 MiB */
#define MN_MAX_LINE_BYTES (1L << 20)    /* one line: 1 MiB */
#define MN_MAX_TOKENS 500000            /* tokens in a file (~8 KB of memory each, compiled) */
#define MN_MAX_STATEMENTS 100000        /* statements in a file */
#define MN_MAX_NESTING 10000            /* brackets, unary minus, calls and right operands inside one another */
#define MN_MAX_ERRORS_SHOWN 100         /* errors printed; the rest are counted */
/* The largest value (at the largest batch), the weights and the arena, in
 * elements: the generated code indexes them with int. */
#define MN_MAX_ELEMS 2147483647L

/* A span of source text; lines and columns are 1-based, end_col is the
 * column of the last character of the span (inclusive). */
typedef struct Loc {
    int line, col;
    int end_line, end_col;
} Loc;

/* ---- diagnostics (diag.c) ---------------------------------------------
 * One source file per run. diag_set_source() keeps the text so that every
 * message can quote its line:
 *
 *   model.mn:9:14: error: layer 'shared' ...
 *       x2 = shared(input_2)
 *                   ^~~~~~~
 *   model.mn:7:10: note: 'shared' defined here
 */
void diag_set_source(const char *path, const char *text);
void diag_set_stream(FILE *out);         /* default stderr; tests capture */
const char *diag_path(void);
const char *diag_line_text(int line, int *len); /* NULL if out of range */
int diag_error_count(void);
int diag_warning_count(void);
void diag_reset_counts(void);

void error_at(Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void warning_at(Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void note_at(Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* An error with no place in the source (I/O, usage). */
void error_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An internal bug: print where and abort. Never a wrong answer. */
#define unreachable() mnc_unreachable(__FILE__, __LINE__)
_Noreturn void mnc_unreachable(const char *file, int line);

/* ---- memory (util.c) --------------------------------------------------- */
void *xalloc(size_t size);               /* zeroed; never NULL */
void *xgrow(void *items, int n, size_t size); /* room to append item n: `a = xgrow(a, n, sizeof *a); a[n++] = x;` */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xsprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mnc_free_all(void);

/* A growable text buffer, for the emitter and for reading files. */
typedef struct Buf {
    char *data;
    size_t len, cap;
} Buf;
void buf_putc(Buf *b, char c);
void buf_puts(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(Buf *b, const char *fmt, va_list ap);

/* A map from strings to ints (open addressing, grown at half full; the
 * keys are not copied): the compiler's lookups by name stay O(1). */
typedef struct StrMap {
    const char **key;
    int *val;
    size_t cap, count;
} StrMap;
int *strmap_get(const StrMap *m, const char *key);   /* the value's slot, or NULL */
int *strmap_put(StrMap *m, const char *key, int val); /* adds or sets; the slot */

/* 1 if `name` is a C keyword (it cannot name anything in generated C). */
int is_c_keyword(const char *name);

/* Reads a whole file; NULL (and errno) on failure. */
char *read_file(const char *path, size_t *len);

#endif
