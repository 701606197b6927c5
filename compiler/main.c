/* main.c — the mnc command: options, then the passes as a flat list.
 *
 * Exit status: 0 success (warnings allowed), 1 the model has errors,
 * 2 usage or I/O errors. Output files are written to temporaries and
 * renamed into place only when everything succeeded: never a partial file.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir.h"

static const char usage_text[] =
    "usage: mnc FILE.mn [options]\n"
    "\n"
    "Compiles a model written in the .mn language to C99 that trains and infers.\n"
    "\n"
    "options:\n"
    "  -o FILE.c         write the model's C source here (default: the model\n"
    "                    file's name with .c, in the current directory)\n"
    "  -H FILE.h         write the header here (default: -o's path with .h)\n"
    "  --check           report errors and warnings only; write nothing\n"
    "  --emit=c          emit C (the default)\n"
    "  --emit=ir         print the optimised IR to standard output\n"
    "  --emit=summary    print a Keras-style table of the layers: output shapes,\n"
    "                    parameter counts (Keras's), connections, totals, and the\n"
    "                    bytes of the weights and of the arena (to standard\n"
    "                    output, or to -o FILE)\n"
    "  --emit=dot        print the model as a Graphviz graph, one node per layer,\n"
    "                    edges labelled with shapes (to standard output, or to\n"
    "                    -o FILE): mnc M.mn --emit=dot | dot -Tpng -o M.png\n"
    "  --emit=trainer    write a C program that trains, checkpoints, evaluates and\n"
    "                    predicts with the model on CSV or NumPy data (-o, default\n"
    "                    train_MODEL.c; it includes the model's header: -H names\n"
    "                    it, default MODEL.h): docs/trainer.md\n"
    "                    (--emit KIND is the same as --emit=KIND)\n"
    "  --prefix NAME     prefix of every generated C symbol (default: the model's name)\n"
    "  --dtype f32|f64   the float type of the generated code (default f32; f64\n"
    "                    for gradient checking)\n"
    "  --batch N         the largest batch of the generated calls (default: the\n"
    "                    train block's batch)\n"
    "  --dump=PASS       print the IR after PASS to standard output and stop,\n"
    "                    writing nothing (-d PASS, --dump PASS); PASS: lower, check,\n"
    "                    fuse_logits, autodiff, fuse_linear, plan (with the\n"
    "                    weights' and arena offsets and the schedules), or all\n"
    "                    (each pass under a ';; after PASS' line); may be repeated\n"
    "  --help            this text\n"
    "  --version         mnc's version\n"
    "\n"
    "environment: MNC_VERIFY=1 checks the IR's invariants after every pass and\n"
    "the memory plan's after plan (an internal error aborts)\n"
    "\n"
    "exit status: 0 success, 1 the model has errors, 2 usage or I/O error\n";

typedef struct Options {
    const char *input, *c_path, *h_path, *prefix;
    int check_only, f64;
    EmitKind emit;
    int emit_given;
    int batch;     /* 0: the train block's */
    unsigned dump; /* --dump: a bit per Pass */
} Options;

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "mnc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run 'mnc --help' for the options)\n");
    return 2;
}

