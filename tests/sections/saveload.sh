# saveload: tests/harness/saveload.c: a bit-exact save/load round trip, bad
# files refused with the model untouched (gen_model; files in
# $WORK/gen/MODEL/files).

for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    mkdir -p "$dir/files"
    check_shown "$name save/load" bash -c "
        gen_model $mn $dir a &&
        gcc $GEN_CFLAGS $SAN -Iruntime -Itests/harness -I$dir/a tests/harness/saveload.c $dir/a/m.c $LIBS -o $dir/a/saveload &&
        $dir/a/saveload $dir/files"
done
