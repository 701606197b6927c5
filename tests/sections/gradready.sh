# gradready: tests/harness/ready.c: compute_gradients_ready calls back once
# per trainable tensor, in m_grad_order's order, when its gradient is final
# (what data-parallel training overlaps its reduction with); gen_model.

for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    dir=$WORK/gen/$name
    check_shown "$name gradients ready" bash -c "
        gen_model $mn $dir a &&
        gcc $GEN_CFLAGS -O2 -Iruntime -Itests/harness -I$dir/a tests/harness/ready.c $dir/a/m.c $LIBS -o $dir/a/ready &&
        $dir/a/ready"
done
