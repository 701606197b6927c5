# valgrind: memcheck over the CUnit suites and over two_concat's generated
# code (train, predict, save, load). Made under $WORK/hostile.

HOST=$WORK/hostile
mkdir -p "$HOST"
VG="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --quiet"
for suite in lexer parser ir check passes data runtime; do
    check "valgrind: CUnit suite $suite, 0 errors" bash -c "
        cd $WORK && $VG ../../$BUILD/test_$suite >vg_$suite.out 2>vg_$suite.err; rc=\$?; cat vg_$suite.err | tail -20
        [ \$rc = 0 ] && grep -q 'Run Summary' vg_$suite.out"
done
cat >"$HOST/vg_main.c" <<'EOF'
/* two_concat: 3 train steps, predict, save, load into a second instance,
 * predict again: the same outputs (valgrind checks the memory) */
#include <stdio.h>
#include <string.h>
#include "m.h"
int main(int argc, char **argv) {
    static m a, b;
    static float x1[32 * 10], x2[32 * 5], t[32], y[32], y2[32];
    for (int i = 0; i < 32 * 10; i++) x1[i] = (float)(i % 7) / 7;
    for (int i = 0; i < 32 * 5; i++) x2[i] = (float)(i % 5) / 5;
    for (int i = 0; i < 32; i++) t[i] = (float)(i % 2);
    m_init(&a, 7);
    m_init(&b, 8);
    m_inputs in = {.input_1 = x1, .input_2 = x2};
    m_targets tg = {.label = t};
    for (int s = 0; s < 3; s++) m_train_step(&a, &in, &tg, 32);
    m_predict(&a, &in, 32, &(m_outputs){.y = y});
    if (argc < 2 || m_save(&a, argv[1]) || m_load(&b, argv[1])) return 1;
    m_predict(&b, &in, 32, &(m_outputs){.y = y2});
    if (memcmp(y, y2, sizeof y)) return 1;
    printf("ok: trained, predicted, saved, loaded, same outputs\n");
    return 0;
}
EOF
check_shown "valgrind: two_concat's generated code: train_step, predict, save, load, 0 errors" bash -c "
    mkdir -p $HOST/vg && ./mnc examples/two_concat.mn --prefix m -o $HOST/vg/m.c &&
    cc -std=c99 -O1 -g -Iruntime -I$HOST/vg $HOST/vg_main.c $HOST/vg/m.c $LIBS -pthread -o $HOST/vg/run &&
    $VG $HOST/vg/run $HOST/vg/w.safetensors"
