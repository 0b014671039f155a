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

"""π0 / π0.5 pre/post-processing: the π0.6 pipeline (resize with padding, normalization with stored stats, delta
actions, π0.5's discretized state in the prompt) plus openpi's zero-padding of state and actions to the model's
action_dim (32) and the slicing back to the robot's action dims.

The VLM target block (models/pi0.py): a sample's ``subtask`` (config.subtask) becomes
``[SUBTASK_BEGIN words END]``, its normalized model-space action chunk (config.fast_tokens, with a fitted
``fast`` tokenizer) ``[ACTION_BEGIN FAST ids END]``; every token but the begin markers is scored. A block longer
than config.max_target_tokens is a ValueError (raise the limit), never silently cut.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pi_vla_ros.models.fast import FastTokenizer, to_vlm_ids
from pi_vla_ros.models.pi0 import ACTION_BEGIN, END, SUBTASK_BEGIN
from pi_vla_ros.policies.pi06.processing import Pi06Processor


class Pi0Processor(Pi06Processor):

    def __init__(self, config, tokenizer, normalizer, fast: FastTokenizer | None = None):
        super().__init__(config, tokenizer, normalizer)
        self.fast = fast

    def __call__(self, samples: list[dict]) -> dict[str, torch.Tensor]:
        """Pi06Processor's batch, padded to 32 dims, plus the target block where a sample has a subtask or (with a
        FAST tokenizer) actions. Set ``sample["fast"] = False`` to leave a sample's FAST tokens out (inference).
        """
        batch = super().__call__(samples)
        cfg, pad = self.config, self.config.model.action_dim
        blocks = []
        for b, s in enumerate(samples):
            segments = []
            if cfg.subtask and s.get("subtask"):
                segments.append((SUBTASK_BEGIN, self.text_ids(s["subtask"]), False))
            if cfg.fast_tokens and self.fast is not None and "actions" in batch and s.get("fast", True):
                fast_ids = self.fast.encode(batch["actions"][b].numpy())
                segments.append((ACTION_BEGIN, to_vlm_ids(fast_ids, cfg.model.vocab_size).tolist(), True))
            blocks.append(segments)
        if any(blocks):
            batch |= self.target_block(blocks)
        batch["state"] = F.pad(batch["state"], (0, pad - batch["state"].shape[-1]))
        if "actions" in batch:
            batch["actions"] = F.pad(batch["actions"], (0, pad - batch["actions"].shape[-1]))
        return batch

    def text_ids(self, text: str) -> list[int]:
        return self.tokenizer(text.strip(), add_special_tokens=False)["input_ids"]

    def target_block(self, blocks: list[list[tuple[int, list[int], bool]]], close: bool = True) -> dict:
        """Per sample, segments (begin marker offset, ids, is FAST) -> targets / target_mask / target_loss /
        target_fast [B, T2], right-padded. close=False leaves the last segment open (no END): a decoding context.
        """
        model = self.config.model
        rows = []
        for segments in blocks:
            row = []
            for i, (begin, ids, fast) in enumerate(segments):
                end = [(model.special_id(END), True, fast)] if close or i < len(segments) - 1 else []
                row += [(model.special_id(begin), False, fast)] + [(t, True, fast) for t in ids] + end
            rows.append(row)
        n = max(len(r) for r in rows)
        if n > self.config.max_target_tokens:
            raise ValueError(f"{n} target tokens (subtask + FAST) exceed max_target_tokens="
                             f"{self.config.max_target_tokens}: raise it in the policy config")
        out = {k: torch.zeros(len(rows), n, dtype=torch.long if k == "targets" else torch.bool)
               for k in ("targets", "target_mask", "target_loss", "target_fast")}
        for b, row in enumerate(rows):
            if row:
                out["targets"][b, :len(row)] = torch.tensor([t for t, _, _ in row])
                out["target_loss"][b, :len(row)] = torch.tensor([s for _, s, _ in row])
                out["target_fast"][b, :len(row)] = torch.tensor([f for _, _, f in row])
                out["target_mask"][b, :len(row)] = True
        return out

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        r"""π0.5: the prompt as is. π0 (openpi): the task text, then "\n" encoded on its own as the answer start."""
        if self.config.state_in_prompt:
            return super().tokenize(prompts)
        newline = self.tokenizer("\n", add_special_tokens=False)["input_ids"]
        return self._pad([self.tokenizer(p.removesuffix("\n"))["input_ids"] + newline for p in prompts], prompts)

    def postprocess(self, actions_norm: torch.Tensor, state: np.ndarray) -> np.ndarray:
        """Padded model output [B, H, 32] -> the robot's absolute actions [B, H, action_dim]."""
        return super().postprocess(actions_norm[..., : len(self.config.action_names)], state)
