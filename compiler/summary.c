/* summary.c — looking at a model: --emit=summary prints a Keras-style table
 * of its layers, --emit=dot the same model as a Graphviz graph.
 *
 * A row is what Keras would list as a layer of the same model:
 *   - an input (InputLayer), and a free variable (`param`, type Variable);
 *   - a layer (dense, embedding, lstm, bidirectional, conv2d, ...): one row
 *     however often it is applied; a shared layer lists the inbound values
 *     of every application, `shared[0][0]`, `shared[1][0]` as Keras does;
 *   - every other call and operator of an assignment (concat, flatten,
 *     multiply, cast, a * b, ...): one row per call, named and typed as the
 *     Keras 3 layer or op that computes it: concatenate (Concatenate),
 *     flatten (Flatten), multiply (Multiply), cast (Cast) ...
 * Targets, losses, penalties and metrics are not rows (Keras lists none),
 * though a layer applied inside the loss is one; nor is a name given to a
 * value already made, or cast(x, float) of a float value (no node). The
 * graph draws the loss as a node of its own, fed by the targets.
 *
 * The rows are read off the lowered graph, before any rewrite. Lowering
 * gives every node an expression makes that expression's source span (Loc),
 * except the value an assignment names, which takes the statement's span:
 * so an expression's nodes are the nodes of its span (plus, for the whole
 * right side of an assignment, the named value). Output shapes are those
 * nodes' shapes; "connected to" lists the values they read from outside;
 * a layer owns the weights named "LAYER.*". The view keeps copies (names,
 * shapes, counts), so the passes may rewrite the graph after it is built;
 * the arena's size comes from the plan.
 */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef enum RowKind { ROW_INPUT, ROW_TARGET, ROW_PARAM, ROW_LAYER, ROW_CALL } RowKind;

/* A value that an application reads. */
typedef struct Conn {
    int row, app;           /* the row and its application; row -1: none */
    const char *weight;     /* a layer's weight read as a value ("shared.kernel"), else NULL */
    Shape shape;            /* what flows along */
} Conn;

/* One application of a row (inputs, params: their one value). */
typedef struct App {
    Shape shape;
    Conn *in;
    int nin;
} App;

typedef struct Row {
    RowKind kind;
    const char *name, *type;  /* "dense_1", "Dense" */
    const char *text;         /* its source: "dense(64, activation=relu)", "input int[200]" */
    long params, trainable;
    App *apps;
    int napps;
    const char *outputs;      /* the output names it is returned as ("y"), or NULL */
} Row;

struct ModelView {
    const char *model;
    Row *rows;
    int nrows;
    const char *loss_text;    /* NULL: no loss */
    Conn *loss_in;
    int nloss_in;
};

/* ---- small helpers ----------------------------------------------------------------- */

/* 1379329 -> "1,379,329" */
static const char *group_digits(long v) {
    char digits[32];
    snprintf(digits, sizeof digits, "%ld", v);
    Buf b = {0};
    int len = (int)strlen(digits);
    for (int i = 0; i < len; i++) {
        if (i && digits[i - 1] != '-' && (len - i) % 3 == 0) buf_putc(&b, ',');
        buf_putc(&b, digits[i]);
    }
    return b.data;
}

/* Keras's spelling of a shape: (None, 200, 128), (32,), (). */
static const char *keras_shape(const Shape *s) {
    if (shape_is_poison(s)) return "?";
    Buf b = {0};
    buf_putc(&b, '(');
    int n = 0;
    if (s->batched) {
        buf_puts(&b, "None");
        n++;
    }
    for (int i = 0; i < s->rank; i++) buf_printf(&b, "%s%d", n++ ? ", " : "", s->dims[i]);
    if (n == 1) buf_putc(&b, ',');
    buf_putc(&b, ')');
    return b.data;
}

/* The source text of a span on one line, whitespace runs and comments of a
 * span over several lines folded into one space; long texts end in "...". */
static const char *source_text(Loc loc) {
    Buf b = {0};
    /* only what is shown is copied: a chain's text is as long as its line */
    for (int line = loc.line; line <= loc.end_line && b.len <= 64; line++) {
        int len;
        const char *text = diag_line_text(line, &len);
        if (!text) break;
        int from = line == loc.line ? loc.col - 1 : 0;
        int to = line == loc.end_line && loc.end_col < len ? loc.end_col : len;
        if (b.len) buf_putc(&b, ' ');
        for (int i = from < 0 ? 0 : from; i < to && text[i] != '#' && b.len <= 64; i++) {
            char c = text[i] == '\t' ? ' ' : text[i];
            if (c == ' ' && (!b.len || b.data[b.len - 1] == ' ')) continue;
            buf_putc(&b, c);
        }
        while (b.len && b.data[b.len - 1] == ' ') b.data[--b.len] = '\0';
    }
    if (!b.len) return "";
    if (b.len > 48) return xsprintf("%.45s...", b.data);
    return b.data;
}

