# repro: tests/harness/repro.c: two trainings from one seed are equal,
# inference is deterministic (gen_model).

for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name reproducible" bash -c "
        gen_model $mn $dir a &&
        gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/a tests/harness/repro.c $dir/a/m.c $LIBS -o $dir/a/repro &&
        $dir/a/repro"
done
