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

"""Recap: returns, advantages and the indicator; the value function; labels; advantage-conditioned training."""

from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from pi_vla_ros.data.lerobot_dataset import IMAGE_PREFIX, LeRobotDatasetWriter
from pi_vla_ros.policies.factory import make_policy
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.training.data import CachedPrefixBatches, load_frames
from pi_vla_ros.training.recap import (RecapConfig, advantages, indicator, label_advantages, mc_returns, read_labels,
                                       train_value)
from pi_vla_ros.training.trainer import TrainConfig, train

PROFILE = load_profile("bimanual")


def _episodes(lengths, success, intervention=None):
    ends = np.repeat(np.cumsum(lengths), lengths)
    n = int(sum(lengths))
    return SimpleNamespace(states=np.zeros((n, 1)), episode_end=ends, success=np.repeat(success, lengths),
                           intervention=np.zeros(n, bool) if intervention is None else intervention)


def test_returns_count_the_steps_left_and_punish_failure():
    frames = _episodes([10, 8], [True, False])
    g = mc_returns(frames, RecapConfig(max_steps=20, fail_penalty=0.5))
    np.testing.assert_allclose(g[:10], -np.arange(9, -1, -1) / 20)          # success: 0 on its last step
    np.testing.assert_allclose(g[10:], -np.arange(7, -1, -1) / 20 - 0.5)    # failure: -C_fail more
    assert mc_returns(_episodes([30], [False]), RecapConfig(max_steps=20))[0] == -1.0   # clipped to [-1, 0]


def test_advantage_bootstraps_inside_the_episode_and_uses_the_return_near_its_end():
    frames = _episodes([10], [True])
    cfg = RecapConfig(max_steps=20, lookahead=3)
    g = mc_returns(frames, cfg)
    v = np.linspace(-0.6, -0.05, 10).astype(np.float32)
    a = advantages(frames, v, g, cfg)
    np.testing.assert_allclose(a[:7], -3 / 20 + v[3:] - v[:7], atol=1e-6)
    np.testing.assert_allclose(a[7:], g[7:] - v[7:], atol=1e-6)


def test_indicator_keeps_the_positive_fraction_and_corrections_are_always_positive():
    adv = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    interventions = np.zeros(1000, bool)
    interventions[:100] = True
    positive, eps = indicator(adv, interventions, 0.3)
    assert positive[:100].all()
    assert positive[100:].mean() == pytest.approx(0.3, abs=0.01)
    assert np.all(adv[100:][positive[100:]] > eps)


def write_outcomes_dataset(root, episodes=6, frames=40):
    """Episodes that succeed (a red square) or fail (a blue one): what a value function should tell apart."""
    with LeRobotDatasetWriter(root, profile=PROFILE) as w:
        for e in range(episodes):
            ok = e % 2 == 0
            state = np.zeros(PROFILE.state_dim, np.float32)
            for k in range(frames):
                frame = {"observation.state": state + 0.001 * k, "action": state + 0.001 * (k + 1),
                         "intervention": bool(not ok and k >= frames - 5)}
                for cam in PROFILE.cameras:
                    img = np.full((cam.height, cam.width, 3), 180, np.uint8)
                    img[40:70, 40 + k: 70 + k] = (200, 30, 30) if ok else (30, 60, 220)
                    frame[IMAGE_PREFIX + cam.name] = img
                w.add_frame(frame)
            w.save_episode(task="put the red cube in the bowl", success=ok)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("recap") / "data"
    write_outcomes_dataset(root)
    return root


@pytest.fixture(scope="module")
def value_dir(outcomes, tmp_path_factory):
    out = tmp_path_factory.mktemp("recap") / "value"
    torch.set_num_threads(1)
    summary = train_value(str(outcomes), str(out), steps=150, batch_size=32, holdout=0.0, progress=False,
                          recap=RecapConfig(max_steps=60), log_fn=lambda *_: None)
    return out, summary


