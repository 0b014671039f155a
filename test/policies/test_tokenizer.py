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


"""The offline word-level tokenizer (policies/tokenizer.py)."""

import pytest

from pi_vla_ros.policies.tokenizer import NUMBER_GAP, build_tokenizer, load_tokenizer


def test_numbers_keep_their_boundaries(tmp_path):
    """A π0.5 prompt's discrete state must read back: '3 250' and '32 50' are different token sequences."""
    tok = build_tokenizer(["towel"], tmp_path)
    pieces = tok.convert_ids_to_tokens(tok("Task: fold the towel, State: 3 250 12;\nAction: ")["input_ids"])
    assert pieces == ["[BOS]", "task", ":", "fold", "the", "towel", ",", "state", ":", "3", NUMBER_GAP, "2", "5",
                      "0", NUMBER_GAP, "1", "2", ";", "action", ":"]
    assert tok("State: 3 250")["input_ids"] != tok("State: 32 50")["input_ids"]
    assert tok.convert_ids_to_tokens(tok("red cube 2")["input_ids"]) == ["[BOS]", "[UNK]", "cube", "2"]


def test_only_local_directories(tmp_path):
    with pytest.raises(FileNotFoundError, match="only local"):
        load_tokenizer(tmp_path / "google/paligemma-3b")
