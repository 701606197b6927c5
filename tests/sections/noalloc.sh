# noalloc: tests/harness/noalloc.c counts heap allocations in train_step,
# evaluate and predict (gen_model).

# OpenBLAS's own threads allocate on large products, so the runtime keeps
# OpenBLAS on one thread and shares products among its own workers
# (mn_set_threads); the harness counts on 1 and on 2 of them, and checks
# that 2 give the gradients of 1.
for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name allocates nothing" bash -c "
        gen_model $mn $dir a &&
        gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/a tests/harness/noalloc.c $dir/a/m.c $LIBS -o $dir/a/noalloc &&
        OPENBLAS_NUM_THREADS=1 $dir/a/noalloc"
done
