/* mn_data.c — data sets for the trainer: CSV and NumPy files read into one
 * array per input and target, every value checked against the model's
 * descriptors (mn_io_info) before anything is trained on it.
 *
 * CSV (docs/trainer.md): the first non-empty line is the header; commas
 * separate fields; a field may be quoted ("..." with "" for a quote, on one
 * line); spaces around a field are ignored; CRLF line ends and a UTF-8 BOM
 * are accepted; empty lines are skipped. An input or target of one value per
 * sample is the column NAME; one of k > 1 values is the k columns NAME_0 ..
 * NAME_{k-1}, in row-major order of its per-sample shape. Columns may come
 * in any order; a column the model does not know is an error (a typo would
 * otherwise go unnoticed), and so is a missing one.
 *
 * NumPy: "NAME=FILE.npy,..." with one file per input (and target): format
 * 1.0, 2.0 or 3.0, C order, little-endian (or one-byte) f4, f8, i1..i8,
 * u1..u8 or b1 elements, shape (N, dims...) with dims the declared per-sample
 * shape, or (N,) for one value per sample; the same N in every file.
 *
 * Errors are one line: "FILE:LINE:COLUMN: error: ..." for CSV (the column is
 * the 1-based character position of the field in its line; the message also
 * names the column's header), "FILE: error: element [i, j]: ..." for NumPy.
 *
 * Hostile files: the limits (MN_CSV_MAX_BYTES and the others) are stated
 * once, in mn_internal.h; every size computed from a file is checked for
 * overflow before it is used; a file is sized with fstat before it is read,
 * and the arrays are sized by the real rows (a first pass counts the
 * non-empty lines), so that loading a CSV file of S bytes and R data rows
 * takes S + 1 bytes for its text plus R times the bytes of one row, and a
 * few bytes per column of the header, whatever the file holds (docs/
 * trainer.md, "Limits"). On any refusal *out is zeroed and nothing is kept.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise: POSIX_MADV_DONTNEED does nothing on Linux */

#include "mn_runtime.h"
#include "mn_internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CELL (MN_CSV_MAX_FIELD + 1) /* a field's buffer, with its NUL */

/* ---- messages ------------------------------------------------------------ */

/* A cell's text for a message: at most 40 characters, then "...". */
static const char *shown(const char *cell, char *buf, size_t len)
{
    if (strlen(cell) <= 40)
        return cell;
    snprintf(buf, len, "%.37s...", cell);
    return buf;
}

/* ---- one value: parsing and checking --------------------------------------- */

/* Parses a whole cell as a finite number (surrounding spaces allowed).
 * Returns NULL, or the reason it is not one. */
static const char *parse_number(const char *cell, double *out)
{
    const char *p = cell;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return "empty cell";
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p)
        return "is not a number";
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0')
        return "is not a number";
    if (isnan(v) || isinf(v))
        return "is not a finite number";
    *out = v;
    return NULL;
}

/* Checks v against what io accepts; writes the reason into why and returns
 * 0 when it does not. what: "input" or "target". */
static int check_value(const mn_io_info *io, const char *what, double v, char *why, size_t len)
{
    if (io->dtype == MN_I32) {
        if (v != floor(v)) {
            snprintf(why, len, "is not an integer (%s '%s' is int)", what, io->name);
            return 0;
        }
        double lo = io->has_range ? io->lo : (io->int_bound > 0 ? 0 : (double)INT32_MIN);
        double hi = io->has_range ? io->hi : (double)INT32_MAX;
        if (io->int_bound > 0 && (double)(io->int_bound - 1) < hi)
            hi = (double)(io->int_bound - 1);
        lo = lo < (double)INT32_MIN ? (double)INT32_MIN : lo;
        hi = hi > (double)INT32_MAX ? (double)INT32_MAX : hi;
        if (v < lo || v > hi) {
            snprintf(why, len, "is out of range: %s '%s' takes ids in [%.0f, %.0f]", what, io->name, lo, hi);
            return 0;
        }
        return 1;
    }
    if (io->dtype == MN_F32 && fabs(v) > FLT_MAX) {
        snprintf(why, len, "is too large for a float");
        return 0;
    }
    if (io->has_range && (v < io->lo || v > io->hi)) {
        snprintf(why, len, "is out of the declared range [%.17g, %.17g] of %s '%s'", io->lo, io->hi, what, io->name);
        return 0;
    }
    if ((io->kind == MN_DATA_BINARY || io->kind == MN_DATA_ONEHOT) && (v < 0 || v > 1)) {
        snprintf(why, len, "is not in [0, 1] (target '%s' is read by %s)", io->name,
                 io->kind == MN_DATA_BINARY ? "bce" : "cce");
        return 0;
    }
    return 1;
}

/* Bytes of one element of io's data. */
static size_t elem_size(const mn_io_info *io)
{
    return io->dtype == MN_F64 ? sizeof(double) : io->dtype == MN_F32 ? sizeof(float) : sizeof(int32_t);
}

static void store(const mn_io_info *io, void *base, size_t at, double v)
{
    if (io->dtype == MN_I32)
        ((int32_t *)base)[at] = (int32_t)v;
    else if (io->dtype == MN_F32)
        ((float *)base)[at] = (float)v;
    else
        ((double *)base)[at] = v;
}

