# cli: mnc's command line: --help, --version, usage errors and their exit
# statuses, -o, -H, --prefix, --batch, --emit=ir, unwritable outputs.

expect_status() { # expect_status STATUS COMMAND...
    local want=$1
    shift
    "$@"
    local got=$?
    [ "$got" = "$want" ] || { echo "exit status $got, expected $want"; return 1; }
}
check "--help exits 0 and prints the usage" bash -c './mnc --help | grep -q "usage: mnc FILE.mn"'
check "--version prints the version" bash -c './mnc --version | grep -qE "^mnc [0-9]+\.[0-9]+\.[0-9]+$"'
check "an unknown option exits 2" expect_status 2 ./mnc --frobnicate examples/two_concat.mn
check "a missing input file exits 2" expect_status 2 ./mnc "$WORK/no-such-file.mn" -o "$WORK/none.c"
check "no input file exits 2" expect_status 2 ./mnc
check "--check writes nothing" bash -c "cd $WORK && ../../mnc --check ../../examples/two_concat.mn && [ ! -e two_concat.c ] && [ ! -e two_concat.h ]"
check "-o writes FILE.c and FILE.h" bash -c "./mnc examples/two_concat.mn -o $WORK/cli.c && [ -s $WORK/cli.c ] && [ -s $WORK/cli.h ] && grep -q '#include \"cli.h\"' $WORK/cli.c"
check "-H names the header" bash -c "./mnc examples/two_concat.mn -o $WORK/cli2.c -H $WORK/other.h && [ -s $WORK/other.h ] && grep -q '#include \"other.h\"' $WORK/cli2.c"
check "--prefix renames every symbol" bash -c "./mnc examples/two_concat.mn --prefix zz -o $WORK/zz.c && grep -q 'void zz_init(zz \*m' $WORK/zz.h && ! grep -q two_concat_ $WORK/zz.c"
check "--prefix must be a C identifier (exit 2)" expect_status 2 ./mnc examples/two_concat.mn --prefix 9x -o "$WORK/p.c"
check "--batch sets the largest batch" bash -c "./mnc examples/two_concat.mn --batch 256 -o $WORK/b256.c && grep -qE 'TWO_CONCAT_BATCH +256 ' $WORK/b256.h"
check "--batch 0 is a usage error (exit 2)" expect_status 2 ./mnc examples/two_concat.mn --batch 0 -o "$WORK/b0.c"
check "--emit=ir prints the IR" bash -c "./mnc examples/two_concat.mn --emit=ir | grep -q 'linear %0, %3, %4 act=relu'"
check "an unwritable output exits 2 and leaves nothing" bash -c "./mnc examples/two_concat.mn -o $WORK/missing-dir/x.c; [ \$? = 2 ] && [ ! -e $WORK/missing-dir ]"
