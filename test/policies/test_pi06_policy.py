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
import json
import logging

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import PaliGemmaForConditionalGeneration

from pi_vla_ros.models.vlm import vlm_config
from pi_vla_ros.policies.base import CommittedActions, Observation
from pi_vla_ros.policies.checkpoint import CheckpointError
from pi_vla_ros.policies.factory import make_policy
from pi_vla_ros.policies.pi06 import Pi06Policy
from pi_vla_ros.policies.registry import get_config
from pi_vla_ros.policies.tokenizer import build_tokenizer

from .pi06_testutil import observation, profile


@pytest.mark.parametrize("kind,action_dim,dt",
                         [("bimanual", 14, 0.02), ("ur5e", 7, 0.05), ("mobile_manipulator", 16, 0.02)])
def test_infer_on_odd_sized_images(kind, action_dim, dt):
    prof = profile(kind)
    policy = make_policy("pi06_tiny", prof, allow_untrained=True)
    chunk = policy.infer(observation(prof, stamp=7.25))
    assert chunk.actions.shape == (50, action_dim) and chunk.actions.dtype == np.float32
    assert np.isfinite(chunk.actions).all()
    assert chunk.dt == pytest.approx(dt) and chunk.stamp == 7.25
    assert chunk.info["untrained"] is True
    assert policy.metadata.action_dim == action_dim and policy.metadata.horizon == 50
    assert policy.metadata.dt == pytest.approx(dt)
    assert policy.metadata.cameras == tuple(c.name for c in prof.cameras)


def test_untrained_is_loud(caplog):
    with caplog.at_level(logging.WARNING):
        policy = make_policy("pi06_tiny", profile("ur5e"), allow_untrained=True)
    assert policy.untrained and "UNTRAINED" in caplog.text


def test_bad_observations_are_rejected():
    prof = profile("ur5e")
    policy = make_policy("pi06_tiny", prof, allow_untrained=True)
    obs = observation(prof)
    with pytest.raises(ValueError, match="cam_nope"):
        policy.infer(Observation({**obs.images, "cam_nope": obs.images["cam_high"]}, obs.state, obs.prompt, 0.0))
    with pytest.raises(ValueError, match="state"):
        policy.infer(Observation(obs.images, obs.state[:3], obs.prompt, 0.0))
    with pytest.raises(ValueError, match="image"):
        policy.infer(Observation({"cam_high": np.zeros((10, 10), np.uint8)}, obs.state, obs.prompt, 0.0))
    # a camera that dropped out is masked, not an error
    chunk = policy.infer(Observation({"cam_high": obs.images["cam_high"]}, obs.state, obs.prompt, 1.0))
    assert np.isfinite(chunk.actions).all()


def test_reset_makes_noise_reproducible_and_noise_can_be_given():
    prof = profile("ur5e")
    policy = make_policy("pi06_tiny", prof, allow_untrained=True, seed=3)
    obs = observation(prof)
    a = policy.infer(obs).actions
    assert not np.array_equal(a, policy.infer(obs).actions)  # fresh noise each chunk
    policy.reset()
    assert np.array_equal(a, policy.infer(obs).actions)
    noise = np.random.default_rng(0).normal(size=(50, 7)).astype(np.float32)
    assert np.array_equal(policy.infer(obs, noise=noise).actions, policy.infer(obs, noise=noise).actions)


def trained_like(prof, seed=0):
    """An untrained policy whose modulation layers are non-zero, so time conditioning matters."""
    policy = make_policy("pi06_tiny", prof, allow_untrained=True, seed=seed)
    with torch.no_grad():
        for name, p in policy.model.expert.named_parameters():
            if ".mod." in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(seed))
    return policy


def test_save_load_round_trip_gives_identical_actions(tmp_path):
    prof = profile("bimanual")
    policy = trained_like(prof)
    policy.save_pretrained(tmp_path / "ckpt")
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert files >= {"config.json", "model.safetensors", "norm_stats.json", "tokenizer"}
    loaded = make_policy("pi06_tiny", prof, checkpoint=str(tmp_path / "ckpt"))
    assert loaded.untrained  # the flag travels with the checkpoint
    obs = observation(prof)
    policy.reset()
    assert np.array_equal(policy.infer(obs).actions, loaded.infer(obs).actions)
    sd, sd2 = policy.model.state_dict(), loaded.model.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)


def test_vlm_referenced_by_path(tmp_path):
    torch.manual_seed(0)
    PaliGemmaForConditionalGeneration(vlm_config("tiny")).save_pretrained(tmp_path / "paligemma")
    prof = profile("ur5e")
    cfg = dataclasses.replace(get_config("pi06_tiny"), vlm_path=str(tmp_path / "paligemma"))
    policy = Pi06Policy.build(cfg, prof, tokenizer=build_tokenizer([], tmp_path / "tok"))
    policy.save_pretrained(tmp_path / "ckpt")
    keys = load_file(tmp_path / "ckpt" / "model.safetensors").keys()
    assert keys and all(k.startswith("expert.") for k in keys)  # the frozen VLM is not duplicated
    loaded = Pi06Policy.from_pretrained(tmp_path / "ckpt", prof)
    obs = observation(prof)
    assert np.array_equal(policy.infer(obs).actions, loaded.infer(obs).actions)


@pytest.fixture
def checkpoint(tmp_path):
    prof = profile("ur5e")
    make_policy("pi06_tiny", prof, allow_untrained=True).save_pretrained(tmp_path / "ckpt")
    return prof, tmp_path / "ckpt"


def rewrite(path, edit):
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)