/* ---- the fields of a data set --------------------------------------------- */

/* One input or target as the loader sees it. Every input and target of
 * the model has one; `read` says whether its data is wanted (a target is
 * not, for prediction): an unread one only has its CSV columns checked. */
typedef struct slot {
    const mn_io_info *io;
    const char *what;   /* "input" or "target" */
    void **dest;        /* where the array goes in the mn_dataset */
    int read;           /* 1: its data is loaded and checked */
    void *data;         /* n * size elements */
    unsigned char *seen; /* CSV: per element, whether a column holds it */
    void *map;          /* .npy read in place: the file's mapping (data points into it) */
    size_t map_len;
    int fd;             /* in place: the file, open for mn_data_gather (-1: none) */
    size_t file_offset; /* where data starts in it */
} slot;

/* What mn_data_free releases: an allocation, or a file's mapping. */
typedef struct owned_block {
    void *p;
    void *map;
    size_t map_len;
    int fd;
    size_t file_offset;
} owned_block;

/* A .npy file is read through a read-only mapping, so that a file larger
 * than memory loads: its pages are read as they are touched, and dropped
 * (release_pages) once checked; the data set then points into the mapping
 * when the file holds exactly the model's type, each page read again only
 * if a step reads its samples. */
static void release_pages(const void *p, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || len == 0)
        return;
    uintptr_t lo = ((uintptr_t)p + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t hi = ((uintptr_t)p + len) / (uintptr_t)page * (uintptr_t)page;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

typedef struct loader {
    const char *path;
    slot *slots;
    int nslots;
    char *err;
    size_t errlen;
} loader;

/* The slots of the model's inputs and targets; 0 or an error code. */
static int make_slots(loader *L, const mn_io_info *inputs, int ninputs, const mn_io_info *targets, int ntargets,
                      int want_targets, mn_dataset *out)
{
    out->input = calloc((size_t)ninputs + 1, sizeof(void *));
    out->target = calloc((size_t)ntargets + 1, sizeof(void *));
    L->slots = calloc((size_t)ninputs + (size_t)ntargets + 1, sizeof(slot));
    if (out->input == NULL || out->target == NULL || L->slots == NULL)
        return mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory", L->path);
    for (int i = 0; i < ninputs; i++)
        L->slots[L->nslots++] = (slot){&inputs[i], "input", &out->input[i], 1, NULL, NULL, NULL, 0, -1, 0};
    for (int i = 0; i < ntargets; i++)
        L->slots[L->nslots++] =
            (slot){&targets[i], "target", &out->target[i], want_targets != 0, NULL, NULL, NULL, 0, -1, 0};
    return MN_OK;
}

/* n * size elements of elem bytes: whether the count and its bytes fit a
 * size_t (*count, *bytes), so that no size computed from a file wraps. */
static int array_size(uint64_t n, size_t size, size_t elem, size_t *count, size_t *bytes)
{
    if (n > SIZE_MAX || (size != 0 && n > SIZE_MAX / size))
        return 0;
    size_t c = (size_t)n * size;
    if (elem != 0 && c > SIZE_MAX / elem)
        return 0;
    *count = c;
    *bytes = c * elem;
    return 1;
}

/* Allocates the array of every slot that is read, for n samples. */
static int alloc_slots(loader *L, long n)
{
    for (int s = 0; s < L->nslots; s++) {
        if (!L->slots[s].read)
            continue;
        size_t count, bytes, elem = elem_size(L->slots[s].io);
        if (!array_size((uint64_t)n, L->slots[s].io->size, elem, &count, &bytes))
            return mn_fail_(MN_ERR_NOMEM, L->err, L->errlen,
                            "%s: error: %ld samples of %s '%s' (%zu values each) do not fit in memory", L->path, n,
                            L->slots[s].what, L->slots[s].io->name, L->slots[s].io->size);
        L->slots[s].data = calloc(count ? count : 1, elem);
        if (L->slots[s].data == NULL)
            return mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory for %ld samples", L->path, n);
    }
    return MN_OK;
}

static void free_slots(loader *L)
{
    for (int s = 0; s < L->nslots; s++) {
        if (L->slots[s].map)
            munmap(L->slots[s].map, L->slots[s].map_len);
        else
            free(L->slots[s].data);
        if (L->slots[s].fd >= 0)
            close(L->slots[s].fd);
        free(L->slots[s].seen);
    }
    free(L->slots);
}

/* Reads a whole file of at most max_bytes, NUL-terminated; kind ("CSV",
 * ".npy") names the limit in the message. A regular file is sized with
 * fstat first: one buffer of its size + 1, and one past the limit is refused
 * before a byte is read. Anything else (a pipe) grows its buffer by
 * doubling, up to the limit. */
static int read_all(const char *path, uint64_t max_bytes, const char *kind, char **data, size_t *size, char *err,
                    size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return mn_fail_(MN_ERR_IO, err, errlen, "%s: error: cannot open: %s", path, strerror(errno));
    uint64_t limit = max_bytes < (uint64_t)SIZE_MAX - 1 ? max_bytes : (uint64_t)SIZE_MAX - 1;
    size_t cap = (size_t)1 << 16; /* bytes of buf, its final NUL included */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        if (st.st_size < 0 || (uint64_t)st.st_size > limit) {
            fclose(f);
            return mn_fail_(MN_ERR_FORMAT, err, errlen,
                            "%s: error: %lld bytes, more than the %llu a %s file may have", path,
                            (long long)st.st_size, (unsigned long long)max_bytes, kind);
        }
        cap = (size_t)st.st_size + 1;
    } else if (cap > limit + 1) {
        cap = (size_t)limit + 1;
    }
    char *buf = malloc(cap);
    size_t n = 0;
    int rc = buf == NULL ? MN_ERR_NOMEM : MN_OK;
    while (rc == MN_OK) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break; /* the end, or an error */
        int c = fgetc(f);
        if (c == EOF)
            break;
        if ((uint64_t)n + 1 > limit) {
            rc = MN_ERR_FORMAT;
            break;
        }
        /* more than fstat said (the file grew), or not a regular file */
        size_t grown_cap = cap <= (size_t)(limit + 1) / 2 ? cap * 2 : (size_t)limit + 1;
        char *grown = realloc(buf, grown_cap);
        if (grown == NULL) {
            rc = MN_ERR_NOMEM;
            break;
        }
        buf = grown;
        cap = grown_cap;
        buf[n++] = (char)c;
    }
    int bad = rc == MN_OK && ferror(f);
    fclose(f);
    if (rc != MN_OK || bad) {
        free(buf);
        if (rc == MN_ERR_NOMEM)
            return mn_fail_(MN_ERR_NOMEM, err, errlen, "%s: error: out of memory", path);
        if (rc == MN_ERR_FORMAT)
            return mn_fail_(MN_ERR_FORMAT, err, errlen, "%s: error: more than the %llu bytes a %s file may have", path,
                            (unsigned long long)max_bytes, kind);
        return mn_fail_(MN_ERR_IO, err, errlen, "%s: error: cannot read", path);
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return MN_OK;
}

