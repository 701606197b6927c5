/* lower.h — what the four files of lowering (AST -> graph IR) share.
 *
 *   lower.c       symbols, expressions, statements: lower_program
 *   lower_args.c  binding a call's arguments and reading literal ones;
 *                 "did you mean" suggestions
 *   layers.c      the layer table: per layer kind its arguments, weights
 *                 and how it applies
 *   lower_fn.c    the function table: flatten, concat, losses, pools, ...
 *                 and the elementwise maps of unary.def
 *
 * Only these files include it; every other pass sees the Graph alone.
 * Errors poison the value (-1) so that one mistake gives one message.
 */
#ifndef LOWER_H
#define LOWER_H

#include <stddef.h>

#include "ir.h"

/* ---- argument binding (lower_args.c) ----------------------------------------------- */

typedef struct ArgSpec {
    const char *name;
    int required;
} ArgSpec;

#define MAX_ARGS 8

/* Binds a call's arguments to the parameter list `spec` (positional in
 * order, then by name) into bound[] (NULL: not given). With `have_first`,
 * the first parameter is already bound (the left side of `->`). Reports
 * unknown, duplicate, missing and surplus arguments against `what`. */
int bind_args(const char *what, Loc call_loc, const ArgSpec *spec, int nspec, const Arg *args, Expr **bound,
              Loc *bound_loc, int have_first);
/* Literal arguments; each reports a located error and returns 0 when e is
 * not one. */
int int_arg(Expr *e, const char *what, const char *arg, int *out);       /* a positive integer */
int number_arg(Expr *e, const char *what, const char *arg, double *out); /* a number, maybe negative */
int bool_arg(Expr *e, const char *what, const char *arg, int *out);      /* true or false */
int axis_arg(Expr *e, const char *what, int *out);                       /* an integer, maybe negative */
int pair_arg(Expr *e, const char *what, const char *arg, int out[2]);    /* 3 or [3, 2] */
int padding_arg(Expr *e, const char *what, int *same);                   /* valid or same */
int act_arg(Expr *e, const char *what, Op *out); /* linear (OP_COPY), a unary.def activation, softmax */
/* ", did you mean 'x'?" or "" — the closest of `names` within distance 2. */
const char *suggest(const char *word, const char *const *names, int n);

/* ---- layers (layers.c) --------------------------------------------------------------- */

typedef struct Layer {
    int kind;               /* its row of the layer table */
    const char *name;       /* "shared", or "dense_1" for an anonymous layer */
    int named;              /* declared with `layer NAME = ...` */
    Loc loc;                /* the constructor call */
    /* the arguments, as the layer table reads them */
    int units, vocab, dim;  /* units: dense, lstm, gru; conv: filters */
    int k[2], s[2], same;   /* conv: kernel, strides, padding=same */
    Op act;                 /* OP_COPY (linear), OP_SOFTMAX or a unary.def activation */
    int use_bias;
    Expr *l2, *l1;          /* penalty strengths (a number or a param), or NULL */
    Loc l2_loc, l1_loc;
    int sequences, backwards; /* recurrent: return_sequences, go_backwards */
    double epsilon, momentum; /* layernorm, batchnorm */
    Expr *wrapped;          /* bidirectional: the recurrent layer's call */
    Expr *merge_arg;        /* bidirectional: merge=, or NULL */
    int merge;              /* bidirectional: MERGE_* */
    struct Layer *inner[2]; /* bidirectional: the forward and the backward layer */
    int attempted;          /* some statement applies it (even if that failed) */
    /* set by the first application */
    int applied;
    Loc first_apply;
    int in_width;
    int kernel, bias;       /* PARAM ids (embedding: kernel = the table; norms: gamma, beta) */
    int recurrent;          /* lstm, gru: the recurrent kernel */
    int moving_mean, moving_var; /* batchnorm: its moving statistics (PARAMs, not trainable) */
} Layer;

enum { MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE };

/* The layer table's rows: their count, a row's name, the row of a name (-1). */
extern const int nlayer_kinds;
const char *layer_kind_name(int kind);
int layer_kind(const char *name);

typedef struct Lower Lower;
/* A layer from its constructor call (arguments checked), named `name` or,
 * when NULL, Keras-style (dense, dense_1, ...). NULL after reporting. */
Layer *make_layer(Lower *L, const Expr *call, const char *name);
/* The layer applied to the value x; its weights are made by the first
 * application. -1 after reporting. */
int apply_layer(Lower *L, Layer *ly, int x, Loc loc);
/* The weight `field` of a named layer (`enc.kernel`), for `layer.field`. */
int layer_weight(Lower *L, Layer *ly, const char *field, Loc field_loc, Loc loc);

/* ---- symbols and shared helpers (lower.c) ---------------------------------------------- */

typedef enum SymKind { SYM_INPUT, SYM_TARGET, SYM_PARAM, SYM_LAYER, SYM_VALUE } SymKind;

typedef struct Sym {
    const char *name;
    SymKind kind;
    int value;              /* node id, -1 when its definition failed */
    Layer *layer;
    Loc loc;                /* the defined name */
    struct Sym *next;       /* all symbols, newest first (for "did you mean") */
} Sym;

struct Lower {
    Graph *g;
    Sym *syms;
    StrMap sym_index;       /* name -> its index in symv: an O(1) lookup however long the file */
    Sym **symv;
    int nsyms;
    const Program *prog;
    const Stmt *cur;        /* the statement being lowered */
    Layer **layers;
    int nlayers;
    int *counter;           /* anonymous layers per kind, for Keras-style names */
    Loc loss_loc;
};

int lower_expr(Lower *L, Expr *e);
/* The statement that defines `name` anywhere in the file, or NULL. */
const Stmt *later_definition(Lower *L, const char *name);
/* A new PARAM, appended to the flat weights. */
int new_param(Lower *L, const char *name, int rank, const int *dims, Init init, Loc loc);
/* An op that reads int ids below `count`: the input behind them learns its
 * bound, and a declared range must fit. 0 after reporting. */
int bound_ids(Lower *L, int ids, int count, const char *what, Loc loc);
/* A windowed op (im2col or a pool) over the image x [H, W, C] (TF padding). */
int windowed(Lower *L, Op op, int x, const int k[2], const int s[2], int same, const char *what, Loc loc);
/* A view of x with the per-sample shape `to`. */
int reshaped(Lower *L, int x, Shape to, Loc loc);

/* ---- functions (lower_fn.c) ------------------------------------------------------------- */

typedef struct FnSpec FnSpec;
const FnSpec *find_function(const char *name);
/* The function applied: its first argument is `first` when >= 0 (x -> f). */
int call_function(Lower *L, const FnSpec *fn, Expr *call, int first, Loc loc);
/* The names of every function, for suggestions; returns their count. */
int function_names(const char **names, int max);

#endif
