/* test_parser.c — the parser (grammar/mn.y): the AST dump of every
 * statement and expression form, precedence, the chain form, locations,
 * and syntax errors compared in full (with their caret lines), including
 * recovery. Also the diagnostics printer itself (compiler/diag.c). */
#define _POSIX_C_SOURCE 200809L

#include "ast.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

/* Parses `text` as t.mn; `diags` (if not NULL) gets the messages. */
static Program *parse(const char *text, const char **diags) {
    capture_begin();
    Program *p = parse_program("t.mn", text);
    const char *d = capture_end();
    if (diags)
        *diags = d;
    return p;
}

/* The AST dump of `text`. */
static const char *dump(const char *text, const char **diags) {
    Buf out = {0};
    ast_print_program(&out, parse(text, diags));
    return out.data;
}

/* Checks the dump of a correct program, and that it printed nothing. */
#define CHECK_DUMP(text, expected)                                        \
    do {                                                                  \
        const char *diags_;                                               \
        const char *got_ = dump((text), &diags_);                         \
        CU_ASSERT_STRING_EQUAL(got_, (expected));                         \
        CU_ASSERT_STRING_EQUAL(diags_, "");                               \
        CU_ASSERT_EQUAL(diag_error_count(), 0);                           \
        if (strcmp(got_, (expected)) != 0 || *diags_)                     \
            fprintf(stderr, "\n--- got:\n%s%s--- expected:\n%s", got_,    \
                    diags_, (expected));                                  \
    } while (0)

/* Checks the messages for `text`, in full, and how many errors. */
#define CHECK_ERRORS(text, expected, count)                               \
    do {                                                                  \
        const char *diags_;                                               \
        parse((text), &diags_);                                           \
        CU_ASSERT_STRING_EQUAL(diags_, (expected));                       \
        CU_ASSERT_EQUAL(diag_error_count(), (count));                     \
        if (strcmp(diags_, (expected)) != 0)                              \
            fprintf(stderr, "\n--- got:\n%s--- expected:\n%s", diags_,    \
                    (expected));                                          \
    } while (0)

/* The dump of the single expression in `y = EXPR`. */
static const char *expr_dump(const char *expr) {
    const char *diags;
    Program *p = parse(xsprintf("model m\ny = %s\n", expr), &diags);
    if (*diags || !p->stmts || p->stmts->kind != ST_ASSIGN) {
        fprintf(stderr, "\n%s", diags);
        return "<error>";
    }
    Buf out = {0};
    ast_print_expr(&out, p->stmts->expr);
    return out.data;
}

/* The expression of `y = EXPR` (NULL on a syntax error). */
static Expr *expr_of(const char *expr) {
    Program *p = parse(xsprintf("model m\ny = %s\n", expr), NULL);
    return p->stmts ? p->stmts->expr : NULL;
}

#define CHECK_EXPR(text, expected)                                        \
    do {                                                                  \
        const char *got_ = expr_dump(text);                               \
        CU_ASSERT_STRING_EQUAL(got_, (expected));                         \
        if (strcmp(got_, (expected)) != 0)                                \
            fprintf(stderr, "\n%s: got %s, expected %s\n", (text), got_,  \
                    (expected));                                          \
    } while (0)

#define CHECK_LOC(loc, l, c, el, ec)                                      \
    do {                                                                  \
        CU_ASSERT_EQUAL((loc).line, (l));                                 \
        CU_ASSERT_EQUAL((loc).col, (c));                                  \
        CU_ASSERT_EQUAL((loc).end_line, (el));                            \
        CU_ASSERT_EQUAL((loc).end_col, (ec));                             \
    } while (0)

