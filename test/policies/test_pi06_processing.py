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

import dataclasses
import logging

import numpy as np
import pytest
import torch

from pi_vla_ros.policies.pi06 import NormStats, Normalizer, Pi06Config, Pi06Processor
from pi_vla_ros.policies.pi06.processing import build_prompt, discretize, resize_with_pad, to_absolute, to_delta
from pi_vla_ros.policies.registry import get_config
from pi_vla_ros.policies.tokenizer import build_tokenizer

from .pi06_testutil import profile


def test_resize_with_pad_geometry():
    wide = resize_with_pad(np.full((120, 160, 3), 255, np.uint8), 64)  # 4:3 -> 48 rows of content
    assert wide.shape == (3, 64, 64)
    assert (wide[:, :8] == -1).all() and (wide[:, 56:] == -1).all()
    assert torch.allclose(wide[:, 8:56], torch.ones(1), atol=1e-5)
    tall = resize_with_pad(np.zeros((100, 50, 3), np.uint8) + 128, 64)  # 1:2 -> 32 columns, centred
    assert (tall[:, :, :16] == -1).all() and (tall[:, :, 48:] == -1).all()
    assert torch.allclose(tall[:, :, 16:48], torch.tensor(128 / 255 * 2 - 1), atol=1e-3)
    square = resize_with_pad(np.zeros((64, 64, 3), np.uint8), 64)
    assert (square == -1).all()
    small = resize_with_pad(np.full((3, 5, 3), 1.0, np.float32), 64)  # float in [0, 1], upscaled
    assert torch.allclose(small[:, 32], torch.ones(1), atol=1e-5) and small.min() == -1
    with pytest.raises(ValueError):
        resize_with_pad(np.zeros((10, 10)), 64)


@pytest.mark.parametrize("mode", ["quantile", "zscore"])
def test_normalization_round_trip(mode):
    x = np.random.default_rng(0).normal(2.0, 3.0, (1000, 4))
    norm = Normalizer({"actions": NormStats.from_data(x)}, mode)
    y = norm.normalize(x, "actions")
    assert np.allclose(norm.unnormalize(y, "actions"), x, atol=1e-4)
    if mode == "quantile":
        st = norm.stats["actions"]
        assert np.allclose(norm.normalize(st.q01, "actions"), -1, atol=1e-5)
        assert np.allclose(norm.normalize(st.q99, "actions"), 1, atol=1e-5)
    else:
        assert np.allclose(y.mean(0), 0, atol=1e-5) and np.allclose(y.std(0), 1, atol=1e-4)
    ident = Normalizer({"actions": NormStats.identity(4)}, mode)
    assert np.allclose(ident.normalize(x, "actions"), x, atol=1e-4)


def test_stats_json_round_trip(tmp_path):
    norm = Normalizer({"state": NormStats.from_data(np.random.rand(50, 3))}, "zscore")
    norm.save(tmp_path / "s.json")
    back = Normalizer.load(tmp_path / "s.json", "zscore")
    assert np.allclose(back.stats["state"].q99, norm.stats["state"].q99)


def test_delta_absolute_round_trip_with_stateless_base_dims():
    state = np.arange(14, dtype=np.float32)
    mask = [True] * 6 + [False] + [True] * 6 + [False] + [False, False]  # 16 action dims, 14 state dims
    actions = np.random.default_rng(1).normal(size=(50, 16)).astype(np.float32)
    delta = to_delta(actions, state, mask)
    assert np.allclose(delta[:, 0], actions[:, 0] - 0) and np.allclose(delta[:, 7], actions[:, 7] - 7)
    assert np.allclose(delta[:, [6, 13, 14, 15]], actions[:, [6, 13, 14, 15]])
    assert np.allclose(to_absolute(delta, state, mask), actions, atol=1e-6)
    batched = to_absolute(delta[None].repeat(2, 0), np.stack([state, state]), mask)
    assert np.allclose(batched[1], actions, atol=1e-6)


