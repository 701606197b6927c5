#!/usr/bin/env bash
# golden.sh check|update EXAMPLE.mn... — the snapshots of the generated C.
#   check:  regenerate every example into a temporary folder and diff it
#           against generated/; exit 1 on any difference.
#   update: accept what mnc emits now into generated/.
set -u
mode=$1; shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for mn in "$@"; do
    name=$(basename "$mn" .mn)
    if ! ./mnc "$mn" -o "$tmp/$name.c" 2>"$tmp/stderr"; then
        echo "golden: mnc failed on $mn:"
        cat "$tmp/stderr"
        status=1
        continue
    fi
    for ext in c h; do
        if [ "$mode" = update ]; then
            mkdir -p generated
            cp "$tmp/$name.$ext" "generated/$name.$ext"
        elif ! diff -u "generated/$name.$ext" "$tmp/$name.$ext" >"$tmp/diff" 2>&1; then
            echo "golden: generated/$name.$ext differs from what mnc emits now:"
            head -n 40 "$tmp/diff"
            status=1
        fi
    done
done
if [ "$mode" = update ]; then
    # snapshots of examples that no longer exist
    for f in generated/*.c; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .c)
        [ -e "examples/$name.mn" ] || rm -f "generated/$name.c" "generated/$name.h"
    done
    echo "golden: generated/ updated ($# examples)"
elif [ $status = 0 ]; then
    echo "golden: $# examples match generated/"
fi
exit $status
