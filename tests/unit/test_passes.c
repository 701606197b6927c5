/* test_passes.c — the passes over the IR, driven through the real pipeline
 * (parse -> lower -> check -> fuse_logits -> autodiff -> fuse_linear -> plan):
 * lowering and shape-checker diagnostics compared in full (with their
 * source and caret lines), warnings, autodiff's backward graph, the fusions,
 * the memory planner's invariants (checked against lifetimes recomputed
 * here), and determinism.
 *
 * Bugs this suite found are kept as regression tests at the end. */
#define _POSIX_C_SOURCE 200809L

#include "ir.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"

typedef enum Stage { UPTO_CHECK, UPTO_LOGITS, UPTO_AUTODIFF, UPTO_ALL } Stage;

typedef struct Compiled {
    Graph *g;            /* NULL when parsing failed */
    const char *diags;   /* everything printed */
    int errors, warnings;
} Compiled;

/* Compiles `text` as t.mn the way main.c does (stopping at the first stage
 * with errors), up to `stage`. */
static Compiled compile_upto(const char *text, Stage stage) {
    Compiled c = {0};
    capture_begin();
    diag_set_source("t.mn", text);
    Program *p = parse_program("t.mn", text);
    if (!diag_error_count()) {
        c.g = lower_program(p, "t.mn");
        if (!diag_error_count()) check_graph(c.g);
        if (!diag_error_count() && stage >= UPTO_LOGITS) fuse_logits(c.g);
        if (!diag_error_count() && stage >= UPTO_AUTODIFF) autodiff(c.g);
        if (!diag_error_count() && stage >= UPTO_ALL) {
            fuse_linear(c.g);
            plan_memory(c.g);
        }
    }
    c.errors = diag_error_count();
    c.warnings = diag_warning_count();
    c.diags = capture_end();
    return c;
}

static Compiled compile(const char *text) { return compile_upto(text, UPTO_ALL); }

/* The messages for `text`, in full, and the counts. */
#define CHECK_DIAGS(text, expected, nerr, nwarn)                                   \
    do {                                                                           \
        Compiled c_ = compile(text);                                               \
        CU_ASSERT_STRING_EQUAL(c_.diags, (expected));                              \
        CU_ASSERT_EQUAL(c_.errors, (nerr));                                        \
        CU_ASSERT_EQUAL(c_.warnings, (nwarn));                                     \
        if (strcmp(c_.diags, (expected)) != 0 || c_.errors != (nerr) ||            \
            c_.warnings != (nwarn))                                                \
            fprintf(stderr, "\n--- got (%d errors, %d warnings):\n%s--- expected:\n%s", \
                    c_.errors, c_.warnings, c_.diags, (expected));                 \
    } while (0)

/* A correct model: nothing printed. */
static Graph *compile_ok(const char *text) {
    Compiled c = compile(text);
    CU_ASSERT_STRING_EQUAL(c.diags, "");
    CU_ASSERT_EQUAL(c.errors, 0);
    if (*c.diags) fprintf(stderr, "\n%s", c.diags);
    return c.g;
}

static const char *ir_text(const Graph *g) {
    Buf b = {0};
    buf_puts(&b, "");
    ir_print(&b, g);
    return b.data;
}

/* ---- graph helpers ------------------------------------------------------- */

static int find_named(const Graph *g, Op op, const char *name) {
    for (int v = 0; v < g->nnodes; v++)
        if (g->nodes[v].op == op && g->nodes[v].name && !strcmp(g->nodes[v].name, name)) return v;
    return -1;
}

static int count_op(const Graph *g, Op op) {
    int n = 0;
    for (int v = 0; v < g->nnodes; v++) n += g->nodes[v].op == op;
    return n;
}

/* The gradients of the unary.def op `of` (UNARY_GRAD nodes of it). */
static int count_unary_grad(const Graph *g, Op of) {
    int n = 0;
    for (int v = 0; v < g->nnodes; v++) n += g->nodes[v].op == OP_UNARY_GRAD && g->nodes[v].loss == of;
    return n;
}

static int param_index(const Graph *g, const char *name) {
    for (int i = 0; i < g->nparams; i++)
        if (!strcmp(g->nodes[g->params[i]].name, name)) return i;
    return -1;
}

static int grad_of(const Graph *g, const char *param) {
    int i = param_index(g, param);
    CU_ASSERT_FATAL(i >= 0);
    return g->param_grad[i];
}

/* reach[v]: v is an ancestor of (or is) one of the roots. */
static char *ancestors_of(const Graph *g, const int *roots, int n) {
    char *reach = xalloc((size_t)g->nnodes + 1);
    for (int i = 0; i < n; i++)
        if (roots[i] >= 0) reach[roots[i]] = 1;
    for (int v = g->nnodes - 1; v >= 0; v--)
        if (reach[v])
            for (int i = 0; i < g->nodes[v].nin; i++) reach[g->nodes[v].in[i]] = 1;
    return reach;
}

static const char *const two_concat =
    "model two_concat\n"
    "\n"
    "input  input_1 : float[10]\n"
    "input  input_2 : float[5]\n"
    "target label   : float[1]\n"
    "\n"
    "a = input_1 -> dense(64, activation=relu)\n"
    "b = input_2 -> dense(32, activation=relu)\n"
    "y = concat(a, b) -> dense(1, activation=sigmoid)\n"
    "\n"
    "output y\n"
    "loss   bce(y, label)\n"
    "metric accuracy(y, label)\n"
    "train  { optimizer = adam(lr=1e-3), batch = 32, epochs = 10, seed = 42 }\n";

/* Shared preamble of the diagnostic tests: lines 1-4. */
#define HEAD "model m\ninput x : float[10]\ninput z : float[5]\ntarget t : float[1]\n"
#define TAIL "output y\nloss bce(y, t)\n"

/* ---- merges and shape errors ------------------------------------------------ */

static void test_merge_add(void) {
    CHECK_DIAGS(HEAD "y = add(x, z) -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:5:5: error: add: all inputs must have the same shape, but 'x' [n, 10] and 'z' [n, 5] differ\n"
                "    5 | y = add(x, z) -> dense(1, activation=sigmoid)\n"
                "      |     ^~~~~~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : float[10]\n"
                "      | ^~~~~~~~~~~~~~~~~~~\n"
                "t.mn:3:1: note: 'z' defined here\n"
                "    3 | input z : float[5]\n"
                "      | ^~~~~~~~~~~~~~~~~~\n",
                1, 0);
}

static void test_merge_multiply(void) {
    CHECK_DIAGS(HEAD "y = multiply(x, z) -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:5:5: error: multiply: all inputs must have the same shape, but 'x' [n, 10] and 'z' [n, 5] differ\n"
                "    5 | y = multiply(x, z) -> dense(1, activation=sigmoid)\n"
                "      |     ^~~~~~~~~~~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : float[10]\n"
                "      | ^~~~~~~~~~~~~~~~~~~\n"
                "t.mn:3:1: note: 'z' defined here\n"
                "    3 | input z : float[5]\n"
                "      | ^~~~~~~~~~~~~~~~~~\n",
                1, 0);
}

/* Keras merges do not broadcast, even when NumPy would: [n, 1] vs [n, 5]. */
static void test_merge_no_broadcast(void) {
    CHECK_DIAGS("model m\ninput x : float[1]\ninput z : float[5]\ntarget t : float[1]\n"
                "y = average(x, z) -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:5:5: error: average: all inputs must have the same shape, but 'x' [n, 1] and 'z' [n, 5] differ\n"
                "    5 | y = average(x, z) -> dense(1, activation=sigmoid)\n"
                "      |     ^~~~~~~~~~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : float[1]\n"
                "      | ^~~~~~~~~~~~~~~~~~\n"
                "t.mn:3:1: note: 'z' defined here\n"
                "    3 | input z : float[5]\n"
                "      | ^~~~~~~~~~~~~~~~~~\n",
                1, 0);
}

static void test_binary_plus_broadcast_error(void) {
    CHECK_DIAGS(HEAD "y = (x + z) -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:5:6: error: add: cannot broadcast 'x' [n, 10] with 'z' [n, 5]\n"
                "    5 | y = (x + z) -> dense(1, activation=sigmoid)\n"
                "      |      ^~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : float[10]\n"
                "      | ^~~~~~~~~~~~~~~~~~~\n"
                "t.mn:3:1: note: 'z' defined here\n"
                "    3 | input z : float[5]\n"
                "      | ^~~~~~~~~~~~~~~~~~\n",
                1, 0);
}

static void test_concat_mismatch(void) {
    /* The axis as Keras counts it: the default axis=-1 of [n, 4, 10] is 2. */
    CHECK_DIAGS("model m\ninput x : float[4, 10]\ninput z : float[5, 3]\ntarget t : float[1]\n"
                "y = concat(x, z) -> flatten -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:5:5: error: concat along axis 2: 'x' [n, 4, 10] and 'z' [n, 5, 3] differ in a dimension other than that axis\n"
                "    5 | y = concat(x, z) -> flatten -> dense(1, activation=sigmoid)\n"
                "      |     ^~~~~~~~~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : float[4, 10]\n"
                "      | ^~~~~~~~~~~~~~~~~~~~~~\n"
                "t.mn:3:1: note: 'z' defined here\n"
                "    3 | input z : float[5, 3]\n"
                "      | ^~~~~~~~~~~~~~~~~~~~~\n",
                1, 0);
}