/* "int[200]", "float", "float[50, 1]" */
static const char *type_text(const Type *t) {
    Buf b = {0};
    buf_puts(&b, t->is_int ? "int" : "float");
    for (int i = 0; i < t->rank; i++) buf_printf(&b, "%s%d", i ? ", " : "[", t->dims[i]);
    if (t->rank) buf_putc(&b, ']');
    return b.data;
}

static int loc_cmp(const Loc *a, const Loc *b) {
    if (a->line != b->line) return a->line < b->line ? -1 : 1;
    if (a->col != b->col) return a->col < b->col ? -1 : 1;
    if (a->end_line != b->end_line) return a->end_line < b->end_line ? -1 : 1;
    if (a->end_col != b->end_col) return a->end_col < b->end_col ? -1 : 1;
    return 0;
}

/* ---- names and types, as Keras has them ------------------------------------------- */

/* The functions of the language: the Keras layer (a merge, flatten, pools,
 * dropout) or Keras 3 op that computes the same. The elementwise maps
 * (relu, exp, ...) have theirs in unary.def. */
static const struct {
    const char *fn, *name, *type;
} call_types[] = {
    {"flatten", "flatten", "Flatten"},
    {"reshape", "reshape", "Reshape"},
    {"concat", "concatenate", "Concatenate"},
    {"add", "add", "Add"},
    {"subtract", "subtract", "Subtract"},
    {"multiply", "multiply", "Multiply"},
    {"average", "average", "Average"},
    {"maximum", "maximum", "Maximum"},
    {"dropout", "dropout", "Dropout"},
    {"maxpool2d", "max_pooling2d", "MaxPooling2D"},
    {"avgpool2d", "average_pooling2d", "AveragePooling2D"},
    {"global_avgpool1d", "global_average_pooling1d", "GlobalAveragePooling1D"},
    {"global_avgpool2d", "global_average_pooling2d", "GlobalAveragePooling2D"},
    {"global_maxpool1d", "global_max_pooling1d", "GlobalMaxPooling1D"},
    {"global_maxpool2d", "global_max_pooling2d", "GlobalMaxPooling2D"},
    {"cast", "cast", "Cast"},
    {"where", "where", "Where"},
    {"softmax", "softmax", "Softmax"},
    {"pow", "power", "Power"},
    {"stop_gradient", "stop_gradient", "StopGradient"},
    {"sum", "sum", "Sum"},
    {"mean", "mean", "Mean"},
    {"one_hot", "one_hot", "OneHot"},
};
#define NCALL_TYPES ((int)(sizeof call_types / sizeof call_types[0]))

/* Operators, in BinOp order, then negation. */
static const char *const op_names[] = {"add",  "subtract",   "multiply", "divide",        "less",
                                       "less_equal", "greater", "greater_equal", "equal", "not_equal"};
static const char *const op_types[] = {"Add",  "Subtract",  "Multiply", "Divide",       "Less",
                                       "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual"};

/* ---- building the view ------------------------------------------------------------- */

typedef struct LocNode {
    Loc loc;
    int id;
} LocNode;

typedef struct Builder {
    const Program *prog;
    const Graph *g;
    ModelView *m;
    LocNode *index;         /* the non-source nodes by (span, id) */
    int nindex;
    int *node_row, *node_app; /* per node: the row and application it belongs to, or -1 */
    StrMap used;            /* names taken */
    StrMap next_suffix;     /* per base name: the first k that fresh_name has not tried */
    StrMap layer_stmts;     /* `layer NAME = ...`: NAME -> its statement's index in stmts */
    const Stmt **stmts;
    StrMap layer_rows;      /* a layer's name -> its row */
    StrMap owners;          /* "dense_1" of "dense_1.kernel" -> its index in owned */
    struct { long params, trainable; } *owned; /* the weights' counts per owner */
} Builder;

