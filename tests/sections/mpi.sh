# mpi: data-parallel training over Open MPI (issue 15): the runtime's MPI
# layer (build/libmnrt_mpi.a), tests/harness/dp.c under mpirun, the
# generated trainer built with -DMN_MPI, and the build without MPI. Open MPI
# comes from make deps; mpirun runs on localhost, --oversubscribe.

mkdir -p "$WORK/mpi"
MP=$(cd "$WORK/mpi" && pwd) # absolute: the trainer's checks run inside it
# mpirun as root (CI) needs both variables; nothing else changes
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe"
check "make mpi: build/libmnrt_mpi.a with mpicc" make --no-print-directory -s mpi BUILD=$BUILD

# users without MPI: libmnrt.a, the model and the plain trainer know nothing of it
no_mpi_in_plain_build() {
    ! nm "$BUILD/libmnrt.a" | grep -qi ' [TU] .*MPI_' &&
        ./mnc examples/two_concat.mn -o "$MP/two_concat.c" && ./mnc examples/two_concat.mn --emit trainer -o "$MP/train.c" &&
        gcc -std=c99 -E -Iruntime -I"$MP" "$MP/train.c" >"$MP/train.i" && ! grep -q 'mpi\.h' "$MP/train.i" &&
        ! grep -qE 'mpi\.h|MPI_|mn_mpi' "$MP/two_concat.c" "$MP/two_concat.h" &&
        gcc $GEN_CFLAGS -O2 -Iruntime -I"$MP" "$MP/two_concat.c" "$MP/train.c" $LIBS -o "$MP/train_plain" &&
        ! ldd "$MP/train_plain" | grep -q libmpi && echo "no MPI symbol in libmnrt.a, no mpi.h, no libmpi"
}
check_shown "the build without MPI: no MPI header, symbol or library" no_mpi_in_plain_build

# dp MODEL DTYPE NP [ARGS]: tests/harness/dp.c on MODEL at batch 32
dp() {
    local mn=$1 dt=$2 np=$3 d=$MP/dp_$(basename "$1" .mn)_$2
    shift 3
    mkdir -p "$d" && ./mnc "$mn" --dtype "$dt" --batch 32 --prefix m -o "$d/m.c" &&
        mpicc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I"$d" tests/harness/dp.c "$d/m.c" "$BUILD/libmnrt_mpi.a" $LIBS \
            -o "$d/dp" &&
        $MPIRUN -np "$np" "$d/dp" "$@" >"$d/out" 2>&1
    local rc=$?
    cat "$d/out"
    grep -q '^dp: ok' "$d/out" && [ $rc = 0 ] && grep '^dp: [0-9]' "$d/out" | tail -n 1
}
for mn in examples/two_concat.mn examples/text_category.mn examples/conv_bias.mn tests/ops/op_norm_dropout.mn; do
    for dt in f32 f64; do
        check_shown "$(basename $mn .mn) ($dt), 2 ranks: the weights of one process" dp $mn $dt 2 5
    done
done
check_shown "two_concat, 3 ranks (shares 11, 11, 10), 64-byte buckets" dp examples/two_concat.mn f32 3 5 64
check_shown "text_category, 2 ranks, no overlap (one allreduce after backward)" dp examples/text_category.mn f32 2 5 0 0

# ---- the trainer, data-parallel -------------------------------------------------------------
TD=$MP/trainer
mkdir -p "$TD"
trainer_mpi_build() {
    ./mnc examples/demo/cancer.mn -o "$TD/cancer.c" && ./mnc examples/demo/cancer.mn --emit trainer -o "$TD/train_cancer.c" &&
        mpicc $GEN_CFLAGS -O2 -DMN_MPI -Iruntime -I"$TD" "$TD/cancer.c" "$TD/train_cancer.c" "$BUILD/libmnrt_mpi.a" $LIBS \
            -o "$TD/train" && gcc $GEN_CFLAGS -O2 -Iruntime -I"$TD" "$TD/cancer.c" "$TD/train_cancer.c" $LIBS -o "$TD/train1" &&
        sh examples/demo/prepare.sh examples/demo/data/breast_cancer.csv "$TD" >/dev/null
}
check "the demo's trainer with -DMN_MPI (mpicc)" trainer_mpi_build
# np N: train on the demo data, then the held-out accuracy
trainer_np() {
    local np=$1
    (cd "$TD" && $MPIRUN -np "$np" ./train train.csv --val-split 0.2 --no-time --save "w$np.safetensors" >"np$np.out" &&
        $MPIRUN -np "$np" ./train --load "w$np.safetensors" --eval test.csv --no-time >"eval$np.out") && cat "$TD/np$np.out" "$TD/eval$np.out"
}
same_as_one_process() {
    (cd "$TD" && ./train1 train.csv --val-split 0.2 --no-time --save w0.safetensors >np0.out &&
        ./train1 --load w0.safetensors --eval test.csv --no-time >eval0.out) &&
        trainer_np 1 && trainer_np 2 &&
        cmp "$TD/np0.out" <(sed 's/w1\.safetensors/w0.safetensors/' "$TD/np1.out") &&
        diff <(grep '^epoch' "$TD/np1.out") <(grep '^epoch' "$TD/np2.out") &&
        awk 'FNR == 1 { f++ } /^eval/ { for (i = 1; i <= NF; i++) if ($i == "accuracy") a[f] = $(i + 1) }
             END { printf "held-out accuracy: 1 rank %s, 2 ranks %s\n", a[1], a[2]; d = a[1] - a[2]; exit !(a[1] != "" && d * d < 1e-12) }' \
            "$TD/eval1.out" "$TD/eval2.out"
}
check_shown "trainer: 2 ranks print the epoch lines of 1 (and 1 of a plain build), same held-out accuracy" same_as_one_process
# refusals: exit status, the message, nothing written
refused_mpi() { # refused_mpi 'MESSAGE' COMMAND...: fails with MESSAGE on stderr, no weights file
    local want=$1
    shift
    rm -f "$TD/refused.safetensors"
    (cd "$TD" && "$@" --save refused.safetensors >"$TD/refused.out" 2>"$TD/refused.err")
    local rc=$?
    cat "$TD/refused.err"
    [ $rc != 0 ] && grep -qF "$want" "$TD/refused.err" && [ ! -e "$TD/refused.safetensors" ]
}
check "a global batch the ranks do not divide is refused" \
    refused_mpi "the global batch 33 (--batch) is not divisible by the 2 ranks" $MPIRUN -np 2 ./train train.csv --batch 33
