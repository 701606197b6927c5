# sanitizers: mnc and the runtime built with clang -Werror ($BUILD/clang),
# and every model through the sanitized mnc ($BUILD/asan/mnc): no finding,
# the output and exit status of ./mnc.

if [ -n "$CLANG" ]; then
    check "mnc and the runtime build warning-free with clang -Wall -Wextra -Werror" \
        make --no-print-directory -j2 CC=clang BUILD="$BUILD/clang" MNC="$BUILD/clang/mnc" "$BUILD/clang/mnc" "$BUILD/clang/libmnrt.a"
fi
if [ -x "$ASAN_MNC" ]; then
    # Same output as ./mnc, same exit status, and no finding (a finding aborts
    # with status 1 and a report, which the comparison turns into a failure).
    for mn in $(section_models); do
        name=$(basename "$mn" .mn)
        d=$WORK/asan/$name
        mkdir -p "$d/plain" "$d/asan"
        check "$name through mnc under ASan/UBSan: no finding, same output" bash -c "
            ./mnc $mn -o $d/plain/m.c >$d/plain.out 2>&1; want=\$?
            $ASAN_MNC $mn -o $d/asan/m.c >$d/asan.out 2>&1; got=\$?
            [ \$want = \$got ] || { echo \"exit \$got under the sanitizers, \$want without\"; cat $d/asan.out; exit 1; }
            cmp $d/plain.out $d/asan.out || exit 1
            [ \$want != 0 ] || { cmp $d/plain/m.c $d/asan/m.c && cmp $d/plain/m.h $d/asan/m.h; }"
    done
else
    LOG=/dev/null fail "the sanitized compiler $ASAN_MNC was not built"
fi
