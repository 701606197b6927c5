# optimizer: tests/harness/optstep.c, the optimizer's step against its
# formula, on each model's float and double code (gen_model).

for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    for t in a f64; do
        check_shown "$name optimizer ($t)" bash -c "
            gen_model $mn $dir $t &&
            gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/$t tests/harness/optstep.c $dir/$t/m.c $LIBS -o $dir/$t/optstep &&
            $dir/$t/optstep"
    done
done
