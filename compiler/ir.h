/* ir.h — the graph IR, and the passes that read and rewrite it.
 *
 * A Graph is an array of Nodes in topological order: a node's inputs always
 * have smaller ids. A node is also the value it produces (SSA: value id ==
 * node id). Shapes are static and per sample; `batched` says whether the
 * implicit batch dimension stands in front (inputs, and everything computed
 * from them) or not (params, constants, losses).
 *
 * Pipeline (driver.c): lower -> check -> fuse_logits -> autodiff ->
 *                      fuse_linear -> plan -> emit_c
 * Each pass includes this header and the op table, never another pass.
 */
#ifndef IR_H
#define IR_H

#include <stdint.h>

#include "ast.h"

typedef enum Op {
#define OP(id, name, arity, flags, sign, shape, grad, emit) OP_##id,
#include "ops.def"
#undef OP
    OP_COUNT
} Op;

enum {
    OPF_SOURCE = 1 << 0,
    OPF_VIEW = 1 << 1,
    OPF_NOGRAD = 1 << 2,
    OPF_BACKWARD = 1 << 3,
    OPF_ELEMWISE = 1 << 4,
};

/* How an op treats signs: its value's signs from its inputs', and the signs
 * of d(loss)/d(input) from d(loss)/d(value) (check.c's one-signed params). */
typedef enum SignRule {
    SR_UNKNOWN,      /* value unknown; its inputs' derivatives unknown */
    SR_NOGRAD,       /* no gradient flows to the inputs; value unknown */
    SR_NOGRAD_01,    /* no gradient flows to the inputs; value 0 or 1: comparisons, one_hot */
    SR_NOGRAD_SAME,  /* no gradient flows to the input; value of its sign: cast, sign, stop_gradient */
    SR_POW,          /* x^p: >= 0 when x is; derivatives unknown */
    SR_SUM,          /* value: sums of the input's; derivative passes on: reduce_sum, expand */
    SR_PICK,         /* value: one of the input's; derivative passes on or is 0: reduce_max */
    SR_NONNEG_OPAQUE,/* value >= 0; inputs' derivatives unknown (losses, penalties, softmax, square, abs) */
    SR_NONNEG_INCR,  /* value >= 0, increasing: relu, sigmoid, exp, softplus, sqrt */
    SR_SAME_INCR,    /* value has its input's sign, increasing: tanh */
    SR_INCR,         /* increasing, value unknown: log */
    SR_PASS,         /* value and derivative pass through unchanged: copy, reshape */
    SR_ADD, SR_SUB, SR_MUL, SR_DIV, SR_NEG, SR_MAX, SR_WHERE, SR_CONCAT,
} SignRule;

typedef struct OpInfo {
    const char *name;
    int arity;
    int flags;
    SignRule sign;
} OpInfo;
extern const OpInfo op_info[OP_COUNT];

/* The rest of a unary.def line, for the ops it defines (forward == NULL
 * for every other op). */
typedef enum UnaryReads { UNARY_READS_X, UNARY_READS_Y } UnaryReads;
typedef struct UnaryInfo {
    const char *forward;    /* y as a C template of x */
    const char *derivative; /* dx as a C template of dy and x or y */
    UnaryReads reads;       /* which of x and y the derivative reads */
    int fn;                 /* the language has the function name(x) */
    int act;                /* `activation=name` takes it */
    const char *keras_name, *keras_type; /* --emit summary's names of a call */
} UnaryInfo;
extern const UnaryInfo unary_info[OP_COUNT];
/* The unary.def op called `name` in the language (fn = 1), or -1. */
int unary_function(const char *name);

typedef enum Dtype { DT_FLOAT, DT_INT } Dtype;

/* rank == -1 marks a poisoned value: an error was reported where it was
 * made; later rules stay silent about it. */
typedef struct Shape {
    int rank;
    int dims[MN_MAX_RANK];
    int batched;
} Shape;

typedef enum InitKind {
    INIT_ZEROS, INIT_ONES, INIT_CONST, INIT_UNIFORM, INIT_NORMAL, INIT_GLOROT_UNIFORM,
    INIT_ORTHOGONAL,        /* Keras's orthogonal (recurrent kernels) */
    INIT_FORGET_BIAS        /* an LSTM bias: zeros, and ones for the forget gate [u, 2u) */
} InitKind;

typedef struct Init {
    InitKind kind;
    double a, b;            /* CONST: a; UNIFORM: [a, b); NORMAL: mean a, std b */
    int fan_in, fan_out;    /* GLOROT_UNIFORM; ORTHOGONAL: rows, cols; FORGET_BIAS: fan_in = units */
} Init;

