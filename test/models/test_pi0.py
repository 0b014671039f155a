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

"""π0 / π0.5 model: parity with openpi's PyTorch reference (fixtures, see test/fixtures/pi0_parity/README.md),
the attention mask, adaRMS semantics, the prefix KV cache and the published sizes.
"""

import dataclasses
import gzip
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pi_vla_ros.models import flow_matching as fm
from pi_vla_ros.models.pi0 import AdaRMSNorm, Pi0Model, Pi0ModelConfig, make_attention_mask
from pi_vla_ros.policies.pi0.weights import load_weights, state_dict_openpi

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pi0_parity"
TOL = 1e-4  # fp32 acceptance bound (measured: < 1e-6)


def fixture_config(pi05: bool) -> Pi0ModelConfig:
    return Pi0ModelConfig(pi05=pi05, vlm="gemma_tiny", expert="gemma_expert_tiny", vision="siglip_tiny",
                          image_size=16, vocab_size=128)


@pytest.fixture(scope="module", params=[False, True], ids=["pi0", "pi05"])
def reference(request):
    tag = "pi05" if request.param else "pi0"
    model = Pi0Model(fixture_config(request.param)).eval()
    load_weights(model, FIXTURES / tag / "model.safetensors")
    io = load_file(str(FIXTURES / tag / "io.safetensors"))
    batch = {k: io[k] for k in ("images", "image_mask", "tokens", "token_mask", "state")}
    return model, batch, io


def test_sampled_actions_match_openpi(reference):
    model, batch, io = reference
    actions = model.sample_actions(batch, noise=io["noise"])
    assert actions.shape == (2, 50, 32)
    assert (actions - io["expected_actions"]).abs().max().item() < TOL


def test_training_loss_matches_openpi(reference):
    model, batch, io = reference
    with torch.no_grad():
        loss = model.compute_loss({**batch, "actions": io["actions"]}, noise=io["noise"], time=io["time"])
    assert abs(loss.item() - io["expected_loss"].item()) < TOL


def test_cached_prefix_equals_joint_forward(reference):
    """One Euler step through the KV cache == the velocity of one joint prefix + suffix pass."""
    model, batch, io = reference
    noise = io["noise"]
    with torch.no_grad():
        prefix, p_pad, p_ar = model.embed_prefix(batch["images"], batch["image_mask"], batch["tokens"],
                                                 batch["token_mask"])
        suffix, s_pad, s_ar, cond = model.embed_suffix(batch["state"], noise, torch.ones(2))
        pad, ar = torch.cat([p_pad, s_pad], 1), torch.cat([p_ar, s_ar], 1)
        mask, pos = make_attention_mask(pad, ar), pad.long().cumsum(1) - 1
        (_, out), _ = model.joint_forward([prefix, suffix], mask, pos, cond)
        v = model.action_out_proj(out[:, -50:])
    x1 = model.sample_actions(batch, noise=noise, num_steps=1)
    assert torch.allclose(x1, noise - v, atol=1e-5)


def test_masked_camera_and_padding_do_not_leak(reference):
    model, batch, io = reference
    base = model.sample_actions(batch, noise=io["noise"])
    changed = {k: v.clone() for k, v in batch.items()}
    changed["images"][0, 1] = 0.7  # sample 0's masked camera
    changed["tokens"][0, 9] = 5  # sample 0's padded token
    assert torch.allclose(model.sample_actions(changed, noise=io["noise"]), base, atol=1e-6)
    changed["images"][0, 0] = 0.7  # a real camera does matter
    assert not torch.allclose(model.sample_actions(changed, noise=io["noise"])[0], base[0], atol=1e-4)


def test_ar_mask_is_block_causal():
    pad = torch.tensor([[1, 1, 1, 0, 1, 1, 1]], dtype=torch.bool)  # prefix of 4 (one padded), then suffix
    ar = torch.tensor([[0, 0, 0, 0, 1, 1, 0]], dtype=torch.bool)  # π0: state, first action, action
    m = make_attention_mask(pad, ar)[0].int()
    assert m.tolist() == [
        [1, 1, 1, 0, 0, 0, 0],  # prefix: bidirectional among real prefix tokens, never the suffix
        [1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],  # padding attends nothing and is never attended
        [1, 1, 1, 0, 1, 0, 0],  # state: prefix + itself
        [1, 1, 1, 0, 1, 1, 1],  # actions: everything real, each other bidirectionally
        [1, 1, 1, 0, 1, 1, 1],
    ]


def test_adarms_semantics():
    norm = AdaRMSNorm(4, 3)
    assert [n for n, _ in norm.named_parameters()] == ["dense.weight", "dense.bias"]  # no norm weight
    assert torch.equal(norm.dense.weight, torch.zeros(12, 3))  # zero-initialised
    torch.nn.init.normal_(norm.dense.weight)
    x, cond = torch.randn(2, 5, 4), torch.randn(2, 3)
    y, gate = norm(x, cond)
    scale, shift, g = norm.dense(cond)[:, None].chunk(3, -1)
    rms = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
    assert torch.allclose(y, rms * (1 + scale) + shift, atol=1e-6) and torch.equal(gate, g)


