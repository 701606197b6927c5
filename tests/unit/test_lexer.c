/* test_lexer.c — the scanner (grammar/mn.l) through lex_dump: tokens,
 * their locations, where NEWLINE tokens are and are not emitted, and the
 * lexical error messages in full. */
#define _POSIX_C_SOURCE 200809L

#include "ast.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

/* Captures diagnostics, with `text` as the source they quote. */
static void capture_with_source(const char *text) {
    capture_begin();
    diag_set_source("t.mn", text);
}

/* Scans `text`; returns the token dump, `diags` gets the messages. */
static const char *lex(const char *text, const char **diags) {
    Buf out = {0};
    capture_with_source(text);
    lex_dump(text, &out);
    const char *d = capture_end();
    if (diags)
        *diags = d;
    return out.data ? out.data : "";
}

/* Checks that `text` scans to exactly `expected` with no messages. */
#define CHECK_TOKENS(text, expected)                                      \
    do {                                                                  \
        const char *diags_;                                               \
        const char *got_ = lex((text), &diags_);                          \
        CU_ASSERT_STRING_EQUAL(got_, (expected));                         \
        CU_ASSERT_STRING_EQUAL(diags_, "");                               \
        if (strcmp(got_, (expected)) != 0)                                \
            fprintf(stderr, "\n--- got:\n%s--- expected:\n%s", got_,      \
                    (expected));                                          \
    } while (0)

static void test_model_line(void) {
    CHECK_TOKENS("model two_concat\n",
                 "1:1-5 MODEL\n"
                 "1:7-16 IDENT two_concat\n"
                 "1:17-17 NEWLINE\n");
}

static void test_declaration(void) {
    CHECK_TOKENS("input  text : int[200]   # int input\n",
                 "1:1-5 INPUT\n"
                 "1:8-11 IDENT text\n"
                 "1:13-13 ':'\n"
                 "1:15-17 INT\n"
                 "1:18-18 '['\n"
                 "1:19-21 NUMBER 200\n"
                 "1:22-22 ']'\n"
                 "1:23-23 NEWLINE\n");
}

static void test_keywords_and_identifiers(void) {
    CHECK_TOKENS("model input target param layer output loss metric train "
                 "float int true false modelx _a1 Input",
                 "1:1-5 MODEL\n"
                 "1:7-11 INPUT\n"
                 "1:13-18 TARGET\n"
                 "1:20-24 PARAM\n"
                 "1:26-30 LAYER\n"
                 "1:32-37 OUTPUT\n"
                 "1:39-42 LOSS\n"
                 "1:44-49 METRIC\n"
                 "1:51-55 TRAIN\n"
                 "1:57-61 FLOAT\n"
                 "1:63-65 INT\n"
                 "1:67-70 TRUE\n"
                 "1:72-76 FALSE\n"
                 "1:78-83 IDENT modelx\n"
                 "1:85-87 IDENT _a1\n"
                 "1:89-93 IDENT Input\n"
                 "1:94-94 NEWLINE\n");
}

static void test_numbers(void) {
    CHECK_TOKENS("x = 12 0.5 .5 1e-7 1.5E+3 3. 2e8\n",
                 "1:1-1 IDENT x\n"
                 "1:3-3 '='\n"
                 "1:5-6 NUMBER 12\n"
                 "1:8-10 NUMBER 0.5\n"
                 "1:12-13 NUMBER .5\n"
                 "1:15-18 NUMBER 1e-7\n"
                 "1:20-25 NUMBER 1.5E+3\n"
                 "1:27-28 NUMBER 3.\n"
                 "1:30-32 NUMBER 2e8\n"
                 "1:33-33 NEWLINE\n");
}

