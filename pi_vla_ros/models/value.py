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

"""Distributional value head for Recap (π*0.6, FACTS.md §7).

    context tokens [B, L, D] --proj+LayerNorm--> a learned query attends over them --MLP--> logits [B, bins]

The bins split [v_min, v_max] = [-1, 0] (returns normalized by the longest episode) into 201 values; the head is
trained with cross-entropy against the Monte-Carlo return put on the two nearest bins (weights by distance, so the
target's expectation is the return itself) and read out as V = sum_b p(b) v(b).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def two_hot(values: Tensor, support: Tensor) -> Tensor:
    """[B] values -> [B, bins] probabilities on the two bins around each value (clamped to the support)."""
    v = values.clamp(float(support[0]), float(support[-1]))
    pos = (v - support[0]) / (support[1] - support[0])
    lo = pos.floor().long().clamp(max=len(support) - 2)
    w_hi = (pos - lo).unsqueeze(1)
    target = torch.zeros(len(v), len(support), dtype=values.dtype, device=values.device)
    target.scatter_(1, lo.unsqueeze(1), 1 - w_hi)
    target.scatter_add_(1, (lo + 1).unsqueeze(1), w_hi)
    return target


class DistributionalValueHead(nn.Module):
    def __init__(self, context_dim: int, width: int = 128, heads: int = 4, bins: int = 201,
                 v_min: float = -1.0, v_max: float = 0.0):
        super().__init__()
        self.proj = nn.Linear(context_dim, width)
        self.norm = nn.LayerNorm(width)
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, bins))
        self.register_buffer("support", torch.linspace(v_min, v_max, bins), persistent=False)

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """tokens [B, L, context_dim], mask [B, L] (True = valid) -> logits [B, bins]."""
        kv = self.norm(self.proj(tokens))
        pooled, _ = self.attn(self.query.expand(len(kv), -1, -1).to(kv.dtype), kv, kv,
                              key_padding_mask=~mask.bool(), need_weights=False)
        return self.mlp(pooled[:, 0])

    def expectation(self, logits: Tensor) -> Tensor:
        return (logits.float().softmax(-1) * self.support).sum(-1)

    def loss(self, logits: Tensor, returns: Tensor) -> Tensor:
        """Cross-entropy against the two-hot discretized returns [B]."""
        return -(two_hot(returns.float(), self.support) * F.log_softmax(logits.float(), -1)).sum(-1).mean()