/* ---- CSV ---------------------------------------------------------------------- */

/* One field of a line: its text (quotes removed) and 1-based column. */
typedef struct csv_field {
    char text[MAX_CELL];
    size_t col;
} csv_field;

/* Reads the field that starts at line[*pos]; leaves *pos after its comma
 * (or at the end). Returns NULL or the reason the field is malformed. */
static const char *next_field(const char *line, size_t len, size_t *pos, csv_field *f)
{
    size_t p = *pos, n = 0;
    while (p < len && (line[p] == ' ' || line[p] == '\t'))
        p++;
    f->col = p + 1;
    if (p < len && line[p] == '"') {
        for (p++;; p++) {
            if (p >= len)
                return "unterminated quoted field";
            if (line[p] == '"') {
                if (p + 1 < len && line[p + 1] == '"')
                    p++;
                else
                    break;
            }
            if (n + 1 >= MAX_CELL)
                return "field too long";
            f->text[n++] = line[p];
        }
        p++;
        while (p < len && (line[p] == ' ' || line[p] == '\t'))
            p++;
        if (p < len && line[p] != ',')
            return "text after a quoted field";
    } else {
        while (p < len && line[p] != ',') {
            if (line[p] == '"')
                return "a quote inside an unquoted field";
            if (n + 1 >= MAX_CELL)
                return "field too long";
            f->text[n++] = line[p++];
        }
        while (n > 0 && (f->text[n - 1] == ' ' || f->text[n - 1] == '\t'))
            n--;
    }
    f->text[n] = '\0';
    *pos = p + 1; /* past the comma; len + 1 after the last field */
    return NULL;
}

/* The line that starts at p (in NUL-terminated text): sets *len to its
 * length less a final CR and *next to where the next line starts. Returns 1
 * when it holds more than spaces and tabs, 0 for an empty line (skipped).
 * Both passes over the text use it, so that they agree on the rows. */
static int csv_line(char *p, size_t *len, char **next)
{
    char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    *next = nl ? nl + 1 : p + n;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    *len = n;
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t')
            return 1;
    return 0;
}

/* A header column: the slot and element it fills. */
typedef struct column {
    int slot;
    size_t elem;
    char *name;
} column;

/* Whether name is "PREFIX_INDEX" for this io's name with a canonical
 * decimal index; sets *index. */
static int split_indexed(const char *name, const char *io_name, size_t *index)
{
    size_t k = strlen(io_name);
    if (strncmp(name, io_name, k) != 0 || name[k] != '_')
        return 0;
    const char *d = name + k + 1;
    if (*d == '\0' || (*d == '0' && d[1] != '\0'))
        return 0;
    size_t v = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || v > SIZE_MAX / 10 - 1)
            return 0;
        v = v * 10 + (size_t)(*d - '0');
    }
    *index = v;
    return 1;
}

/* Finds what a header name means. Returns 1 (found: *slot_out, *elem_out),
 * 0 unknown, -1 ambiguous. */
static int lookup_column(const loader *L, const char *name, int *slot_out, size_t *elem_out)
{
    int found = 0;
    for (int s = 0; s < L->nslots; s++) {
        const mn_io_info *io = L->slots[s].io;
        size_t elem = 0;
        int match = io->size == 1 ? strcmp(name, io->name) == 0
                                  : split_indexed(name, io->name, &elem) && elem < io->size;
        if (!match)
            continue;
        if (found)
            return -1;
        found = 1;
        *slot_out = s;
        *elem_out = elem;
    }
    return found;
}

