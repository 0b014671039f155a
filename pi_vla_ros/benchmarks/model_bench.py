# Copyright 2026 pi_vla_ros maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""``pi-vla bench model``: how fast the policies' models produce an action chunk on this machine.

For each model (π0, π0.5, the π0.6 expert; tiny and full size), dtype and thread count it reports the chunk latency
(p50 / p95 over `chunks` chunks after `warmup`), its split into the prefix (run once per chunk) and one denoising
step, the matmul FLOPs of a chunk, the achieved GFLOP/s, this machine's GEMM peak measured in the same run (same
dtype and thread count), the fraction of it reached, and peak memory (RSS on CPU, max allocated on CUDA).

FLOPs are counted by torch.utils.flop_counter.FlopCounterMode over one real chunk (GEMMs, batched matmuls,
convolutions and attention, including the CPU SDPA kernel and the expert's prepacked oneDNN linears, which the stock
counter does not know); elementwise work (norms, softmax, activations) is not counted, as is usual. For the π0.6
expert the count is also checked against the closed form `expert_flops`.

The GEMM peak is the best of a large square matmul through torch.mm and, on CPU, through oneDNN with a prepacked
weight (the kernel the expert uses): on AMD CPUs MKL (torch.mm's fp32 path) runs AVX2 kernels at well under half
of oneDNN's AVX-512 throughput, so torch.mm alone would understate the machine. It is measured before and after
each (dtype, threads) group and the higher value is used: contention from other processes lowers the percentage
rather than inflating it.

Models are built from random weights (seeded), directly in the benchmark dtype and on the benchmark device (a
full-size π0 never exists in fp32 when bf16 is asked for); nothing is downloaded. Full-size models are skipped with
a reason when MemAvailable is below their estimated need.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import platform
import resource
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
from torch import Tensor

from pi_vla_ros.models.packed_linear import ONEDNN, PACKED_DTYPES

CONFIGS = ("pi0", "pi05", "pi06-expert")
SIZES = ("tiny", "full")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
ACTION_DIM = 14         # the π0.6 expert's actions (bimanual ALOHA layout); π0 / π0.5 pad to their own 32
EXPERT_CONTEXT = 256    # context tokens the full-size π0.6 expert attends to (the seed's benchmark setting)


# -- models under test -------------------------------------------------------------------------------------------
@dataclass
class Target:
    """A model ready to time: prefix() -> cache (once per chunk), steps(cache) -> actions (num_steps Euler steps)."""

    config: str
    size: str
    prefix: Callable[[], Any]
    steps: Callable[[Any], Tensor]
    num_steps: int
    params: int
    shape: dict = field(default_factory=dict)   # what one chunk is: batch, context / prefix tokens, horizon, ...
    expected_flops: dict | None = None           # closed-form count, where there is one


@contextlib.contextmanager
def _defaults(dtype: torch.dtype, device: torch.device):
    """Build modules directly in `dtype` on `device` (no fp32 copy of a 3B model on the way)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            yield
    finally:
        torch.set_default_dtype(old)


def expert_flops(cfg, context_len: int, num_steps: int, batch: int = 1) -> dict[str, int]:
    """Matmul FLOPs of one Pi06Expert chunk (multiply-add = 2): context projection + per-layer K/V once, then
    num_steps velocity evaluations; sample() computes the time MLP and every AdaLN modulation for all steps at once.
    """
    w, h, a, n_ctx, d = cfg.width, cfg.horizon, cfg.action_dim, context_len, cfg.depth
    mm = lambda rows, k, n: 2 * batch * rows * k * n  # noqa: E731
    prefix = mm(n_ctx, cfg.context_dim, w) + d * mm(n_ctx, w, 2 * w)
    block = (mm(h, w, 3 * w) + mm(h, w, w)                  # qkv, self-attention out
             + 2 * mm(h, w, h)                              # q k^T, p v over the chunk (all heads: d_head * heads = w)
             + mm(h, w, w) + 2 * mm(h, w, n_ctx) + mm(h, w, w)  # cross q, q k^T and p v over the context, out
             + 2 * mm(h, w, cfg.mlp_ratio * w))             # MLP
    per_step = mm(h, a, w) + d * block + mm(h, w, a)        # + in_proj, out_proj
    n_mod = 3 if cfg.gate else 2
    time_cond = num_steps * (2 * mm(1, w, w) + (3 * d * n_mod + 2) * mm(1, w, w))  # time MLP, AdaLN modulations
    steps = num_steps * per_step + time_cond
    return {"prefix": prefix, "steps": steps, "chunk": prefix + steps}


def build_target(config: str, size: str, dtype: torch.dtype, device: torch.device, num_steps: int = 10,
                 seed: int = 0, context_len: int | None = None) -> Target:
    if config not in CONFIGS or size not in SIZES:
        raise ValueError(f"unknown model {config!r} / size {size!r}; known: {CONFIGS} x {SIZES}")
    from pi_vla_ros.policies.registry import get_config

    gen = torch.Generator().manual_seed(seed)
    rand = lambda *s: torch.randn(*s, generator=gen).to(device, dtype)  # noqa: E731
    torch.manual_seed(seed)
    if config == "pi06-expert":
        from pi_vla_ros.models.pi06_expert import Pi06Expert
        from pi_vla_ros.models.vlm import VLM_SIZES

        pol = get_config("pi06" if size == "full" else "pi06_tiny")
        vlm = VLM_SIZES[pol.vlm]
        cfg = replace(pol.expert, action_dim=ACTION_DIM, context_dim=vlm["text"]["hidden_size"])
        if context_len is None:  # tiny: the tiny policy's real prefix (3 cameras + its token budget)
            patches = (pol.image_size // vlm["vision"]["patch_size"]) ** 2
            context_len = EXPERT_CONTEXT if size == "full" else 3 * patches + pol.max_tokens
        with _defaults(dtype, device):
            model = Pi06Expert(cfg).eval()
        ctx, mask = rand(1, context_len, cfg.context_dim), torch.ones(1, context_len, dtype=torch.bool, device=device)
        noise = rand(1, cfg.horizon, cfg.action_dim)
        return Target(config, size, lambda: model.precompute_context(ctx, mask),
                      lambda cache: model.sample(cache, noise, num_steps), num_steps,
                      sum(p.numel() for p in model.parameters()),
                      shape={"batch": 1, "context_tokens": context_len, "context_dim": cfg.context_dim,
                             "horizon": cfg.horizon, "action_dim": cfg.action_dim, "width": cfg.width,
                             "depth": cfg.depth, "heads": cfg.heads},
                      expected_flops=expert_flops(cfg, context_len, num_steps))
    from pi_vla_ros.models.pi0 import Pi0Model

    pol = get_config(("pi0" if config == "pi0" else "pi05") + ("" if size == "full" else "_tiny"))
    cfg = pol.model
    with _defaults(dtype, device):
        model = Pi0Model(cfg).eval()
    s, n_tok = cfg.image_size, pol.max_tokens
    batch = {"images": rand(1, 3, 3, s, s).clamp(-1, 1), "image_mask": torch.ones(1, 3, dtype=torch.bool),
             "tokens": torch.randint(0, min(cfg.vocab_size, 1000), (1, n_tok), generator=gen),
             "token_mask": torch.ones(1, n_tok, dtype=torch.bool), "state": rand(1, cfg.action_dim)}
    noise = rand(1, cfg.action_horizon, cfg.action_dim)
    vision = model.vlm.vision_tower.config
    return Target(config, size, lambda: model.prefix_cache(batch), lambda cache: model.denoise(cache, noise, num_steps),
                  num_steps, sum(p.numel() for p in model.parameters()),
                  shape={"batch": 1, "cameras": 3, "image_size": s, "prefix_tokens": 3 * (s // vision.patch_size) ** 2
                         + n_tok, "language_tokens": n_tok, "horizon": cfg.action_horizon, "action_dim": cfg.action_dim,
                         "vlm": cfg.vlm, "expert": cfg.expert, "vision": cfg.vision})


def param_count(config: str, size: str, context_len: int | None = None) -> int:
    """Parameters of a target, from a model built on the meta device (no memory, no init)."""
    return build_target(config, size, torch.float32, torch.device("meta"), context_len=context_len).params


# -- FLOPs -------------------------------------------------------------------------------------------------------
def _linear_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:  # mkldnn._linear_pointwise
    return 2 * math.prod(x_shape[:-1]) * x_shape[-1] * w_shape[0]


def _sdpa_cpu_flops(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count
    return sdpa_flop_count(q_shape, k_shape, v_shape)


def _flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    extra = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}
    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        extra[torch.ops.mkldnn._linear_pointwise] = _linear_flops
    return FlopCounterMode(display=False, custom_mapping=extra)


def count_flops(target: Target) -> dict:
    """Matmul / conv / attention FLOPs of one chunk, split into the prefix and the denoising steps."""
    with torch.inference_mode():
        with _flop_counter() as fc:
            cache = target.prefix()
        prefix = fc.get_total_flops()
        with _flop_counter() as fc:
            target.steps(cache)
        steps = fc.get_total_flops()
        ops = {str(k): v for k, v in fc.get_flop_counts().get("Global", {}).items()}
    return {"prefix": prefix, "steps": steps, "chunk": prefix + steps, "per_step": steps / target.num_steps,
            "step_ops": ops}


# -- machine -----------------------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_peak(dtype: torch.dtype, device: torch.device, sizes=(1024, 2048), reps: int = 3) -> dict:
    """Best GFLOP/s of square n x n x n matmuls at the current thread count: torch.mm, and on CPU oneDNN with a
    prepacked weight (what the expert's linears run).
    """
    out: dict[str, Any] = {"torch_mm": {}, "onednn_packed": {}}
    onednn = device.type == "cpu" and ONEDNN and dtype in PACKED_DTYPES  # what the expert's linears can pack
    for n in sizes:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        runs = {"torch_mm": lambda: torch.mm(a, b)}
        if onednn:
            with torch.inference_mode():
                packed = torch.ops.mkldnn._reorder_linear_weight(b, n)
            runs["onednn_packed"] = lambda: torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")
        for name, fn in runs.items():
            with torch.inference_mode():
                fn()
                _sync(device)
                best = math.inf
                for _ in range(reps):
                    t0 = time.perf_counter()
                    fn()
                    _sync(device)
                    best = min(best, time.perf_counter() - t0)
            out[name][n] = round(2 * n ** 3 / best / 1e9, 1)
    if not out["onednn_packed"]:
        del out["onednn_packed"]
    out["peak_gflops"] = max(v for k in ("torch_mm", "onednn_packed") for v in out.get(k, {}).values())
    return out


def _mem_available() -> int | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the process's RSS high-water mark (Linux /proc/self/clear_refs "5"); False where unsupported."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    with contextlib.suppress(OSError):
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def machine_info(device: torch.device) -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "onednn": torch.backends.mkldnn.is_available(), "device": str(device),
            "mem_total_bytes": None, "mem_available_bytes": _mem_available(), "load_avg": None,
            # with more threads than idle cores, libgomp's default spin-waiting stalls every parallel region
            # (seen here: 2 threads on 2 busy cores, ~50x slower chunks); OMP_WAIT_POLICY=PASSIVE avoids it
            "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                               "MKL_NUM_THREADS") if k in os.environ}}
    with contextlib.suppress(OSError):
        info["mem_total_bytes"] = int(open("/proc/meminfo").readline().split()[1]) * 1024
        info["load_avg"] = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# -- the benchmark -----------------------------------------------------------------------------------------------
def _stats(xs: list[float]) -> dict:
    xs = sorted(xs)
    q = lambda p: xs[min(len(xs) - 1, max(0, math.ceil(p * len(xs)) - 1))]  # noqa: E731 (nearest rank)
    return {"p50": round(statistics.median(xs), 3), "p95": round(q(0.95), 3), "mean": round(statistics.fmean(xs), 3),
            "min": round(xs[0], 3), "max": round(xs[-1], 3)}


def time_chunks(target: Target, chunks: int, warmup: int, device: torch.device) -> dict:
    chunk, prefix, step = [], [], []
    with torch.inference_mode():
        for i in range(warmup + chunks):
            _sync(device)
            t0 = time.perf_counter()
            cache = target.prefix()
            _sync(device)
            t1 = time.perf_counter()
            out = target.steps(cache)
            _sync(device)
            t2 = time.perf_counter()
            if i >= warmup:
                chunk.append((t2 - t0) * 1e3)
                prefix.append((t1 - t0) * 1e3)
                step.append((t2 - t1) * 1e3 / target.num_steps)
    if not torch.isfinite(out.float()).all():
        raise RuntimeError(f"{target.config} ({target.size}) produced non-finite actions")
    return {"chunk_ms": _stats(chunk), "prefix_ms": _stats(prefix), "step_ms": _stats(step)}


def bench_one(config: str, size: str, dtype_name: str, device: torch.device, *, chunks: int, warmup: int,
              num_steps: int, peak: float, context_len: int | None = None, seed: int = 0) -> dict:
    dtype = DTYPES[dtype_name]
    row: dict[str, Any] = {"config": config, "size": size, "dtype": dtype_name, "device": device.type,
                           "threads": torch.get_num_threads(), "chunks": chunks, "warmup": warmup,
                           "steps": num_steps}
    if size == "full" and device.type == "cpu":
        need = int(param_count(config, size, context_len) * torch.finfo(dtype).bits / 8 * 1.3) + 2 ** 30
        avail = _mem_available()
        if avail is not None and avail < need:
            return {**row, "skipped": f"needs ~{need / 2 ** 30:.1f} GiB, MemAvailable {avail / 2 ** 30:.1f} GiB"}
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    rss_reset = _reset_peak_rss()
    rss_before = _peak_rss()
    t0 = time.perf_counter()
    target = build_target(config, size, dtype, device, num_steps, seed, context_len)
    row.update(build_s=round(time.perf_counter() - t0, 2), params=target.params, shape=target.shape)
    timing = time_chunks(target, chunks, warmup, device)
    if device.type == "cuda":
        memory = {"peak_memory_bytes": torch.cuda.max_memory_allocated(device), "memory_kind": "cuda_max_allocated"}
    else:
        memory = {"peak_memory_bytes": _peak_rss(), "memory_kind": "rss_hwm" if rss_reset else "rss_max_process",
                  "rss_before_build_bytes": rss_before}
    flops = count_flops(target)
    p50_s = timing["chunk_ms"]["p50"] / 1e3
    row.update(timing)
    row.update({
        "gflop_per_chunk": round(flops["chunk"] / 1e9, 4),
        "gflop_prefix": round(flops["prefix"] / 1e9, 4),
        "gflop_per_step": round(flops["per_step"] / 1e9, 4),
        "flops_method": "FlopCounterMode (matmul, conv, attention; elementwise not counted)",
        "achieved_gflops": round(flops["chunk"] / 1e9 / p50_s, 1),
        "prefix_gflops": round(flops["prefix"] / 1e6 / timing["prefix_ms"]["p50"], 1),
        "step_gflops": round(flops["per_step"] / 1e6 / timing["step_ms"]["p50"], 1),
        "gemm_peak_gflops": peak,
        "percent_of_peak": round(100 * flops["chunk"] / 1e9 / p50_s / peak, 1),
        **memory,
    })
    if target.expected_flops is not None:
        row["flops_closed_form"] = target.expected_flops["chunk"]
        row["flops_match_closed_form"] = target.expected_flops["chunk"] == flops["chunk"]
    del target
    gc.collect()
    return row


def run(configs=CONFIGS, sizes=SIZES, dtypes=tuple(DTYPES), threads=None, chunks: int = 20, warmup: int = 3,
        num_steps: int = 10, device: str = "auto", context_len: int | None = None, gemm_sizes=(1024, 2048),
        log: Callable[[str], None] = print) -> dict:
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    threads = list(threads or [torch.get_num_threads()])
    report: dict[str, Any] = {"machine": machine_info(dev), "gemm": [], "results": []}
    old_threads = torch.get_num_threads()
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for dtype_name in dtypes:
                before = gemm_peak(DTYPES[dtype_name], dev, gemm_sizes)
                log(f"gemm peak {dtype_name} x{n_threads} threads: {before['peak_gflops']} GFLOP/s")
                rows = []
                for config in configs:
                    for size in sizes:
                        rows.append(bench_one(config, size, dtype_name, dev, chunks=chunks, warmup=warmup,
                                              num_steps=num_steps, peak=before["peak_gflops"],
                                              context_len=context_len if config == "pi06-expert" else None))
                        log(format_row(rows[-1]))
                after = gemm_peak(DTYPES[dtype_name], dev, gemm_sizes)
                peak = max(before["peak_gflops"], after["peak_gflops"])
                for row in rows:  # the higher of the two peaks: contention can only lower the percentage
                    if "skipped" not in row:
                        row["gemm_peak_gflops"] = peak
                        row["percent_of_peak"] = round(100 * row["achieved_gflops"] / peak, 1)
                report["gemm"].append({"dtype": dtype_name, "threads": n_threads, "before": before, "after": after,
                                       "peak_gflops": peak})
                report["results"].extend(rows)
    finally:
        torch.set_num_threads(old_threads)
    return report


def format_row(r: dict) -> str:
    head = f"{r['config']:<12} {r['size']:<5} {r['dtype']:<5} x{r['threads']}"
    if "skipped" in r:
        return f"{head}  skipped: {r['skipped']}"
    return (f"{head}  chunk p50 {r['chunk_ms']['p50']:9.1f} ms  p95 {r['chunk_ms']['p95']:9.1f}  "
            f"prefix {r['prefix_ms']['p50']:8.1f}  step {r['step_ms']['p50']:7.2f}  "
            f"{r['gflop_per_chunk']:9.2f} GFLOP  {r['achieved_gflops']:7.1f} GFLOP/s  "
            f"{r['percent_of_peak']:5.1f}% of {r['gemm_peak_gflops']:.0f}  {r['peak_memory_bytes'] / 2 ** 20:7.0f} MiB")


def table(report: dict) -> str:
    return "\n".join(format_row(r) for r in report["results"])