static void test_operators(void) {
    /* Inside brackets, so that no operator at a line end matters. */
    CHECK_TOKENS("( -> + - * / < <= > >= == != = : , . [ ] { } )",
                 "1:1-1 '('\n"
                 "1:3-4 '->'\n"
                 "1:6-6 '+'\n"
                 "1:8-8 '-'\n"
                 "1:10-10 '*'\n"
                 "1:12-12 '/'\n"
                 "1:14-14 '<'\n"
                 "1:16-17 '<='\n"
                 "1:19-19 '>'\n"
                 "1:21-22 '>='\n"
                 "1:24-25 '=='\n"
                 "1:27-28 '!='\n"
                 "1:30-30 '='\n"
                 "1:32-32 ':'\n"
                 "1:34-34 ','\n"
                 "1:36-36 '.'\n"
                 "1:38-38 '['\n"
                 "1:40-40 ']'\n"
                 "1:42-42 '{'\n"
                 "1:44-44 '}'\n"
                 "1:46-46 ')'\n"
                 "1:47-47 NEWLINE\n");
    /* Longest match: `a->b`, `a<=-b`, `d1.kernel` and `x-1`. */
    CHECK_TOKENS("a->b<=-d1.kernel-1",
                 "1:1-1 IDENT a\n"
                 "1:2-3 '->'\n"
                 "1:4-4 IDENT b\n"
                 "1:5-6 '<='\n"
                 "1:7-7 '-'\n"
                 "1:8-9 IDENT d1\n"
                 "1:10-10 '.'\n"
                 "1:11-16 IDENT kernel\n"
                 "1:17-17 '-'\n"
                 "1:18-18 NUMBER 1\n"
                 "1:19-19 NEWLINE\n");
}

static void test_no_newline_before_first_statement(void) {
    CHECK_TOKENS("\n\n# header comment\n   \n\t# another\nmodel m\n",
                 "6:1-5 MODEL\n"
                 "6:7-7 IDENT m\n"
                 "6:8-8 NEWLINE\n");
}

static void test_blank_and_comment_lines_collapse(void) {
    /* The NEWLINE sits just after the last token of its statement. */
    CHECK_TOKENS("a = 1   # one\n\n   # two\n\n\nb = 2\n\n\n",
                 "1:1-1 IDENT a\n"
                 "1:3-3 '='\n"
                 "1:5-5 NUMBER 1\n"
                 "1:6-6 NEWLINE\n"
                 "6:1-1 IDENT b\n"
                 "6:3-3 '='\n"
                 "6:5-5 NUMBER 2\n"
                 "6:6-6 NEWLINE\n");
}

static void test_end_of_file_ends_statement(void) {
    CHECK_TOKENS("output y",
                 "1:1-6 OUTPUT\n"
                 "1:8-8 IDENT y\n"
                 "1:9-9 NEWLINE\n");
    CHECK_TOKENS("output y # no newline at the end",
                 "1:1-6 OUTPUT\n"
                 "1:8-8 IDENT y\n"
                 "1:9-9 NEWLINE\n");
    CHECK_TOKENS("", "");
    CHECK_TOKENS("# only a comment\n\n", "");
}

static void test_newlines_inside_brackets(void) {
    CHECK_TOKENS("train { a = 1,\n        b = 2\n}\nx = f(1,\n  2)\n",
                 "1:1-5 TRAIN\n"
                 "1:7-7 '{'\n"
                 "1:9-9 IDENT a\n"
                 "1:11-11 '='\n"
                 "1:13-13 NUMBER 1\n"
                 "1:14-14 ','\n"
                 "2:9-9 IDENT b\n"
                 "2:11-11 '='\n"
                 "2:13-13 NUMBER 2\n"
                 "3:1-1 '}'\n"
                 "3:2-2 NEWLINE\n"
                 "4:1-1 IDENT x\n"
                 "4:3-3 '='\n"
                 "4:5-5 IDENT f\n"
                 "4:6-6 '('\n"
                 "4:7-7 NUMBER 1\n"
                 "4:8-8 ','\n"
                 "5:3-3 NUMBER 2\n"
                 "5:4-4 ')'\n"
                 "5:5-5 NEWLINE\n");
    /* Nested, and a stray closer does not make the depth negative. */
    CHECK_TOKENS("x = [(\n)]\n)\ny\n",
                 "1:1-1 IDENT x\n"
                 "1:3-3 '='\n"
                 "1:5-5 '['\n"
                 "1:6-6 '('\n"
                 "2:1-1 ')'\n"
                 "2:2-2 ']'\n"
                 "2:3-3 NEWLINE\n"
                 "3:1-1 ')'\n"
                 "3:2-2 NEWLINE\n"
                 "4:1-1 IDENT y\n"
                 "4:2-2 NEWLINE\n");
}

