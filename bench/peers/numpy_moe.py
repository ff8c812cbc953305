"""The NumPy peer of moec's benchmark: the same MoE layers in float32 NumPy, written the way
a NumPy user would (tokens grouped by expert, one GEMM per active expert, no per-token
loops), plus NumPy's own limits on this machine (sgemm peak, memory bandwidth).

Driven by bench/run.ts: one JSON request on stdin, one JSON reply on stdout.

  {"mode": "limits", "gemm_n": 2048, "bw_mb": 256, "reps": 5}
  {"mode": "bench", "model": "mixtral" | "deepseek-v3" | "deepseek-mini", "consts": {...}, "tokens": T,
   "plan": {"min_samples": 5, "min_time_s": 1, "max_time_s": 8, "max_samples": 200}}
  {"mode": "check", "model": ..., "consts": {...}, "tensors": "in.safetensors", "out": "y.f32"}

`bench` makes its own random weights and inputs (moec's init scales, not its numbers: this
peer is for speed). `check` reads moec's weights and input `x` from a safetensors file,
writes the output `y` as raw little-endian float32, and the harness compares it with moec.
Weight names and layouts are moec's (stacked [layers, ...] for repeated blocks, linear
weights [out, in]).
"""
import json
import sys
import os
import time

import numpy as np


# ------------------------------------------------------------------------------------------
# The layers.


def silu(a):
    return a / (np.float32(1) + np.exp(-a))


def sigmoid(a):
    return np.float32(1) / (np.float32(1) + np.exp(-a))


def softmax(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(eps)) * w


def swiglu(x, gate, up, down):
    return (silu(x @ gate.T) * (x @ up.T)) @ down.T


def topk_indices(s, k):
    """Indices of the k largest per row (unordered: the combine does not care)."""
    if k >= s.shape[1]:
        return np.broadcast_to(np.arange(s.shape[1]), s.shape).copy()
    return np.argpartition(-s, k - 1, axis=1)[:, :k]


def experts(x, idx, w, w_gate, w_up, w_down):
    """Routed SwiGLU experts: sort the T*K token slots by expert, one GEMM chain per active expert."""
    tokens, k = idx.shape
    flat = idx.ravel()
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat, minlength=w_gate.shape[0])
    tok = order // k
    weight = w.ravel()[order][:, None]
    xs = x[tok]
    out = np.zeros_like(x)
    start = 0
    for e in np.flatnonzero(counts):
        end = start + counts[e]
        y = swiglu(xs[start:end], w_gate[e], w_up[e], w_down[e])
        y *= weight[start:end]
        # A token picks each expert at most once, so these rows are distinct.
        out[tok[start:end]] += y
        start = end
    return out


def mixtral(p, x, c):
    """examples/mixtral.moe: softmax router, top-K, renormalised, SwiGLU experts."""
    probs = softmax(x @ p["router"].T)
    idx = topk_indices(probs, c["K"])
    vals = np.take_along_axis(probs, idx, axis=1)
    return experts(x, idx, vals / vals.sum(axis=1, keepdims=True), p["w1"], p["w3"], p["w2"])


def deepseek_moe(p, i, x, c):
    """One MoE layer of examples/deepseek-v3.moe (DeepSeek-V3's Gate.forward + shared expert)."""
    h = rmsnorm(x, p["moe.norm"][i], c["EPS"])
    scores = sigmoid(h @ p["moe.router"][i].T)
    sel = scores + p["moe.bias"][i]
    tokens, n_exp = sel.shape
    groups, per = c["GROUPS"], n_exp // c["GROUPS"]
    grouped = sel.reshape(tokens, groups, per)
    group_score = np.sort(grouped, axis=-1)[..., -2:].sum(axis=-1)
    keep = topk_indices(group_score, c["TOPK_GROUPS"])
    dropped = np.ones((tokens, groups), dtype=bool)
    np.put_along_axis(dropped, keep, False, axis=1)
    masked = np.where(np.repeat(dropped, per, axis=1), np.float32(-np.inf), sel)
    idx = topk_indices(masked, c["K"])
    w = np.take_along_axis(scores, idx, axis=1)
    w = w / w.sum(axis=1, keepdims=True) * np.float32(c["SCALE"])
    routed = experts(h, idx, w, p["moe.w_gate"][i], p["moe.w_up"][i], p["moe.w_down"][i])
    shared = swiglu(h, p["moe.shared.gate"][i], p["moe.shared.up"][i], p["moe.shared.down"][i])
    return x + routed + shared


