# summary: --emit summary (Keras's table, its parameter counts by Keras's
# formulas, against tests/summary/*.summary) and --emit dot (Graphviz),
# also under the sanitized mnc. The summaries are made under $WORK/summary.

SUMD=$WORK/summary
mkdir -p "$SUMD"
# has_row FILE "LAYER (Type)" SHAPE COUNT: the summary FILE has that row, with
# that output shape and parameter count (columns are 3 or more spaces apart).
has_row() {
    awk -F '   +' -v l="$2" -v s="$3" -v c="$4" '$1 == l && $2 == s && $3 == c { found = 1 }
        END { if (!found) print "no row \"" l "  " s "  " c "\""; exit !found }' "$1"
}
# table_rows FILE: the number of layers (rows) in the summary FILE.
table_rows() { awk '/^=+$/ { n++; next } n == 1 && !/^ / { rows++ } END { print rows + 0 }' "$1"; }
for mn in examples/text_category.mn examples/conv_bias.mn examples/shared_layer.mn \
          tests/conformance/cases/norm_layers.mn tests/conformance/cases/rnn_gru.mn tests/conformance/cases/conv1d.mn \
          tests/summary/rows.mn; do
    ./mnc "$mn" --emit summary >"$SUMD/$(basename "$mn" .mn).txt" 2>/dev/null
done
TC=$SUMD/text_category.txt
# Keras's formulas: Embedding vocab*dim; Bidirectional(LSTM(u)) on d features
# 2*(4u(d+u) + 4u); Dense d*u + u; Conv2D kh*kw*c*f + f; BatchNormalization
# 4C of which 2C (the moving statistics) not trainable; GRU (reset_after)
# 3u(d+u) + 6u; Conv1D k*c*f + f (k*c*f without a bias).
check "summary of text_category: Total params: 1,379,329 (Keras's), all trainable" bash -c "
    grep -qx 'Total params: 1,379,329' $TC && grep -qx 'Trainable params: 1,379,329' $TC &&
    grep -qx 'Non-trainable params: 0' $TC"
check "summary of text_category: embedding 10000*128 = 1,280,000" has_row "$TC" "embedding (Embedding)" "(None, 200, 128)" 1,280,000
check "summary of text_category: bidirectional(lstm(64)) on 128 = 2*(4*64*(128+64) + 4*64) = 98,816" \
    has_row "$TC" "bidirectional (Bidirectional)" "(None, 128)" 98,816
check "summary of text_category: embedding_1 5*64 = 320" has_row "$TC" "embedding_1 (Embedding)" "(None, 1, 64)" 320
check "summary of text_category: dense(1) on 192 = 193" has_row "$TC" "dense (Dense)" "(None, 1)" 193
check "summary of text_category matches tests/summary/text_category.summary (but the arena)" bash -c "
    grep -v '^Arena: ' $TC | diff -u tests/summary/text_category.summary -"
check "summary of shared_layer: the shared layer is one row with both applications" bash -c "
    grep -v '^Arena: ' $SUMD/shared_layer.txt | diff -u tests/summary/shared_layer.summary -"
check "summary of tests/summary/rows.mn matches rows.summary (shared layers, casts, operators, a layer in the loss)" bash -c "
    grep -v '^Arena: ' $SUMD/rows.txt | diff -u tests/summary/rows.summary -"
check "summary of conv_bias: conv2d 3*3*3*32 + 32 = 896, dense 32768*10 + 10 = 327,690, param 32; total 328,618" bash -c "
    $(declare -f has_row); has_row $SUMD/conv_bias.txt 'conv2d (Conv2D)' '(None, 32, 32, 32)' 896 &&
    has_row $SUMD/conv_bias.txt 'dense (Dense)' '(None, 10)' 327,690 &&
    has_row $SUMD/conv_bias.txt 'channel_bias (Variable)' '(32,)' 32 && grep -qx 'Total params: 328,618' $SUMD/conv_bias.txt"
