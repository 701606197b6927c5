# trainer: the generated trainer (mnc --emit trainer; docs/trainer.md): its
# builds, CSV errors, kill and resume, seeds, --eval/--predict, early
# stopping; make demo; examples/demo/demo.c. All made under $WORK/trainer.

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
