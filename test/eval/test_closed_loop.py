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

"""`pi-vla eval`: closed-loop episodes through the node graph, with the scripted expert and with a policy."""

import json

import pytest

pytest.importorskip("mujoco")

from pi_vla_ros.evaluation.closed_loop import _regrasps, evaluate  # noqa: E402
from pi_vla_ros.policies.pi06 import Pi06Policy  # noqa: E402
from pi_vla_ros.policies.registry import get_config  # noqa: E402
from pi_vla_ros.profiles import load_profile  # noqa: E402


def test_scripted_expert_reports_its_success_rate(tmp_path):
    report = evaluate("bimanual", "expert", 1, seed=100000, out_dir=tmp_path, progress=False, log=lambda *_: None)
    assert report["success_rate"] == 1.0 and report["wrong_object_rate"] == 0.0
    assert 4.0 < report["time_to_success_s"]["mean"] < 9.0
    assert report["regrasps"] == {"episodes": 0, "successes": 0, "missed_never_tried_again": 0}
    assert list(report["per_episode"][0]["grasps"].values()) == [[1, 1]]   # one gripper closed once, on the cube
    assert json.loads((tmp_path / "eval.json").read_text())["successes"] == 1
    assert (tmp_path / "episode_000_seed100000_cameras.png").stat().st_size > 10_000
    assert (tmp_path / "episode_000_seed100000_joints.png").stat().st_size > 10_000


def test_a_missed_grasp_tried_again_is_reported():
    """The expert's first grasp made to miss (fumble_p=1): the gripper closes twice, holds once, and succeeds."""
    report = evaluate("bimanual", "expert", 1, seed=100000, progress=False, log=lambda *_: None,
                      params={"pi_vla_expert": {"fumble_p": 1.0}})
    assert report["success_rate"] == 1.0
    assert report["regrasps"] == {"episodes": 1, "successes": 1, "missed_never_tried_again": 0}
    assert list(report["per_episode"][0]["grasps"].values()) == [[2, 1]]


def test_regrasp_counts_tell_a_retry_from_a_second_pick_and_a_miss_left_alone():
    def ep(success, **grasps):
        return {"success": success, "grasps": grasps}

    results = [ep(True, left=[1, 1]),                    # one clean grasp
               ep(True, left=[2, 1]),                    # missed, tried again, held
               ep(False, right=[4, 0]),                  # missed four times
               ep(True, right=[2, 2]),                   # held, let go, picked up again: no miss
               ep(False, left=[1, 0]),                   # missed once and never closed again
               ep(False)]                                # never closed
    assert _regrasps(results) == {"episodes": 2, "successes": 1, "missed_never_tried_again": 1}


def test_policy_through_the_graph_with_swapped_instruction(tmp_path):
    ckpt = tmp_path / "ckpt"
    Pi06Policy.build(get_config("pi06_sim"), load_profile("bimanual")).save_pretrained(ckpt)
    kw = dict(seed=100003, time_limit_s=0.4, progress=False, log=lambda *_: None, media_episodes=0)
    plain = evaluate("bimanual", str(ckpt), 1, **kw)
    swapped = evaluate("bimanual", str(ckpt), 1, swap_instruction=True, **kw)
    a, b = plain["per_episode"][0], swapped["per_episode"][0]
    assert plain["policy"] == "pi06_sim" and not a["success"]          # random weights, 0.4 s
    assert a["target_object"] != b["target_object"] and a["instruction"] != b["instruction"]
    assert a["safety_clamps"] >= 0 and swapped["swap_instruction"]
