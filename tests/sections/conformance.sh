# conformance: each model's driver ($BUILD/conformance/MODEL/driver, built by
# make) against its committed PyTorch golden (tests/golden), also with
# MNRT_GEMM=blas; the goldens' checksums.

check "tests/golden/SHA256SUMS: the goldens are intact" bash -c "cd tests/golden && sha256sum --quiet -c SHA256SUMS"
for mn in $(section_models); do
    name=$(basename "$mn" .mn)
    golden=tests/golden/$name.safetensors
    if [ ! -e "$golden" ]; then
        LOG=/dev/null fail "$name conformance: no golden $golden (run make conformance UPDATE=1)"
        continue
    fi
    check_shown "$name conformance" bash -c "
        make --no-print-directory -s BUILD=$BUILD $BUILD/conformance/$name/driver >/dev/null &&
        $BUILD/conformance/$name/driver check $golden $name"
done

# The same on OpenBLAS alone: what processors without AVX-512 run (the
# runtime's kernel is the default where the processor has it).
for name in conv_bias image_text two_concat; do
    model_selected "examples/$name.mn" || continue
    check_shown "$name conformance with MNRT_GEMM=blas (OpenBLAS for every product)" bash -c "
        make --no-print-directory -s BUILD=$BUILD $BUILD/conformance/$name/driver >/dev/null &&
        MNRT_GEMM=blas $BUILD/conformance/$name/driver check tests/golden/$name.safetensors $name"
done
check "runtime unit suite with MNRT_GEMM=blas (mn_gemm's OpenBLAS path)" bash -c "
    cd $WORK && MNRT_GEMM=blas ../../$BUILD/test_runtime | grep -qE '^ +tests +[0-9]+ +[0-9]+ +[0-9]+ +0 '"
