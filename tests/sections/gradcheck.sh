# gradcheck: tests/harness/gradcheck.c on each model's --dtype f64 code
# ($WORK/gen/MODEL/f64, gen_model), under ASan/UBSan.

for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name gradients" bash -c "
        gen_model $mn $dir f64 &&
        gcc $GEN_CFLAGS $SAN -Iruntime -Itests/harness -I$dir/f64 tests/harness/gradcheck.c $dir/f64/m.c $LIBS -o $dir/f64/gradcheck &&
        $dir/f64/gradcheck"
done
