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

# ---- 2b. looking at a model: --emit=summary and --emit=dot --------------------------------------
section "looking at a model: --emit=summary (Keras's table and counts), --emit=dot (Graphviz)"
SUMD=$WORK/summary
mkdir -p "$SUMD"
# has_row FILE "LAYER (Type)" SHAPE COUNT: the summary FILE has that row, with
# that output shape and parameter count (columns are 3 or more spaces apart).
has_row() {
    awk -F '   +' -v l="$2" -v s="$3" -v c="$4" '$1 == l && $2 == s && $3 == c { found = 1 }
        END { if (!found) print "no row \"" l "  " s "  " c "\""; exit !found }' "$1"
}
# table_rows FILE: the number of layers (rows) in the summary FILE.
table_rows() { awk '/^=+$/ { n++; next } n == 1 && !/^ / { rows++ } END { print rows + 0 }' "$1"; }
for mn in examples/text_category.mn examples/conv_bias.mn examples/shared_layer.mn \
          tests/conformance/cases/norm_layers.mn tests/conformance/cases/rnn_gru.mn tests/summary/rows.mn; do
    ./mnc "$mn" --emit summary >"$SUMD/$(basename "$mn" .mn).txt" 2>/dev/null
done
TC=$SUMD/text_category.txt
# Keras's formulas: Embedding vocab*dim; Bidirectional(LSTM(u)) on d features
# 2*(4u(d+u) + 4u); Dense d*u + u; Conv2D kh*kw*c*f + f; BatchNormalization
# 4C of which 2C (the moving statistics) not trainable; GRU (reset_after)
# 3u(d+u) + 6u.
check "summary of text_category: Total params: 1,379,329 (Keras's), all trainable" bash -c "
    grep -qx 'Total params: 1,379,329' $TC && grep -qx 'Trainable params: 1,379,329' $TC &&
    grep -qx 'Non-trainable params: 0' $TC"
check "summary of text_category: embedding 10000*128 = 1,280,000" has_row "$TC" "embedding (Embedding)" "(None, 200, 128)" 1,280,000
check "summary of text_category: bidirectional(lstm(64)) on 128 = 2*(4*64*(128+64) + 4*64) = 98,816" \
    has_row "$TC" "bidirectional (Bidirectional)" "(None, 128)" 98,816
check "summary of text_category: embedding_1 5*64 = 320" has_row "$TC" "embedding_1 (Embedding)" "(None, 1, 64)" 320
check "summary of text_category: dense(1) on 192 = 193" has_row "$TC" "dense (Dense)" "(None, 1)" 193
check "summary of text_category matches tests/summary/text_category.summary (but the arena)" bash -c "
    grep -v '^Arena: ' $TC | diff -u tests/summary/text_category.summary -"
check "summary of shared_layer: the shared layer is one row with both applications" bash -c "
    grep -v '^Arena: ' $SUMD/shared_layer.txt | diff -u tests/summary/shared_layer.summary -"
check "summary of tests/summary/rows.mn matches rows.summary (shared layers, casts, operators, a layer in the loss)" bash -c "
    grep -v '^Arena: ' $SUMD/rows.txt | diff -u tests/summary/rows.summary -"
check "summary of conv_bias: conv2d 3*3*3*32 + 32 = 896, dense 32768*10 + 10 = 327,690, param 32; total 328,618" bash -c "
    $(declare -f has_row); has_row $SUMD/conv_bias.txt 'conv2d (Conv2D)' '(None, 32, 32, 32)' 896 &&
    has_row $SUMD/conv_bias.txt 'dense (Dense)' '(None, 10)' 327,690 &&
    has_row $SUMD/conv_bias.txt 'channel_bias (Variable)' '(32,)' 32 && grep -qx 'Total params: 328,618' $SUMD/conv_bias.txt"
check "summary of norm_layers: batchnorm over 5 = 4*5 = 20, of which 2*5 not trainable; layernorm 2*4 = 8" bash -c "
    $(declare -f has_row); has_row $SUMD/norm_layers.txt 'batchnorm (BatchNormalization)' '(None, 5)' 20 &&
    has_row $SUMD/norm_layers.txt 'layernorm (LayerNormalization)' '(None, 4)' 8 &&
    grep -qx 'Total params: 97' $SUMD/norm_layers.txt && grep -qx 'Non-trainable params: 10' $SUMD/norm_layers.txt &&
    ./mnc tests/conformance/cases/norm_layers.mn --emit dot | grep -qF 'batchnorm()\\n20 params (10 not trainable)\"'"
