# hostile: hostile input (issue 13): the inputs that once crashed, stalled or
# exhausted mnc, and the limits of mnc.h with their located errors. Every
# input is made here, under $WORK/hostile; bounds are generous (this checks
# "finishes, bounded, correct"; make bench times compilation).

HOST=$WORK/hostile
mkdir -p "$HOST"

# run_bounded SECONDS MB CMD...: CMD exits 0 within SECONDS using at most MB
# of memory (max RSS); prints the figures.
run_bounded() {
    local secs=$1 mb=$2
    shift 2
    /usr/bin/time -f '%e %M' -o "$HOST/time.txt" timeout "$secs" "$@" || return 1
    read -r t kb <"$HOST/time.txt"
    echo "${t}s, $((kb / 1024)) MB"
    [ $((kb / 1024)) -le "$mb" ]
}
export -f run_bounded
export HOST

# chain_model FILE KIND N: a model whose output is x * w followed by N links
# of KIND (sum: `+ x` on one line; arrow: `-> relu` on one line; stmts: N
# statements a_i = a_{i-1} + x). With w = ones and x > 0 the output is
# x * (N + 1) (sum, stmts) or x (arrow).
chain_model() {
    local file=$1 kind=$2 n=$3
    {
        printf 'model m\ninput x : float[4]\ntarget t : float[4]\nparam w : float[4] = ones\n'
        case $kind in
        sum) printf 'a = x * w'; head -c $((n * 4)) /dev/zero | sed 's/\x0\x0\x0\x0/ + x/g'; echo ;;
        arrow) printf 'a = x * w'; head -c $((n * 8)) /dev/zero | sed 's/\x0\x0\x0\x0\x0\x0\x0\x0/ -> relu/g'; echo ;;
        stmts) echo 'a0 = x * w'; awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "a%d = a%d + x\n", i, i - 1 }'
               echo "a = a$n" ;;
        esac
        printf 'output a\nloss mse(a, t)\ntrain { optimizer = sgd(lr=0.01), batch = 8, epochs = 1, seed = 1 }\n'
    } >"$file"
}

cat >"$HOST/chain_main.c" <<'EOF'
/* predict of a chain model on x = 1 2 3 4, one sample */
#include <stdio.h>
#include "m.h"
int main(void) {
    static m model;
    m_init(&model, 1);
    float x[4] = {1, 2, 3, 4}, a[4];
    m_inputs in = {.x = x};
    m_outputs out = {.a = a};
    m_predict(&model, &in, 1, &out);
    printf("%g %g %g %g\n", a[0], a[1], a[2], a[3]);
    return 0;
}
EOF

# 1. shape_accuracy wrote dims[-1] for a scalar prediction with an int target (UBSan).
printf 'model o\ntarget c : int\nmetric accuracy(1, c)' >"$HOST/accuracy.mn"
check "a 44-byte model, accuracy(1, c) of an int target: a located error under ASan/UBSan, no crash" bash -c "
    $ASAN_MNC $HOST/accuracy.mn -o $HOST/accuracy.c 2>$HOST/accuracy.err; rc=\$?; cat $HOST/accuracy.err
    [ \$rc = 1 ] && grep -q 'accuracy.mn:3:8: error: accuracy: the prediction const scalar and the target' $HOST/accuracy.err &&
    ! grep -q 'runtime error\|Sanitizer' $HOST/accuracy.err"