/* "'x' (columns x_0 .. x_9)" or "'x' (column x)", for messages. */
static void describe_columns(const mn_io_info *io, char *buf, size_t len)
{
    if (io->size == 1)
        snprintf(buf, len, "column '%s'", io->name);
    else
        snprintf(buf, len, "columns '%s_0' .. '%s_%zu'", io->name, io->name, io->size - 1);
}

/* Reads the header line (line_no, len bytes at p) into *cols_out: every
 * column known, none twice (so that there are at most as many columns as
 * the model has values per sample), every read slot's column present. */
static int csv_header(loader *L, char *p, size_t len, long line_no, csv_field *f, column **cols_out,
                      size_t *ncols_out)
{
    char cellbuf[48];
    size_t cap = 16, ncols = 0, pos = 0;
    column *cols = calloc(cap, sizeof *cols);
    int rc = MN_OK, oom = cols == NULL;
    while (!oom && pos <= len && rc == MN_OK) {
        const char *bad = next_field(p, len, &pos, f);
        if (bad) {
            rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%zu: error: %s", L->path, line_no, f->col, bad);
            break;
        }
        if (ncols == cap) {
            column *grown = cap > SIZE_MAX / 2 / sizeof *cols ? NULL : realloc(cols, cap * 2 * sizeof *cols);
            if ((oom = grown == NULL))
                break;
            cols = grown;
            cap *= 2;
        }
        column *c = &cols[ncols];
        if ((oom = (c->name = strdup(f->text)) == NULL))
            break;
        ncols++;
        int found = lookup_column(L, f->text, &c->slot, &c->elem);
        if (found == 0) {
            rc = mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen,
                          "%s:%ld:%zu: error: unknown column '%s' (the first line must be a header naming "
                          "the model's inputs and targets)",
                          L->path, line_no, f->col, shown(f->text, cellbuf, sizeof cellbuf));
        } else if (found < 0) {
            rc = mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen,
                          "%s:%ld:%zu: error: column '%s' is ambiguous: two of the model's inputs and "
                          "targets have a column of that name",
                          L->path, line_no, f->col, shown(f->text, cellbuf, sizeof cellbuf));
        } else {
            slot *s = &L->slots[c->slot];
            if (s->seen == NULL && (oom = (s->seen = calloc(s->io->size, 1)) == NULL))
                break;
            if (s->seen[c->elem])
                rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%zu: error: column '%s' appears twice",
                              L->path, line_no, f->col, shown(f->text, cellbuf, sizeof cellbuf));
            s->seen[c->elem] = 1;
        }
    }
    if (rc == MN_OK && oom)
        rc = mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory", L->path);
    for (int s = 0; rc == MN_OK && s < L->nslots; s++) {
        const mn_io_info *io = L->slots[s].io;
        for (size_t e = 0; L->slots[s].read && e < io->size; e++) {
            if (L->slots[s].seen != NULL && L->slots[s].seen[e])
                continue;
            char cols_text[160];
            describe_columns(io, cols_text, sizeof cols_text);
            if (io->size == 1)
                rc = mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen, "%s:%ld: error: no column '%s' (%s '%s')", L->path,
                              line_no, io->name, L->slots[s].what, io->name);
            else
                rc = mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen,
                              "%s:%ld: error: no column '%s_%zu' (%s '%s' has %zu values per sample: %s)", L->path,
                              line_no, io->name, e, L->slots[s].what, io->name, io->size, cols_text);
            break;
        }
    }
    *cols_out = cols;
    *ncols_out = ncols;
    return rc;
}

/* Reads one data row (line_no, len bytes at p) into element row of every
 * read slot. */
static int csv_row(loader *L, char *p, size_t len, long line_no, csv_field *f, const column *cols, size_t ncols,
                   size_t row)
{
    char why[256], cellbuf[48];
    size_t pos = 0, j = 0;
    while (pos <= len) {
        const char *bad = next_field(p, len, &pos, f);
        if (bad)
            return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%zu: error: %s", L->path, line_no, f->col, bad);
        if (j == ncols)
            return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen,
                            "%s:%ld:%zu: error: more fields than the header's %zu columns", L->path, line_no, f->col,
                            ncols);
        const column *c = &cols[j++];
        slot *s = &L->slots[c->slot];
        if (!s->read)
            continue;
        double v;
        const char *reason = parse_number(f->text, &v);
        if (reason == NULL && !check_value(s->io, s->what, v, why, sizeof why))
            reason = why;
        if (reason != NULL) {
            if (f->text[0] == '\0')
                return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%zu: error: column '%s': empty cell",
                                L->path, line_no, f->col, shown(c->name, cellbuf, sizeof cellbuf));
            char namebuf[48];
            return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%zu: error: column '%s': '%s' %s", L->path,
                            line_no, f->col, shown(c->name, namebuf, sizeof namebuf),
                            shown(f->text, cellbuf, sizeof cellbuf), reason);
        }
        store(s->io, s->data, row * s->io->size + c->elem, v);
    }
    if (j < ncols)
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%zu: error: %zu fields, the header has %zu columns",
                        L->path, line_no, len + 1, j, ncols);
    return MN_OK;
}