check "summary of norm_layers: batchnorm over 5 = 4*5 = 20, of which 2*5 not trainable; layernorm 2*4 = 8" bash -c "
    $(declare -f has_row); has_row $SUMD/norm_layers.txt 'batchnorm (BatchNormalization)' '(None, 5)' 20 &&
    has_row $SUMD/norm_layers.txt 'layernorm (LayerNormalization)' '(None, 4)' 8 &&
    grep -qx 'Total params: 97' $SUMD/norm_layers.txt && grep -qx 'Non-trainable params: 10' $SUMD/norm_layers.txt &&
    ./mnc tests/conformance/cases/norm_layers.mn --emit dot | grep -qF 'batchnorm()\\n20 params (10 not trainable)\"'"
check "summary of rnn_gru: gru(4) on 3 = 3*4*(3+4) + 6*4 = 108, on 4 = 120" bash -c "
    $(declare -f has_row); has_row $SUMD/rnn_gru.txt 'gru (GRU)' '(None, 5, 4)' 108 &&
    has_row $SUMD/rnn_gru.txt 'gru_1 (GRU)' '(None, 4)' 120"
check "summary of conv1d: conv1d(6, 3) on 3 = 3*3*6 + 6 = 60, conv1d(4, 2) on 6 = 2*6*4 + 4 = 52, use_bias=false 4*3*4 = 48, 3*3*2 + 2 = 20; total 279" bash -c "
    $(declare -f has_row); has_row $SUMD/conv1d.txt 'conv1d (Conv1D)' '(None, 7, 6)' 60 &&
    has_row $SUMD/conv1d.txt 'conv1d_1 (Conv1D)' '(None, 4, 4)' 52 &&
    has_row $SUMD/conv1d.txt 'conv1d_2 (Conv1D)' '(None, 5, 4)' 48 &&
    has_row $SUMD/conv1d.txt 'conv1d_3 (Conv1D)' '(None, 4, 2)' 20 && grep -qx 'Total params: 279' $SUMD/conv1d.txt"
