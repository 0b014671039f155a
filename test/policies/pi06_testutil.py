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

"""Robot profiles built in code (no URDF needed) and observations for the policy tests."""

from pathlib import Path

import numpy as np

from pi_vla_ros.policies.base import Observation
from pi_vla_ros.profiles import Camera, RobotProfile

ARM = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
BIMANUAL_JOINTS = tuple(f"{side}_{j}" for side in ("left", "right") for j in (*ARM, "gripper"))


def camera(name, key):
    return Camera(name=name, topic=f"/{name}/image_raw", width=160, height=120, policy_key=key, rate_hz=10.0)


def profile(kind: str) -> RobotProfile:
    if kind == "ur5e":
        joints = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint",
                  "wrist_3_joint", "gripper_joint")
        cams, base, rate = (camera("cam_high", "base_0_rgb"), camera("cam_wrist", "right_wrist_0_rgb")), (), 20.0
    else:
        joints = BIMANUAL_JOINTS
        cams = (camera("cam_high", "base_0_rgb"), camera("cam_left_wrist", "left_wrist_0_rgb"),
                camera("cam_right_wrist", "right_wrist_0_rgb"))
        base, rate = (("linear_x", "angular_z") if kind == "mobile_manipulator" else ()), 50.0
    return RobotProfile(name=kind, urdf_path=Path(f"{kind}.urdf"), joints=joints, base_dims=base, limits={},
                        max_acceleration={}, base_limits={}, cameras=cams, controllers=(), control_rate_hz=50.0,
                        policy_rate_hz=rate, max_step_per_tick=0.05, task={"prompt": "fold the towel"})


def observation(prof: RobotProfile, seed=0, sizes=((97, 131), (240, 320), (33, 50)), stamp=12.5) -> Observation:
    rng = np.random.default_rng(seed)
    images = {c.name: rng.integers(0, 256, (*sizes[i % len(sizes)], 3), dtype=np.uint8)
              for i, c in enumerate(prof.cameras)}
    state = rng.uniform(-0.5, 0.5, prof.state_dim).astype(np.float32)
    return Observation(images=images, state=state, prompt="fold the towel", stamp=stamp)
