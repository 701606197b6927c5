#!/usr/bin/env bash
# run_tests.sh — every test of mnc, counted. `make test` runs it after
# building ./mnc, the runtime, the CUnit suites, the sanitized mnc and the
# fuzzers.
#
#   tests/run_tests.sh                   every section, in the order below
#   tests/run_tests.sh SECTION [MODEL]   one section; MODEL (a name such as
#                                        two_concat, or a path such as
#                                        tests/ops/op_relu.mn) restricts its
#                                        per-model loops to that model
#   tests/run_tests.sh all MODEL         the sections with MODEL in their loops
#   tests/run_tests.sh --list            the sections, one line each
#
# Every check prints one line (ok / FAIL and what it checked). The CUnit
# suites print their own summaries; each CUnit test counts as one check.
# The last line is "N passed, M failed"; the exit status is 1 if any failed,
# 2 on a usage error.
#
# Each section is a file, tests/sections/NAME.sh, sourced here with the
# helpers below (check, check_shown, pass, fail, section_models,
# model_selected, gen_model) and $BUILD, $WORK, $LOG, $GEN_CFLAGS, $SAN,
# $LIBS, $CLANG, $ASAN_MNC. A section makes every input it reads, under
# $WORK (emptied at every start): none reads what another one made.
set -u
CALLER_DIR=$PWD
cd "$(dirname "$0")/.."
# Every mnc run of the tests verifies the IR after each pass (ir_verify,
# plan_verify): an internal inconsistency aborts mnc, and its check fails.
export MNC_VERIFY=${MNC_VERIFY-1}

# ---- the sections, in the order a full run takes them -----------------------------------------
# add_section NAME 'MODELS' TITLE: MODELS are the files of the section's
# per-model loops (globs; what MODEL picks from; '' when it has none), TITLE
# its header and its line in --list.
SECTION_NAMES=()
declare -A SECTION_MODELS SECTION_TITLE
add_section() { SECTION_NAMES+=("$1"); SECTION_MODELS[$1]=$2; SECTION_TITLE[$1]=$3; }
add_section cunit 'tests/unit/test_*.c' \
    "CUnit suites"
add_section cli '' \
    "command line"
add_section dump '' \
    "between the passes: mnc --dump=PASS, MNC_VERIFY=1"
add_section summary '' \
    "looking at a model: --emit=summary (Keras's table and counts), --emit=dot (Graphviz)"
add_section sanitizers 'examples/*.mn examples/errors/*.mn tests/ops/*.mn tests/diagnostics/*.mn' \
    "the compiler under clang and under the sanitizers"
add_section diagnostics 'examples/errors/*.mn tests/diagnostics/*.mn' \
    "diagnostics (examples/errors/*.mn against their .expected text)"
add_section snapshots 'examples/*.mn tests/ops/*.mn' \
    "generated C: snapshots, determinism, warnings"
add_section gradcheck 'examples/*.mn tests/ops/*.mn' \
    "gradient check (double precision, finite differences, rel. error < 1e-6)"
add_section training 'examples/*.mn' \
    "training (loss on a learnable synthetic task falls to half or less)"
add_section optimizer 'examples/*.mn tests/ops/opt_*.mn' \
    "optimizer steps against their formula (float and double)"
add_section repro 'examples/*.mn tests/ops/op_norm_dropout.mn' \
    "reproducible training, deterministic inference"
add_section gradready 'examples/*.mn tests/ops/*.mn' \
    "compute_gradients_ready: each weight's gradient reported once, final, in grad_order"
add_section noalloc 'examples/*.mn' \
    "no heap allocation in train_step, evaluate and predict, on 1 and 2 threads"
add_section conformance 'examples/*.mn tests/conformance/cases/*.mn' \
    "conformance: outputs, loss, gradients, 5 Adam steps against the PyTorch goldens"
add_section saveload 'examples/*.mn' \
    "save and load (bit-exact round trip; bad files refused, model untouched)"
add_section trainer '' \
    "the generated trainer (mnc --emit trainer): CSV data, checks, checkpoint and resume, determinism"
add_section mpi '' \
    "data-parallel training over Open MPI: the weights of one process, the trainer on 1 and 2 ranks, no MPI without it"
add_section bench-smoke '' \
    "benchmark smoke (make bench's programs: two_concat, batch 32, 1 thread, 3 steps)"
add_section install '' \
    "make install, pkg-config, examples/integration/ (make and CMake, two models), man page"
add_section hostile '' \
    "hostile input: what once crashed, stalled or exhausted mnc (issue 13)"
add_section fuzz-replay '' \
    "fuzzing corpus replay (tests/fuzz: every seed and past crasher, ASan + UBSan)"
add_section valgrind '' \
    "valgrind (memcheck): the CUnit suites and a generated model's train, predict, save, load"

# ---- the command line --------------------------------------------------------------------------
list_sections() {
    local name
    for name in "${SECTION_NAMES[@]}"; do printf '%-12s %s\n' "$name" "${SECTION_TITLE[$name]}"; done
}
print_usage() {
    echo "usage: tests/run_tests.sh [SECTION|all [MODEL]] | --list"
    echo "MODEL: a model's name (two_concat) or path (tests/ops/op_relu.mn), or for cunit"
    echo "a suite (parser); it restricts the section's per-model loops to that model."
    echo "sections:"
    list_sections | sed 's/^/  /'
}
usage() { echo "run_tests.sh: $1" >&2; print_usage >&2; exit 2; } # a usage error

