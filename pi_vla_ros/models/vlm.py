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

"""Frozen PaliGemma backbone (stock HF transformers, no patching) that turns camera images and
tokenized language into a prefix of hidden states for an action expert to attend to.

Prefix layout (openpi's): [image tokens of slot 0 | slot 1 | ... | language tokens], attention
bidirectional over all valid prefix tokens, position ids = cumsum(valid) - 1. A missing camera keeps
its slot (fixed L, so batches stack) but its tokens are masked out everywhere.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import GemmaConfig, PaliGemmaConfig, PaliGemmaModel, SiglipVisionConfig

IMAGE_KEYS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")  # openpi's image slots

# Named sizes. Only `vlm_config(name)` builds one; nothing large is instantiated at import.
VLM_SIZES: dict[str, dict] = {
    # Published PaliGemma 3B (FACTS.md §2): SigLIP So400m/14 + Gemma 2B.
    "paligemma-3b": dict(
        vision=dict(patch_size=14, hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                    num_attention_heads=16),
        text=dict(hidden_size=2048, intermediate_size=16384, num_hidden_layers=18, num_attention_heads=8,
                  num_key_value_heads=1, head_dim=256, vocab_size=257152),
        image_size=224,
    ),
    # For tests and CPU runs: same structure, a few hundred thousand parameters.
    "tiny": dict(
        vision=dict(patch_size=16, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2),
        text=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=64, vocab_size=1024),
        image_size=64,
    ),
}


def vlm_config(name: str, image_size: int | None = None) -> PaliGemmaConfig:
    if name not in VLM_SIZES:
        raise KeyError(f"unknown VLM config {name!r}; known: {sorted(VLM_SIZES)}")
    size = VLM_SIZES[name]
    vision = SiglipVisionConfig(image_size=image_size or size["image_size"], vision_use_head=False, **size["vision"])
    text = GemmaConfig(hidden_activation="gelu_pytorch_tanh", **size["text"])
    vocab, width = size["text"]["vocab_size"], size["text"]["hidden_size"]
    return PaliGemmaConfig(vision_config=vision, text_config=text, projection_dim=width, hidden_size=width,
                           vocab_size=vocab, image_token_index=vocab - 1)


class PaliGemmaBackbone(nn.Module):
    """PaliGemmaModel (no LM head: only hidden states are needed), frozen and in eval mode."""

    def __init__(self, config: PaliGemmaConfig, model: PaliGemmaModel | None = None):
        super().__init__()
        self.pg = model if model is not None else PaliGemmaModel(config)
        self.pg.requires_grad_(False)
        self.pg.eval()

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype | None = None) -> "PaliGemmaBackbone":
        """Load HF PaliGemma weights from a LOCAL directory; any missing or mis-shaped weight is an error."""
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"VLM directory {path} has no config.json (only local directories are accepted)")
        model, info = PaliGemmaModel.from_pretrained(path, local_files_only=True, output_loading_info=True, dtype=dtype)
        unexpected = [k for k in info["unexpected_keys"] if not k.startswith("lm_head.")]  # LM head is unused
        problems = {"missing": sorted(info["missing_keys"]), "unexpected": sorted(unexpected),
                    "mis-shaped": sorted(str(k) for k in info["mismatched_keys"])}
        if any(problems.values()) or info.get("error_msgs"):
            raise ValueError(f"VLM weights in {path} do not match the model (refusing random weights): "
                             f"{ {k: v for k, v in problems.items() if v} } {info.get('error_msgs') or ''}")
        return cls(model.config, model)

    def train(self, mode: bool = True) -> "PaliGemmaBackbone":
        return super().train(False)  # frozen: dropout etc. stay off even when the policy trains

    @property
    def hidden_size(self) -> int:
        return self.pg.config.text_config.hidden_size

    @property
    def image_size(self) -> int:
        return self.pg.config.vision_config.image_size

    @property
    def vocab_size(self) -> int:
        return self.pg.config.text_config.vocab_size

    @torch.no_grad()
    def forward(self, images: Tensor, image_mask: Tensor, tokens: Tensor, token_mask: Tensor) -> tuple[Tensor, Tensor]:
        """images [B, N, 3, S, S] in [-1, 1], image_mask [B, N] bool, tokens/token_mask [B, T].

        Returns the last hidden states [B, N * n_img + T, D] and their validity mask [B, N * n_img + T].
        """
        b, n = images.shape[:2]
        lm = self.pg.language_model
        parts, masks = [], []
        for i in range(n):
            valid = image_mask[:, i].bool()
            if valid.any():
                feats = self.pg.get_image_features(images[:, i].to(lm.dtype)).pooler_output
            else:  # slot empty in the whole batch: skip the vision tower, tokens are masked anyway
                n_img = (self.image_size // self.pg.config.vision_config.patch_size) ** 2
                feats = images.new_zeros(b, n_img, self.hidden_size, dtype=lm.dtype)
            parts.append(feats)
            masks.append(valid[:, None].expand(b, feats.shape[1]))
        parts.append(lm.embed_tokens(tokens))  # Gemma's embedding scales by sqrt(width) itself
        masks.append(token_mask.bool())
        x, mask = torch.cat(parts, dim=1), torch.cat(masks, dim=1)
        # Bidirectional over valid tokens: an additive [B, 1, L, L] mask (works for eager and sdpa, no NaN rows).
        attn = torch.zeros(b, 1, x.shape[1], x.shape[1], dtype=x.dtype, device=x.device)
        attn.masked_fill_(~mask[:, None, None, :], torch.finfo(x.dtype).min)
        pos = (mask.long().cumsum(dim=1) - 1).clamp_min(0)
        hidden = lm(inputs_embeds=x, attention_mask=attn, position_ids=pos).last_hidden_state
        return hidden, mask