def test_loader_names_missing_tensors(checkpoint):
    prof, ckpt = checkpoint
    rewrite(ckpt / "model.safetensors", lambda t: t.pop("expert.out_proj.weight"))
    with pytest.raises(CheckpointError, match=r"missing \(1\): expert\.out_proj\.weight"):
        Pi06Policy.from_pretrained(ckpt, prof)


def test_loader_names_unexpected_tensors(checkpoint):
    prof, ckpt = checkpoint
    rewrite(ckpt / "model.safetensors", lambda t: t.update({"expert.extra.weight": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match=r"unexpected \(1\): expert\.extra\.weight"):
        Pi06Policy.from_pretrained(ckpt, prof)


def test_loader_names_misshaped_tensors(checkpoint):
    prof, ckpt = checkpoint
    rewrite(ckpt / "model.safetensors", lambda t: t.update({"expert.pos": torch.zeros(49, 192)}))
    with pytest.raises(CheckpointError,
                       match=r"mis-shaped \(1\): expert\.pos: checkpoint \(49, 192\) vs model \(50, 192\)"):
        Pi06Policy.from_pretrained(ckpt, prof)


def test_loader_reports_corrupt_files(checkpoint):
    prof, ckpt = checkpoint
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        Pi06Policy.from_pretrained(ckpt, prof)
    (ckpt / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        Pi06Policy.from_pretrained(ckpt, prof)
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt JSON"):
        Pi06Policy.from_pretrained(ckpt, prof)


def test_loader_reports_missing_files_and_bad_metadata(checkpoint, tmp_path):
    prof, ckpt = checkpoint
    with pytest.raises(CheckpointError, match="does not exist"):
        Pi06Policy.from_pretrained(tmp_path / "nowhere", prof)
    (ckpt / "norm_stats.json").unlink()
    with pytest.raises(CheckpointError, match="norm_stats.json"):
        Pi06Policy.from_pretrained(ckpt, prof)
    meta = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**meta, "policy": "pi0"}))
    with pytest.raises(CheckpointError, match="not a pi06 checkpoint"):
        Pi06Policy.from_pretrained(ckpt, prof)


def test_loader_refuses_another_robot(checkpoint):
    _, ckpt = checkpoint
    with pytest.raises(ValueError, match="actions"):
        Pi06Policy.from_pretrained(ckpt, profile("bimanual"))


def test_factory():
    prof = profile("ur5e")
    with pytest.raises(KeyError, match="pi06_tiny"):
        make_policy("nope", prof)
    with pytest.raises(ValueError, match="allow_untrained"):
        make_policy("pi06_tiny", prof)


def test_factory_refuses_a_checkpoint_of_another_policy(checkpoint):
    prof, ckpt = checkpoint
    meta = json.loads((ckpt / "config.json").read_text())
    meta["config"]["name"] = "pi06_small"
    (ckpt / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="pi06_small"):
        make_policy("pi06_tiny", prof, checkpoint=str(ckpt))


def test_committed_actions_pull_the_chunk_start_towards_them():
    """Real-time chunking: a chunk sampled with committed actions (here another sample for the same observation)
    starts much closer to them than an unguided sample from the same noise, and the guidance is differentiable
    through the whole expert.
    """
    prof = profile("ur5e")
    policy = trained_like(prof, seed=1)
    obs = observation(prof)
    committed = policy.infer(obs).actions                    # sample 1
    plain = policy.infer(obs).actions                        # sample 2
    policy.reset()
    policy.infer(obs)
    guided_obs = dataclasses.replace(obs, committed=CommittedActions(committed, frozen=6, overlap=30))
    guided = policy.infer(guided_obs).actions                # sample 2's noise, guided towards sample 1
    err_plain = np.abs(plain[:6] - committed[:6]).mean()
    err_guided = np.abs(guided[:6] - committed[:6]).mean()
    assert err_guided < 0.5 * err_plain, (err_guided, err_plain)
    with pytest.raises(ValueError, match="committed"):
        policy.infer(dataclasses.replace(obs, committed=CommittedActions(committed[:10], 2, 5)))


def test_recap_guidance_interpolates_between_unconditioned_and_conditioned_velocities():
    """v = v_uncond + beta (v_cond - v_uncond): beta 1 is plain "Advantage: positive" conditioning, beta 0 the prompt
    without the indicator; other betas extrapolate.
    """
    prof = profile("ur5e")
    policy = trained_like(prof, seed=2)
    obs = observation(prof)
    noise = np.random.default_rng(1).normal(size=(50, 7)).astype(np.float32)
    unconditioned = policy.infer(obs, noise=noise).actions
    policy.model.config = dataclasses.replace(policy.config, advantage_conditioned=True)
    conditioned = policy.infer(obs, noise=noise).actions
    assert not np.allclose(conditioned, unconditioned, atol=1e-3)       # the indicator changes the prompt
    results = {}
    for beta in (0.0, 1.0 + 1e-9, 2.0):
        policy.advantage_guidance = beta
        results[beta] = policy.infer(obs, noise=noise).actions
    np.testing.assert_allclose(results[0.0], unconditioned, atol=1e-4)
    np.testing.assert_allclose(results[1.0 + 1e-9], conditioned, atol=1e-4)
    assert not np.allclose(results[2.0], conditioned, atol=1e-3)


def test_guidance_is_refused_for_a_policy_that_was_not_trained_with_advantages():
    from pi_vla_ros.core.inference import PolicySpec

    with pytest.raises(ValueError, match="advantage-conditioned"):
        PolicySpec("pi06_tiny", "ur5e", None, True, warmup=False, advantage_guidance=2.0).build()