def deepseek(p, x, c):
    """examples/deepseek-v3.moe: DENSE_LAYERS dense SwiGLU layers, then the MoE layers."""
    for i in range(c["DENSE_LAYERS"]):
        h = rmsnorm(x, p["dense.norm"][i], c["EPS"])
        x = x + swiglu(h, p["dense.mlp.gate"][i], p["dense.mlp.up"][i], p["dense.mlp.down"][i])
    for i in range(c["LAYERS"] - c["DENSE_LAYERS"]):
        x = deepseek_moe(p, i, x, c)
    return x


def deepseek_mini(p, x, c):
    """bench/models/deepseek-mini.moe: softmax top-K without renormalisation, SwiGLU experts, plus a shared SwiGLU MLP."""
    probs = softmax(x @ p["router"].T)
    idx = topk_indices(probs, c["K"])
    vals = np.take_along_axis(probs, idx, axis=1)
    routed = experts(x, idx, vals, p["w_gate"], p["w_up"], p["w_down"])
    return routed + swiglu(x, p["shared.gate"], p["shared.up"], p["shared.down"])


def shapes(model, c):
    """moec's weight names and shapes for the model at constants c."""
    D, F, E = c["D"], c["F"], c["E"]
    if model == "mixtral":
        return {"router": [E, D], "w1": [E, F, D], "w3": [E, F, D], "w2": [E, D, F]}
    if model == "deepseek-mini":
        FS = c["FS"]
        return {
            "router": [E, D], "w_gate": [E, F, D], "w_up": [E, F, D], "w_down": [E, D, F],
            "shared.gate": [FS, D], "shared.up": [FS, D], "shared.down": [D, FS],
        }
    if model == "deepseek-v3":
        nd, nm, FD = c["DENSE_LAYERS"], c["LAYERS"] - c["DENSE_LAYERS"], c["F_DENSE"]
        return {
            "dense.norm": [nd, D], "dense.mlp.gate": [nd, FD, D], "dense.mlp.up": [nd, FD, D], "dense.mlp.down": [nd, D, FD],
            "moe.norm": [nm, D], "moe.router": [nm, E, D], "moe.bias": [nm, E],
            "moe.w_gate": [nm, E, F, D], "moe.w_up": [nm, E, F, D], "moe.w_down": [nm, E, D, F],
            "moe.shared.gate": [nm, F, D], "moe.shared.up": [nm, F, D], "moe.shared.down": [nm, D, F],
        }
    raise SystemExit(f"numpy_moe.py: unknown model {model!r}")


FORWARD = {"mixtral": mixtral, "deepseek-v3": deepseek, "deepseek-mini": deepseek_mini}


def random_params(model, c, rng):
    """Uniform weights at moec's init scales: 1/sqrt(fan_in) for matrices, 0.5 for vectors."""
    out = {}
    for name, shape in shapes(model, c).items():
        # The leading layer axis of a stacked weight is not part of the per-layer tensor's rank.
        per_layer = shape[1:] if model == "deepseek-v3" else shape
        scale = 0.5 if len(per_layer) < 2 else 1.0 / np.sqrt(per_layer[-1])
        out[name] = (rng.random(shape, dtype=np.float32) * 2 - 1) * np.float32(scale)
    return out


# ------------------------------------------------------------------------------------------
# Timing.


def flusher():
    """Reads MOEC_BENCH_FLUSH_MIB (default 1024) MiB before each sample, outside its timing, so the
    weights come from memory as they do for the native runners (0 disables). Filled with ones:
    untouched zero pages would all map to one physical page and evict nothing."""
    mib = int(os.environ.get("MOEC_BENCH_FLUSH_MIB", "1024"))
    if mib <= 0:
        return lambda: None
    buf = np.ones(mib << 18, dtype=np.float32)
    return lambda: float(buf[::16].sum())