static int load_csv(loader *L, mn_dataset *out)
{
    char *text;
    size_t size;
    int rc = read_all(L->path, MN_CSV_MAX_BYTES, "CSV", &text, &size, L->err, L->errlen);
    if (rc != MN_OK)
        return rc;
    if (strlen(text) != size) {
        free(text);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: contains a NUL byte: not a CSV text file", L->path);
    }
    char *start = text;
    if ((unsigned char)start[0] == 0xEF && (unsigned char)start[1] == 0xBB && (unsigned char)start[2] == 0xBF)
        start += 3;
    /* first pass: the non-empty lines, the header and the data rows, so
     * that the arrays are sized by the rows and not by the newlines */
    size_t lines = 0, len;
    char *next;
    for (char *p = start; *p != '\0'; p = next)
        lines += (size_t)csv_line(p, &len, &next);
    size_t max_rows = lines > 0 ? lines - 1 : 0;
    if (max_rows > (size_t)MN_DATA_MAX_SAMPLES) {
        free(text);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: %zu data rows (at most %ld)", L->path, max_rows,
                        MN_DATA_MAX_SAMPLES);
    }

    column *cols = NULL;
    size_t ncols = 0, rows = 0;
    int have_header = 0;
    csv_field *f = malloc(sizeof *f);
    rc = f == NULL ? mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory", L->path) : MN_OK;
    long line_no = 1;
    for (char *p = start; rc == MN_OK && *p != '\0'; p = next, line_no++) {
        if (!csv_line(p, &len, &next))
            continue;
        if (!have_header) {
            have_header = 1;
            rc = csv_header(L, p, len, line_no, f, &cols, &ncols);
            if (rc == MN_OK)
                rc = alloc_slots(L, (long)max_rows);
            continue;
        }
        if (rows >= max_rows) { /* cannot be: both passes count with csv_line */
            rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld: error: internal error: more rows than counted",
                          L->path, line_no);
            break;
        }
        rc = csv_row(L, p, len, line_no, f, cols, ncols, rows);
        rows++;
    }
    if (rc == MN_OK && !have_header)
        rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: empty file (no header)", L->path);
    else if (rc == MN_OK && rows == 0)
        rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: no data rows after the header", L->path);
    for (size_t j = 0; j < ncols; j++)
        free(cols[j].name);
    free(cols);
    free(f);
    free(text);
    out->n = (long)rows;
    return rc;
}

/* ---- NumPy ------------------------------------------------------------------- */

/* An .npy file's header, as far as the loader needs it. */
typedef struct npy_header {
    char kind;          /* 'f', 'i', 'u', 'b' */
    int size;           /* bytes per element */
    int rank;
    uint64_t shape[8];
    size_t data_start;
} npy_header;

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    return p;
}

/* Parses the dictionary {'descr': '<f4', 'fortran_order': False, 'shape': (N, ...), }.
 * Returns NULL or what is wrong. */
static const char *parse_npy_dict(const char *p, npy_header *h)
{
    int have = 0;
    p = skip_spaces(p);
    if (*p++ != '{')
        return "the header is not a dictionary";
    for (;;) {
        p = skip_spaces(p);
        if (*p == '}')
            break;
        char q = *p;
        if (q != '\'' && q != '"')
            return "malformed header";
        const char *key = ++p;
        while (*p && *p != q)
            p++;
        if (*p == '\0')
            return "malformed header";
        size_t klen = (size_t)(p - key);
        p = skip_spaces(p + 1);
        if (*p++ != ':')
            return "malformed header";
        p = skip_spaces(p);
        if (klen == 5 && !strncmp(key, "descr", 5)) {
            char vq = *p;
            if (vq != '\'' && vq != '"')
                return "the dtype is not a simple type (a structured array?)";
            const char *d = ++p;
            while (*p && *p != vq)
                p++;
            if (*p == '\0')
                return "malformed header";
            size_t dlen = (size_t)(p++ - d);
            /* the byte order, the kind and one digit: '<f4'; d[0..2] are not NUL */
            if (dlen != 3 || !strchr("<|=>", d[0]) || !strchr("fiub", d[1]) || !strchr("1248", d[2]))
                return "unsupported dtype (use float32, float64, an integer type or bool)";
            h->kind = d[1];
            h->size = d[2] - '0';
            if (d[0] == '>' && h->size > 1)
                return "big-endian data is not supported";
            if (!(h->size == 1 || h->size == 2 || h->size == 4 || h->size == 8) ||
                (h->kind == 'f' && h->size < 4) || (h->kind == 'b' && h->size != 1))
                return "unsupported dtype (use float32, float64, an integer type or bool)";
            have |= 1;
        } else if (klen == 13 && !strncmp(key, "fortran_order", 13)) {
            if (!strncmp(p, "False", 5))
                p += 5;
            else if (!strncmp(p, "True", 4))
                return "Fortran order is not supported (save a C-ordered array)";
            else
                return "malformed header";
            have |= 2;
        } else if (klen == 5 && !strncmp(key, "shape", 5)) {
            if (*p++ != '(')
                return "malformed shape";
            h->rank = 0;
            for (;;) {
                p = skip_spaces(p);
                if (*p == ')')
                    break;
                if (*p < '0' || *p > '9')
                    return "malformed shape";
                if (h->rank == 8)
                    return "too many dimensions";
                char *end;
                errno = 0;
                unsigned long long v = strtoull(p, &end, 10);
                if (errno)
                    return "malformed shape";
                h->shape[h->rank++] = v;
                p = skip_spaces(end);
                if (*p == ',')
                    p++;
                else if (*p != ')')
                    return "malformed shape";
            }
            p++;
            have |= 4;
        } else {
            return "unknown key in the header";
        }
        p = skip_spaces(p);
        if (*p == ',')
            p++;
        else if (*p != '}')
            return "malformed header";
    }
    return have == 7 ? NULL : "the header lacks descr, fortran_order or shape";
}

