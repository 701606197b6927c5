/* driver.c — the passes as a flat list: from the text of a .mn file to the
 * generated text, in memory. main.c reads the file and writes the
 * results; the fuzzing harness (tests/fuzz/fuzz_compile.c) calls this on
 * arbitrary bytes. Every pass may report errors; the first pass that does
 * ends the list. After each pass that succeeded, `after` verifies the
 * graph (o->verify: MNC_VERIFY) and prints it (o->dump: --dump).
 */
#include <string.h>

#include "ir.h"

const char *const pass_names[PASS_COUNT] = {
    [PASS_LOWER] = "lower",       [PASS_CHECK] = "check",             [PASS_FUSE_LOGITS] = "fuse_logits",
    [PASS_AUTODIFF] = "autodiff", [PASS_FUSE_LINEAR] = "fuse_linear", [PASS_PLAN] = "plan",
};

enum { GO_ON = -1 };

/* After pass p: 1 if it reported errors; 0 when the dump asked for is
 * complete (stop there); GO_ON otherwise. */
static int after(Pass p, Graph *g, const CompileOptions *o, Buf *out) {
    if (diag_error_count()) return 1;
    if (o->verify) {
        ir_verify(g);
        if (p == PASS_PLAN) plan_verify(g);
    }
    unsigned bit = 1u << p;
    if (o->dump & bit) {
        if (o->dump & ~bit) buf_printf(out, "%s;; after %s\n", o->dump & (bit - 1) ? "\n" : "", pass_names[p]);
        ir_print(out, g);
        if (p == PASS_PLAN) plan_print(out, g);
    }
    return o->dump && !(o->dump >> (p + 1)) ? 0 : GO_ON;
}

int compile_model(const char *path, const char *text, const CompileOptions *o, Buf *out, Buf *header) {
    diag_set_source(path, text);

    Program *prog = parse_program(path, text);
    if (diag_error_count()) return 1;
    int status;
    Graph *g = lower_program(prog, path);
    if ((status = after(PASS_LOWER, g, o, out)) != GO_ON) return status;
    check_graph(g);
    if ((status = after(PASS_CHECK, g, o, out)) != GO_ON) return status;
    if (o->check_only) return 0;
    /* --emit=summary and dot read the layers off the graph before any rewrite */
    ModelView *view = o->emit == EMIT_SUMMARY || o->emit == EMIT_DOT ? model_view(prog, g) : NULL;

    g->f64 = o->f64;
    if (o->batch) g->train.batch = o->batch;
    fuse_logits(g);
    if ((status = after(PASS_FUSE_LOGITS, g, o, out)) != GO_ON) return status;
    autodiff(g);
    if ((status = after(PASS_AUTODIFF, g, o, out)) != GO_ON) return status;
    fuse_linear(g);
    if ((status = after(PASS_FUSE_LINEAR, g, o, out)) != GO_ON) return status;
    plan_memory(g);
    /* errors here: a model too large for the limits (mnc.h) */
    if ((status = after(PASS_PLAN, g, o, out)) != GO_ON) return status;

    switch (o->emit) {
    case EMIT_TRAINER: /* one file, which includes the model's header */
        if (!strcmp(o->eo.prefix ? o->eo.prefix : g->model_name, "main")) return COMPILE_PREFIX_MAIN;
        emit_trainer(g, &o->eo, out);
        return 0;
    case EMIT_IR: ir_print(out, g); return 0;
    case EMIT_SUMMARY: summary_print(out, view, g); return 0;
    case EMIT_DOT: dot_print(out, view); return 0;
    case EMIT_C: emit_c(g, &o->eo, out, header); return 0;
    }
    unreachable();
}
