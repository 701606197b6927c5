#!/bin/sh
# prepare.sh DATA OUTDIR — the demo's data, from scikit-learn's
# breast_cancer.csv (see data/README.md), as the trainer's CSV files:
#   OUTDIR/train.csv  4 of every 5 samples (those whose 0-based index is not 4 mod 5)
#   OUTDIR/test.csv   the rest (113 samples), held out until the end
# Columns mean_0..mean_9, error_0..error_9, worst_0..worst_9 (the features,
# each standardised with the mean and the standard deviation of the
# training part) and benign (the class: 1 benign, 0 malignant).
set -eu
data=$1
out=$2
mkdir -p "$out"
awk -F, -v out="$out" '
NR == 1 { next }                       # scikit-learn line: 569,30,malignant,benign
{
    i = NR - 2
    test[i] = (i % 5 == 4)
    for (c = 1; c <= 31; c++) v[i, c] = $c
    n = i + 1
    if (!test[i]) {
        ntrain++
        for (c = 1; c <= 30; c++) { s[c] += $c; ss[c] += $c * $c }
    }
}
END {
    head = ""
    split("mean error worst", group, " ")
    for (c = 1; c <= 30; c++) {
        mu[c] = s[c] / ntrain
        var = ss[c] / ntrain - mu[c] * mu[c]
        sd[c] = var > 0 ? sqrt(var) : 1
        head = head group[int((c - 1) / 10) + 1] "_" ((c - 1) % 10) ","
    }
    head = head "benign"
    print head > (out "/train.csv")
    print head > (out "/test.csv")
    for (i = 0; i < n; i++) {
        line = ""
        for (c = 1; c <= 30; c++) line = line sprintf("%.6g", (v[i, c] - mu[c]) / sd[c]) ","
        line = line v[i, 31]
        print line > (out "/" (test[i] ? "test" : "train") ".csv")
    }
}' "$data"