static const char *const example =
    "# comment to end of line\n"
    "model two_concat\n"
    "\n"
    "input  input_1 : float[10]\n"
    "input  text    : int[200]       # int input\n"
    "target label   : float[1]\n"
    "param  p       : float = 1.0                  # scalar param\n"
    "param  b       : float[32] = zeros, trainable=false\n"
    "layer  shared  = dense(32, activation=relu)\n"
    "\n"
    "a = input_1 -> dense(64, activation=relu) -> dense(32)\n"
    "b2 = shared(input_1)\n"
    "c = concat(a, b2, axis=-1)\n"
    "m = where(mask > 0.5, x, 0) * 2 + -y\n"
    "w = d1.kernel\n"
    "r = reshape(x, [1, 1, 32])\n"
    "z = dense(1)(c)\n"
    "y = c\n"
    "  -> dense(1, activation=sigmoid)     # a line starting with -> "
    "continues the previous line\n"
    "\n"
    "output y, z\n"
    "loss   0.5 * bce(y, label) + lam * l2(d1.kernel)\n"
    "metric accuracy(y, label)\n"
    "train  { optimizer = adam(lr=1e-3), batch = 32,\n"
    "         epochs = 10, seed = 42 }\n";

static void test_whole_example(void) {
    CHECK_DUMP(example,
        "(model two_concat)\n"
        "(input input_1 float[10])\n"
        "(input text int[200])\n"
        "(target label float[1])\n"
        "(param p float 1)\n"
        "(param b float[32] zeros trainable=false)\n"
        "(layer shared (call dense 32 activation=relu))\n"
        "(assign a (apply (call dense 32) (apply (call dense 64 "
        "activation=relu) input_1)))\n"
        "(assign b2 (call shared input_1))\n"
        "(assign c (call concat a b2 axis=(neg 1)))\n"
        "(assign m (+ (* (call where (> mask 0.5) x 0) 2) (neg y)))\n"
        "(assign w (field d1 kernel))\n"
        "(assign r (call reshape x (list 1 1 32)))\n"
        "(assign z (apply (call dense 1) c))\n"
        "(assign y (apply (call dense 1 activation=sigmoid) c))\n"
        "(output y z)\n"
        "(loss (+ (* 0.5 (call bce y label)) (* lam (call l2 (field d1 "
        "kernel)))))\n"
        "(metric (call accuracy y label))\n"
        "(train optimizer=(call adam lr=0.001) batch=32 epochs=10 seed=42)\n");
}

static void test_statement_forms(void) {
    CHECK_DUMP("model m\n"
               "input x : float[50, 1]\n"
               "target t : int[1]\n"
               "param s : float = -2.5\n"
               "param k : int[2, 3] = normal(0.1), trainable = false, lr = 2\n"
               "layer e = embedding(10000, 128)\n"
               "layer bi = bidirectional(lstm(64), merge=concat)\n"
               "output y\n"
               "output a, b, c\n"
               "loss bce(y, t)\n"
               "metric accuracy(y, t)\n"
               "train { }\n"
               "train {}\n"
               "train { batch = 1 }\n",
               "(model m)\n"
               "(input x float[50, 1])\n"
               "(target t int[1])\n"
               "(param s float (neg 2.5))\n"
               "(param k int[2, 3] (call normal 0.1) trainable=false lr=2)\n"
               "(layer e (call embedding 10000 128))\n"
               "(layer bi (call bidirectional (call lstm 64) merge=concat))\n"
               "(output y)\n"
               "(output a b c)\n"
               "(loss (call bce y t))\n"
               "(metric (call accuracy y t))\n"
               "(train)\n"
               "(train)\n"
               "(train batch=1)\n");
}

static void test_types(void) {
    Program *p = parse("model m\nparam a : float = 0\nparam b : int = 0\n"
                       "input c : float[1, 2, 3, 4, 5, 6]\n", NULL);
    CU_ASSERT_EQUAL(diag_error_count(), 0);
    Stmt *a = p->stmts, *b = a->next, *c = b->next;
    CU_ASSERT_EQUAL(a->type.is_int, 0);
    CU_ASSERT_EQUAL(a->type.rank, 0);
    CHECK_LOC(a->type.loc, 2, 11, 2, 15);
    CU_ASSERT_EQUAL(b->type.is_int, 1);
    CU_ASSERT_EQUAL(b->type.rank, 0);
    CU_ASSERT_EQUAL(c->type.rank, MN_MAX_RANK);
    CU_ASSERT_EQUAL(c->type.dims[0], 1);
    CU_ASSERT_EQUAL(c->type.dims[5], 6);
    CHECK_LOC(c->type.loc, 4, 11, 4, 33);
}