static int locnode_cmp(const void *a, const void *b) {
    const LocNode *x = a, *y = b;
    int c = loc_cmp(&x->loc, &y->loc);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* The non-source nodes with span `loc`, in id order; returns their count. */
static int nodes_at(Builder *B, Loc loc, const LocNode **first) {
    int lo = 0, hi = B->nindex;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (loc_cmp(&B->index[mid].loc, &loc) < 0) lo = mid + 1;
        else hi = mid;
    }
    int n = 0;
    while (lo + n < B->nindex && !loc_cmp(&B->index[lo + n].loc, &loc)) n++;
    *first = B->index + lo;
    return n;
}

static int name_used(Builder *B, const char *name) { return strmap_get(&B->used, name) != NULL; }

static void use_name(Builder *B, const char *name) { strmap_put(&B->used, name, 1); }

/* Keras's naming: base, base_1, base_2, ..., skipping names taken. A name
 * once taken stays taken, so each base resumes where it stopped. */
static const char *fresh_name(Builder *B, const char *base) {
    int *next = strmap_get(&B->next_suffix, base);
    if (!next) next = strmap_put(&B->next_suffix, base, 0);
    for (int k = *next;; k++) {
        const char *name = k ? xsprintf("%s_%d", base, k) : base;
        if (!name_used(B, name)) {
            use_name(B, name);
            *next = k + 1;
            return name;
        }
    }
}

static const Stmt *layer_stmt(Builder *B, const char *name) {
    const int *i = strmap_get(&B->layer_stmts, name);
    return i ? B->stmts[*i] : NULL;
}

/* The layer a weight belongs to: "bidirectional.forward.kernel" -> "bidirectional". */
static const char *weight_owner(const char *weight) {
    const char *dot = weight ? strchr(weight, '.') : NULL;
    return dot ? xstrndup(weight, (size_t)(dot - weight)) : NULL;
}

/* The first row of layer `name`, or -1. */
static int find_layer_row(Builder *B, const char *name) {
    const int *r = name ? strmap_get(&B->layer_rows, name) : NULL;
    return r ? *r : -1;
}

static int add_row(Builder *B, RowKind kind, const char *name, const char *type, const char *text) {
    ModelView *m = B->m;
    m->rows = xgrow(m->rows, m->nrows, sizeof *m->rows);
    m->rows[m->nrows] = (Row){.kind = kind, .name = name, .type = type, .text = text};
    use_name(B, name);
    if (kind == ROW_LAYER && !strmap_get(&B->layer_rows, name)) strmap_put(&B->layer_rows, name, m->nrows);
    return m->nrows++;
}

static void add_conn(Conn **list, int *n, Conn c) {
    for (int i = 0; i < *n; i++) {
        Conn *o = &(*list)[i];
        if (o->row == c.row && o->app == c.app && (o->weight == c.weight || (o->weight && c.weight && !strcmp(o->weight, c.weight))))
            return;
    }
    *list = xgrow(*list, *n, sizeof **list);
    (*list)[(*n)++] = c;
}

/* What reading node v means for a connection; 0 when it means nothing (a
 * constant, or one of the reading layer's own weights). */
static int conn_of(Builder *B, int v, int own_weights, Conn *c) {
    const Node *n = &B->g->nodes[v];
    *c = (Conn){.row = -1, .shape = n->shape};
    if (n->op == OP_CONST) return 0;
    if (n->op == OP_PARAM && n->name && strchr(n->name, '.')) {
        if (own_weights) return 0;
        c->row = find_layer_row(B, weight_owner(n->name));
        c->weight = n->name;
        return 1;
    }
    if (B->node_row[v] >= 0) {
        c->row = B->node_row[v];
        c->app = B->node_app[v];
        return 1;
    }
    c->weight = n->name ? n->name : op_info[n->op].name; /* not expected: named as the IR names it */
    return 1;
}

/* Records an application of row r made of the nodes `grp` (id order; the
 * last is its value). */
static void add_app(Builder *B, int r, const int *grp, int n, int own_weights) {
    Row *row = &B->m->rows[r];
    row->apps = xgrow(row->apps, row->napps, sizeof *row->apps);
    int k = row->napps++;
    App *a = &row->apps[k];
    *a = (App){.shape = B->g->nodes[grp[n - 1]].shape};
    for (int i = 0; i < n; i++) {
        B->node_row[grp[i]] = r;
        B->node_app[grp[i]] = k;
    }
    for (int i = 0; i < n; i++) {
        const Node *nd = &B->g->nodes[grp[i]];
        for (int j = 0; j < nd->nin; j++) {
            int v = nd->in[j];
            Conn c;
            if (B->node_row[v] == r && B->node_app[v] == k) continue;
            if (conn_of(B, v, own_weights, &c)) add_conn(&a->in, &a->nin, c);
        }
    }
}