typedef struct Node {
    Op op;
    int nin;
    int *in;                /* value ids, all < this node's id */
    Shape shape;
    Dtype dtype;
    Loc loc;                /* the source text this node came from */
    const char *name;       /* value or tensor name ("a", "dense_1.kernel"), may be NULL */
    int backward;           /* made by autodiff (for comments) */

    /* attributes; which op uses which field: */
    Op act;                 /* LINEAR: its activation, a unary.def op with act = 1, or
                               OP_COPY for none (the identity) */
    int axis;               /* CONCAT, SLICE, REDUCE_*: per-sample axis (0-based);
                               LSTM_*: return_sequences */
    int start, len;         /* SLICE; ONE_HOT: len = depth; IM2COL, pools: start = padding
                               same; LSTM_*: len = units, start = go_backwards */
    int k[2], s[2], pad[2]; /* IM2COL, COL2IM, pools: window, stride, top/left padding */
    Op loss;                /* LOSS_GRAD, PENALTY_GRAD, POOL_GRAD, NORM_GRAD, UNARY_GRAD:
                               the forward op */
    double value;           /* CONST; LAYERNORM, BATCHNORM, NORM_GRAD: epsilon; DROPOUT_MASK: rate */
    double momentum;        /* BATCHNORM: of the moving averages */
    Shape to;               /* RESHAPE: the new shape; SUM_TO: the shape summed down to;
                               EMBEDDING_DW: the table's shape */
    int io_index;           /* INPUT, TARGET: position among the declarations */
    Init init;              /* PARAM */
    int trainable;          /* PARAM */
    int64_t int_bound;      /* INPUT/TARGET of int type: ids are in [0, int_bound); 0 unknown */
    int target_kind;        /* TARGET: mn_target_kind, set from the loss that reads it */
    int has_range;          /* INPUT/TARGET: declared `range = [lo, hi]` (inclusive) */
    double lo, hi;

    /* filled by passes */
    int dead;               /* removed by a rewrite; ir_compact drops it */
    int param_offset;       /* PARAM: elements into the flat parameter buffer (plan) */
} Node;

typedef enum Optimizer { OPT_ADAM, OPT_SGD } Optimizer;

typedef struct TrainSpec {
    Optimizer optimizer;
    double lr, beta1, beta2, epsilon, momentum;
    double clip_norm;       /* 0: off */
    int batch, epochs;
    uint64_t seed;
    Loc loc;
} TrainSpec;

typedef struct Metric {
    const char *name;       /* "accuracy" */
    int value;              /* the ACCURACY node */
    Loc loc;
} Metric;

/* Schedules: which nodes each generated function runs, in order, and where
 * each value lives. plan.c fills them. */
typedef enum SchedKind { SCHED_PREDICT, SCHED_EVAL, SCHED_TRAIN, SCHED_COUNT } SchedKind;

typedef struct Schedule {
    int *order;             /* node ids in execution order (no sources) */
    int n;
    long *offset;           /* per node id: arena offset in elements, -1 if not in the arena */
    long arena_size;        /* elements */
} Schedule;

typedef struct Graph {
    const char *model_name;
    const char *path;       /* source file, for provenance comments */
    int f64;                /* --dtype f64 */

    Node *nodes;
    int nnodes, cap;

    int *inputs, ninputs;   /* INPUT node ids, declaration order */
    int *targets, ntargets; /* TARGET node ids */
    int *params, nparams;   /* PARAM node ids, in the flat buffer's order */
    int *outputs, noutputs; /* values returned by predict */
    const char **output_names; /* as the `output` statement names them */
    int loss;               /* scalar loss value, -1 if none */
    Metric *metrics;
    int nmetrics;
    TrainSpec train;

    int *param_grad;        /* per entry of params: its gradient value, -1 = zero (autodiff) */
    long nparam_elems;      /* plan: size of the flat parameter buffer */
    long ntrainable_elems;  /* plan: trainable params come first */
    Schedule sched[SCHED_COUNT];
    int infer_shared;       /* plan: predict's and evaluate's first infer_shared nodes are the same, at the same
                             * offsets (their shared forward, emitted once) */
} Graph;

/* ---- ir.c: building and inspecting -------------------------------------- */
Graph *ir_new(const char *model_name, const char *path);
/* Appends a node and runs its shape rule; returns its id. When the rule
 * rejects the inputs (after reporting), the value is poisoned. */
int ir_add(Graph *g, Op op, const int *in, int nin, Loc loc);
int ir_add1(Graph *g, Op op, int a, Loc loc);
int ir_add2(Graph *g, Op op, int a, int b, Loc loc);
int ir_add3(Graph *g, Op op, int a, int b, int c, Loc loc);
/* A source node (INPUT, TARGET, PARAM, CONST) with a given shape. */
int ir_source(Graph *g, Op op, Shape shape, Dtype dtype, const char *name, Loc loc);
int ir_const(Graph *g, double value, Loc loc);
/* Two-phase form for ops whose shape rule reads attributes: ir_begin
 * appends the node without a shape, the caller sets the attributes, and
 * ir_finish runs the shape rule (poisoning the value if it fails). */
int ir_begin(Graph *g, Op op, const int *in, int nin, Loc loc);
int ir_finish(Graph *g, int v);
void ir_push(int **list, int *n, int v);

Shape shape_scalar(void);
Shape shape_make(int batched, int rank, const int *dims);
int shape_equal(const Shape *a, const Shape *b);
int shape_is_poison(const Shape *s);
long shape_size(const Shape *s);          /* per sample */
const char *shape_str(const Shape *s);    /* "[n, 64]", "[10, 64]", "scalar" */
const char *dims_str(const Shape *s);     /* per-sample dims only: "[64]" */
/* How diagnostics name a value: "'a' [n, 64]", or "matmul [n, 64]" unnamed. */
const char *node_desc(const Node *n);

