#!/usr/bin/python3
"""The live conformance comparison: mnc's generated code against PyTorch.

For every case (examples/<case>.mn, and tests/conformance/cases/<case>.mn
for layers no seed model uses, each with a model in models.py):
  1. build/conformance/<case>/driver (make builds it: the generated model
     plus tests/conformance/driver.c) exports the initial weights and the
     fixed batch into exchange.safetensors;
  2. this script loads them by name, runs the PyTorch reference of the case
     (models.py): the outputs, the loss, the gradient of every weight, and
     the weights after 5 Keras-Adam steps on the same batch; it writes them
     into the same file's layout as reference.safetensors;
  3. the driver compares its own numbers with the reference's within
     tests/conformance/tolerances.h and names every tensor it checks.
With --update the reference files become the goldens in tests/golden/
(and tests/golden/SHA256SUMS is rewritten), which `make test` checks
without PyTorch. The last line is "N passed, M failed" (one check per
tensor compared, plus one per case that could not run).
"""
import hashlib
import os
import subprocess
import sys

import numpy as np
import torch

import models
import st

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")


def run_reference(case, exchange, out_path):
    names, tensors, metadata = st.read(exchange)
    weights = [n[len("weights0.") :] for n in names if n.startswith("weights0.")]
    trainable = [w for w in weights if "grad." + w in tensors]
    P = {w: torch.tensor(tensors["weights0." + w]).requires_grad_(w in trainable) for w in weights}
    I = {n[len("input.") :]: torch.tensor(tensors[n]) for n in names if n.startswith("input.")}
    T = {n[len("target.") :]: torch.tensor(tensors[n]) for n in names if n.startswith("target.")}
    forward = models.CASES[case]

    if case in models.INFERENCE_OUTPUTS:  # predict runs in inference mode, before any training
        with torch.no_grad():
            predicted, _ = models.INFERENCE_OUTPUTS[case](P, I, T)
    outputs, loss = forward(P, I, T)
    if case not in models.INFERENCE_OUTPUTS:
        predicted = outputs
    loss.backward()
    result = dict(tensors)
    for name, value in predicted.items():
        result["output." + name] = value.detach().numpy()
    result["loss"] = np.array(loss.item(), dtype=np.float32)
    for metric, (output, target) in models.METRICS.get(case, {}).items():
        with torch.no_grad():
            result["metric." + metric] = models.keras_accuracy(outputs[output], T[target]).numpy()
    for w in trainable:
        result["grad." + w] = P[w].grad.detach().numpy().copy()

    kind, hyper = models.OPTIMIZERS[case]
    assert kind == "adam"
    opt = models.KerasAdam([P[w] for w in trainable], **hyper)
    for step in range(5):
        if step > 0:
            for w in trainable:
                P[w].grad = None
            _, loss = forward(P, I, T)
            loss.backward()
        opt.step()
    for w in weights:
        result["step5." + w] = P[w].detach().numpy()
    metadata = dict(metadata)
    metadata.update({"format": "mnc-conformance", "case": case, "reference": "PyTorch " + torch.__version__})
    st.write(out_path, names, result, metadata)


def main(argv):
    update = "--update" in argv
    extra = os.path.join(ROOT, "tests", "conformance", "cases")
    cases = [a for a in argv if not a.startswith("--")] or sorted(
        os.path.basename(f)[:-3]
        for d in (os.path.join(ROOT, "examples"), extra)
        for f in os.listdir(d)
        if f.endswith(".mn")
    )
    torch.set_num_threads(1)
    passed = failed = 0
    for case in cases:
        work = os.path.join(ROOT, BUILD, "conformance", case)
        if case not in models.CASES:
            print(f"FAIL {case}: no PyTorch reference model in tests/reference/models.py")
            failed += 1
            continue
        driver = os.path.join(work, "driver")
        build = subprocess.run(["make", "--no-print-directory", "-s", os.path.relpath(driver, ROOT)], cwd=ROOT,
                               capture_output=True, text=True)
        if build.returncode != 0:
            print(f"FAIL {case}: cannot build the driver\n{build.stdout}{build.stderr}")
            failed += 1
            continue
        exchange = os.path.join(work, "exchange.safetensors")
        reference = os.path.join(work, "reference.safetensors")
        subprocess.run([driver, "export", exchange], check=True)
        run_reference(case, exchange, reference)
        check = subprocess.run([driver, "check", reference, case], capture_output=True, text=True,
                               env=dict(os.environ, CONFORMANCE_VERBOSE="1"))
        sys.stdout.write(check.stdout)
        sys.stderr.write(check.stderr)
        for line in check.stdout.splitlines():
            if line.startswith("ok  "):
                passed += 1
            elif line.startswith("FAIL"):
                failed += 1
        if check.returncode != 0 and "FAIL" not in check.stdout:
            print(f"FAIL {case}: the driver exited {check.returncode}")
            failed += 1
        if update:
            golden = os.path.join(ROOT, "tests", "golden", case + ".safetensors")
            with open(reference, "rb") as src:
                data = src.read()
            with open(golden + ".tmp", "wb") as dst:
                dst.write(data)
            os.replace(golden + ".tmp", golden)
            print(f"     {case}: golden written to tests/golden/{case}.safetensors")
    if update:
        golden_dir = os.path.join(ROOT, "tests", "golden")
        lines = []
        for f in sorted(os.listdir(golden_dir)):
            if f.endswith(".safetensors"):
                with open(os.path.join(golden_dir, f), "rb") as fh:
                    lines.append(f"{hashlib.sha256(fh.read()).hexdigest()}  {f}\n")
        with open(os.path.join(golden_dir, "SHA256SUMS"), "w") as fh:
            fh.writelines(lines)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
