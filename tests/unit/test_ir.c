/* test_ir.c — the graph IR (compiler/ir.c) and the shape rules
 * (compiler/shape.c): building nodes and the shapes they get, the text
 * forms of shapes, broadcasting, use counts, compaction, verification and
 * the printed IR. */
#define _POSIX_C_SOURCE 200809L

#include "ir.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"

static const Loc noloc = {0, 0, 0, 0};

static Shape sh(int batched, int rank, int d0, int d1, int d2) {
    int dims[3] = {d0, d1, d2};
    return shape_make(batched, rank, dims);
}

static int input(Graph *g, const char *name, Shape s, Dtype dt) {
    int v = ir_source(g, OP_INPUT, s, dt, name, noloc);
    ir_push(&g->inputs, &g->ninputs, v);
    return v;
}

static int param(Graph *g, const char *name, Shape s) {
    int v = ir_source(g, OP_PARAM, s, DT_FLOAT, name, noloc);
    ir_push(&g->params, &g->nparams, v);
    return v;
}

static const char *str_of(const Graph *g, int v) { return shape_str(&g->nodes[v].shape); }

#define CHECK_SHAPE(g, v, expected)                                                 \
    do {                                                                            \
        const char *got_ = str_of((g), (v));                                        \
        CU_ASSERT_STRING_EQUAL(got_, (expected));                                   \
        if (strcmp(got_, (expected)) != 0)                                          \
            fprintf(stderr, "\n%%%d: got %s, expected %s\n", (v), got_, (expected)); \
    } while (0)

/* Builds a node expecting no message: QUIET(ir_add2(...)). */
static int quiet_end(int v) {
    const char *d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "");
    if (*d) fprintf(stderr, "\nunexpected: %s", d);
    return v;
}
#define QUIET(expr) (capture_begin(), quiet_end(expr))

/* ---- shape strings --------------------------------------------------------- */

static void test_shape_strings(void) {
    Shape s = sh(1, 1, 64, 0, 0);
    CU_ASSERT_STRING_EQUAL(shape_str(&s), "[n, 64]");
    CU_ASSERT_STRING_EQUAL(dims_str(&s), "[64]");
    s = sh(0, 2, 10, 64, 0);
    CU_ASSERT_STRING_EQUAL(shape_str(&s), "[10, 64]");
    CU_ASSERT_STRING_EQUAL(dims_str(&s), "[10, 64]");
    s = sh(1, 3, 2, 3, 4);
    CU_ASSERT_STRING_EQUAL(shape_str(&s), "[n, 2, 3, 4]");
    CU_ASSERT_STRING_EQUAL(dims_str(&s), "[2, 3, 4]");
    s = shape_scalar();
    CU_ASSERT_STRING_EQUAL(shape_str(&s), "scalar");
    CU_ASSERT_STRING_EQUAL(dims_str(&s), "[]");
    CU_ASSERT_EQUAL(s.rank, 0);
    CU_ASSERT_EQUAL(s.batched, 0);
    s = sh(1, 0, 0, 0, 0); /* one number per sample */
    CU_ASSERT_STRING_EQUAL(shape_str(&s), "[n]");
    CU_ASSERT_STRING_EQUAL(dims_str(&s), "[]");
    s.rank = -1;
    CU_ASSERT_STRING_EQUAL(shape_str(&s), "<error>");
    CU_ASSERT_STRING_EQUAL(dims_str(&s), "<error>");
    CU_ASSERT(shape_is_poison(&s));
}

static void test_shape_helpers(void) {
    Shape a = sh(1, 2, 3, 4, 0), b = sh(1, 2, 3, 4, 0), c = sh(0, 2, 3, 4, 0), d = sh(1, 2, 4, 3, 0);
    CU_ASSERT(shape_equal(&a, &b));
    CU_ASSERT(!shape_equal(&a, &c)); /* batched differs */
    CU_ASSERT(!shape_equal(&a, &d));
    Shape e = sh(1, 1, 3, 0, 0);
    CU_ASSERT(!shape_equal(&a, &e)); /* rank differs, leading dims equal */
    CU_ASSERT_EQUAL(shape_size(&a), 12);
    CU_ASSERT_EQUAL(shape_size(&c), 12); /* per sample: the batch is not counted */
    Shape s = shape_scalar();
    CU_ASSERT_EQUAL(shape_size(&s), 1);
    CU_ASSERT(!shape_is_poison(&s));
    /* shape_make copies only `rank` dims and zeroes the rest */
    int dims[4] = {7, 8, 9, 10};
    Shape m = shape_make(1, 2, dims);
    CU_ASSERT_EQUAL(m.dims[0], 7);
    CU_ASSERT_EQUAL(m.dims[1], 8);
    CU_ASSERT_EQUAL(m.dims[2], 0);
    CU_ASSERT_EQUAL(m.batched, 1);
}

