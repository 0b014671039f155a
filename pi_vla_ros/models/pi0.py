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

"""π0, π0.5 and π0-FAST (FACTS.md §2-4, §13): PaliGemma + a Gemma action expert as a mixture of transformers.

Built from stock HF transformers modules (PaliGemmaForConditionalGeneration for SigLIP + projector + Gemma,
GemmaDecoderLayer for the expert); only the joint forward is ours. Per layer every expert computes Q/K/V with
its own weights, the sequences are concatenated, one attention runs over all of them under the block-causal
"ar mask", and each expert's slice goes through its own o_proj and MLP.

    prefix = [SigLIP(image) for each camera | embed(tokens) * sqrt(width)]          ar = 0 ...
    suffix (π0)   = [state_proj(state) | mlp(action_in_proj(x_t), time_emb(t))]      ar = 1, 1, 0 ...
    suffix (π0.5) = [action_in_proj(x_t)], time conditions every expert norm (adaRMS) ar = 1, 0 ...
    v_t = action_out_proj(expert output of the action tokens)

π0.5's recipe adds a block of VLM target tokens between prefix and suffix, each attending causally (ar = 1):
``[SUBTASK_BEGIN subtask words END]`` (hierarchical inference) and ``[ACTION_BEGIN FAST tokens END]``, scored by
next-token cross-entropy. The expert's tokens never see the FAST tokens (nor the reverse), and take the positions
they would have without them, so they see exactly what they see at inference, where no FAST token exists.
``compute_losses`` returns ``loss = ce + alpha * flow`` (ce over text and FAST targets; either term alone when
the other is absent). Knowledge insulation (``insulate``): the expert reads detached VLM keys / values, so the
flow loss reaches no VLM parameter; the VLM learns from the next-token loss only. At inference only the expert
produces actions (``sample_actions``); π0-FAST (``expert=""``: no expert) decodes FAST tokens greedily instead
(``generate``: HF Gemma with a stock ``DynamicCache``), and hierarchical policies decode the subtask the same way.

Module names mirror openpi's PI0Pytorch, so state-dict keys equal its checkpoint keys except SigLIP's
"vision_model." level (flattened in transformers 5) and the tied lm_head / embed_tokens (policies/pi0/weights.py).
Sampling runs the prefix once, keeps its per-layer keys/values, and then runs only the expert per Euler step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import (DynamicCache, GemmaConfig, PaliGemmaConfig, PaliGemmaForConditionalGeneration,
                          SiglipVisionConfig)
from transformers.models.gemma.modeling_gemma import GemmaDecoderLayer, GemmaRMSNorm, apply_rotary_pos_emb

from . import flow_matching as fm
from .obs_encoder import ConvObsEncoder
from .vlm import IMAGE_KEYS


@dataclass(frozen=True)
class GemmaVariant:
    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class SiglipVariant:
    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    patch_size: int
    conv_width: int = 0  # > 0: a strided CNN of this width replaces the ViT (ConvVisionTower), same token grid


GEMMA_VARIANTS = {
    "gemma_2b": GemmaVariant(width=2048, depth=18, mlp_dim=16384, num_heads=8, num_kv_heads=1, head_dim=256),
    "gemma_300m": GemmaVariant(width=1024, depth=18, mlp_dim=4096, num_heads=8, num_kv_heads=1, head_dim=256),
    # Tests / CPU plumbing: same structure (8 heads, 1 KV head, shared depth), a few ten thousand parameters.
    "gemma_tiny": GemmaVariant(width=32, depth=2, mlp_dim=64, num_heads=8, num_kv_heads=1, head_dim=8),
    "gemma_expert_tiny": GemmaVariant(width=16, depth=2, mlp_dim=32, num_heads=8, num_kv_heads=1, head_dim=8),
    # Sim-sized, trained whole on a 2-core CPU (the VLM learns here: nothing pretrained can be downloaded).
    "gemma_sim": GemmaVariant(width=128, depth=3, mlp_dim=256, num_heads=4, num_kv_heads=1, head_dim=32),
    "gemma_expert_sim": GemmaVariant(width=64, depth=3, mlp_dim=128, num_heads=4, num_kv_heads=1, head_dim=32),
    # pi06_sim's expert width, the sim configs' default since the flow left the padding (README, π0.5's recipe);
    # with openpi's padded flow it had done worse than width 64 (8% vs 34%)
    "gemma_expert_sim_w128": GemmaVariant(width=128, depth=3, mlp_dim=256, num_heads=4, num_kv_heads=1,
                                          head_dim=32),
    # Every head its own keys / values: with one 32-dim KV head the expert reads the scene through 32 numbers per
    # token and layer (Gemma 2B: 256); pi06_sim's cross-attention reads 128.
    "gemma_sim_mha": GemmaVariant(width=128, depth=3, mlp_dim=256, num_heads=4, num_kv_heads=4, head_dim=32),
    "gemma_expert_sim_mha": GemmaVariant(width=64, depth=3, mlp_dim=128, num_heads=4, num_kv_heads=4, head_dim=32),
}
SIGLIP_VARIANTS = {
    "so400m/14": SiglipVariant(width=1152, depth=27, mlp_dim=4304, num_heads=16, patch_size=14),
    "siglip_tiny": SiglipVariant(width=16, depth=2, mlp_dim=32, num_heads=2, patch_size=4),
    "siglip_sim": SiglipVariant(width=64, depth=2, mlp_dim=128, num_heads=2, patch_size=16),
    # Sim-sized models trained from scratch on a CPU: a ViT does not learn to localize small cubes from a few
    # hundred demonstrations in that budget, a CNN does ("early convolutions", README "π0.5's recipe").
    "conv_sim": SiglipVariant(width=64, depth=1, mlp_dim=128, num_heads=2, patch_size=16, conv_width=32),
}
PREFIX_KEYS = ("images", "image_mask", "tokens", "token_mask")
# Markers in the VLM's reserved tail (the last 128 ids, FACTS §4; vocab - 1 is PaliGemma's image token):
# id = vocab_size - offset. Text and FAST ids never reach this tail.
SUBTASK_BEGIN, ACTION_BEGIN, END = 2, 3, 4


@dataclass(frozen=True)
class TokenBudget:
    """Constrained greedy decoding: token id i spends cost[i] of a fixed total (inf: never chosen); END is chosen
    when, and only when, the total is spent exactly, and a token only if the rest can still be spent exactly in the
    tokens left (so the sequence ends within max_new_tokens whenever it can). π0-FAST: the cost is a token's number
    of DCT coefficients, the total a chunk's H * D, so every decoded sequence is the encoding of some chunk.
    """

    cost: Tensor   # [vocab] float
    total: int
    fewest: Tensor = field(init=False, repr=False)   # [total + 1] fewest tokens spending exactly r (inf: none)

    def __post_init__(self):
        costs = sorted({int(c) for c in self.cost[self.cost.isfinite()].tolist() if 0 < c <= self.total})
        fewest = [0.0] + [float("inf")] * self.total
        for r in range(1, self.total + 1):   # coin change: a few ms, once per policy
            fewest[r] = 1 + min((fewest[r - c] for c in costs if c <= r), default=float("inf"))
        object.__setattr__(self, "fewest", torch.tensor(fewest))


@dataclass(frozen=True)
class Pi0ModelConfig:
    pi05: bool = False
    vlm: str = "gemma_2b"
    expert: str = "gemma_300m"   # "": no action expert (π0-FAST: actions are decoded FAST tokens)
    vision: str = "so400m/14"
    image_size: int = 224
    vocab_size: int = 257152
    action_dim: int = 32         # actions and state zero-padded to this many dims (openpi / LeRobot)
    action_horizon: int = 50
    num_steps: int = 10
    # > 0: the flow runs on the first noise_dims dims only (the robot's actions); the padding stays exactly 0 in
    # noise, x_t and velocity and is not scored. 0: openpi's noise and loss over all action_dim dims (parity).
    noise_dims: int = 0

    def __post_init__(self):
        for name, table in ((self.vlm, GEMMA_VARIANTS), (self.expert or self.vlm, GEMMA_VARIANTS),
                            (self.vision, SIGLIP_VARIANTS)):
            if name not in table:
                raise ValueError(f"unknown variant {name!r}; known: {sorted(table)}")
        v, e = GEMMA_VARIANTS[self.vlm], GEMMA_VARIANTS[self.expert or self.vlm]
        shared = ("depth", "num_heads", "num_kv_heads", "head_dim")
        if any(getattr(v, k) != getattr(e, k) for k in shared):  # both experts share every attention layer
            raise ValueError(f"VLM {self.vlm} and expert {self.expert} must agree on {shared}")
        if not 0 <= self.noise_dims <= self.action_dim:
            raise ValueError(f"noise_dims {self.noise_dims} must be in [0, action_dim={self.action_dim}]")

    def special_id(self, offset: int) -> int:
        """The id of a marker (SUBTASK_BEGIN, ACTION_BEGIN, END) in the VLM vocabulary."""
        return self.vocab_size - offset

    def hf_configs(self) -> tuple[PaliGemmaConfig, GemmaConfig | None]:
        v, s = GEMMA_VARIANTS[self.vlm], SIGLIP_VARIANTS[self.vision]
        vision = SiglipVisionConfig(hidden_size=s.width, num_hidden_layers=s.depth, intermediate_size=s.mlp_dim,
                                    num_attention_heads=s.num_heads, patch_size=s.patch_size,
                                    image_size=self.image_size, vision_use_head=False)

        def gemma(g: GemmaVariant, vocab: int, **special) -> GemmaConfig:
            return GemmaConfig(hidden_size=g.width, num_hidden_layers=g.depth, intermediate_size=g.mlp_dim,
                               num_attention_heads=g.num_heads, num_key_value_heads=g.num_kv_heads, head_dim=g.head_dim,
                               vocab_size=vocab, hidden_act="gelu_pytorch_tanh", rms_norm_eps=1e-6, **special)

        pg = PaliGemmaConfig(vision_config=vision, text_config=gemma(v, self.vocab_size), projection_dim=v.width,
                             hidden_size=v.width, vocab_size=self.vocab_size, image_token_index=self.vocab_size - 1)
        if not self.expert:
            return pg, None
        expert = gemma(GEMMA_VARIANTS[self.expert], 1, pad_token_id=None, bos_token_id=None, eos_token_id=None)
        return pg, expert  # the expert has no vocabulary


class AdaRMSNorm(nn.Module):
    """π0.5's adaptive RMSNorm: no weight; cond -> (scale, shift, gate) through a zero-initialised dense."""

    def __init__(self, width: int, cond_dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.dense = nn.Linear(cond_dim, 3 * width)
        nn.init.zeros_(self.dense.weight)  # starts as a plain RMSNorm with whatever the bias says

    def forward(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        xf = x.float()  # statistics in fp32, like Gemma's own norm
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        mod = self.dense(cond)  # cond [B, W], or [B, T, W] with per-action times (training-time RTC)
        scale, shift, gate = (mod[:, None] if mod.ndim == 2 else mod).chunk(3, dim=-1)
        return (normed * (1 + scale.float()) + shift.float()).to(x.dtype), gate.to(x.dtype)


def _norm(norm: nn.Module, x: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor | None]:
    return norm(x, cond) if isinstance(norm, AdaRMSNorm) else (norm(x), None)


def _residual(x: Tensor, y: Tensor, gate: Tensor | None) -> Tensor:
    return x + y if gate is None else x + y * gate


class GemmaExpert(nn.Module):
    """Stock Gemma decoder layers without an embedding; π0.5 swaps every norm for AdaRMSNorm."""

    def __init__(self, config: GemmaConfig, adarms: bool):
        super().__init__()
        self.layers = nn.ModuleList(GemmaDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        w = config.hidden_size
        self.norm = AdaRMSNorm(w, w) if adarms else GemmaRMSNorm(w, eps=config.rms_norm_eps)
        if adarms:
            for layer in self.layers:
                layer.input_layernorm, layer.post_attention_layernorm = AdaRMSNorm(w, w), AdaRMSNorm(w, w)


def make_attention_mask(pad: Tensor, ar: Tensor) -> Tensor:
    """[B, Q, K] bool: q sees k iff cumsum(ar)[k] <= cumsum(ar)[q] and both are real tokens (big_vision)."""
    c = ar.long().cumsum(dim=1)
    return (c[:, None, :] <= c[:, :, None]) & pad[:, None, :] & pad[:, :, None]


def recipe_mask(pad: Tensor, ar: Tensor, fast: Tensor, n_vlm: int) -> tuple[Tensor, Tensor]:
    """Mask [B, L, L] and positions [B, L] of a joint pass whose tokens from n_vlm on are the expert's.

    The ar mask, minus expert -> FAST (FAST -> expert is already excluded: the expert comes later). Expert tokens
    are numbered as if the FAST tokens were not there, as at inference.
    """
    expert = torch.arange(pad.shape[1], device=pad.device) >= n_vlm
    mask = make_attention_mask(pad, ar) & ~(expert[None, :, None] & fast[:, None, :])
    return mask, torch.where(expert, (pad & ~fast).long().cumsum(1), pad.long().cumsum(1)) - 1


class ConvVisionTower(nn.Module):
    """In SigLIP's place (sim configs): every camera [B, N, 3, S, S] -> [B, N, (S/16)^2, width], SigLIP's token grid.

    Unlike SigLIP it is given all cameras at once: its position embedding is per camera slot as well as per cell, so
    the tokens say which camera they come from. With one embedding shared by all cameras, the two wrist views (whose
    images look alike) could only be told apart by their RoPE distance, and the grasps trained from scratch
    missed, worse on one arm or the other from run to run (README "π0.5's recipe").
    """

    def __init__(self, variant: SiglipVariant, image_size: int, n_slots: int):
        super().__init__()
        self.encoder = ConvObsEncoder(n_slots=n_slots, image_size=image_size, width=variant.conv_width,
                                      out_dim=variant.width)

    def forward(self, images: Tensor, image_mask: Tensor) -> Tensor:
        tokens, _ = self.encoder(images, image_mask)
        return tokens.unflatten(1, (images.shape[1], -1))


class Pi0Model(nn.Module):
    """Batches (see policies/pi0/processing.py): images [B, N, 3, S, S] in [-1, 1], image_mask [B, N],
    tokens / token_mask [B, T], state [B, action_dim] (π0 only), actions / noise [B, H, action_dim]; optional
    VLM targets: targets / target_mask [B, T2] (ids / valid), target_fast [B, T2] (the FAST segment, markers
    included), target_loss [B, T2] (tokens scored by next-token CE; never a segment's begin marker).
    """

    def __init__(self, config: Pi0ModelConfig):
        super().__init__()
        self.config = c = config
        pg_cfg, expert_cfg = c.hf_configs()
        self.paligemma_with_expert = nn.ModuleDict({"paligemma": PaliGemmaForConditionalGeneration(pg_cfg)})
        vision = SIGLIP_VARIANTS[c.vision]
        if vision.conv_width:
            self.vlm.vision_tower = ConvVisionTower(vision, c.image_size, len(IMAGE_KEYS))
        if expert_cfg is None:  # π0-FAST: the VLM alone
            return
        w = expert_cfg.hidden_size
        self.paligemma_with_expert["gemma_expert"] = nn.ModuleDict({"model": GemmaExpert(expert_cfg, adarms=c.pi05)})
        self.action_in_proj = nn.Linear(c.action_dim, w)
        self.action_out_proj = nn.Linear(w, c.action_dim)
        if c.pi05:
            self.time_mlp_in, self.time_mlp_out = nn.Linear(w, w), nn.Linear(w, w)
        else:
            self.state_proj = nn.Linear(c.action_dim, w)
            self.action_time_mlp_in, self.action_time_mlp_out = nn.Linear(2 * w, w), nn.Linear(w, w)

    @property
    def vlm(self):  # PaliGemmaModel: vision_tower, multi_modal_projector, language_model
        return self.paligemma_with_expert["paligemma"].model

    @property
    def expert(self) -> GemmaExpert | None:
        return self.paligemma_with_expert["gemma_expert"]["model"] if self.config.expert else None

    @property
    def lm_head(self) -> nn.Linear:  # tied to embed_tokens
        return self.paligemma_with_expert["paligemma"].lm_head

    # -- embeddings ------------------------------------------------------------------------------------------------
    def embed_prefix(self, images: Tensor, image_mask: Tensor, tokens: Tensor, token_mask: Tensor):
        b, n = images.shape[:2]
        tower = self.vlm.vision_tower
        if isinstance(tower, ConvVisionTower):
            img = tower(images.to(self.dtype), image_mask)
        else:
            img = tower(pixel_values=images.flatten(0, 1).to(self.dtype)).last_hidden_state.unflatten(0, (b, n))
        img = self.vlm.multi_modal_projector(img)  # [B, N, P, W], no 1/sqrt(W) scaling
        lang = self.vlm.language_model.embed_tokens(tokens)  # Gemma's embedding multiplies by sqrt(width)
        emb = torch.cat([img.flatten(1, 2), lang], dim=1)
        pad = torch.cat([image_mask.bool().repeat_interleave(img.shape[2], dim=1), token_mask.bool()], dim=1)
        return emb, pad, torch.zeros_like(pad)  # ar = 0: bidirectional prefix

    def embed_context(self, batch: dict[str, Tensor]):
        """What the VLM reads: the prefix, then the target block if any (ar = 1: causal). Also [B, L] FAST flags."""
        emb, pad, ar = self.embed_prefix(*(batch[k] for k in PREFIX_KEYS))
        fast = torch.zeros_like(pad)
        if batch.get("targets") is not None:
            emb = torch.cat([emb, self.vlm.language_model.embed_tokens(batch["targets"])], 1)
            pad = torch.cat([pad, batch["target_mask"].bool()], 1)
            ar, fast = torch.cat([ar, torch.ones_like(batch["target_mask"], dtype=torch.bool)], 1), torch.cat(
                [fast, batch.get("target_fast", torch.zeros_like(batch["target_mask"])).bool()], 1)
        return emb, pad, ar, fast

    def embed_suffix(self, state: Tensor | None, x_t: Tensor, t: Tensor):
        """Suffix tokens, their pad / ar masks, and π0.5's adaRMS condition (None for π0). t: [B] or [B, H]."""
        b, h = x_t.shape[:2]
        time_emb = fm.sinusoidal_time_embedding(t.to(self.dtype), self.action_in_proj.out_features)
        act = self.action_in_proj(x_t)
        if self.config.pi05:
            cond = F.silu(self.time_mlp_out(F.silu(self.time_mlp_in(time_emb))))
            emb, ar = act, [1] + [0] * (h - 1)
        else:
            act = torch.cat([act, time_emb if time_emb.ndim == 3 else time_emb[:, None].expand(b, h, -1)], dim=-1)
            act = self.action_time_mlp_out(F.silu(self.action_time_mlp_in(act)))
            emb, ar, cond = torch.cat([self.state_proj(state)[:, None], act], dim=1), [1, 1] + [0] * (h - 1), None
        pad = torch.ones(b, emb.shape[1], dtype=torch.bool, device=emb.device)
        return emb, pad, torch.tensor(ar, dtype=torch.bool, device=emb.device).expand(b, -1), cond

    # -- the mixture of transformers -------------------------------------------------------------------------------
    def joint_forward(self, embs: list[Tensor | None], mask: Tensor, pos: Tensor, cond: Tensor | None = None,
                      cache: list[tuple[Tensor, Tensor]] | None = None, fill_cache: bool = False,
                      insulate: bool = False):
        """embs = [prefix or None, suffix or None]; mask [B, Q, K] bool over (cached +) current tokens.

        Returns the final-normed outputs per expert (None where no input) and, if fill_cache, the per-layer
        post-RoPE keys / values of this call's tokens. insulate (knowledge insulation): the expert's queries read
        detached VLM keys / values; the VLM's queries never read the expert's (the mask forbids it), so they attend
        to the VLM's keys alone. Same numbers, but no gradient flows from the expert's outputs into the VLM.
        """
        stacks, conds = [self.vlm.language_model, self.expert], [None, cond]
        active = [i for i, x in enumerate(embs) if x is not None]
        xs = {i: embs[i] for i in active}
        cos, sin = self.vlm.language_model.rotary_emb(xs[active[0]], pos)
        new_cache = []
        for li in range(len(stacks[0].layers)):
            q, k, v, gates = [], [], [], {}
            for i in active:
                layer = stacks[i].layers[li]
                h, gates[i] = _norm(layer.input_layernorm, xs[i], conds[i])
                a, shape = layer.self_attn, (*h.shape[:-1], -1, layer.self_attn.head_dim)
                q.append(a.q_proj(h).view(shape).transpose(1, 2))
                k.append(a.k_proj(h).view(shape).transpose(1, 2))
                v.append(a.v_proj(h).view(shape).transpose(1, 2))
            q, k = apply_rotary_pos_emb(torch.cat(q, 2), torch.cat(k, 2), cos, sin)
            v = torch.cat(v, 2)
            if fill_cache:
                new_cache.append((k, v))
            if cache is not None:
                k, v = torch.cat([cache[li][0], k], 2), torch.cat([cache[li][1], v], 2)
            scaling = stacks[active[0]].layers[li].self_attn.scaling
            if insulate and len(active) == 2:
                m, n = xs[0].shape[1], k.shape[2] - xs[1].shape[1]  # VLM queries, VLM keys
                k_x = torch.cat([k[:, :, :n].detach(), k[:, :, n:]], 2)
                v_x = torch.cat([v[:, :, :n].detach(), v[:, :, n:]], 2)
                out = torch.cat([self._attention(q[:, :, :m], k[:, :, :n], v[:, :, :n], mask[:, :m, :n], scaling),
                                 self._attention(q[:, :, m:], k_x, v_x, mask[:, m:], scaling)], 1)
            else:
                out = self._attention(q, k, v, mask, scaling)
            start = 0
            for i in active:
                layer, n = stacks[i].layers[li], xs[i].shape[1]
                x = _residual(xs[i], layer.self_attn.o_proj(out[:, start:start + n]), gates[i])
                h, gate = _norm(layer.post_attention_layernorm, x, conds[i])
                xs[i], start = _residual(x, layer.mlp(h), gate), start + n
        outs = [_norm(stacks[i].norm, xs[i], conds[i])[0] if i in xs else None for i in range(2)]
        return outs, new_cache

    @staticmethod
    def _attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, scaling: float) -> Tensor:
        """torch's fused attention (2-4x the eager form on a CPU, flash kernels on a GPU); k / v have fewer (KV)
        heads than q. A query that may see no key (padding) gets what eager attention gives it, the mean of every
        value (all keys allowed, its scores zeroed), where the fused kernels would give NaN.
        """
        b, nh, lq, d = q.shape
        empty = ~mask.any(-1)                                    # [B, Q]
        if empty.any():
            mask, q = mask | empty[..., None], q.masked_fill(empty[:, None, :, None], 0.0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None], scale=scaling, enable_gqa=True)
        return out.transpose(1, 2).reshape(b, lq, nh * d)

    # -- training and sampling -------------------------------------------------------------------------------------
    def compute_loss(self, batch: dict[str, Tensor], noise: Tensor | None = None, time: Tensor | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
        """compute_losses' total with its defaults: for a batch without targets, openpi's loss (the flow-matching MSE
        over horizon and all padded dims).
        """
        return self.compute_losses(batch, noise, time, generator)["loss"]

    def compute_losses(self, batch: dict[str, Tensor], noise: Tensor | None = None, time: Tensor | None = None,
                       generator: torch.Generator | None = None, *, alpha: float = 10.0, flow: bool = True,
                       insulate: bool = False, rtc_prefix: Tensor | None = None) -> dict[str, Tensor]:
        """One joint pass; "ce" (and its "ce_text" / "ce_fast" parts, where they have tokens) with targets,
        "flow" with actions, and "loss".

        loss = ce + alpha * flow (or whichever exists). flow=False (pre-training): the expert does not run.
        rtc_prefix [B, H] bool (training-time RTC): those actions are given clean (t = 0) and left out of the loss.
        """
        batch, c = self._to(batch), self.config
        emb, pad, ar, fast = self.embed_context(batch)
        n_vlm, suffix, cond, out = emb.shape[1], None, None, {}
        flow = flow and self.expert is not None and "actions" in batch
        if flow:
            actions = self._robot_dims(batch["actions"])
            noise = torch.randn(actions.shape, generator=generator).to(actions) if noise is None else noise.to(actions)
            noise = self._robot_dims(noise)
            time = fm.sample_time(actions.shape[0], generator).to(actions) if time is None else time.to(actions)
            t = time if rtc_prefix is None else fm.prefix_times(time, rtc_prefix.to(pad.device))
            suffix, s_pad, s_ar, cond = self.embed_suffix(batch.get("state"), fm.interpolate(actions, noise, t), t)
            pad, ar, fast = torch.cat([pad, s_pad], 1), torch.cat([ar, s_ar], 1), F.pad(fast, (0, s_pad.shape[1]))
        mask, pos = recipe_mask(pad, ar, fast, n_vlm)
        (vlm_out, expert_out), _ = self.joint_forward([emb, suffix], mask, pos, cond, insulate=insulate)
        if batch.get("targets") is not None:
            targets, scored, is_fast = batch["targets"], batch["target_loss"].bool(), batch["target_fast"].bool()
            logits = self._target_logits(vlm_out, n_vlm, targets.shape[1])
            ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
            for name, sel in (("ce", scored), ("ce_text", scored & ~is_fast), ("ce_fast", scored & is_fast)):
                if sel.any():  # a part without tokens is absent, not 0
                    out[name] = (ce * sel).sum() / sel.sum()
        if flow:
            v = self.action_out_proj(expert_out[:, -c.action_horizon:])
            keep = batch.get("action_mask")
            if rtc_prefix is not None:
                keep = ~rtc_prefix.to(pad.device) & (True if keep is None else keep.bool())
            n = c.noise_dims or c.action_dim
            out["flow"] = fm.flow_loss(v[..., :n], noise[..., :n], actions[..., :n], keep)
        if not out:
            raise ValueError("nothing to learn: the batch has neither targets nor actions for an expert")
        out["loss"] = (out["ce"] + alpha * out["flow"] if "ce" in out and "flow" in out
                       else out.get("flow", out.get("ce")))
        return out

    @torch.no_grad()
    def sample_actions(self, batch: dict[str, Tensor], noise: Tensor | None = None,
                       generator: torch.Generator | None = None, num_steps: int | None = None,
                       inpaint: fm.Inpainting | fm.PrefixInpainting | None = None) -> Tensor:
        """Normalized, padded actions [B, H, action_dim]: prefix KV cache once, then Euler steps of the expert
        (guided towards inpaint.target with real-time chunking).
        """
        c, b = self.config, batch["tokens"].shape[0]
        if noise is None:
            noise = torch.randn((b, c.action_horizon, c.action_dim), generator=generator)
        return self.denoise(self.prefix_cache(batch), self._robot_dims(noise), num_steps, inpaint)

    @torch.no_grad()
    def prefix_cache(self, batch: dict[str, Tensor]) -> dict:
        """Run the context (images + language [+ a decoded subtask block]) once: its per-layer keys / values and
        padding, plus the state.
        """
        batch = self._to(batch)
        prefix, p_pad, p_ar, fast = self.embed_context(batch)
        if fast.any():
            raise ValueError("the expert never reads FAST tokens: leave them out of its context")
        _, kv = self.joint_forward([prefix, None], make_attention_mask(p_pad, p_ar), p_pad.long().cumsum(1) - 1,
                                   fill_cache=True)
        return {"kv": kv, "pad": p_pad, "state": batch.get("state")}

    @torch.no_grad()
    def generate(self, batch: dict[str, Tensor], max_new_tokens: int, use_cache: bool = True,
                 budget: TokenBudget | None = None) -> tuple[Tensor, Tensor]:
        """Greedy decoding by the VLM alone after its context (which ends with a begin marker in batch["targets"]).

        Runs the stock HF Gemma forward, with a DynamicCache (each step feeds one token) or, use_cache=False,
        recomputing the whole sequence per step (the reference). Returns ids [B, n] (after a sample's END: END)
        and each sample's summed log-probability of its tokens up to END (the model's, constraint or not).
        budget: the most likely token among those the budget allows (see TokenBudget).
        """
        emb, pad, ar, _ = self.embed_context(self._to(batch))
        lm, b = self.vlm.language_model, emb.shape[0]
        end = torch.full((b,), self.config.special_id(END), device=emb.device)
        cache = DynamicCache(config=lm.config) if use_cache else None
        x, mask, pos = emb, make_attention_mask(pad, ar), pad.long().cumsum(1) - 1
        last = (pad.long() * torch.arange(pad.shape[1], device=pad.device)).argmax(1)  # the last real token
        ids, logp, done = [], torch.zeros(b, device=emb.device), torch.zeros(b, dtype=torch.bool, device=emb.device)
        spent = torch.zeros(b, device=emb.device)
        for step in range(max_new_tokens):
            bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device).masked_fill(~mask, torch.finfo(x.dtype).min)
            h = lm(inputs_embeds=x, attention_mask=bias[:, None], position_ids=pos, cache=cache,
                   use_cache=use_cache).last_hidden_state
            lp = self.lm_head(h[torch.arange(b), last]).float().log_softmax(-1)
            if budget is None:
                best, nxt = lp.max(-1)
            else:
                cost, left = budget.cost.to(lp.device), budget.total - spent
                after = (left[:, None] - cost[None]).clamp(-1, budget.total)   # [B, V]; -1: overspent (or inf cost)
                fewest = F.pad(budget.fewest.to(lp.device), (0, 1), value=float("inf"))   # index -1: never
                # the rest after this token must still be spendable exactly in the steps left before END
                allowed = fewest[after.nan_to_num(-1).long()] <= max_new_tokens - step - 2
                allowed[:, end[0]] = left == 0
                nxt = lp.masked_fill(~allowed, float("-inf")).argmax(-1)
                best = lp.gather(1, nxt[:, None])[:, 0]
                spent = spent + torch.where(nxt == end, 0.0, cost[nxt])
            nxt, logp = torch.where(done, end, nxt), logp + torch.where(done, 0.0, best)
            ids.append(nxt)
            done = done | (nxt == end)
            if done.all():
                break
            pad, ar = F.pad(pad, (0, 1), value=True), F.pad(ar, (0, 1), value=True)
            new = lm.embed_tokens(nxt[:, None])
            if use_cache:  # the new token sees every real token before it
                x, mask, pos, last = new, pad[:, None], pos[:, -1:] + 1, torch.zeros_like(last)
            else:
                emb = torch.cat([emb, new], 1)
                x, mask, pos = emb, make_attention_mask(pad, ar), pad.long().cumsum(1) - 1
                last = torch.full_like(last, emb.shape[1] - 1)
        return torch.stack(ids, 1), logp

    @torch.no_grad()
    def target_logprob(self, batch: dict[str, Tensor]) -> Tensor:
        """[B] each sample's summed log-probability of its scored target tokens (END included): ranks given texts
        (a hierarchical policy choosing among the task's own steps) by the VLM alone, as generate() scores its own.
        """
        batch = self._to(batch)
        emb, pad, ar, fast = self.embed_context(batch)
        n, targets = emb.shape[1], batch["targets"]
        mask, pos = recipe_mask(pad, ar, fast, n)
        (vlm_out, _), _ = self.joint_forward([emb, None], mask, pos, None)
        lp = self._target_logits(vlm_out, n, targets.shape[1]).log_softmax(-1)
        return (lp.gather(-1, targets[..., None])[..., 0] * batch["target_loss"]).sum(1)

    def _target_logits(self, vlm_out: Tensor, n_context: int, n_targets: int) -> Tensor:
        """fp32 logits [B, n_targets, V] for the target block that ends the context: position i-1 predicts i."""
        return self.lm_head(vlm_out[:, n_context - n_targets - 1:n_context - 1]).float()

    @torch.no_grad()
    def denoise(self, cache: dict, noise: Tensor, num_steps: int | None = None,
                inpaint: fm.Inpainting | fm.PrefixInpainting | None = None) -> Tensor:
        """Euler steps of the action expert from noise [B, H, action_dim], attending to a prefix_cache."""
        c, p_pad = self.config, cache["pad"]
        n_prefix = p_pad.long().sum(1, keepdim=True)

        def velocity(x_t: Tensor, t: Tensor) -> Tensor:
            suffix, s_pad, s_ar, cond = self.embed_suffix(cache["state"], x_t, t)
            mask = torch.cat([p_pad[:, None].expand(-1, suffix.shape[1], -1), make_attention_mask(s_pad, s_ar)], 2)
            pos = n_prefix + s_pad.long().cumsum(1) - 1
            (_, out), _ = self.joint_forward([None, suffix], mask, pos, cond, cache=cache["kv"])
            return self._robot_dims(self.action_out_proj(out[:, -c.action_horizon:]))

        return fm.euler_sample(velocity, noise.to(self.device, self.dtype), num_steps or c.num_steps, inpaint)

    def _robot_dims(self, x: Tensor) -> Tensor:
        """x [..., action_dim] with the padding past config.noise_dims set to 0 (unchanged when noise_dims is 0)."""
        n = self.config.noise_dims
        return F.pad(x[..., :n], (0, x.shape[-1] - n)) if n else x

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return (self.action_in_proj if self.expert is not None else self.lm_head).weight.dtype

    def _to(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
                for k, v in batch.items() if v is not None}
