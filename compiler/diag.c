/* diag.c — diagnostics in the GNU form, quoting the source line:
 *
 *   model.mn:9:13: error: message text
 *       9 | x2 = shared(input_2)
 *         |             ^~~~~~~
 *
 * One source file per run; its text is kept (not copied) so that every
 * message can quote its line. The counts are plain globals: this is the
 * compiler, one run per process.
 */
#include "mnc.h"

#include <string.h>

static const char *source_path;
static const char *source_text;
static const char **line_starts;   /* line_starts[i]: start of line i+1 */
static int line_count;
static FILE *diag_stream;
static int error_count, warning_count;
static int note_muted;   /* the error or warning that notes complete was not shown */

/* Remembers the file being compiled and indexes the starts of its lines. */
void diag_set_source(const char *path, const char *text) {
    source_path = path ? xstrdup(path) : NULL;
    source_text = text;
    line_starts = NULL;
    line_count = 0;
    if (!text)
        return;
    int n = 1;
    for (const char *p = text; *p; p++)
        if (*p == '\n')
            n++;
    line_starts = xalloc(sizeof(*line_starts) * (size_t)n);
    line_starts[0] = text;
    line_count = 1;
    for (const char *p = text; *p; p++)
        if (*p == '\n')
            line_starts[line_count++] = p + 1;
}

/* Sends messages to `out` instead of stderr (NULL restores stderr). */
void diag_set_stream(FILE *out) {
    diag_stream = out;
}

/* The path given to diag_set_source, or NULL. */
const char *diag_path(void) {
    return source_path;
}

/* Line `line` (1-based) of the source without its newline (nor a '\r'
 * before it); NULL when there is no such line. */
const char *diag_line_text(int line, int *len) {
    if (!source_text || line < 1 || line > line_count)
        return NULL;
    const char *start = line_starts[line - 1];
    const char *end = strchr(start, '\n');
    if (!end)
        end = start + strlen(start);
    if (end > start && end[-1] == '\r')
        end--;
    if (len)
        *len = (int)(end - start);
    return start;
}

int diag_error_count(void) { return error_count; }
int diag_warning_count(void) { return warning_count; }

/* Forgets the errors and warnings counted so far (tests, several files). */
void diag_reset_counts(void) {
    error_count = 0;
    warning_count = 0;
    note_muted = 0;
}

/* The stream messages go to. */
static FILE *out_stream(void) {
    return diag_stream ? diag_stream : stderr;
}

/* Prints the quoted source line and the caret line under loc's span:
 *       9 | x2 = shared(input_2)
 *         |             ^~~~~~~
 * A span over several lines is underlined to the end of its first line;
 * tabs before the column are copied so the caret lines up. */
static void print_source_line(FILE *out, Loc loc) {
    int len;
    const char *text = diag_line_text(loc.line, &len);
    if (!text)
        return;
    int col = loc.col < 1 ? 1 : loc.col;
    int last = loc.end_line == loc.line ? loc.end_col : len;
    if (loc.end_line > loc.line && last < col)
        last = col;   /* the span starts at the line's end (a newline) */
    /* A long line (a generated chain) is quoted as a window of
     * QUOTE_WIDTH columns around the caret, "..." marking the cuts. */
    enum { QUOTE_WIDTH = 160 };
    int from = 1, to = len; /* the columns shown */
    if (len > QUOTE_WIDTH) {
        from = col - QUOTE_WIDTH / 2 > 1 ? col - QUOTE_WIDTH / 2 : 1;
        to = from + QUOTE_WIDTH - 1 < len ? from + QUOTE_WIDTH - 1 : len;
        if (last > to)
            last = to;
    }
    const char *cut_l = from > 1 ? "..." : "", *cut_r = to < len ? "..." : "";
    fprintf(out, "%5d | %s%.*s%s\n", loc.line, cut_l, to >= from ? to - from + 1 : 0, text + from - 1, cut_r);
    fprintf(out, "      | %s", from > 1 ? "   " : "");
    for (int i = from; i < col; i++)
        fputc(i <= len && text[i - 1] == '\t' ? '\t' : ' ', out);
    fputc('^', out);
    for (int i = col + 1; i <= last; i++)
        fputc('~', out);
    fputc('\n', out);
}

/* The common body of error_at, warning_at and note_at. */
static void report(Loc loc, const char *kind, const char *fmt, va_list ap) {
    FILE *out = out_stream();
    const char *path = source_path ? source_path : "<input>";
    if (loc.line > 0)
        fprintf(out, "%s:%d:%d: %s: ", path, loc.line, loc.col, kind);
    else
        fprintf(out, "%s: %s: ", path, kind);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    if (loc.line > 0)
        print_source_line(out, loc);
}

/* Past MN_MAX_ERRORS_SHOWN errors the rest are counted, not shown (with
 * their notes and any later warning): one line says so. */
static int muted(void) {
    if (error_count < MN_MAX_ERRORS_SHOWN)
        return 0;
    if (error_count == MN_MAX_ERRORS_SHOWN)
        fprintf(out_stream(), "mnc: error: too many errors (%d shown); the rest are not shown\n",
                MN_MAX_ERRORS_SHOWN);
    return 1;
}

/* An error at a place in the source; counted. */
void error_at(Loc loc, const char *fmt, ...) {
    if (!muted()) {
        va_list ap;
        va_start(ap, fmt);
        report(loc, "error", fmt, ap);
        va_end(ap);
        note_muted = 0;
    } else {
        note_muted = 1;
    }
    error_count++;
}

/* A warning at a place in the source; counted. */
void warning_at(Loc loc, const char *fmt, ...) {
    note_muted = error_count >= MN_MAX_ERRORS_SHOWN;
    if (!note_muted) {
        va_list ap;
        va_start(ap, fmt);
        report(loc, "warning", fmt, ap);
        va_end(ap);
    }
    warning_count++;
}

/* A note completing the previous error or warning; not counted. */
void note_at(Loc loc, const char *fmt, ...) {
    if (note_muted)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(loc, "note", fmt, ap);
    va_end(ap);
}

/* An error with no place in the source: `mnc: error: msg`; counted. */
void error_plain(const char *fmt, ...) {
    if (!muted()) {
        FILE *out = out_stream();
        va_list ap;
        va_start(ap, fmt);
        fprintf(out, "mnc: error: ");
        vfprintf(out, fmt, ap);
        fputc('\n', out);
        va_end(ap);
    }
    error_count++;
}