check "a data file one rank cannot read stops every rank, naming it" \
    refused_mpi "rank 1 of 2 failed to load its data" $MPIRUN -np 1 ./train train.csv : -np 1 ./train missing.csv

# a rank killed mid-epoch (SIGKILL, rank 1 only: mpirun's MPMD form) ends the job at once; the
# checkpoint is whole, and --resume on 2 ranks ends with the weights of a run never interrupted
kill_one_rank_and_resume() (
    cd "$TD" && rm -f ck*.safetensors* full.safetensors res.safetensors &&
        $MPIRUN -np 2 ./train train.csv --epochs 6 --no-time --checkpoint ckfull.safetensors --save full.safetensors \
            >full.out 2>&1 || return 1
    local t0=$(date +%s%N) rc
    $MPIRUN -np 1 ./train train.csv --epochs 6 --no-time --checkpoint ck.safetensors --save res.safetensors : \
        -np 1 ./train train.csv --epochs 6 --no-time --checkpoint ck.safetensors --save res.safetensors \
        --kill-after-steps 40 >kill.out 2>&1
    rc=$?
    local ms=$((($(date +%s%N) - t0) / 1000000))
    echo "killed: exit status $rc after $ms ms"
    [ $rc != 0 ] && [ $ms -lt 20000 ] && [ ! -e res.safetensors ] && [ -s ck.safetensors ] &&
        $MPIRUN -np 2 ./train train.csv --epochs 6 --no-time --checkpoint ck.safetensors --resume --save res.safetensors \
            >res.out 2>&1 && grep resuming res.out && cmp full.safetensors res.safetensors &&
        diff <(grep '^epoch [3-6]' full.out) <(grep '^epoch' res.out) &&
        echo "rank 1 killed after 40 steps: exit $rc in $ms ms; resumed: the same final weights, byte for byte"
)
check_shown "one rank killed mid-epoch: the job ends, the checkpoint is whole, resume ends as never interrupted" \
    kill_one_rank_and_resume
other_batch_refused() (
    cd "$TD" && cp ck.safetensors ck.before && rm -f refused.safetensors &&
        ! $MPIRUN -np 2 ./train train.csv --epochs 8 --checkpoint ck.safetensors --resume --batch 16 \
            --save refused.safetensors >/dev/null 2>refused.err &&
        cat refused.err && grep -q 'the checkpoint was made with batch' refused.err && [ ! -e refused.safetensors ] &&
        cmp ck.safetensors ck.before
)
check "a resume with another global batch is refused (checkpoint untouched)" other_batch_refused

# ---- examples/mpi/two_concat_dp.c: a hand-written loop over the MPI layer (docs/api.md) --------
EX=$MP/example
hand_written_loop() {
    mkdir -p "$EX" && ./mnc examples/two_concat.mn -o "$EX/two_concat.c" &&
        mpicc $GEN_CFLAGS -O2 -Iruntime -I"$EX" "$EX/two_concat.c" examples/mpi/two_concat_dp.c "$BUILD/libmnrt_mpi.a" \
            $LIBS -o "$EX/dp" &&
        (cd "$EX" && $MPIRUN -np 1 ./dp >np1.out && $MPIRUN -np 2 ./dp >np2.out && [ -s two_concat_dp.safetensors ]) &&
        cat "$EX/np2.out" &&
        diff <(grep '^epoch' "$EX/np1.out") <(grep '^epoch' "$EX/np2.out") &&
        diff <(sed 's/ on [0-9]* ranks//' "$EX/np1.out" | grep accuracy) <(sed 's/ on [0-9]* ranks//' "$EX/np2.out" | grep accuracy) &&
        awk '/^epoch/ { if (!f) f = $4; l = $4 } END { exit !(l < 0.6 * f) }' "$EX/np2.out"
}
check_shown "examples/mpi/two_concat_dp.c: 2 ranks learn as 1 (the same epoch lines and accuracy)" hand_written_loop
