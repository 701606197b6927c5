# dump: looking between the passes (issue 14), sourced by run_tests.sh
# (its check/pass/fail helpers, $BUILD, $WORK): mnc --dump=PASS
# prints the IR after one pass (or all of them) and writes nothing;
# MNC_VERIFY=1 runs ir_verify after every pass and plan_verify after plan,
# and changes no output. That the verifier catches a broken plan is
# checked by the CUnit suite passes ("plan_check: ...").

DUMP=$WORK/dump
mkdir -p "$DUMP"
DUMP_PASSES="lower check fuse_logits autodiff fuse_linear plan"
DUMP_MODELS="examples/*.mn tests/ops/*.mn tests/conformance/cases/*.mn examples/bench/*.mn"
TC=examples/two_concat.mn

for p in $DUMP_PASSES; do
    check "--dump=$p: the IR after $p on standard output, exit 0, nothing written" bash -c "
        cd $DUMP && rm -f two_concat.c two_concat.h &&
        env -u MNC_VERIFY $PWD/mnc $PWD/$TC --dump=$p >$p.ir 2>$p.err &&
        head -n 1 $p.ir | grep -qx 'model two_concat' && grep -q '^%0 = input ' $p.ir && [ ! -s $p.err ] &&
        [ ! -e two_concat.c ] && [ ! -e two_concat.h ]"
done
check "-d PASS and --dump PASS are --dump=PASS" bash -c "
    ./mnc $TC -d autodiff | cmp - $DUMP/autodiff.ir && ./mnc $TC --dump plan | cmp - $DUMP/plan.ir"
check "after lower: matmul, add and relu, no linear node; after fuse_linear: linear ... act=relu" bash -c "
    ! grep -q ' = linear ' $DUMP/lower.ir && grep -q ' = matmul ' $DUMP/lower.ir && grep -q ' = relu ' $DUMP/lower.ir &&
    grep -q '^%5 = linear %0, %3, %4 act=relu : float\[n, 64\]  ; a  @9$' $DUMP/fuse_linear.ir &&
    ! grep -q ' = linear ' $DUMP/autodiff.ir"
check "after check: bce of the sigmoid; after fuse_logits: bce_logits, no backward node yet" bash -c "
    grep -q ' = bce ' $DUMP/check.ir && ! grep -q bce_logits $DUMP/check.ir &&
    grep -q ' = bce_logits ' $DUMP/fuse_logits.ir && ! grep -qE ' = (loss_grad|matmul_dx|matmul_dw) ' $DUMP/fuse_logits.ir &&
    ! grep -q '^grad ' $DUMP/fuse_logits.ir"
check "after autodiff: the backward nodes (loss_grad of bce_logits, matmul_dx, matmul_dw) and every gradient" bash -c "
    grep -q ' = loss_grad .* of=bce_logits ' $DUMP/autodiff.ir && grep -q ' = matmul_dx ' $DUMP/autodiff.ir &&
    grep -q ' = matmul_dw ' $DUMP/autodiff.ir && [ \$(grep -c '^grad %[0-9]* = %[0-9]*$' $DUMP/autodiff.ir) = 6 ]"
check "after plan: --emit=ir's text, then the weights' offsets and the three schedules' arena offsets" bash -c "
    ./mnc $TC --emit=ir >$DUMP/emit.ir && n=\$(wc -l <$DUMP/emit.ir) &&
    head -n \$n $DUMP/plan.ir | cmp - $DUMP/emit.ir &&
    grep -qx 'weights 993 elements, 993 trainable' $DUMP/plan.ir &&
    grep -qx 'param %3 @0 +640 grad %[0-9]*  ; dense.kernel' $DUMP/plan.ir &&
    for s in predict evaluate train_step; do
        grep -qE \"^schedule \$s: [0-9]+ nodes, arena [0-9]+ elements \\(batch 32\\)\$\" $DUMP/plan.ir || { echo \"no \$s\"; exit 1; }
    done && grep -q '^  %5 @0 +2048$' $DUMP/plan.ir && grep -q '^  %[0-9]* in the gradient buffer$' $DUMP/plan.ir"