/* Users of each value, computed on demand (counts over live nodes). */
int *ir_use_counts(const Graph *g);
/* Drops dead nodes, renumbering every id held by the graph. */
void ir_compact(Graph *g);
/* Checks the invariants (topological order, arities, shapes re-derived by
 * the shape rules); aborts through unreachable() on an internal bug. */
void ir_verify(Graph *g);
/* The IR as text (--emit=ir). */
void ir_print(Buf *out, const Graph *g);

/* ---- shape.c: the shape column of the op table --------------------------- */
int shape_infer(Graph *g, Node *n);   /* 1 ok, 0 rejected (reported) */
int broadcast_shapes(const Shape *a, const Shape *b, Shape *out); /* 0 if incompatible */

/* ---- the passes ---------------------------------------------------------- */
Graph *lower_program(const Program *prog, const char *path); /* lower.c */
/* layers.c, the layer table: the Keras class of a layer kind ("dense" ->
 * "Dense"), NULL when `name` is no layer (summary.c) */
const char *layer_keras_type(const char *name);
void check_graph(Graph *g);      /* check.c: model-level errors and warnings */
void fuse_logits(Graph *g);      /* fuse.c: sigmoid+bce, softmax+cce -> logits forms */
void autodiff(Graph *g);         /* autodiff.c: reverse mode from g->loss */
void fuse_linear(Graph *g);      /* fuse.c: matmul + bias + activation -> linear */
void plan_memory(Graph *g);      /* plan.c: schedules, flat params, arena offsets */

typedef struct EmitOptions {
    const char *prefix;          /* C symbol prefix (model name by default) */
    const char *header_name;     /* what the .c #includes */
} EmitOptions;
void emit_c(Graph *g, const EmitOptions *opt, Buf *c_out, Buf *h_out); /* emit_c.c */
/* The trainer program of the model (--emit trainer); header_name: the model's header. */
void emit_trainer(Graph *g, const EmitOptions *opt, Buf *out); /* emit_trainer.c */

/* ---- driver.c: the passes in order ------------------------------------------ */
typedef enum EmitKind { EMIT_C, EMIT_IR, EMIT_SUMMARY, EMIT_DOT, EMIT_TRAINER } EmitKind;
/* The passes after parsing, in order; --dump=NAME prints the IR after one. */
typedef enum Pass {
    PASS_LOWER, PASS_CHECK, PASS_FUSE_LOGITS, PASS_AUTODIFF, PASS_FUSE_LINEAR, PASS_PLAN, PASS_COUNT
} Pass;
extern const char *const pass_names[PASS_COUNT]; /* "lower" .. "plan" (driver.c) */
enum { DUMP_ALL = (1 << PASS_COUNT) - 1 };
typedef struct CompileOptions {
    EmitKind emit;
    int check_only;              /* report errors and warnings only */
    int f64;                     /* --dtype f64 */
    int batch;                   /* --batch; 0: the train block's */
    unsigned dump;               /* --dump: one bit per Pass (1u << PASS_x), 0 none; the IR after each
                                    goes to `out` (";; after NAME" headers when several), then stop */
    int verify;                  /* ir_verify after every pass, plan_verify after plan (MNC_VERIFY) */
    EmitOptions eo;
} CompileOptions;
/* Compiles the text of `path` into `out` (and, for EMIT_C, the header
 * into `header`). Returns 0, 1 when the model has errors (reported), or
 * COMPILE_PREFIX_MAIN for a trainer whose prefix would be `main`. */
enum { COMPILE_PREFIX_MAIN = 3 };
int compile_model(const char *path, const char *text, const CompileOptions *o, Buf *out, Buf *header);
/* plan.c, for the driver's checks and dumps: plan_check counts the plan's
 * broken invariants (schedule order, liveness overlaps in the arena, bounds,
 * the weights' layout), describing each on `report` unless NULL;
 * plan_verify aborts through unreachable() when there is one. plan_print:
 * what plan adds to the IR (weights' and arena offsets, schedules). */
long plan_check(const Graph *g, FILE *report);
void plan_verify(const Graph *g);
void plan_print(Buf *out, const Graph *g);

/* ---- summary.c: looking at a model (--emit=summary, --emit=dot) ------------ */
typedef struct ModelView ModelView;
/* The model's layers as Keras lists them, read from the lowered graph
 * (after check_graph, before any rewrite); the view keeps copies, so the
 * passes may run after it. */
ModelView *model_view(const Program *prog, const Graph *g);
/* A Keras-style table: layer, output shape, parameter count, connected to;
 * totals, and the weights' and arena's bytes from the planned graph. */
void summary_print(Buf *out, const ModelView *m, const Graph *planned);
/* Graphviz: one node per layer, inputs, params and the loss distinguished,
 * edges labelled with the shapes along them. */
void dot_print(Buf *out, const ModelView *m);

#endif
