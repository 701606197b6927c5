#!/bin/sh
# callgrind.sh MODEL... — repeatable instruction counts of the generated
# train_step and predict (valgrind --tool=callgrind), for comparing two
# versions of mnc where timings are too noisy: each model is compiled with
# `--prefix m`, built -O2 (no -march, so the counts mean the same on every
# x86-64) with bench/callgrind.c, and run for STEPS (default 10) steps of
# each on one thread. Prints, per model, the instructions of one call,
# inclusive of everything it calls (OpenBLAS included).
#   BUILD=build CC=cc STEPS=10 bench/callgrind.sh two_concat text_category
set -eu
BUILD=${BUILD:-build}
CC=${CC:-cc}
STEPS=${STEPS:-10}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed (make deps)" >&2; exit 2; }
printf '%-16s %16s %16s\n' model train_step predict
for model in "$@"; do
    d=$BUILD/callgrind/$model
    mkdir -p "$d"
    mn=examples/$model.mn
    [ -f "$mn" ] || mn=examples/bench/$model.mn
    ./mnc "$mn" --prefix m -o "$d/m.c"
    $CC -std=c99 -O2 -Iruntime -c "$d/m.c" -o "$d/m.o"
    $CC -std=c99 -O2 -Iruntime -Itests/harness -I"$d" bench/callgrind.c "$d/m.o" "$BUILD/libmnrt.a" \
        -lopenblas -lm -pthread -o "$d/callgrind"
    OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$d/callgrind.out" \
        "$d/callgrind" "$STEPS" >"$d/run.log" 2>&1 || { cat "$d/run.log" >&2; exit 1; }
    callgrind_annotate --inclusive=yes "$d/callgrind.out" >"$d/annotate.txt"
    count() { # the inclusive Ir of the function m_$1, per call
        awk -v f="m_$1" -v n="$STEPS" '{ for (i = 2; i <= NF; i++) { g = $i; sub(/^.*:/, "", g)
            if (g == f) { c = $1; gsub(/,/, "", c); printf "%.0f", c / n; exit } } }' "$d/annotate.txt"
    }
    printf '%-16s %16s %16s\n' "$model" "$(count train_step)" "$(count predict)"
done
