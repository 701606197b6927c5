# cunit: the CUnit suites (tests/unit/test_*.c, built as $BUILD/test_SUITE by
# make unit-tests), each run in $WORK. Each CUnit test counts as one check.
# MODEL names a suite: parser or test_parser.

for src in $(section_models); do
    suite=$(basename "$src" .c)
    suite=${suite#test_}
    bin=$BUILD/test_$suite
    out=$WORK/cunit_$suite.log
    if [ ! -x "$bin" ]; then
        LOG=/dev/null fail "CUnit suite $suite (not built)"
        continue
    fi
    (cd "$WORK" && "../../$bin") >"$out" 2>&1
    rc=$?
    grep -E '^ *(Run Summary|suites|tests|asserts)' "$out" | sed "s/^/[$suite] /"
    read -r total ran passed failed < <(awk '$1 == "tests" { print $2, $3, $4, $5 }' "$out")
    if [ -z "${ran:-}" ]; then
        LOG=$out fail "CUnit suite $suite (no summary; exit $rc)"
        continue
    fi
    PASSED=$((PASSED + passed))
    FAILED=$((FAILED + failed))
    if [ "$failed" != 0 ] || [ $rc != 0 ]; then
        [ "$failed" = 0 ] && FAILED=$((FAILED + 1))
        FAILED_NAMES+=("CUnit suite $suite")
        grep -B2 -A6 -E 'FAILED|Test:.*\.\.\.FAILED' "$out" | head -n 40 | sed 's/^/     | /'
        echo "FAIL CUnit suite $suite: $passed of $total tests passed (exit $rc)"
    else
        echo "ok   CUnit suite $suite: $passed of $total tests passed"
    fi
done
