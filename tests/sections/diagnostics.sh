# diagnostics: each broken model (examples/errors, tests/diagnostics) exits 1,
# writes no output, and prints exactly its .expected text.

for mn in $(section_models); do
    expected=${mn%.mn}.expected
    name=$(basename "$mn" .mn)
    check "diagnostics of $mn" bash -c "
        ./mnc $mn -o $WORK/$name.c 2>$WORK/$name.err; status=\$?
        [ \$status = 1 ] || { echo \"exit status \$status, expected 1\"; exit 1; }
        [ ! -e $WORK/$name.c ] && [ ! -e $WORK/$name.h ] || { echo 'an output file was written'; exit 1; }
        diff -u $expected $WORK/$name.err"
done