/* The row of a declaration (input, target, param): its node is the one of
 * `ids` with the declared name. */
static void source_row(Builder *B, RowKind kind, const Stmt *s, const int *ids, int nids) {
    static const char *const types[] = {[ROW_INPUT] = "InputLayer", [ROW_TARGET] = "Target", [ROW_PARAM] = "Variable"};
    int v = -1;
    for (int i = 0; i < nids; i++)
        if (B->g->nodes[ids[i]].name && !strcmp(B->g->nodes[ids[i]].name, s->name)) v = ids[i];
    if (v < 0) return;
    const Node *n = &B->g->nodes[v];
    const char *text = kind == ROW_INPUT    ? xsprintf("input %s", type_text(&s->type))
                       : kind == ROW_TARGET ? xsprintf("target %s", type_text(&s->type))
                                            : xsprintf("param %s = %s%s", type_text(&s->type), source_text(s->expr->loc),
                                                       n->trainable ? "" : ", trainable=false");
    int r = add_row(B, kind, s->name, types[kind], text);
    if (kind == ROW_PARAM) {
        B->m->rows[r].params = shape_size(&n->shape);
        B->m->rows[r].trainable = n->trainable ? B->m->rows[r].params : 0;
    }
    add_app(B, r, &v, 1, 1);
}

/* The weights of layer `name`: every param "name.*". */
static void count_weights(Builder *B, Row *row) {
    if (!B->owners.cap) { /* once: every weight's count, summed per owner */
        B->owned = xalloc(sizeof *B->owned * (size_t)(B->g->nparams + 1));
        int n = 0;
        for (int i = 0; i < B->g->nparams; i++) {
            const Node *p = &B->g->nodes[B->g->params[i]];
            const char *owner = weight_owner(p->name);
            if (!owner) continue;
            int *k = strmap_get(&B->owners, owner);
            if (!k) k = strmap_put(&B->owners, owner, n++);
            B->owned[*k].params += shape_size(&p->shape);
            if (p->trainable) B->owned[*k].trainable += shape_size(&p->shape);
        }
        if (!B->owners.cap) strmap_put(&B->owners, "", -1); /* no weight has an owner */
    }
    const int *k = strmap_get(&B->owners, row->name);
    if (!k || *k < 0) return;
    row->params += B->owned[*k].params;
    row->trainable += B->owned[*k].trainable;
}

/* One expression node of walk(): what it is, and what is left to do once
 * its first child has been walked. */
typedef struct Visit {
    const Expr *e;
    int named, pass;
    const Expr *ctor;               /* a layer's constructor call */
    const char *layer;              /* a named layer's name */
    const char *fn, *name, *type, *text;
    const Expr *kids[2];
    const Arg *kid_args;            /* more children: arguments */
    const Expr *first;              /* the child that makes the value's first input */
} Visit;

/* Whether walk() has anything to do for e (a call or an operator). */
static int walked(const Expr *e) {
    if (!e || e->kind == EX_NUMBER || e->kind == EX_NAME || e->kind == EX_FIELD || e->kind == EX_LIST) return 0;
    return !(e->kind == EX_NEG && e->lhs->kind == EX_NUMBER);
}