static void test_arrow_line_continues(void) {
    CHECK_TOKENS("y = c\n  -> dense(1)   # continues\nz = y\n",
                 "1:1-1 IDENT y\n"
                 "1:3-3 '='\n"
                 "1:5-5 IDENT c\n"
                 "2:3-4 '->'\n"
                 "2:6-10 IDENT dense\n"
                 "2:11-11 '('\n"
                 "2:12-12 NUMBER 1\n"
                 "2:13-13 ')'\n"
                 "2:14-14 NEWLINE\n"
                 "3:1-1 IDENT z\n"
                 "3:3-3 '='\n"
                 "3:5-5 IDENT y\n"
                 "3:6-6 NEWLINE\n");
    /* Blank and comment lines may come between. */
    CHECK_TOKENS("y = c # a\n\n  # b\n\t->f\n",
                 "1:1-1 IDENT y\n"
                 "1:3-3 '='\n"
                 "1:5-5 IDENT c\n"
                 "4:2-3 '->'\n"
                 "4:4-4 IDENT f\n"
                 "4:5-5 NEWLINE\n");
}

static void test_line_end_operator_continues(void) {
    CHECK_TOKENS("a = x ->\n f\nb =\n 1 +\n 2 *\n 3,\n 4 <\n 5\n",
                 "1:1-1 IDENT a\n"
                 "1:3-3 '='\n"
                 "1:5-5 IDENT x\n"
                 "1:7-8 '->'\n"
                 "2:2-2 IDENT f\n"
                 "2:3-3 NEWLINE\n"
                 "3:1-1 IDENT b\n"
                 "3:3-3 '='\n"
                 "4:2-2 NUMBER 1\n"
                 "4:4-4 '+'\n"
                 "5:2-2 NUMBER 2\n"
                 "5:4-4 '*'\n"
                 "6:2-2 NUMBER 3\n"
                 "6:3-3 ','\n"
                 "7:2-2 NUMBER 4\n"
                 "7:4-4 '<'\n"
                 "8:2-2 NUMBER 5\n"
                 "8:3-3 NEWLINE\n");
    /* A line ending in `)` or a name does end the statement. */
    CHECK_TOKENS("a = f(x)\nb\n",
                 "1:1-1 IDENT a\n"
                 "1:3-3 '='\n"
                 "1:5-5 IDENT f\n"
                 "1:6-6 '('\n"
                 "1:7-7 IDENT x\n"
                 "1:8-8 ')'\n"
                 "1:9-9 NEWLINE\n"
                 "2:1-1 IDENT b\n"
                 "2:2-2 NEWLINE\n");
}

static void test_crlf_line_endings(void) {
    CHECK_TOKENS("model m\r\n\r\noutput y\r\n",
                 "1:1-5 MODEL\n"
                 "1:7-7 IDENT m\n"
                 "1:8-8 NEWLINE\n"
                 "3:1-6 OUTPUT\n"
                 "3:8-8 IDENT y\n"
                 "3:9-9 NEWLINE\n");
}

static void test_keyword_closes_open_bracket(void) {
    /* An unclosed `(` must not swallow the next statement. */
    CHECK_TOKENS("x = f(1,\noutput x\n",
                 "1:1-1 IDENT x\n"
                 "1:3-3 '='\n"
                 "1:5-5 IDENT f\n"
                 "1:6-6 '('\n"
                 "1:7-7 NUMBER 1\n"
                 "1:8-8 ','\n"
                 "1:9-9 NEWLINE\n"
                 "2:1-6 OUTPUT\n"
                 "2:8-8 IDENT x\n"
                 "2:9-9 NEWLINE\n");
}

static void test_invalid_character(void) {
    const char *diags;
    const char *got = lex("loss $ x\n", &diags);
    CU_ASSERT_STRING_EQUAL(got,
                           "1:1-4 LOSS\n"
                           "1:8-8 IDENT x\n"
                           "1:9-9 NEWLINE\n");
    CU_ASSERT_STRING_EQUAL(diags,
                           "t.mn:1:6: error: invalid character '$'\n"
                           "    1 | loss $ x\n"
                           "      |      ^\n");
    CU_ASSERT_EQUAL(diag_error_count(), 1);
}