/* Mismatching last axis is fine when concatenating along it. */
static void test_concat_ok_shape(void) {
    Graph *g = compile_ok("model m\ninput x : float[4, 10]\ninput z : float[4, 3]\ntarget t : float[1]\n"
                          "c = concat(x, z)\ny = c -> flatten -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    int c = find_named(g, OP_CONCAT, "c");
    CU_ASSERT_FATAL(c >= 0);
    CU_ASSERT_EQUAL(g->nodes[c].axis, 1);
    CU_ASSERT_STRING_EQUAL(shape_str(&g->nodes[c].shape), "[n, 4, 13]");
}

static void test_shared_layer_widths(void) {
    CHECK_DIAGS(HEAD "layer shared = dense(8, activation=relu)\n"
                     "a = shared(x)\n"
                     "b = shared(z)\n"
                     "y = concat(a, b) -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:7:5: error: layer 'shared' (dense, kernel [10, 8]) applied to an input of width 5; it was first applied to width 10\n"
                "    7 | b = shared(z)\n"
                "      |     ^~~~~~~~~\n"
                "t.mn:6:5: note: 'shared' first applied here, to width 10\n"
                "    6 | a = shared(x)\n"
                "      |     ^~~~~~~~~\n",
                1, 0);
    /* the same through the chain form */
    CHECK_DIAGS(HEAD "layer shared = dense(8, activation=relu)\n"
                     "a = x -> shared\n"
                     "b = z -> shared\n"
                     "y = concat(a, b) -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:7:5: error: layer 'shared' (dense, kernel [10, 8]) applied to an input of width 5; it was first applied to width 10\n"
                "    7 | b = z -> shared\n"
                "      |     ^~~~~~~~~~~\n"
                "t.mn:6:5: note: 'shared' first applied here, to width 10\n"
                "    6 | a = x -> shared\n"
                "      |     ^~~~~~~~~~~\n",
                1, 0);
}

static void test_int_where_float_needed(void) {
    CHECK_DIAGS("model m\ninput x : int[10]\ntarget t : float[1]\n"
                "y = x -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:5: error: dense needs float values, but 'x' [n, 10] is int; convert it with cast(x, float)\n"
                "    4 | y = x -> dense(1, activation=sigmoid)\n"
                "      |     ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n",
                1, 0);
    CHECK_DIAGS("model m\ninput x : int[10]\ntarget t : float[1]\n"
                "h = x + 1\ny = h -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:5: error: add needs float values, but 'x' [n, 10] is int; convert it with cast(x, float)\n"
                "    4 | h = x + 1\n"
                "      |     ^~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : int[10]\n"
                "      | ^~~~~~~~~~~~~~~~~\n",
                1, 0);
    /* cast(x, float) is the cure */
    Graph *g = compile_ok("model m\ninput x : int[10]\ntarget t : float[1]\n"
                          "h = cast(x, float) + 1\ny = h -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(count_op(g, OP_CAST), 1);
}

static void test_unknown_function(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = x -> dens(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:10: error: unknown layer or function 'dens'; did you mean 'dense'?\n"
                "    4 | y = x -> dens(1, activation=sigmoid)\n"
                "      |          ^~~~\n",
                1, 0);
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = sigmod(x)\n" TAIL,
                "t.mn:4:5: error: unknown layer or function 'sigmod'; did you mean 'sigmoid'?\n"
                "    4 | y = sigmod(x)\n"
                "      |     ^~~~~~\n",
                1, 0);
    /* far from every known name: no hint */
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = x -> frobnicate(1)\n" TAIL,
                "t.mn:4:10: error: unknown layer or function 'frobnicate'\n"
                "    4 | y = x -> frobnicate(1)\n"
                "      |          ^~~~~~~~~~\n",
                1, 0);
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "layer e2 = relu(4)\ny = x -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:12: error: 'relu' is a function, not a layer; a named layer is dense(...), embedding(...), conv2d(...), conv1d(...), lstm(...), bidirectional(...), layernorm(...), batchnorm(...) or gru(...)\n"
                "    4 | layer e2 = relu(4)\n"
                "      |            ^~~~~~~\n",
                1, 0);
}

static void test_unknown_argument(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = x -> dense(1, activaton=sigmoid)\n" TAIL,
                "t.mn:4:19: error: dense has no argument 'activaton'; did you mean 'activation'?\n"
                "    4 | y = x -> dense(1, activaton=sigmoid)\n"
                "      |                   ^~~~~~~~~\n",
                1, 0);
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = x -> dense(1, activation=sigmod)\n" TAIL,
                "t.mn:4:30: error: dense: unknown activation 'sigmod'; expected linear, relu, sigmoid, tanh, gelu or softmax; did you mean 'sigmoid'?\n"
                "    4 | y = x -> dense(1, activation=sigmod)\n"
                "      |                              ^~~~~~\n",
                1, 0);
}

static void test_missing_argument(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = x -> dense(activation=relu)\n" TAIL,
                "t.mn:4:10: error: dense: missing argument 'units'\n"
                "    4 | y = x -> dense(activation=relu)\n"
                "      |          ^~~~~~~~~~~~~~~~~~~~~~\n",
                1, 0);
}

static void test_used_before_definition(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "h = g -> dense(4)\n"
                "g = x -> dense(4)\n"
                "y = h -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:5: error: 'g' is used before its definition\n"
                "    4 | h = g -> dense(4)\n"
                "      |     ^\n"
                "t.mn:5:1: note: 'g' is defined here\n"
                "    5 | g = x -> dense(4)\n"
                "      | ^\n",
                1, 0);
}

static void test_undefined_name(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = xx -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:5: error: undefined name 'xx'; did you mean 'x'?\n"
                "    4 | y = xx -> dense(1, activation=sigmoid)\n"
                "      |     ^~\n",
                1, 0);
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = qqqq -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:5: error: undefined name 'qqqq'\n"
                "    4 | y = qqqq -> dense(1, activation=sigmoid)\n"
                "      |     ^~~~\n",
                1, 0);
}

static void test_defined_twice(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = x -> dense(1, activation=sigmoid)\n"
                "y = x -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:5:1: error: redefinition of 'y'\n"
                "    5 | y = x -> dense(1, activation=sigmoid)\n"
                "      | ^\n"
                "t.mn:4:1: note: 'y' first defined here\n"
                "    4 | y = x -> dense(1, activation=sigmoid)\n"
                "      | ^\n",
                1, 0);
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\ntarget x : float[1]\n"
                "y = x -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:8: error: redefinition of 'x'\n"
                "    4 | target x : float[1]\n"
                "      |        ^\n"
                "t.mn:2:7: note: 'x' first defined here\n"
                "    2 | input x : float[10]\n"
                "      |       ^\n",
                1, 0);
}

static void test_loss_not_scalar(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "y = x -> dense(1, activation=sigmoid)\noutput y\nloss y\n",
                "t.mn:6:6: error: the loss must be a scalar, but this is [n, 1]; losses such as bce(y, t) and penalties l2(w) give one\n"
                "    6 | loss y\n"
                "      |      ^\n",
                1, 0);
}

static void test_target_outside_loss(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "h = x * t\ny = x -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:9: error: target 't' is only available to 'loss' and 'metric'\n"
                "    4 | h = x * t\n"
                "      |         ^\n"
                "t.mn:3:8: note: 't' declared as a target here\n"
                "    3 | target t : float[1]\n"
                "      |        ^\n",
                1, 0);
}

static void test_cce_int_target(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : int[3]\n"
                "y = x -> dense(3, activation=softmax)\noutput y\nloss cce(y, t)\n",
                "t.mn:6:6: error: cce needs float targets, but 't' [n, 3] is int; for class ids use sparse_cce\n"
                "    6 | loss cce(y, t)\n"
                "      |      ^~~~~~~~~\n"
                "t.mn:3:1: note: 't' defined here\n"
                "    3 | target t : int[3]\n"
                "      | ^~~~~~~~~~~~~~~~~\n",
                1, 0);
}

static void test_sparse_cce_shape(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : int[2]\n"
                "y = x -> dense(3, activation=softmax)\noutput y\nloss sparse_cce(y, t)\n",
                "t.mn:6:6: error: sparse_cce: class ids 't' [n, 2] do not match the prediction 'y' [n, 3] "
                "(expected its shape without the last axis or that with a trailing 1)\n"
                "    6 | loss sparse_cce(y, t)\n"
                "      |      ^~~~~~~~~~~~~~~~\n"
                "t.mn:4:1: note: 'y' defined here\n"
                "    4 | y = x -> dense(3, activation=softmax)\n"
                "      | ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
                "t.mn:3:1: note: 't' defined here\n"
                "    3 | target t : int[2]\n"
                "      | ^~~~~~~~~~~~~~~~~\n",
                1, 0);
    /* both accepted forms of the ids: [n] is not declarable, [n, 1] is */
    Graph *g = compile_ok("model m\ninput x : float[10]\ntarget t : int[1]\n"
                          "y = x -> dense(3, activation=softmax)\noutput y\nloss sparse_cce(y, t)\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(count_op(g, OP_SPARSE_CCE_LOGITS), 1);
    CU_ASSERT_EQUAL(g->nodes[g->targets[0]].int_bound, 3);
}

static void test_reshape_size(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "r = reshape(x, [3, 4])\ny = r -> flatten -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:5: error: reshape: 'x' [n, 10] has 10 values per sample, the new shape [3, 4] has 12\n"
                "    4 | r = reshape(x, [3, 4])\n"
                "      |     ^~~~~~~~~~~~~~~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : float[10]\n"
                "      | ^~~~~~~~~~~~~~~~~~~\n",
                1, 0);
    /* -1 is inferred */
    Graph *g = compile_ok("model m\ninput x : float[12]\ntarget t : float[1]\n"
                          "r = reshape(x, [3, -1])\ny = r -> flatten -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    int r = find_named(g, OP_RESHAPE, "r");
    CU_ASSERT_FATAL(r >= 0);
    CU_ASSERT_STRING_EQUAL(shape_str(&g->nodes[r].shape), "[n, 3, 4]");
}

static void test_no_loss(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ny = x -> dense(1, activation=sigmoid)\noutput y\n",
                "t.mn: error: the model has no 'loss' statement: train_step needs one (e.g. loss bce(y, label))\n",
                1, 0);
}