static void test_broadcast_shapes(void) {
    Shape out;
    Shape a = sh(0, 2, 2, 1, 0), b = sh(0, 2, 1, 3, 0);
    CU_ASSERT_FATAL(broadcast_shapes(&a, &b, &out));
    CU_ASSERT_STRING_EQUAL(shape_str(&out), "[2, 3]");
    a = sh(1, 1, 1, 0, 0), b = sh(0, 1, 5, 0, 0);
    CU_ASSERT_FATAL(broadcast_shapes(&a, &b, &out));
    CU_ASSERT_STRING_EQUAL(shape_str(&out), "[n, 5]");
    CU_ASSERT_FATAL(broadcast_shapes(&b, &a, &out)); /* symmetric */
    CU_ASSERT_STRING_EQUAL(shape_str(&out), "[n, 5]");
    /* lower rank is aligned to the right */
    a = sh(1, 3, 2, 3, 4), b = sh(0, 1, 4, 0, 0);
    CU_ASSERT_FATAL(broadcast_shapes(&a, &b, &out));
    CU_ASSERT_STRING_EQUAL(shape_str(&out), "[n, 2, 3, 4]");
    a = sh(0, 2, 3, 1, 0), b = shape_scalar();
    CU_ASSERT_FATAL(broadcast_shapes(&a, &b, &out));
    CU_ASSERT_STRING_EQUAL(shape_str(&out), "[3, 1]");
    a = shape_scalar();
    CU_ASSERT_FATAL(broadcast_shapes(&a, &b, &out));
    CU_ASSERT_STRING_EQUAL(shape_str(&out), "scalar");
    /* incompatible: out is left alone */
    Shape keep = sh(0, 1, 99, 0, 0);
    out = keep;
    a = sh(0, 1, 3, 0, 0), b = sh(0, 1, 4, 0, 0);
    CU_ASSERT_FALSE(broadcast_shapes(&a, &b, &out));
    CU_ASSERT(shape_equal(&out, &keep));
    a = sh(1, 2, 2, 3, 0), b = sh(0, 2, 3, 3, 0);
    CU_ASSERT_FALSE(broadcast_shapes(&a, &b, &out));
    a = sh(1, 3, 2, 3, 4), b = sh(0, 2, 2, 4, 0); /* middle axis 3 vs 2 */
    CU_ASSERT_FALSE(broadcast_shapes(&a, &b, &out));
    a = sh(1, 2, 4, 3, 0), b = sh(1, 1, 4, 0, 0); /* last axes 3 vs 4 */
    CU_ASSERT_FALSE(broadcast_shapes(&a, &b, &out));
}

/* ---- building nodes --------------------------------------------------------- */

static void test_sources(void) {
    Graph *g = ir_new("m", "m.mn");
    CU_ASSERT_EQUAL(g->loss, -1);
    CU_ASSERT_EQUAL(g->train.batch, 32);
    CU_ASSERT_EQUAL(g->train.optimizer, OPT_ADAM);
    int x = input(g, "x", sh(1, 1, 10, 0, 0), DT_FLOAT);
    int ids = input(g, "ids", sh(1, 1, 7, 0, 0), DT_INT);
    int w = param(g, "w", sh(0, 2, 10, 4, 0));
    int c = ir_const(g, 0.25, noloc);
    CU_ASSERT_EQUAL(x, 0);
    CU_ASSERT_EQUAL(ids, 1);
    CU_ASSERT_EQUAL(w, 2);
    CU_ASSERT_EQUAL(c, 3);
    CU_ASSERT_EQUAL(g->nnodes, 4);
    CHECK_SHAPE(g, x, "[n, 10]");
    CU_ASSERT_EQUAL(g->nodes[ids].dtype, DT_INT);
    CU_ASSERT_EQUAL(g->nodes[x].dtype, DT_FLOAT);
    CU_ASSERT(g->nodes[w].trainable);
    CU_ASSERT(!g->nodes[x].trainable);
    CU_ASSERT_EQUAL(g->nodes[w].param_offset, -1);
    CU_ASSERT_STRING_EQUAL(g->nodes[w].name, "w");
    CU_ASSERT_EQUAL(g->nodes[c].op, OP_CONST);
    CU_ASSERT_EQUAL(g->nodes[c].value, 0.25);
    CHECK_SHAPE(g, c, "scalar");
    CU_ASSERT_EQUAL(g->nodes[c].nin, 0);
    CU_ASSERT_PTR_NULL(g->nodes[c].name);
    /* many nodes: the array grows and keeps earlier nodes */
    for (int i = 0; i < 200; i++) ir_const(g, i, noloc);
    CU_ASSERT_EQUAL(g->nnodes, 204);
    CU_ASSERT_EQUAL(g->nodes[203].value, 199);
    CU_ASSERT_STRING_EQUAL(g->nodes[w].name, "w");
    /* ir_push keeps every value */
    int *list = NULL, n = 0;
    for (int i = 0; i < 100; i++) ir_push(&list, &n, i * 3);
    CU_ASSERT_EQUAL(n, 100);
    int ok = 1;
    for (int i = 0; i < 100; i++) ok &= list[i] == i * 3;
    CU_ASSERT(ok);
}

