#!/bin/sh
# mpi.sh — make bench-mpi (issue 15; not part of make test): data-parallel
# training speed over Open MPI on this machine. big_mlp and text_category
# at global batch 256, 1 and 2 ranks (one thread each: OPENBLAS_NUM_THREADS=1),
# with the gradients' allreduces overlapped with backward and all after it.
# Samples per second, the time per step inside MPI, and the scaling
# efficiency (samples/s at N) / (N x samples/s at 1). A markdown table on
# stdout and bench/mpi_results.tsv. Each figure is the median of STEPS steps
# (default 30) after 3 warm-up steps.
set -eu
BUILD=${BUILD:-build}
STEPS=${STEPS:-30}
GLOBAL=256
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
MPIRUN="mpirun --oversubscribe --bind-to core"
out=bench/mpi_results.tsv
printf 'model\tranks\toverlap\tbuckets\tstep_ms\tsamples_per_s\tallreduce_ms\tefficiency\n' >"$out"
echo "| model | ranks | allreduce | buckets | step ms | samples/s | in MPI ms/step | scaling efficiency |"
echo "|---|---|---|---|---|---|---|---|"
for model in big_mlp text_category; do
    d=$BUILD/bench-mpi/$model
    mkdir -p "$d"
    mn=examples/$model.mn
    [ -f "$mn" ] || mn=examples/bench/$model.mn
    ./mnc "$mn" --prefix m --batch $GLOBAL -o "$d/m.c"
    mpicc -std=c99 -O2 -march=native -Iruntime -Itests/harness -I"$d" bench/mpi_bench.c "$d/m.c" \
        "$BUILD/libmnrt_mpi.a" "$BUILD/libmnrt.a" -lopenblas -lm -pthread -o "$d/mpi_bench"
    one=""
    for run in "1 1" "2 1" "2 0"; do
        set -- $run
        line=$($MPIRUN -np "$1" "$d/mpi_bench" $GLOBAL "$STEPS" "$2")
        get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
        sps=$(get samples_per_s)
        [ -n "$one" ] || one=$sps
        eff=$(awk -v s="$sps" -v o="$one" -v n="$1" 'BEGIN { printf "%.3f", s / (n * o) }')
        how=$([ "$2" = 1 ] && echo "overlapped" || echo "after backward")
        [ "$1" = 1 ] && how="-"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$1" "$2" "$(get buckets)" "$(get step_ms)" "$sps" \
            "$(get allreduce_ms)" "$eff" >>"$out"
        echo "| $model | $1 | $how | $(get buckets) | $(get step_ms) | $sps | $(get allreduce_ms) | $eff |"
    done
done
echo
echo "OpenBLAS kernel: $(OPENBLAS_VERBOSE=2 $MPIRUN -np 1 "$BUILD/bench-mpi/big_mlp/mpi_bench" 8 1 1 2>&1 | sed -n 's/^Core: //p' | head -n 1)"
echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
