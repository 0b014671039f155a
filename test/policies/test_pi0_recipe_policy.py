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

"""policies/pi0 with the π0.5 recipe: π0-FAST (target encoding round trip, strict decoding, checkpoint with its
FAST tokenizer), hierarchical subtask decoding at a tiny size, training-time RTC at inference.
"""

import dataclasses

import numpy as np
import pytest
import torch

from pi_vla_ros.models.fast import FastTokenizer, InvalidActionTokens, from_vlm_ids, to_vlm_ids
from pi_vla_ros.models.pi0 import END
from pi_vla_ros.policies.base import CommittedActions
from pi_vla_ros.policies.checkpoint import CheckpointError
from pi_vla_ros.policies.factory import make_policy
from pi_vla_ros.policies.pi0 import Pi0Policy
from pi_vla_ros.policies.pi06.processing import NormStats
from pi_vla_ros.policies.registry import get_config

from .pi06_testutil import observation, profile


def smooth_chunks(n, horizon=50, dim=7, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, horizon)[None, :, None]
    a, f, p = rng.uniform(0.1, 0.5, (n, 1, dim)), rng.uniform(0.2, 1.0, (n, 1, dim)), rng.uniform(0, 6, (n, 1, dim))
    return a * np.sin(2 * np.pi * f * t + p)


@pytest.fixture(scope="module")
def fast_policy():
    prof = profile("ur5e")
    stats = {"state": NormStats.identity(7), "actions": NormStats.identity(7)}
    fast = FastTokenizer.fit(smooth_chunks(200), vocab_size=512)
    return Pi0Policy.build(get_config("pi0_fast_tiny"), prof, norm_stats=stats, fast=fast, seed=0)


def test_fast_targets_encode_and_decode_back_to_the_chunk(fast_policy):
    chunk = smooth_chunks(1, seed=1)[0].astype(np.float32)
    obs = observation(fast_policy.profile)
    batch = fast_policy.processor([{"images": {}, "state": obs.state, "prompt": "pick", "actions": chunk + obs.state}])
    ids = batch["targets"][0][batch["target_mask"][0]].tolist()
    vocab = fast_policy.config.model.vocab_size
    assert ids[0] == vocab - 3 and ids[-1] == vocab - END                   # [ACTION_BEGIN ... END]
    assert batch["target_fast"][0][batch["target_mask"][0]].all() and not batch["target_loss"][0, 0]
    back = fast_policy.processor.fast.decode(from_vlm_ids(ids[1:-1], vocab).tolist())
    assert np.abs(back - batch["actions"][0, :, :7].numpy()).max() < 0.1   # the model-space (normalized) chunk


def answer(policy, seq):
    def generate(batch, max_new_tokens, use_cache=True, budget=None):
        return torch.tensor([seq]), torch.tensor([-0.1])
    policy.model.generate = generate


def test_fast_policy_acts_only_through_a_valid_token_sequence(fast_policy):
    vocab, fast = fast_policy.config.model.vocab_size, fast_policy.processor.fast
    obs = observation(fast_policy.profile)
    chunk = smooth_chunks(1, seed=2)[0]
    good = to_vlm_ids(fast.encode(chunk), vocab).tolist()
    try:
        answer(fast_policy, good + [vocab - END])
        out = fast_policy.infer(obs)
        model_space = torch.zeros(1, 50, 32)
        model_space[0, :, :7] = torch.from_numpy(fast.decode(fast.encode(chunk)))
        assert np.allclose(out.actions, fast_policy.processor.postprocess(model_space, obs.state[None])[0], atol=1e-5)
        for bad in (good,                                   # never ended
                    good[:-2] + [vocab - END],              # too few coefficients
                    [17] + good + [vocab - END],            # a text token among the actions
                    [vocab - END]):                         # nothing
            answer(fast_policy, bad)
            with pytest.raises(InvalidActionTokens):
                fast_policy.infer(obs)
    finally:
        del fast_policy.model.generate