check "after plan: the header's ARENA_SIZE is the largest schedule's arena (--batch 256)" bash -c "
    ./mnc $TC --batch 256 -o $DUMP/tc.c && ./mnc $TC --batch 256 --dump=plan >$DUMP/plan256.ir &&
    arena=\$(awk '\$2 ~ /_ARENA_SIZE\$/ { print \$3 }' $DUMP/tc.h) &&
    most=\$(sed -n 's/^schedule [a-z_]*: [0-9]* nodes, arena \([0-9]*\) elements (batch 256)\$/\1/p' $DUMP/plan256.ir | sort -n | tail -n 1) &&
    echo \"arena \$arena, schedules' largest \$most\" && [ -n \"\$arena\" ] && [ \"\$arena\" = \"\$most\" ]"
check "--dump=all: the six passes' headers, in order, each followed by its IR" bash -c "
    ./mnc $TC --dump=all >$DUMP/all.ir &&
    [ \"\$(grep '^;; ' $DUMP/all.ir | tr '\n' ' ')\" = ';; after lower ;; after check ;; after fuse_logits ;; after autodiff ;; after fuse_linear ;; after plan ' ] &&
    [ \$(grep -A1 '^;; after ' $DUMP/all.ir | grep -cx 'model two_concat') = 6 ] &&
    awk '/^;; after /{ p = \$3; next } p { print > \"$DUMP/all.\" p }' $DUMP/all.ir &&
    for p in $DUMP_PASSES; do sed '/^\$/d' $DUMP/all.\$p | cmp - $DUMP/\$p.ir || { echo \"\$p differs\"; exit 1; }; done"
check "--dump=lower --dump=plan: the two, each under its header" bash -c "
    [ \"\$(./mnc $TC --dump=lower --dump=plan | grep '^;; ' | tr '\n' ' ')\" = ';; after lower ;; after plan ' ]"
check "an unknown pass, --dump=list or no pass: exit 2, the passes listed" bash -c "
    for a in --dump=nope --dump=list '-d'; do
        ./mnc $TC \$a >$DUMP/bad.out 2>$DUMP/bad.err; rc=\$?
        [ \$rc = 2 ] && [ ! -s $DUMP/bad.out ] &&
            grep -q 'lower, check, fuse_logits, autodiff, fuse_linear, plan, or all' $DUMP/bad.err ||
            { echo \"\$a: exit \$rc\"; cat $DUMP/bad.err; exit 1; }
    done && grep -q \"unknown pass 'nope'\" <(./mnc $TC --dump=nope 2>&1)"
check "--dump with --check, --emit, -o or -H: a usage error (exit 2), nothing written" bash -c "
    for a in --check --emit=c '-o $DUMP/no.c' '-H $DUMP/no.h'; do
        ./mnc $TC --dump=plan \$a >$DUMP/bad.out 2>$DUMP/bad.err; rc=\$?
        [ \$rc = 2 ] && [ ! -s $DUMP/bad.out ] && [ ! -e $DUMP/no.c ] && [ ! -e $DUMP/no.h ] || { echo \"\$a: exit \$rc\"; exit 1; }
    done"
printf 'model bad\ninput x : float[4]\ninput z : float[3]\ntarget t : float[4]\ny = x + z\noutput y\nloss mse(y, t)\n' >"$DUMP/bad.mn"
check "--dump on a model with a shape error: exit 1, the error, no dump (every pass, and all)" bash -c "
    for p in $DUMP_PASSES all; do
        ./mnc $DUMP/bad.mn --dump=\$p >$DUMP/err.out 2>$DUMP/err.err; rc=\$?
        [ \$rc = 1 ] && [ ! -s $DUMP/err.out ] && grep -q 'bad.mn:5:5: error: add: cannot broadcast' $DUMP/err.err ||
            { echo \"--dump=\$p: exit \$rc\"; cat $DUMP/err.err; exit 1; }
    done &&
    for mn in examples/errors/*.mn; do
        ./mnc \$mn --dump=all >$DUMP/err.out 2>/dev/null; rc=\$?
        [ \$rc = 1 ] && [ ! -s $DUMP/err.out ] || { echo \"\$mn: exit \$rc\"; exit 1; }
    done"
check "--dump=check on a model without a loss: exit 1 (check's error), no dump; --dump=lower of it works" bash -c "
    printf 'model m\ninput x : float[4]\ny = x -> relu\noutput y\n' >$DUMP/noloss.mn &&
    ./mnc $DUMP/noloss.mn --dump=check >$DUMP/nl.out 2>$DUMP/nl.err; [ \$? = 1 ] && [ ! -s $DUMP/nl.out ] &&
    grep -q \"no 'loss' statement\" $DUMP/nl.err && ./mnc $DUMP/noloss.mn --dump=lower | grep -q ' = relu %0 '"

# MNC_VERIFY=1: every model, three ways; exit 0, the same C, header and
# messages as without it (the verification changes nothing).
dump_verify_all() {
    local mn n mode args count=0 rc
    mkdir -p "$DUMP/plain" "$DUMP/verify"
    for mn in $DUMP_MODELS; do
        n=$(echo "$mn" | tr / _)
        for mode in f32 f64 b256; do
            case $mode in f32) args="" ;; f64) args="--dtype f64" ;; b256) args="--batch 256" ;; esac
            env -u MNC_VERIFY ./mnc "$mn" $args -o "$DUMP/plain/m.c" 2>"$DUMP/plain/err" || { echo "$mn $args: fails without MNC_VERIFY"; return 1; }
            MNC_VERIFY=1 ./mnc "$mn" $args -o "$DUMP/verify/m.c" 2>"$DUMP/verify/err"
            rc=$?
            [ $rc = 0 ] || { echo "$mn $args: exit $rc with MNC_VERIFY=1"; head -n 20 "$DUMP/verify/err"; return 1; }
            cmp "$DUMP/plain/m.c" "$DUMP/verify/m.c" && cmp "$DUMP/plain/m.h" "$DUMP/verify/m.h" &&
                cmp "$DUMP/plain/err" "$DUMP/verify/err" || { echo "$mn $args: output differs with MNC_VERIFY=1"; return 1; }
            count=$((count + 1))
        done
    done
    echo "$count compilations verified, byte-identical C, headers and messages"
}
check_shown "MNC_VERIFY=1 over every model (f32, --dtype f64, --batch 256): exit 0, byte-identical output" dump_verify_all
check "--emit=ir, summary, dot and trainer are unchanged under MNC_VERIFY=1; MNC_VERIFY=0 and empty are accepted" bash -c "
    for k in ir summary dot; do
        env -u MNC_VERIFY ./mnc examples/text_category.mn --emit=\$k >$DUMP/k.plain &&
        MNC_VERIFY=1 ./mnc examples/text_category.mn --emit=\$k >$DUMP/k.verify &&
        [ -s $DUMP/k.plain ] && cmp $DUMP/k.plain $DUMP/k.verify || { echo \"--emit=\$k\"; exit 1; }
    done &&
    env -u MNC_VERIFY ./mnc examples/text_category.mn --emit=trainer -o $DUMP/tr.plain.c &&
    MNC_VERIFY=1 ./mnc examples/text_category.mn --emit=trainer -o $DUMP/tr.verify.c &&
    cmp $DUMP/tr.plain.c $DUMP/tr.verify.c && MNC_VERIFY=0 ./mnc $TC --dump=plan | cmp - $DUMP/plan.ir && MNC_VERIFY= ./mnc $TC --check"
check "--dump=all of every model under MNC_VERIFY=1: exit 0, six headers each" bash -c "
    for mn in $DUMP_MODELS; do
        MNC_VERIFY=1 ./mnc \$mn --dump=all >$DUMP/a.ir 2>/dev/null && [ \$(grep -c '^;; after ' $DUMP/a.ir) = 6 ] ||
            { echo \$mn; exit 1; }
    done"
if [ -x "$BUILD/asan/mnc" ]; then
    check "--dump=all of every model under ASan/UBSan (a -DMNC_DEBUG build: it verifies): no finding, same output" bash -c "
        for mn in $DUMP_MODELS examples/errors/*.mn; do
            ./mnc \$mn --dump=all >$DUMP/p.out 2>&1; want=\$?
            $BUILD/asan/mnc \$mn --dump=all >$DUMP/s.out 2>&1; got=\$?
            [ \$want = \$got ] && cmp $DUMP/p.out $DUMP/s.out || { echo \"\$mn: exit \$got, \$want without\"; head -n 30 $DUMP/s.out; exit 1; }
        done"
else
    LOG=/dev/null fail "--dump under ASan: the sanitized compiler $BUILD/asan/mnc was not built"
fi