def test_time_embedding_and_suffix_layout(reference):
    model, batch, io = reference
    emb, pad, ar, cond = model.embed_suffix(batch["state"], io["noise"], io["time"])
    if model.config.pi05:
        assert emb.shape == (2, 50, 16) and cond.shape == (2, 16) and ar[0].tolist() == [True] + [False] * 49
    else:
        assert emb.shape == (2, 51, 16) and cond is None and ar[0].tolist() == [True, True] + [False] * 49
    assert pad.all()
    assert fm.sinusoidal_time_embedding(io["time"], 16).shape == (2, 16)


def test_variants_must_share_attention_geometry():
    with pytest.raises(ValueError, match="must agree"):
        Pi0ModelConfig(vlm="gemma_tiny", expert="gemma_300m")
    with pytest.raises(ValueError, match="unknown variant"):
        Pi0ModelConfig(vision="siglip_huge")


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_full_size_layout_equals_openpi_checkpoints(pi05):
    """Published sizes, built on the meta device (no memory): names, shapes and count equal openpi's files."""
    with torch.device("meta"):
        model = Pi0Model(Pi0ModelConfig(pi05=pi05))
    ours = {k: list(v.shape) for k, v in state_dict_openpi(model).items()}
    with gzip.open(FIXTURES / "openpi_full_layout.json.gz", "rt") as f:
        theirs = {k: shape for k, (shape, _) in json.load(f)["pi05" if pi05 else "pi0"].items()}
    assert ours == theirs
    n = sum(p.numel() for p in model.parameters())
    assert n == (3_353_433_872 if pi05 else 3_238_048_528)


def test_conv_vision_tower_takes_siglips_place():
    """The sim-sized CNN tower yields SigLIP's token grid (S/16 per side) at the projector's input width, and
    its tokens depend on where things are in the image (a shifted image gives other tokens) and on which camera
    slot the image is in (the same image in another slot gives other tokens).
    """
    torch.manual_seed(0)
    config = Pi0ModelConfig(vlm="gemma_sim", expert="gemma_expert_sim", vision="conv_sim", image_size=64,
                            vocab_size=256)
    model = Pi0Model(config).eval()
    assert not any("vision_model" in k for k in model.state_dict())  # no SigLIP weights left behind
    images = torch.zeros(2, 3, 3, 64, 64)
    images[0, :, :, 8:16, 8:16] = 1.0
    images[1, :, :, 40:48, 40:48] = 1.0
    emb, pad, ar = model.embed_prefix(images, torch.ones(2, 3, dtype=torch.bool), torch.ones(2, 5, dtype=torch.long),
                                      torch.ones(2, 5, dtype=torch.bool))
    assert emb.shape == (2, 3 * 16 + 5, 128) and pad.all() and not ar.any()
    assert not torch.allclose(emb[0, :16], emb[1, :16])
    assert not torch.allclose(emb[0, :16], emb[0, 16:32])  # same picture, other camera
    batch = {"images": images, "image_mask": torch.ones(2, 3, dtype=torch.bool),
             "tokens": torch.ones(2, 5, dtype=torch.long), "token_mask": torch.ones(2, 5, dtype=torch.bool),
             "state": torch.zeros(2, 32)}
    assert torch.isfinite(model.sample_actions(batch, num_steps=2)).all()


def test_noise_dims_keep_the_padding_out_of_the_flow(reference):
    """noise_dims=n: the padding past n is exactly 0 in the sampled actions whatever noise is given, and the flow
    loss is the MSE over the first n dims only (the padding's error does not count).
    """
    model, batch, io = reference
    narrow = Pi0Model(dataclasses.replace(model.config, noise_dims=14)).eval()
    narrow.load_state_dict(model.state_dict())
    actions = narrow.sample_actions(batch, noise=io["noise"])
    assert actions[..., 14:].abs().max().item() == 0.0 and actions[..., :14].abs().max().item() > 0.0
    with torch.no_grad():
        target = {**batch, "actions": io["actions"]}
        full = model.compute_losses(target, noise=io["noise"], time=io["time"])["flow"]
        loss = narrow.compute_losses(target, noise=io["noise"], time=io["time"])["flow"]
        junk = io["actions"].clone()
        junk[..., 14:] += 5.0  # the padding's targets change: the narrow loss must not
        same = narrow.compute_losses({**batch, "actions": junk}, noise=io["noise"], time=io["time"])["flow"]
    assert abs(loss.item() - same.item()) < 1e-6 and abs(loss.item() - full.item()) > 1e-6
    with pytest.raises(ValueError, match="noise_dims"):
        dataclasses.replace(model.config, noise_dims=33)