def test_constrained_decoding_makes_every_chunk_decodable(fast_policy):
    """Random weights: plain greedy decodes no chunk; the budgeted decoder always decodes one."""
    obs = observation(fast_policy.profile)
    plain = fast_policy.config
    assert not plain.fast_constrained_decoding      # the default: plain greedy
    with pytest.raises(InvalidActionTokens):
        fast_policy.infer(obs)
    fast_policy.processor.config = dataclasses.replace(plain, fast_constrained_decoding=True)
    try:
        for prompt in ("pick", "place the cube", "go"):
            out = fast_policy.infer(obs.__class__(**{**obs.__dict__, "prompt": prompt}))
            assert out.actions.shape == (50, 7) and np.isfinite(out.actions).all()
    finally:
        fast_policy.processor.config = plain


def test_fast_checkpoint_keeps_its_tokenizer(fast_policy, tmp_path):
    fast_policy.save_pretrained(tmp_path)
    back = make_policy("pi0_fast_tiny", fast_policy.profile, checkpoint=str(tmp_path))
    chunk = smooth_chunks(1, seed=3)[0]
    assert back.processor.fast.encode(chunk) == fast_policy.processor.fast.encode(chunk)
    assert back.model.expert is None and not (tmp_path / "model.safetensors").stat().st_size == 0
    for f in (tmp_path / "fast").iterdir():
        f.unlink()
    with pytest.raises(CheckpointError, match="FAST tokenizer"):
        make_policy("pi0_fast_tiny", fast_policy.profile, checkpoint=str(tmp_path))


def test_fast_ids_must_not_reach_the_text_vocabulary():
    cfg = dataclasses.replace(get_config("pi0_fast_tiny"), fast_vocab=1000)
    with pytest.raises(ValueError, match="overlap FAST ids"):
        Pi0Policy.build(cfg, profile("ur5e"))


def test_hierarchical_policy_decodes_the_subtask_it_was_taught():
    """Two scenes, two subtasks: a tiny π0.5 trained with CE on them decodes each from its own observation."""
    prof = profile("ur5e")
    torch.manual_seed(0)
    policy = Pi0Policy.build(dataclasses.replace(get_config("pi05_hier_tiny"), max_tokens=64), prof, seed=0)
    obs = [observation(prof, seed=s) for s in (0, 1)]
    subtasks = ["pick up the cube", "place it in the box"]
    samples = [{"images": {policy.slots[n]: im for n, im in o.images.items()}, "state": o.state, "prompt": o.prompt,
                "subtask": st, "actions": np.tile(o.state, (50, 1))} for o, st in zip(obs, subtasks)]
    batch = policy.processor(samples)
    model = policy.model.train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(150):
        losses = model.compute_losses(batch, flow=False)
        opt.zero_grad()
        losses["ce_text"].backward()
        opt.step()
    model.eval()
    for o, st in zip(obs, subtasks):
        chunk = policy.infer(o)
        assert chunk.info["subtask"] == st and chunk.info["subtask_source"] == "predicted"
        assert 0.5 < chunk.info["subtask_confidence"] <= 1.0 and chunk.actions.shape == (50, 7)
    given = policy.infer(dataclasses.replace(obs[0], subtask="open the drawer"))
    assert given.info["subtask"] == "open the drawer" and given.info["subtask_source"] == "given"
    assert given.info["subtask_confidence"] == 1.0
    # among the task's own steps: the one taught for the scene, at least as sure as of the greedy text
    steps = ("place it in the box", "wipe the table", "pick up the cube")
    for o, st in zip(obs, subtasks):
        greedy = policy.infer(o).info["subtask_confidence"]
        chosen = policy.infer(dataclasses.replace(o, subtask_choices=steps)).info
        assert chosen["subtask"] == st and greedy <= chosen["subtask_confidence"] <= 1.0


def test_training_time_rtc_policy_hard_inpaints_the_committed_prefix():
    prof = profile("ur5e")
    cfg = dataclasses.replace(get_config("pi05_tiny"), training_rtc_max_delay=10)
    policy = Pi0Policy.build(cfg, prof, seed=0)
    obs = observation(prof)
    committed = np.tile(obs.state, (50, 1)) + np.linspace(0, 0.2, 50)[:, None].astype(np.float32)
    chunk = policy.infer(dataclasses.replace(obs, committed=CommittedActions(committed, frozen=6, overlap=30)))
    assert np.allclose(chunk.actions[:6], committed[:6], atol=1e-5)
    assert not np.allclose(chunk.actions[6:], committed[6:], atol=1e-3)
    with pytest.raises(ValueError, match="training_rtc_max_delay"):
        dataclasses.replace(cfg, training_rtc_max_delay=50)
