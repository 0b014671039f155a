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

"""π0.5's recipe in models/pi0.py at a tiny size: the combined loss, knowledge insulation, the FAST / expert mask,
pre-training, greedy decoding with and without the KV cache, per-action times and training-time RTC.
"""

import pytest
import torch
import torch.nn.functional as F

from pi_vla_ros.models import flow_matching as fm
from pi_vla_ros.models.pi0 import (ACTION_BEGIN, END, Pi0Model, Pi0ModelConfig, SUBTASK_BEGIN, TokenBudget,
                                   make_attention_mask, recipe_mask)

VOCAB = 1024


def tiny(pi05=True, expert="gemma_expert_tiny") -> Pi0Model:
    torch.manual_seed(0)
    cfg = Pi0ModelConfig(pi05=pi05, vlm="gemma_tiny", expert=expert, vision="siglip_tiny", image_size=16,
                         vocab_size=VOCAB, action_horizon=10)
    model = Pi0Model(cfg)
    for p in model.parameters():  # zero-initialised adaRMS / norms would hide paths: make every weight matter
        torch.nn.init.normal_(p, std=0.2)
    return model


def batch_of(model, subtask=True, fast=True, b=2):
    g = torch.Generator().manual_seed(1)
    c, sid = model.config, model.config.special_id
    seqs = []
    for i in range(b):
        seq = ([(sid(SUBTASK_BEGIN), 0), (40 + i, 1), (41, 1), (sid(END), 1)] if subtask else [])
        seq += ([(sid(ACTION_BEGIN), 0)] + [(880 - j - i, 1) for j in range(3 + i)] + [(sid(END), 1)] if fast else [])
        seqs.append(seq)
    n = max(len(s) for s in seqs)
    targets, mask = torch.zeros(b, n, dtype=torch.long), torch.zeros(b, n, dtype=torch.bool)
    loss, is_fast = torch.zeros(b, n, dtype=torch.bool), torch.zeros(b, n, dtype=torch.bool)
    for i, seq in enumerate(seqs):
        targets[i, :len(seq)] = torch.tensor([t for t, _ in seq])
        mask[i, :len(seq)], loss[i, :len(seq)] = True, torch.tensor([bool(s) for _, s in seq])
        first_fast = 4 if subtask else 0
        is_fast[i, first_fast:len(seq)] = fast
    tokens = torch.randint(1, 30, (b, 6), generator=g)
    batch = {"images": torch.rand(b, 3, 3, 16, 16, generator=g) * 2 - 1, "image_mask": torch.tensor([[1, 0, 1]] * b),
             "tokens": tokens, "token_mask": torch.tensor([[1] * 6, [1] * 4 + [0] * 2][:b]).bool(),
             "state": torch.randn(b, c.action_dim, generator=g),
             "actions": torch.randn(b, c.action_horizon, c.action_dim, generator=g)}
    if subtask or fast:
        batch |= {"targets": targets, "target_mask": mask, "target_loss": loss, "target_fast": is_fast}
    noise = torch.randn(b, c.action_horizon, c.action_dim, generator=g)
    return batch, noise, torch.tensor([0.3, 0.8][:b])


def without_targets(batch):
    return {k: v for k, v in batch.items() if not k.startswith("target")}


def only_subtask(batch):
    return {**batch, **{k: v[:, :4] for k, v in batch.items() if k.startswith("target")}}  # the subtask segment


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_combined_loss_equals_its_parts(pi05):
    model = tiny(pi05)
    batch, noise, time = batch_of(model)
    with torch.no_grad():
        both = model.compute_losses(batch, noise, time, alpha=10.0)
        assert torch.allclose(both["loss"], both["ce"] + 10.0 * both["flow"])
        # each part is what a pass without the other gives: neither side reads the other's tokens
        ce_only = model.compute_losses(batch, noise, time, flow=False)
        assert set(ce_only) == {"ce", "ce_text", "ce_fast", "loss"} and torch.equal(ce_only["loss"], ce_only["ce"])
        for k in ("ce", "ce_text", "ce_fast"):
            assert torch.allclose(both[k], ce_only[k], atol=1e-6), k
        flow_only = model.compute_losses(only_subtask(batch), noise, time)  # no FAST tokens in the sequence at all
        assert torch.allclose(both["flow"], flow_only["flow"], atol=1e-6)
        # ce is the mean over text and FAST targets together
        n_text = (batch["target_loss"] & ~batch["target_fast"]).sum()
        n_fast = (batch["target_loss"] & batch["target_fast"]).sum()
        assert torch.allclose(both["ce"], (both["ce_text"] * n_text + both["ce_fast"] * n_fast) / (n_text + n_fast))
        # no targets: the plain flow loss, unweighted (what π0 / π0.5 always trained with)
        plain = model.compute_losses(without_targets(batch), noise, time, alpha=10.0)
        assert torch.equal(plain["loss"], plain["flow"])
        assert torch.allclose(plain["loss"], model.compute_loss(without_targets(batch), noise, time))


