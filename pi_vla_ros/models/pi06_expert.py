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

"""π0.6-style action expert (FACTS.md §6): a small DiT-like transformer over the action chunk that
cross-attends to frozen VLM hidden states and predicts the flow-matching velocity.

    ctx [B, L, C] --ctx_proj--> [B, L, W] --(per layer k/v, computed once per chunk)--.
    x_t [B, H, A] --in_proj + pos--> x --{AdaLN self-attn, AdaLN cross-attn, AdaLN FFN} x depth--> AdaLN --out_proj--> v
    t [B] --sinusoid--> time MLP --> cond --> every AdaLN's (1 + scale, shift[, gate])

Inference hot path (sample): the context keys/values are projected once per chunk, stored pre-scaled and
transposed; the Euler times are known in advance, so the time MLP and all AdaLN modulations are computed for all
steps in one batched call; each step is then only the per-token GEMMs (on the CPU through oneDNN with weights
packed once and GELU fused, see packed_linear.py), two small attentions and a few elementwise ops. Attention is
plain bmm + softmax: at 50 queries over <= a few hundred keys this is ~2x faster than the CPU flash kernel in bf16
(and equal in fp32). Training (autograd on) takes the same code with plain F.linear.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import flow_matching as fm
from .packed_linear import Linear

Modulation = tuple[Tensor, Tensor, Tensor | None]  # (1 + scale, shift, gate or None), each [N, 1, W]


@dataclass(frozen=True)
class ExpertConfig:
    width: int = 512
    depth: int = 4
    heads: int = 8
    horizon: int = 50
    action_dim: int = 7          # from the robot profile
    context_dim: int = 2048      # VLM hidden size
    mlp_ratio: int = 4
    gate: bool = False           # adaLN-Zero style gated residuals (off: the seed's plain AdaLN)


class AdaLN(nn.Module):
    """LayerNorm without affine, modulated by the time condition: norm(x) * (1 + scale) + shift [, gate]."""

    def __init__(self, width: int, gate: bool):
        super().__init__()
        self.n, self.width = (3 if gate else 2), width
        self.mod = Linear(width, self.n * width)
        nn.init.zeros_(self.mod.weight)  # zero init: starts as a plain LayerNorm (and gate = 0 if gated)
        nn.init.zeros_(self.mod.bias)

    def modulation(self, cond: Tensor) -> Modulation:
        """cond [N, W] -> (1 + scale, shift, gate or None), each [N, 1, W] (broadcast over tokens)."""
        scale, shift, *gate = self.mod(cond).unsqueeze(1).chunk(self.n, dim=-1)
        return 1 + scale, shift, (gate[0] if gate else None)

    def forward(self, x: Tensor, m: Modulation) -> Tensor:
        if m[0].shape[0] == 1:  # one sample: the modulation is LayerNorm's own affine (one op instead of two)
            return F.layer_norm(x, (self.width,), m[0].view(-1), m[1].view(-1), eps=1e-6)
        return torch.addcmul(m[1], F.layer_norm(x, (self.width,), eps=1e-6), m[0])


def gated(x: Tensor, y: Tensor, gate: Tensor | None) -> Tensor:
    return x + y if gate is None else torch.addcmul(x, gate, y)


def attention(q: Tensor, kt: Tensor, v: Tensor, bias: Tensor | None = None) -> Tensor:
    """softmax(q @ kt + bias) @ v per head: q [B*h, N, d], kt [B*h, d, L] (keys scaled by 1/sqrt(d) and
    transposed), v [B*h, L, d], bias additive [B*h, 1, L] or None -> [B*h, N, d].
    """
    s = torch.bmm(q, kt)
    # softmax with fp32 output, then back: more exact for bf16, and torch's bf16 softmax kernel is ~5x slower on
    # rows whose length is not a multiple of its vector width (50 actions: 124 vs 25 us here)
    return torch.bmm((s if bias is None else s + bias).softmax(-1, dtype=torch.float32).to(v.dtype), v)


class Block(nn.Module):

    def __init__(self, cfg: ExpertConfig):
        super().__init__()
        w, self.heads = cfg.width, cfg.heads
        self.scale = (w // cfg.heads) ** -0.5
        self.norm1, self.norm2, self.norm3 = (AdaLN(w, cfg.gate) for _ in range(3))
        self.qkv, self.attn_out = Linear(w, 3 * w), Linear(w, w)
        self.q, self.kv, self.cross_out = Linear(w, w), Linear(w, 2 * w), Linear(w, w)
        hidden = cfg.mlp_ratio * w
        self.mlp = nn.Sequential(Linear(w, hidden), nn.GELU(approximate="tanh"), Linear(hidden, w))

    def to_heads(self, x: Tensor, n: int) -> Tensor:  # [B, N, n * W] -> [n, B * heads, N, d], contiguous
        b, t = x.shape[:2]  # (contiguous: bmm would otherwise copy strided operands on every call)
        return x.view(b, t, n, self.heads, -1).permute(2, 0, 3, 1, 4).contiguous().view(n, b * self.heads, t, -1)

    def from_heads(self, y: Tensor) -> Tensor:  # [B * heads, N, d] -> [B, N, W]
        return y.unflatten(0, (-1, self.heads)).transpose(1, 2).flatten(2)

    def context_kv(self, ctx: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention keys, pre-scaled and transposed [B * heads, d, L], and values [B * heads, L, d]."""
        k, v = self.to_heads(self.kv(ctx), 2)
        return (k * self.scale).transpose(1, 2).contiguous(), v

    def forward(self, x: Tensor, mods: list[Modulation], kt: Tensor, v: Tensor, ctx_bias: Tensor | None) -> Tensor:
        m1, m2, m3 = mods
        qs, ks, vs = self.to_heads(self.qkv(self.norm1(x, m1)), 3)  # self-attention over the chunk: bidirectional
        x = gated(x, self.attn_out(self.from_heads(attention(qs * self.scale, ks.transpose(1, 2), vs))), m1[2])
        q = self.to_heads(self.q(self.norm2(x, m2)), 1)[0]  # cross-attention: actions query the cached VLM context
        x = gated(x, self.cross_out(self.from_heads(attention(q, kt, v, ctx_bias))), m2[2])
        fc1, _, fc2 = self.mlp  # = self.mlp(h), with the GELU fused into fc1's GEMM where it is packed
        return gated(x, fc2(fc1(self.norm3(x, m3), gelu_tanh=True)), m3[2])