static void test_primaries(void) {
    CHECK_EXPR("x", "x");
    CHECK_EXPR("64", "64");
    CHECK_EXPR("0.5", "0.5");
    CHECK_EXPR(".5", "0.5");
    CHECK_EXPR("1e-7", "1e-07");
    CHECK_EXPR("1.5E+3", "1500");
    CHECK_EXPR("0.1", "0.1");
    CHECK_EXPR("true", "true");
    CHECK_EXPR("false", "false");
    CHECK_EXPR("(x)", "x");
    CHECK_EXPR("[1, 1, 32]", "(list 1 1 32)");
    CHECK_EXPR("[x]", "(list x)");
    CHECK_EXPR("cast(x, float)", "(call cast x float)");
    CHECK_EXPR("cast(x, int)", "(call cast x int)");
}

static void test_number_flags(void) {
    Expr *e = expr_of("64");
    CU_ASSERT_EQUAL(e->kind, EX_NUMBER);
    CU_ASSERT_EQUAL(e->is_integer, 1);
    CU_ASSERT_EQUAL(e->is_bool, 0);
    CU_ASSERT_DOUBLE_EQUAL(e->number, 64.0, 0.0);
    e = expr_of("64.");
    CU_ASSERT_EQUAL(e->is_integer, 0);
    e = expr_of("1e3");
    CU_ASSERT_EQUAL(e->is_integer, 0);
    CU_ASSERT_DOUBLE_EQUAL(e->number, 1000.0, 0.0);
    e = expr_of("true");
    CU_ASSERT_EQUAL(e->is_bool, 1);
    CU_ASSERT_DOUBLE_EQUAL(e->number, 1.0, 0.0);
    e = expr_of("false");
    CU_ASSERT_EQUAL(e->is_bool, 1);
    CU_ASSERT_DOUBLE_EQUAL(e->number, 0.0, 0.0);
}

static void test_calls_and_args(void) {
    CHECK_EXPR("f()", "(call f)");
    CHECK_EXPR("dense(64, activation=relu)", "(call dense 64 activation=relu)");
    /* Named and positional in any order; the parser keeps the order. */
    CHECK_EXPR("f(a=1, 2, b=x + 1, 3)", "(call f a=1 2 b=(+ x 1) 3)");
    CHECK_EXPR("f(g(h(1)))", "(call f (call g (call h 1)))");
    CHECK_EXPR("f(a == b)", "(call f (== a b))");
    CHECK_EXPR("d1.kernel", "(field d1 kernel)");
    CHECK_EXPR("l2(d1.kernel) * 2", "(* (call l2 (field d1 kernel)) 2)");
    CHECK_EXPR("dense(1)(c)", "(apply (call dense 1) c)");
    CHECK_EXPR("dense(1)(a + b)", "(apply (call dense 1) (+ a b))");
    CHECK_EXPR("enc(x)", "(call enc x)");
}

static void test_precedence(void) {
    CHECK_EXPR("a + b * c", "(+ a (* b c))");
    CHECK_EXPR("a * b + c", "(+ (* a b) c)");
    CHECK_EXPR("a - b - c", "(- (- a b) c)");
    CHECK_EXPR("a / b / c", "(/ (/ a b) c)");
    CHECK_EXPR("a * b / c", "(/ (* a b) c)");
    CHECK_EXPR("(a + b) * c", "(* (+ a b) c)");
    CHECK_EXPR("-a * b", "(* (neg a) b)");
    CHECK_EXPR("a * -b", "(* a (neg b))");
    CHECK_EXPR("--a", "(neg (neg a))");
    CHECK_EXPR("-d.w", "(neg (field d w))");
    CHECK_EXPR("a + b < c * d", "(< (+ a b) (* c d))");
    CHECK_EXPR("a <= b", "(<= a b)");
    CHECK_EXPR("a > b", "(> a b)");
    CHECK_EXPR("a >= b", "(>= a b)");
    CHECK_EXPR("a == b", "(== a b)");
    CHECK_EXPR("a != b", "(!= a b)");
    CHECK_EXPR("(a < b) < c", "(< (< a b) c)");
}

