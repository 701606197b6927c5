# install: make install and uninstall into scratch prefixes, pkg-config,
# examples/integration (make and CMake) built outside the tree against the
# installation, and the man page.

# make install into a scratch prefix; every build below runs outside the
# source tree, in a temporary directory, against what was installed only.
INST=$(cd "$WORK" && pwd)/install
OUTSIDE=$(mktemp -d)
PCENV="PKG_CONFIG_PATH=$INST/lib/pkgconfig"
check "make install PREFIX=... installs mnc, libmnrt.a/.so (soname links), headers, mnrt.pc, mnc.1" bash -c "
    make --no-print-directory -s BUILD=$BUILD install PREFIX=$INST &&
    for f in bin/mnc lib/libmnrt.a lib/libmnrt.so lib/libmnrt.so.0 include/mn_runtime.h include/mn_math.h \
             lib/pkgconfig/mnrt.pc share/man/man1/mnc.1; do [ -e $INST/\$f ] || { echo \"missing \$f\"; exit 1; }; done &&
    [ -x $INST/bin/mnc ] && [ -L $INST/lib/libmnrt.so ] &&
    readelf -d $INST/lib/libmnrt.so | grep -q 'SONAME.*\[libmnrt\.so\.0\]' &&
    readelf -d $INST/lib/libmnrt.so | grep -q 'NEEDED.*libopenblas'"
check "make install DESTDIR=... stages under DESTDIR, make uninstall removes every file" bash -c "
    stage=$WORK/stage && make --no-print-directory -s BUILD=$BUILD install DESTDIR=\$stage PREFIX=/opt/mnc &&
    [ -x \$stage/opt/mnc/bin/mnc ] && grep -qx 'prefix=/opt/mnc' \$stage/opt/mnc/lib/pkgconfig/mnrt.pc &&
    make --no-print-directory -s BUILD=$BUILD uninstall DESTDIR=\$stage PREFIX=/opt/mnc &&
    left=\$(find \$stage ! -type d) && { [ -z \"\$left\" ] || { echo \"left behind: \$left\"; exit 1; }; }"
check "the installed mnc --help exits 0; --version is mnc's" bash -c "
    $INST/bin/mnc --help | grep -q 'usage: mnc FILE.mn' && [ \"\$($INST/bin/mnc --version)\" = \"\$(./mnc --version)\" ]"
check_shown "pkg-config --libs mnrt: -lmnrt, OpenBLAS, -lm, -pthread; --static too; version is mnc's" bash -c "
    export $PCENV && libs=\$(pkg-config --libs mnrt) && static=\$(pkg-config --static --libs mnrt) &&
    for w in -lmnrt -lopenblas -lm -pthread; do
        case \" \$libs \" in *\" \$w \"*) ;; *) echo \"--libs lacks \$w: \$libs\"; exit 1;; esac; done &&
    case \" \$static \" in *' -lmnrt '*' -lopenblas '*) ;; *) echo \"--static --libs: \$static\"; exit 1;; esac &&
    [ \"mnc \$(pkg-config --modversion mnrt)\" = \"\$(./mnc --version)\" ] && echo \"\$libs\""
# The acceptance test as written: a two-line Makefile outside the tree.
mkdir -p "$OUTSIDE/twoline"
printf '%s\n' '#include <stdio.h>' '#include "model.h"' 'static model m;' \
    'int main(void) { model_init(&m, 1); printf("%d weights\n", MODEL_NUM_PARAMS); return 0; }' >"$OUTSIDE/twoline/main.c"
printf 'main: main.c model.c\n\t$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -O2 $^ $$(pkg-config --cflags --libs mnrt) -o $@\n' \
    >"$OUTSIDE/twoline/Makefile"
check_shown "a two-line Makefile builds a generated model with pkg-config (shared runtime)" bash -c "
    export $PCENV && cd $OUTSIDE/twoline && [ \$(wc -l <Makefile) = 2 ] &&
    $INST/bin/mnc $PWD/examples/two_concat.mn --prefix model -o model.c && make -s &&
    ldd ./main | grep -q 'libmnrt\.so\.0' && LD_LIBRARY_PATH=$INST/lib ./main"
check_shown "the same model linked statically: cc -static ... \$(pkg-config --static --cflags --libs mnrt)" bash -c "
    export $PCENV && cd $OUTSIDE/twoline &&
    cc -static -std=c99 -Wall -Wextra -Werror -pedantic -O2 main.c model.c \$(pkg-config --static --cflags --libs mnrt) -o main_static &&
    ! readelf -d main_static | grep -q NEEDED && ./main_static"
# The projects build ../main.c and the examples' own models (../../*.mn):
# they are copied out with that layout.
EXT=$OUTSIDE/examples
mkdir -p "$EXT" && cp examples/two_concat.mn examples/num_cat.mn "$EXT"/ && cp -r examples/integration "$EXT"/
rm -rf "$EXT/integration/make/gen" "$EXT/integration/make/two_models" "$EXT/integration/make/"*.o "$EXT/integration/cmake/build"
check_shown "integration/make: mnc as a build step, two models in one program, built and run" bash -c "
    export $PCENV && make -C $EXT/integration/make --no-print-directory MNC=$INST/bin/mnc check"
check "integration/make: touching a .mn reruns mnc on it (and only it), then all is up to date" bash -c "
    export $PCENV && cd $EXT/integration/make && make --no-print-directory MNC=$INST/bin/mnc | grep -q 'Nothing to be done' &&
    touch ../../two_concat.mn && make --no-print-directory MNC=$INST/bin/mnc >rebuild.log &&
    grep -q 'mnc ../../two_concat.mn -o gen/two_concat.c' rebuild.log && ! grep -q 'num_cat.mn' rebuild.log &&
    make -q MNC=$INST/bin/mnc && ./two_models >/dev/null"
if command -v cmake >/dev/null; then
    check_shown "integration/cmake: pkg_check_modules(mnrt), mnc found beside it, two models built and run" bash -c "
        export $PCENV && cd $EXT/integration/cmake && cmake -S . -B build >configure.log &&
        grep -qF 'mnc: $INST/bin/mnc;' configure.log && cmake --build build >/dev/null &&
        (cd build && ctest --output-on-failure >/dev/null) && ./build/two_models"
    check "integration/cmake: touching a .mn reruns mnc on it (and only it)" bash -c "
        export $PCENV && cd $EXT/integration/cmake && touch ../../num_cat.mn && cmake --build build >rebuild.log &&
        grep -q 'mnc num_cat.mn' rebuild.log && ! grep -q 'mnc two_concat.mn' rebuild.log && ./build/two_models >/dev/null"
else
    LOG=/dev/null fail "integration/cmake: cmake is not installed (make deps installs it)"
fi
check "docs/mnc.1: groff -man -ww renders it without a warning" bash -c "
    groff -man -Tutf8 -ww -z docs/mnc.1 2>$WORK/groff.err; [ ! -s $WORK/groff.err ] || { cat $WORK/groff.err; exit 1; }"
check "man -l docs/mnc.1 (and the installed page) renders NAME...SEE ALSO, no warning" bash -c "
    for page in docs/mnc.1 $INST/share/man/man1/mnc.1; do
        MANWIDTH=80 man --warnings -l \$page >$WORK/man.txt 2>$WORK/man.err || exit 1
        [ ! -s $WORK/man.err ] || { cat $WORK/man.err; exit 1; }
        for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' FILES EXAMPLES 'SEE ALSO'; do
            grep -q \"^\$s\" $WORK/man.txt || { echo \"no \$s section\"; exit 1; }; done; done"
check "mnc.1 documents every option and --emit kind of mnc --help, and mnc's version" bash -c "
    MANWIDTH=200 man -l docs/mnc.1 >$WORK/man.txt 2>/dev/null &&
    for o in \$(./mnc --help | grep -oE '^  -[-a-zA-Z]+'); do
        grep -qe \"\$o\" $WORK/man.txt || { echo \"mnc.1 does not mention \$o\"; exit 1; }; done &&
    for k in \$(./mnc --help | grep -oE '^  --emit=[a-z]+' | cut -d= -f2); do
        grep -qE \"^ +\$k( |\\\$)\" $WORK/man.txt || { echo \"mnc.1 does not list --emit=\$k\"; exit 1; }; done &&
    grep -qF \"\$(./mnc --version)\" $WORK/man.txt"
rm -rf "$OUTSIDE"
