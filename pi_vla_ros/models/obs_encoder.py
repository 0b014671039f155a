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

"""A small trainable observation encoder whose tokens join a frozen VLM's prefix (simulation configs).

    images [B, N, 3, S, S] --shared 4-layer strided CNN--> [B, N, (S/16)^2, D] + slot/position embedding --.
    state [B, state_dim] (normalized) --linear--> [B, 1, D] (optional) -----------------------------------+--> LayerNorm
                                                                                     -> tokens [B, M, D], mask [B, M]

D is the VLM width, so the tokens are concatenated with the VLM's hidden states and go through the action expert's
context projection like any prefix token. A missing camera slot masks its tokens. Images are floats in [-1, 1]
(the processor's format) or uint8 in [0, 255] (cached training data), converted here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class ConvObsEncoder(nn.Module):

    def __init__(self, n_slots: int, image_size: int, width: int, out_dim: int, state_dim: int = 0):
        super().__init__()
        half = max(8, width // 2)

        def conv(cin, cout, k):
            return nn.Conv2d(cin, cout, k, stride=2, padding=k // 2)

        self.net = nn.Sequential(
            conv(3, half, 5), nn.GroupNorm(8, half), nn.GELU(),
            conv(half, width, 3), nn.GroupNorm(8, width), nn.GELU(),
            conv(width, width, 3), nn.GroupNorm(8, width), nn.GELU(),
            conv(width, out_dim, 3),
        )
        side = image_size
        for _ in range(4):  # each stride-2 conv (padding k // 2) maps a side s to ceil(s / 2)
            side = math.ceil(side / 2)
        self.tokens_per_image = side * side
        self.pos = nn.Parameter(torch.randn(n_slots, self.tokens_per_image, out_dim) * 0.02)
        self.state_proj = nn.Linear(state_dim, out_dim) if state_dim else None
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, images: Tensor, image_mask: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, n = images.shape[:2]
        x = images.flatten(0, 1)
        if x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1.0
        f = self.net(x.to(self.pos.dtype))                        # [B*N, D, s, s]
        tokens = f.flatten(2).transpose(1, 2).unflatten(0, (b, n)) + self.pos[:n]   # [B, N, s*s, D]
        mask = image_mask.bool()[:, :, None].expand(b, n, self.tokens_per_image)
        tokens, mask = tokens.flatten(1, 2), mask.flatten(1, 2)
        if self.state_proj is not None:
            if state is None:
                raise ValueError("this observation encoder needs the state")
            tokens = torch.cat([tokens, self.state_proj(state.to(tokens.dtype))[:, None]], dim=1)
            mask = torch.cat([mask, mask.new_ones(b, 1)], dim=1)
        return self.norm(tokens), mask