static void test_elementwise_shapes(void) {
    Graph *g = ir_new("m", NULL);
    int x = input(g, "x", sh(1, 1, 4, 0, 0), DT_FLOAT);
    int col = input(g, "col", sh(1, 1, 1, 0, 0), DT_FLOAT);
    int b5 = param(g, "b5", sh(0, 1, 5, 0, 0));
    int b4 = param(g, "b4", sh(0, 1, 4, 0, 0));
    int m31 = param(g, "m31", sh(0, 2, 3, 1, 0));
    int m43 = param(g, "m43", sh(0, 2, 3, 4, 0));
    int c = ir_const(g, 2, noloc);

    int v = QUIET(ir_add2(g, OP_ADD, x, b4, noloc));
    CHECK_SHAPE(g, v, "[n, 4]");
    v = QUIET(ir_add2(g, OP_MUL, col, b5, noloc)); /* batched [1] with unbatched [5] */
    CHECK_SHAPE(g, v, "[n, 5]");
    v = QUIET(ir_add2(g, OP_SUB, m31, b4, noloc)); /* unbatched only */
    CHECK_SHAPE(g, v, "[3, 4]");
    CU_ASSERT_EQUAL(g->nodes[v].shape.batched, 0);
    v = QUIET(ir_add2(g, OP_DIV, c, x, noloc));
    CHECK_SHAPE(g, v, "[n, 4]");
    v = QUIET(ir_add2(g, OP_ADD, c, c, noloc));
    CHECK_SHAPE(g, v, "scalar");
    v = QUIET(ir_add2(g, OP_MAX, x, m43, noloc)); /* per-sample [4] with [3, 4] */
    CHECK_SHAPE(g, v, "[n, 3, 4]");
    v = QUIET(ir_add2(g, OP_LT, x, c, noloc));
    CHECK_SHAPE(g, v, "[n, 4]");
    CU_ASSERT_EQUAL(g->nodes[v].dtype, DT_FLOAT); /* masks are 0/1 floats */
    int mask = v;
    v = QUIET(ir_add3(g, OP_WHERE, mask, x, c, noloc));
    CHECK_SHAPE(g, v, "[n, 4]");
    v = QUIET(ir_add3(g, OP_WHERE, col, c, b5, noloc));
    CHECK_SHAPE(g, v, "[n, 5]");
    v = QUIET(ir_add1(g, OP_RELU, x, noloc));
    CHECK_SHAPE(g, v, "[n, 4]");
    v = QUIET(ir_add1(g, OP_SOFTMAX, m43, noloc));
    CHECK_SHAPE(g, v, "[3, 4]");
    v = QUIET(ir_add1(g, OP_NEG, c, noloc));
    CHECK_SHAPE(g, v, "scalar");
    CU_ASSERT_EQUAL(g->nodes[v].nin, 1);
    CU_ASSERT_EQUAL(g->nodes[v].in[0], c);
    CU_ASSERT_EQUAL(g->nodes[v].op, OP_NEG);
}