static void test_chain(void) {
    CHECK_EXPR("x -> f", "(apply f x)");
    CHECK_EXPR("x -> f -> g(1)", "(apply (call g 1) (apply f x))");
    CHECK_EXPR("a + b -> f", "(apply f (+ a b))");
    CHECK_EXPR("a < b -> f", "(apply f (< a b))");
    CHECK_EXPR("concat(t, c) -> dense(1, activation=sigmoid)",
               "(apply (call dense 1 activation=sigmoid) (call concat t c))");
    CHECK_EXPR("(x -> f) * 2", "(* (apply f x) 2)");
    CHECK_EXPR("f(x -> g)", "(call f (apply g x))");
    Expr *e = expr_of("x -> f -> g(1)");
    CU_ASSERT_EQUAL(e->kind, EX_APPLY);
    CU_ASSERT_EQUAL(e->arrow, 1);
    CU_ASSERT_EQUAL(e->callee->kind, EX_CALL);
    CU_ASSERT_EQUAL(e->arg->kind, EX_APPLY);
    CU_ASSERT_EQUAL(e->arg->arrow, 1);
    CU_ASSERT_EQUAL(e->arg->callee->kind, EX_NAME);
    e = expr_of("dense(1)(x)");
    CU_ASSERT_EQUAL(e->kind, EX_APPLY);
    CU_ASSERT_EQUAL(e->arrow, 0);
}

static void test_continuation_lines(void) {
    CHECK_DUMP("model m\n"
               "y = x\n"
               "  -> f   # one\n"
               "\n"
               "  # two\n"
               "  -> g\n"
               "z = a +\n"
               "    b\n"
               "w = h(1,\n"
               "      2)\n"
               "output y,\n"
               "       z",
               "(model m)\n"
               "(assign y (apply g (apply f x)))\n"
               "(assign z (+ a b))\n"
               "(assign w (call h 1 2))\n"
               "(output y z)\n");
}

static void test_locations(void) {
    Program *p = parse("model two\n"
                       "m = where(mask > 0.5, x, 0) * 2 + -y\n"
                       "y = c\n"
                       "  -> dense(1, act=sigmoid)\n"
                       "output y, z\n"
                       "w = d1.kernel\n", NULL);
    CU_ASSERT_EQUAL(diag_error_count(), 0);
    CHECK_LOC(p->model_loc, 1, 7, 1, 9);
    Stmt *s = p->stmts;
    CHECK_LOC(s->loc, 2, 1, 2, 36);
    CHECK_LOC(s->name_loc, 2, 1, 2, 1);
    Expr *sum = s->expr;
    CU_ASSERT_EQUAL(sum->kind, EX_BINARY);
    CU_ASSERT_EQUAL(sum->op, BIN_ADD);
    CHECK_LOC(sum->loc, 2, 5, 2, 36);
    CHECK_LOC(sum->lhs->loc, 2, 5, 2, 31);            /* where(...) * 2 */
    CHECK_LOC(sum->rhs->loc, 2, 35, 2, 36);           /* -y */
    Expr *call = sum->lhs->lhs;
    CU_ASSERT_EQUAL(call->kind, EX_CALL);
    CHECK_LOC(call->loc, 2, 5, 2, 27);
    CHECK_LOC(call->name_loc, 2, 5, 2, 9);
    CHECK_LOC(call->args->loc, 2, 11, 2, 20);         /* mask > 0.5 */
    CHECK_LOC(call->args->value->loc, 2, 11, 2, 20);

    s = s->next;                                      /* y = c -> dense */
    CHECK_LOC(s->loc, 3, 1, 4, 26);
    CHECK_LOC(s->expr->loc, 3, 5, 4, 26);
    CHECK_LOC(s->expr->callee->loc, 4, 6, 4, 26);
    Arg *named = s->expr->callee->args->next;
    CU_ASSERT_STRING_EQUAL(named->name, "act");
    CHECK_LOC(named->loc, 4, 15, 4, 25);
    CHECK_LOC(named->name_loc, 4, 15, 4, 17);

    s = s->next;                                      /* output y, z */
    CHECK_LOC(s->loc, 5, 1, 5, 11);
    CHECK_LOC(s->names->loc, 5, 8, 5, 8);
    CHECK_LOC(s->names->next->loc, 5, 11, 5, 11);

    s = s->next;                                      /* w = d1.kernel */
    CHECK_LOC(s->expr->loc, 6, 5, 6, 13);
    CHECK_LOC(s->expr->lhs->loc, 6, 5, 6, 6);
    CHECK_LOC(s->expr->name_loc, 6, 8, 6, 13);
}

