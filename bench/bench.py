#!/usr/bin/python3
"""make bench: mnc's generated code against PyTorch, side by side.

For every example (examples/*.mn) and examples/bench/big_mlp.mn, at batch
32 and 256, on 1 and 2 threads, on one fixed random batch:
  - mnc: ./mnc FILE --prefix m --batch B (compile time measured), the
    generated C built as the README says (cc -std=c99 -O2 -march=native,
    or $MNC_BENCH_CFLAGS instead of -O2 -march=native; linked with
    build/libmnrt.a -lopenblas -lm) with bench/bench.c, which times
    train_step and predict (median and p90 of individually timed steps after
    warm-up), counts heap calls per step, records the matrix products of
    one train_step (mn_gemm_f32, wrapped with -Wl,--wrap) and times them
    alone, on OpenBLAS's cblas_sgemm and on the runtime's mn_gemm_f32 (its
    AVX-512 kernel where the processor has one): "% of peak" is against
    the faster of the two, the achievable rate on the model's own shapes;
  - PyTorch (a subprocess of this script under LD_PRELOAD of
    bench/malloc_count.c): the conformance reference of the model
    (tests/reference/models.py) on the same weights and batch (exported by
    the bench program), zero_grad + forward + loss + backward +
    torch.optim.Adam step, and inference under torch.inference_mode.
Both sides get OPENBLAS_NUM_THREADS = threads; mnc calls
openblas_set_num_threads, PyTorch torch.set_num_threads.

Writes a markdown table to stdout and bench/results.tsv.
  bench.py [--smoke] [--models a,b] [--batches 32,256] [--threads 1,2] [--steps N]
--smoke: two_concat, batch 32, 1 thread, 3 steps; checks the times are positive.
"""
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("BUILD", "build")
CC = os.environ.get("CC", "cc")
# How README tells users to build generated code that runs on the machine
# that builds it (MNC_BENCH_CFLAGS="-O2" measures the portable build).
GEN_FLAGS = os.environ.get("MNC_BENCH_CFLAGS", "-O2 -march=native").split()
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))

HEADER = ["model", "batch", "threads", "mnc_train_us", "torch_train_us", "train_speedup", "mnc_predict_us",
          "torch_predict_us", "predict_speedup", "gflops", "pct_of_sgemm_peak", "allocs_per_step", "arena_bytes",
          "torch_peak_bytes"]


def sh(cmd, **kw):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


# ---- the PyTorch side (a subprocess: OPENBLAS_NUM_THREADS and LD_PRELOAD must be set at start) --


def big_mlp(P, I, T):
    import models
    h = models.dense(P, "dense", I["image"], "relu")
    h = models.dense(P, "dense_1", h, "relu")
    z = models.dense(P, "dense_2", h)
    import torch
    return {"y": torch.softmax(z, dim=-1)}, models.cce_from_logits(z, T["label"])


def torch_worker(case, exchange, threads, steps):
    import torch
    import models
    import st
    models.FAST = True  # PyTorch's fused LSTM, conv and pooling, not the written-out references
    lib = None
    shim = os.environ.get("LD_PRELOAD", "")
    if shim.endswith("malloc_count.so"):
        lib = ctypes.CDLL(shim)
        for f in ("mc_calls", "mc_current", "mc_peak"):
            getattr(lib, f).restype = ctypes.c_long
    torch.set_num_threads(threads)
    cases = dict(models.CASES)
    cases["big_mlp"] = big_mlp
    forward = cases[case]
    infer = models.INFERENCE_OUTPUTS.get(case, forward)
    names, tensors, _ = st.read(exchange)
    P = {}
    for n in names:
        for pre, trainable in (("weights0.", True), ("frozen0.", False)):
            if n.startswith(pre):
                P[n[len(pre):]] = torch.tensor(tensors[n]).requires_grad_(trainable)
    I = {n[len("input."):]: torch.tensor(tensors[n]) for n in names if n.startswith("input.")}
    T = {n[len("target."):]: torch.tensor(tensors[n]) for n in names if n.startswith("target.")}
    params = [p for p in P.values() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)

    def train():
        opt.zero_grad(set_to_none=True)
        _, loss = forward(P, I, T)
        loss.backward()
        opt.step()

    def predict():
        with torch.inference_mode():
            infer(P, I, T)

    result = {"torch": torch.__version__}
    for what, f in (("train", train), ("predict", predict)):
        for _ in range(2):
            f()
        t0 = time.perf_counter_ns()
        f()
        one = (time.perf_counter_ns() - t0) / 1e3
        n = steps or max(5, min(200, int(0.5e6 / max(one, 1))))
        times, calls0 = [], lib.mc_calls() if lib else 0
        for _ in range(n):
            a = time.perf_counter_ns()
            f()
            times.append((time.perf_counter_ns() - a) / 1e3)
        calls = (lib.mc_calls() - calls0) if lib else None
        peak = None
        if lib:
            base = lib.mc_current()
            lib.mc_reset_peak()
            f()
            peak = lib.mc_peak() - base
        times.sort()
        result[what] = {"steps": n, "us": statistics.median(times), "p90_us": times[int(0.9 * (n - 1) + 0.5)],
                        "allocs_per_step": calls / n if calls is not None else None, "peak_bytes": peak}
    print("RESULT " + json.dumps(result))