static void test_shape_errors(void) {
    Graph *g = ir_new("m", NULL);
    diag_set_source(NULL, NULL);
    int x = input(g, "x", sh(1, 1, 3, 0, 0), DT_FLOAT);
    int ids = input(g, "ids", sh(1, 1, 7, 0, 0), DT_INT);
    int b4 = param(g, "b4", sh(0, 1, 4, 0, 0));
    int w = param(g, "w", sh(0, 2, 4, 6, 0));

    capture_begin();
    int bad = ir_add2(g, OP_ADD, x, b4, noloc);
    const char *d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "<input>: error: add: cannot broadcast 'x' [n, 3] with 'b4' [4]\n");
    CU_ASSERT_EQUAL(diag_error_count(), 1);
    CU_ASSERT(shape_is_poison(&g->nodes[bad].shape));
    CHECK_SHAPE(g, bad, "<error>");

    /* a poisoned input: poisoned, silently */
    capture_begin();
    int r = ir_add1(g, OP_RELU, bad, noloc);
    int s = ir_add2(g, OP_MUL, r, x, noloc);
    int cat = ir_begin(g, OP_CONCAT, (int[]){x, s}, 2, noloc);
    g->nodes[cat].axis = 0;
    CU_ASSERT_EQUAL(ir_finish(g, cat), 0);
    d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "");
    CU_ASSERT_EQUAL(diag_error_count(), 0);
    CU_ASSERT(shape_is_poison(&g->nodes[r].shape));
    CU_ASSERT(shape_is_poison(&g->nodes[s].shape));
    CU_ASSERT(shape_is_poison(&g->nodes[cat].shape));

    capture_begin();
    int m = ir_add2(g, OP_MATMUL, x, w, noloc);
    d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "<input>: error: matrix product of 'x' [n, 3] with 'w' [4, 6]: the last axis of the first must be 4\n");
    CU_ASSERT(shape_is_poison(&g->nodes[m].shape));

    capture_begin();
    int e = ir_add2(g, OP_ADD, ids, ids, noloc);
    d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "<input>: error: add needs float values, but 'ids' [n, 7] is int; convert it with cast(x, float)\n");
    CU_ASSERT(shape_is_poison(&g->nodes[e].shape));

    capture_begin();
    int table = param(g, "table", sh(0, 2, 100, 16, 0));
    int emb = ir_add2(g, OP_EMBEDDING, x, table, noloc);
    d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "<input>: error: embedding needs int ids, but 'x' [n, 3] is float\n");
    CU_ASSERT(shape_is_poison(&g->nodes[emb].shape));

    capture_begin();
    int rs = ir_begin(g, OP_RESHAPE, &x, 1, noloc);
    g->nodes[rs].to = sh(0, 2, 2, 2, 0);
    CU_ASSERT_EQUAL(ir_finish(g, rs), 0);
    d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "<input>: error: reshape: 'x' [n, 3] has 3 values per sample, the new shape [2, 2] has 4\n");

    /* an unnamed operand is described by its op */
    int y = QUIET(ir_add1(g, OP_TANH, x, noloc));
    capture_begin();
    ir_add2(g, OP_SUB, y, b4, noloc);
    d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "<input>: error: sub: cannot broadcast tanh [n, 3] with 'b4' [4]\n");

    /* notes point at named values that have a place in the source */
    const char *src = "input x : float[3]\nparam b4 : float[4] = 0\nz = x + b4\n";
    diag_set_source("s.mn", src);
    g->nodes[x].loc = (Loc){1, 1, 1, 18};
    g->nodes[b4].loc = (Loc){2, 1, 2, 23};
    capture_begin();
    ir_add2(g, OP_ADD, x, b4, (Loc){3, 5, 3, 10});
    d = capture_end();
    CU_ASSERT_STRING_EQUAL(d,
                           "s.mn:3:5: error: add: cannot broadcast 'x' [n, 3] with 'b4' [4]\n"
                           "    3 | z = x + b4\n"
                           "      |     ^~~~~~\n"
                           "s.mn:1:1: note: 'x' defined here\n"
                           "    1 | input x : float[3]\n"
                           "      | ^~~~~~~~~~~~~~~~~~\n"
                           "s.mn:2:1: note: 'b4' defined here\n"
                           "    2 | param b4 : float[4] = 0\n"
                           "      | ^~~~~~~~~~~~~~~~~~~~~~~\n");
    diag_set_source(NULL, NULL);
    diag_reset_counts();
}

