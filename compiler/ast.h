/* ast.h — the abstract syntax tree the parser builds (grammar/mn.y).
 *
 * The parser does nothing but build this tree: no name resolution, no
 * shapes. Every node carries the Loc of the text it came from. Lists are
 * singly linked through `next`, in source order.
 */
#ifndef AST_H
#define AST_H

#include "mnc.h"

#define MN_MAX_RANK 6

typedef struct Expr Expr;
typedef struct Arg Arg;
typedef struct Stmt Stmt;

/* TYPE: `float`, `float[10]`, `int[200]`, `float[50, 1]`. */
typedef struct Type {
    int is_int;                 /* int[...] vs float[...] */
    int rank;                   /* 0 for a bare `float` (a scalar) */
    int dims[MN_MAX_RANK];
    Loc loc;
} Type;

typedef enum ExprKind {
    EX_NUMBER,   /* 1, 0.5, 1e-7; `true`/`false` are 1 and 0 (is_bool set) */
    EX_NAME,     /* x                      name */
    EX_FIELD,    /* d1.kernel              base (an EX_NAME), name = field */
    EX_CALL,     /* dense(64, activation=relu)   name = callee, args */
    EX_APPLY,    /* f(args)(x) or x -> f   callee, arg (see below) */
    EX_BINARY,   /* a + b, a < b           op, lhs, rhs */
    EX_NEG,      /* -a                     lhs */
    EX_LIST,     /* [1, 1, 32]             args (positional only) */
} ExprKind;

/* Binary operators of EX_BINARY. */
typedef enum BinOp {
    BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV,
    BIN_LT, BIN_LE, BIN_GT, BIN_GE, BIN_EQ, BIN_NE,
} BinOp;

/* EX_APPLY covers both spellings of "apply something to a value":
 *   dense(64)(x)     callee = EX_CALL dense(64),  arg = x
 *   x -> dense(64)   callee = EX_CALL dense(64),  arg = x
 *   x -> flatten     callee = EX_NAME flatten,    arg = x
 *   enc(x)           is an EX_CALL (name = enc, one positional arg);
 *                    lowering decides whether `enc` is a layer or a function.
 * `arrow` is set for the `->` form (only used for messages). */
struct Expr {
    ExprKind kind;
    Loc loc;                    /* the whole expression */
    double number;              /* EX_NUMBER */
    int is_bool;                /* EX_NUMBER written true/false */
    int is_integer;             /* EX_NUMBER written without '.', 'e' */
    const char *name;           /* EX_NAME, EX_FIELD (field), EX_CALL (callee) */
    Loc name_loc;               /* EX_CALL: the callee name; EX_FIELD: field */
    BinOp op;                   /* EX_BINARY */
    Expr *lhs, *rhs;            /* EX_BINARY; EX_NEG lhs; EX_FIELD lhs = base */
    Expr *callee, *arg;         /* EX_APPLY */
    int arrow;                  /* EX_APPLY written with -> */
    Arg *args;                  /* EX_CALL, EX_LIST */
    int depth;                  /* nesting, as lowering recurses: see expr_nested */
};

/* An argument: positional (name == NULL) or named (`activation=relu`). */
struct Arg {
    const char *name;
    Loc loc;                    /* the whole argument */
    Loc name_loc;               /* the name, for named arguments */
    Expr *value;
    Arg *next;
};

typedef enum StmtKind {
    ST_INPUT,    /* input NAME : TYPE                         name, type */
    ST_TARGET,   /* target NAME : TYPE                        name, type */
    ST_PARAM,    /* param NAME : TYPE = INIT [, key=val ...]  name, type, expr, args */
    ST_LAYER,    /* layer NAME = dense(...)                   name, expr (EX_CALL) */
    ST_ASSIGN,   /* NAME = EXPR                               name, expr */
    ST_OUTPUT,   /* output a, b                               names */
    ST_LOSS,     /* loss EXPR                                 expr */
    ST_METRIC,   /* metric accuracy(y, t)                     expr (EX_CALL) */
    ST_TRAIN,    /* train { key = value, ... }                args (all named) */
} StmtKind;

typedef struct NameList {
    const char *name;
    Loc loc;
    struct NameList *next;
} NameList;

struct Stmt {
    StmtKind kind;
    Loc loc;                    /* the whole statement */
    const char *name;
    Loc name_loc;
    Type type;
    Expr *expr;
    Arg *args;
    NameList *names;
    Stmt *next;
};

typedef struct Program {
    const char *model_name;     /* NULL if the `model NAME` line is missing */
    Loc model_loc;
    Stmt *stmts;
} Program;

/* Parses `text` (the contents of `path`, already given to diag_set_source).
 * Syntax errors are reported through error_at and the parser recovers at the
 * next statement, so one run reports every syntax error. Returns the tree
 * (partial when there were errors); check diag_error_count(). */
Program *parse_program(const char *path, const char *text);

/* Constructors used by the parser (ast.c). */
Expr *new_expr(ExprKind kind, Loc loc);
Arg *new_arg(const char *name, Loc loc, Loc name_loc, Expr *value);
Stmt *new_stmt(StmtKind kind, Loc loc);
/* Sets e->depth from its children's (set before): the depth of recursion
 * lowering needs for e. The left operand of `a + b` and of `x -> f` adds
 * nothing (chains are walked with a loop); a right operand, a negated
 * value and the arguments of a call or a list add one level. Reports an
 * error at e when it is the first to pass MN_MAX_NESTING. Returns e. */
Expr *expr_nested(Expr *e);

/* Debug/test printing: a one-line S-expression of an expression and one
 * line per statement, e.g. `(assign y (apply (call dense 1 activation=sigmoid) (call concat a b)))`. */
void ast_print_expr(Buf *out, const Expr *e);
void ast_print_program(Buf *out, const Program *p);
const char *binop_spelling(BinOp op);   /* "+", "<=", ... */

/* Test aid (grammar/mn.l): the token stream of `text`, one token per line,
 * `LINE:COL-ENDCOL KIND [spelling]`, e.g. `1:7-16 IDENT two_concat`. */
void lex_dump(const char *text, Buf *out);

#endif