static int is_identifier(const char *s) {
    if (!*s || (*s >= '0' && *s <= '9')) return 0;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* --dump's value: the bits of the passes, or 0 (reported) when unknown. */
static unsigned dump_passes(const char *v) {
    if (v && !strcmp(v, "all")) return DUMP_ALL;
    for (int p = 0; v && p < PASS_COUNT; p++)
        if (!strcmp(v, pass_names[p])) return 1u << p;
    Buf list = {0};
    for (int p = 0; p < PASS_COUNT; p++) buf_printf(&list, "%s, ", pass_names[p]);
    buf_puts(&list, "or all");
    if (!v || !strcmp(v, "list")) usage_error("--dump takes a pass: %s", list.data);
    else usage_error("%s", xsprintf("unknown pass '%s' for --dump; the passes: %s", v, list.data));
    return 0;
}

/* Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, Options *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("mnc %s\n", MNC_VERSION);
            return 0;
        }
        if (!strcmp(a, "--check")) o->check_only = 1;
        else if (!strcmp(a, "--emit") || !strncmp(a, "--emit=", 7)) {
            static const char *const kinds[] = {[EMIT_C] = "c", [EMIT_IR] = "ir", [EMIT_SUMMARY] = "summary",
                                                [EMIT_DOT] = "dot", [EMIT_TRAINER] = "trainer"};
            const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) return usage_error("%s needs a value: c, ir, summary, dot or trainer", a);
            int k = 0;
            while (k < 5 && strcmp(v, kinds[k])) k++;
            if (k == 5) return usage_error("unknown --emit kind '%s' (c, ir, summary, dot or trainer)", v);
            o->emit = (EmitKind)k;
            o->emit_given = 1;
        } else if (!strcmp(a, "--dump") || !strcmp(a, "-d") || !strncmp(a, "--dump=", 7)) {
            const char *v = a[1] == '-' && a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            unsigned bits = dump_passes(v);
            if (!bits) return 2;
            o->dump |= bits;
        } else if (!strcmp(a, "--dtype") || !strncmp(a, "--dtype=", 8)) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) return usage_error("%s needs a value: f32 or f64", a);
            if (!strcmp(v, "f32")) o->f64 = 0;
            else if (!strcmp(v, "f64")) o->f64 = 1;
            else return usage_error("unknown --dtype '%s' (f32 or f64)", v);
        } else if (!strcmp(a, "--batch") || !strncmp(a, "--batch=", 8)) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            char *end = NULL;
            long b = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || b < 1 || b > 1000000) return usage_error("--batch needs a positive integer, not '%s'", v ? v : "");
            o->batch = (int)b;
        } else if (!strcmp(a, "-o") || !strcmp(a, "-H") || !strcmp(a, "--prefix")) {
            if (i + 1 >= argc) return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-o")) o->c_path = v;
            else if (!strcmp(a, "-H")) o->h_path = v;
            else {
                if (!is_identifier(v) || is_c_keyword(v))
                    return usage_error("--prefix '%s' is not a C identifier (or is a C keyword)", v);
                o->prefix = v;
            }
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (o->input) {
            return usage_error("one model file at a time (also given: '%s')", a);
        } else {
            o->input = a;
        }
    }
    if (!o->input) return usage_error("%s", "no input file");
    if (o->dump && (o->check_only || o->emit_given || o->c_path || o->h_path))
        return usage_error("%s", "--dump prints the IR and writes nothing: not with --check, --emit, -o or -H");
    return -1;
}

/* "dir/model.mn" -> "model" + ext */
static char *replace_ext(const char *path, const char *ext) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot ? (size_t)(dot - base) : strlen(base);
    return xsprintf("%.*s%s", (int)len, base, ext);
}

static char *with_ext(const char *path, const char *ext) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    size_t len = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    return xsprintf("%.*s%s", (int)len, path, ext);
}

/* Writes `b` to a temporary beside `path`; returns its name or NULL. */
static char *write_temp(const char *path, const Buf *b) {
    char *tmp = xsprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        error_plain("cannot create '%s': %s", path, strerror(errno));
        return NULL;
    }
    /* mkstemp makes the file 0600; an output file gets what any other
     * would: 0666 less the umask */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "w");
    int ok = f && fwrite(b->data ? b->data : "", 1, b->len, f) == b->len;
    if (f) ok &= fclose(f) == 0;
    else close(fd);
    if (!ok) {
        error_plain("cannot write '%s': %s", path, strerror(errno));
        remove(tmp);
        return NULL;
    }
    return tmp;
}

static int write_outputs(const char *c_path, const Buf *c, const char *h_path, const Buf *h) {
    char *ct = write_temp(c_path, c);
    if (!ct) return 2;
    char *ht = write_temp(h_path, h);
    if (!ht) {
        remove(ct);
        return 2;
    }
    if (rename(ht, h_path) || rename(ct, c_path)) {
        error_plain("cannot write '%s': %s", c_path, strerror(errno));
        remove(ct);
        remove(ht);
        return 2;
    }
    return 0;
}

