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

"""Checkpoints that would load but act non-finite, or carry a config value of the wrong type, are refused at load
with one CheckpointError naming the file and the key (issue 9).
"""

import json

import pytest
from safetensors.torch import load_file, save_file

from pi_vla_ros.policies.checkpoint import CheckpointError, config_kwargs
from pi_vla_ros.policies.factory import make_policy
from pi_vla_ros.policies.pi0 import Pi0Config, Pi0Policy
from pi_vla_ros.policies.pi06 import Pi06Policy
from pi_vla_ros.policies.pi06.configuration import Pi06Config

from .pi06_testutil import profile


def save(name, tmp_path):
    prof = profile("ur5e")
    make_policy(name, prof, allow_untrained=True).save_pretrained(tmp_path / "ckpt")
    return Pi06Policy if name == "pi06_tiny" else Pi0Policy, prof, tmp_path / "ckpt"


@pytest.fixture(params=["pi06_tiny", "pi0_tiny"])
def checkpoint(request, tmp_path):
    return save(request.param, tmp_path)


def edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))   # json writes NaN / Infinity literals, and reads them back


@pytest.mark.parametrize("key,field,value", [("actions", "q99", float("nan")), ("state", "mean", float("inf")),
                                             ("actions", "std", float("-inf"))])
def test_non_finite_norm_stats(checkpoint, key, field, value):
    cls, prof, ckpt = checkpoint
    edit_json(ckpt / "norm_stats.json", lambda d: d["norm_stats"][key][field].__setitem__(2, value))
    with pytest.raises(CheckpointError, match=rf"non-finite norm stats .*norm_stats\.json: {key}\.{field}$"):
        cls.from_pretrained(ckpt, prof)


def test_norm_stats_of_the_wrong_type(checkpoint):
    cls, prof, ckpt = checkpoint
    edit_json(ckpt / "norm_stats.json", lambda d: d["norm_stats"]["state"].__setitem__("q01", "low"))
    with pytest.raises(CheckpointError, match=r"invalid norm stats in .*norm_stats\.json"):
        cls.from_pretrained(ckpt, prof)


def test_non_finite_weights(checkpoint):
    cls, prof, ckpt = checkpoint
    tensors = load_file(ckpt / "model.safetensors")
    name = sorted(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 4)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[3] = float("nan")
    save_file(tensors, ckpt / "model.safetensors")
    with pytest.raises(CheckpointError, match=rf"model\.safetensors: non-finite values \(NaN/inf\) in 1 tensor\(s\): "
                                              rf"{name.replace('.', '[.]')}$"):
        cls.from_pretrained(ckpt, prof)


def test_corrupted_tensor_bytes(checkpoint):
    cls, prof, ckpt = checkpoint
    data = bytearray((ckpt / "model.safetensors").read_bytes())
    data[-64:] = b"\xff" * 64                     # the last tensor's bytes: NaN in any float format
    (ckpt / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="non-finite values"):
        cls.from_pretrained(ckpt, prof)


@pytest.mark.parametrize("path,value,field", [
    (("expert", "width"), "512", "expert.width"), (("num_steps",), "10", "num_steps"),
    (("noise_scale",), float("nan"), "noise_scale"), (("state_in_prompt",), 1, "state_in_prompt"),
    (("image_keys",), "base_0_rgb", "image_keys"), (("delta_mask",), [True, "no"], "delta_mask")])
def test_pi06_config_value_of_the_wrong_type(tmp_path, path, value, field):
    cls, prof, ckpt = save("pi06_tiny", tmp_path)

    def edit(d):
        node = d["config"]
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    edit_json(ckpt / "config.json", edit)
    with pytest.raises(CheckpointError, match=rf"invalid config in .*config\.json: config field '{field}' must be"):
        cls.from_pretrained(ckpt, prof)


def test_pi0_config_value_of_the_wrong_type(tmp_path):
    cls, prof, ckpt = save("pi0_tiny", tmp_path)
    edit_json(ckpt / "config.json", lambda d: d["config"]["model"].__setitem__("action_horizon", "50"))
    with pytest.raises(CheckpointError, match=r"config field 'model\.action_horizon' must be int, got '50'"):
        cls.from_pretrained(ckpt, prof)


def test_config_kwargs_round_trips_and_converts():
    cfg = Pi06Config()
    assert Pi06Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert Pi0Config.from_dict(json.loads(json.dumps(Pi0Config().to_dict()))) == Pi0Config()
    kw = config_kwargs(Pi06Config, {"noise_scale": 1, "delta_mask": None, "vlm_path": None})
    assert kw == {"noise_scale": 1.0, "delta_mask": None, "vlm_path": None} and isinstance(kw["noise_scale"], float)
    with pytest.raises(ValueError, match="unknown ExpertConfig fields"):
        Pi06Config.from_dict({"expert": {"widht": 3}})
    with pytest.raises(ValueError, match="config field 'expert' must be a JSON object"):
        Pi06Config.from_dict({"expert": [1, 2]})