static void test_warnings(void) {
    CHECK_DIAGS("model m\n"
                "input x : float[10]\n"
                "input u : float[3]\n"
                "target t : float[1]\n"
                "target t2 : float[1]\n"
                "layer never = dense(3)\n"
                "y = x -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:6:1: warning: layer 'never' is never applied\n"
                "    6 | layer never = dense(3)\n"
                "      | ^~~~~~~~~~~~~~~~~~~~~~\n"
                "t.mn:3:1: warning: input 'u' reaches no output\n"
                "    3 | input u : float[3]\n"
                "      | ^~~~~~~~~~~~~~~~~~\n"
                "t.mn:5:1: warning: target 't2' is never used by the loss or a metric\n"
                "    5 | target t2 : float[1]\n"
                "      | ^~~~~~~~~~~~~~~~~~~~\n",
                0, 3);
    /* an input only the loss reads */
    CHECK_DIAGS("model m\ninput x : float[10]\ninput w : float[1]\ntarget t : float[1]\n"
                "y = x -> dense(1, activation=sigmoid)\noutput y\nloss mse(y * w, t)\n",
                "t.mn:3:1: warning: input 'w' reaches no output (only the loss reads it)\n"
                "    3 | input w : float[1]\n"
                "      | ^~~~~~~~~~~~~~~~~~\n",
                0, 1);
    /* a warning does not stop the pipeline */
    Compiled c = compile("model m\ninput x : float[10]\ninput u : float[3]\ntarget t : float[1]\n"
                         "y = x -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_EQUAL(c.warnings, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.g);
    CU_ASSERT_PTR_NOT_NULL(c.g->sched[SCHED_TRAIN].order);
}

static void test_several_errors(void) {
    CHECK_DIAGS("model m\ninput x : float[10]\ntarget t : float[1]\n"
                "a = x -> dens(4)\n"
                "b = x -> dense(4, activaton=relu)\n"
                "c = qqqq + 1\n"
                "d = reshape(x, [3, 4])\n"
                "y = x -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:4:10: error: unknown layer or function 'dens'; did you mean 'dense'?\n"
                "    4 | a = x -> dens(4)\n"
                "      |          ^~~~\n"
                "t.mn:5:19: error: dense has no argument 'activaton'; did you mean 'activation'?\n"
                "    5 | b = x -> dense(4, activaton=relu)\n"
                "      |                   ^~~~~~~~~\n"
                "t.mn:6:5: error: undefined name 'qqqq'\n"
                "    6 | c = qqqq + 1\n"
                "      |     ^~~~\n"
                "t.mn:7:5: error: reshape: 'x' [n, 10] has 10 values per sample, the new shape [3, 4] has 12\n"
                "    7 | d = reshape(x, [3, 4])\n"
                "      |     ^~~~~~~~~~~~~~~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : float[10]\n"
                "      | ^~~~~~~~~~~~~~~~~~~\n",
                4, 0);
    /* one mistake, one message: a poisoned value is silent downstream */
    CHECK_DIAGS("model m\ninput x : float[10]\ninput z : float[5]\ntarget t : float[1]\n"
                "s = x + z\nh = s * 2 + s\ny = h -> dense(1, activation=sigmoid)\n" TAIL,
                "t.mn:5:5: error: add: cannot broadcast 'x' [n, 10] with 'z' [n, 5]\n"
                "    5 | s = x + z\n"
                "      |     ^~~~~\n"
                "t.mn:2:1: note: 'x' defined here\n"
                "    2 | input x : float[10]\n"
                "      | ^~~~~~~~~~~~~~~~~~~\n"
                "t.mn:3:1: note: 'z' defined here\n"
                "    3 | input z : float[5]\n"
                "      | ^~~~~~~~~~~~~~~~~~\n",
                1, 0);
}

/* ---- autodiff ---------------------------------------------------------------- */

/* Invariants every graph after the whole pipeline keeps. */
static void check_grad_invariants(const Graph *g) {
    /* param_grad: distinct, never a source or view, shaped like its param,
     * -1 exactly for non-trainable params and those the loss ignores */
    int loss_root[1] = {g->loss};
    char *to_loss = ancestors_of(g, loss_root, 1);
    for (int i = 0; i < g->nparams; i++) {
        const Node *p = &g->nodes[g->params[i]];
        int d = g->param_grad[i];
        int expect_grad = p->trainable && to_loss[g->params[i]];
        CU_ASSERT_EQUAL(d >= 0, expect_grad);
        if (d < 0) continue;
        CU_ASSERT_FATAL(d < g->nnodes);
        const Node *n = &g->nodes[d];
        CU_ASSERT(n->backward);
        CU_ASSERT(!(op_info[n->op].flags & (OPF_SOURCE | OPF_VIEW)));
        CU_ASSERT(shape_equal(&n->shape, &p->shape));
        for (int j = 0; j < i; j++) CU_ASSERT_NOT_EQUAL(g->param_grad[j], d);
    }
    /* every backward node contributes to some param gradient: none is spent
     * on an input, a target, or a value that needs none */
    int *roots = xalloc(sizeof(int) * (size_t)(g->nparams + 1));
    for (int i = 0; i < g->nparams; i++) roots[i] = g->param_grad[i];
    char *to_grad = ancestors_of(g, roots, g->nparams);
    for (int v = 0; v < g->nnodes; v++) {
        if (!g->nodes[v].backward) continue;
        CU_ASSERT(to_grad[v]);
        if (!to_grad[v]) fprintf(stderr, "\nbackward node %%%d (%s) feeds no gradient\n", v,
                                 op_info[g->nodes[v].op].name);
    }
    /* a backward op is never a forward node, and never feeds the forward pass */
    for (int v = 0; v < g->nnodes; v++)
        if (!g->nodes[v].backward && !(op_info[g->nodes[v].op].flags & OPF_SOURCE)) {
            CU_ASSERT(!(op_info[g->nodes[v].op].flags & OPF_BACKWARD));
            for (int i = 0; i < g->nodes[v].nin; i++)
                CU_ASSERT(!g->nodes[g->nodes[v].in[i]].backward);
        }
}

static void test_autodiff_two_concat(void) {
    Graph *g = compile_ok(two_concat);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check_grad_invariants(g);
    /* bce read through the sigmoid became bce_logits; no sigmoid_grad */
    CU_ASSERT_EQUAL(count_op(g, OP_BCE), 0);
    CU_ASSERT_EQUAL(count_op(g, OP_BCE_LOGITS), 1);
    CU_ASSERT_EQUAL(count_unary_grad(g, OP_SIGMOID), 0);
    const Node *loss = &g->nodes[g->loss];
    CU_ASSERT_EQUAL(loss->op, OP_BCE_LOGITS);
    /* the logits: the last dense's pre-activation, not the sigmoid */
    int y = find_named(g, OP_SIGMOID, "y");
    CU_ASSERT_FATAL(y >= 0);
    CU_ASSERT_EQUAL(loss->in[0], g->nodes[y].in[0]);
    /* the sigmoid is still the output and read by the metric */
    CU_ASSERT_EQUAL(g->outputs[0], y);
    CU_ASSERT_EQUAL(g->nodes[g->metrics[0].value].in[0], y);
    /* inputs get no gradient: the only matmul_dx is the one into the
     * concat (width 96); the first layers read inputs and have none */
    CU_ASSERT_EQUAL(count_op(g, OP_MATMUL_DX), 1);
    for (int v = 0; v < g->nnodes; v++)
        if (g->nodes[v].op == OP_MATMUL_DX) CU_ASSERT_STRING_EQUAL(shape_str(&g->nodes[v].shape), "[n, 96]");
    CU_ASSERT_EQUAL(count_op(g, OP_SLICE), 2);
    CU_ASSERT_EQUAL(count_unary_grad(g, OP_RELU), 2);
    CU_ASSERT_EQUAL(count_op(g, OP_MATMUL_DW), 3);
    /* the kernel gradients are matmul_dw of the layer's input */
    int k = grad_of(g, "dense.kernel");
    CU_ASSERT_EQUAL(g->nodes[k].op, OP_MATMUL_DW);
    CU_ASSERT_EQUAL(g->nodes[k].in[0], g->inputs[0]);
    int k1 = grad_of(g, "dense_1.kernel");
    CU_ASSERT_EQUAL(g->nodes[k1].op, OP_MATMUL_DW);
    CU_ASSERT_EQUAL(g->nodes[k1].in[0], g->inputs[1]);
    CU_ASSERT_EQUAL(g->nodes[grad_of(g, "dense.bias")].op, OP_SUM_TO);
}

static void test_autodiff_shared_layer(void) {
    Graph *g = compile_ok("model m\ninput x : float[4]\ninput z : float[4]\ntarget t : float[1]\n"
                          "layer shared = dense(3, activation=relu)\n"
                          "a = shared(x)\nb = shared(z)\n"
                          "y = add(a, b) -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check_grad_invariants(g);
    CU_ASSERT_EQUAL(param_index(g, "shared.kernel") >= 0, 1);
    CU_ASSERT_EQUAL(g->nparams, 4); /* one kernel and bias for both uses */
    /* the kernel's gradient sums the two applications' contributions */
    const Node *k = &g->nodes[grad_of(g, "shared.kernel")];
    CU_ASSERT_EQUAL_FATAL(k->op, OP_ADD);
    const Node *k0 = &g->nodes[k->in[0]], *k1 = &g->nodes[k->in[1]];
    CU_ASSERT_EQUAL(k0->op, OP_MATMUL_DW);
    CU_ASSERT_EQUAL(k1->op, OP_MATMUL_DW);
    /* one from each input */
    int xs[2] = {k0->in[0], k1->in[0]};
    CU_ASSERT((xs[0] == g->inputs[0] && xs[1] == g->inputs[1]) ||
              (xs[0] == g->inputs[1] && xs[1] == g->inputs[0]));
    const Node *b = &g->nodes[grad_of(g, "shared.bias")];
    CU_ASSERT_EQUAL_FATAL(b->op, OP_ADD);
    CU_ASSERT_EQUAL(g->nodes[b->in[0]].op, OP_SUM_TO);
    CU_ASSERT_EQUAL(g->nodes[b->in[1]].op, OP_SUM_TO);
    CU_ASSERT_EQUAL(count_op(g, OP_MATMUL_DX), 1); /* into add(a, b), not into x or z */
}

static void test_autodiff_branches(void) {
    Graph *g = compile_ok("model m\ninput x : float[4]\ntarget t : float[1]\n"
                          "h = x -> dense(8, activation=tanh)\n"
                          "p = h -> dense(1)\n"
                          "q = h -> dense(1)\n"
                          "y = sigmoid(p + q)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check_grad_invariants(g);
    int h = find_named(g, OP_LINEAR, "h");
    CU_ASSERT_FATAL(h >= 0);
    CU_ASSERT_EQUAL(g->nodes[h].act, OP_TANH);
    /* h's gradient: the sum of what p and q send back */
    int tg = -1;
    for (int v = 0; v < g->nnodes; v++)
        if (g->nodes[v].op == OP_UNARY_GRAD && g->nodes[v].loss == OP_TANH) tg = v;
    CU_ASSERT_FATAL(tg >= 0);
    CU_ASSERT_EQUAL(count_unary_grad(g, OP_TANH), 1);
    CU_ASSERT_EQUAL(g->nodes[tg].in[0], h); /* reads y = tanh(...) */
    const Node *dh = &g->nodes[g->nodes[tg].in[1]];
    CU_ASSERT_EQUAL_FATAL(dh->op, OP_ADD);
    CU_ASSERT(dh->backward);
    CU_ASSERT_EQUAL(g->nodes[dh->in[0]].op, OP_MATMUL_DX);
    CU_ASSERT_EQUAL(g->nodes[dh->in[1]].op, OP_MATMUL_DX);
    CU_ASSERT_NOT_EQUAL(g->nodes[dh->in[0]].in[1], g->nodes[dh->in[1]].in[1]); /* two kernels */
    CU_ASSERT_EQUAL(count_op(g, OP_MATMUL_DX), 2);
    CU_ASSERT_EQUAL(count_unary_grad(g, OP_SIGMOID), 0);
}

static void test_autodiff_param_grads(void) {
    /* p1, p2 added to the loss get the constant 1 as gradient: each must get
     * a copy of its own; q1, q2 share one backward value; s reaches only an
     * output; k is frozen */
    Graph *g = compile_ok("model m\ninput x : float[4]\ntarget t : float[1]\n"
                          "param k : float[1] = 1, trainable=false\n"
                          "param p1 : float = 0.5\n"
                          "param p2 : float = 0.5\n"
                          "param q1 : float = 0.5\n"
                          "param q2 : float = 0.5\n"
                          "param s : float[1] = 0.5\n"
                          "y = x -> dense(1, activation=sigmoid)\n"
                          "o = y * s + k\n"
                          "output y, o\n"
                          "loss bce(y, t) + p1 + p2 + (q1 + q2) * 3\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check_grad_invariants(g);
    CU_ASSERT_EQUAL(grad_of(g, "s"), -1);
    CU_ASSERT_EQUAL(grad_of(g, "k"), -1);
    int gp1 = grad_of(g, "p1"), gp2 = grad_of(g, "p2"), gq1 = grad_of(g, "q1"), gq2 = grad_of(g, "q2");
    CU_ASSERT(gp1 >= 0 && gp2 >= 0 && gq1 >= 0 && gq2 >= 0);
    CU_ASSERT_NOT_EQUAL(gp1, gp2);
    CU_ASSERT_NOT_EQUAL(gq1, gq2);
    CU_ASSERT_EQUAL(g->nodes[gp1].op, OP_COPY);
    CU_ASSERT_EQUAL(g->nodes[gp2].op, OP_COPY);
    CU_ASSERT_EQUAL(g->nodes[g->nodes[gp1].in[0]].op, OP_CONST);
    /* q1, q2: one of them takes the shared product, the other a copy of it */
    CU_ASSERT(g->nodes[gq1].op == OP_COPY || g->nodes[gq2].op == OP_COPY);
}

static void test_autodiff_loss_without_weights(void) {
    /* the warning, and every param's gradient is -1 */
    Compiled c = compile("model m\ninput x : float[4]\ntarget t : float[4]\n"
                         "param k : float[4] = 1, trainable=false\n"
                         "y = sigmoid(x * k)\noutput y\nloss mse(y, t)\n");
    CU_ASSERT_STRING_EQUAL(c.diags,
                           "t.mn:7:6: warning: the loss depends on no trainable weight: training cannot change it\n"
                           "    7 | loss mse(y, t)\n"
                           "      |      ^~~~~~~~~\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.g);
    CU_ASSERT_EQUAL(c.g->nparams, 1);
    CU_ASSERT_EQUAL(c.g->param_grad[0], -1);
    for (int v = 0; v < c.g->nnodes; v++) CU_ASSERT(!c.g->nodes[v].backward);
}

static void test_autodiff_logits_forms(void) {
    Graph *g = compile_ok("model m\ninput x : float[10]\ntarget t : float[3]\n"
                          "y = x -> dense(3, activation=softmax)\noutput y\nloss cce(y, t)\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(g->nodes[g->loss].op, OP_CCE_LOGITS);
    CU_ASSERT_EQUAL(count_op(g, OP_SOFTMAX_GRAD), 0);
    check_grad_invariants(g);
    /* a loss on probabilities it cannot rewrite (mse) keeps the sigmoid's gradient */
    g = compile_ok("model m\ninput x : float[10]\ntarget t : float[1]\n"
                   "y = x -> dense(1, activation=sigmoid)\noutput y\nloss mse(y, t)\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(g->nodes[g->loss].op, OP_MSE);
    CU_ASSERT_EQUAL(count_unary_grad(g, OP_SIGMOID), 1);
    CU_ASSERT_EQUAL(count_op(g, OP_SIGMOID), 0); /* fused: LINEAR act=sigmoid */
    int y = g->outputs[0];
    CU_ASSERT_EQUAL(g->nodes[y].op, OP_LINEAR);
    CU_ASSERT_EQUAL(g->nodes[y].act, OP_SIGMOID);
    check_grad_invariants(g);
    /* the sigmoid also read by a second loss term: it stays, with its gradient */
    Compiled c = compile_upto("model m\ninput x : float[10]\ntarget t : float[1]\n"
                              "y = x -> dense(1, activation=sigmoid)\noutput y\nloss bce(y, t) + mse(y, t)\n",
                              UPTO_AUTODIFF);
    CU_ASSERT_EQUAL(c.errors, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.g);
    CU_ASSERT_EQUAL(count_op(c.g, OP_BCE_LOGITS), 1);
    CU_ASSERT_EQUAL(count_unary_grad(c.g, OP_SIGMOID), 1);
    check_grad_invariants(c.g);
}

/* ---- fusion ------------------------------------------------------------------- */

static void test_fuse_linear_chain(void) {
    Compiled before = compile_upto(two_concat, UPTO_AUTODIFF);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before.g);
    CU_ASSERT_EQUAL(count_op(before.g, OP_MATMUL), 3);
    CU_ASSERT_EQUAL(count_op(before.g, OP_RELU), 2);
    CU_ASSERT_EQUAL(count_op(before.g, OP_LINEAR), 0);
    Graph *g = compile_ok(two_concat);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(count_op(g, OP_MATMUL), 0);
    CU_ASSERT_EQUAL(count_op(g, OP_RELU), 0);
    CU_ASSERT_EQUAL(count_op(g, OP_LINEAR), 3);
    CU_ASSERT_EQUAL(before.g->nnodes - g->nnodes, 5); /* 3 matmuls + 2 bias adds dropped */
    int a = find_named(g, OP_LINEAR, "a");
    CU_ASSERT_FATAL(a >= 0);
    const Node *l = &g->nodes[a];
    CU_ASSERT_EQUAL(l->act, OP_RELU);
    CU_ASSERT_EQUAL_FATAL(l->nin, 3);
    CU_ASSERT_EQUAL(l->in[0], g->inputs[0]);
    CU_ASSERT_STRING_EQUAL(g->nodes[l->in[1]].name, "dense.kernel");
    CU_ASSERT_STRING_EQUAL(g->nodes[l->in[2]].name, "dense.bias");
    CU_ASSERT_STRING_EQUAL(shape_str(&l->shape), "[n, 64]");
    /* relu_grad now reads the fused node */
    int found = 0;
    for (int v = 0; v < g->nnodes; v++)
        if (g->nodes[v].op == OP_UNARY_GRAD && g->nodes[v].loss == OP_RELU && g->nodes[v].in[0] == a) found = 1;
    CU_ASSERT(found);
    /* the last dense stops at the bias add: bce_logits reads it */
    int y = find_named(g, OP_SIGMOID, "y");
    CU_ASSERT_FATAL(y >= 0);
    const Node *logits = &g->nodes[g->nodes[y].in[0]];
    CU_ASSERT_EQUAL(logits->op, OP_LINEAR);
    CU_ASSERT_EQUAL(logits->act, OP_COPY);
    CU_ASSERT_EQUAL(logits->nin, 3);
}

static void test_fuse_stops_at_shared_preactivation(void) {
    Graph *g = compile_ok("model m\ninput x : float[4]\ntarget t : float[1]\n"
                          "h = x -> dense(4)\n"
                          "r = relu(h)\n"
                          "s = h * 2\n"
                          "y = concat(r, s) -> dense(1, activation=sigmoid, use_bias=false)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check_grad_invariants(g);
    int h = find_named(g, OP_LINEAR, "h");
    CU_ASSERT_FATAL(h >= 0);
    CU_ASSERT_EQUAL(g->nodes[h].act, OP_COPY); /* not relu: h is read by s too */
    CU_ASSERT_EQUAL(g->nodes[h].nin, 3);
    int r = find_named(g, OP_RELU, "r");
    CU_ASSERT_FATAL(r >= 0);
    CU_ASSERT_EQUAL(g->nodes[r].in[0], h);
    int s = find_named(g, OP_MUL, "s");
    CU_ASSERT_FATAL(s >= 0);
    CU_ASSERT_EQUAL(g->nodes[s].in[0], h);
    /* no bias, and the logits are read by the loss: a bare matmul stays */
    CU_ASSERT_EQUAL(count_op(g, OP_MATMUL), 1);
    CU_ASSERT_EQUAL(count_op(g, OP_LINEAR), 1);
}

static void test_fuse_no_bias_activation(void) {
    Graph *g = compile_ok("model m\ninput x : float[4]\ntarget t : float[1]\n"
                          "h = x -> dense(5, activation=relu, use_bias=false)\n"
                          "y = h -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check_grad_invariants(g);
    int h = find_named(g, OP_LINEAR, "h");
    CU_ASSERT_FATAL(h >= 0);
    CU_ASSERT_EQUAL(g->nodes[h].act, OP_RELU);
    CU_ASSERT_EQUAL(g->nodes[h].nin, 2);
}

/* A learned per-feature offset added to a dense layer's output joins the
 * layer's bias in the fused node (in the graph's order: b, then the param),
 * and so does the activation after it; an offset on a value read twice
 * does not. */
static void test_fuse_second_bias(void) {
    Graph *g = compile_ok("model m\ninput x : float[4]\ntarget t : float[1]\n"
                          "param shift : float[5] = zeros\n"
                          "param other : float[5] = zeros\n"
                          "h = x -> dense(5)\n"
                          "a = relu(h + shift)\n"
                          "k = x -> dense(5)\n"
                          "s = k + other\n"
                          "y = concat(a, s, k) -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check_grad_invariants(g);
    int a = find_named(g, OP_LINEAR, "a");
    CU_ASSERT_FATAL(a >= 0);
    const Node *l = &g->nodes[a];
    CU_ASSERT_EQUAL(l->act, OP_RELU);
    CU_ASSERT_EQUAL_FATAL(l->nin, 4);
    CU_ASSERT_STRING_EQUAL(g->nodes[l->in[2]].name, "dense.bias");
    CU_ASSERT_STRING_EQUAL(g->nodes[l->in[3]].name, "shift");
    CU_ASSERT_EQUAL(find_named(g, OP_LINEAR, "h"), -1); /* h is inside a's node */
    /* k is read by s and by the concat: it stays a node, s stays an add */
    int k = find_named(g, OP_LINEAR, "k");
    CU_ASSERT_FATAL(k >= 0);
    CU_ASSERT_EQUAL(g->nodes[k].nin, 3);
    int sv = find_named(g, OP_ADD, "s");
    CU_ASSERT_FATAL(sv >= 0);
    CU_ASSERT_EQUAL(g->nodes[sv].in[0], k);
}

/* ---- memory planner --------------------------------------------------------------- */

static int root_of(const Graph *g, int v) {
    while (op_info[g->nodes[v].op].flags & OPF_VIEW) v = g->nodes[v].in[0];
    return v;
}

static int is_grad(const Graph *g, int v) {
    for (int i = 0; i < g->nparams; i++)
        if (g->param_grad[i] == v) return 1;
    return 0;
}

/* Checks one schedule against lifetimes recomputed here; returns the sum of
 * the arena values' sizes. */
static long check_schedule(const Graph *g, SchedKind k) {
    const Schedule *s = &g->sched[k];
    CU_ASSERT_FATAL(s->order != NULL && s->offset != NULL);
    int n = s->n;
    /* order: no sources; increasing ids (predict and evaluate: in the
     * shared part, and in their own rest) */
    int shared = k == SCHED_TRAIN ? 0 : g->infer_shared;
    CU_ASSERT(shared >= 0 && shared <= n);
    for (int i = 0; i < n; i++) {
        CU_ASSERT(!(op_info[g->nodes[s->order[i]].op].flags & OPF_SOURCE));
        if (i && i != shared) CU_ASSERT(s->order[i - 1] < s->order[i]);
    }
    /* every input of a scheduled node is a source or scheduled before it */
    int *pos = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    for (int v = 0; v < g->nnodes; v++) pos[v] = -1;
    for (int i = 0; i < n; i++) pos[s->order[i]] = i;
    for (int i = 0; i < n; i++) {
        const Node *nd = &g->nodes[s->order[i]];
        for (int j = 0; j < nd->nin; j++) {
            int u = nd->in[j];
            CU_ASSERT((op_info[g->nodes[u].op].flags & OPF_SOURCE) || (pos[u] >= 0 && pos[u] < i));
        }
    }
    /* roots of the schedule */
    int *roots = xalloc(sizeof(int) * (size_t)(g->noutputs + g->nmetrics + g->nparams + 2));
    int nroots = 0;
    if (k == SCHED_PREDICT)
        for (int i = 0; i < g->noutputs; i++) roots[nroots++] = g->outputs[i];
    else roots[nroots++] = g->loss;
    if (k == SCHED_EVAL)
        for (int i = 0; i < g->nmetrics; i++) roots[nroots++] = g->metrics[i].value;
    if (k == SCHED_TRAIN)
        for (int i = 0; i < g->nparams; i++)
            if (g->param_grad[i] >= 0) roots[nroots++] = g->param_grad[i];
    for (int i = 0; i < nroots; i++)
        CU_ASSERT((op_info[g->nodes[roots[i]].op].flags & OPF_SOURCE) || pos[roots[i]] >= 0);

    /* lifetimes [first, last] of arena values */
    int *first = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    int *last = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    char *in_arena = xalloc((size_t)g->nnodes + 1);
    long *size = xalloc(sizeof(long) * (size_t)(g->nnodes + 1));
    long total = 0;
    for (int i = 0; i < n; i++) {
        int v = s->order[i];
        const Node *nd = &g->nodes[v];
        if (op_info[nd->op].flags & OPF_VIEW) continue;
        if (k == SCHED_TRAIN && is_grad(g, v)) {
            CU_ASSERT_EQUAL(s->offset[v], -1); /* lives in the gradient buffer */
            continue;
        }
        in_arena[v] = 1;
        first[v] = last[v] = i;
        long elems = shape_size(&nd->shape) * (nd->shape.batched ? g->train.batch : 1);
        size[v] = (elems + 15) / 16 * 16;
        total += size[v];
    }
    for (int i = 0; i < n; i++) {
        const Node *nd = &g->nodes[s->order[i]];
        for (int j = 0; j < nd->nin; j++) {
            int r = root_of(g, nd->in[j]);
            if (in_arena[r] && last[r] < i) last[r] = i;
        }
    }
    for (int i = 0; i < nroots; i++) {
        int r = root_of(g, roots[i]);
        if (in_arena[r]) last[r] = n;
    }
    for (int v = 0; v < g->nnodes; v++) {
        if (in_arena[v]) {
            CU_ASSERT(s->offset[v] >= 0);
            CU_ASSERT_EQUAL(s->offset[v] % 16, 0);
            CU_ASSERT(s->offset[v] + size[v] <= s->arena_size);
        } else if (pos[v] < 0) {
            CU_ASSERT_EQUAL(s->offset[v], -1); /* sources, unscheduled nodes */
        }
    }
    /* views share their storage root's offset (-1 for a view of a source) */
    for (int i = 0; i < n; i++) {
        int v = s->order[i];
        if (op_info[g->nodes[v].op].flags & OPF_VIEW) CU_ASSERT_EQUAL(s->offset[v], s->offset[root_of(g, v)]);
    }
    /* no two values alive at once share bytes */
    int bad = 0;
    for (int a = 0; a < g->nnodes; a++) {
        if (!in_arena[a]) continue;
        for (int b = a + 1; b < g->nnodes; b++) {
            if (!in_arena[b]) continue;
            int time = first[a] <= last[b] && first[b] <= last[a];
            int space = s->offset[a] < s->offset[b] + size[b] && s->offset[b] < s->offset[a] + size[a];
            if (time && space) {
                bad++;
                fprintf(stderr, "\nschedule %d: %%%d [%d,%d] @%ld+%ld overlaps %%%d [%d,%d] @%ld+%ld\n", (int)k,
                        a, first[a], last[a], s->offset[a], size[a], b, first[b], last[b], s->offset[b], size[b]);
            }
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    return total;
}

/* First fit along one plan's timeline, order[0..n) with offsets off[]:
 * each arena value (in order of definition) sits at the lowest offset free
 * of the values defined before it that are alive with it; the candidates
 * are 0 and the ends of those values. keep[v] >= 0: root v stays alive to
 * that position. Returns the values not at their first fit. */
static int first_fit_violations(const Graph *g, const int *order, int n, const int *keep, const long *off, int train) {
    int nn = g->nnodes;
    int *first = xalloc(sizeof(int) * (size_t)(nn + 1)), *last = xalloc(sizeof(int) * (size_t)(nn + 1));
    char *in_arena = xalloc((size_t)nn + 1);
    long *size = xalloc(sizeof(long) * (size_t)(nn + 1));
    for (int i = 0; i < n; i++) {
        int v = order[i];
        const Node *nd = &g->nodes[v];
        if ((op_info[nd->op].flags & OPF_VIEW) || (train && is_grad(g, v))) continue;
        in_arena[v] = 1;
        first[v] = last[v] = i;
        size[v] = (shape_size(&nd->shape) * (nd->shape.batched ? g->train.batch : 1) + 15) / 16 * 16;
    }
    for (int i = 0; i < n; i++) {
        const Node *nd = &g->nodes[order[i]];
        for (int j = 0; j < nd->nin; j++) {
            int r = root_of(g, nd->in[j]);
            if (in_arena[r] && last[r] < i) last[r] = i;
        }
    }
    for (int v = 0; v < nn; v++)
        if (keep[v] >= 0 && in_arena[root_of(g, v)] && last[root_of(g, v)] < keep[v]) last[root_of(g, v)] = keep[v];
    int unfit = 0;
    for (int i = 0; i < n; i++) {
        int v = order[i];
        if (!in_arena[v]) continue;
        long best = -1;
        for (int c = -1; c < i; c++) {
            long cand = 0;
            if (c >= 0) {
                int u = order[c];
                if (!in_arena[u] || last[u] < first[v]) continue;
                cand = off[u] + size[u];
            }
            int free_here = 1;
            for (int j = 0; j < i && free_here; j++) {
                int u = order[j];
                if (in_arena[u] && last[u] >= first[v] && off[u] < cand + size[v] && cand < off[u] + size[u])
                    free_here = 0;
            }
            if (free_here && (best < 0 || cand < best)) best = cand;
        }
        if (best != off[v]) {
            unfit++;
            fprintf(stderr, "\n%s plan: %%%d at %ld, first fit is %ld\n", train ? "train" : "inference", v, off[v], best);
        }
    }
    return unfit;
}

/* Every schedule as check_schedule checks it, and first fit along the two
 * plans: train_step's, and the one of predict and evaluate (the shared
 * part, evaluate's rest, predict's rest; evaluate's results kept to the
 * end of its rest, the outputs to the end). */
static void check_plan(const Graph *g) {
    for (int k = 0; k < SCHED_COUNT; k++) check_schedule(g, (SchedKind)k);
    int nn = g->nnodes;
    int *keep = xalloc(sizeof(int) * (size_t)(nn + 1));
    const Schedule *t = &g->sched[SCHED_TRAIN], *p = &g->sched[SCHED_PREDICT], *e = &g->sched[SCHED_EVAL];
    for (int v = 0; v < nn; v++) keep[v] = -1;
    for (int i = 0; i < g->nparams; i++)
        if (g->param_grad[i] >= 0) keep[g->param_grad[i]] = t->n;
    keep[g->loss] = t->n;
    CU_ASSERT_EQUAL(first_fit_violations(g, t->order, t->n, keep, t->offset, 1), 0);

    int shared = g->infer_shared, n = 0;
    CU_ASSERT_FATAL(shared <= p->n && shared <= e->n);
    int *order = xalloc(sizeof(int) * (size_t)(p->n + e->n + 1));
    long *off = xalloc(sizeof(long) * (size_t)(nn + 1));
    for (int i = 0; i < shared; i++) {
        CU_ASSERT_EQUAL(p->order[i], e->order[i]);
        CU_ASSERT_EQUAL(p->offset[p->order[i]], e->offset[p->order[i]]);
        order[n++] = p->order[i];
    }
    for (int i = shared; i < e->n; i++) order[n++] = e->order[i];
    int eval_end = n;
    for (int i = shared; i < p->n; i++) order[n++] = p->order[i];
    for (int v = 0; v < nn; v++) {
        keep[v] = -1;
        off[v] = e->offset[v] >= 0 ? e->offset[v] : p->offset[v];
    }
    keep[g->loss] = eval_end;
    for (int i = 0; i < g->nmetrics; i++) keep[g->metrics[i].value] = eval_end;
    for (int i = 0; i < g->noutputs; i++) keep[g->outputs[i]] = n;
    CU_ASSERT_EQUAL(first_fit_violations(g, order, n, keep, off, 0), 0);
}

static void check_params_layout(const Graph *g) {
    long off = 0, trainable = 0;
    int seen_frozen = 0;
    for (int i = 0; i < g->nparams; i++) {
        const Node *p = &g->nodes[g->params[i]];
        CU_ASSERT_EQUAL(p->op, OP_PARAM);
        CU_ASSERT_EQUAL(p->param_offset, off);
        if (p->trainable) {
            CU_ASSERT(!seen_frozen); /* trainable ones come first */
            trainable = off + shape_size(&p->shape);
        } else {
            seen_frozen = 1;
        }
        off += shape_size(&p->shape);
        /* gradients stay attached to their param after the reordering */
        if (g->param_grad[i] >= 0) CU_ASSERT(shape_equal(&g->nodes[g->param_grad[i]].shape, &p->shape));
    }
    CU_ASSERT_EQUAL(g->nparam_elems, off);
    CU_ASSERT_EQUAL(g->ntrainable_elems, trainable);
    /* every PARAM node is listed once */
    int nparam_nodes = count_op(g, OP_PARAM);
    CU_ASSERT_EQUAL(nparam_nodes, g->nparams);
}

static const char *const plan_models[] = {
    two_concat,
    /* views of computed values and of an input */
    "model v\ninput x : float[2, 3]\ninput w : float[6]\ntarget t : float[1]\n"
    "h = x -> dense(4, activation=relu)\n"
    "f = flatten(h)\n"
    "r = reshape(f, [4, 2])\n"
    "g = flatten(x) + w\n"
    "y = concat(r -> flatten, g) -> dense(1, activation=sigmoid)\n"
    "output y, r\nloss bce(y, t)\n",
    /* embedding, sparse ids, a metric */
    "model e\ninput ids : int[6]\ntarget t : int[1]\n"
    "y = ids -> embedding(50, 8) -> flatten -> dense(5, activation=softmax)\n"
    "output y\nloss sparse_cce(y, t)\nmetric accuracy(y, t)\ntrain { batch = 7 }\n",
    /* frozen params first in the file, shared layer, penalties, where/max */
    "model f\ninput x : float[4]\ninput z : float[4]\ntarget t : float[1]\n"
    "param k : float[4] = 1, trainable=false\n"
    "param lam : float = 0.01, trainable=false\n"
    "layer shared = dense(4, activation=tanh, l2=0.001)\n"
    "a = shared(x * k)\nb = shared(z)\n"
    "m = where(a > 0, a, b)\n"
    "c = maximum(m, b) - a / 2\n"
    "y = c -> dense(1, activation=sigmoid)\n"
    "output y\nloss bce(y, t) + lam * l2(shared.kernel)\n"
    "train { batch = 3, optimizer = sgd(lr=0.1) }\n",
};

static void test_plan(void) {
    for (size_t m = 0; m < sizeof plan_models / sizeof plan_models[0]; m++) {
        Graph *g = compile_ok(plan_models[m]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        check_grad_invariants(g);
        check_params_layout(g);
        check_plan(g);
    }
}

/* A long model with values of many sizes, so that the plan reuses gaps of
 * every width (the treap's search): 60 dense layers of widths 1..37 with
 * skip connections, checked as test_plan checks (including first fit). */
static void test_plan_long_mixed(void) {
    Buf b = {0};
    buf_puts(&b, "model long_mixed\ninput x : float[8]\ntarget t : float[1]\nh0 = x -> dense(8, activation=relu)\n");
    for (int i = 1; i <= 60; i++) {
        int w = 1 + (i * 17) % 37;
        if (i % 7 == 0) /* a skip connection keeps h(i-3) alive */
            buf_printf(&b, "h%d = concat(h%d -> dense(%d, activation=tanh), h%d)\n", i, i - 1, w, i - 3);
        else
            buf_printf(&b, "h%d = h%d -> dense(%d, activation=tanh)\n", i, i - 1, w);
    }
    buf_puts(&b, "y = h60 -> dense(1, activation=sigmoid)\noutput y\nloss bce(y, t)\ntrain { batch = 5 }\n");
    Graph *g = compile_ok(b.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check_plan(g);
}

static void test_plan_two_concat(void) {
    Graph *g = compile_ok(two_concat);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    long total = check_schedule(g, SCHED_TRAIN);
    CU_ASSERT(g->sched[SCHED_TRAIN].arena_size < total); /* reuse happens */
    CU_ASSERT(g->sched[SCHED_TRAIN].arena_size > 0);
    /* 10*64+64 + 5*32+32 + 96+1 */
    CU_ASSERT_EQUAL(g->nparam_elems, 704 + 192 + 97);
    CU_ASSERT_EQUAL(g->ntrainable_elems, 993);
    /* predict runs no loss, no metric, nothing backward */
    const Schedule *p = &g->sched[SCHED_PREDICT];
    for (int i = 0; i < p->n; i++) {
        const Node *n = &g->nodes[p->order[i]];
        CU_ASSERT(!n->backward);
        CU_ASSERT_NOT_EQUAL(p->order[i], g->loss);
        CU_ASSERT_NOT_EQUAL(n->op, OP_ACCURACY);
    }
    /* evaluate runs the loss and the metric but nothing backward */
    const Schedule *e = &g->sched[SCHED_EVAL];
    int has_loss = 0, has_metric = 0;
    for (int i = 0; i < e->n; i++) {
        CU_ASSERT(!g->nodes[e->order[i]].backward);
        has_loss |= e->order[i] == g->loss;
        has_metric |= e->order[i] == g->metrics[0].value;
    }
    CU_ASSERT(has_loss && has_metric);
    /* everything predict runs, evaluate runs too: forward_infer is all of
     * predict, first in evaluate, at the same offsets */
    CU_ASSERT_EQUAL(g->infer_shared, p->n);
    CU_ASSERT(e->n > p->n);
    for (int i = 0; i < p->n; i++) {
        CU_ASSERT_EQUAL(e->order[i], p->order[i]);
        CU_ASSERT_EQUAL(e->offset[p->order[i]], p->offset[p->order[i]]);
    }
    /* train computes every gradient, and skips the metric and the sigmoid */
    const Schedule *t = &g->sched[SCHED_TRAIN];
    int y = g->outputs[0], ngrads = 0;
    for (int i = 0; i < t->n; i++) {
        CU_ASSERT_NOT_EQUAL(t->order[i], y);
        CU_ASSERT_NOT_EQUAL(t->order[i], g->metrics[0].value);
        ngrads += is_grad(g, t->order[i]);
    }
    CU_ASSERT_EQUAL(ngrads, 6);
}

static void test_plan_frozen_first_in_file(void) {
    Graph *g = compile_ok(plan_models[3]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_STRING_EQUAL(g->nodes[g->params[0]].name, "shared.kernel");
    CU_ASSERT_STRING_EQUAL(g->nodes[g->params[g->nparams - 1]].name, "lam");
    CU_ASSERT_STRING_EQUAL(g->nodes[g->params[g->nparams - 2]].name, "k");
    CU_ASSERT_EQUAL(g->nodes[g->params[g->nparams - 2]].param_offset, g->ntrainable_elems);
    CU_ASSERT_EQUAL(g->nparam_elems, g->ntrainable_elems + 5);
    /* the kernel's gradient is the penalty's plus the two applications' */
    int gk = grad_of(g, "shared.kernel");
    CU_ASSERT_EQUAL(g->nodes[gk].op, OP_ADD);
    CU_ASSERT(count_op(g, OP_PENALTY_GRAD) >= 1);
}

static void test_plan_views(void) {
    Graph *g = compile_ok(plan_models[1]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    int f = find_named(g, OP_RESHAPE, "f"), r = find_named(g, OP_RESHAPE, "r");
    int h = find_named(g, OP_LINEAR, "h");
    CU_ASSERT_FATAL(f >= 0 && r >= 0 && h >= 0);
    for (int k = 0; k < SCHED_COUNT; k++) {
        const Schedule *s = &g->sched[k];
        CU_ASSERT(s->offset[h] >= 0);
        CU_ASSERT_EQUAL(s->offset[f], s->offset[h]);
        CU_ASSERT_EQUAL(s->offset[r], s->offset[h]);
    }
    /* flatten of the input x: a view of a source, not in the arena */
    int fx = -1;
    for (int v = 0; v < g->nnodes; v++)
        if (g->nodes[v].op == OP_RESHAPE && g->nodes[v].in[0] == g->inputs[0]) fx = v;
    CU_ASSERT_FATAL(fx >= 0);
    CU_ASSERT_EQUAL(g->sched[SCHED_PREDICT].offset[fx], -1);
}

/* ---- plan_check / plan_verify (MNC_VERIFY) --------------------------------------------- */

/* Runs plan_verify(g) in a child; 1 when the child died abnormally (an abort). */
static int plan_verify_aborts(const Graph *g) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        plan_verify(g);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* plan_check's failures on g and what it printed (into *text). */
static long plan_failures(const Graph *g, char **text) {
    size_t len;
    FILE *f = open_memstream(text, &len);
    long n = plan_check(g, f);
    fclose(f);
    return n;
}

/* Every model the planner tests use passes the check, and ir_verify. */
static void test_plan_check_clean(void) {
    for (size_t m = 0; m < sizeof plan_models / sizeof plan_models[0]; m++) {
        Graph *g = compile_ok(plan_models[m]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        char *text = NULL;
        CU_ASSERT_EQUAL(plan_failures(g, &text), 0);
        CU_ASSERT_STRING_EQUAL(text, "");
        free(text);
        CU_ASSERT_EQUAL(plan_verify_aborts(g), 0);
        plan_verify(g);
        ir_verify(g);
    }
}

/* two_concat's train_step: a = relu(...) and b = relu(...) are both alive
 * until their concat; b moved onto a's bytes is one overlap, reported, and
 * plan_verify aborts. */
static void test_plan_check_overlap(void) {
    Graph *g = compile_ok(two_concat);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    int a = find_named(g, OP_LINEAR, "a"), b = find_named(g, OP_LINEAR, "b");
    CU_ASSERT_FATAL(a >= 0 && b >= 0);
    Schedule *s = &g->sched[SCHED_TRAIN];
    CU_ASSERT_FATAL(s->offset[a] >= 0 && s->offset[b] >= 0 && s->offset[a] != s->offset[b]);
    long saved = s->offset[b];
    s->offset[b] = s->offset[a];
    char *text = NULL;
    CU_ASSERT_EQUAL(plan_failures(g, &text), 1);
    char *want = xsprintf("schedule train_step: %%%d", b);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, xsprintf("overlaps %%%d", a)));
    if (!strstr(text, "overlaps")) fprintf(stderr, "\n%s", text);
    free(text);
    CU_ASSERT_EQUAL(plan_verify_aborts(g), 1);
    /* put back: clean again */
    s->offset[b] = saved;
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
    CU_ASSERT_EQUAL(plan_verify_aborts(g), 0);
}

/* A corrupted overlap is found in a long plan too (the sweep's neighbours),
 * whichever pair is moved: every value moved onto one alive with it. */
static void test_plan_check_overlap_long(void) {
    Buf b = {0};
    buf_puts(&b, "model long_mixed\ninput x : float[8]\ntarget t : float[1]\nh0 = x -> dense(8, activation=relu)\n");
    for (int i = 1; i <= 30; i++) {
        int w = 1 + (i * 17) % 37;
        if (i % 7 == 0)
            buf_printf(&b, "h%d = concat(h%d -> dense(%d, activation=tanh), h%d)\n", i, i - 1, w, i - 3);
        else
            buf_printf(&b, "h%d = h%d -> dense(%d, activation=tanh)\n", i, i - 1, w);
    }
    buf_puts(&b, "y = h30 -> dense(1, activation=sigmoid)\noutput y\nloss bce(y, t)\ntrain { batch = 5 }\n");
    Graph *g = compile_ok(b.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
    int tried = 0, caught = 0;
    for (int k = 0; k < SCHED_COUNT; k++) {
        Schedule *s = &g->sched[k];
        for (int i = 0; i < s->n; i++) {
            const Node *n = &g->nodes[s->order[i]];
            int v = s->order[i];
            if (s->offset[v] < 0 || (op_info[n->op].flags & OPF_VIEW)) continue;
            for (int j = 0; j < n->nin; j++) {
                int u = root_of(g, n->in[j]); /* alive at i, as v is */
                if (s->offset[u] < 0 || s->offset[u] == s->offset[v]) continue;
                long saved = s->offset[v];
                s->offset[v] = s->offset[u];
                tried++;
                caught += plan_check(g, NULL) > 0;
                s->offset[v] = saved;
            }
        }
    }
    CU_ASSERT(tried > 50);
    CU_ASSERT_EQUAL(caught, tried);
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
}

/* 1 if two values of schedule k alive at once share bytes: every pair,
 * lifetimes recomputed as check_schedule does. */
static int brute_overlap(const Graph *g, SchedKind k) {
    const Schedule *s = &g->sched[k];
    int n = s->n;
    int *first = xalloc(sizeof(int) * (size_t)(g->nnodes + 1)), *last = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    char *in_arena = xalloc((size_t)g->nnodes + 1);
    long *size = xalloc(sizeof(long) * (size_t)(g->nnodes + 1));
    for (int i = 0; i < n; i++) {
        int v = s->order[i];
        if ((op_info[g->nodes[v].op].flags & OPF_VIEW) || (k == SCHED_TRAIN && is_grad(g, v))) continue;
        in_arena[v] = 1;
        first[v] = last[v] = i;
        const Shape *sh = &g->nodes[v].shape;
        size[v] = (shape_size(sh) * (sh->batched ? g->train.batch : 1) + 15) / 16 * 16;
    }
    for (int i = 0; i < n; i++) {
        const Node *nd = &g->nodes[s->order[i]];
        for (int j = 0; j < nd->nin; j++) {
            int r = root_of(g, nd->in[j]);
            if (in_arena[r] && last[r] < i) last[r] = i;
        }
    }
    if (k == SCHED_PREDICT)
        for (int i = 0; i < g->noutputs; i++) last[root_of(g, g->outputs[i])] = n;
    if (k != SCHED_PREDICT) last[root_of(g, g->loss)] = n;
    if (k == SCHED_EVAL)
        for (int i = 0; i < g->nmetrics; i++) last[root_of(g, g->metrics[i].value)] = n;
    for (int a = 0; a < g->nnodes; a++)
        for (int b = a + 1; in_arena[a] && b < g->nnodes; b++)
            if (in_arena[b] && size[a] && size[b] && first[a] <= last[b] && first[b] <= last[a] &&
                s->offset[a] < s->offset[b] + size[b] && s->offset[b] < s->offset[a] + size[a])
                return 1;
    return 0;
}

/* Moves v in schedule k; a node predict and evaluate share (forward_infer)
 * has one place, so it moves in both. */
static int is_shared(const Graph *g, int v) {
    for (int i = 0; i < g->infer_shared; i++)
        if (g->sched[SCHED_PREDICT].order[i] == v) return 1;
    return 0;
}

static void move_to(Graph *g, SchedKind k, int v, long offset) {
    g->sched[k].offset[v] = offset;
    if (k != SCHED_TRAIN && is_shared(g, v)) g->sched[k == SCHED_EVAL ? SCHED_PREDICT : SCHED_EVAL].offset[v] = offset;
}

/* Random moves of one value to another aligned offset inside the arena:
 * plan_check finds a failure exactly when some pair overlaps (all else
 * stays valid). */
static void test_plan_check_random_moves(void) {
    Graph *g = compile_ok(plan_models[3]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    unsigned long long rng = 12345;
    int overlapping = 0, agree = 0, moves = 0;
    for (int k = 0; k < SCHED_COUNT; k++) {
        Schedule *s = &g->sched[k];
        for (int trial = 0; trial < 300; trial++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int v = s->order[(rng >> 33) % (unsigned long long)s->n];
            const Node *nd = &g->nodes[v];
            if (s->offset[v] < 0 || (op_info[nd->op].flags & OPF_VIEW)) continue;
            int has_view = 0; /* a view's offset would have to move along */
            for (int i = 0; i < s->n; i++)
                has_view |= (op_info[g->nodes[s->order[i]].op].flags & OPF_VIEW) && root_of(g, s->order[i]) == v;
            if (has_view) continue;
            long size = (shape_size(&nd->shape) * (nd->shape.batched ? g->train.batch : 1) + 15) / 16 * 16;
            long slots = (s->arena_size - size) / 16 + 1;
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            long saved = s->offset[v];
            move_to(g, (SchedKind)k, v, (long)((rng >> 33) % (unsigned long long)slots) * 16);
            int want = brute_overlap(g, (SchedKind)k);
            if (k != SCHED_TRAIN && is_shared(g, v)) want |= brute_overlap(g, k == SCHED_EVAL ? SCHED_PREDICT : SCHED_EVAL);
            long got = plan_check(g, NULL);
            moves++;
            overlapping += want;
            agree += want == (got > 0);
            if (want != (got > 0))
                fprintf(stderr, "\nschedule %d: %%%d moved to %ld: brute force %d, plan_check %ld\n", k, v, s->offset[v],
                        want, got);
            move_to(g, (SchedKind)k, v, saved);
        }
    }
    CU_ASSERT_EQUAL(agree, moves);
    CU_ASSERT(overlapping > 10 && overlapping < moves); /* both kinds were tried */
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
}

/* Other broken invariants: outside the arena, misaligned, an input run
 * after its reader, a view off its storage, the weights' layout. */
static void test_plan_check_other(void) {
    Graph *g = compile_ok(plan_models[1]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
    Schedule *s = &g->sched[SCHED_PREDICT];
    int h = find_named(g, OP_LINEAR, "h"), f = find_named(g, OP_RESHAPE, "f");
    CU_ASSERT_FATAL(h >= 0 && f >= 0);
    long saved = s->offset[h];
    move_to(g, SCHED_PREDICT, h, s->arena_size); /* past the end (and its views now differ) */
    CU_ASSERT(plan_check(g, NULL) >= 1);
    move_to(g, SCHED_PREDICT, h, saved + 1); /* not aligned */
    CU_ASSERT(plan_check(g, NULL) >= 1);
    move_to(g, SCHED_PREDICT, h, saved);
    move_to(g, SCHED_PREDICT, f, saved + 16); /* a view beside its storage: in both schedules */
    CU_ASSERT_EQUAL(plan_check(g, NULL), is_shared(g, f) ? 2 : 1);
    move_to(g, SCHED_PREDICT, f, saved);
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
    /* a shared node at another place in evaluate than in predict */
    CU_ASSERT_FATAL(is_shared(g, h));
    g->sched[SCHED_EVAL].offset[h] = saved + 16;
    CU_ASSERT(plan_check(g, NULL) >= 1);
    g->sched[SCHED_EVAL].offset[h] = saved;
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
    /* h read before it runs: swap it with the node after it */
    int i = 0;
    while (s->order[i] != h) i++;
    CU_ASSERT_FATAL(i + 1 < s->n);
    int t = s->order[i];
    s->order[i] = s->order[i + 1];
    s->order[i + 1] = t;
    CU_ASSERT(plan_check(g, NULL) >= 1);
    CU_ASSERT_EQUAL(plan_verify_aborts(g), 1);
    s->order[i + 1] = s->order[i];
    s->order[i] = t;
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
    /* a param's offset in the weights */
    g->nodes[g->params[0]].param_offset += 1;
    CU_ASSERT(plan_check(g, NULL) >= 1);
    g->nodes[g->params[0]].param_offset -= 1;
    CU_ASSERT_EQUAL(plan_check(g, NULL), 0);
}

/* ---- determinism -------------------------------------------------------------------- */

static void test_determinism(void) {
    for (size_t m = 0; m < sizeof plan_models / sizeof plan_models[0]; m++) {
        Graph *a = compile_ok(plan_models[m]);
        Graph *b = compile_ok(plan_models[m]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        const char *ta = ir_text(a), *tb = ir_text(b);
        CU_ASSERT_STRING_EQUAL(ta, tb);
        CU_ASSERT(strlen(ta) > 100);
        for (int k = 0; k < SCHED_COUNT; k++) {
            CU_ASSERT_EQUAL(a->sched[k].arena_size, b->sched[k].arena_size);
            CU_ASSERT_EQUAL(a->sched[k].n, b->sched[k].n);
            for (int v = 0; v < a->nnodes; v++) CU_ASSERT_EQUAL(a->sched[k].offset[v], b->sched[k].offset[v]);
        }
    }
}

/* stop_gradient: the weights behind it get no gradient through it. */
static void test_stop_gradient(void) {
    Compiled c = compile("model m\ninput x : float[4]\ntarget t : float[2]\n"
                         "k = stop_gradient(x -> dense(2))\ny = (x -> dense(2)) + k\noutput y\nloss mse(y, t)\n");
    CU_ASSERT_EQUAL(c.errors, 0);
    if (!c.g) return;
    for (int i = 0; i < c.g->nparams; i++) {
        const char *name = c.g->nodes[c.g->params[i]].name;
        if (!strncmp(name, "dense.", 6)) CU_ASSERT_EQUAL(c.g->param_grad[i], -1);
        if (!strncmp(name, "dense_1.", 8)) CU_ASSERT(c.g->param_grad[i] >= 0);
    }
}

/* Weights of every kind of named layer can be read by name. */
static void test_weight_fields(void) {
    Compiled c = compile("model m\ninput x : float[3, 4]\ntarget t : float[2]\nlayer r = lstm(2)\nlayer g = gru(2)\n"
                         "layer nn = layernorm()\nlayer bn = batchnorm()\nlayer cv = conv2d(2, 1)\nlayer c1 = conv1d(2, 2)\n"
                         "h = concat(x -> r, x -> g, x -> nn -> bn -> flatten, reshape(x, [3, 4, 1]) -> cv -> flatten,"
                         " x -> c1 -> flatten) -> dense(2)\n"
                         "output h\nloss mse(h, t) + l2(r.recurrent_kernel) + l2(g.bias) + l2(nn.gamma) + l2(bn.beta)"
                         " + l2(cv.kernel) + l2(bn.moving_mean) + l2(c1.kernel) + l2(c1.bias)\n");
    CU_ASSERT_EQUAL(c.errors, 0);
    Compiled bad = compile_upto("model m\ninput x : float[3, 4]\ntarget t : float[2]\nlayer r = lstm(2)\n"
                                "h = x -> r -> dense(2)\noutput h\nloss mse(h, t) + l2(r.embeddings)\n", UPTO_CHECK);
    CU_ASSERT_EQUAL(bad.errors, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(bad.diags, "has no weight 'embeddings'; it has kernel, recurrent_kernel, bias"));
}

/* conv1d: Keras's kernel [k, channels, filters], TensorFlow's same padding
 * (ceil(steps / strides) outputs); per-sample sequences only. */
static void test_conv1d(void) {
    Compiled c = compile_upto("model m\ninput s : float[7, 3]\ntarget t : float[2]\n"
                              "layer c = conv1d(2, 3, strides=2, padding=same)\nh = s -> c\nv = s -> conv1d(5, 4, strides=2)\n"
                              "y = concat(flatten(h), flatten(v)) -> dense(2)\noutput y\nloss mse(y, t)\n", UPTO_CHECK);
    CU_ASSERT_EQUAL_FATAL(c.errors, 0);
    const char *want[][2] = {{"c.kernel", "[3, 3, 2]"}, {"c.bias", "[2]"}, {"h", "[n, 4, 2]"},
                             {"conv1d.kernel", "[4, 3, 5]"}, {"v", "[n, 2, 5]"}};
    for (int i = 0; i < 5; i++) {
        int found = -1;
        for (int v = 0; v < c.g->nnodes; v++)
            if (c.g->nodes[v].name && !strcmp(c.g->nodes[v].name, want[i][0])) found = v;
        CU_ASSERT_FATAL(found >= 0);
        CU_ASSERT_STRING_EQUAL(shape_str(&c.g->nodes[found].shape), want[i][1]);
    }
    Compiled bad = compile_upto("model m\ninput img : float[4, 4, 2]\ninput s1 : float[5, 3]\ninput s2 : float[5, 2]\n"
                                "target t : float[1]\nlayer c = conv1d(2, 3)\n"
                                "y = concat(img -> conv1d(2, 3) -> flatten, s1 -> c -> flatten, s2 -> c -> flatten,"
                                " s1 -> conv1d(2, 6) -> flatten) -> dense(1)\noutput y\nloss mse(y, t)\n", UPTO_CHECK);
    CU_ASSERT_EQUAL(bad.errors, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(bad.diags, "conv1d needs per-sample float sequences [steps, channels], but 'img' [n, 4, 4, 2] is given"));
    CU_ASSERT_PTR_NOT_NULL(strstr(bad.diags, "layer 'c' (conv1d, kernel [3, 3, 2]) applied to sequences of 2 channels; "
                                             "it was first applied to 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(bad.diags, "conv1d: the kernel of 6 steps does not fit in 's1' [n, 5, 3] with padding=valid"));
}

/* A declared id range must fit every op that reads the ids. */
static void test_range_checks(void) {
    Compiled c = compile_upto("model m\ninput ids : int[2], range = [5, 9]\ntarget t : float[2]\n"
                              "y = one_hot(ids, 3) -> flatten -> dense(2)\noutput y\nloss mse(y, t)\n", UPTO_CHECK);
    CU_ASSERT_EQUAL(c.errors, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.diags, "one_hot takes ids below 3, but 'ids' is declared with ids up to 9"));
    Compiled ok = compile("model m\ninput ids : int[2], range = [0, 2]\ntarget t : float[2]\n"
                          "y = one_hot(ids, 3) -> flatten -> dense(2)\noutput y\nloss mse(y, t)\n");
    CU_ASSERT_EQUAL(ok.errors, 0);
}

/* A layer with no required argument can be named bare in a chain. */
static void test_bare_layer_in_chain(void) {
    Compiled c = compile("model m\ninput x : float[4]\ntarget t : float[4]\ny = x -> layernorm -> dense(4)\n"
                         "output y\nloss mse(y, t)\n");
    CU_ASSERT_EQUAL(c.errors, 0);
}

/* ---- regressions: bugs found by this suite, fixed ---------------------------------------- */

/* The concat message named the IR's 0-based per-sample axis (1), not the
 * axis the user wrote (Keras numbering: the batch is axis 0). */
static void test_bug_concat_axis_in_message(void) {
    Compiled c = compile("model m\ninput x : float[4, 10]\ninput z : float[5, 3]\ntarget t : float[1]\n"
                         "y = concat(x, z) -> flatten -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_PTR_NULL(strstr(c.diags, "concat along axis 1:"));
}

/* A named layer whose application failed was reported as never applied. */
static void test_bug_never_applied_after_failed_apply(void) {
    Compiled c = compile("model m\ninput x : int[10]\ntarget t : float[1]\nlayer enc = dense(4)\n"
                         "y = enc(x) -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_EQUAL(c.errors, 1);
    CU_ASSERT_EQUAL(c.warnings, 0);
}

/* `layer e = dens(4)` got no did-you-mean, unlike `x -> dens(4)`. */
static void test_bug_named_layer_no_hint(void) {
    Compiled c = compile("model m\ninput x : float[10]\ntarget t : float[1]\nlayer enc = dens(4)\n"
                         "y = x -> dense(1, activation=sigmoid)\n" TAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.diags, "did you mean 'dense'?"));
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite d = CU_add_suite("diagnostics", NULL, NULL);
    CU_add_test(d, "merge: add", test_merge_add);
    CU_add_test(d, "merge: multiply", test_merge_multiply);
    CU_add_test(d, "merge: no broadcasting", test_merge_no_broadcast);
    CU_add_test(d, "+ cannot broadcast", test_binary_plus_broadcast_error);
    CU_add_test(d, "concat: non-axis mismatch", test_concat_mismatch);
    CU_add_test(d, "concat: axis dims add", test_concat_ok_shape);
    CU_add_test(d, "shared layer, two widths", test_shared_layer_widths);
    CU_add_test(d, "int where float is needed", test_int_where_float_needed);
    CU_add_test(d, "unknown layer or function", test_unknown_function);
    CU_add_test(d, "unknown argument", test_unknown_argument);
    CU_add_test(d, "missing argument", test_missing_argument);
    CU_add_test(d, "used before definition", test_used_before_definition);
    CU_add_test(d, "undefined name", test_undefined_name);
    CU_add_test(d, "defined twice", test_defined_twice);
    CU_add_test(d, "loss not a scalar", test_loss_not_scalar);
    CU_add_test(d, "target outside loss", test_target_outside_loss);
    CU_add_test(d, "cce with int target", test_cce_int_target);
    CU_add_test(d, "sparse_cce ids shape", test_sparse_cce_shape);
    CU_add_test(d, "reshape size", test_reshape_size);
    CU_add_test(d, "no loss", test_no_loss);
    CU_add_test(d, "warnings", test_warnings);
    CU_add_test(d, "several errors", test_several_errors);
    CU_pSuite a = CU_add_suite("autodiff", NULL, NULL);
    CU_add_test(a, "two_concat", test_autodiff_two_concat);
    CU_add_test(a, "shared layer accumulates", test_autodiff_shared_layer);
    CU_add_test(a, "two branches accumulate", test_autodiff_branches);
    CU_add_test(a, "param gradients", test_autodiff_param_grads);
    CU_add_test(a, "loss without weights", test_autodiff_loss_without_weights);
    CU_add_test(a, "logits forms", test_autodiff_logits_forms);
    CU_add_test(a, "stop_gradient", test_stop_gradient);
    CU_add_test(d, "weights of every layer kind", test_weight_fields);
    CU_add_test(d, "conv1d: shapes and messages", test_conv1d);
    CU_add_test(d, "declared id ranges", test_range_checks);
    CU_add_test(d, "bare layer in a chain", test_bare_layer_in_chain);
    CU_pSuite f = CU_add_suite("fusion", NULL, NULL);
    CU_add_test(f, "matmul + bias + relu", test_fuse_linear_chain);
    CU_add_test(f, "shared pre-activation", test_fuse_stops_at_shared_preactivation);
    CU_add_test(f, "no bias", test_fuse_no_bias_activation);
    CU_add_test(f, "a second bias (a learned offset)", test_fuse_second_bias);
    CU_pSuite p = CU_add_suite("memory plan", NULL, NULL);
    CU_add_test(p, "invariants on several models", test_plan);
    CU_add_test(p, "first fit on a long model of mixed widths", test_plan_long_mixed);
    CU_add_test(p, "two_concat", test_plan_two_concat);
    CU_add_test(p, "frozen params last", test_plan_frozen_first_in_file);
    CU_add_test(p, "views", test_plan_views);
    CU_add_test(p, "plan_check: every model clean", test_plan_check_clean);
    CU_add_test(p, "plan_check: an overlap of two live values is caught, plan_verify aborts", test_plan_check_overlap);
    CU_add_test(p, "plan_check: every live pair moved together is caught (long model)", test_plan_check_overlap_long);
    CU_add_test(p, "plan_check: random moves, checked against every pair", test_plan_check_random_moves);
    CU_add_test(p, "plan_check: bounds, alignment, views, order, weights", test_plan_check_other);
    CU_pSuite m = CU_add_suite("determinism", NULL, NULL);
    CU_add_test(m, "same source, same IR", test_determinism);
    CU_pSuite b = CU_add_suite("regressions", NULL, NULL);
    CU_add_test(b, "concat message axis", test_bug_concat_axis_in_message);
    CU_add_test(b, "never applied after failed apply", test_bug_never_applied_after_failed_apply);
    CU_add_test(b, "named layer: hint", test_bug_named_layer_no_hint);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    mnc_free_all();
    return failures != 0;
}