def test_value_function_learns_to_tell_success_from_failure(value_dir):
    out, summary = value_dir
    assert summary["episodes"] == 6 and summary["failed_episodes"] == 3
    # failures end at -0.5 - steps_left/60 (about -0.83 on average), successes at -steps_left/60 (about -0.33)
    assert summary["mean_v_success"] > summary["mean_v_failure"] + 0.3, summary
    assert summary["train_corr"] > 0.8, summary
    assert (out / "loss.png").is_file() and (out / "model.safetensors").is_file()


def test_labels_cover_every_frame_and_mark_corrections_positive(outcomes, value_dir, tmp_path):
    labels = tmp_path / "labels.parquet"
    summary = label_advantages(str(outcomes), str(value_dir[0]), str(labels), progress=False, log_fn=lambda *_: None)
    table = pq.read_table(labels)
    cols = {name: np.asarray(table.column(name).to_pylist()) for name in table.column_names}
    assert len(cols["index"]) == 240 and sorted(cols["index"]) == list(range(240))
    assert cols["positive"][cols["intervention"]].all() and cols["intervention"].sum() == 15
    assert summary["positive_fraction"] >= 0.4
    config = make_policy("pi06_sim", PROFILE, allow_untrained=True).config
    frames = load_frames(outcomes, PROFILE, config, only_success=False)
    np.testing.assert_array_equal(read_labels(str(labels), frames), cols["positive"][np.argsort(cols["index"])])


def test_advantage_prompts_reach_the_cached_prefix(outcomes):
    policy = make_policy("pi06_sim", PROFILE, allow_untrained=True)
    frames = load_frames(outcomes, PROFILE, policy.config, only_success=False)
    labels = np.arange(len(frames.states)) % 2 == 0
    batches = CachedPrefixBatches(frames, policy, advantage=labels, advantage_dropout=0.5)
    plain = CachedPrefixBatches(frames, policy)
    idx = np.arange(8)
    always = batches.batch(idx, np.random.default_rng(0))["prefix"]
    rng = np.random.default_rng(0)
    dropped = rng.random(8) < 0.5
    base = plain.batch(idx)["prefix"]
    for b in range(8):   # a dropped indicator gives the plain prompt's prefix, a kept one a different one
        assert torch.equal(always[b], base[b]) == bool(dropped[b])
    pos, neg = (batches.prefix_index[1, i] for i in (0, 1))
    assert len({pos, neg, batches.prefix_index[0, 0]}) == 3    # positive, negative and plain are three prompts


def test_advantage_conditioned_fine_tuning_and_inference(outcomes, value_dir, tmp_path):
    labels = tmp_path / "labels.parquet"
    label_advantages(str(outcomes), str(value_dir[0]), str(labels), progress=False, log_fn=lambda *_: None)
    base = tmp_path / "base"
    train(TrainConfig(policy="pi06_sim", dataset=str(outcomes), out=str(base), steps=2, batch_size=4, warmup_steps=1,
                      progress=False, threads=1, precision="fp32"), log_fn=lambda *_: None)
    recap = tmp_path / "recap"
    summary = train(TrainConfig(policy="pi06_sim", dataset=str(outcomes), out=str(recap), steps=2, batch_size=4,
                                warmup_steps=1, progress=False, threads=1, precision="fp32", init=str(base),
                                advantages=str(labels)), log_fn=lambda *_: None)
    assert summary["episodes"] == 6                            # failures too, unlike plain training (3 episodes)
    policy = make_policy("pi06_sim", PROFILE, str(recap))
    assert policy.config.advantage_conditioned
    seen = []
    tokenize = policy.processor.tokenize
    policy.processor.tokenize = lambda prompts: seen.extend(prompts) or tokenize(prompts)
    from pi_vla_ros.core.inference import dummy_observation

    policy.infer(dummy_observation(PROFILE, "put the red cube in the bowl"))
    assert seen == ["put the red cube in the bowl\nAdvantage: positive\n"]
    # the fine-tuned run started from the base weights, not from scratch
    base_policy = make_policy("pi06_sim", PROFILE, str(base))
    assert policy.processor.normalizer.stats["actions"].q99.tolist() == \
        base_policy.processor.normalizer.stats["actions"].q99.tolist()