def torch_available():
    return subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True).returncode == 0


def run_torch(case, exchange, threads, steps, shim):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    if shim:
        env["LD_PRELOAD"] = shim
    r = subprocess.run(["/usr/bin/python3", os.path.abspath(__file__), "--torch-worker", case, exchange, str(threads),
                        str(steps)], cwd=ROOT, capture_output=True, text=True, env=env)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.stderr.write(f"bench: PyTorch side of {case} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}\n")
    return None


# ---- the mnc side ---------------------------------------------------------------------------


def build_model(case, mn, batch, sub="bench"):
    d = os.path.join(BUILD, sub, case, f"b{batch}")
    os.makedirs(os.path.join(ROOT, d), exist_ok=True)
    t0 = time.perf_counter()
    sh(["./mnc", mn, "--prefix", "m", "--batch", str(batch), "-o", f"{d}/m.c"])
    compile_s = time.perf_counter() - t0
    sh([CC, "-std=c99", *GEN_FLAGS, "-Iruntime", "-c", f"{d}/m.c", "-o", f"{d}/m.o"])
    sh([CC, "-std=gnu99", "-O2", "-Iruntime", "-Itests/harness", f"-I{d}", "bench/bench.c", f"{d}/m.o",
        f"{BUILD}/libmnrt.a", "-Wl,--wrap=mn_gemm_f32", "-lopenblas", "-lm", "-pthread", "-o", f"{d}/bench"])
    return d, compile_s