static Visit visit_begin(Builder *B, const Expr *e, int named) {
    Visit v = {.e = e, .named = named, .pass = -1, .text = source_text(e->loc)};
    if (e->kind == EX_NEG) {
        v.kids[0] = e->lhs;
        v.name = "negative";
        v.type = "Negative";
    } else if (e->kind == EX_BINARY) {
        v.kids[0] = e->lhs;
        v.kids[1] = e->rhs;
        v.name = op_names[e->op];
        v.type = op_types[e->op];
    } else if (e->kind == EX_APPLY) {
        const Expr *c = e->callee;
        const Stmt *ls = c->name ? layer_stmt(B, c->name) : NULL;
        v.kids[0] = e->arg;
        if (ls) {
            v.layer = ls->name;
            v.ctor = ls->expr;
        } else if (c->name && layer_keras_type(c->name)) {
            v.ctor = c;
        } else {
            v.fn = c->name;
            v.text = source_text(c->loc);
            if (c->kind == EX_CALL) v.kid_args = c->args;
        }
    } else { /* EX_CALL */
        const Stmt *ls = layer_stmt(B, e->name);
        if (ls) {
            v.layer = ls->name;
            v.ctor = ls->expr;
            v.kids[0] = e->args ? e->args->value : NULL;
        } else {
            v.fn = e->name;
            v.kid_args = e->args;
        }
    }
    if (!v.ctor && !v.name) {
        v.name = v.type = v.fn ? v.fn : "call";
        for (int i = 0; v.fn && i < NCALL_TYPES; i++)
            if (!strcmp(call_types[i].fn, v.fn)) {
                v.name = call_types[i].name;
                v.type = call_types[i].type;
            }
        int unary = v.fn ? unary_function(v.fn) : -1;
        if (unary >= 0) {
            v.name = unary_info[unary].keras_name;
            v.type = unary_info[unary].keras_type;
        }
    }
    /* cast(x, float) of a float value makes no node: the value the statement
     * named is then its argument's. */
    const LocNode *own;
    if (named >= 0 && nodes_at(B, e->loc, &own) == 0 && v.fn && !strcmp(v.fn, "cast") &&
        B->g->nodes[named].op != OP_CAST) {
        v.pass = named;
        v.named = -1;
    }
    v.first = v.kids[0];
    if (!v.first && v.kid_args) {
        v.first = v.kid_args->value;
        for (const Arg *a = v.kid_args; a; a = a->next)
            if (a->name && !strcmp(a->name, "x")) v.first = a->value;
    }
    return v;
}

static void walk(Builder *B, const Expr *e, int named, int calls);

/* The rest of a node once its first child is walked: the other children,
 * then a row or an application for the node itself. */
static void visit_end(Builder *B, const Visit *v, int calls) {
    walk(B, v->kids[1], v->kids[1] == v->first ? v->pass : -1, calls);
    for (const Arg *a = v->kid_args; a; a = a->next) walk(B, a->value, a->value == v->first ? v->pass : -1, calls);

    if (!v->ctor && !calls) return;
    const LocNode *own;
    int nown = nodes_at(B, v->e->loc, &own);
    int n = nown + (v->named >= 0);
    if (!n) return;
    int *grp = xalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < nown; i++) grp[i] = own[i].id;
    if (v->named >= 0) grp[nown] = v->named;

    if (v->ctor) {
        const char *layer = v->layer;
        if (!layer) { /* anonymous: named after the weights it reads */
            for (int i = 0; i < n && !layer; i++) {
                const Node *nd = &B->g->nodes[grp[i]];
                for (int j = 0; j < nd->nin && !layer; j++) {
                    const Node *w = &B->g->nodes[nd->in[j]];
                    if (w->op == OP_PARAM) layer = weight_owner(w->name);
                }
            }
            if (!layer) layer = fresh_name(B, v->ctor->name);
        }
        int r = find_layer_row(B, layer);
        if (r < 0) {
            const char *t = layer_keras_type(v->ctor->name);
            r = add_row(B, ROW_LAYER, layer, t ? t : v->ctor->name, source_text(v->ctor->loc));
            count_weights(B, &B->m->rows[r]);
        }
        add_app(B, r, grp, n, 1);
        return;
    }
    add_app(B, add_row(B, ROW_CALL, fresh_name(B, v->name), v->type, v->text), grp, n, 0);
}

/* Walks an expression, arguments first (the order lowering made their
 * nodes), adding a row or an application for each call and operator.
 * `named` is the node the statement renamed (the assignment's value),
 * which belongs to this expression, or -1. `calls`: rows for functions and
 * operators too (assignments), or for layers only (loss). The first
 * children (the left side of `a + b`, of `x -> f`) are followed with a
 * loop, as lowering does: a chain as long as its line needs no deep stack. */
static void walk(Builder *B, const Expr *e, int named, int calls) {
    Visit local[16], *stack = local;
    int n = 0, cap = 16;
    while (walked(e)) {
        if (n == cap) {
            Visit *more = xalloc(sizeof *more * (size_t)cap * 2);
            memcpy(more, stack, sizeof *more * (size_t)n);
            stack = more;
            cap *= 2;
        }
        stack[n] = visit_begin(B, e, named);
        const Visit *v = &stack[n++];
        named = v->kids[0] == v->first ? v->pass : -1;
        e = v->kids[0];
    }
    while (n > 0) visit_end(B, &stack[--n], calls);
}

/* The loss reads: rows' values, targets, params, and layers' weights
 * (penalties), seen through the loss's own arithmetic. */