static void test_structural_shapes(void) {
    Graph *g = ir_new("m", NULL);
    int a = input(g, "a", sh(1, 2, 2, 3, 0), DT_FLOAT);
    int b = input(g, "b", sh(1, 2, 5, 3, 0), DT_FLOAT);
    int c = input(g, "c", sh(1, 2, 2, 8, 0), DT_FLOAT);
    int ids = input(g, "ids", sh(1, 1, 7, 0, 0), DT_INT);
    int table = param(g, "table", sh(0, 2, 100, 16, 0));
    int w = param(g, "w", sh(0, 2, 3, 6, 0));
    int bias = param(g, "bias", sh(0, 1, 6, 0, 0));

    /* concat along the first per-sample axis, then the last */
    int v = ir_begin(g, OP_CONCAT, (int[]){a, b, a}, 3, noloc);
    g->nodes[v].axis = 0;
    CU_ASSERT_EQUAL(QUIET(ir_finish(g, v)), 1);
    CHECK_SHAPE(g, v, "[n, 9, 3]");
    CU_ASSERT_EQUAL(g->nodes[v].nin, 3);
    v = ir_begin(g, OP_CONCAT, (int[]){a, c}, 2, noloc);
    g->nodes[v].axis = 1;
    CU_ASSERT_EQUAL(QUIET(ir_finish(g, v)), 1);
    CHECK_SHAPE(g, v, "[n, 2, 11]");
    /* a mismatch in the other axis */
    v = ir_begin(g, OP_CONCAT, (int[]){a, b}, 2, noloc);
    g->nodes[v].axis = 1;
    capture_begin();
    CU_ASSERT_EQUAL(ir_finish(g, v), 0);
    CU_ASSERT_STRING_EQUAL(capture_end(),
                           "<input>: error: concat along axis 2: 'a' [n, 2, 3] and 'b' [n, 5, 3] differ in a dimension other than that axis\n");

    /* reshape keeps batched and dtype */
    v = ir_begin(g, OP_RESHAPE, &a, 1, noloc);
    g->nodes[v].to = sh(0, 1, 6, 0, 0);
    CU_ASSERT_EQUAL(QUIET(ir_finish(g, v)), 1);
    CHECK_SHAPE(g, v, "[n, 6]");
    v = ir_begin(g, OP_RESHAPE, &ids, 1, noloc);
    g->nodes[v].to = sh(0, 2, 7, 1, 0);
    CU_ASSERT_EQUAL(QUIET(ir_finish(g, v)), 1);
    CHECK_SHAPE(g, v, "[n, 7, 1]");
    CU_ASSERT_EQUAL(g->nodes[v].dtype, DT_INT);
    int ids71 = v;

    /* embedding: ids[...] -> [..., D] */
    v = QUIET(ir_add2(g, OP_EMBEDDING, ids, table, noloc));
    CHECK_SHAPE(g, v, "[n, 7, 16]");
    CU_ASSERT_EQUAL(g->nodes[v].dtype, DT_FLOAT);
    v = QUIET(ir_add2(g, OP_EMBEDDING, ids71, table, noloc));
    CHECK_SHAPE(g, v, "[n, 7, 1, 16]");

    /* matmul over the last axis, leading axes kept */
    v = QUIET(ir_add2(g, OP_MATMUL, a, w, noloc));
    CHECK_SHAPE(g, v, "[n, 2, 6]");
    int lin = ir_begin(g, OP_LINEAR, (int[]){a, w, bias}, 3, noloc);
    CU_ASSERT_EQUAL(QUIET(ir_finish(g, lin)), 1);
    CHECK_SHAPE(g, lin, "[n, 2, 6]");
    int dx = QUIET(ir_add2(g, OP_MATMUL_DX, lin, w, noloc));
    CHECK_SHAPE(g, dx, "[n, 2, 3]");
    int dw = QUIET(ir_add2(g, OP_MATMUL_DW, a, lin, noloc));
    CHECK_SHAPE(g, dw, "[3, 6]");

    /* slice, sum_to */
    v = ir_begin(g, OP_SLICE, &b, 1, noloc);
    g->nodes[v].axis = 0;
    g->nodes[v].start = 1;
    g->nodes[v].len = 3;
    CU_ASSERT_EQUAL(QUIET(ir_finish(g, v)), 1);
    CHECK_SHAPE(g, v, "[n, 3, 3]");
    v = ir_begin(g, OP_SUM_TO, &lin, 1, noloc);
    g->nodes[v].to = g->nodes[bias].shape;
    CU_ASSERT_EQUAL(QUIET(ir_finish(g, v)), 1);
    CHECK_SHAPE(g, v, "[6]");

    /* losses are scalars; cast makes floats */
    int t = ir_source(g, OP_TARGET, sh(1, 2, 2, 3, 0), DT_FLOAT, "t", noloc);
    v = QUIET(ir_add2(g, OP_MSE, a, t, noloc));
    CHECK_SHAPE(g, v, "scalar");
    CU_ASSERT_EQUAL(g->nodes[v].shape.batched, 0);
    v = QUIET(ir_add1(g, OP_L2, w, noloc));
    CHECK_SHAPE(g, v, "scalar");
    v = QUIET(ir_add1(g, OP_CAST, ids, noloc));
    CHECK_SHAPE(g, v, "[n, 7]");
    CU_ASSERT_EQUAL(g->nodes[v].dtype, DT_FLOAT);
    int lg = ir_begin(g, OP_LOSS_GRAD, (int[]){a, t, ir_const(g, 1, noloc)}, 3, noloc);
    g->nodes[lg].loss = OP_MSE;
    CU_ASSERT_EQUAL(QUIET(ir_finish(g, lg)), 1);
    CHECK_SHAPE(g, lg, "[n, 2, 3]");
    /* sparse ids: [..] without the class axis, or with a trailing 1 */
    int y = input(g, "y", sh(1, 2, 7, 5, 0), DT_FLOAT);
    v = QUIET(ir_add2(g, OP_SPARSE_CCE, y, ids, noloc));
    CHECK_SHAPE(g, v, "scalar");
    v = QUIET(ir_add2(g, OP_SPARSE_CCE, y, ids71, noloc));
    CHECK_SHAPE(g, v, "scalar");
    v = QUIET(ir_add2(g, OP_ACCURACY, y, ids71, noloc));
    CHECK_SHAPE(g, v, "scalar");
    capture_begin();
    v = ir_add2(g, OP_SPARSE_CCE, a, ids, noloc);
    capture_end();
    CU_ASSERT(shape_is_poison(&g->nodes[v].shape));
    CU_ASSERT_EQUAL(diag_error_count(), 1);
    diag_reset_counts();
}

