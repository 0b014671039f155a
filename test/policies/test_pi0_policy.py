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

"""π0 / π0.5 behind the Policy interface: registry names, one chunk, checkpoints, processing specifics."""

import json

import numpy as np
import pytest

from pi_vla_ros.policies.checkpoint import CheckpointError
from pi_vla_ros.policies.factory import make_policy
from pi_vla_ros.policies.pi0 import Pi0Config, Pi0Policy
from pi_vla_ros.policies.pi06.processing import NormStats, discretize
from pi_vla_ros.policies.registry import get_config

from .pi06_testutil import observation, profile


@pytest.mark.parametrize("name", ["pi0_tiny", "pi05_tiny"])
@pytest.mark.parametrize("kind,action_dim", [("bimanual", 14), ("ur5e", 7), ("mobile_manipulator", 16)])
def test_one_chunk_through_the_policy_interface(name, kind, action_dim):
    prof = profile(kind)
    policy = make_policy(name, prof, allow_untrained=True)
    chunk = policy.infer(observation(prof, stamp=3.5))  # odd-sized images, resized with padding
    assert chunk.actions.shape == (50, action_dim) and chunk.actions.dtype == np.float32
    assert np.isfinite(chunk.actions).all() and chunk.stamp == 3.5
    assert chunk.info["untrained"] is True and chunk.info["policy"] == name
    assert policy.metadata.action_dim == action_dim and policy.metadata.horizon == 50


def test_registry_sizes_and_full_size_needs_a_checkpoint():
    assert get_config("pi0").model.vlm == "gemma_2b" and get_config("pi0").model.expert == "gemma_300m"
    assert get_config("pi05").model.pi05 and get_config("pi05").max_tokens == 200
    assert get_config("pi05").norm_mode == "quantile" and get_config("pi0").norm_mode == "zscore"
    with pytest.raises(ValueError, match="checkpoint"):  # refuses before building 3B parameters
        make_policy("pi05", profile("ur5e"))


@pytest.mark.parametrize("name", ["pi0_tiny", "pi05_tiny"])
def test_save_and_load_round_trip(tmp_path, name):
    prof = profile("bimanual")
    rng = np.random.default_rng(0)
    stats = {"state": NormStats.from_data(rng.normal(0, 0.3, (500, 14))),
             "actions": NormStats.from_data(rng.normal(0, 0.3, (500, 14)))}
    policy = Pi0Policy.build(get_config(name), prof, norm_stats=stats, seed=1)
    policy.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["policy"] == "pi0"
    back = make_policy(name, prof, checkpoint=str(tmp_path))
    assert back.config == policy.config
    noise = np.random.default_rng(2).normal(size=(50, 32)).astype(np.float32)
    obs = observation(prof)
    assert np.allclose(back.infer(obs, noise=noise).actions, policy.infer(obs, noise=noise).actions, atol=1e-5)
    with pytest.raises(ValueError, match="holds policy"):
        make_policy("pi05_tiny" if name == "pi0_tiny" else "pi0_tiny", prof, checkpoint=str(tmp_path))
    with pytest.raises(CheckpointError):
        Pi0Policy.from_pretrained(tmp_path / "nope", prof)


def test_processing_pads_to_32_and_slices_back():
    prof = profile("ur5e")
    policy = make_policy("pi05_tiny", prof, allow_untrained=True)
    state = np.linspace(-0.9, 0.9, 7).astype(np.float32)
    actions = np.tile(state, (50, 1))
    batch = policy.processor([{"images": {}, "state": state, "prompt": "pick up the cup", "actions": actions}])
    assert batch["state"].shape == (1, 32) and batch["actions"].shape == (1, 50, 32)
    assert (batch["state"][0, 7:] == 0).all() and (batch["actions"][0, :, 7:] == 0).all()
    assert not batch["image_mask"].any()
    out = policy.processor.postprocess(batch["actions"], state[None])
    assert out.shape == (1, 50, 7) and np.allclose(out[0], actions, atol=1e-5)
    # π0.5: the discretized normalized state is in the prompt (the word-level tokenizer splits digits, a gap token
    # between numbers)
    bins = discretize(policy.processor.normalizer.normalize(state, "state"))
    assert bins[0] == 12 and bins[-1] == 243
    text = policy.processor.tokenizer.decode(batch["tokens"][0][batch["token_mask"][0]])
    assert "state : " + " ␣ ".join(" ".join(str(b)) for b in bins) + " ; action :" in text


def test_pi0_prompt_ends_with_a_separately_encoded_newline():
    policy = make_policy("pi0_tiny", profile("ur5e"), allow_untrained=True)
    tok = policy.processor.tokenizer
    ids, mask = policy.processor.tokenize(["pick up the cup\n"])
    expected = tok("pick up the cup")["input_ids"] + tok("\n", add_special_tokens=False)["input_ids"]
    assert ids[0, : mask[0].sum()].tolist() == expected


def test_config_round_trip_and_limits():
    cfg = get_config("pi05_tiny").resolve(profile("mobile_manipulator"))
    assert cfg.state_dim == 14 and len(cfg.action_names) == 16 and cfg.image_size == 32 and cfg.state_in_prompt
    assert Pi0Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown"):
        Pi0Config.from_dict({**cfg.to_dict(), "model": {**cfg.to_dict()["model"], "depth": 3}})
    with pytest.raises(ValueError, match="exceed"):
        Pi0Config(action_names=tuple(f"j{i}" for i in range(33)))


def test_delta_mask_defaults():
    """Arm joints relative by default (openpi); the sim-sized configs act in absolute joints throughout."""
    bimanual = profile("bimanual")
    arm = get_config("pi0_tiny").resolve(bimanual).delta_mask
    assert arm == ((True,) * 6 + (False,)) * 2
    assert get_config("pi0_sim").resolve(bimanual).delta_mask == (False,) * 14
