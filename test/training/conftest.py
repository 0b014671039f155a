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

"""A small synthetic LeRobot dataset for the bimanual profile (written directly, in a second or two)."""

import numpy as np
import pytest

from pi_vla_ros.data.lerobot_dataset import IMAGE_PREFIX, LeRobotDatasetWriter
from pi_vla_ros.profiles import load_profile

TASKS = ("put the red cube in the bowl", "put the blue cube in the bowl")


def write_dataset(root, episodes: int = 2, frames: int = 30,
                  subtasks: tuple[str, ...] = ("reach for the cube",), tasks: tuple[str, ...] = TASKS,
                  corrected_from: int | None = None) -> None:
    """Every episode's frames split evenly between `subtasks`, in order (their annotations); episode e's task is
    tasks[e % len(tasks)]. With `corrected_from`, the odd episodes are corrected rollouts: frames from that one on
    are flagged `intervention`.
    """
    profile = load_profile("bimanual")
    rng = np.random.default_rng(0)
    with LeRobotDatasetWriter(root, profile=profile) as w:
        for e in range(episodes):
            x0 = 20 + 80 * (e % 2)      # a coloured square: where depends on the episode, as a cube would
            state = np.zeros(profile.state_dim, np.float32)
            for k in range(frames):
                target = state.copy()
                target[7 * (e % 2): 7 * (e % 2) + 6] += 0.01 * (1 + e % 2)
                frame = {"observation.state": state, "action": target, "subtask": subtasks[k * len(subtasks) // frames]}
                if corrected_from is not None:
                    frame["intervention"] = e % 2 == 1 and k >= corrected_from
                for cam in profile.cameras:
                    img = np.full((cam.height, cam.width, 3), 180, np.uint8)
                    img[50:62, x0 + k: x0 + k + 12] = (200, 30, 30) if e % 2 == 0 else (30, 60, 220)
                    frame[IMAGE_PREFIX + cam.name] = img
                w.add_frame(frame)
                state = target + rng.normal(0, 1e-4, size=target.shape).astype(np.float32)
            w.save_episode(task=tasks[e % len(tasks)], success=True)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "tiny"
    write_dataset(root)
    return root
