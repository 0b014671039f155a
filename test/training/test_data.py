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

"""Training data from a LeRobot dataset: success is read from the standard per-frame next.success."""

import numpy as np

from pi_vla_ros.data.lerobot_dataset import IMAGE_PREFIX, LeRobotDatasetWriter
from pi_vla_ros.policies.registry import get_config
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.training.data import load_frames


def _write(root, outcomes):
    """One episode per outcome; success only as LeRobot writes it: next.success on frames (never a private column)."""
    profile = load_profile("bimanual")
    with LeRobotDatasetWriter(root, profile=profile) as w:
        for ok in outcomes:
            for k in range(10):
                frame = {"observation.state": np.zeros(profile.state_dim, np.float32),
                         "action": np.zeros(profile.action_dim, np.float32), "next.success": bool(ok and k == 9)}
                for cam in profile.cameras:
                    frame[IMAGE_PREFIX + cam.name] = np.zeros((cam.height, cam.width, 3), np.uint8)
                w.add_frame(frame)
            w.save_episode(task="put the red cube in the bowl")
    return profile


def test_failed_episode_is_left_out_of_bc_and_failed_for_recap(tmp_path):
    profile = _write(tmp_path / "d", [True, False, True])
    config = get_config("pi06_tiny")
    bc = load_frames(tmp_path / "d", profile, config)
    assert bc.episodes == [0, 2] and bc.success.all()
    everything = load_frames(tmp_path / "d", profile, config, only_success=False)
    assert everything.episodes == [0, 1, 2]
    assert everything.success.tolist() == [True] * 10 + [False] * 10 + [True] * 10