def sample(fn, plan):
    """Warmup once, then samples until min_samples and min_time_s, stopping before max_time_s;
    the caches are flushed before every run (not timed, not counted in the time budget)."""
    flush = flusher()
    flush()
    t0 = time.perf_counter()
    fn()
    warmup = time.perf_counter() - t0
    samples, total = [], 0.0
    while len(samples) < plan["max_samples"]:
        if len(samples) >= plan["min_samples"] and total >= plan["min_time_s"]:
            break
        last = samples[-1] if samples else warmup
        if samples and total + last > plan["max_time_s"]:
            break
        flush()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        samples.append(dt)
        total += dt
    return {"samples_ms": [s * 1e3 for s in samples], "warmup_ms": warmup * 1e3}


def bench(req):
    c, model, tokens = req["consts"], req["model"], req["tokens"]
    rng = np.random.default_rng(0)
    p = random_params(model, c, rng)
    x = rng.random((tokens, c["D"]), dtype=np.float32) * 2 - 1
    forward = FORWARD[model]
    y = forward(p, x, c)
    assert y.dtype == np.float32 and y.shape == x.shape, (y.dtype, y.shape)
    return sample(lambda: forward(p, x, c), req["plan"])


# ------------------------------------------------------------------------------------------
# Correctness: the same weights and input as moec.


def read_safetensors(path):
    """A minimal safetensors reader (F32 tensors only)."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"numpy_moe.py: {name} is {t['dtype']}, only F32 is read")
        start, end = t["data_offsets"]
        out[name] = np.frombuffer(data, dtype="<f4", count=(end - start) // 4, offset=base + start).reshape(t["shape"])
    return out


def check(req):
    tensors = read_safetensors(req["tensors"])
    x = tensors.pop("x")
    y = FORWARD[req["model"]](tensors, x, req["consts"])
    y.astype("<f4").tofile(req["out"])
    return {"shape": list(y.shape)}


# ------------------------------------------------------------------------------------------
# Limits.


def blas_info():
    """What BLAS NumPy uses: build config, and OpenBLAS's run-time core and thread count if it exports them."""
    info = {}
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["name"], info["version"] = deps.get("name"), deps.get("version")
    except Exception as e:  # older NumPy: no mode="dicts"
        info["error"] = str(e)
    try:
        import ctypes

        libs = sorted({line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line.lower() and ".so" in line})
        for path in libs:
            lib = ctypes.CDLL(path)
            for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", ""), ("openblas_", "64_")):
                try:
                    core = getattr(lib, f"{prefix}get_corename{suffix}")
                    threads = getattr(lib, f"{prefix}get_num_threads{suffix}")
                except AttributeError:
                    continue
                core.restype = ctypes.c_char_p
                threads.restype = ctypes.c_int
                info["corename"], info["threads"] = core().decode(), threads()
                break
            if "corename" in info:
                break
    except Exception as e:
        info["runtime_error"] = str(e)
    return info


def limits(req):
    n, reps = req["gemm_n"], req["reps"]
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    best = min(timed(lambda: np.matmul(a, b, out=c)) for _ in range(reps))
    sgemm = 2.0 * n**3 / best / 1e9
    x = np.ones(req["bw_mb"] * 2**20 // 4, dtype=np.float32)
    y = np.empty_like(x)
    x.sum()
    np.copyto(y, x)
    sum_s = min(timed(lambda: x.sum()) for _ in range(reps))
    copy_s = min(timed(lambda: np.copyto(y, x)) for _ in range(reps))
    return {
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "blas": blas_info(),
        "sgemm_n": n,
        "sgemm_gflops": sgemm,
        "sum_gbps": x.nbytes / sum_s / 1e9,
        "copy_gbps": 2 * x.nbytes / copy_s / 1e9,
    }


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    req = json.loads(sys.stdin.read())
    mode = req.get("mode")
    handlers = {"bench": bench, "check": check, "limits": limits}
    if mode not in handlers:
        raise SystemExit(f"numpy_moe.py: unknown mode {mode!r}")
    with np.errstate(over="ignore"):
        json.dump(handlers[mode](req), sys.stdout)


if __name__ == "__main__":
    main()