static void loss_reads(Builder *B, int loss, char *seen) {
    /* depth first, inputs in order, with a stack of its own (a loss can be
     * a chain of 100,000 terms) */
    int cap = 64, n = 0, *stack = xalloc(sizeof(int) * (size_t)cap);
    stack[n++] = loss;
    while (n > 0) {
        int v = stack[--n];
        if (seen[v]) continue;
        seen[v] = 1;
        const Node *nd = &B->g->nodes[v];
        Conn c;
        if (B->node_row[v] >= 0 || nd->op == OP_CONST || (nd->op == OP_PARAM && nd->name && strchr(nd->name, '.'))) {
            if (conn_of(B, v, 0, &c) && c.row >= 0) add_conn(&B->m->loss_in, &B->m->nloss_in, c);
            continue;
        }
        if (n + nd->nin > cap) {
            int *more = xalloc(sizeof(int) * (size_t)(cap * 2 + nd->nin));
            memcpy(more, stack, sizeof(int) * (size_t)n);
            stack = more;
            cap = cap * 2 + nd->nin;
        }
        for (int i = nd->nin - 1; i >= 0; i--) stack[n++] = nd->in[i];
    }
}

ModelView *model_view(const Program *prog, const Graph *g) {
    ModelView *m = xalloc(sizeof *m);
    m->model = g->model_name;
    Builder B = {.prog = prog, .g = g, .m = m};
    B.node_row = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    B.node_app = xalloc(sizeof(int) * (size_t)(g->nnodes + 1));
    B.index = xalloc(sizeof(LocNode) * (size_t)(g->nnodes + 1));
    for (int v = 0; v < g->nnodes; v++) {
        B.node_row[v] = B.node_app[v] = -1;
        if (!(op_info[g->nodes[v].op].flags & OPF_SOURCE)) B.index[B.nindex++] = (LocNode){g->nodes[v].loc, v};
    }
    qsort(B.index, (size_t)B.nindex, sizeof *B.index, locnode_cmp);

    int nstmts = 0;
    for (const Stmt *s = prog->stmts; s; s = s->next) nstmts++;
    B.stmts = xalloc(sizeof *B.stmts * (size_t)(nstmts + 1));
    nstmts = 0;
    for (const Stmt *s = prog->stmts; s; s = s->next, nstmts++) {
        B.stmts[nstmts] = s;
        if (s->kind == ST_LAYER && s->name && !strmap_get(&B.layer_stmts, s->name))
            strmap_put(&B.layer_stmts, s->name, nstmts);
    }

    /* Names taken before any call is named: declarations and layers. */
    for (const Stmt *s = prog->stmts; s; s = s->next)
        if (s->name && (s->kind == ST_INPUT || s->kind == ST_TARGET || s->kind == ST_PARAM || s->kind == ST_LAYER))
            use_name(&B, s->name);
    for (int i = 0; i < g->nparams; i++) {
        const char *owner = weight_owner(g->nodes[g->params[i]].name);
        if (owner) use_name(&B, owner);
    }

    const Stmt *loss = NULL;
    for (const Stmt *s = prog->stmts; s; s = s->next) {
        switch (s->kind) {
        case ST_INPUT: source_row(&B, ROW_INPUT, s, g->inputs, g->ninputs); break;
        case ST_TARGET: source_row(&B, ROW_TARGET, s, g->targets, g->ntargets); break;
        case ST_PARAM: source_row(&B, ROW_PARAM, s, g->params, g->nparams); break;
        case ST_ASSIGN: {
            /* the node the statement named, if it made one */
            const LocNode *at;
            int n = nodes_at(&B, s->loc, &at), named = -1;
            for (int i = 0; i < n; i++)
                if (g->nodes[at[i].id].name && !strcmp(g->nodes[at[i].id].name, s->name)) named = at[i].id;
            walk(&B, s->expr, named, 1);
            break;
        }
        case ST_LOSS:
            loss = s;
            walk(&B, s->expr, -1, 0);
            break;
        case ST_METRIC: walk(&B, s->expr, -1, 0); break;
        default: break;
        }
    }

    for (int i = 0; i < g->noutputs; i++) {
        int v = g->outputs[i];
        if (B.node_row[v] < 0 && g->nodes[v].op == OP_COPY) v = g->nodes[v].in[0]; /* `output p` of a param */
        if (B.node_row[v] < 0) continue;
        Row *row = &m->rows[B.node_row[v]];
        row->outputs = row->outputs ? xsprintf("%s, %s", row->outputs, g->output_names[i]) : g->output_names[i];
    }
    if (g->loss >= 0) {
        m->loss_text = loss ? source_text(loss->expr->loc) : "loss";
        loss_reads(&B, g->loss, xalloc((size_t)g->nnodes + 1));
    }
    return m;
}

