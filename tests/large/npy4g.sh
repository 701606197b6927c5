#!/bin/bash
# npy4g.sh — make test-large (issue 15; not in make test, for its time and
# disk): a .npy data set of 4 GiB trains one epoch with the trainer's memory
# far below the file's size. The files are sparse where the file system
# allows (a header, then zeros), made in a temporary directory and removed.
# Prints the figures: samples, bytes, max RSS (GNU time), seconds, and the
# same for 2 ranks under mpirun (each rank's RSS) when Open MPI is there.
#   BUILD=build tests/large/npy4g.sh
set -euo pipefail
BUILD=${BUILD:-build}
N=${N:-67108864}                 # 2^26 samples x 64 bytes = 4 GiB
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mnc-npy4g.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# npy FILE SHAPE ELEMENTS: a version 1.0 header for float32 data of SHAPE, then zeros
npy() {
    local dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($2), }"
    local pad=$(( (64 - (10 + ${#dict} + 1) % 64) % 64 )) len
    len=$(( ${#dict} + pad + 1 ))
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))";
      printf '%s%*s\n' "$dict" "$pad" ''; } >"$1"
    truncate -s $(( 10 + len + $3 * 4 )) "$1"
}
npy "$tmp/a.npy" "$N, 10" $((N * 10))
npy "$tmp/b.npy" "$N, 5" $((N * 5))
npy "$tmp/y.npy" "$N, 1" $N
bytes=$(( $(stat -c %s "$tmp/a.npy") + $(stat -c %s "$tmp/b.npy") + $(stat -c %s "$tmp/y.npy") ))
echo "data: $N samples, $bytes bytes in 3 .npy files ($(du -sh "$tmp" | cut -f1) on disk)"
./mnc examples/two_concat.mn -o "$tmp/two_concat.c"
./mnc examples/two_concat.mn --emit trainer -o "$tmp/train.c"
gcc -std=c99 -O2 -Iruntime -I"$tmp" "$tmp/two_concat.c" "$tmp/train.c" "$BUILD/libmnrt.a" -lopenblas -lm -pthread \
    -o "$tmp/train"
data="input_1=$tmp/a.npy,input_2=$tmp/b.npy,label=$tmp/y.npy"
/usr/bin/time -f '%M %e' -o "$tmp/time" "$tmp/train" "$data" --epochs 1 --no-time --save "$tmp/w.safetensors"
read -r rss secs <"$tmp/time"
echo "1 process: max RSS $((rss / 1024)) MiB for $((bytes >> 20)) MiB of data, ${secs} s"
status=0
[ $((rss * 1024)) -lt $((bytes / 4)) ] || { echo "FAIL: the resident memory is not well under the data's size"; status=1; }
if command -v mpicc >/dev/null && [ -f "$BUILD/libmnrt_mpi.a" ]; then
    mpicc -std=c99 -O2 -DMN_MPI -Iruntime -I"$tmp" "$tmp/two_concat.c" "$tmp/train.c" "$BUILD/libmnrt_mpi.a" \
        "$BUILD/libmnrt.a" -lopenblas -lm -pthread -o "$tmp/train_mpi"
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    mpirun --oversubscribe -np 2 sh -c '/usr/bin/time -f "%M %e" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$tmp/time" \
        "$tmp/train_mpi" "$data" --epochs 1 --no-time --save "$tmp/w2.safetensors"
    for r in 0 1; do
        read -r rss secs <"$tmp/time.$r"
        echo "2 ranks: rank $r max RSS $((rss / 1024)) MiB, ${secs} s"
        [ $((rss * 1024)) -lt $((bytes / 4)) ] || { echo "FAIL: rank $r's resident memory"; status=1; }
    done
fi
[ $status = 0 ] && echo "npy4g: ok"
exit $status