def vlm_grads(model):
    return {n: p.grad for n, p in model.named_parameters() if n.startswith("paligemma_with_expert.paligemma.")}


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_knowledge_insulation_keeps_the_flow_loss_out_of_the_vlm(pi05):
    model = tiny(pi05)
    batch, noise, time = batch_of(model)
    insulated = model.compute_losses(batch, noise, time, insulate=True)
    insulated["flow"].backward()
    assert all(g is None or not g.any() for g in vlm_grads(model).values())
    assert model.action_in_proj.weight.grad.abs().sum() > 0  # the expert does learn from it
    model.zero_grad(set_to_none=True)
    plain = model.compute_losses(batch, noise, time, insulate=False)
    for k in plain:  # insulation changes gradients only, never values
        assert torch.allclose(plain[k], insulated[k], atol=1e-6), k
    plain["flow"].backward()
    grads = vlm_grads(model)
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if ".language_model.layers." in n)
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if ".vision_tower." in n)
    model.zero_grad(set_to_none=True)
    model.compute_losses(batch, noise, time, insulate=True)["loss"].backward()  # the VLM still learns from CE
    assert any(g is not None and g.abs().sum() > 0 for g in vlm_grads(model).values())


def test_pre_training_is_next_token_only():
    model = tiny()
    batch, noise, time = batch_of(model)
    losses = model.compute_losses(batch, noise, time, flow=False)
    assert "flow" not in losses and torch.equal(losses["loss"], losses["ce"])
    losses["loss"].backward()
    assert all(p.grad is None for n, p in model.named_parameters() if "gemma_expert" in n or n.startswith("action_"))


def test_mask_keeps_fast_and_expert_tokens_apart():
    # prefix of 3 (one pad) | subtask 2 | FAST 3 | expert 2
    pad = torch.tensor([[1, 1, 0, 1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    ar = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    fast = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 0, 0]], dtype=torch.bool)
    mask, pos = recipe_mask(pad, ar, fast, n_vlm=8)
    m = mask[0]
    assert not m[8:, 5:8].any() and not m[5:8, 8:].any()        # never each other
    assert m[8:, [0, 1, 3, 4]].all() and m[8:, 8:].all()        # the expert: prefix, subtask, itself
    assert m[5:8, [0, 1, 3, 4]].all() and m[7, 5:8].all() and not m[5, 6:].any()  # FAST: causal after the subtask
    assert pos[0, 8:].tolist() == [4, 5] and pos[0, 5:8].tolist() == [4, 5, 6]  # expert numbered as without FAST
    assert torch.equal(mask[:, :8, :8], make_attention_mask(pad[:, :8], ar[:, :8]))
    # the same in the model: FAST tokens do not move the flow loss, the expert's input does not move the CE
    model = tiny()
    batch, noise, time = batch_of(model)
    with torch.no_grad():
        base = model.compute_losses(batch, noise, time)
        other = dict(batch, targets=torch.where(batch["target_fast"] & batch["target_loss"], 700, batch["targets"]))
        moved = model.compute_losses(other, noise * 2, time)
    assert torch.allclose(base["flow"], model.compute_losses(other, noise, time)["flow"], atol=1e-6)
    assert torch.allclose(base["ce_text"], moved["ce_text"], atol=1e-6) and not torch.isclose(base["flow"],
                                                                                              moved["flow"])


@pytest.mark.parametrize("expert", ["gemma_expert_tiny", ""], ids=["pi05", "pi0_fast"])
def test_greedy_decoding_with_the_cache_equals_decoding_without_it(expert):
    model = tiny(expert=expert).eval()
    batch, _, _ = batch_of(model, subtask=False, fast=False)
    sid = model.config.special_id
    batch |= {"targets": torch.tensor([[sid(SUBTASK_BEGIN), 41, 42], [sid(SUBTASK_BEGIN), 0, 0]]),
              "target_mask": torch.tensor([[1, 1, 1], [1, 0, 0]]).bool()}  # context of unequal lengths
    ids, logp = model.generate(batch, 12, use_cache=True)
    ref_ids, ref_logp = model.generate(batch, 12, use_cache=False)
    assert ids.shape == (2, 12) and torch.equal(ids, ref_ids) and torch.allclose(logp, ref_logp, atol=1e-5)
    assert (logp < 0).all()


