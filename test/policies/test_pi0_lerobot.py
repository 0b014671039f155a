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

"""`pi-vla import lerobot`: a checkpoint in the layout LeRobot's PI0Policy / PI05Policy save_pretrained and its
processors write (config.json, model.safetensors, policy_{pre,post}processor.json + normalizer state files) becomes
a pi_vla_ros checkpoint that loads strictly and acts as the LeRobot weights, statistics and camera order say.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file as save_np
from safetensors.torch import load_file, save_file

from pi_vla_ros.cli import main
from pi_vla_ros.policies.checkpoint import CheckpointError
from pi_vla_ros.policies.factory import make_policy
from pi_vla_ros.policies.pi0 import Pi0Policy
from pi_vla_ros.policies.pi0.lerobot import import_lerobot
from pi_vla_ros.policies.pi0.weights import EMBED, LM_HEAD
from pi_vla_ros.policies.tokenizer import build_tokenizer

from .pi06_testutil import observation, profile
from .test_pi0_weights import FIXTURES, loaded, same_weights

S = A = 7  # ur5e: six arm joints and a gripper


def lerobot_checkpoint(root: Path, pi05: bool, cameras=("wrist", "front"), mode=None) -> Path:
    """What LeRobot writes for a π0 / π0.5 fine-tuned on a dataset with these cameras (tiny variants)."""
    root.mkdir(parents=True)
    tensors = load_file(str(FIXTURES / ("pi05" if pi05 else "pi0") / "model.safetensors"))
    files = {f"model.{k}": v for k, v in tensors.items()}
    files[f"model.{EMBED}"] = tensors[LM_HEAD]
    files[f"model.{LM_HEAD}"] = tensors[LM_HEAD] + 0.25  # fine-tuning drift of the untied head
    save_file(files, str(root / "model.safetensors"))
    mode = mode or ("QUANTILES" if pi05 else "MEAN_STD")
    image = {"type": "VISUAL", "shape": [3, 16, 16]}
    config = {"type": "pi05" if pi05 else "pi0", "paligemma_variant": "gemma_tiny",
              "action_expert_variant": "gemma_expert_tiny", "chunk_size": 50, "n_action_steps": 50,
              "max_state_dim": 32, "max_action_dim": 32, "num_inference_steps": 10, "image_resolution": [16, 16],
              "tokenizer_max_length": 200 if pi05 else 48, "dtype": "float32",
              "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": mode, "ACTION": mode},
              "input_features": {"observation.state": {"type": "STATE", "shape": [S]},
                                 **{f"observation.images.{c}": image for c in cameras}},
              "output_features": {"action": {"type": "ACTION", "shape": [A]}}}
    (root / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    stats = {}
    for feature, dim in (("observation.state", S), ("action", A)):
        q01 = -rng.uniform(0.5, 1.0, dim)
        stats |= {f"{feature}.mean": rng.normal(0, 0.1, dim), f"{feature}.std": rng.uniform(0.2, 0.6, dim),
                  f"{feature}.min": q01 - 0.1, f"{feature}.max": -q01 + 0.1, f"{feature}.q01": q01,
                  f"{feature}.q99": rng.uniform(0.5, 1.0, dim)}
    stats = {k: v.astype(np.float32) for k, v in stats.items()}
    norm = {"features": config["input_features"] | config["output_features"],
            "norm_map": config["normalization_mapping"], "eps": 1e-8}
    pre = "policy_preprocessor_step_1_normalizer_processor.safetensors"
    post = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
    save_np(stats, str(root / pre))
    save_np({k: v for k, v in stats.items() if k.startswith("action.")}, str(root / post))
    (root / "policy_preprocessor.json").write_text(json.dumps({"name": "policy_preprocessor", "steps": [
        {"registry_name": "to_batch_processor", "config": {}},
        {"registry_name": "normalizer_processor", "config": norm, "state_file": pre}]}))
    (root / "policy_postprocessor.json").write_text(json.dumps({"name": "policy_postprocessor", "steps": [
        {"registry_name": "unnormalizer_processor", "config": norm, "state_file": post}]}))
    return root


@pytest.fixture
def tokenizer(tmp_path):
    build_tokenizer(["fold", "the", "towel"], tmp_path / "tokenizer")
    return tmp_path / "tokenizer"


CAMERAS = {"front": "cam_high", "wrist": "cam_wrist"}


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_imported_checkpoint_carries_weights_stats_and_camera_order(tmp_path, tokenizer, pi05):
    prof = profile("ur5e")
    src = lerobot_checkpoint(tmp_path / "lerobot", pi05)
    policy = import_lerobot(src, prof, tmp_path / "ours", tokenizer=tokenizer, camera_map=CAMERAS)
    cfg = policy.config
    assert cfg.name == ("pi05" if pi05 else "pi0") and cfg.model.pi05 == pi05
    assert cfg.norm_mode == ("quantile" if pi05 else "zscore")
    assert same_weights(policy.model, loaded(pi05))             # embed_tokens read, the drifted lm_head dropped
    assert cfg.delta_mask == (False,) * A                         # LeRobot's actions are absolute
    # LeRobot feeds "wrist" (listed first) to slot 0 and "front" to slot 1: the profile cameras follow them
    assert cfg.image_keys == ("right_wrist_0_rgb", "base_0_rgb", "left_wrist_0_rgb")
    stats = policy.processor.normalizer.stats
    written = load_file(str(src / "policy_preprocessor_step_1_normalizer_processor.safetensors"))
    for ours, theirs in (("state", "observation.state"), ("actions", "action")):
        for stat in ("mean", "std") if not pi05 else ("q01", "q99"):
            assert np.allclose(getattr(stats[ours], stat), written[f"{theirs}.{stat}"].numpy())
    obs = observation(prof)
    batch = policy.processor([{"images": {"right_wrist_0_rgb": obs.images["cam_wrist"]}, "state": obs.state,
                               "prompt": "fold the towel"}])
    assert batch["image_mask"][0].tolist() == [True, False, False]   # the wrist image sits in LeRobot's slot 0
    # the written checkpoint loads through the usual path and acts identically
    back = make_policy(cfg.name, prof, checkpoint=str(tmp_path / "ours"))
    noise = np.random.default_rng(1).normal(size=(50, 32)).astype(np.float32)
    a, b = back.infer(obs, noise=noise).actions, policy.infer(obs, noise=noise).actions
    assert np.isfinite(a).all() and np.array_equal(a, b) and a.shape == (50, A)
    assert not back.untrained


def test_actions_are_the_model_output_unnormalized_with_lerobot_stats(tmp_path, tokenizer):
    """Absolute actions = model output * (std + eps) + mean, per action dim, with LeRobot's statistics."""
    prof = profile("ur5e")
    src = lerobot_checkpoint(tmp_path / "lerobot", pi05=False)
    policy = import_lerobot(src, prof, tmp_path / "ours", tokenizer=tokenizer, camera_map=CAMERAS)
    obs = observation(prof)
    noise = np.random.default_rng(3).normal(size=(50, 32)).astype(np.float32)
    batch = policy.processor([{"images": {policy.slots[n]: img for n, img in obs.images.items()},
                               "state": obs.state, "prompt": obs.prompt}])
    raw = policy.model.sample_actions(batch, noise=torch.from_numpy(noise)[None])[0, :, :A].double().numpy()
    st = load_file(str(src / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"))
    expected = raw * (st["action.std"].double().numpy() + 1e-6) + st["action.mean"].double().numpy()
    assert np.allclose(policy.infer(obs, noise=noise).actions, expected, atol=1e-4)


def test_mismatches_are_one_clear_error(tmp_path, tokenizer):
    prof = profile("ur5e")
    src = lerobot_checkpoint(tmp_path / "lerobot", pi05=False)
    with pytest.raises(CheckpointError, match="camera 'wrist' has no profile camera"):
        import_lerobot(src, prof, tmp_path / "a", tokenizer=tokenizer)
    with pytest.raises(CheckpointError, match="two cameras"):
        import_lerobot(src, prof, tmp_path / "a", tokenizer=tokenizer,
                       camera_map={"front": "cam_high", "wrist": "cam_high"})
    with pytest.raises(CheckpointError, match="profile 'bimanual' has 14 / 14"):
        import_lerobot(src, profile("bimanual"), tmp_path / "a", tokenizer=tokenizer, camera_map=CAMERAS)
    minmax = lerobot_checkpoint(tmp_path / "minmax", pi05=False, mode="MIN_MAX")
    with pytest.raises(CheckpointError, match="MIN_MAX"):
        import_lerobot(minmax, prof, tmp_path / "a", tokenizer=tokenizer, camera_map=CAMERAS)
    (src / "policy_preprocessor.json").unlink()
    (src / "policy_postprocessor.json").unlink()
    with pytest.raises(CheckpointError, match="no normalization statistics"):
        import_lerobot(src, prof, tmp_path / "a", tokenizer=tokenizer, camera_map=CAMERAS)
    other = lerobot_checkpoint(tmp_path / "act", pi05=False)
    (other / "config.json").write_text(json.dumps({**json.loads((other / "config.json").read_text()), "type": "act"}))
    with pytest.raises(CheckpointError, match="not a LeRobot π0"):
        import_lerobot(other, prof, tmp_path / "a", tokenizer=tokenizer, camera_map=CAMERAS)
    wide = lerobot_checkpoint(tmp_path / "wide", pi05=False)  # LeRobot 0.4's projector for gemma_300m VLMs
    tensors = load_file(str(wide / "model.safetensors"))
    proj = "model.paligemma_with_expert.paligemma.model.multi_modal_projector.linear."
    tensors[proj + "weight"] = torch.zeros(2 * tensors[proj + "weight"].shape[0], tensors[proj + "weight"].shape[1])
    tensors[proj + "bias"] = torch.zeros(2 * tensors[proj + "bias"].shape[0])
    save_file(tensors, str(wide / "model.safetensors"))
    with pytest.raises(CheckpointError, match="projector is 64 wide but the gemma_tiny language model is 32"):
        import_lerobot(wide, prof, tmp_path / "a", tokenizer=tokenizer, camera_map=CAMERAS)
    big = build_tokenizer([f"w{i}" for i in range(200)], tmp_path / "big")  # more ids than the tiny vocabulary
    assert len(big) > 128
    fresh = lerobot_checkpoint(tmp_path / "fresh", pi05=False)
    with pytest.raises(CheckpointError, match="tokenizer"):
        import_lerobot(fresh, prof, tmp_path / "a", tokenizer=tmp_path / "big", camera_map=CAMERAS)
    assert not (tmp_path / "a").exists()  # nothing written by a refused import


def test_cli_imports_and_refuses_with_one_line(tmp_path, tokenizer, capsys):
    src = lerobot_checkpoint(tmp_path / "lerobot", pi05=True)
    out = tmp_path / "ours"
    assert main(["import", "lerobot", str(src), "--profile", "ur5e", "--tokenizer", str(tokenizer), "--out",
                 str(out), "--camera-map", "front=cam_high", "--camera-map", "wrist=cam_wrist"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["policy"] == "pi05" and summary["image_slots"][:2] == ["right_wrist_0_rgb", "base_0_rgb"]
    assert Pi0Policy.from_pretrained(out, profile("ur5e")).config.norm_mode == "quantile"
    assert main(["import", "lerobot", str(tmp_path / "nope"), "--profile", "ur5e", "--tokenizer", str(tokenizer),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