check "summary: weights and arena bytes are the header's NUM_PARAMS and ARENA_SIZE (--dtype f64 --batch 64: 8 bytes)" bash -c "
    ./mnc examples/text_category.mn --dtype f64 --batch 64 -o $SUMD/tc64.c &&
    ./mnc examples/text_category.mn --emit summary --dtype f64 --batch 64 >$SUMD/tc64.txt &&
    params=\$(awk '\$2 ~ /_NUM_PARAMS\$/ { print \$3 }' $SUMD/tc64.h) && arena=\$(awk '\$2 ~ /_ARENA_SIZE\$/ { print \$3 }' $SUMD/tc64.h) &&
    weights=\$(sed -n 's/^Weights: \([0-9,]*\) bytes.*/\1/p' $SUMD/tc64.txt | tr -d ,) &&
    bytes=\$(sed -n 's/^Arena: \([0-9,]*\) bytes.*batch 64:.*/\1/p' $SUMD/tc64.txt | tr -d ,) &&
    echo \"weights \$weights, params \$params; arena \$bytes, elements \$arena\" &&
    [ -n \"\$arena\" ] && [ \"\$weights\" = \$((params * 8)) ] && [ \"\$bytes\" = \$((arena * 8)) ]"
check "summary and dot: two runs give byte-identical output (every example)" bash -c "
    for mn in examples/*.mn; do for k in summary dot; do
        ./mnc \$mn --emit \$k >$SUMD/a.out 2>/dev/null && ./mnc \$mn --emit=\$k >$SUMD/b.out 2>/dev/null &&
        [ -s $SUMD/a.out ] && cmp $SUMD/a.out $SUMD/b.out || { echo \"\$mn --emit \$k\"; exit 1; }
    done; done"
check "dot: one node per layer (as many n<id> nodes as summary rows; text_category 8)" bash -c "
    $(declare -f table_rows); for mn in examples/*.mn tests/conformance/cases/*.mn tests/summary/*.mn; do
        ./mnc \$mn --emit summary >$SUMD/n.txt 2>/dev/null && ./mnc \$mn --emit dot >$SUMD/n.dot 2>/dev/null || exit 1
        rows=\$(table_rows $SUMD/n.txt); nodes=\$(grep -cE '^  n[0-9]+ \\[' $SUMD/n.dot)
        [ \$rows -gt 0 ] && [ \$rows = \$nodes ] || { echo \"\$mn: \$rows rows, \$nodes nodes\"; exit 1; }
        case \$mn in */text_category.mn) [ \$nodes = 8 ] || { echo \"text_category: \$nodes nodes\"; exit 1; };; esac
    done"
check "dot of text_category: inputs (ellipse), layers, the output and the loss marked, edges labelled with shapes" bash -c "
    ./mnc examples/text_category.mn --emit dot >$SUMD/tc.dot &&
    head -n 1 $SUMD/tc.dot | grep -qx 'digraph \"text_category\" {' &&
    [ \$(grep -c 'shape=ellipse, fillcolor' $SUMD/tc.dot) = 2 ] && grep -q 'output y\", fillcolor=.*peripheries=2' $SUMD/tc.dot &&
    grep -q '^  loss \[label=\"loss' $SUMD/tc.dot && grep -q '^  n3 -> n4 \[label=\"(None, 200, 128)\"\];' $SUMD/tc.dot"
if command -v dot >/dev/null; then
    check "dot -Tsvg parses --emit=dot of every example and conformance model" bash -c "
        for mn in examples/*.mn tests/conformance/cases/*.mn tests/summary/*.mn; do
            ./mnc \$mn --emit dot 2>/dev/null | dot -Tsvg >$SUMD/g.svg && grep -q '<svg' $SUMD/g.svg || { echo \$mn; exit 1; }
        done"
    check "mnc --emit dot | dot -Tpng renders text_category" bash -c "
        ./mnc examples/text_category.mn --emit dot | dot -Tpng -o $SUMD/tc.png && head -c 8 $SUMD/tc.png | od -An -c | grep -q 'P   N   G'"
else
    echo "skip dot -Tsvg / -Tpng checks: Graphviz's dot is not installed (apt-get install graphviz)"
fi
check "--emit summary/dot of a broken model: exit 1, nothing on stdout, no -o file" bash -c "
    for mn in examples/errors/*.mn; do
        ./mnc \$mn --emit summary >$SUMD/err.out 2>/dev/null; s=\$?
        [ \$s = 1 ] && [ ! -s $SUMD/err.out ] || { echo \"\$mn: exit \$s, stdout \$(wc -c <$SUMD/err.out) bytes\"; exit 1; }
        ./mnc \$mn --emit=dot -o $SUMD/err.dot 2>/dev/null; s=\$?
        [ \$s = 1 ] && [ ! -e $SUMD/err.dot ] || { echo \"\$mn --emit=dot -o: exit \$s\"; exit 1; }
    done"
check "--emit summary -o FILE writes what standard output gets; an unwritable -o exits 2" bash -c "
    ./mnc examples/text_category.mn --emit summary -o $SUMD/o.txt >$SUMD/o.stdout && [ ! -s $SUMD/o.stdout ] &&
    cmp $SUMD/o.txt $TC && ./mnc examples/text_category.mn --emit=dot -o $SUMD/missing-dir/g.dot; [ \$? = 2 ] && [ ! -e $SUMD/missing-dir ]"
check "--emit without a kind, or an unknown kind, is a usage error (exit 2)" bash -c "
    ./mnc examples/two_concat.mn --emit 2>/dev/null; [ \$? = 2 ] && ./mnc examples/two_concat.mn --emit=png 2>/dev/null; [ \$? = 2 ]"
if [ -x "$BUILD/asan/mnc" ]; then
    # (tests/ops/ through the table only: the graph is the same view, printed otherwise)
    check "summary and dot of every model under ASan/UBSan: no finding, same output" bash -c "
        for mn in examples/*.mn examples/errors/*.mn tests/conformance/cases/*.mn tests/summary/*.mn tests/ops/*.mn; do
            kinds='summary dot'; case \$mn in tests/ops/*) kinds=summary;; esac
            for k in \$kinds; do
                ./mnc \$mn --emit \$k >$SUMD/p.out 2>&1; want=\$?
                $BUILD/asan/mnc \$mn --emit \$k >$SUMD/s.out 2>&1; got=\$?
                [ \$want = \$got ] && cmp $SUMD/p.out $SUMD/s.out ||
                    { echo \"\$mn --emit \$k: exit \$got, \$want without\"; cat $SUMD/s.out; exit 1; }
            done
        done"
else
    LOG=/dev/null fail "summary and dot under ASan: the sanitized compiler $BUILD/asan/mnc was not built"
fi
