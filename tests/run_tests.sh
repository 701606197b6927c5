#!/usr/bin/env bash
# run_tests.sh — every test of mnc, counted. `make test` runs it after
# building ./mnc, the runtime and the CUnit suites.
#
# Every check prints one line (ok / FAIL and what it checked). The CUnit
# suites print their own summaries; each CUnit test counts as one check.
# The last line is "N passed, M failed"; the exit status is 1 if any failed.
set -u
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
WORK=$BUILD/tests
rm -rf "$WORK"
mkdir -p "$WORK"
PASSED=0
FAILED=0
FAILED_NAMES=()
LOG=$WORK/last.log

GEN_CFLAGS="-std=c99 -Wall -Wextra -Werror -pedantic"
# The harnesses run the generated code under the sanitizers.
SAN="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
LIBS="$BUILD/libmnrt.a -lopenblas -lm"
CLANG=$(command -v clang || true)

pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
    echo "FAIL $1"
    [ -s "$LOG" ] && sed 's/^/     | /' "$LOG" | tail -n 25
}
# check NAME COMMAND...: one check, passing when COMMAND exits 0.
check() {
    local name=$1
    shift
    if "$@" >"$LOG" 2>&1; then pass "$name"; else fail "$name"; fi
}
# check_shown NAME COMMAND...: as check, and prints the command's last line.
check_shown() {
    local name=$1
    shift
    if "$@" >"$LOG" 2>&1; then pass "$name: $(tail -n 1 "$LOG")"; else fail "$name"; fi
}
section() { echo; echo "== $1"; }

# ---- 1. unit suites (CUnit) --------------------------------------------------------------
section "CUnit suites"
for src in tests/unit/test_*.c; do
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
LOG=$WORK/last.log

# ---- 2. the command line ------------------------------------------------------------------
section "command line"
expect_status() { # expect_status STATUS COMMAND...
    local want=$1
    shift
    "$@"
    local got=$?
    [ "$got" = "$want" ] || { echo "exit status $got, expected $want"; return 1; }
}
check "--help exits 0 and prints the usage" bash -c './mnc --help | grep -q "usage: mnc FILE.mn"'
check "--version prints the version" bash -c './mnc --version | grep -qE "^mnc [0-9]+\.[0-9]+\.[0-9]+$"'
check "an unknown option exits 2" expect_status 2 ./mnc --frobnicate examples/two_concat.mn
check "a missing input file exits 2" expect_status 2 ./mnc "$WORK/no-such-file.mn" -o "$WORK/none.c"
check "no input file exits 2" expect_status 2 ./mnc
check "--check writes nothing" bash -c "cd $WORK && ../../mnc --check ../../examples/two_concat.mn && [ ! -e two_concat.c ] && [ ! -e two_concat.h ]"
check "-o writes FILE.c and FILE.h" bash -c "./mnc examples/two_concat.mn -o $WORK/cli.c && [ -s $WORK/cli.c ] && [ -s $WORK/cli.h ] && grep -q '#include \"cli.h\"' $WORK/cli.c"
check "-H names the header" bash -c "./mnc examples/two_concat.mn -o $WORK/cli2.c -H $WORK/other.h && [ -s $WORK/other.h ] && grep -q '#include \"other.h\"' $WORK/cli2.c"
check "--prefix renames every symbol" bash -c "./mnc examples/two_concat.mn --prefix zz -o $WORK/zz.c && grep -q 'void zz_init(zz \*m' $WORK/zz.h && ! grep -q two_concat_ $WORK/zz.c"
check "--prefix must be a C identifier (exit 2)" expect_status 2 ./mnc examples/two_concat.mn --prefix 9x -o "$WORK/p.c"
check "--batch sets the largest batch" bash -c "./mnc examples/two_concat.mn --batch 256 -o $WORK/b256.c && grep -qE 'TWO_CONCAT_BATCH +256 ' $WORK/b256.h"
check "--batch 0 is a usage error (exit 2)" expect_status 2 ./mnc examples/two_concat.mn --batch 0 -o "$WORK/b0.c"
check "--emit=ir prints the IR" bash -c "./mnc examples/two_concat.mn --emit=ir | grep -q 'linear %0, %3, %4 act=relu'"
check "an unwritable output exits 2 and leaves nothing" bash -c "./mnc examples/two_concat.mn -o $WORK/missing-dir/x.c; [ \$? = 2 ] && [ ! -e $WORK/missing-dir ]"

