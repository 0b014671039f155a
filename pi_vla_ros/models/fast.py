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

"""FAST action tokenizer (FACTS §4): DCT along time per action dim, scale and round, byte-pair encoding.

A normalized chunk [H, D] (values roughly in [-1, 1]) becomes a short list of integer tokens:

1. ``dct(chunk, type=2, norm='ortho')`` along time for every dim: smooth motions put their energy in
   the first few coefficients;
2. ``round(coeffs * scale)`` (scale gamma = 10): most high-frequency coefficients become 0;
3. flattened frequency-major (all dims of frequency 0, then frequency 1, ...), so the zeros that
   trail the sequence are cheap to encode;
4. each integer becomes one symbol and a BPE vocabulary (HF ``tokenizers``) learned on training
   chunks merges frequent runs (~30 tokens per arm per second of 50 Hz actions instead of 350).

Decoding inverts BPE, divides by the scale and applies the inverse DCT. Only the encoding of some chunk decodes:
a sequence with an id outside the vocabulary, or whose symbols do not make exactly H * D coefficients (a model
that stopped early, ran on, or emitted a non-FAST token), raises :class:`InvalidActionTokens`, never a padded
or truncated chunk. The quantization error per
DCT coefficient is at most ``0.5 / scale``, so with an orthonormal DCT the reconstruction error is
at most ``0.5 / scale * sqrt(H)`` per dim in L2 over time.

In the VLM vocabulary, FAST tokens take the tail before the last 128 special tokens:
``vlm_id = vocab_size - 1 - 128 - fast_id`` (:func:`to_vlm_ids`, :func:`from_vlm_ids`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.fft import dct, idct
from tokenizers import Tokenizer, models, trainers

SPECIAL_TAIL = 128
_BASE = 0x100   # symbols start past ASCII/Latin-1 so no character is special to the tokenizer


class InvalidActionTokens(ValueError):
    """A token sequence that is not the FAST encoding of any chunk (policies reject it: invalid_action_tokens)."""


class FastTokenizer:
    def __init__(self, bpe: Tokenizer, *, scale: float, min_coeff: int, max_coeff: int, horizon: int,
                 action_dim: int):
        self.bpe, self.scale = bpe, float(scale)
        self.min_coeff, self.max_coeff = int(min_coeff), int(max_coeff)
        self.horizon, self.action_dim = int(horizon), int(action_dim)

    # -- the two halves ---------------------------------------------------------------------------
    def coefficients(self, chunk: np.ndarray) -> np.ndarray:
        """[H, D] normalized actions -> flat int coefficients, frequency-major."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.shape != (self.horizon, self.action_dim):
            raise ValueError(f"chunk shape {chunk.shape}, tokenizer expects {(self.horizon, self.action_dim)}")
        return np.round(dct(chunk, type=2, norm="ortho", axis=0) * self.scale).astype(np.int64).reshape(-1)

    def from_coefficients(self, coeffs: np.ndarray) -> np.ndarray:
        """Exactly H * D coefficients, frequency-major -> [H, D] chunk."""
        coeffs = np.asarray(coeffs, dtype=np.float64)
        if coeffs.shape != (self.horizon * self.action_dim,):
            raise InvalidActionTokens(f"{coeffs.size} DCT coefficients decoded, a [{self.horizon}, {self.action_dim}] "
                                      f"chunk has {self.horizon * self.action_dim}")
        return idct(coeffs.reshape(self.horizon, self.action_dim) / self.scale, type=2, norm="ortho", axis=0)

    def _text(self, coeffs: np.ndarray) -> str:
        # Coefficients outside the training range saturate: a symbol BPE never saw would be dropped.
        return "".join(chr(_BASE + int(c) - self.min_coeff) for c in np.clip(coeffs, self.min_coeff, self.max_coeff))

    # -- public API -------------------------------------------------------------------------------
    def encode(self, chunk: np.ndarray) -> list[int]:
        return self.bpe.encode(self._text(self.coefficients(chunk))).ids

    def decode(self, tokens: list[int]) -> np.ndarray:
        """FAST ids -> [H, D] chunk; InvalidActionTokens unless they are the encoding of one."""
        pieces = [self.bpe.id_to_token(int(t)) if 0 <= int(t) < self.vocab_size else None for t in tokens]
        if any(p is None for p in pieces):
            raise InvalidActionTokens(f"token ids outside the FAST vocabulary of {self.vocab_size}: "
                                      f"{[int(t) for t, p in zip(tokens, pieces) if p is None][:10]}")
        values = np.array([ord(ch) - _BASE + self.min_coeff for ch in "".join(pieces)], dtype=np.int64)
        if values.size and (values.min() < self.min_coeff or values.max() > self.max_coeff):
            raise InvalidActionTokens("decoded symbols outside the coefficient alphabet")
        return self.from_coefficients(values)

    @classmethod
    def fit(cls, chunks, *, vocab_size: int = 1024, scale: float = 10.0) -> "FastTokenizer":
        """Learn the BPE vocabulary on normalized training chunks [N, H, D]."""
        chunks = np.asarray(chunks, dtype=np.float64)
        _, horizon, dim = chunks.shape
        coeffs = np.round(dct(chunks, type=2, norm="ortho", axis=1) * scale).astype(np.int64).reshape(len(chunks), -1)
        lo, hi = int(coeffs.min()), int(coeffs.max())
        alphabet = [chr(_BASE + i) for i in range(hi - lo + 1)]
        if vocab_size < len(alphabet):
            raise ValueError(f"vocab_size {vocab_size} < {len(alphabet)} distinct coefficient values")
        bpe = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False,
                                      max_token_length=10000)
        tok = cls(bpe, scale=scale, min_coeff=lo, max_coeff=hi, horizon=horizon, action_dim=dim)
        bpe.train_from_iterator((tok._text(c) for c in coeffs), trainer=trainer)
        return tok

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.bpe.save(str(directory / "fast_bpe.json"))
        meta = {"scale": self.scale, "min_coeff": self.min_coeff, "max_coeff": self.max_coeff, "horizon": self.horizon,
                "action_dim": self.action_dim}
        (directory / "fast_config.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> "FastTokenizer":
        directory = Path(directory)
        meta = json.loads((directory / "fast_config.json").read_text())
        return cls(Tokenizer.from_file(str(directory / "fast_bpe.json")), **meta)

    def symbol_counts(self) -> np.ndarray:
        """[vocab] how many DCT coefficients each FAST id stands for (constrained decoding's cost)."""
        return np.array([len(self.bpe.id_to_token(i)) for i in range(self.vocab_size)], dtype=np.int64)

    @property
    def vocab_size(self) -> int:
        return self.bpe.get_vocab_size()


def to_vlm_ids(fast_ids, vlm_vocab_size: int) -> np.ndarray:
    return vlm_vocab_size - 1 - SPECIAL_TAIL - np.asarray(fast_ids, dtype=np.int64)


def from_vlm_ids(vlm_ids, vlm_vocab_size: int) -> np.ndarray:
    return vlm_vocab_size - 1 - SPECIAL_TAIL - np.asarray(vlm_ids, dtype=np.int64)