def test_prompt_and_discretization():
    assert list(discretize(np.array([-2.0, -1.0, 0.0, 0.999, 5.0]))) == [0, 0, 128, 255, 255]
    assert build_prompt(" pick_up\nthe cup ", np.array([3, 250])) == "Task: pick up the cup, State: 3 250;\nAction: "
    assert build_prompt("pick", None) == "pick\n"


def test_config_resolution():
    mob = get_config("pi06_tiny").resolve(profile("mobile_manipulator"))
    assert mob.expert.action_dim == 16 and mob.state_dim == 14 and mob.expert.context_dim == 128
    assert mob.delta_mask == (True,) * 6 + (False,) + (True,) * 6 + (False,) * 3
    assert Pi06Config.from_dict(mob.to_dict()) == mob
    with pytest.raises(ValueError, match="actions"):
        mob.resolve(profile("ur5e"))
    with pytest.raises(ValueError):
        dataclasses.replace(mob, norm_mode="minmax")
    with pytest.raises(ValueError, match="state"):
        dataclasses.replace(mob, delta_mask=(False,) * 15 + (True,))
    with pytest.raises(ValueError, match="unknown"):
        Pi06Config.from_dict({**mob.to_dict(), "bogus": 1})


def make_processor(tmp_path, prof, **cfg_kw):
    cfg = dataclasses.replace(get_config("pi06_tiny"), **cfg_kw).resolve(prof)
    stats = {"state": NormStats.identity(prof.state_dim), "actions": NormStats.identity(prof.action_dim)}
    return Pi06Processor(cfg, build_tokenizer(["towel"], tmp_path), Normalizer(stats, cfg.norm_mode))


def test_processor_batch(tmp_path, caplog):
    prof = profile("ur5e")
    proc = make_processor(tmp_path, prof, max_tokens=40)
    state = np.linspace(-0.5, 0.5, 7)
    actions = np.random.rand(50, 7)
    sample = {"images": {"base_0_rgb": np.zeros((30, 90, 3), np.uint8)}, "state": state, "prompt": "fold towel",
              "actions": actions}
    batch = proc([sample, {**sample, "images": {}}])
    assert batch["images"].shape == (2, 3, 3, 64, 64)
    assert batch["image_mask"].tolist() == [[True, False, False], [False, False, False]]
    assert batch["tokens"].shape == (2, 40) and batch["token_mask"][0, 0] and not batch["token_mask"][0, -1]
    assert batch["tokens"][0, 0] == proc.tokenizer.bos_token_id
    assert batch["actions"].shape == (2, 50, 7)
    delta = batch["actions"][0].numpy()  # identity stats: model space == delta actions
    assert np.allclose(delta[:, 0], actions[:, 0] - state[0], atol=1e-5)
    assert np.allclose(delta[:, 6], actions[:, 6], atol=1e-5)  # gripper stays absolute
    back = proc.postprocess(batch["actions"], np.stack([state, state]))
    assert np.allclose(back[0], actions, atol=1e-5)
    with pytest.raises(ValueError, match="state"):
        proc([{**sample, "state": np.zeros(3)}])
    with pytest.raises(ValueError, match="state"):
        proc([{**sample, "state": np.full(7, np.nan)}])
    short = make_processor(tmp_path / "t2", prof, max_tokens=8)
    with caplog.at_level(logging.WARNING):
        batch = short([sample])
    assert batch["token_mask"].all() and "truncated" in caplog.text


def test_processor_rejects_stats_of_wrong_size(tmp_path):
    prof = profile("ur5e")
    cfg = get_config("pi06_tiny").resolve(prof)
    stats = {"state": NormStats.identity(7), "actions": NormStats.identity(5)}
    with pytest.raises(ValueError, match="actions"):
        Pi06Processor(cfg, build_tokenizer([], tmp_path), Normalizer(stats, "quantile"))
