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

import json

import pytest
import torch

from pi_vla_ros.benchmarks import model_bench as mb
from pi_vla_ros.cli import main
from pi_vla_ros.models.pi06_expert import ExpertConfig, Pi06Expert

ROW_FIELDS = {"config", "size", "dtype", "device", "threads", "chunks", "steps", "params", "chunk_ms", "prefix_ms",
              "step_ms", "gflop_per_chunk", "gflop_prefix", "gflop_per_step", "flops_method", "achieved_gflops",
              "gemm_peak_gflops", "percent_of_peak", "peak_memory_bytes", "memory_kind"}


def test_tiny_bench_report_is_well_formed():
    report = mb.run(configs=["pi0", "pi05", "pi06-expert"], sizes=["tiny"], dtypes=["fp32", "bf16"], threads=[1],
                    chunks=2, warmup=1, gemm_sizes=(256,), log=lambda _: None)
    report = json.loads(json.dumps(report))  # plain JSON all the way down
    assert {"machine", "gemm", "results"} <= set(report)
    assert [(g["dtype"], g["threads"]) for g in report["gemm"]] == [("fp32", 1), ("bf16", 1)]
    assert all(g["peak_gflops"] > 0 and g["before"]["torch_mm"] for g in report["gemm"])
    rows = report["results"]
    assert {(r["config"], r["dtype"]) for r in rows} == {(c, d) for c in mb.CONFIGS for d in ("fp32", "bf16")}
    for r in rows:
        assert ROW_FIELDS <= set(r), ROW_FIELDS - set(r)
        assert r["chunks"] == 2 and r["threads"] == 1 and r["steps"] == 10
        for key in ("chunk_ms", "prefix_ms", "step_ms"):
            assert 0 < r[key]["p50"] <= r[key]["p95"] <= r[key]["max"]
        assert r["prefix_ms"]["p50"] < r["chunk_ms"]["p50"]
        assert r["gflop_per_chunk"] > 0 and r["achieved_gflops"] > 0 and r["peak_memory_bytes"] > 0
        assert r["gemm_peak_gflops"] == next(g["peak_gflops"] for g in report["gemm"] if g["dtype"] == r["dtype"])
        assert r["percent_of_peak"] == pytest.approx(100 * r["achieved_gflops"] / r["gemm_peak_gflops"], abs=0.1)
    expert = [r for r in rows if r["config"] == "pi06-expert"]
    assert all(r["flops_match_closed_form"] for r in expert)


def test_cli_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "model", "--configs", "pi06-expert", "--sizes", "tiny", "--dtypes", "fp32", "--threads",
                 "1", "--chunks", "2", "--warmup", "1", "--steps", "4", "--gemm-sizes", "128", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert row["config"] == "pi06-expert" and row["steps"] == 4 and row["flops_match_closed_form"]


def test_flops_agree_with_a_hand_count_for_a_tiny_expert():
    cfg = ExpertConfig(width=16, depth=1, heads=2, horizon=4, action_dim=3, context_dim=8, mlp_ratio=2)
    # prefix: ctx_proj 2*5*8*16 + kv 2*5*16*32
    prefix = 1280 + 5120
    # per step: in_proj 384, qkv 6144, attn_out 2048, q k^T + p v over 4 actions 2 * 512, cross q 2048,
    # q k^T + p v over 5 context tokens 2 * 640, cross_out 2048, MLP 2 * 4096, out_proj 384
    step = 384 + 6144 + 2048 + 1024 + 2048 + 1280 + 2048 + 8192 + 384
    # once for both steps: time MLP 2 * (2*2*16*16), four AdaLN modulations 4 * (2*2*16*32)
    time_cond = 2048 + 8192
    hand = {"prefix": prefix, "steps": 2 * step + time_cond, "chunk": prefix + 2 * step + time_cond}
    assert mb.expert_flops(cfg, context_len=5, num_steps=2) == hand
    torch.manual_seed(0)
    e = Pi06Expert(cfg).eval()
    ctx, mask, noise = torch.randn(1, 5, 8), torch.ones(1, 5, dtype=torch.bool), torch.randn(1, 4, 3)
    target = mb.Target("pi06-expert", "hand", lambda: e.precompute_context(ctx, mask),
                       lambda cache: e.sample(cache, noise, 2), 2, 0)
    counted = mb.count_flops(target)
    assert {k: counted[k] for k in hand} == hand  # FlopCounterMode sees every GEMM and both attentions
    with torch.enable_grad():  # the same count through plain F.linear (autograd on: no prepacked kernels)
        with mb._flop_counter() as fc:
            e(noise, torch.ones(1), ctx, mask)
    assert fc.get_total_flops() == prefix + step + 2048 // 2 + 8192 // 2
