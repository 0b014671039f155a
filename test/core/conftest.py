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

"""A small hand-made profile so the cores are tested without URDF files or a simulator."""

from pathlib import Path

import pytest

from pi_vla_ros.profiles import Camera, Controller, JointLimit, RobotProfile


def make_profile(base: bool = False) -> RobotProfile:
    joints = ("j1", "j2", "grip")
    return RobotProfile(
        name="toy",
        urdf_path=Path("/nonexistent.urdf"),
        joints=joints,
        base_dims=("linear_x", "angular_z") if base else (),
        limits={"j1": JointLimit(-1.0, 1.0, 2.0, 10.0), "j2": JointLimit(-2.0, 2.0, 1.0, 10.0),
                "grip": JointLimit(0.0, 0.04, 0.5, 10.0)},
        max_acceleration={"j1": 50.0, "j2": 50.0, "grip": 50.0},
        base_limits={"linear_x": 0.5, "angular_z": 1.0, "linear_x_accel": 1.0, "angular_z_accel": 2.0},
        cameras=(Camera("cam_a", "/cam_a/image_raw", 8, 6, "base_0_rgb", 10.0),
                 Camera("cam_b", "/cam_b/image_raw", 8, 6, "left_wrist_0_rgb", 10.0)),
        controllers=(Controller("arm", "trajectory", ("j1", "j2"), "/arm/joint_trajectory"),
                     Controller("gripper", "position", ("grip",), "", "/gripper/commands")),
        control_rate_hz=50.0,
        policy_rate_hz=50.0,
        max_step_per_tick=0.05,
    )


@pytest.fixture
def profile():
    return make_profile()


@pytest.fixture
def mobile_profile():
    return make_profile(base=True)