static void test_syntax_error_message(void) {
    CHECK_ERRORS("model two\n"
                 "input x : float[10]\n"
                 "output  3\n",
                 "t.mn:3:9: error: syntax error, unexpected number, "
                 "expecting identifier\n"
                 "    3 | output  3\n"
                 "      |         ^\n",
                 1);
}

static void test_three_errors_recover(void) {
    const char *diags;
    Program *p = parse("model m\n"
                       "input x : float[10]\n"
                       "a = 3 = 4\n"
                       "b = dense(3)(x)\n"
                       "input : float[2]\n"
                       "output\n"
                       "c = a * b\n", &diags);
    CU_ASSERT_STRING_EQUAL(diags,
        "t.mn:3:7: error: syntax error, unexpected '='\n"
        "    3 | a = 3 = 4\n"
        "      |       ^\n"
        "t.mn:5:7: error: syntax error, unexpected ':', expecting identifier\n"
        "    5 | input : float[2]\n"
        "      |       ^\n"
        "t.mn:6:7: error: syntax error, unexpected newline, expecting "
        "identifier\n"
        "    6 | output\n"
        "      |       ^\n");
    CU_ASSERT_EQUAL(diag_error_count(), 3);
    Buf out = {0};
    ast_print_program(&out, p);
    CU_ASSERT_STRING_EQUAL(out.data,
                           "(model m)\n"
                           "(input x float[10])\n"
                           "(assign b (apply (call dense 3) x))\n"
                           "(assign c (* a b))\n");
}

static void test_errors_on_adjacent_lines(void) {
    /* Each error is reported even right after a recovery. */
    CHECK_ERRORS("model m\n"
                 "3\n"
                 "4\n"
                 ")\n",
                 "t.mn:2:1: error: syntax error, unexpected number\n"
                 "    2 | 3\n"
                 "      | ^\n"
                 "t.mn:3:1: error: syntax error, unexpected number\n"
                 "    3 | 4\n"
                 "      | ^\n"
                 "t.mn:4:1: error: syntax error, unexpected ')'\n"
                 "    4 | )\n"
                 "      | ^\n",
                 3);
}

static void test_missing_model_line(void) {
    const char *diags;
    const char *got = dump("input x : float[10]\n"
                           "y = x -> dense(3)\n", &diags);
    CU_ASSERT_STRING_EQUAL(diags,
        "t.mn:1:1: error: expected 'model NAME' as the first line\n"
        "    1 | input x : float[10]\n"
        "      | ^~~~~~~~~~~~~~~~~~~\n");
    CU_ASSERT_EQUAL(diag_error_count(), 1);
    CU_ASSERT_STRING_EQUAL(got,
                           "(model)\n"
                           "(input x float[10])\n"
                           "(assign y (apply (call dense 3) x))\n");
    CHECK_ERRORS("",
                 "t.mn:1:1: error: expected 'model NAME' as the first line\n"
                 "    1 | \n"
                 "      | ^\n",
                 1);
}

