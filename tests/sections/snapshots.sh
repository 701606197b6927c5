# snapshots: generated/ against mnc's output (tests/golden.sh), two runs of
# mnc byte-identical, and the generated C (float and double) compiled
# warning-free with gcc and clang. Generates $WORK/gen/MODEL/{a,b,f64}, which
# the sections below also generate for themselves (gen_model) when missing.

check "golden-check (generated/ matches mnc's output)" bash tests/golden.sh check examples/*.mn
for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    mkdir -p "$dir/a" "$dir/b" "$dir/f64"
    check "$name: two runs of mnc give byte-identical output" bash -c "
        ./mnc $mn -o $dir/a/m.c --prefix m && ./mnc $mn -o $dir/b/m.c --prefix m &&
        cmp $dir/a/m.c $dir/b/m.c && cmp $dir/a/m.h $dir/b/m.h"
    gen_model "$mn" "$dir" f64 >/dev/null 2>&1
    for cc in gcc $CLANG; do
        ccname=$(basename "$cc")
        check "$name: generated C compiles with $ccname $GEN_CFLAGS (f32 and f64)" bash -c "
            $cc $GEN_CFLAGS -Iruntime -c $dir/a/m.c -o $dir/a/m_$ccname.o &&
            $cc $GEN_CFLAGS -Iruntime -c $dir/f64/m.c -o $dir/f64/m_$ccname.o"
    done
done