class Pi06Expert(nn.Module):

    def __init__(self, cfg: ExpertConfig):
        super().__init__()
        if cfg.width % cfg.heads or (cfg.width // cfg.heads) % 2:
            raise ValueError(f"width {cfg.width} must split into {cfg.heads} heads of even size")
        self.cfg = cfg
        w = cfg.width
        self.ctx_proj = Linear(cfg.context_dim, w)
        self.ctx_norm = nn.LayerNorm(w)  # VLM hidden states have model-specific scale; normalize once
        self.in_proj = Linear(cfg.action_dim, w)
        self.pos = nn.Parameter(torch.randn(cfg.horizon, w) * 0.02)
        self.time_mlp = nn.Sequential(Linear(w, w), nn.SiLU(), Linear(w, w), nn.SiLU())
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_norm = AdaLN(w, gate=False)
        self.out_proj = Linear(w, cfg.action_dim)

    def precompute_context(self, ctx: Tensor, ctx_mask: Tensor) -> dict:
        """Per-layer cross-attention keys/values for one chunk; reused by every denoising step.

        ctx [B, L, context_dim], ctx_mask [B, L] bool (True = valid token).
        """
        c = self.ctx_norm(self.ctx_proj(ctx))
        bias = None
        if not bool(ctx_mask.all()):  # additive mask; finfo.min (not -inf) keeps an all-masked row finite
            bias = torch.zeros(ctx_mask.shape, dtype=c.dtype, device=c.device)
            bias = bias.masked_fill(~ctx_mask.bool(), torch.finfo(c.dtype).min)
            bias = bias.repeat_interleave(self.cfg.heads, dim=0)[:, None, :]  # [B * heads, 1, L]
        return {"kv": [blk.context_kv(c) for blk in self.blocks], "bias": bias}

    def modulations(self, t: Tensor) -> list[Modulation]:
        """Every AdaLN's modulation (3 per block, then the final norm) for times t [N]: each tensor [N, 1, W]."""
        cond = self.time_mlp(fm.sinusoidal_time_embedding(t, self.cfg.width))
        norms = [n for blk in self.blocks for n in (blk.norm1, blk.norm2, blk.norm3)] + [self.final_norm]
        return [n.modulation(cond) for n in norms]

    def _velocity(self, x_t: Tensor, mods: list[Modulation], cache: dict) -> Tensor:
        x = self.in_proj(x_t) + self.pos[: x_t.shape[1]]
        for i, (blk, (kt, v)) in enumerate(zip(self.blocks, cache["kv"])):
            x = blk(x, mods[3 * i: 3 * i + 3], kt, v, cache["bias"])
        return self.out_proj(self.final_norm(x, mods[-1]))

    def velocity(self, x_t: Tensor, t: Tensor, cache: dict) -> Tensor:
        """v(x_t, t) [B, H, action_dim] for noisy actions x_t [B, H, action_dim] at times t [B]."""
        return self._velocity(x_t, self.modulations(t.to(x_t.dtype)), cache)

    def forward(self, x_t: Tensor, t: Tensor, ctx: Tensor, ctx_mask: Tensor) -> Tensor:
        return self.velocity(x_t, t, self.precompute_context(ctx, ctx_mask))

    def sample(self, cache: dict, noise: Tensor, num_steps: int = 10, inpaint: fm.Inpainting | None = None) -> Tensor:
        """euler_sample(velocity) with the time conditioning of all steps computed in one batched call.

        Runs under inference_mode (less per-op bookkeeping than no_grad); the result is cloned out of it so callers
        get an ordinary tensor. With `inpaint` (real-time chunking) each step also needs d velocity / d x_t, so it
        runs the plain guided loop instead (about 3x the compute of a step).
        """
        if inpaint is not None:
            return fm.euler_sample(lambda x, t: self.velocity(x, t, cache), noise, num_steps, inpaint=inpaint)
        times, dt = fm.euler_schedule(num_steps)
        b, steps = noise.shape[0], len(times)
        with torch.inference_mode():
            mods = self.modulations(times.to(noise.device, noise.dtype).repeat_interleave(b))  # [steps * B, 1, W]
            per_step = [[tuple(None if m is None else m.unflatten(0, (steps, b))[i] for m in mod) for mod in mods]
                        for i in range(steps)]
            x, dt = noise, dt.to(noise.device)
            for step_mods in per_step:
                x = x + dt * self._velocity(x, step_mods, cache)
        return x.clone()