static void test_bad_model_line(void) {
    const char *diags;
    const char *got = dump("model 3\noutput y\n", &diags);
    CU_ASSERT_STRING_EQUAL(diags,
        "t.mn:1:7: error: syntax error, unexpected number, expecting "
        "identifier\n"
        "    1 | model 3\n"
        "      |       ^\n");
    CU_ASSERT_STRING_EQUAL(got, "(model)\n(output y)\n");
    /* A misspelt first line is one error, not two. */
    CHECK_ERRORS("modle m\noutput y\n",
                 "t.mn:1:7: error: syntax error, unexpected identifier, "
                 "expecting '='\n"
                 "    1 | modle m\n"
                 "      |       ^\n",
                 1);
    CHECK_ERRORS("model m\nmodel n\n",
                 "t.mn:2:1: error: syntax error, unexpected 'model'\n"
                 "    2 | model n\n"
                 "      | ^~~~~\n",
                 1);
}

static void test_invalid_character_in_program(void) {
    const char *diags;
    const char *got = dump("model m\nloss $ x\n", &diags);
    CU_ASSERT_STRING_EQUAL(diags,
                           "t.mn:2:6: error: invalid character '$'\n"
                           "    2 | loss $ x\n"
                           "      |      ^\n");
    CU_ASSERT_EQUAL(diag_error_count(), 1);
    CU_ASSERT_STRING_EQUAL(got, "(model m)\n(loss x)\n");
}

static void test_arrow_target_errors(void) {
    CHECK_ERRORS("model m\ny = x -> 3\nz = x -> f + 1\nw = x -> (f)\n",
                 "t.mn:2:10: error: syntax error, unexpected number, "
                 "expecting identifier\n"
                 "    2 | y = x -> 3\n"
                 "      |          ^\n"
                 "t.mn:3:12: error: syntax error, unexpected '+', expecting "
                 "newline or '->' or '('\n"
                 "    3 | z = x -> f + 1\n"
                 "      |            ^\n"
                 "t.mn:4:10: error: syntax error, unexpected '(', "
                 "expecting identifier\n"
                 "    4 | w = x -> (f)\n"
                 "      |          ^\n",
                 3);
}

static void test_apply_errors(void) {
    CHECK_ERRORS("model m\n"
                 "c = dense(3)(a, b)\n"
                 "d = dense(3)()\n"
                 "e = dense(3)(x=a)\n",
                 "t.mn:2:13: error: 'dense(...)' is applied to exactly one "
                 "value, not 2\n"
                 "    2 | c = dense(3)(a, b)\n"
                 "      |             ^~~~~~\n"
                 "t.mn:3:13: error: 'dense(...)' is applied to exactly one "
                 "value, not 0\n"
                 "    3 | d = dense(3)()\n"
                 "      |             ^~\n"
                 "t.mn:4:14: error: 'dense(...)' is applied to a value, not "
                 "a named argument\n"
                 "    4 | e = dense(3)(x=a)\n"
                 "      |              ^~~\n",
                 3);
    /* Fields are of names only: `f(x).y` is not a weight. */
    CHECK_ERRORS("model m\ny = -f(x).y\n",
                 "t.mn:2:10: error: syntax error, unexpected '.'\n"
                 "    2 | y = -f(x).y\n"
                 "      |          ^\n",
                 1);
    CHECK_ERRORS("model m\nf = dense(1)(x)(y)\n",
                 "t.mn:2:16: error: syntax error, unexpected '('\n"
                 "    2 | f = dense(1)(x)(y)\n"
                 "      |                ^\n",
                 1);
}

static void test_comparison_does_not_chain(void) {
    CHECK_ERRORS("model m\ne = a < b < c\n",
                 "t.mn:2:11: error: syntax error, unexpected '<'\n"
                 "    2 | e = a < b < c\n"
                 "      |           ^\n",
                 1);
}