static void test_invalid_characters_in_tabbed_line(void) {
    const char *diags;
    const char *got = lex("\ta = b ! c\n\t\t@\x01\n", &diags);
    CU_ASSERT_STRING_EQUAL(got,
                           "1:2-2 IDENT a\n"
                           "1:4-4 '='\n"
                           "1:6-6 IDENT b\n"
                           "1:10-10 IDENT c\n"
                           "1:11-11 NEWLINE\n");
    CU_ASSERT_STRING_EQUAL(diags,
                           "t.mn:1:8: error: invalid character '!'\n"
                           "    1 | \ta = b ! c\n"
                           "      | \t      ^\n"
                           "t.mn:2:3: error: invalid character '@'\n"
                           "    2 | \t\t@\x01\n"
                           "      | \t\t^\n"
                           "t.mn:2:4: error: invalid character '\\x01'\n"
                           "    2 | \t\t@\x01\n"
                           "      | \t\t ^\n");
    CU_ASSERT_EQUAL(diag_error_count(), 3);
}

static void test_invalid_utf8_character(void) {
    const char *diags;
    const char *got = lex("x = \xc3\xa9\n", &diags);
    CU_ASSERT_STRING_EQUAL(got,
                           "1:1-1 IDENT x\n"
                           "1:3-3 '='\n"
                           "1:4-4 NEWLINE\n");
    CU_ASSERT_STRING_EQUAL(diags,
                           "t.mn:1:5: error: invalid character '\xc3\xa9'\n"
                           "    1 | x = \xc3\xa9\n"
                           "      |     ^~\n");
}

static void test_malformed_number(void) {
    const char *diags;
    const char *got = lex("f = 1e+ * 2.5E\n", &diags);
    CU_ASSERT_STRING_EQUAL(got,
                           "1:1-1 IDENT f\n"
                           "1:3-3 '='\n"
                           "1:5-7 NUMBER 1e+\n"
                           "1:9-9 '*'\n"
                           "1:11-14 NUMBER 2.5E\n"
                           "1:15-15 NEWLINE\n");
    CU_ASSERT_STRING_EQUAL(diags,
                           "t.mn:1:5: error: malformed number '1e+'\n"
                           "    1 | f = 1e+ * 2.5E\n"
                           "      |     ^~~\n"
                           "t.mn:1:11: error: malformed number '2.5E'\n"
                           "    1 | f = 1e+ * 2.5E\n"
                           "      |           ^~~~\n");
}

static void test_number_out_of_range(void) {
    const char *diags;
    lex("x = 1e999\n", &diags);
    CU_ASSERT_STRING_EQUAL(diags,
                           "t.mn:1:5: error: number '1e999' is out of range\n"
                           "    1 | x = 1e999\n"
                           "      |     ^~~~~\n");
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("lexer", NULL, NULL);
    CU_add_test(s, "model line", test_model_line);
    CU_add_test(s, "declaration", test_declaration);
    CU_add_test(s, "keywords and identifiers", test_keywords_and_identifiers);
    CU_add_test(s, "numbers", test_numbers);
    CU_add_test(s, "operators", test_operators);
    CU_add_test(s, "no NEWLINE before the first statement",
                test_no_newline_before_first_statement);
    CU_add_test(s, "blank and comment lines collapse",
                test_blank_and_comment_lines_collapse);
    CU_add_test(s, "end of file ends a statement",
                test_end_of_file_ends_statement);
    CU_add_test(s, "newlines inside brackets", test_newlines_inside_brackets);
    CU_add_test(s, "a line starting with -> continues",
                test_arrow_line_continues);
    CU_add_test(s, "a line ending in an operator continues",
                test_line_end_operator_continues);
    CU_add_test(s, "CRLF line endings", test_crlf_line_endings);
    CU_add_test(s, "a keyword closes open brackets",
                test_keyword_closes_open_bracket);
    CU_add_test(s, "invalid character", test_invalid_character);
    CU_add_test(s, "invalid characters after tabs",
                test_invalid_characters_in_tabbed_line);
    CU_add_test(s, "invalid UTF-8 character", test_invalid_utf8_character);
    CU_add_test(s, "malformed number", test_malformed_number);
    CU_add_test(s, "number out of range", test_number_out_of_range);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    mnc_free_all();
    return failures != 0;
}