/* The element at index i as a double (little-endian bytes). */
static double npy_element(const unsigned char *data, const npy_header *h, size_t i)
{
    const unsigned char *b = data + i * (size_t)h->size;
    uint64_t u = 0;
    for (int k = h->size - 1; k >= 0; k--)
        u = (u << 8) | b[k];
    if (h->kind == 'f') {
        if (h->size == 4) {
            uint32_t u32 = (uint32_t)u;
            float f;
            memcpy(&f, &u32, 4);
            return f;
        }
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    if (h->kind == 'i' && h->size < 8 && (u >> (8 * h->size - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * h->size); /* sign-extend */
    if (h->kind == 'i')
        return (double)(int64_t)u;
    return (double)u;
}

/* "2, 3, 4" for a message: the dimensions of h; buf of at least 256 bytes
 * (at most 8 numbers of 20 digits). */
static const char *shape_text(const npy_header *h, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int d = 0; d < h->rank && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, "%s%llu", d ? ", " : "", (unsigned long long)h->shape[d]);
    return buf;
}

enum { MAP_NOT_REGULAR = 1 };

/* Maps a regular file of at most MN_NPY_MAX_BYTES read-only (*map, *size);
 * MAP_NOT_REGULAR for anything else (a pipe, an empty file: read whole). */
static int map_file(const char *path, void **map, size_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return mn_fail_(MN_ERR_IO, err, errlen, "%s: error: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return MAP_NOT_REGULAR;
    }
    if ((uint64_t)st.st_size > MN_NPY_MAX_BYTES || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return mn_fail_(MN_ERR_FORMAT, err, errlen, "%s: error: %lld bytes, more than the %llu a .npy file may have",
                        path, (long long)st.st_size, (unsigned long long)MN_NPY_MAX_BYTES);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (p == MAP_FAILED)
        return mn_fail_(MN_ERR_IO, err, errlen, "%s: error: cannot map: %s", path, strerror(saved));
    *map = p;
    *size = (size_t)st.st_size;
    return MN_OK;
}

static void unload(char *text, void *map, size_t size)
{
    if (map)
        munmap(map, size);
    else
        free(text);
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Loads one .npy file into slot s; *n is the samples of the files read so
 * far (-1 before the first), first_path the file that set it. */
static int load_npy_file(loader *L, slot *s, const char *path, long *n, const char **first_path)
{
    char *text;
    size_t size;
    void *map = NULL; /* the file's mapping, or NULL: read whole into text (a pipe) */
    int rc = map_file(path, &map, &size, L->err, L->errlen);
    if (rc == MAP_NOT_REGULAR)
        rc = read_all(path, MN_NPY_MAX_BYTES, ".npy", &text, &size, L->err, L->errlen);
    else
        text = map;
    if (rc != MN_OK)
        return rc;
    const unsigned char *u = (const unsigned char *)text;
    npy_header h = {0};
    const char *bad = NULL;
    size_t hlen = 0, hstart = 0;
    if (size < 10 || memcmp(text, "\x93NUMPY", 6) != 0)
        bad = "not a NumPy .npy file";
    else if (u[6] == 1) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8;
        hstart = 10;
    } else if ((u[6] == 2 || u[6] == 3) && size >= 12) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
        hstart = 12;
    } else
        bad = "unsupported .npy format version";
    if (!bad && hlen > MN_NPY_MAX_HEADER) {
        unload(text, map, size);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: a header of %zu bytes (at most %u)", path, hlen,
                        MN_NPY_MAX_HEADER);
    }
    if (!bad && hlen > size - hstart)
        bad = "truncated header";
    if (!bad) {
        char *hdr = strndup(text + hstart, hlen);
        bad = hdr == NULL ? "out of memory" : parse_npy_dict(hdr, &h);
        free(hdr);
    }
    if (bad) {
        unload(text, map, size);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: %s", path, bad);
    }
    h.data_start = hstart + hlen;
    const mn_io_info *io = s->io;
    char got[256];
    /* shape (N, dims...) or (N,) for one value per sample */
    int ok = h.rank >= 1;
    if (ok && h.rank == 1)
        ok = io->size == 1;
    else if (ok) {
        ok = h.rank - 1 == io->rank;
        for (int d = 0; ok && d < io->rank; d++)
            ok = io->dims[d] >= 0 && h.shape[d + 1] == (uint64_t)io->dims[d];
    }
    if (!ok) {
        char want[256] = ""; /* at most 6 numbers of 20 digits */
        size_t at = 0;
        for (int d = 0; d < io->rank && at < sizeof want; d++)
            at += (size_t)snprintf(want + at, sizeof want - at, ", %lld", (long long)io->dims[d]);
        unload(text, map, size);
        return mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen,
                    "%s: error: shape (%s%s) does not match %s '%s': expected (N%s)%s", path,
                    shape_text(&h, got, sizeof got), h.rank == 1 ? "," : "", s->what, io->name, want,
                    io->size == 1 ? " or (N,)" : "");
    }
    if (h.shape[0] == 0 || h.shape[0] > (uint64_t)MN_DATA_MAX_SAMPLES) {
        unload(text, map, size);
        return mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen, "%s: error: %llu samples (at least 1, at most %ld)", path,
                    (unsigned long long)h.shape[0], MN_DATA_MAX_SAMPLES);
    }
    long samples = (long)h.shape[0];
    if (*n >= 0 && samples != *n) {
        unload(text, map, size);
        return mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen, "%s: error: %ld samples, but %s has %ld", path, samples,
                    *first_path, *n);
    }
    /* the elements, their bytes in the file and in memory: checked, so that
     * a shape whose product wraps around is refused, not read as small */
    size_t count, file_bytes, count2, mem_bytes;
    if (!array_size((uint64_t)samples, io->size, (size_t)h.size, &count, &file_bytes) ||
        !array_size((uint64_t)samples, io->size, elem_size(io), &count2, &mem_bytes)) {
        unload(text, map, size);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: shape (%s) has more elements than fit in memory",
                        path, shape_text(&h, got, sizeof got));
    }
    size_t data_bytes = size - h.data_start;
    if (data_bytes != file_bytes) {
        unload(text, map, size);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: %zu bytes of data, the shape needs %zu (%s)", path,
                    data_bytes, file_bytes, data_bytes < file_bytes ? "truncated" : "trailing bytes");
    }
    /* the model's own type, aligned, little-endian: used in place */
    int in_place = map != NULL && host_little_endian() && h.data_start % (size_t)h.size == 0 &&
                   ((io->dtype == MN_I32 && h.kind == 'i' && h.size == 4) ||
                    (io->dtype == MN_F32 && h.kind == 'f' && h.size == 4) ||
                    (io->dtype == MN_F64 && h.kind == 'f' && h.size == 8));
    void *dest = in_place ? NULL : malloc(mem_bytes ? mem_bytes : 1);
    if (!in_place && dest == NULL) {
        unload(text, map, size);
        return mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory", path);
    }
    const unsigned char *data = u + h.data_start;
    size_t per_chunk = ((size_t)16 << 20) / (size_t)h.size, checked = 0; /* elements: pages dropped after */
    char why[256];
    for (size_t i = 0; i < count; i++) {
        if (map && i - checked == per_chunk) { /* checked: dropped from memory (read again if a step needs it) */
            release_pages(data + checked * (size_t)h.size, per_chunk * (size_t)h.size);
            checked = i;
        }
        double v = npy_element(data, &h, i);
        const char *reason = NULL;
        if (isnan(v) || isinf(v))
            reason = "is not a finite number";
        else if (!check_value(io, s->what, v, why, sizeof why))
            reason = why;
        if (reason != NULL) {
            char index[256]; /* at most 7 numbers of 20 digits */
            size_t at = (size_t)snprintf(index, sizeof index, "%zu", i / io->size);
            size_t rest = i % io->size, stride = io->size;
            for (int d = 0; d < io->rank && h.rank > 1; d++) {
                stride /= (size_t)io->dims[d];
                if (at < sizeof index)
                    at += (size_t)snprintf(index + at, sizeof index - at, ", %zu", rest / stride);
                rest %= stride;
            }
            free(dest);
            unload(text, map, size);
            return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: element [%s]: %.17g %s", path, index, v,
                        reason);
        }
        if (!in_place)
            store(io, dest, i, v);
    }
    if (map)
        release_pages(data + checked * (size_t)h.size, (count - checked) * (size_t)h.size);
    if (in_place) {
        /* From a large file, training reads its shuffled samples with pread
         * (mn_data_gather), not through the mapping, where each fault maps
         * a whole cached folio (up to 2 MiB) and keeps it: a file past 1 GiB
         * then stays out of this process's memory. A smaller one is read
         * through the mapping, which is faster (no call per sample). */
        s->fd = size >= ((size_t)1 << 30) ? open(path, O_RDONLY) : -1;
        s->file_offset = h.data_start;
        s->data = (void *)data;
        s->map = map;
        s->map_len = size;
    } else {
        s->data = dest;
        unload(text, map, size);
    }
    *n = samples;
    *first_path = path;
    return MN_OK;
}