def test_labels_must_cover_the_training_frames(outcomes, tmp_path):
    import pyarrow as pa

    policy = make_policy("pi06_sim", PROFILE, allow_untrained=True)
    frames = load_frames(outcomes, PROFILE, policy.config, only_success=False)
    path = tmp_path / "partial.parquet"
    pq.write_table(pa.table({"index": np.arange(10), "positive": np.ones(10, bool)}), path)
    with pytest.raises(ValueError, match="no Recap label for 230 frames"):
        read_labels(str(path), frames)


def test_human_demonstrations_can_be_labelled_like_corrections(outcomes, value_dir, tmp_path):
    labels = tmp_path / "labels.parquet"
    summary = label_advantages(str(outcomes), str(value_dir[0]), str(labels), human_episodes=[1], progress=False,
                               log_fn=lambda *_: None)
    table = pq.read_table(labels)
    episode = np.asarray(table.column("episode_index").to_pylist())
    positive = np.asarray(table.column("positive").to_pylist())
    assert positive[episode == 1].all()                                # a failed episode, but driven by a person
    assert summary["human_frames"] == 40 + 5 + 5                       # it, and the corrections of episodes 3, 5


def test_fine_tuning_clips_targets_outside_the_initial_checkpoints_range(outcomes, tmp_path):
    """The tiny dataset's grippers never move, so its checkpoint's gripper range is ~0 wide; new experience in
    which they do move would give normalized targets in the thousands. They are clipped (and counted).
    """
    from test.training.conftest import write_dataset

    still = tmp_path / "still"
    write_dataset(still)
    base = tmp_path / "base"
    train(TrainConfig(policy="pi06_sim", dataset=str(still), out=str(base), steps=2, batch_size=4, warmup_steps=1,
                      progress=False, threads=1, precision="fp32"), log_fn=lambda *_: None)
    for clip in (5.0, 0.0):
        summary = train(TrainConfig(policy="pi06_sim", dataset=str(outcomes), out=str(tmp_path / f"ft{clip}"),
                                    steps=3, batch_size=8, warmup_steps=1, progress=False, threads=1,
                                    precision="fp32", init=str(base), target_clip=clip), log_fn=lambda *_: None)
        if clip:
            assert summary["clipped_targets"] > 0.05 and summary["final_loss"] < 100
        else:
            assert summary["clipped_targets"] == 0 and summary["final_loss"] > 100


def test_value_and_labels_read_a_dataset_with_other_camera_and_joint_names(tmp_path):
    from test.training.test_data import _lerobot

    joints = list(PROFILE.joints)
    renamed = [f"motor_{i}" for i in range(len(joints))]
    root = _lerobot(tmp_path / "d", {"front": 0, "left": 1, "right": 2}, action_names=renamed, state_names=renamed,
                    length=20)
    maps = dict(camera_map={"front": "cam_high", "left": "cam_left_wrist", "right": "cam_right_wrist"},
                joint_map=dict(zip(renamed, joints)))
    with pytest.raises(ValueError, match="joint-map"):
        train_value(str(root), str(tmp_path / "v0"), steps=1, batch_size=8, holdout=0.0, progress=False,
                    log_fn=lambda *_: None)
    train_value(str(root), str(tmp_path / "v"), steps=2, batch_size=8, holdout=0.0, progress=False,
                recap=RecapConfig(max_steps=20), log_fn=lambda *_: None, **maps)
    summary = label_advantages(str(root), str(tmp_path / "v"), str(tmp_path / "labels.parquet"), progress=False,
                               log_fn=lambda *_: None, **maps)
    assert pq.read_table(tmp_path / "labels.parquet").num_rows == 40 and "positive_fraction" in summary