# ---- 3. the compiler itself: clang, sanitizers ------------------------------------------------
section "the compiler under clang and under the sanitizers"
if [ -n "$CLANG" ]; then
    check "mnc and the runtime build warning-free with clang -Wall -Wextra -Werror" \
        make --no-print-directory -j2 CC=clang BUILD="$BUILD/clang" MNC="$BUILD/clang/mnc" "$BUILD/clang/mnc" "$BUILD/clang/libmnrt.a"
fi
ASAN_MNC=$BUILD/asan/mnc
if [ -x "$ASAN_MNC" ]; then
    # Same output as ./mnc, same exit status, and no finding (a finding aborts
    # with status 1 and a report, which the comparison turns into a failure).
    for mn in examples/*.mn examples/errors/*.mn tests/ops/*.mn tests/diagnostics/*.mn; do
        [ -e "$mn" ] || continue
        name=$(basename "$mn" .mn)
        d=$WORK/asan/$name
        mkdir -p "$d/plain" "$d/asan"
        check "$name through mnc under ASan/UBSan: no finding, same output" bash -c "
            ./mnc $mn -o $d/plain/m.c >$d/plain.out 2>&1; want=\$?
            $ASAN_MNC $mn -o $d/asan/m.c >$d/asan.out 2>&1; got=\$?
            [ \$want = \$got ] || { echo \"exit \$got under the sanitizers, \$want without\"; cat $d/asan.out; exit 1; }
            cmp $d/plain.out $d/asan.out || exit 1
            [ \$want != 0 ] || { cmp $d/plain/m.c $d/asan/m.c && cmp $d/plain/m.h $d/asan/m.h; }"
    done
else
    LOG=/dev/null fail "the sanitized compiler $ASAN_MNC was not built"
fi

# ---- 4. diagnostics of broken models ---------------------------------------------------------
section "diagnostics (examples/errors/*.mn against their .expected text)"
for mn in examples/errors/*.mn tests/diagnostics/*.mn; do
    [ -e "$mn" ] || continue
    expected=${mn%.mn}.expected
    name=$(basename "$mn" .mn)
    check "diagnostics of $mn" bash -c "
        ./mnc $mn -o $WORK/$name.c 2>$WORK/$name.err; status=\$?
        [ \$status = 1 ] || { echo \"exit status \$status, expected 1\"; exit 1; }
        [ ! -e $WORK/$name.c ] && [ ! -e $WORK/$name.h ] || { echo 'an output file was written'; exit 1; }
        diff -u $expected $WORK/$name.err"
done

# ---- 5. snapshots and determinism -------------------------------------------------------------
section "generated C: snapshots, determinism, warnings"
check "golden-check (generated/ matches mnc's output)" bash tests/golden.sh check examples/*.mn
for mn in examples/*.mn tests/ops/*.mn; do
    [ -e "$mn" ] || continue
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    mkdir -p "$dir/a" "$dir/b" "$dir/f64"
    check "$name: two runs of mnc give byte-identical output" bash -c "
        ./mnc $mn -o $dir/a/m.c --prefix m && ./mnc $mn -o $dir/b/m.c --prefix m &&
        cmp $dir/a/m.c $dir/b/m.c && cmp $dir/a/m.h $dir/b/m.h"
    ./mnc "$mn" --dtype f64 --prefix m -o "$dir/f64/m.c" >/dev/null 2>&1
    for cc in gcc $CLANG; do
        ccname=$(basename "$cc")
        check "$name: generated C compiles with $ccname $GEN_CFLAGS (f32 and f64)" bash -c "
            $cc $GEN_CFLAGS -Iruntime -c $dir/a/m.c -o $dir/a/m_$ccname.o &&
            $cc $GEN_CFLAGS -Iruntime -c $dir/f64/m.c -o $dir/f64/m_$ccname.o"
    done
done

# ---- 6. numbers: gradients, training, save/load ---------------------------------------------
section "gradient check (double precision, finite differences, rel. error < 1e-6)"
for mn in examples/*.mn tests/ops/*.mn; do
    [ -e "$mn" ] || continue
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name gradients" bash -c "
        gcc $GEN_CFLAGS $SAN -Iruntime -Itests/harness -I$dir/f64 tests/harness/gradcheck.c $dir/f64/m.c $LIBS -o $dir/f64/gradcheck &&
        $dir/f64/gradcheck"
done

section "training (loss on a learnable synthetic task falls to half or less)"
for mn in examples/*.mn; do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name trains" bash -c "
        gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/a tests/harness/trainloss.c $dir/a/m.c $LIBS -o $dir/a/trainloss &&
        $dir/a/trainloss"
done

section "optimizer steps against their formula (float and double)"
for mn in examples/*.mn tests/ops/opt_*.mn; do
    [ -e "$mn" ] || continue
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    for t in a f64; do
        check_shown "$name optimizer ($t)" bash -c "
            gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/$t tests/harness/optstep.c $dir/$t/m.c $LIBS -o $dir/$t/optstep &&
            $dir/$t/optstep"
    done
done

section "reproducible training, deterministic inference"
for mn in examples/*.mn tests/ops/op_norm_dropout.mn; do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name reproducible" bash -c "
        gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/a tests/harness/repro.c $dir/a/m.c $LIBS -o $dir/a/repro &&
        $dir/a/repro"
done

section "no heap allocation in train_step, evaluate and predict, on 1 and 2 threads"
# OpenBLAS's own threads allocate on large products, so the runtime keeps
# OpenBLAS on one thread and shares products among its own workers
# (mn_set_threads); the harness counts on 1 and on 2 of them, and checks
# that 2 give the gradients of 1.
for mn in examples/*.mn; do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name allocates nothing" bash -c "
        gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/a tests/harness/noalloc.c $dir/a/m.c $LIBS -o $dir/a/noalloc &&
        OPENBLAS_NUM_THREADS=1 $dir/a/noalloc"
done

section "conformance: outputs, loss, gradients, 5 Adam steps against the PyTorch goldens"
check "tests/golden/SHA256SUMS: the goldens are intact" bash -c "cd tests/golden && sha256sum --quiet -c SHA256SUMS"
for mn in examples/*.mn tests/conformance/cases/*.mn; do
    name=$(basename "$mn" .mn)
    golden=tests/golden/$name.safetensors
    if [ ! -e "$golden" ]; then
        LOG=/dev/null fail "$name conformance: no golden $golden (run make conformance UPDATE=1)"
        continue
    fi
    check_shown "$name conformance" bash -c "
        make --no-print-directory -s BUILD=$BUILD $BUILD/conformance/$name/driver >/dev/null &&
        $BUILD/conformance/$name/driver check $golden $name"
done

section "save and load (bit-exact round trip; bad files refused, model untouched)"
for mn in examples/*.mn; do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    mkdir -p "$dir/files"
    check_shown "$name save/load" bash -c "
        gcc $GEN_CFLAGS $SAN -Iruntime -Itests/harness -I$dir/a tests/harness/saveload.c $dir/a/m.c $LIBS -o $dir/a/saveload &&
        $dir/a/saveload $dir/files"
done

section "benchmark smoke (make bench's programs: two_concat, batch 32, 1 thread, 3 steps)"
# No timing asserts: only that both sides run and report positive times.
# The PyTorch side runs only when /usr/bin/python3 can import torch.
if [ -x /usr/bin/python3 ]; then
    check_shown "bench smoke" env BUILD=$BUILD /usr/bin/python3 bench/bench.py --smoke
else
    bench_dir=$WORK/bench
    check_shown "bench smoke (mnc only, no python3)" bash -c "
        mkdir -p $bench_dir && ./mnc examples/two_concat.mn --prefix m --batch 32 -o $bench_dir/m.c &&
        gcc -std=c99 -O2 -Iruntime -c $bench_dir/m.c -o $bench_dir/m.o &&
        gcc -std=gnu99 -O2 -Iruntime -Itests/harness -I$bench_dir bench/bench.c $bench_dir/m.o $LIBS -ldl -o $bench_dir/bench &&
        OPENBLAS_NUM_THREADS=1 $bench_dir/bench run 1 3 | awk -F= '\$1 ~ /^(train|predict)_us\$/ && \$2 > 0 { n++ } END { print \"train and predict timed\"; exit n != 2 }'"
fi

# ---- summary ------------------------------------------------------------------------------------
echo
if [ $FAILED != 0 ]; then
    echo "failed checks:"
    printf '  %s\n' "${FAILED_NAMES[@]}"
fi
echo "$PASSED passed, $FAILED failed"
[ $FAILED = 0 ]