/* ---- uses, compaction, verification ----------------------------------------- */

/* 0 x  1 w  2 b  3 matmul(0,1)  4 const (dead)  5 add(3,2)  6 mul(3,3) (dead)
 * 7 relu(5)  8 t  9 mse(7,8)  10 copy(9) (dead) */
static Graph *small_graph(void) {
    Graph *g = ir_new("small", NULL);
    int x = input(g, "x", sh(1, 1, 4, 0, 0), DT_FLOAT);
    int w = param(g, "w", sh(0, 2, 4, 3, 0));
    int b = param(g, "b", sh(0, 1, 3, 0, 0));
    int m = ir_add2(g, OP_MATMUL, x, w, noloc);
    int k = ir_const(g, 2, noloc);
    int a = ir_add2(g, OP_ADD, m, b, noloc);
    int sq = ir_add2(g, OP_MUL, m, m, noloc);
    int r = ir_add1(g, OP_RELU, a, noloc);
    int t = ir_source(g, OP_TARGET, sh(1, 1, 3, 0, 0), DT_FLOAT, "t", noloc);
    ir_push(&g->targets, &g->ntargets, t);
    int l = ir_add2(g, OP_MSE, r, t, noloc);
    int cp = ir_add1(g, OP_COPY, l, noloc);
    CU_ASSERT_EQUAL(cp, 10);
    (void)k, (void)sq;
    ir_push(&g->outputs, &g->noutputs, r);
    g->loss = l;
    g->metrics = xalloc(sizeof(Metric));
    g->metrics[0] = (Metric){.name = "accuracy", .value = r};
    g->nmetrics = 1;
    g->param_grad = xalloc(sizeof(int) * 2);
    g->param_grad[0] = -1;
    g->param_grad[1] = l;
    return g;
}

static void test_use_counts(void) {
    Graph *g = small_graph();
    int *u = ir_use_counts(g);
    CU_ASSERT_EQUAL(u[0], 1);
    CU_ASSERT_EQUAL(u[1], 1);
    CU_ASSERT_EQUAL(u[2], 1);
    CU_ASSERT_EQUAL(u[3], 3); /* add, and mul reads it twice */
    CU_ASSERT_EQUAL(u[4], 0);
    CU_ASSERT_EQUAL(u[5], 1);
    CU_ASSERT_EQUAL(u[6], 0);
    CU_ASSERT_EQUAL(u[7], 1); /* outputs and metrics are not uses */
    CU_ASSERT_EQUAL(u[9], 1);
    CU_ASSERT_EQUAL(u[10], 0);
    g->nodes[6].dead = 1;
    g->nodes[10].dead = 1;
    u = ir_use_counts(g);
    CU_ASSERT_EQUAL(u[3], 1); /* the dead mul no longer counts */
    CU_ASSERT_EQUAL(u[9], 0);
}

