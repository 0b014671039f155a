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

"""The training loop: it learns, it resumes exactly, it runs under DDP (gloo, world size 1)."""

import dataclasses
import json
import socket

import numpy as np
import pytest
import torch

from pi_vla_ros.policies.checkpoint import load_tensors
from pi_vla_ros.policies.factory import make_policy
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.training import trainer
from pi_vla_ros.training.data import CachedPrefixBatches, load_frames, norm_stats
from pi_vla_ros.training.trainer import TrainConfig, build_policy, lr_at, train, trainable_named_parameters

PROFILE = load_profile("bimanual")


def _cfg(dataset, out, **kw):
    base = dict(policy="pi06_sim", dataset=str(dataset), out=str(out), steps=2, batch_size=4, warmup_steps=1,
                progress=False, threads=1, precision="fp32")
    return TrainConfig(**(base | kw))


def _state(out):
    return load_tensors(out / "training" / "state.safetensors")


@pytest.fixture
def one_thread():
    """Small models: one thread is as fast, and far faster when other processes share the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(tiny_dataset, one_thread):
    config = build_policy("pi06_sim", PROFILE, None, None, "cpu", 0).config
    frames = load_frames(tiny_dataset, PROFILE, config)
    policy = build_policy("pi06_sim", PROFILE, norm_stats(frames, config, config.expert.horizon), None, "cpu", 0)
    params = trainable_named_parameters(policy.model, True)
    batch = CachedPrefixBatches(frames, policy).batch(np.arange(0, 60, 4))
    assert "prefix" in batch and batch["obs_images"].dtype == torch.uint8
    opt = torch.optim.AdamW(params.values(), lr=1e-3, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(0)
    noise, t = torch.randn(batch["actions"].shape, generator=g), torch.rand(len(batch["actions"]), generator=g)
    policy.model.train()
    losses = []
    for _ in range(25):
        loss = policy.model.compute_loss(batch, noise=noise, time=t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    # only the expert and the observation encoder learn; the VLM stays frozen
    assert all(n.startswith(("expert.", "obs.")) for n in params)
    assert not any(p.requires_grad for p in policy.model.vlm.parameters())


def test_schedule_warmup_then_cosine():
    cfg = TrainConfig(policy="x", dataset="x", out="x", steps=100, lr=1.0, warmup_steps=10, final_lr_fraction=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(55, cfg) == pytest.approx(0.55) and lr_at(100, cfg) == pytest.approx(0.1)


def test_schedule_follows_a_time_budget_that_runs_out_first(monkeypatch):
    cfg = TrainConfig(policy="x", dataset="x", out="x", steps=100, lr=1.0, warmup_steps=10, final_lr_fraction=0.1,
                      max_minutes=1.0)
    # started at t=0, warm-up over at t=20 s: 40 s of the budget are left for the decay
    monkeypatch.setattr(trainer.time, "perf_counter", lambda: 40.0)
    assert trainer._budget_used(cfg, 0.0, 20.0) == pytest.approx(0.5)
    assert lr_at(11, cfg, 0.5) == pytest.approx(0.55)       # time leads the steps
    assert lr_at(55, cfg, 0.1) == pytest.approx(0.55)       # steps lead the time
    assert lr_at(12, cfg, 1.0) == pytest.approx(0.1)        # the budget is spent: annealed
    assert lr_at(5, cfg, 0.9) == pytest.approx(0.6)         # warm-up is by steps only
    assert trainer._budget_used(cfg, 0.0, None) == 0.0      # still warming up
    assert trainer._budget_used(dataclasses.replace(cfg, max_minutes=0.0), 0.0, 20.0) == 0.0


def test_checkpoint_is_a_loadable_policy_with_a_loss_curve(tiny_dataset, tmp_path):
    out = tmp_path / "ckpt"
    summary = train(_cfg(tiny_dataset, out, steps=3), log_fn=lambda *_: None)
    assert summary["steps"] == 3 and np.isfinite(summary["final_loss"])
    assert (out / "loss.png").stat().st_size > 1000 and not (tmp_path / "ckpt.tmp").exists()
    policy = make_policy("pi06_sim", PROFILE, str(out))
    stats = json.loads((out / "norm_stats.json").read_text())["norm_stats"]
    assert len(stats["actions"]["q01"]) == PROFILE.action_dim
    # the policy holds the EMA weights, the training state the raw ones
    state = _state(out)
    name = "expert.out_proj.weight"
    assert torch.equal(policy.model.state_dict()[name], state[f"ema/{name}"].to(torch.float32))
    assert not torch.equal(state[f"ema/{name}"], state[f"param/{name}"])


def test_samples_are_not_drawn_from_superseded_attempts(tmp_path, monkeypatch):
    """A missed grasp before its retry is not imitated (unless --keep-superseded); the retry is."""
    from test.training.conftest import write_dataset

    write_dataset(tmp_path / "d", episodes=2, frames=20, subtasks=("reach for the cube", "grasp the cube",
                                                                   "reach for the cube", "grasp the cube"))
    drawn = []
    real_batch = CachedPrefixBatches.batch
    monkeypatch.setattr(CachedPrefixBatches, "batch",
                        lambda self, idx, rng=None: drawn.extend(idx.tolist()) or real_batch(self, idx, rng))
    summary = train(_cfg(tmp_path / "d", tmp_path / "skip", steps=4), log_fn=lambda *_: None)
    assert summary["samples"] == 20 and drawn and all(i % 20 >= 10 for i in drawn)
    drawn.clear()
    summary = train(_cfg(tmp_path / "d", tmp_path / "keep", steps=4, skip_superseded=False), log_fn=lambda *_: None)
    assert summary["samples"] == 40 and any(i % 20 < 10 for i in drawn)


def test_samples_are_drawn_from_corrections_not_from_what_they_corrected(tmp_path, monkeypatch):
    """A corrected rollout (HG-DAgger): the expert's correction is imitated, the policy's frames before it are not
    (unless --keep-corrected); a demonstration is drawn whole.
    """
    from test.training.conftest import write_dataset

    write_dataset(tmp_path / "d", episodes=2, frames=20, corrected_from=12)
    drawn = []
    real_batch = CachedPrefixBatches.batch
    monkeypatch.setattr(CachedPrefixBatches, "batch",
                        lambda self, idx, rng=None: drawn.extend(idx.tolist()) or real_batch(self, idx, rng))
    summary = train(_cfg(tmp_path / "d", tmp_path / "skip", steps=6), log_fn=lambda *_: None)
    assert summary["samples"] == 28 and drawn and not any(20 <= i < 32 for i in drawn)
    drawn.clear()
    summary = train(_cfg(tmp_path / "d", tmp_path / "keep", steps=6, skip_corrected=False), log_fn=lambda *_: None)
    assert summary["samples"] == 40 and any(20 <= i < 32 for i in drawn)


def test_resume_continues_bit_identically(tiny_dataset, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(_cfg(tiny_dataset, straight), log_fn=lambda *_: None)
    first = train(_cfg(tiny_dataset, split, pause_at_step=1), log_fn=lambda *_: None)
    assert first["steps"] == 1 and first["stopped_early"]
    second = train(_cfg(tiny_dataset, split, resume=True), log_fn=lambda *_: None)
    assert second["start_step"] == 1 and second["steps"] == 2
    a, b = _state(straight), _state(split)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    loss_a = json.loads((straight / "training/state.json").read_text())["loss_history"]
    loss_b = json.loads((split / "training/state.json").read_text())["loss_history"]
    assert loss_a == loss_b


def test_ddp_gloo_world_size_one(tiny_dataset, tmp_path, monkeypatch):
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in dict(WORLD_SIZE="1", RANK="0", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)).items():
        monkeypatch.setenv(k, v)
    try:
        summary = train(_cfg(tiny_dataset, tmp_path / "ddp"), log_fn=lambda *_: None)
        assert summary["ddp"] and summary["world_size"] == 1 and dist.get_backend() == "gloo"
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    monkeypatch.delenv("WORLD_SIZE")
    train(_cfg(tiny_dataset, tmp_path / "plain"), log_fn=lambda *_: None)
    a, b = _state(tmp_path / "ddp"), _state(tmp_path / "plain")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


@pytest.mark.parametrize("name", ["pi0_tiny", "pi05_tiny"])
def test_pi0_family_trains_through_the_same_loop(tiny_dataset, tmp_path, name):
    summary = train(_cfg(tiny_dataset, tmp_path / name, policy=name), log_fn=lambda *_: None)
    assert summary["steps"] == 2 and np.isfinite(summary["final_loss"])
    policy = make_policy(name, PROFILE, str(tmp_path / name))
    assert policy.metadata.action_dim == PROFILE.action_dim and not policy.untrained


def test_pi05_recipe_trains_with_separate_loss_terms_and_keeps_its_fast_tokenizer(tiny_dataset, tmp_path):
    out = tmp_path / "ki"
    with pytest.raises(ValueError, match="must train"):
        train(_cfg(tiny_dataset, out, policy="pi05_ki_tiny"), log_fn=lambda *_: None)
    summary = train(_cfg(tiny_dataset, out, policy="pi05_ki_tiny", freeze_vlm=False, loss_alpha=10.0),
                    log_fn=lambda *_: None)
    terms = summary["final_terms"]
    assert set(terms) == {"ce", "ce_fast", "flow"} and terms["ce_fast"] == terms["ce"] > 0   # no subtask text here
    assert summary["final_loss"] == pytest.approx(terms["ce"] + 10.0 * terms["flow"], rel=1e-4)
    state = json.loads((out / "training" / "state.json").read_text())
    assert [s for s, _ in state["loss_terms"]["flow"]] == [1, 2]
    policy = make_policy("pi05_ki_tiny", PROFILE, str(out))
    assert policy.processor.fast is not None and policy.processor.fast.action_dim == PROFILE.action_dim
    # resuming keeps the fitted tokenizer (not refitted) and the term history
    fitted = (out / "fast" / "fast_bpe.json").read_text()
    train(_cfg(tiny_dataset, out, policy="pi05_ki_tiny", freeze_vlm=False, steps=3, resume=True),
          log_fn=lambda *_: None)
    again = make_policy("pi05_ki_tiny", PROFILE, str(out))
    assert (out / "fast" / "fast_bpe.json").read_text() == fitted
    assert again.processor.fast.vocab_size == policy.processor.fast.vocab_size
    assert len(json.loads((out / "training" / "state.json").read_text())["loss_terms"]["flow"]) == 3


def test_pre_training_stage_is_next_token_only(tiny_dataset, tmp_path):
    summary = train(_cfg(tiny_dataset, tmp_path / "pre", policy="pi05_ki_tiny", freeze_vlm=False, stage="pre"),
                    log_fn=lambda *_: None)
    assert "flow" not in summary["final_terms"] and summary["final_loss"] == pytest.approx(
        summary["final_terms"]["ce"], rel=1e-4)
    with pytest.raises(ValueError, match="no target tokens"):
        train(_cfg(tiny_dataset, tmp_path / "pre0", policy="pi05_tiny", stage="pre"), log_fn=lambda *_: None)


def test_pi0_fast_and_training_time_rtc_train_through_the_loop(tiny_dataset, tmp_path):
    summary = train(_cfg(tiny_dataset, tmp_path / "fast", policy="pi0_fast_tiny", freeze_vlm=False),
                    log_fn=lambda *_: None)
    assert set(summary["final_terms"]) == {"ce", "ce_fast"}
    summary = train(_cfg(tiny_dataset, tmp_path / "rtc", policy="pi05_tiny",
                         overrides={"training_rtc_max_delay": 10}), log_fn=lambda *_: None)
    assert np.isfinite(summary["final_loss"])
    assert make_policy("pi05_tiny", PROFILE, str(tmp_path / "rtc")).config.training_rtc_max_delay == 10


def test_hierarchical_policy_learns_the_subtask_annotations(tiny_dataset, tmp_path):
    """The dataset's per-frame subtask ("reach for the cube") is a CE target: ce_text is logged and the words are
    in the tokenizer (no [UNK]).
    """
    summary = train(_cfg(tiny_dataset, tmp_path / "hier", policy="pi05_hier_tiny", freeze_vlm=False),
                    log_fn=lambda *_: None)
    assert {"ce_text", "ce_fast", "flow"} <= set(summary["final_terms"]) and summary["final_terms"]["ce_text"] > 0
    policy = make_policy("pi05_hier_tiny", PROFILE, str(tmp_path / "hier"))
    ids = policy.processor.text_ids("reach for the cube")
    assert len(ids) == 4 and policy.processor.tokenizer.unk_token_id not in ids
