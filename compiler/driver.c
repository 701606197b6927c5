/* driver.c — the passes as a flat list: from the text of a .mn file to the
 * generated text, in memory. main.c reads the file and writes the
 * results; the fuzzing harness (tests/fuzz/fuzz_compile.c) calls this on
 * arbitrary bytes. Every pass may report errors; the first pass that does
 * ends the list.
 */
#include <string.h>

#include "ir.h"

int compile_model(const char *path, const char *text, const CompileOptions *o, Buf *out, Buf *header) {
    diag_set_source(path, text);

    Program *prog = parse_program(path, text);
    if (diag_error_count()) return 1;
    Graph *g = lower_program(prog, path);
    if (diag_error_count()) return 1;
    check_graph(g);
    if (diag_error_count()) return 1;
    if (o->check_only) return 0;
    /* --emit=summary and dot read the layers off the graph before any rewrite */
    ModelView *view = o->emit == EMIT_SUMMARY || o->emit == EMIT_DOT ? model_view(prog, g) : NULL;

    g->f64 = o->f64;
    if (o->batch) g->train.batch = o->batch;
    fuse_logits(g);
    autodiff(g);
    fuse_linear(g);
    plan_memory(g);
    if (diag_error_count()) return 1; /* a model too large for the limits (mnc.h) */

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