static void test_compact(void) {
    Graph *g = small_graph();
    g->nodes[4].dead = 1;
    g->nodes[6].dead = 1;
    g->nodes[10].dead = 1;
    ir_compact(g);
    /* 0 1 2 3 | 5->4 7->5 8->6 9->7 */
    CU_ASSERT_EQUAL_FATAL(g->nnodes, 8);
    static const Op ops[8] = {OP_INPUT, OP_PARAM, OP_PARAM, OP_MATMUL, OP_ADD, OP_RELU, OP_TARGET, OP_MSE};
    for (int v = 0; v < 8; v++) {
        CU_ASSERT_EQUAL(g->nodes[v].op, ops[v]);
        CU_ASSERT(!g->nodes[v].dead);
    }
    CU_ASSERT_EQUAL(g->nodes[3].in[0], 0);
    CU_ASSERT_EQUAL(g->nodes[3].in[1], 1);
    CU_ASSERT_EQUAL(g->nodes[4].in[0], 3);
    CU_ASSERT_EQUAL(g->nodes[4].in[1], 2);
    CU_ASSERT_EQUAL(g->nodes[5].in[0], 4);
    CU_ASSERT_EQUAL(g->nodes[7].in[0], 5);
    CU_ASSERT_EQUAL(g->nodes[7].in[1], 6);
    CU_ASSERT_EQUAL(g->inputs[0], 0);
    CU_ASSERT_EQUAL(g->params[0], 1);
    CU_ASSERT_EQUAL(g->params[1], 2);
    CU_ASSERT_EQUAL(g->targets[0], 6);
    CU_ASSERT_EQUAL(g->outputs[0], 5);
    CU_ASSERT_EQUAL(g->loss, 7);
    CU_ASSERT_EQUAL(g->metrics[0].value, 5);
    CU_ASSERT_EQUAL(g->param_grad[0], -1);
    CU_ASSERT_EQUAL(g->param_grad[1], 7);
    CU_ASSERT_STRING_EQUAL(g->nodes[6].name, "t");
    ir_verify(g); /* still valid */
    /* nothing dead: a no-op */
    ir_compact(g);
    CU_ASSERT_EQUAL(g->nnodes, 8);
    CU_ASSERT_EQUAL(g->loss, 7);
    /* no loss stays no loss */
    g->loss = -1;
    g->nodes[7].dead = 1;
    g->param_grad[1] = -1;
    ir_compact(g);
    CU_ASSERT_EQUAL(g->nnodes, 7);
    CU_ASSERT_EQUAL(g->loss, -1);
}

/* Runs f(g) in a child; 1 when the child died abnormally (an abort). */
static int aborts(void (*f)(Graph *), Graph *g) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        f(g);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void run_verify(Graph *g) { ir_verify(g); }

static void test_verify(void) {
    Graph *g = small_graph();
    CU_ASSERT_EQUAL(aborts(run_verify, g), 0);
    ir_verify(g);
    /* a held shape that the rule would not derive */
    g = small_graph();
    g->nodes[5].shape.dims[0] = 4;
    CU_ASSERT_EQUAL(aborts(run_verify, g), 1);
    /* an input that is not earlier */
    g = small_graph();
    g->nodes[3].in[0] = 5;
    CU_ASSERT_EQUAL(aborts(run_verify, g), 1);
    /* reading a dead node */
    g = small_graph();
    g->nodes[4].dead = 1;
    g->nodes[5].in[0] = 4;
    CU_ASSERT_EQUAL(aborts(run_verify, g), 1);
    /* a wrong arity */
    g = small_graph();
    g->nodes[7].nin = 2;
    CU_ASSERT_EQUAL(aborts(run_verify, g), 1);
    /* compacting away a node that a live node reads is an internal bug */
    g = small_graph();
    g->nodes[3].dead = 1;
    CU_ASSERT_EQUAL(aborts(ir_compact, g), 1);
}

/* ---- printing ----------------------------------------------------------------- */