/* NAME=FILE.npy,...: one file per read slot (a file for an unread target is
 * accepted and not opened). */
static int load_npy(loader *L, mn_dataset *out)
{
    char *spec = strdup(L->path);
    const char **paths = calloc((size_t)L->nslots + 1, sizeof *paths);
    int rc = spec && paths ? MN_OK : mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "error: out of memory");
    for (char *item = spec, *next; rc == MN_OK && item != NULL; item = next) {
        next = strchr(item, ',');
        if (next != NULL)
            *next++ = '\0';
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            rc = mn_fail_(MN_ERR_ARG, L->err, L->errlen, "%s: error: give NAME=FILE.npy for each input and target", item);
            break;
        }
        *eq = '\0';
        int slot_index = -1;
        for (int s = 0; s < L->nslots && slot_index < 0; s++)
            if (!strcmp(L->slots[s].io->name, item))
                slot_index = s;
        if (slot_index < 0)
            rc = mn_fail_(MN_ERR_ARG, L->err, L->errlen, "%s: error: the model has no input or target '%s'", eq + 1, item);
        else if (paths[slot_index] != NULL)
            rc = mn_fail_(MN_ERR_ARG, L->err, L->errlen, "%s: error: a second file for '%s' (the first: %s)", eq + 1,
                      item, paths[slot_index]);
        else
            paths[slot_index] = eq + 1;
    }
    long n = -1;
    const char *first_path = NULL;
    for (int s = 0; rc == MN_OK && s < L->nslots; s++) {
        if (!L->slots[s].read)
            continue;
        if (paths[s] == NULL)
            rc = mn_fail_(MN_ERR_ARG, L->err, L->errlen, "error: no file for %s '%s' (give %s=FILE.npy)",
                      L->slots[s].what, L->slots[s].io->name, L->slots[s].io->name);
        else
            rc = load_npy_file(L, &L->slots[s], paths[s], &n, &first_path);
    }
    out->n = n;
    free(paths);
    free(spec);
    return rc;
}