/* ---- the table ------------------------------------------------------------------------ */

/* Appends `line` without its trailing blanks, and a newline. */
static void put_line(Buf *out, const char *line) {
    size_t len = strlen(line);
    while (len && line[len - 1] == ' ') len--;
    buf_printf(out, "%.*s\n", (int)len, line);
}

static const char *conn_text(const ModelView *m, const Conn *c) {
    if (c->weight) return c->weight;
    return xsprintf("%s[%d][0]", m->rows[c->row].name, c->app);
}

/* The output shape; "multiple" for a shared layer whose applications differ (Keras). */
static const char *row_shape(const Row *row) {
    if (!row->napps) return "?";
    for (int k = 1; k < row->napps; k++)
        if (!shape_equal(&row->apps[k].shape, &row->apps[0].shape)) return "multiple";
    return keras_shape(&row->apps[0].shape);
}

static int in_table(const Row *row) { return row->kind != ROW_TARGET; }

void summary_print(Buf *out, const ModelView *m, const Graph *g) {
    static const char *const heads[4] = {"Layer (type)", "Output Shape", "Param #", "Connected to"};
    int w[4];
    for (int c = 0; c < 4; c++) w[c] = (int)strlen(heads[c]);
    for (int r = 0; r < m->nrows; r++) {
        const Row *row = &m->rows[r];
        if (!in_table(row)) continue;
        int len[3] = {(int)strlen(xsprintf("%s (%s)", row->name, row->type)), (int)strlen(row_shape(row)),
                      (int)strlen(group_digits(row->params))};
        for (int c = 0; c < 3; c++)
            if (len[c] > w[c]) w[c] = len[c];
        for (int k = 0; k < row->napps; k++)
            for (int i = 0; i < row->apps[k].nin; i++) {
                int l = (int)strlen(conn_text(m, &row->apps[k].in[i]));
                if (l > w[3]) w[3] = l;
            }
    }
    const int gap = 3;
    int width = w[0] + w[1] + w[2] + w[3] + 3 * gap;
    Buf rule = {0}, dbl = {0};
    for (int i = 0; i < width; i++) {
        buf_putc(&rule, '_');
        buf_putc(&dbl, '=');
    }

    buf_printf(out, "Model: \"%s\"\n", m->model);
    put_line(out, rule.data);
    put_line(out, xsprintf("%-*s%*s%-*s%*s%*s%*s%s", w[0], heads[0], gap, "", w[1], heads[1], gap, "", w[2], heads[2], gap,
                           "", heads[3]));
    put_line(out, dbl.data);
    for (int r = 0; r < m->nrows; r++) {
        const Row *row = &m->rows[r];
        if (!in_table(row)) continue;
        /* the connections, one a line: every application's inbound values */
        const char **conns = NULL;
        int nconns = 0;
        for (int k = 0; k < row->napps; k++)
            for (int i = 0; i < row->apps[k].nin; i++) {
                conns = xgrow(conns, nconns, sizeof *conns);
                conns[nconns++] = conn_text(m, &row->apps[k].in[i]);
            }
        if (!nconns || row->kind == ROW_INPUT || row->kind == ROW_PARAM) {
            conns = xgrow(conns, 0, sizeof *conns);
            conns[0] = "-";
            nconns = 1;
        }
        put_line(out, xsprintf("%-*s%*s%-*s%*s%*s%*s%s", w[0], xsprintf("%s (%s)", row->name, row->type), gap, "", w[1],
                               row_shape(row), gap, "", w[2], group_digits(row->params), gap, "", conns[0]));
        for (int i = 1; i < nconns; i++) put_line(out, xsprintf("%*s%s", width - w[3], "", conns[i]));
    }
    put_line(out, dbl.data);

    long arena = 0;
    for (int k = 0; k < SCHED_COUNT; k++)
        if (g->sched[k].arena_size > arena) arena = g->sched[k].arena_size;
    int bytes = g->f64 ? (int)sizeof(double) : (int)sizeof(float);
    const char *T = g->f64 ? "float64" : "float32";
    buf_printf(out, "Total params: %s\n", group_digits(g->nparam_elems));
    buf_printf(out, "Trainable params: %s\n", group_digits(g->ntrainable_elems));
    buf_printf(out, "Non-trainable params: %s\n", group_digits(g->nparam_elems - g->ntrainable_elems));
    buf_printf(out, "Weights: %s bytes (%s %s values)\n", group_digits(g->nparam_elems * bytes),
               group_digits(g->nparam_elems), T);
    buf_printf(out, "Arena: %s bytes (%s %s values at batch %d: activations, gradients, temporaries)\n",
               group_digits(arena * bytes), group_digits(arena), T, g->train.batch);
    put_line(out, rule.data);
}