static void test_print_built(void) {
    Graph *g = ir_new("tiny", NULL);
    int x = input(g, "x", sh(1, 1, 4, 0, 0), DT_FLOAT);
    int ids = input(g, "ids", sh(1, 1, 2, 0, 0), DT_INT);
    int k = param(g, "k", sh(0, 1, 4, 0, 0));
    g->nodes[k].trainable = 0;
    g->nodes[k].loc = (Loc){3, 1, 3, 5};
    int c = ir_const(g, 0.1, noloc);
    int s = ir_add2(g, OP_MUL, x, k, noloc);
    int a = ir_add2(g, OP_ADD, s, c, noloc);
    g->nodes[a].name = "a";
    g->nodes[a].loc = (Loc){7, 1, 7, 9};
    int cat = ir_begin(g, OP_CONCAT, (int[]){a, x}, 2, noloc);
    g->nodes[cat].axis = 0;
    ir_finish(g, cat);
    int sl = ir_begin(g, OP_SLICE, &cat, 1, noloc);
    g->nodes[sl].axis = 0;
    g->nodes[sl].start = 4;
    g->nodes[sl].len = 3;
    ir_finish(g, sl);
    int cast = ir_add1(g, OP_CAST, ids, noloc);
    ir_push(&g->outputs, &g->noutputs, sl);
    ir_push(&g->outputs, &g->noutputs, cast);
    Buf b = {0};
    ir_print(&b, g);
    CU_ASSERT_STRING_EQUAL(b.data,
                           "model tiny\n"
                           "%0 = input : float[n, 4]  ; x\n"
                           "%1 = input : int[n, 2]  ; ids\n"
                           "%2 = param const : float[4]  ; k  @3\n"
                           "%3 = const 0.1 : float scalar\n"
                           "%4 = mul %0, %2 : float[n, 4]\n"
                           "%5 = add %4, %3 : float[n, 4]  ; a  @7\n"
                           "%6 = concat %5, %0 axis=0 : float[n, 8]\n"
                           "%7 = slice %6 axis=0 start=4 len=3 : float[n, 3]\n"
                           "%8 = cast %1 : float[n, 2]\n"
                           "output %7\n"
                           "output %8\n");
    (void)x, (void)c;
}

static void test_print_compiled(void) {
    const char *src = "model tiny\n"
                      "input x : float[3]\n"
                      "target t : float[2]\n"
                      "y = x -> dense(2, activation=tanh)\n"
                      "output y\n"
                      "loss mse(y, t)\n";
    capture_begin();
    diag_set_source("tiny.mn", src);
    Program *p = parse_program("tiny.mn", src);
    Graph *g = lower_program(p, "tiny.mn");
    check_graph(g);
    fuse_logits(g);
    autodiff(g);
    fuse_linear(g);
    plan_memory(g);
    const char *d = capture_end();
    CU_ASSERT_STRING_EQUAL(d, "");
    Buf b = {0};
    ir_print(&b, g);
    CU_ASSERT_STRING_EQUAL(b.data,
                           "model tiny\n"
                           "%0 = input : float[n, 3]  ; x  @2\n"
                           "%1 = target : float[n, 2]  ; t  @3\n"
                           "%2 = param : float[3, 2]  ; dense.kernel  @4\n"
                           "%3 = param : float[2]  ; dense.bias  @4\n"
                           "%4 = linear %0, %2, %3 act=tanh : float[n, 2]  ; y  @4\n"
                           "%5 = mse %4, %1 : float scalar  @6\n"
                           "%6 = const 1 : float scalar  @6\n"
                           "%7 = loss_grad %4, %1, %6 of=mse : float[n, 2]  @6\n"
                           "%8 = unary_grad %4, %7 of=tanh : float[n, 2]  ; d_y  @4\n"
                           "%9 = sum_to %8 : float[2]  @4\n"
                           "%10 = matmul_dw %0, %8 : float[3, 2]  @4\n"
                           "output %4\n"
                           "loss %5\n"
                           "grad %2 = %10\n"
                           "grad %3 = %9\n");
    if (strstr(b.data, "act=tanh") == NULL) fprintf(stderr, "\n%s", b.data);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("shapes", NULL, NULL);
    CU_add_test(s, "shape_str and dims_str", test_shape_strings);
    CU_add_test(s, "equal, size, make", test_shape_helpers);
    CU_add_test(s, "broadcast_shapes", test_broadcast_shapes);
    CU_pSuite b = CU_add_suite("building", NULL, NULL);
    CU_add_test(b, "sources and constants", test_sources);
    CU_add_test(b, "elementwise broadcasting", test_elementwise_shapes);
    CU_add_test(b, "shape errors and poison", test_shape_errors);
    CU_add_test(b, "concat, reshape, embedding, matmul, ...", test_structural_shapes);
    CU_pSuite g = CU_add_suite("graph", NULL, NULL);
    CU_add_test(g, "use counts", test_use_counts);
    CU_add_test(g, "compact renumbers", test_compact);
    CU_add_test(g, "verify", test_verify);
    CU_add_test(g, "print a built graph", test_print_built);
    CU_add_test(g, "print a compiled model", test_print_compiled);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    mnc_free_all();
    return failures != 0;
}
