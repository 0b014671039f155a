"""π0.6-style action expert (FACTS.md §6): a small DiT-like transformer over the action chunk that
cross-attends to frozen VLM hidden states and predicts the flow-matching velocity.

    ctx [B, L, C] --ctx_proj--> [B, L, W] --(per layer k/v, computed once per chunk)--.
    x_t [B, H, A] --in_proj + pos--> x --{AdaLN self-attn, AdaLN cross-attn, AdaLN FFN} x depth--> AdaLN --out_proj--> v
    t [B] --sinusoid--> time MLP --> cond (drives every AdaLN)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .flow_matching import euler_sample, sinusoidal_time_embedding


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
        self.n = 3 if gate else 2
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mod = nn.Linear(width, self.n * width)
        nn.init.zeros_(self.mod.weight)  # zero init: starts as a plain LayerNorm (and gate = 0 if gated)
        nn.init.zeros_(self.mod.bias)

    def forward(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor | float]:
        scale, shift, *gate = self.mod(cond).unsqueeze(1).chunk(self.n, dim=-1)
        return self.norm(x) * (1 + scale) + shift, (gate[0] if gate else 1.0)


class Block(nn.Module):
    def __init__(self, cfg: ExpertConfig):
        super().__init__()
        w, self.heads = cfg.width, cfg.heads
        self.norm1, self.norm2, self.norm3 = (AdaLN(w, cfg.gate) for _ in range(3))
        self.qkv, self.attn_out = nn.Linear(w, 3 * w), nn.Linear(w, w)
        self.q, self.kv, self.cross_out = nn.Linear(w, w), nn.Linear(w, 2 * w), nn.Linear(w, w)
        hidden = cfg.mlp_ratio * w
        self.mlp = nn.Sequential(nn.Linear(w, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, w))

    def split(self, x: Tensor) -> Tensor:  # [B, N, W] -> [B, heads, N, W/heads]
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def merge(self, x: Tensor) -> Tensor:
        return x.transpose(1, 2).flatten(-2)

    def context_kv(self, ctx: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.kv(ctx).chunk(2, dim=-1)
        return self.split(k), self.split(v)

    def forward(self, x: Tensor, cond: Tensor, k: Tensor, v: Tensor, ctx_mask: Tensor) -> Tensor:
        h, g = self.norm1(x, cond)  # self-attention over the chunk: bidirectional, no mask
        qs, ks, vs = map(self.split, self.qkv(h).chunk(3, dim=-1))
        x = x + g * self.attn_out(self.merge(F.scaled_dot_product_attention(qs, ks, vs)))
        h, g = self.norm2(x, cond)  # cross-attention: actions query the (cached) VLM context
        y = F.scaled_dot_product_attention(self.split(self.q(h)), k, v, attn_mask=ctx_mask)
        x = x + g * self.cross_out(self.merge(y))
        h, g = self.norm3(x, cond)
        return x + g * self.mlp(h)


class Pi06Expert(nn.Module):
    def __init__(self, cfg: ExpertConfig):
        super().__init__()
        if cfg.width % cfg.heads or (cfg.width // cfg.heads) % 2:
            raise ValueError(f"width {cfg.width} must split into {cfg.heads} heads of even size")
        self.cfg = cfg
        w = cfg.width
        self.ctx_proj = nn.Linear(cfg.context_dim, w)
        self.ctx_norm = nn.LayerNorm(w)  # VLM hidden states have model-specific scale; normalize once
        self.in_proj = nn.Linear(cfg.action_dim, w)
        self.pos = nn.Parameter(torch.randn(cfg.horizon, w) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w), nn.SiLU())
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_norm = AdaLN(w, gate=False)
        self.out_proj = nn.Linear(w, cfg.action_dim)

    def precompute_context(self, ctx: Tensor, ctx_mask: Tensor) -> dict:
        """Per-layer cross-attention keys/values for one chunk; reused by every denoising step.

        ctx [B, L, context_dim], ctx_mask [B, L] bool (True = valid token).
        """
        c = self.ctx_norm(self.ctx_proj(ctx))
        return {"kv": [blk.context_kv(c) for blk in self.blocks], "mask": ctx_mask[:, None, None, :].bool()}

    def velocity(self, x_t: Tensor, t: Tensor, cache: dict) -> Tensor:
        """v(x_t, t) [B, H, action_dim] for noisy actions x_t [B, H, action_dim] at times t [B]."""
        x = self.in_proj(x_t) + self.pos[: x_t.shape[1]]
        cond = self.time_mlp(sinusoidal_time_embedding(t.to(x.dtype), self.cfg.width))
        for blk, (k, v) in zip(self.blocks, cache["kv"]):
            x = blk(x, cond, k, v, cache["mask"])
        return self.out_proj(self.final_norm(x, cond)[0])

    def forward(self, x_t: Tensor, t: Tensor, ctx: Tensor, ctx_mask: Tensor) -> Tensor:
        return self.velocity(x_t, t, self.precompute_context(ctx, ctx_mask))

    @torch.no_grad()
    def sample(self, cache: dict, noise: Tensor, num_steps: int = 10) -> Tensor:
        return euler_sample(lambda x, t: self.velocity(x, t, cache), noise, num_steps)
