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

"""pi-vla bench flow-fit: flow error by noise level on the robot's action dims, reproducible per seed."""

from pathlib import Path

import pytest
import torch

from pi_vla_ros.benchmarks.flow_fit import flow_fit
from pi_vla_ros.policies.factory import make_policy
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.training.trainer import TrainConfig, train
from test.training.conftest import write_dataset


def test_flow_fit_scores_the_robots_dims_by_noise_level(tmp_path):
    data, ckpt = tmp_path / "data", tmp_path / "pi0"
    write_dataset(data)
    train(TrainConfig(policy="pi0_tiny", dataset=str(data), out=str(ckpt), steps=2, batch_size=4, warmup_steps=1,
                      progress=False, threads=1, precision="fp32"), log_fn=lambda *_: None)
    report = flow_fit(str(ckpt), str(data), episodes=2, batches=2, batch_size=8)
    assert list(report["buckets"]) == ["t=0-0.2", "t=0.2-0.5", "t=0.5-1"] and report["action_dims"] == 14
    assert all(v > 0 for v in report["buckets"].values())
    assert flow_fit(str(ckpt), str(data), episodes=2, batches=2, batch_size=8) == report  # same seed, same figures
    # pi0_tiny flows noise through all 32 padded dims; what it predicts there must not count
    policy = make_policy("pi0_tiny", load_profile("bimanual"), str(ckpt))
    with torch.no_grad():
        policy.model.action_out_proj.bias[14:] += 100.0
    policy.save_pretrained(ckpt)
    assert flow_fit(str(ckpt), str(data), episodes=2, batches=2, batch_size=8)["buckets"] == report["buckets"]


def test_flow_fit_names_what_is_not_a_checkpoint_or_dataset(tmp_path):
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        flow_fit(str(tmp_path / "nope"), str(tmp_path))
    with pytest.raises(ValueError, match="not a LeRobot dataset"):
        flow_fit(str(Path(__file__).parents[2] / "checkpoints" / "bimanual_pi06_sim"), str(tmp_path / "nope"))
