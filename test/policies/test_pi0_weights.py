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

"""π0 / π0.5 checkpoint I/O: openpi and LeRobot layouts load strictly; saving writes openpi's layout."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pi_vla_ros.models.pi0 import Pi0Model, Pi0ModelConfig
from pi_vla_ros.policies.checkpoint import CheckpointError
from pi_vla_ros.policies.pi0.weights import EMBED, EXPERT_LM_HEAD, LM_HEAD, load_weights, save_weights

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pi0_parity"


def config(pi05: bool) -> Pi0ModelConfig:
    return Pi0ModelConfig(pi05=pi05, vlm="gemma_tiny", expert="gemma_expert_tiny", vision="siglip_tiny",
                          image_size=16, vocab_size=128)


def openpi_file(pi05: bool) -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURES / ("pi05" if pi05 else "pi0") / "model.safetensors"))


def loaded(pi05: bool, tensors=None) -> Pi0Model:
    model = Pi0Model(config(pi05))
    load_weights(model, openpi_file(pi05) if tensors is None else tensors)
    return model


def same_weights(a: Pi0Model, b: Pi0Model) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_save_load_round_trip_in_openpi_layout(tmp_path, pi05):
    model = loaded(pi05)
    vlm = model.paligemma_with_expert["paligemma"]
    assert vlm.lm_head.weight is vlm.model.language_model.embed_tokens.weight  # tie restored
    path = save_weights(model, tmp_path / "model.safetensors")
    written, original = load_file(str(path)), openpi_file(pi05)
    assert written.keys() == original.keys()  # exactly openpi's names, tie once as lm_head, unused expert head
    assert EMBED not in written and LM_HEAD in written and EXPERT_LM_HEAD in written
    assert all(torch.equal(written[k].float(), original[k].float()) for k in original if k != EXPERT_LM_HEAD)
    assert same_weights(loaded(pi05, path), model)


def test_lerobot_and_older_layouts_load_to_the_same_weights():
    ref = loaded(False)
    tensors = openpi_file(False)
    lerobot = {f"model.{k}": v for k, v in tensors.items()}  # LeRobot's PI0Policy wraps PI0Pytorch as .model
    assert same_weights(loaded(False, lerobot), ref)
    old = {}  # transformers < 4.52 PaliGemma layout, tie under embed_tokens, LeRobot's time_mlp_* for π0
    for k, v in tensors.items():
        k = k.replace("paligemma.model.language_model.", "paligemma.language_model.model.")
        k = k.replace("paligemma.model.vision_tower.", "paligemma.vision_tower.")
        k = k.replace("paligemma.model.multi_modal_projector.", "paligemma.multi_modal_projector.")
        k = k.replace("paligemma.lm_head.", "paligemma.language_model.model.embed_tokens.")
        old[k.replace("action_time_mlp_", "time_mlp_")] = v
    assert same_weights(loaded(False, old), ref)
    flat = {k.replace("vision_tower.vision_model.", "vision_tower."): v for k, v in tensors.items()}  # transformers 5
    assert same_weights(loaded(False, flat), ref)
    both = {**tensors, EMBED: tensors[LM_HEAD]}  # both names of the tie stored
    assert same_weights(loaded(False, both), ref)


def test_missing_extra_and_misshaped_tensors_are_one_clear_error():
    tensors = openpi_file(True)
    missing = ["paligemma_with_expert.gemma_expert.model.layers.1.input_layernorm.dense.bias",
               "paligemma_with_expert.paligemma.model.vision_tower.vision_model.post_layernorm.bias"]
    shaped = "action_out_proj.weight"
    for k in missing:
        del tensors[k]
    tensors[shaped] = torch.zeros(7, 16)
    tensors["state_proj.weight"] = torch.zeros(16, 32)  # a π0 tensor in a π0.5 file
    with pytest.raises(CheckpointError) as err:
        loaded(True, tensors)
    msg = str(err.value)
    assert "missing (2)" in msg and all(k in msg for k in missing)  # named as in the file
    assert "unexpected (1)" in msg and "state_proj.weight" in msg
    assert "mis-shaped (1)" in msg and shaped in msg and "(7, 16)" in msg


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_lerobot_untied_lm_head_loads_and_acts_like_the_tied_file(pi05):
    """LeRobot files hold lm_head and embed_tokens separately; fine-tuned, they differ. embed_tokens is the one
    the math reads: the file loads strictly and the policy acts exactly as with the tied file.
    """
    tensors = openpi_file(pi05)
    tied = loaded(pi05)
    lerobot = {f"model.{k}": v for k, v in tensors.items()}
    lerobot[f"model.{EMBED}"] = tensors[LM_HEAD]                       # what the model uses
    lerobot[f"model.{LM_HEAD}"] = tensors[LM_HEAD] + 0.5               # drifted by fine-tuning, unused
    untied = loaded(pi05, lerobot)
    assert same_weights(untied, tied)
    io = load_file(str(FIXTURES / ("pi05" if pi05 else "pi0") / "io.safetensors"))   # openpi's parity inputs
    batch = {k: io[k] for k in ("images", "image_mask", "tokens", "token_mask", "state")}
    assert torch.equal(untied.sample_actions(batch, noise=io["noise"]), tied.sample_actions(batch, noise=io["noise"]))
    with pytest.raises(CheckpointError, match="unexpected"):           # still strict about everything else
        loaded(pi05, {**lerobot, "model.action_in_proj.extra": torch.zeros(1)})
    reduced = dict(lerobot)
    del reduced["model.action_out_proj.weight"]
    with pytest.raises(CheckpointError, match="missing"):
        loaded(pi05, reduced)
    with pytest.raises(CheckpointError, match="shape"):
        loaded(pi05, {**lerobot, f"model.{LM_HEAD}": torch.zeros(3, 3)})


def test_wrong_family_and_broken_files_are_refused(tmp_path):
    tensors = openpi_file(False)
    with pytest.raises(CheckpointError, match="missing"):  # a π0 file into a π0.5 model: no silent partial load
        loaded(True, tensors)
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt"):
        loaded(False, bad)
    with pytest.raises(CheckpointError, match="missing"):
        loaded(False, tmp_path / "nope.safetensors")


def test_unused_expert_lm_head_is_never_read(tmp_path):
    tensors = openpi_file(True)
    tensors[EXPERT_LM_HEAD] = torch.zeros(3, 3)  # any shape: it is skipped, not loaded
    save_file(tensors, str(tmp_path / "m.safetensors"))
    assert same_weights(loaded(True, tmp_path / "m.safetensors"), loaded(True))
