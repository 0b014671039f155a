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

"""π0 / π0.5 / π0-FAST behind the Policy interface (policies/base.py), bound to one robot profile.

Reuses the π0.6 policy's camera-slot mapping and checkpoint checks; what differs is the model, the processor (state
and actions padded to 32 dims), inference and the checkpoint. One ``infer``:

1. hierarchical (config.subtask): the VLM decodes the subtask greedily after ``[SUBTASK_BEGIN]``, or, given the
   task's steps (``obs.subtask_choices``, two or more), picks the most likely of them, or takes ``obs.subtask``
   (a person's verbal instruction) as given; info gets ``subtask``, ``subtask_confidence`` (greedy: the
   sequence's probability, END included, 0 when no END came within max_subtask_tokens; among steps: its share of
   their summed probability) and
   ``subtask_source`` (``predicted`` | ``given``). The subtask block joins the context of step 2.
2. actions: the expert's Euler steps (only the expert acts; FAST tokens are never decoded for it), with real-time
   chunking by guidance, or by hard inpainting when trained with training-time RTC; π0-FAST decodes FAST tokens
   greedily after ``[ACTION_BEGIN]`` and inverts them; with ``fast_constrained_decoding`` only among the FAST
   tokens that can still add up to exactly H x D coefficients, END only once they do. A sequence that is not
   the encoding of a chunk (no END within max_target_tokens, a non-FAST id, the wrong number of coefficients)
   raises InvalidActionTokens: the policy node rejects the request (``invalid_action_tokens``), no action is
   produced. π0-FAST ignores committed actions (no flow to inpaint).

Checkpoint:

    config.json        {"policy": "pi0", "format_version": 1, "untrained": bool, "config": Pi0Config}
    model.safetensors  openpi's PyTorch layout (weights.py), loadable by openpi and LeRobot as well
    norm_stats.json    {"norm_stats": {"state": {mean, std, q01, q99}, "actions": {...}}} (openpi's format)
    tokenizer/         tokenizer files (loaded locally, never from a hub)
    fast/              the FAST tokenizer fitted on the training set (fast_tokens only)
Loading is strict: any missing, unexpected, mis-shaped or non-finite tensor, non-finite norm stats, a config value
of the wrong type, or a corrupt file raises CheckpointError.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from pi_vla_ros.models import flow_matching as fm
from pi_vla_ros.models.fast import FastTokenizer, InvalidActionTokens, SPECIAL_TAIL, from_vlm_ids, to_vlm_ids
from pi_vla_ros.models.pi0 import ACTION_BEGIN, END, Pi0Model, SUBTASK_BEGIN, TokenBudget
from pi_vla_ros.policies.base import ActionChunk, Observation
from pi_vla_ros.policies.checkpoint import CheckpointError
from pi_vla_ros.policies.pi06.policy import Pi06Policy
from pi_vla_ros.policies.pi06.processing import NormStats

from .configuration import Pi0Config
from .processing import Pi0Processor
from .weights import load_weights, save_weights


class Pi0Policy(Pi06Policy):
    KIND = "pi0"
    CONFIG, PROCESSOR = Pi0Config, Pi0Processor
    GUIDANCE = False  # Recap's classifier-free guidance: π0.6 only so far

    def __init__(self, model: Pi0Model, processor: Pi0Processor, profile, *, untrained: bool = False, seed: int = 0):
        if processor.config.model != model.config:
            raise ValueError("the processor's config and the model disagree")
        cfg, fast = processor.config, processor.fast
        if cfg.fast_tokens:  # FAST ids sit below the reserved tail and must not reach the text ids
            lowest = cfg.model.vocab_size - 1 - SPECIAL_TAIL - (cfg.fast_vocab - 1)
            if len(processor.tokenizer) > lowest:
                raise ValueError(f"{len(processor.tokenizer)} text tokens overlap FAST ids from {lowest} "
                                 f"(vocab {cfg.model.vocab_size}, fast_vocab {cfg.fast_vocab})")
            if fast is not None and (fast.vocab_size > cfg.fast_vocab or (fast.horizon, fast.action_dim) !=
                                     (cfg.horizon, len(cfg.action_names))):
                raise ValueError(f"FAST tokenizer ({fast.vocab_size} tokens, chunks {fast.horizon}x{fast.action_dim})"
                                 f" does not fit the config ({cfg.fast_vocab}, {cfg.horizon}x{len(cfg.action_names)})")
        super().__init__(model, processor, profile, untrained=untrained, seed=seed)
        self._budget: TokenBudget | None = None

    @property
    def config(self) -> Pi0Config:
        return self.processor.config

    @property
    def vocab_size(self) -> int:
        return self.config.model.vocab_size

    @property
    def horizon(self) -> int:
        return self.config.horizon

    # reset() comes from Pi06Policy.
    def infer(self, obs: Observation, noise: np.ndarray | None = None) -> ActionChunk:
        """One chunk (see the module docstring); noise, if given, is model space: [H, 32]."""
        t0, cfg, model = time.perf_counter(), self.config, self.model
        unknown = set(obs.images) - set(self.slots) - self.ignored
        if unknown:
            raise ValueError(f"images from cameras {sorted(unknown)} not in profile {self.profile.name!r}")
        state = np.asarray(obs.state, dtype=np.float32)
        sample = {"images": {self.slots[n]: img for n, img in obs.images.items() if n in self.slots},
                  "state": state, "prompt": obs.prompt, "advantage": True if cfg.advantage_conditioned else None}
        if obs.committed is not None and model.expert is not None:
            sample["actions"], sample["fast"] = self._committed_rows(obs.committed), False
        truncated_before = self.processor.truncated_prompts
        batch = self.processor([sample])
        committed = batch.pop("actions", None)
        info, context = {"prompt_truncated": self.processor.truncated_prompts > truncated_before}, []
        if cfg.subtask:
            given = getattr(obs, "subtask", None)
            text, confidence = ((given, 1.0) if given is not None else
                                self.predict_subtask(batch, getattr(obs, "subtask_choices", ())))
            info |= {"subtask": text, "subtask_confidence": confidence,
                     "subtask_source": "predicted" if given is None else "given"}
            context = [(SUBTASK_BEGIN, self.processor.text_ids(text), False)]
        if model.expert is None:
            actions = self._decode_fast(batch, context)
        else:
            inpaint = None
            if committed is not None:
                c = obs.committed
                inpaint = (fm.PrefixInpainting.first(committed, c.frozen) if cfg.training_rtc_max_delay else
                           fm.Inpainting(committed, fm.rtc_weights(self.horizon, c.frozen, c.overlap),
                                         self.max_guidance))
            if context:
                batch |= self.processor.target_block([context])
            noise_t = None if noise is None else torch.as_tensor(np.asarray(noise, dtype=np.float32))[None]
            actions = model.sample_actions(batch, noise=noise_t, generator=self._gen, inpaint=inpaint)
        actions = self.processor.postprocess(actions, state[None])[0]
        info |= {"policy": cfg.name, "untrained": self.untrained, "latency_s": time.perf_counter() - t0}
        return ActionChunk(actions=actions, dt=self.metadata.dt, stamp=obs.stamp, info=info)

    def predict_subtask(self, batch: dict[str, torch.Tensor], choices=()) -> tuple[str, float]:
        """The subtask after the prompt and observation, and a confidence: with two or more choices the most likely
        of them (each scored whole, END included) and its share of their summed probability; else greedy text and
        its probability (0 without an END).
        """
        if len(choices) > 1:
            block = self.processor.target_block([[(SUBTASK_BEGIN, self.processor.text_ids(c), False)]
                                                 for c in choices])
            k = len(choices)
            logp = self.model.target_logprob({n: v.expand(k, *v.shape[1:]) for n, v in batch.items()} | block)
            share = logp.softmax(0)   # how sure it is of this step rather than the others
            best = int(share.argmax())
            return choices[best], float(share[best])
        context = self.processor.target_block([[(SUBTASK_BEGIN, [], False)]], close=False)
        ids, logp = self.model.generate(batch | context, self.config.max_subtask_tokens + 1)
        seq, end = ids[0].tolist(), self.config.model.special_id(END)
        words = [t for t in seq[:seq.index(end) if end in seq else len(seq)] if t < len(self.processor.tokenizer)]
        text = self.processor.tokenizer.decode(words, skip_special_tokens=True).strip()
        return text, float(math.exp(logp[0])) if end in seq else 0.0

    def _decode_fast(self, batch: dict[str, torch.Tensor], context: list) -> torch.Tensor:
        """π0-FAST: greedy FAST tokens after the context, inverted to normalized actions [1, H, 32]."""
        cfg, fast = self.config, self.processor.fast
        if fast is None:
            raise InvalidActionTokens(f"{cfg.name} has no FAST tokenizer (one is fitted on the training set)")
        block = self.processor.target_block([context + [(ACTION_BEGIN, [], True)]], close=False)
        ids, _ = self.model.generate(batch | block, cfg.max_target_tokens,
                                     budget=self._fast_budget() if cfg.fast_constrained_decoding else None)
        seq, end = ids[0].tolist(), cfg.model.special_id(END)
        if end not in seq:
            raise InvalidActionTokens(f"no end of the action tokens within {cfg.max_target_tokens} tokens")
        chunk = fast.decode(from_vlm_ids(seq[:seq.index(end)], cfg.model.vocab_size).tolist())
        out = torch.zeros(1, cfg.horizon, cfg.model.action_dim)
        out[0, :, :chunk.shape[1]] = torch.from_numpy(chunk)
        return out

    def _fast_budget(self) -> TokenBudget:
        if self._budget is None:
            fast, vocab = self.processor.fast, self.config.model.vocab_size
            cost = torch.full((vocab,), float("inf"))
            cost[torch.from_numpy(to_vlm_ids(np.arange(fast.vocab_size), vocab))] = torch.from_numpy(
                fast.symbol_counts()).float()
            self._budget = TokenBudget(cost, fast.horizon * fast.action_dim)
        return self._budget

    @classmethod
    def build(cls, config: Pi0Config, profile, *, weights: str | Path | None = None,
              norm_stats: dict[str, NormStats] | None = None, tokenizer=None, device: str = "cpu",
              seed: int = 0, fast: FastTokenizer | None = None, untrained: bool | None = None) -> Pi0Policy:
        """A policy from a registry config: random weights, or `weights` = an openpi / LeRobot model.safetensors.

        tokenizer: a tokenizer object or a LOCAL directory (e.g. PaliGemma's); without one, a small word-level
        tokenizer is built from the profile's task words (untrained plumbing only). Without norm_stats the
        normalization is the identity. fast: the FAST tokenizer of fast_tokens configs (fitted on a dataset).
        untrained: whether to flag (and warn about) random weights; default: without `weights` (a trainer about
        to train them passes False).
        """
        cfg = config.resolve(profile)
        with torch.random.fork_rng(devices=[]):  # deterministic init without touching the caller's RNG
            torch.manual_seed(seed)
            model = Pi0Model(cfg.model)
        if weights is not None:
            load_weights(model, weights)
        processor = cls._processor(cfg, profile, tokenizer, norm_stats)
        processor.fast = fast
        untrained = weights is None if untrained is None else untrained
        return cls(model.to(device), processor, profile, untrained=untrained, seed=seed)

    def save_pretrained(self, path: str | Path) -> Path:
        path = self._save_common(path)
        save_weights(self.model, path / "model.safetensors")
        if self.processor.fast is not None:
            self.processor.fast.save(path / "fast")
        return path

    @classmethod
    def _processor_from_files(cls, path: Path, cfg):
        processor = super()._processor_from_files(path, cfg)
        if cfg.fast_tokens:
            try:
                processor.fast = FastTokenizer.load(path / "fast")
            except Exception as exc:  # noqa: BLE001 - tokenizers raises its own exception types
                raise CheckpointError(f"missing or corrupt FAST tokenizer in {path / 'fast'}: {exc}") from exc
        return processor

    @classmethod
    def from_pretrained(cls, path: str | Path, profile, *, device: str = "cpu", seed: int = 0) -> Pi0Policy:
        path, meta, cfg, processor = cls._read_checkpoint(path, profile)
        model = Pi0Model(cfg.model)
        load_weights(model, path / "model.safetensors")
        return cls(model.to(device), processor, profile, untrained=bool(meta.get("untrained", False)), seed=seed)
