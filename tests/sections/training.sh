# training: tests/harness/trainloss.c on each example's generated code
# ($WORK/gen/MODEL/a, gen_model).

for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name trains" bash -c "
        gen_model $mn $dir a &&
        gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/a tests/harness/trainloss.c $dir/a/m.c $LIBS -o $dir/a/trainloss &&
        $dir/a/trainloss"
done