check "summary of rnn_gru: gru(4) on 3 = 3*4*(3+4) + 6*4 = 108, on 4 = 120" bash -c "
    $(declare -f has_row); has_row $SUMD/rnn_gru.txt 'gru (GRU)' '(None, 5, 4)' 108 &&
    has_row $SUMD/rnn_gru.txt 'gru_1 (GRU)' '(None, 4)' 120"
check "summary: weights and arena bytes are the header's NUM_PARAMS and ARENA_SIZE (--dtype f64 --batch 64: 8 bytes)" bash -c "
    ./mnc examples/text_category.mn --dtype f64 --batch 64 -o $SUMD/tc64.c &&
    ./mnc examples/text_category.mn --emit summary --dtype f64 --batch 64 >$SUMD/tc64.txt &&
    params=\$(awk '\$2 ~ /_NUM_PARAMS\$/ { print \$3 }' $SUMD/tc64.h) && arena=\$(awk '\$2 ~ /_ARENA_SIZE\$/ { print \$3 }' $SUMD/tc64.h) &&
    weights=\$(sed -n 's/^Weights: \([0-9,]*\) bytes.*/\1/p' $SUMD/tc64.txt | tr -d ,) &&
    bytes=\$(sed -n 's/^Arena: \([0-9,]*\) bytes.*batch 64:.*/\1/p' $SUMD/tc64.txt | tr -d ,) &&
    echo \"weights \$weights, params \$params; arena \$bytes, elements \$arena\" &&
    [ -n \"\$arena\" ] && [ \"\$weights\" = \$((params * 8)) ] && [ \"\$bytes\" = \$((arena * 8)) ]"
check "summary and dot: two runs give byte-identical output (every example)" bash -c "
    for mn in examples/*.mn; do for k in summary dot; do
        ./mnc \$mn --emit \$k >$SUMD/a.out 2>/dev/null && ./mnc \$mn --emit=\$k >$SUMD/b.out 2>/dev/null &&
        [ -s $SUMD/a.out ] && cmp $SUMD/a.out $SUMD/b.out || { echo \"\$mn --emit \$k\"; exit 1; }
    done; done"
check "dot: one node per layer (as many n<id> nodes as summary rows; text_category 8)" bash -c "
    $(declare -f table_rows); for mn in examples/*.mn tests/conformance/cases/*.mn tests/summary/*.mn; do
        ./mnc \$mn --emit summary >$SUMD/n.txt 2>/dev/null && ./mnc \$mn --emit dot >$SUMD/n.dot 2>/dev/null || exit 1
        rows=\$(table_rows $SUMD/n.txt); nodes=\$(grep -cE '^  n[0-9]+ \\[' $SUMD/n.dot)
        [ \$rows -gt 0 ] && [ \$rows = \$nodes ] || { echo \"\$mn: \$rows rows, \$nodes nodes\"; exit 1; }
        case \$mn in */text_category.mn) [ \$nodes = 8 ] || { echo \"text_category: \$nodes nodes\"; exit 1; };; esac
    done"
check "dot of text_category: inputs (ellipse), layers, the output and the loss marked, edges labelled with shapes" bash -c "
    ./mnc examples/text_category.mn --emit dot >$SUMD/tc.dot &&
    head -n 1 $SUMD/tc.dot | grep -qx 'digraph \"text_category\" {' &&
    [ \$(grep -c 'shape=ellipse, fillcolor' $SUMD/tc.dot) = 2 ] && grep -q 'output y\", fillcolor=.*peripheries=2' $SUMD/tc.dot &&
    grep -q '^  loss \[label=\"loss' $SUMD/tc.dot && grep -q '^  n3 -> n4 \[label=\"(None, 200, 128)\"\];' $SUMD/tc.dot"
if command -v dot >/dev/null; then
    check "dot -Tsvg parses --emit=dot of every example and conformance model" bash -c "
        for mn in examples/*.mn tests/conformance/cases/*.mn tests/summary/*.mn; do
            ./mnc \$mn --emit dot 2>/dev/null | dot -Tsvg >$SUMD/g.svg && grep -q '<svg' $SUMD/g.svg || { echo \$mn; exit 1; }
        done"
    check "mnc --emit dot | dot -Tpng renders text_category" bash -c "
        ./mnc examples/text_category.mn --emit dot | dot -Tpng -o $SUMD/tc.png && head -c 8 $SUMD/tc.png | od -An -c | grep -q 'P   N   G'"
else
    echo "skip dot -Tsvg / -Tpng checks: Graphviz's dot is not installed (apt-get install graphviz)"
fi
check "--emit summary/dot of a broken model: exit 1, nothing on stdout, no -o file" bash -c "
    for mn in examples/errors/*.mn; do
        ./mnc \$mn --emit summary >$SUMD/err.out 2>/dev/null; s=\$?
        [ \$s = 1 ] && [ ! -s $SUMD/err.out ] || { echo \"\$mn: exit \$s, stdout \$(wc -c <$SUMD/err.out) bytes\"; exit 1; }
        ./mnc \$mn --emit=dot -o $SUMD/err.dot 2>/dev/null; s=\$?
        [ \$s = 1 ] && [ ! -e $SUMD/err.dot ] || { echo \"\$mn --emit=dot -o: exit \$s\"; exit 1; }
    done"
check "--emit summary -o FILE writes what standard output gets; an unwritable -o exits 2" bash -c "
    ./mnc examples/text_category.mn --emit summary -o $SUMD/o.txt >$SUMD/o.stdout && [ ! -s $SUMD/o.stdout ] &&
    cmp $SUMD/o.txt $TC && ./mnc examples/text_category.mn --emit=dot -o $SUMD/missing-dir/g.dot; [ \$? = 2 ] && [ ! -e $SUMD/missing-dir ]"
check "--emit without a kind, or an unknown kind, is a usage error (exit 2)" bash -c "
    ./mnc examples/two_concat.mn --emit 2>/dev/null; [ \$? = 2 ] && ./mnc examples/two_concat.mn --emit=png 2>/dev/null; [ \$? = 2 ]"
if [ -x "$BUILD/asan/mnc" ]; then
    # (tests/ops/ through the table only: the graph is the same view, printed otherwise)
    check "summary and dot of every model under ASan/UBSan: no finding, same output" bash -c "
        for mn in examples/*.mn examples/errors/*.mn tests/conformance/cases/*.mn tests/summary/*.mn tests/ops/*.mn; do
            kinds='summary dot'; case \$mn in tests/ops/*) kinds=summary;; esac
            for k in \$kinds; do
                ./mnc \$mn --emit \$k >$SUMD/p.out 2>&1; want=\$?
                $BUILD/asan/mnc \$mn --emit \$k >$SUMD/s.out 2>&1; got=\$?
                [ \$want = \$got ] && cmp $SUMD/p.out $SUMD/s.out ||
                    { echo \"\$mn --emit \$k: exit \$got, \$want without\"; cat $SUMD/s.out; exit 1; }
            done
        done"
else
    LOG=/dev/null fail "summary and dot under ASan: the sanitized compiler $BUILD/asan/mnc was not built"
fi

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

# The same on OpenBLAS alone: what processors without AVX-512 run (the
# runtime's kernel is the default where the processor has it).
for name in conv_bias image_text two_concat; do
    check_shown "$name conformance with MNRT_GEMM=blas (OpenBLAS for every product)" bash -c "
        MNRT_GEMM=blas $BUILD/conformance/$name/driver check tests/golden/$name.safetensors $name"
done
check "runtime unit suite with MNRT_GEMM=blas (mn_gemm's OpenBLAS path)" bash -c "
    cd $WORK && MNRT_GEMM=blas ../../$BUILD/test_runtime | grep -qE '^ +tests +[0-9]+ +[0-9]+ +[0-9]+ +0 '"

section "save and load (bit-exact round trip; bad files refused, model untouched)"
for mn in examples/*.mn; do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    mkdir -p "$dir/files"
    check_shown "$name save/load" bash -c "
        gcc $GEN_CFLAGS $SAN -Iruntime -Itests/harness -I$dir/a tests/harness/saveload.c $dir/a/m.c $LIBS -o $dir/a/saveload &&
        $dir/a/saveload $dir/files"
done

# ---- the generated trainer (issue 7; docs/trainer.md) ---------------------------------------------
section "the generated trainer (mnc --emit trainer): CSV data, checks, checkpoint and resume, determinism"
TR=$WORK/trainer
mkdir -p "$TR"
# two_concat's task, learnable: label is 1 when the sum of input_1 is positive.
two_concat_csv() { # two_concat_csv N SEED
    awk -v n="$1" -v seed="$2" 'BEGIN {
        srand(seed); h = ""
        for (j = 0; j < 10; j++) h = h "input_1_" j ","
        for (j = 0; j < 5; j++) h = h "input_2_" j ","
        print h "label"
        for (i = 0; i < n; i++) {
            s = 0; line = ""
            for (j = 0; j < 10; j++) { v = 2 * rand() - 1; s += v; line = line sprintf("%.4f,", v) }
            for (j = 0; j < 5; j++) line = line sprintf("%.4f,", 2 * rand() - 1)
            print line (s > 0 ? 1 : 0)
        }
    }'
}
# trainer_build MODEL: $TR/MODEL/train (gcc -O2) and, for two_concat, $TR/MODEL/train_asan
# (the model, mn_data.c and mn_trainer.c under ASan/UBSan), and a clang -pedantic compile.
trainer_build() {
    local d=$TR/$1
    mkdir -p "$d" && ./mnc "examples/$1.mn" -o "$d/$1.c" && ./mnc "examples/$1.mn" --emit trainer -o "$d/train_$1.c" &&
        gcc $GEN_CFLAGS -O2 -Iruntime -I"$d" "$d/$1.c" "$d/train_$1.c" $LIBS -o "$d/train" || return 1
    if [ -n "$CLANG" ]; then $CLANG $GEN_CFLAGS -Iruntime -I"$d" -c "$d/train_$1.c" -o "$d/train_clang.o" || return 1; fi
    [ "$1" != two_concat ] || {
        gcc -std=c11 $SAN -Wall -Wextra -Werror -Iruntime -c runtime/mn_data.c -o "$d/mn_data_san.o" &&
        gcc -std=c11 $SAN -Wall -Wextra -Werror -Iruntime -c runtime/mn_trainer.c -o "$d/mn_trainer_san.o" &&
        gcc $GEN_CFLAGS $SAN -Iruntime -I"$d" "$d/$1.c" "$d/train_$1.c" "$d/mn_data_san.o" "$d/mn_trainer_san.o" \
            $LIBS -o "$d/train_asan"
    }
}
TC=$TR/two_concat
two_concat_csv 1000 1 >"$TR/train.csv"
two_concat_csv 200 2 >"$TR/small.csv"
two_concat_csv 100 3 >"$TR/test.csv"
# the loss of the last epoch line against the first's
loss_falls() { # loss_falls OUTPUT: the last epoch's loss at most 0.8 of the first's
    awk '$1 == "epoch" { if (!first) first = $4; last = $4 } END {
        printf "loss %s -> %s\n", first, last; exit !(first > 0 && last <= 0.8 * first) }' "$1"
}
trainer_trains() {
    "$TC/train_asan" "$TR/train.csv" --epochs 5 --val-split 0.2 --no-time --save "$TR/w.safetensors" >"$TR/train.out" &&
        cat "$TR/train.out" && grep -q "val_accuracy" "$TR/train.out" && [ -s "$TR/w.safetensors" ] && loss_falls "$TR/train.out"
}
# refused DATA 'MESSAGE' [TRAINER]: exit status 1, exactly MESSAGE on stderr, no epoch, no weights file.
refused() {
    local t=${3:-$TC/train_asan}
    rm -f "$TR/refused.safetensors"
    "$t" "$1" --save "$TR/refused.safetensors" >"$TR/refused.out" 2>"$TR/refused.err"
    local rc=$?
    cat "$TR/refused.err"
    [ $rc = 1 ] || { echo "exit status $rc, expected 1"; return 1; }
    [ "$(cat "$TR/refused.err")" = "$2" ] || { echo "expected: $2"; return 1; }
    ! grep -q "^epoch" "$TR/refused.out" && [ ! -e "$TR/refused.safetensors" ]
}
# kill_and_resume: an uninterrupted run against one killed (SIGKILL, by the trainer itself
# after 80 of its 150 steps: in epoch 4 of 6) and resumed: the same epoch lines, the same weights.
kill_and_resume() {
    local args="$TR/train.csv --epochs 6 --val-split 0.2 --no-time"
    rm -f "$TR/ck.safetensors"
    "$TC/train" $args --save "$TR/full.safetensors" >"$TR/full.out" || return 1
    "$TC/train" $args --checkpoint "$TR/ck.safetensors" --save "$TR/part.safetensors" --kill-after-steps 80 >"$TR/part1.out"
    local rc=$?
    [ $rc = 137 ] || { echo "exit status $rc, expected 137 (SIGKILL)"; return 1; }
    [ ! -e "$TR/part.safetensors" ] && [ "$(grep -c '^epoch' "$TR/part1.out")" = 3 ] || { echo "not killed in epoch 4"; return 1; }
    "$TC/train" $args --checkpoint "$TR/ck.safetensors" --resume --save "$TR/part.safetensors" >"$TR/part2.out" || return 1
    grep -q "resuming from .*: 3 epochs done" "$TR/part2.out" || { echo "did not resume from epoch 3"; return 1; }
    diff <(grep '^epoch' "$TR/full.out") <(cat "$TR/part1.out" "$TR/part2.out" | grep '^epoch') &&
        cmp "$TR/full.safetensors" "$TR/part.safetensors" && echo "6 epochs = 3 + kill + resume of 3: same lines, same weights"
}
# random_kills: SIGKILL at random moments of a run that checkpoints after each of its
# many short epochs (each write is temp file + fsync + rename); after every kill the
# checkpoint loads, and the run resumed to the end ends with the uninterrupted weights.
# (Batch 1: the run takes some 0.3 s of computing however fast fsync is, so the kills land.)
random_kills() {
    local args="$TR/small.csv --epochs 400 --batch 1 --no-time" kills=0
    rm -f "$TR/rk.safetensors"*
    "$TC/train" $args --save "$TR/rk_full.safetensors" >/dev/null || return 1
    for i in 1 2 3 4 5 6; do
        "$TC/train" $args --checkpoint "$TR/rk.safetensors" --resume --save "$TR/rk_part.safetensors" >/dev/null &
        local pid=$!
        sleep "0.0$((RANDOM % 9 + 1))"
        kill -9 $pid 2>/dev/null && kills=$((kills + 1))
        wait $pid 2>/dev/null
        if [ -e "$TR/rk.safetensors" ]; then
            "$TC/train" --eval "$TR/test.csv" --load "$TR/rk.safetensors" >/dev/null || { echo "checkpoint broken after kill $i"; return 1; }
        fi
    done
    [ $kills -gt 0 ] || { echo "no kill landed: every run ended first"; return 1; }
    "$TC/train" $args --checkpoint "$TR/rk.safetensors" --resume --save "$TR/rk_part.safetensors" >/dev/null &&
        cmp "$TR/rk_full.safetensors" "$TR/rk_part.safetensors" && echo "$kills kills, checkpoint always whole, same final weights"
}
same_seed_same_output() {
    local args="$TR/train.csv --epochs 3 --val-split 0.2 --no-time"
    "$TC/train" $args --seed 7 --save "$TR/s1.safetensors" >"$TR/s1.out" &&
        "$TC/train" $args --seed 7 --save "$TR/s2.safetensors" >"$TR/s2.out" &&
        "$TC/train" $args --seed 8 --save "$TR/s3.safetensors" >"$TR/s3.out" || return 1
    sed 's/s[123].safetensors//' "$TR/s1.out" >"$TR/s1.txt"; sed 's/s[123].safetensors//' "$TR/s2.out" >"$TR/s2.txt"
    sed 's/s[123].safetensors//' "$TR/s3.out" >"$TR/s3.txt"
    diff "$TR/s1.txt" "$TR/s2.txt" && cmp "$TR/s1.safetensors" "$TR/s2.safetensors" &&
        ! cmp -s "$TR/s1.txt" "$TR/s3.txt" && echo "seed 7 twice: same lines and weights; seed 8 differs"
}
eval_and_predict() {
    "$TC/train_asan" --eval "$TR/test.csv" --predict "$TR/test.csv" -o "$TR/pred.csv" --load "$TR/w.safetensors" >"$TR/ep.out" &&
        grep -qE "^eval .*: 100 samples  loss [0-9.]+  accuracy [0-9.]+$" "$TR/ep.out" &&
        [ "$(head -n 1 "$TR/pred.csv")" = y ] && [ "$(wc -l <"$TR/pred.csv")" = 101 ] &&
        awk -F, 'NR > 1 && !($1 >= 0 && $1 <= 1) { exit 1 }' "$TR/pred.csv" && head -n 1 "$TR/ep.out"
}
early_stopping() {
    "$TC/train" "$TR/small.csv" --val "$TR/test.csv" --epochs 1000 --patience 2 --no-time --save "$TR/es.safetensors" >"$TR/es.out" &&
        grep "^early stopping: val_loss has not improved for 2 epochs" "$TR/es.out" &&
        [ "$(grep -c '^epoch' "$TR/es.out")" -lt 1000 ]
}
check "trainer: mnc --emit trainer for two_concat builds (gcc, clang -pedantic, ASan/UBSan)" trainer_build two_concat
check_shown "trainer: trains two_concat from a CSV file (loss falls; under ASan/UBSan)" trainer_trains
# (the bad rows are fixed text: their columns do not depend on awk's random numbers)
sed '17c\
0.1000,0.2000,0.3000,abc,0.5000,0.6000,0.7000,0.8000,0.9000,0.1000,0.1000,0.2000,0.3000,0.4000,0.5000,1' \
    "$TR/train.csv" >"$TR/bad_cell.csv"
check_shown "trainer: a bad cell is refused (file:line:column, exit 1, nothing trained)" \
    refused "$TR/bad_cell.csv" "$TR/bad_cell.csv:17:22: error: column 'input_1_3': 'abc' is not a number"
sed '5c\
0.1000,0.2000,0.3000,0.4000,0.5000,0.6000,0.7000,0.8000,0.9000,0.1000,0.1000,0.2000,0.3000,0.4000,0.5000' \
    "$TR/train.csv" >"$TR/bad_count.csv"
check_shown "trainer: a row with a field missing is refused" \
    refused "$TR/bad_count.csv" "$TR/bad_count.csv:5:105: error: 15 fields, the header has 16 columns"
sed '1s/,input_2_4//; s/,[^,]*\(,[01]\)$/\1/' "$TR/train.csv" >"$TR/bad_col.csv"
check_shown "trainer: a missing column is refused" refused "$TR/bad_col.csv" \
    "$TR/bad_col.csv:1: error: no column 'input_2_4' (input 'input_2' has 5 values per sample: columns 'input_2_0' .. 'input_2_4')"
check "trainer: mnc --emit trainer for num_cat (an int input) builds" trainer_build num_cat
awk 'BEGIN { srand(4); h = ""; for (j = 0; j < 10; j++) h = h "numbers_" j ","; print h "cat,value"
    for (i = 0; i < 50; i++) { l = ""; for (j = 0; j < 10; j++) l = l sprintf("%.3f,", 2 * rand() - 1)
        print l int(100 * rand()) "," sprintf("%.3f", rand()) }
    print "0.100,0.100,0.100,0.100,0.100,0.100,0.100,0.100,0.100,0.100,100,0.500" }' >"$TR/num_cat_bad.csv"
check_shown "trainer: an int id out of its range is refused" refused "$TR/num_cat_bad.csv" \
    "$TR/num_cat_bad.csv:52:61: error: column 'cat': '100' is out of range: input 'cat' takes ids in [0, 99]" "$TR/num_cat/train"
check_shown "trainer: killed in an epoch and resumed = uninterrupted (lines and weights)" kill_and_resume
check_shown "trainer: SIGKILL at random moments never leaves a half-written checkpoint" random_kills
check_shown "trainer: two runs with one seed print the same losses and accuracy" same_seed_same_output
check_shown "trainer: --eval and --predict (one CSV row per sample)" eval_and_predict
check_shown "trainer: early stopping on val_loss (--patience)" early_stopping
no_bar() { [ -s "$TR/train.out" ] && ! grep -q $'[\r\033]' "$TR/train.out"; }
check "trainer: no progress bar when stdout is not a terminal" no_bar

# make demo: the cancer model's trainer on the breast cancer data. Twice:
# the same losses and accuracies (durations aside); held-out accuracy >= 0.9.
demo_runs() {
    local a=$TR/demo1.out b=$TR/demo2.out acc
    make --no-print-directory demo >"$a" 2>&1 && make --no-print-directory demo >"$b" 2>&1 || return 1
    grep -q '^epoch 40/40 ' "$a" || return 1
    cmp <(sed -E 's/  [0-9.]+ (ms|s)$//' "$a") <(sed -E 's/  [0-9.]+ (ms|s)$//' "$b") || return 1
    acc=$(awk '/^eval test.csv:/ { print $NF }' "$a")
    [ -n "$acc" ] && awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || return 1
    echo "held-out accuracy $acc (113 samples), two runs print the same losses and accuracies"
}
check_shown "make demo: the breast cancer data, 40 epochs, held-out accuracy >= 0.9, reproducible" demo_runs
# examples/demo/demo.c: a training loop written by hand against the generated API.
demo_c() {
    mkdir -p "$TR/demo_c" build/demo &&
    ./mnc examples/two_concat.mn -o "$TR/demo_c/two_concat.c" &&
    gcc $GEN_CFLAGS -O2 -Iruntime -I"$TR/demo_c" examples/demo/demo.c "$TR/demo_c/two_concat.c" $LIBS -o "$TR/demo_c/demo" &&
    "$TR/demo_c/demo" >"$TR/demo_c/out" || return 1
    local acc
    acc=$(awk '$1 == 10 { sub("%", "", $4); print $4 }' "$TR/demo_c/out")
    [ -n "$acc" ] && awk -v a="$acc" 'BEGIN { exit !(a >= 90) }' && echo "epoch 10: held-out accuracy $acc%"
}
check_shown "examples/demo/demo.c (a hand-written loop) trains two_concat" demo_c

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
        gcc -std=gnu99 -O2 -Iruntime -Itests/harness -I$bench_dir bench/bench.c $bench_dir/m.o -Wl,--wrap=mn_gemm_f32 $LIBS -pthread -o $bench_dir/bench &&
        OPENBLAS_NUM_THREADS=1 $bench_dir/bench run 1 3 | awk -F= '\$1 ~ /^(train|predict)_us\$/ && \$2 > 0 { n++ } END { print \"train and predict timed\"; exit n != 2 }'"
fi

# ---- install, pkg-config, the integration projects, the man page (issue 7) --------------------
section "make install, pkg-config, examples/integration/ (make and CMake, two models), man page"
# make install into a scratch prefix; every build below runs outside the
# source tree, in a temporary directory, against what was installed only.
INST=$(cd "$WORK" && pwd)/install
OUTSIDE=$(mktemp -d)
PCENV="PKG_CONFIG_PATH=$INST/lib/pkgconfig"
check "make install PREFIX=... installs mnc, libmnrt.a/.so (soname links), headers, mnrt.pc, mnc.1" bash -c "
    make --no-print-directory -s BUILD=$BUILD install PREFIX=$INST &&
    for f in bin/mnc lib/libmnrt.a lib/libmnrt.so lib/libmnrt.so.0 include/mn_runtime.h include/mn_math.h \
             lib/pkgconfig/mnrt.pc share/man/man1/mnc.1; do [ -e $INST/\$f ] || { echo \"missing \$f\"; exit 1; }; done &&
    [ -x $INST/bin/mnc ] && [ -L $INST/lib/libmnrt.so ] &&
    readelf -d $INST/lib/libmnrt.so | grep -q 'SONAME.*\[libmnrt\.so\.0\]' &&
    readelf -d $INST/lib/libmnrt.so | grep -q 'NEEDED.*libopenblas'"
check "make install DESTDIR=... stages under DESTDIR, make uninstall removes every file" bash -c "
    stage=$WORK/stage && make --no-print-directory -s BUILD=$BUILD install DESTDIR=\$stage PREFIX=/opt/mnc &&
    [ -x \$stage/opt/mnc/bin/mnc ] && grep -qx 'prefix=/opt/mnc' \$stage/opt/mnc/lib/pkgconfig/mnrt.pc &&
    make --no-print-directory -s BUILD=$BUILD uninstall DESTDIR=\$stage PREFIX=/opt/mnc &&
    left=\$(find \$stage ! -type d) && { [ -z \"\$left\" ] || { echo \"left behind: \$left\"; exit 1; }; }"
check "the installed mnc --help exits 0; --version is mnc's" bash -c "
    $INST/bin/mnc --help | grep -q 'usage: mnc FILE.mn' && [ \"\$($INST/bin/mnc --version)\" = \"\$(./mnc --version)\" ]"
check_shown "pkg-config --libs mnrt: -lmnrt, OpenBLAS, -lm, -pthread; --static too; version is mnc's" bash -c "
    export $PCENV && libs=\$(pkg-config --libs mnrt) && static=\$(pkg-config --static --libs mnrt) &&
    for w in -lmnrt -lopenblas -lm -pthread; do
        case \" \$libs \" in *\" \$w \"*) ;; *) echo \"--libs lacks \$w: \$libs\"; exit 1;; esac; done &&
    case \" \$static \" in *' -lmnrt '*' -lopenblas '*) ;; *) echo \"--static --libs: \$static\"; exit 1;; esac &&
    [ \"mnc \$(pkg-config --modversion mnrt)\" = \"\$(./mnc --version)\" ] && echo \"\$libs\""
# The acceptance test as written: a two-line Makefile outside the tree.
mkdir -p "$OUTSIDE/twoline"
printf '%s\n' '#include <stdio.h>' '#include "model.h"' 'static model m;' \
    'int main(void) { model_init(&m, 1); printf("%d weights\n", MODEL_NUM_PARAMS); return 0; }' >"$OUTSIDE/twoline/main.c"
printf 'main: main.c model.c\n\t$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -O2 $^ $$(pkg-config --cflags --libs mnrt) -o $@\n' \
    >"$OUTSIDE/twoline/Makefile"
check_shown "a two-line Makefile builds a generated model with pkg-config (shared runtime)" bash -c "
    export $PCENV && cd $OUTSIDE/twoline && [ \$(wc -l <Makefile) = 2 ] &&
    $INST/bin/mnc $PWD/examples/two_concat.mn --prefix model -o model.c && make -s &&
    ldd ./main | grep -q 'libmnrt\.so\.0' && LD_LIBRARY_PATH=$INST/lib ./main"
check_shown "the same model linked statically: cc -static ... \$(pkg-config --static --cflags --libs mnrt)" bash -c "
    export $PCENV && cd $OUTSIDE/twoline &&
    cc -static -std=c99 -Wall -Wextra -Werror -pedantic -O2 main.c model.c \$(pkg-config --static --cflags --libs mnrt) -o main_static &&
    ! readelf -d main_static | grep -q NEEDED && ./main_static"
# The projects build ../main.c and the examples' own models (../../*.mn):
# they are copied out with that layout.
EXT=$OUTSIDE/examples
mkdir -p "$EXT" && cp examples/two_concat.mn examples/num_cat.mn "$EXT"/ && cp -r examples/integration "$EXT"/
rm -rf "$EXT/integration/make/gen" "$EXT/integration/make/two_models" "$EXT/integration/make/"*.o "$EXT/integration/cmake/build"
check_shown "integration/make: mnc as a build step, two models in one program, built and run" bash -c "
    export $PCENV && make -C $EXT/integration/make --no-print-directory MNC=$INST/bin/mnc check"
check "integration/make: touching a .mn reruns mnc on it (and only it), then all is up to date" bash -c "
    export $PCENV && cd $EXT/integration/make && make --no-print-directory MNC=$INST/bin/mnc | grep -q 'Nothing to be done' &&
    touch ../../two_concat.mn && make --no-print-directory MNC=$INST/bin/mnc >rebuild.log &&
    grep -q 'mnc ../../two_concat.mn -o gen/two_concat.c' rebuild.log && ! grep -q 'num_cat.mn' rebuild.log &&
    make -q MNC=$INST/bin/mnc && ./two_models >/dev/null"
if command -v cmake >/dev/null; then
    check_shown "integration/cmake: pkg_check_modules(mnrt), mnc found beside it, two models built and run" bash -c "
        export $PCENV && cd $EXT/integration/cmake && cmake -S . -B build >configure.log &&
        grep -qF 'mnc: $INST/bin/mnc;' configure.log && cmake --build build >/dev/null &&
        (cd build && ctest --output-on-failure >/dev/null) && ./build/two_models"
    check "integration/cmake: touching a .mn reruns mnc on it (and only it)" bash -c "
        export $PCENV && cd $EXT/integration/cmake && touch ../../num_cat.mn && cmake --build build >rebuild.log &&
        grep -q 'mnc num_cat.mn' rebuild.log && ! grep -q 'mnc two_concat.mn' rebuild.log && ./build/two_models >/dev/null"
else
    LOG=/dev/null fail "integration/cmake: cmake is not installed (make deps installs it)"
fi
check "docs/mnc.1: groff -man -ww renders it without a warning" bash -c "
    groff -man -Tutf8 -ww -z docs/mnc.1 2>$WORK/groff.err; [ ! -s $WORK/groff.err ] || { cat $WORK/groff.err; exit 1; }"
check "man -l docs/mnc.1 (and the installed page) renders NAME...SEE ALSO, no warning" bash -c "
    for page in docs/mnc.1 $INST/share/man/man1/mnc.1; do
        MANWIDTH=80 man --warnings -l \$page >$WORK/man.txt 2>$WORK/man.err || exit 1
        [ ! -s $WORK/man.err ] || { cat $WORK/man.err; exit 1; }
        for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' FILES EXAMPLES 'SEE ALSO'; do
            grep -q \"^\$s\" $WORK/man.txt || { echo \"no \$s section\"; exit 1; }; done; done"
check "mnc.1 documents every option and --emit kind of mnc --help, and mnc's version" bash -c "
    MANWIDTH=200 man -l docs/mnc.1 >$WORK/man.txt 2>/dev/null &&
    for o in \$(./mnc --help | grep -oE '^  -[-a-zA-Z]+'); do
        grep -qe \"\$o\" $WORK/man.txt || { echo \"mnc.1 does not mention \$o\"; exit 1; }; done &&
    for k in \$(./mnc --help | grep -oE '^  --emit=[a-z]+' | cut -d= -f2); do
        grep -qE \"^ +\$k( |\\\$)\" $WORK/man.txt || { echo \"mnc.1 does not list --emit=\$k\"; exit 1; }; done &&
    grep -qF \"\$(./mnc --version)\" $WORK/man.txt"
rm -rf "$OUTSIDE"

# ---- hostile input: limits, long chains, fuzzing corpus, valgrind (issue 13) -------------------
. tests/hostile.sh

# ---- summary ------------------------------------------------------------------------------------
echo
if [ $FAILED != 0 ]; then
    echo "failed checks:"
    printf '  %s\n' "${FAILED_NAMES[@]}"
fi
echo "$PASSED passed, $FAILED failed"
[ $FAILED = 0 ]
