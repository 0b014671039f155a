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

import numpy as np
import pytest

from pi_vla_ros.models.fast import FastTokenizer, InvalidActionTokens, from_vlm_ids, to_vlm_ids


def smooth_chunks(n, horizon=50, dim=14, seed=0):
    """Smooth random motions in [-1, 1], like normalized 1 s chunks of 50 Hz actions."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, horizon)[None, :, None]
    a, f, p = rng.uniform(0.2, 0.8, (n, 1, dim)), rng.uniform(0.2, 1.5, (n, 1, dim)), rng.uniform(0, 6, (n, 1, dim))
    return a * np.sin(2 * np.pi * f * t + p) + rng.uniform(-0.2, 0.2, (n, 1, dim))


@pytest.fixture(scope="module")
def tokenizer():
    return FastTokenizer.fit(smooth_chunks(300), vocab_size=512, scale=10.0)


def test_round_trip_error_is_bounded_by_quantization(tokenizer):
    for chunk in smooth_chunks(20, seed=1):
        rec = tokenizer.decode(tokenizer.encode(chunk))
        # per-coefficient error <= 0.5/scale; orthonormal DCT keeps the L2 norm per dim
        assert np.all(np.linalg.norm(rec - chunk, axis=0) <= 0.5 / 10.0 * np.sqrt(50) + 1e-9)
        assert np.abs(rec - chunk).max() < 0.1


def test_compresses_smooth_chunks(tokenizer):
    lengths = [len(tokenizer.encode(c)) for c in smooth_chunks(20, seed=2)]
    assert np.mean(lengths) < 0.15 * 50 * 14        # 700 numbers -> a few dozen tokens


def test_save_load_and_shape_checks(tokenizer, tmp_path):
    tokenizer.save(tmp_path)
    again = FastTokenizer.load(tmp_path)
    chunk = smooth_chunks(1, seed=3)[0]
    assert again.encode(chunk) == tokenizer.encode(chunk)
    with pytest.raises(ValueError):
        tokenizer.encode(chunk[:, :7])


def test_only_encodings_of_a_chunk_decode(tokenizer):
    """A model's token sequence that stopped early, ran on or holds a foreign id is an error, never a chunk."""
    tokens = tokenizer.encode(smooth_chunks(1, seed=4)[0])
    assert tokenizer.decode(tokens).shape == (50, 14)
    for bad in (tokens[:-3], tokens + tokens[:2], tokens[:5] + [tokenizer.vocab_size] + tokens[5:], [-1], []):
        with pytest.raises(InvalidActionTokens):
            tokenizer.decode(bad)


def test_vlm_id_mapping():
    ids = np.array([0, 1, 1023])
    vlm = to_vlm_ids(ids, 257152)
    assert vlm[0] == 257152 - 1 - 128 and np.all(from_vlm_ids(vlm, 257152) == ids)
