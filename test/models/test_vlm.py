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

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import PaliGemmaForConditionalGeneration

from pi_vla_ros.models.vlm import PaliGemmaBackbone, vlm_config


@pytest.fixture(scope="module")
def vlm():
    torch.manual_seed(0)
    return PaliGemmaBackbone(vlm_config("tiny"))


def inputs(b=2, t=12):
    images = torch.rand(b, 3, 3, 64, 64) * 2 - 1
    image_mask = torch.ones(b, 3, dtype=torch.bool)
    image_mask[0, 1] = False  # sample 0 has no left wrist camera
    tokens = torch.randint(3, 100, (b, t))
    token_mask = torch.ones(b, t, dtype=torch.bool)
    token_mask[0, 7:] = False
    return images, image_mask, tokens, token_mask


def test_prefix_shapes_and_mask(vlm):
    hidden, mask = vlm(*inputs())
    n_img = (64 // 16) ** 2
    assert hidden.shape == (2, 3 * n_img + 12, 128) and mask.shape == (2, 3 * n_img + 12)
    text = 3 * n_img  # the text tokens follow the three image slots
    assert not mask[0, n_img:2 * n_img].any() and mask[1].all()
    assert mask[0, text:text + 7].all() and not mask[0, text + 7:].any()
    assert torch.isfinite(hidden).all()


def test_frozen(vlm):
    assert not any(p.requires_grad for p in vlm.parameters())
    vlm.train()
    assert not vlm.training and not any(m.training for m in vlm.modules())


def test_masked_camera_and_padding_do_not_leak(vlm):
    images, image_mask, tokens, token_mask = inputs()
    hidden, mask = vlm(images, image_mask, tokens, token_mask)
    images2, tokens2 = images.clone(), tokens.clone()
    images2[0, 1] = 0.5  # masked camera
    tokens2[0, 9] = 42  # padded token
    hidden2, _ = vlm(images2, image_mask, tokens2, token_mask)
    assert torch.allclose(hidden[mask], hidden2[mask], atol=1e-5)
    images2[0, 0] = 0.5  # a valid camera does matter
    hidden3, _ = vlm(images2, image_mask, tokens2, token_mask)
    assert not torch.allclose(hidden[0][mask[0]], hidden3[0][mask[0]])


def test_empty_slot_for_whole_batch(vlm):
    images, image_mask, tokens, token_mask = inputs()
    image_mask[:, 2] = False
    hidden, mask = vlm(images, image_mask, tokens, token_mask)
    assert torch.isfinite(hidden).all() and not mask[:, 32:48].any()


def test_load_local_pretrained_and_refuse_bad_weights(tmp_path):
    torch.manual_seed(1)
    ref = PaliGemmaForConditionalGeneration(vlm_config("tiny"))
    ref.save_pretrained(tmp_path)
    loaded = PaliGemmaBackbone.from_pretrained(tmp_path)
    ref_sd = ref.model.state_dict()
    assert all(torch.equal(v, ref_sd[k]) for k, v in loaded.pg.state_dict().items())
    assert not any(p.requires_grad for p in loaded.parameters())

    weights = load_file(tmp_path / "model.safetensors")
    dropped = next(k for k in weights if "mlp.down_proj" in k)
    del weights[dropped]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="missing"):
        PaliGemmaBackbone.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError):
        PaliGemmaBackbone.from_pretrained(tmp_path / "nope")


def test_named_configs():
    big = vlm_config("paligemma-3b")  # a config only: never instantiated in tests
    v, t = big.vision_config, big.text_config
    vision = (v.image_size, v.patch_size, v.hidden_size, v.num_hidden_layers, v.intermediate_size)
    text = (t.hidden_size, t.num_hidden_layers, t.intermediate_size, t.num_key_value_heads, t.head_dim)
    assert vision == (224, 14, 1152, 27, 4304)
    assert text == (2048, 18, 16384, 1, 256)
    assert big.text_config.num_image_tokens == 256
    assert vlm_config("tiny", image_size=96).vision_config.image_size == 96
    with pytest.raises(KeyError):
        vlm_config("nope")