# 2. lower_expr recursed once per term: long chains overflowed the stack.
chain_model "$HOST/sum100k.mn" sum 100000
chain_model "$HOST/arrow100k.mn" arrow 100000
chain_model "$HOST/stmts16k.mn" stmts 16000
chain_model "$HOST/stmts20k.mn" stmts 20000
chain_model "$HOST/stmts2k.mn" stmts 2000
chain_model "$HOST/sum2k.mn" sum 2000
for t in sum100k:100000 arrow100k:100000; do
    f=${t%%:*} n=${t#*:}
    check_shown "$f: a $n-link chain on one line ($(wc -c <$HOST/$f.mn) bytes) compiles, bounded (60 s, 2 GB)" bash -c "
        run_bounded 60 2048 ./mnc $HOST/$f.mn --prefix m -o $HOST/$f.c &&
        [ \$(grep -cE '^    /\* %[0-9]+ \[n, 4\] = (add|relu)\(' $HOST/$f.c) -ge $n ]"
done
check_shown "stmts16k: 16,000 chained statements compile, bounded (30 s, 1 GB)" bash -c "
    run_bounded 30 1024 ./mnc $HOST/stmts16k.mn --prefix m -o $HOST/stmts16k.c"
check_shown "stmts20k: 20,000 chained statements compile, also --emit summary and dot (30 s, 1 GB)" bash -c "
    run_bounded 30 1024 ./mnc $HOST/stmts20k.mn --prefix m -o $HOST/stmts20k.c &&
    run_bounded 30 1024 ./mnc $HOST/stmts20k.mn --emit summary -o $HOST/stmts20k.summary &&
    run_bounded 30 1024 ./mnc $HOST/stmts20k.mn --emit dot -o $HOST/stmts20k.dot"
check "sum100k and arrow100k: --emit summary, dot, ir and trainer finish too (60 s, 2 GB each)" bash -c "
    for f in sum100k arrow100k; do for k in summary dot ir trainer; do
        run_bounded 60 2048 ./mnc $HOST/\$f.mn --emit \$k -o $HOST/\$f.\$k >/dev/null || { echo \"\$f --emit \$k\"; exit 1; }
    done; done"
# correct: the numbers of chains small enough to build in seconds (gcc on a
# 100,000-op function takes minutes; the big ones are checked by their op count)
for t in stmts2k:'2001 4002 6003 8004' sum2k:'2001 4002 6003 8004'; do
    f=${t%%:*} want=${t#*:}
    check "$f: the generated C predicts x * $(echo $want | cut -d' ' -f1) for x = 1 2 3 4 (built at -O0)" bash -c "
        mkdir -p $HOST/$f.d && ./mnc $HOST/$f.mn --prefix m -o $HOST/$f.d/m.c &&
        cc -std=c99 -O0 -Iruntime -I$HOST/$f.d $HOST/chain_main.c $HOST/$f.d/m.c $LIBS -pthread -o $HOST/$f.d/run &&
        out=\$($HOST/$f.d/run) && echo \"\$out\" && [ \"\$out\" = '$want' ]"
done

# 3. nesting: within the limit it compiles under ASan (its stack is mnc's own,
# 256 MiB), past it a located error.
nest() { # FILE OPEN CLOSE N
    { printf 'model m\ninput x : float[4]\ntarget t : float[4]\nparam w : float[4] = ones\na = x * w + '
      awk -v n="$4" -v o="$2" -v c="$3" 'BEGIN { for (i = 0; i < n; i++) printf "%s", o; printf "x"; for (i = 0; i < n; i++) printf "%s", c; print "" }'
      printf 'output a\nloss mse(a, t)\n'; } >"$1"
}
nest "$HOST/calls9998.mn" 'relu(' ')' 9998
nest "$HOST/calls10001.mn" 'relu(' ')' 10001
nest "$HOST/parens10001.mn" '(' ')' 10001
nest "$HOST/neg100k.mn" '-' '' 100000
nest "$HOST/open100k.mn" '(' '' 100000
check "10,000 levels (x * w + 9,998 nested calls) compile under ASan: MN_MAX_NESTING" $ASAN_MNC "$HOST/calls9998.mn" -o "$HOST/calls9998.c"
for t in calls10001:'nested too deeply' parens10001:'nested too deeply' neg100k:'nested too deeply' open100k:'nested too deeply'; do
    f=${t%%:*} want=${t#*:}
    check "$f: a located error '$want', one, no crash (ASan)" bash -c "
        $ASAN_MNC $HOST/$f.mn -o $HOST/$f.c 2>$HOST/$f.err; rc=\$?; head -c 600 $HOST/$f.err
        [ \$rc = 1 ] && [ \$(grep -c ': error: ' $HOST/$f.err) = 1 ] && grep -q '$f.mn:5:[0-9]*: error: .*$want' $HOST/$f.err &&
        [ \$(wc -c <$HOST/$f.err) -lt 2000 ]"
done

# 4. the other limits of mnc.h, each a located error
{ printf 'model m\n'; head -c $((17 << 20)) /dev/zero | tr '\0' '\n'; } >"$HOST/big.mn"
{ printf 'model m\n# '; head -c $((1 << 20)) /dev/zero | tr '\0' 'x'; echo; } >"$HOST/longline.mn"
{ printf 'model m\ninput x : float\n'; yes 'output x' | head -n 100001; } >"$HOST/stmts100k.mn"
{ printf 'model m\ninput x : float\na = x'; yes ' + x' | head -n 250001 | tr -d '\n'; echo; } >"$HOST/tokens.mn"
printf 'model m\ninput x : float[65536, 65536]\n' >"$HOST/elems.mn"
printf 'model m\ninput x : float[1000000]\ntarget t : float[1000000]\nparam w : float = 1\ny = x * w\noutput y\nloss mse(y, t)\ntrain { batch = 4096 }\n' >"$HOST/arena.mn"
for t in big:"mnc: error: '.*big.mn' is 17825800 bytes: the largest .mn file mnc reads is 16777216 bytes" \
         longline:'longline.mn:2:1048577: error: line 2 is 1048578 bytes long: at most 1048576' \
         stmts100k:'stmts100k.mn:100002:1: error: too many statements: at most 100000' \
         tokens:'tokens.mn:3:[0-9]*: error: too many tokens: a .mn file has at most 500000' \
         elems:"elems.mn:2:7: error: 'x' \[n, 65536, 65536\] is too large: more than 2147483647 elements per sample" \
         arena:"arena.mn:5:1: error: 'y' \[n, 1000000\] is too large at batch 4096: 4096000000 elements, at most 2147483647"; do
    f=${t%%:*} want=${t#*:}
    check "$f: '$(echo "$want" | sed 's/^[a-z0-9]*\.mn:[0-9:]*//; s/\\//g' | cut -c1-70)...'" bash -c "
        ./mnc $HOST/$f.mn -o $HOST/$f.c 2>$HOST/$f.err; rc=\$?; head -c 400 $HOST/$f.err
        [ \$rc -ge 1 ] && grep -q \"$want\" $HOST/$f.err && [ ! -e $HOST/$f.c ] && [ \$(wc -c <$HOST/$f.err) -lt 2000 ]"
done
check "a file that never ends (/dev/zero): refused after 16 MiB, exit 2" bash -c "
    ./mnc /dev/zero -o $HOST/zero.c 2>$HOST/zero.err; [ \$? = 2 ] &&
    grep -q \"^mnc: error: cannot read '/dev/zero': larger than 16777216 bytes (16 MiB)\" $HOST/zero.err"
check "a flood of errors: 100 shown, then one line says the rest are not" bash -c "
    { printf 'model m\n'; yes 'a = undefined_name' | awk '{ print \"v\" NR \" = u\" NR }' | head -n 300; } >$HOST/flood.mn
    ./mnc $HOST/flood.mn 2>$HOST/flood.err; [ \$? = 1 ] && [ \$(grep -c 'flood.mn:[0-9]*:[0-9]*: error: ' $HOST/flood.err) = 100 ] &&
    grep -q '^mnc: error: too many errors (100 shown); the rest are not shown$' $HOST/flood.err"

# 5. the CSV reader sized its arrays by newlines: 100 MB of blank lines and one row
check_shown "a 100 MB CSV of blank lines and one row: trained on 1 sample and predicted, max RSS under 400 MB" bash -c "
    mkdir -p $HOST/csv && ./mnc examples/two_concat.mn -o $HOST/csv/two_concat.c &&
    ./mnc examples/two_concat.mn --emit trainer -o $HOST/csv/train.c &&
    cc -std=c99 -O2 -Iruntime -I$HOST/csv $HOST/csv/two_concat.c $HOST/csv/train.c $LIBS -pthread -o $HOST/csv/train &&
    { printf 'input_1_0,input_1_1,input_1_2,input_1_3,input_1_4,input_1_5,input_1_6,input_1_7,input_1_8,input_1_9,input_2_0,input_2_1,input_2_2,input_2_3,input_2_4,label\n'
      head -c 100000000 /dev/zero | tr '\0' '\n'; echo '1,2,3,4,5,6,7,8,9,10,1,2,3,4,5,1'; } >$HOST/csv/blank.csv &&
    /usr/bin/time -f '%M' -o $HOST/csv/rss $HOST/csv/train $HOST/csv/blank.csv --epochs 1 --save $HOST/csv/w.safetensors \
        >$HOST/csv/out 2>&1 && grep -q '^training two_concat on 1 samples' $HOST/csv/out &&
    $HOST/csv/train --load $HOST/csv/w.safetensors --predict $HOST/csv/blank.csv -o $HOST/csv/pred.csv 2>$HOST/csv/err &&
    [ \$(wc -l <$HOST/csv/pred.csv) = 2 ] && kb=\$(cat $HOST/csv/rss) && echo \"1 sample trained on, max RSS \$((kb / 1024)) MB\" &&
    [ \$kb -lt 409600 ]; rc=\$?; rm -f $HOST/csv/blank.csv; exit \$rc"