def run_mnc(d, threads, steps):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([os.path.join(ROOT, d, "bench"), "run", str(threads), str(steps)], cwd=ROOT,
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{d}/bench failed:\n{out.stdout}{out.stderr}")
    return parse_kv(out.stdout)


def fmt(x, digits=1):
    if x is None or x == "":
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def machine():
    name = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, nproc {os.cpu_count()} ({sh(['nproc']).strip()} usable), {platform.system()} {platform.machine()}"


def main(argv):
    if argv and argv[0] == "--torch-worker":
        torch_worker(argv[1], argv[2], int(argv[3]), int(argv[4]))
        return 0
    smoke = "--smoke" in argv
    opts = {}
    for a, b in zip(argv, argv[1:]):
        if a.startswith("--") and a != "--smoke":
            opts[a[2:]] = b
    examples = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".mn"))
    files = {e: f"examples/{e}.mn" for e in examples}
    files["big_mlp"] = "examples/bench/big_mlp.mn"
    cases = examples + ["big_mlp"]
    batches, threads_list, steps = [32, 256], [1, 2], 0
    if smoke:
        cases, batches, threads_list, steps = ["two_concat"], [32], [1], 3
    if "models" in opts:
        cases = opts["models"].split(",")
    if "batches" in opts:
        batches = [int(b) for b in opts["batches"].split(",")]
    if "threads" in opts:
        threads_list = [int(t) for t in opts["threads"].split(",")]
    if "steps" in opts:
        steps = int(opts["steps"])

    have_torch = torch_available()
    shim = None
    if have_torch:
        shim = os.path.join(ROOT, BUILD, "bench", "malloc_count.so")
        os.makedirs(os.path.dirname(shim), exist_ok=True)
        sh([CC, "-O2", "-shared", "-fPIC", "bench/malloc_count.c", "-o", shim])
    torch_cases = set()
    if have_torch:
        probe = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, 'tests/reference'); "
                                "import models; print(' '.join(models.CASES))"], cwd=ROOT, capture_output=True,
                               text=True)
        torch_cases = set(probe.stdout.split()) | {"big_mlp"}

    rows, table = [], []
    corename = "?"
    for case in cases:
        for batch in batches:
            d, compile_s = build_model(case, files[case], batch, "bench-smoke" if smoke else "bench")
            exchange = os.path.join(ROOT, d, "exchange.safetensors")
            sh([f"{d}/bench", "export", exchange])
            for threads in threads_list:
                case_steps = steps
                try:
                    c = run_mnc(d, threads, case_steps)
                except RuntimeError as err:
                    if smoke:
                        raise
                    print(f"# {case} b{batch} t{threads}: mnc's bench failed, row skipped: {str(err).splitlines()[0]}")
                    continue
                corename = c.get("corename", corename)
                t = run_torch(case, exchange, threads, case_steps, shim) if case in torch_cases else None
                mt, mp = float(c["train_us"]), float(c["predict_us"])
                if smoke and not (mt > 0 and mp > 0):
                    print(f"bench smoke: bad mnc times {mt} {mp}")
                    return 1
                tt = t["train"]["us"] if t else None
                tp = t["predict"]["us"] if t else None
                if smoke and t and not (tt > 0 and tp > 0):
                    print(f"bench smoke: bad PyTorch times {tt} {tp}")
                    return 1
                flops = float(c["gemm_flops"])
                gflops = flops / mt / 1e3 if mt > 0 else 0.0
                blas_rate = float(c.get("sgemm_peak_gflops", 0))
                mn_rate = float(c.get("mn_gemm_peak_gflops", 0))
                peak = max(blas_rate, mn_rate)
                pct = 100.0 * gflops / peak if peak > 0 else None
                allocs = float(c["train_allocs_per_step"]) + float(c["predict_allocs_per_step"])
                row = {"model": case, "batch": batch, "threads": threads, "mnc_train_us": fmt(mt),
                       "torch_train_us": fmt(tt), "train_speedup": fmt(tt / mt, 2) if tt else "",
                       "mnc_predict_us": fmt(mp), "torch_predict_us": fmt(tp),
                       "predict_speedup": fmt(tp / mp, 2) if tp else "", "gflops": fmt(gflops, 2),
                       "pct_of_sgemm_peak": fmt(pct), "allocs_per_step": fmt(allocs, 1),
                       "arena_bytes": c["arena_bytes"],
                       "torch_peak_bytes": str(t["train"]["peak_bytes"]) if t and t["train"]["peak_bytes"] is not None
                       else ""}
                rows.append(row)
                ta = (f'{t["train"]["allocs_per_step"]:.0f} / {t["predict"]["allocs_per_step"]:.0f}'
                      if t and t["train"]["allocs_per_step"] is not None else "")
                table.append([case, batch, threads, f"{compile_s * 1e3:.0f}", fmt(mt), fmt(float(c["train_p90_us"])),
                              fmt(tt), fmt(t["train"]["p90_us"]) if t else "", row["train_speedup"], fmt(mp),
                              fmt(tp), row["predict_speedup"], f"{flops / 1e6:.2f}", fmt(gflops, 2),
                              fmt(blas_rate, 2), fmt(mn_rate, 2), row["pct_of_sgemm_peak"],
                              f'{c["train_allocs_per_step"]} / {c["predict_allocs_per_step"]}', ta,
                              row["arena_bytes"], row["torch_peak_bytes"],
                              f'{c["train_steps"]}/{t["train"]["steps"] if t else "-"}'])
                if not smoke:
                    print(f"# {case} b{batch} t{threads}: mnc {mt:.1f} us, torch {fmt(tt)} us", file=sys.stderr,
                          flush=True)

    if not smoke:
        with open(os.path.join(ROOT, "bench", "results.tsv"), "w") as f:
            f.write("\t".join(HEADER) + "\n")
            for r in rows:
                f.write("\t".join(str(r[h]) for h in HEADER) + "\n")
    print(f"Machine: {machine()}")
    print(f"OpenBLAS kernel (openblas_get_corename): {corename}")
    print(f"Generated code built with: {CC} -std=c99 {' '.join(GEN_FLAGS)}, linked with {BUILD}/libmnrt.a -lopenblas -lm")
    if have_torch:
        v = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                           capture_output=True, text=True).stdout.strip()
        print(f"PyTorch {v} (/usr/bin/python3)")
    else:
        print("PyTorch: not importable by /usr/bin/python3; mnc side only")
    print()
    cols = ["model", "batch", "thr", "mnc compile ms", "mnc train us", "p90", "torch train us", "p90",
            "train speedup", "mnc predict us", "torch predict us", "predict speedup", "GEMM MFLOP/step",
            "mnc GFLOP/s", "OpenBLAS sgemm GFLOP/s", "mn_gemm GFLOP/s", "% of peak", "mnc allocs/step train / predict",
            "torch allocs/step train / predict", "mnc arena bytes", "torch peak bytes (step)", "steps mnc/torch"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in table:
        print("| " + " | ".join(str(x) for x in r) + " |")
    if not smoke:
        compile_scaling()
    if smoke:
        print("bench smoke: ok")
    return 0


def chain_source(kind, n):
    """The generated models of tests/sections/hostile.sh: x * w and n links."""
    head = "model m\ninput x : float[4]\ntarget t : float[4]\nparam w : float[4] = ones\n"
    if kind == "sum":
        body = "a = x * w" + " + x" * n + "\n"
    elif kind == "arrow":
        body = "a = x * w" + " -> relu" * n + "\n"
    else:
        body = "a0 = x * w\n" + "".join(f"a{i} = a{i - 1} + x\n" for i in range(1, n + 1)) + f"a = a{n}\n"
    return head + body + "output a\nloss mse(a, t)\ntrain { optimizer = sgd(lr=0.01), batch = 8, epochs = 1, seed = 1 }\n"


def compile_scaling():
    """mnc's own time on long generated models (issue 13): the median of 3
    runs of ./mnc on each, with its max RSS (wait4's rusage of the child)."""
    d = os.path.join(ROOT, BUILD, "bench", "scaling")
    os.makedirs(d, exist_ok=True)
    print()
    print("Compile time of long generated models (./mnc, median of 3; tests/sections/hostile.sh makes the same files):")
    print()
    print("| model | links | .mn bytes | mnc s | max RSS MB | generated C bytes |")
    print("|---|---|---|---|---|---|")
    for kind, n in [("stmts", 2000), ("stmts", 20000), ("sum", 10000), ("sum", 100000), ("arrow", 100000)]:
        mn = os.path.join(d, f"{kind}{n}.mn")
        with open(mn, "w") as f:
            f.write(chain_source(kind, n))
        times, rss = [], 0
        for _ in range(3):
            t0 = time.perf_counter()
            p = subprocess.Popen(["./mnc", mn, "--prefix", "m", "-o", os.path.join(d, "m.c")], cwd=ROOT)
            _, status, usage = os.wait4(p.pid, 0)  # this child's own rusage
            times.append(time.perf_counter() - t0)
            if status != 0:
                raise SystemExit(f"bench: mnc failed on {mn}")
            rss = max(rss, usage.ru_maxrss)
        times.sort()
        name = {"stmts": "statements a_i = a_(i-1) + x", "sum": "one line x * w + x + ... + x",
                "arrow": "one line x * w -> relu -> ..."}[kind]
        print(f"| {name} | {n} | {os.path.getsize(mn)} | {times[1]:.2f} | {rss / 1024:.0f} |"
              f" {os.path.getsize(os.path.join(d, 'm.c'))} |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