static void test_type_errors(void) {
    const char *diags;
    Program *p = parse("model m\n"
                       "param q : float[1,2,3,4,5,6,7,8] = 0\n"
                       "input z : float[0, 2.5, 3]\n"
                       "input w : float[]\n"
                       "input v : double[3]\n", &diags);
    CU_ASSERT_STRING_EQUAL(diags,
        "t.mn:2:29: error: too many dimensions: at most 6 are supported\n"
        "    2 | param q : float[1,2,3,4,5,6,7,8] = 0\n"
        "      |                             ^\n"
        "t.mn:3:17: error: a dimension must be a positive integer\n"
        "    3 | input z : float[0, 2.5, 3]\n"
        "      |                 ^\n"
        "t.mn:3:20: error: a dimension must be a positive integer\n"
        "    3 | input z : float[0, 2.5, 3]\n"
        "      |                    ^~~\n"
        "t.mn:4:17: error: syntax error, unexpected ']', expecting number\n"
        "    4 | input w : float[]\n"
        "      |                 ^\n"
        "t.mn:5:11: error: syntax error, unexpected identifier, expecting "
        "'float' or 'int'\n"
        "    5 | input v : double[3]\n"
        "      |           ^~~~~~\n");
    CU_ASSERT_EQUAL(diag_error_count(), 5);
    /* Located errors inside a statement keep the statement. */
    CU_ASSERT_EQUAL(p->stmts->type.rank, MN_MAX_RANK);
    CU_ASSERT_EQUAL(p->stmts->next->type.rank, 3);
}

static void test_unclosed_bracket(void) {
    /* The next statement keyword ends the broken statement. */
    const char *diags;
    const char *got = dump("model m\n"
                           "y = f(x,\n"
                           "output y\n", &diags);
    CU_ASSERT_STRING_EQUAL(diags,
                           "t.mn:2:9: error: syntax error, unexpected newline\n"
                           "    2 | y = f(x,\n"
                           "      |         ^\n");
    CU_ASSERT_STRING_EQUAL(got, "(model m)\n(output y)\n");
    /* At the end of the file. */
    CHECK_ERRORS("model m\ntrain { batch = 1",
                 "t.mn:2:18: error: syntax error, unexpected end of file\n"
                 "    2 | train { batch = 1\n"
                 "      |                  ^\n",
                 1);
}

static void test_malformed_statement_heads(void) {
    CHECK_ERRORS("model m\n"
                 "layer d = 3\n"
                 "metric acc\n"
                 "train { 3 }\n",
                 "t.mn:2:11: error: syntax error, unexpected number, "
                 "expecting identifier\n"
                 "    2 | layer d = 3\n"
                 "      |           ^\n"
                 "t.mn:3:11: error: syntax error, unexpected newline, "
                 "expecting '('\n"
                 "    3 | metric acc\n"
                 "      |           ^\n"
                 "t.mn:4:9: error: syntax error, unexpected number, "
                 "expecting identifier or '}'\n"
                 "    4 | train { 3 }\n"
                 "      |         ^\n",
                 3);
}

/* ---- the diagnostics printer (compiler/diag.c) ------------------------ */

static void test_diag_formats(void) {
    diag_set_source("model.mn", "a\n\tx2 = shared(input_2)\nlast");
    capture_begin();
    error_at((Loc){2, 14, 2, 20}, "layer '%s' applied twice", "shared");
    warning_at((Loc){1, 1, 1, 1}, "unused");
    note_at((Loc){2, 2, 3, 2}, "spans lines");
    error_at((Loc){0, 0, 0, 0}, "no place");
    error_plain("cannot open '%s'", "x.mn");
    const char *got = capture_end();
    CU_ASSERT_STRING_EQUAL(got,
        "model.mn:2:14: error: layer 'shared' applied twice\n"
        "    2 | \tx2 = shared(input_2)\n"
        "      | \t            ^~~~~~~\n"
        "model.mn:1:1: warning: unused\n"
        "    1 | a\n"
        "      | ^\n"
        "model.mn:2:2: note: spans lines\n"
        "    2 | \tx2 = shared(input_2)\n"
        "      | \t^~~~~~~~~~~~~~~~~~~~\n"
        "model.mn: error: no place\n"
        "mnc: error: cannot open 'x.mn'\n");
    CU_ASSERT_EQUAL(diag_error_count(), 3);
    CU_ASSERT_EQUAL(diag_warning_count(), 1);
    int len;
    const char *line = diag_line_text(3, &len);
    CU_ASSERT_EQUAL(len, 4);
    CU_ASSERT_NSTRING_EQUAL(line, "last", 4);
    CU_ASSERT_PTR_NULL(diag_line_text(4, &len));
    CU_ASSERT_PTR_NULL(diag_line_text(0, &len));
    CU_ASSERT_STRING_EQUAL(diag_path(), "model.mn");
    diag_reset_counts();
    CU_ASSERT_EQUAL(diag_error_count(), 0);
    CU_ASSERT_EQUAL(diag_warning_count(), 0);
}