/* Writes one file whole (a temporary renamed into place), or nothing. */
static int write_output(const char *path, const Buf *b) {
    char *tmp = write_temp(path, b);
    if (!tmp) return 2;
    if (rename(tmp, path)) {
        error_plain("cannot write '%s': %s", path, strerror(errno));
        remove(tmp);
        return 2;
    }
    return 0;
}

static int run(int argc, char **argv) {
    Options o = {0};
    int status = parse_options(argc, argv, &o);
    if (status >= 0) return status;

    size_t len;
    char *text = read_file(o.input, &len);
    if (!text) {
        if (errno == EFBIG)
            error_plain("cannot read '%s': larger than %ld bytes (16 MiB), the largest .mn file mnc reads", o.input,
                        MN_MAX_SOURCE_BYTES);
        else
            error_plain("cannot read '%s': %s", o.input, strerror(errno));
        return 2;
    }
    if (strlen(text) != len) {
        error_plain("'%s' contains a NUL byte: not a .mn text file", o.input);
        return 2;
    }
    CompileOptions co = {.emit = o.emit, .check_only = o.check_only, .f64 = o.f64, .batch = o.batch, .dump = o.dump};
#ifdef MNC_DEBUG
    co.verify = 1; /* a debug build checks the IR after every pass */
#else
    const char *verify = getenv("MNC_VERIFY");
    co.verify = verify && *verify && strcmp(verify, "0");
#endif
    co.eo.prefix = o.prefix;
    const char *c_path = NULL, *h_path = NULL;
    if (o.emit == EMIT_TRAINER) { /* one file, which includes the model's header */
        h_path = o.h_path ? o.h_path : replace_ext(o.input, ".h");
        c_path = o.c_path ? o.c_path : xsprintf("train_%s", replace_ext(o.input, ".c"));
    } else if (o.emit == EMIT_C) {
        c_path = o.c_path ? o.c_path : replace_ext(o.input, ".c");
        h_path = o.h_path ? o.h_path : with_ext(c_path, ".h");
    }
    if (h_path) {
        const char *slash = strrchr(h_path, '/');
        co.eo.header_name = slash ? slash + 1 : h_path;
    }
    Buf out = {0}, header = {0};
    status = compile_model(o.input, text, &co, &out, &header);
    if (status == COMPILE_PREFIX_MAIN)
        return usage_error("%s", "the trainer's prefix cannot be 'main' (the program's main); give --prefix");
    if (status || o.check_only) return status;
    if (o.dump) {
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
        return fflush(stdout) ? 2 : 0;
    }
    if (o.emit == EMIT_C) return write_outputs(c_path, &out, h_path, &header);
    if (o.emit == EMIT_TRAINER || (o.emit != EMIT_IR && o.c_path)) return write_output(c_path ? c_path : o.c_path, &out);
    fwrite(out.data, 1, out.len, stdout);
    return fflush(stdout) ? 2 : 0;
}

/* The compiler runs on a thread of its own with a stack of MNC_STACK_BYTES
 * (reserved, touched only as deep as it goes), whatever `ulimit -s` says:
 * lowering recurses once per level of nesting, up to MN_MAX_NESTING, and a
 * sanitizer build needs about 3 KB a level. */
#define MNC_STACK_BYTES ((size_t)256 << 20)

typedef struct RunArgs {
    int argc;
    char **argv;
    int status;
} RunArgs;

static void *run_thread(void *p) {
    RunArgs *a = p;
    a->status = run(a->argc, a->argv);
    return NULL;
}

int main(int argc, char **argv) {
    RunArgs a = {argc, argv, 2};
    pthread_attr_t attr;
    pthread_t t;
    int threaded = pthread_attr_init(&attr) == 0;
    if (threaded) {
        threaded = pthread_attr_setstacksize(&attr, MNC_STACK_BYTES) == 0 && pthread_create(&t, &attr, run_thread, &a) == 0;
        pthread_attr_destroy(&attr);
    }
    if (threaded) pthread_join(t, NULL);
    else a.status = run(argc, argv); /* no thread to be had: the process's own stack */
    mnc_free_all();
    return a.status;
}