def test_a_given_text_scores_what_greedy_decoding_gave_it():
    model = tiny().eval()
    batch, _, _ = batch_of(model, subtask=False, fast=False)
    sid = model.config.special_id
    batch |= {"targets": torch.tensor([[sid(SUBTASK_BEGIN)], [sid(SUBTASK_BEGIN)]]),
              "target_mask": torch.ones(2, 1, dtype=torch.bool)}
    ids, logp = model.generate(batch, 6)
    ended = ids == sid(END)
    last = torch.where(ended.any(1), ended.long().argmax(1), ids.shape[1] - 1)   # generate() scores up to END
    scored = {**batch, "targets": torch.cat([batch["targets"], ids], 1),
              "target_mask": torch.ones(2, 1 + ids.shape[1], dtype=torch.bool),
              "target_loss": F.pad(torch.arange(ids.shape[1])[None] <= last[:, None], (1, 0))}
    assert torch.allclose(model.target_logprob(scored), logp, atol=1e-4)


def test_a_token_budget_ends_every_sequence_at_exactly_its_total():
    """Constrained decoding (π0-FAST): ids 100-119 cost 1-4 symbols, everything else is never allowed."""
    model = tiny(expert="").eval()
    batch, _, _ = batch_of(model, subtask=False, fast=False)
    sid = model.config.special_id
    batch |= {"targets": torch.tensor([[sid(ACTION_BEGIN)], [sid(ACTION_BEGIN)]]),
              "target_mask": torch.ones(2, 1, dtype=torch.bool)}
    cost = torch.full((model.config.vocab_size,), float("inf"))
    cost[100:120] = torch.arange(20) % 4 + 1.0
    free, _ = model.generate(batch, 12)
    assert not ((free >= 100) & (free < 120)).all()          # unconstrained, random weights wander off
    ids, logp = model.generate(batch, 40, budget=TokenBudget(cost, 17))
    for row in ids.tolist():
        end = row.index(sid(END))
        assert all(100 <= t < 120 for t in row[:end]) and sum(cost[t].item() for t in row[:end]) == 17
    assert (logp < 0).all()


def test_stock_gemma_forward_equals_the_joint_forward():
    """Decoding runs HF's Gemma; training runs joint_forward: the same function of the same weights."""
    model = tiny().eval()
    batch, _, _ = batch_of(model)
    with torch.no_grad():
        emb, pad, ar, _ = model.embed_context(batch)
        mask, pos = make_attention_mask(pad, ar), pad.long().cumsum(1) - 1
        (ours, _), _ = model.joint_forward([emb, None], mask, pos)
        bias = torch.zeros(mask.shape).masked_fill(~mask, torch.finfo(torch.float32).min)[:, None]
        theirs = model.vlm.language_model(inputs_embeds=emb, attention_mask=bias, position_ids=pos).last_hidden_state
    assert torch.allclose(ours[pad], theirs[pad], atol=1e-5)


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_per_action_times_equal_one_time_per_sample(pi05):
    model = tiny(pi05)
    batch, noise, time = batch_of(model, subtask=False, fast=False)
    a = model.embed_suffix(batch["state"], noise, time)
    b = model.embed_suffix(batch["state"], noise, time[:, None].expand(-1, 10))
    assert torch.allclose(a[0], b[0], atol=1e-6)
    assert a[3] is None or torch.allclose(a[3][:, None].expand_as(b[3]), b[3], atol=1e-6)


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_training_time_rtc_leaves_the_prefix_exactly_as_given(pi05):
    model = tiny(pi05).eval()
    batch, noise, time = batch_of(model, subtask=False, fast=False)
    target = torch.randn(2, 10, 32)
    out = model.sample_actions(without_targets(batch), noise=noise, inpaint=fm.PrefixInpainting.first(target, 4))
    assert torch.equal(out[:, :4], target[:, :4]) and not torch.allclose(out[:, 4:], target[:, 4:])
    # in training the prefix is input (clean, t = 0) and not scored: its noise changes nothing
    prefix = fm.training_prefix(2, 10, 6, torch.Generator().manual_seed(3))
    other = torch.where(prefix[..., None], torch.randn_like(noise), noise)
    with torch.no_grad():
        a = model.compute_losses(without_targets(batch), noise, time, rtc_prefix=prefix)["flow"]
        b = model.compute_losses(without_targets(batch), other, time, rtc_prefix=prefix)["flow"]
        c = model.compute_losses(without_targets(batch), other, time)["flow"]
    assert torch.allclose(a, b, atol=1e-6) and not torch.isclose(a, c)


def test_published_pi0_fast_is_paligemma_alone():
    """Built on the meta device (no memory): π0-FAST is π0 without the expert and its projections."""
    from pi_vla_ros.policies.registry import get_config

    with torch.device("meta"):
        fast, pi0 = Pi0Model(get_config("pi0_fast").model), Pi0Model(get_config("pi0").model)
    assert fast.expert is None and not hasattr(fast, "action_in_proj")
    n = sum(p.numel() for p in fast.parameters())
    assert n == sum(p.numel() for k, p in pi0.named_parameters() if k.startswith("paligemma_with_expert.paligemma."))
