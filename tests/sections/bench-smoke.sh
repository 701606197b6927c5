# bench-smoke: make bench's programs on two_concat, 3 steps (no timing
# asserts).

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
