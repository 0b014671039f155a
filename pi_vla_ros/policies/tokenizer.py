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

"""Small word-level tokenizers built offline (untrained policies, tests), and local tokenizer loading.

Real checkpoints ship their own tokenizer files (e.g. PaliGemma's); nothing is ever fetched from a hub.
"""

from __future__ import annotations

import string
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

SPECIALS = ("[PAD]", "[UNK]", "[BOS]")
# Between two numbers ("State: 3 250"): digits are split one by one, so without a mark "3 250" and "32 50" would
# read the same (SentencePiece keeps the space as "▁"; a word-level splitter drops it).
NUMBER_GAP = "␣"

# Enough to write π0.5-style prompts ("Task: ..., State: 12 240;\nAction: ") and common instructions.
BASE_WORDS = (
    "task state action advantage positive negative subtask "
    "pick up place put move open close push pull grasp release fold lift lower turn rotate insert stack "
    "the a an and to of in on into onto from with at it this that left right top bottom front back "
    "cup plate bowl block box cube towel shirt drawer door lid bottle table shelf bin basket object"
).split()


def build_tokenizer(words, out_dir: str | Path) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over `words` + BASE_WORDS + single digits + punctuation, saved to out_dir.

    Lower-cases, splits on whitespace, punctuation and individual digits (so any number is
    representable; a space between two numbers becomes the NUMBER_GAP token), prepends [BOS]; unknown words
    become [UNK].
    """
    vocab: dict[str, int] = {}
    words = (*SPECIALS, *string.digits, *string.punctuation, *BASE_WORDS, *(str(w).lower() for w in words), NUMBER_GAP)
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(),
                                           normalizers.Replace(Regex(r"(?<=\d) (?=\d)"), f" {NUMBER_GAP} ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.post_processor = processors.TemplateProcessing(single="[BOS] $A", special_tokens=[("[BOS]", vocab["[BOS]"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return load_tokenizer(out_dir)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Load tokenizer files from a LOCAL directory (never a hub id)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"tokenizer directory {path} does not exist (only local directories are accepted)")
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the path that failed
        raise ValueError(f"cannot load a tokenizer from {path}: {exc}") from exc