/* ---- the graph ------------------------------------------------------------------------ */

/* A Graphviz string: quotes and backslashes escaped, newlines as \n
 * (centred lines). */
static const char *dot_quote(const char *s) {
    Buf b = {0};
    buf_putc(&b, '"');
    for (; *s; s++) {
        if (*s == '\n') {
            buf_puts(&b, "\\n");
            continue;
        }
        if (*s == '"' || *s == '\\') buf_putc(&b, '\\');
        buf_putc(&b, *s);
    }
    buf_putc(&b, '"');
    return b.data;
}

static const char *dot_id(const ModelView *m, int r) {
    return xsprintf("%s%d", m->rows[r].kind == ROW_TARGET ? "t" : "n", r);
}

/* The shape along an edge; from a shared layer, which application; from a
 * weight, its name. */
static const char *edge_label(const ModelView *m, const Conn *c) {
    const char *shape = keras_shape(&c->shape);
    if (c->weight) return xsprintf("%s %s", c->weight, shape);
    if (m->rows[c->row].napps > 1) return xsprintf("[%d] %s", c->app, shape);
    return shape;
}

void dot_print(Buf *out, const ModelView *m) {
    buf_printf(out, "digraph %s {\n", dot_quote(m->model));
    buf_printf(out, "  graph [label=%s, labelloc=t, fontname=\"Helvetica\", fontsize=14, rankdir=TB, nodesep=0.3, ranksep=0.35];\n",
               dot_quote(m->model));
    buf_puts(out, "  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\"];\n");
    buf_puts(out, "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n");
    int have_loss = m->loss_text != NULL;
    for (int r = 0; r < m->nrows; r++) {
        const Row *row = &m->rows[r];
        if (row->kind == ROW_TARGET && !have_loss) continue;
        Buf label = {0};
        buf_printf(&label, "%s (%s)\n%s", row->name, row->type, row->text);
        if (row->params) buf_printf(&label, "\n%s param%s", group_digits(row->params), row->params == 1 ? "" : "s");
        if (row->params && row->trainable != row->params)
            buf_printf(&label, " (%s not trainable)", group_digits(row->params - row->trainable));
        if (row->outputs) buf_printf(&label, "\noutput %s", row->outputs);
        const char *style;
        switch (row->kind) {
        case ROW_INPUT: style = "shape=ellipse, fillcolor=\"#d5e8d4\""; break;
        case ROW_TARGET: style = "shape=ellipse, style=dashed"; break;
        case ROW_PARAM: style = "shape=diamond, fillcolor=\"#ffe6cc\""; break;
        case ROW_LAYER: style = "fillcolor=\"#dae8fc\""; break;
        default: style = "fillcolor=\"#f5f5f5\""; break;
        }
        buf_printf(out, "  %s [label=%s, %s%s];\n", dot_id(m, r), dot_quote(label.data), style,
                   row->outputs ? ", peripheries=2, penwidth=1.5" : "");
    }
    if (have_loss)
        buf_printf(out, "  loss [label=%s, shape=octagon, fillcolor=\"#f8cecc\"];\n",
                   dot_quote(xsprintf("loss\n%s", m->loss_text)));
    /* edges, labelled with the shape that flows along them */
    for (int r = 0; r < m->nrows; r++) {
        const Row *row = &m->rows[r];
        for (int k = 0; k < row->napps; k++)
            for (int i = 0; i < row->apps[k].nin; i++) {
                const Conn *c = &row->apps[k].in[i];
                if (c->row < 0) continue;
                const char *label = edge_label(m, c);
                if (row->napps > 1) label = xsprintf("%s to [%d]", label, k); /* into a shared layer's application k */
                buf_printf(out, "  %s -> %s [label=%s%s];\n", dot_id(m, c->row), dot_id(m, r), dot_quote(label),
                           c->weight ? ", style=dashed" : "");
            }
    }
    for (int i = 0; i < m->nloss_in; i++) {
        const Conn *c = &m->loss_in[i];
        const char *label = edge_label(m, c);
        buf_printf(out, "  %s -> loss [label=%s%s];\n", dot_id(m, c->row), dot_quote(label), c->weight ? ", style=dashed" : "");
    }
    buf_puts(out, "}\n");
}