MODEL=
MODEL_PATH=
case ${1:-} in
--list) [ $# = 1 ] || usage "--list takes no argument"; list_sections; exit 0 ;;
-h | --help) [ $# = 1 ] || usage "--help takes no argument"; print_usage; exit 0 ;;
esac
[ $# -le 2 ] || usage "too many arguments: $*"
RUN=("${SECTION_NAMES[@]}")
if [ $# -ge 1 ]; then
    if [ "$1" != all ]; then
        [ -n "${SECTION_TITLE[$1]+set}" ] || usage "no section '$1'"
        RUN=("$1")
    fi
    if [ $# = 2 ]; then
        MODEL=$2
        [ -n "$MODEL" ] || usage "an empty MODEL"
        # a path names one file, from where the script was called
        case $MODEL in */* | *.mn | *.c) MODEL_PATH=$(cd "$CALLER_DIR" && realpath -m -- "$MODEL") ;; esac
    fi
fi

# model_selected FILE: FILE is what MODEL names (a path: that file; a name:
# FILE's name without its extension, or without test_ too); every FILE is
# without MODEL.
model_selected() {
    [ -n "$MODEL" ] || return 0
    if [ -n "$MODEL_PATH" ]; then
        [ "$(realpath -m -- "$1")" = "$MODEL_PATH" ]
    else
        local b=${1##*/}
        b=${b%.*}
        [ "$b" = "$MODEL" ] || [ "$b" = "test_$MODEL" ]
    fi
}
# section_models [SECTION]: the files of SECTION's per-model loops (by default
# the section running), one a line, restricted to MODEL. A glob that matches
# nothing gives nothing; a plain path is kept even when missing, so its
# checks fail.
section_models() {
    local pat f pats
    read -ra pats <<<"${SECTION_MODELS[${1:-$CURRENT_SECTION}]}"
    for pat in "${pats[@]}"; do
        for f in $pat; do
            if [ -e "$f" ] || [[ $pat != *[*?[]* ]]; then
                model_selected "$f" && echo "$f"
            fi
        done
    done
    return 0
}
if [ -n "$MODEL" ]; then
    matched=()
    for name in "${RUN[@]}"; do
        [ -n "$(section_models "$name")" ] && matched+=("$name")
    done
    if [ ${#matched[@]} = 0 ]; then
        if [ ${#RUN[@]} = 1 ] && [ -z "${SECTION_MODELS[${RUN[0]}]}" ]; then
            usage "section ${RUN[0]} has no per-model checks: run it without a MODEL"
        elif [ ${#RUN[@]} = 1 ]; then
            usage "no model '$MODEL' in section ${RUN[0]} (its models: ${SECTION_MODELS[${RUN[0]}]})"
        else
            usage "no model '$MODEL' in any section"
        fi
    fi
    RUN=("${matched[@]}")
fi

# ---- the helpers -------------------------------------------------------------------------------
BUILD=${BUILD:-build}
WORK=$BUILD/tests
rm -rf "$WORK"
mkdir -p "$WORK"
PASSED=0
FAILED=0
FAILED_NAMES=()
LOG=$WORK/last.log

GEN_CFLAGS="-std=c99 -Wall -Wextra -Werror -pedantic"
# The harnesses run the generated code under the sanitizers.
SAN="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
LIBS="$BUILD/libmnrt.a -lopenblas -lm"
CLANG=$(command -v clang || true)
ASAN_MNC=$BUILD/asan/mnc

pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
    echo "FAIL $1"
    [ -s "$LOG" ] && sed 's/^/     | /' "$LOG" | tail -n 25
}
# check NAME COMMAND...: one check, passing when COMMAND exits 0.
check() {
    local name=$1
    shift
    if "$@" >"$LOG" 2>&1; then pass "$name"; else fail "$name"; fi
}
# check_shown NAME COMMAND...: as check, and prints the command's last line.
check_shown() {
    local name=$1
    shift
    if "$@" >"$LOG" 2>&1; then pass "$name: $(tail -n 1 "$LOG")"; else fail "$name"; fi
}
section() { echo; echo "== $1"; }

# gen_model MODEL.mn DIR KIND...: the generated code of MODEL.mn (--prefix m)
# in DIR/KIND/m.c and m.h, for each KIND (a: float; f64: --dtype f64), unless
# it is there already: whichever section needs it first makes it. Exported:
# checks call it in their bash -c, so mnc's errors land in the check's log.
gen_model() {
    local mn=$1 dir=$2 kind
    shift 2
    for kind in "$@"; do
        [ -s "$dir/$kind/m.c" ] && [ -s "$dir/$kind/m.h" ] && continue
        mkdir -p "$dir/$kind"
        case $kind in
        a) ./mnc "$mn" -o "$dir/a/m.c" --prefix m || return 1 ;;
        f64) ./mnc "$mn" --dtype f64 --prefix m -o "$dir/f64/m.c" || return 1 ;;
        *) echo "gen_model: unknown kind $kind"; return 1 ;;
        esac
    done
}
export -f gen_model

# ---- the run -----------------------------------------------------------------------------------
for CURRENT_SECTION in "${RUN[@]}"; do
    LOG=$WORK/last.log
    section "${SECTION_TITLE[$CURRENT_SECTION]} [$CURRENT_SECTION${MODEL:+ $MODEL}]"
    . "tests/sections/$CURRENT_SECTION.sh"
done

# ---- summary ------------------------------------------------------------------------------------
echo
if [ $FAILED != 0 ]; then
    echo "failed checks:"
    printf '  %s\n' "${FAILED_NAMES[@]}"
fi
echo "$PASSED passed, $FAILED failed"
[ $FAILED = 0 ]