static void test_diag_wide_line_numbers(void) {
    Buf text = {0};
    for (int i = 0; i < 12345; i++)
        buf_puts(&text, "x\n");
    diag_set_source("big.mn", text.data);
    capture_begin();
    error_at((Loc){12345, 1, 12345, 1}, "here");
    CU_ASSERT_STRING_EQUAL(capture_end(),
                           "big.mn:12345:1: error: here\n"
                           "12345 | x\n"
                           "      | ^\n");
}

static void test_util(void) {
    CU_ASSERT_STRING_EQUAL(xsprintf("%s-%d", "a", 42), "a-42");
    CU_ASSERT_STRING_EQUAL(xstrndup("abcdef", 3), "abc");
    CU_ASSERT_STRING_EQUAL(xstrndup("ab", 10), "ab");
    CU_ASSERT_STRING_EQUAL(xstrdup(""), "");
    Buf b = {0};
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i % 10);
    buf_putc(&b, '!');
    CU_ASSERT_EQUAL(b.len, 2001);
    CU_ASSERT_EQUAL(b.data[2000], '!');
    CU_ASSERT_EQUAL(b.data[2001], '\0');
    unsigned char *z = xalloc(100);
    int all_zero = 1;
    for (int i = 0; i < 100; i++)
        all_zero &= z[i] == 0;
    CU_ASSERT(all_zero);
    CU_ASSERT_STRING_EQUAL(binop_spelling(BIN_LE), "<=");
    CU_ASSERT_STRING_EQUAL(binop_spelling(BIN_NE), "!=");
    CU_ASSERT_PTR_NULL(read_file("/nonexistent/file.mn", NULL));
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("parser", NULL, NULL);
    CU_add_test(s, "the whole example", test_whole_example);
    CU_add_test(s, "statement forms", test_statement_forms);
    CU_add_test(s, "types", test_types);
    CU_add_test(s, "primaries", test_primaries);
    CU_add_test(s, "number flags", test_number_flags);
    CU_add_test(s, "calls and arguments", test_calls_and_args);
    CU_add_test(s, "precedence", test_precedence);
    CU_add_test(s, "the chain form", test_chain);
    CU_add_test(s, "continuation lines", test_continuation_lines);
    CU_add_test(s, "locations", test_locations);
    CU_pSuite e = CU_add_suite("syntax errors", NULL, NULL);
    CU_add_test(e, "message in full", test_syntax_error_message);
    CU_add_test(e, "three errors, recovery", test_three_errors_recover);
    CU_add_test(e, "errors on adjacent lines", test_errors_on_adjacent_lines);
    CU_add_test(e, "missing model line", test_missing_model_line);
    CU_add_test(e, "bad model line", test_bad_model_line);
    CU_add_test(e, "invalid character", test_invalid_character_in_program);
    CU_add_test(e, "-> needs a name or a call", test_arrow_target_errors);
    CU_add_test(e, "applying a call", test_apply_errors);
    CU_add_test(e, "comparisons do not chain", test_comparison_does_not_chain);
    CU_add_test(e, "types", test_type_errors);
    CU_add_test(e, "unclosed bracket", test_unclosed_bracket);
    CU_add_test(e, "malformed statements", test_malformed_statement_heads);
    CU_pSuite d = CU_add_suite("diagnostics and utilities", NULL, NULL);
    CU_add_test(d, "formats", test_diag_formats);
    CU_add_test(d, "wide line numbers", test_diag_wide_line_numbers);
    CU_add_test(d, "util", test_util);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    mnc_free_all();
    return failures != 0;
}