/* ---- the data set --------------------------------------------------------------- */

int mn_data_load(const char *source, const mn_io_info *inputs, int ninputs, const mn_io_info *targets,
                 int ntargets, int want_targets, mn_dataset *out, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL)
        return mn_fail_(MN_ERR_ARG, err, errlen, "error: no data set given");
    memset(out, 0, sizeof *out);
    if (source == NULL || *source == '\0')
        return mn_fail_(MN_ERR_ARG, err, errlen, "error: no data file given");
    if (ninputs < 0 || ntargets < 0 || (ninputs > 0 && inputs == NULL) || (ntargets > 0 && targets == NULL))
        return mn_fail_(MN_ERR_ARG, err, errlen, "%s: error: no description of the model's inputs and targets", source);
    loader L = {source, NULL, 0, err, errlen};
    out->ninputs = ninputs;
    out->ntargets = ntargets;
    int rc = make_slots(&L, inputs, ninputs, targets, ntargets, want_targets, out);
    if (rc == MN_OK)
        rc = strchr(source, '=') ? load_npy(&L, out) : load_csv(&L, out);
    owned_block *owned = rc == MN_OK ? calloc((size_t)L.nslots + 1, sizeof *owned) : NULL;
    if (rc == MN_OK && owned == NULL)
        rc = mn_fail_(MN_ERR_NOMEM, err, errlen, "%s: error: out of memory", source);
    if (rc != MN_OK) {
        free_slots(&L);
        free(out->input);
        free(out->target);
        memset(out, 0, sizeof *out);
        return rc;
    }
    for (int s = 0, k = 0; s < L.nslots; s++) {
        if (!L.slots[s].read)
            continue;
        *L.slots[s].dest = L.slots[s].data;
        owned[k++] = (owned_block){L.slots[s].data, L.slots[s].map, L.slots[s].map_len, L.slots[s].fd,
                                   L.slots[s].file_offset};
        L.slots[s].data = NULL;
        L.slots[s].map = NULL;
        L.slots[s].fd = -1;
    }
    free_slots(&L);
    out->owned = owned;
    return MN_OK;
}

void mn_data_free(mn_dataset *d)
{
    if (d == NULL)
        return;
    if (d->owned != NULL)
        for (owned_block *b = d->owned; b->p != NULL; b++) {
            if (b->map)
                munmap(b->map, b->map_len);
            else
                free(b->p);
            if (b->fd >= 0)
                close(b->fd);
        }
    free(d->owned);
    free(d->input);
    free(d->target);
    memset(d, 0, sizeof *d);
}

void mn_data_release(const mn_dataset *d, const void *p, size_t bytes)
{
    if (d == NULL || d->owned == NULL)
        return;
    const char *lo = p, *hi = lo + bytes;
    for (const owned_block *b = d->owned; b->p != NULL; b++) {
        const char *mlo = b->map, *mhi = mlo + b->map_len;
        if (b->map && lo >= mlo && hi <= mhi)
            release_pages(p, bytes);
    }
}

void mn_data_gather(const mn_dataset *d, const void *array, size_t bytes, const int32_t *rows, int n, void *dst)
{
    const char *base = array;
    char *out = dst;
    const owned_block *in_file = NULL;
    for (const owned_block *b = d && d->owned ? d->owned : NULL; b && b->p != NULL && !in_file; b++)
        if (b->map && b->fd >= 0 && base >= (const char *)b->map && base < (const char *)b->map + b->map_len)
            in_file = b;
    for (int j = 0; j < n; j++) {
        size_t at = (size_t)rows[j] * bytes;
        if (in_file) {
            off_t off = (off_t)(in_file->file_offset + (size_t)(base - (const char *)in_file->p) + at);
            if (pread(in_file->fd, out + (size_t)j * bytes, bytes, off) == (ssize_t)bytes)
                continue; /* else (the file changed under us) through the mapping */
        }
        memcpy(out + (size_t)j * bytes, base + at, bytes);
    }
}
