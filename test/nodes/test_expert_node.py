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

"""The scripted-expert teleoperator node following verbal instructions (VI collection), on real rclpy in lockstep."""

import json

import pytest

pytest.importorskip("mujoco")

from pi_vla_ros.nodes.expert_node import ExpertNode  # noqa: E402
from pi_vla_ros.ros import Parameter, msgs  # noqa: E402
from test.nodes.conftest import Tap  # noqa: E402


def test_expert_starts_only_the_subtask_the_language_names(make_graph):
    run = make_graph("ur5e", skip=("pi_vla_policy", "pi_vla_executor"),
                     overrides={"pi_vla_sim": {"task": "pick_place_sequence", "publish_instruction": False}})
    sim = run.sim.sim
    expert = run.add_node(ExpertNode(sim=sim, **run.node_options("expert"), parameter_overrides=[
        Parameter("use_sim_time", value=True), Parameter("follow_language", value=True),
        Parameter("announce_subtasks", value=False)]))
    tap = Tap(run, {"/pi_vla/expert/plan": msgs.String})
    say = run.nodes["pi_vla_instruction"].submit_line
    run.reset_episode(6)
    first, second = sim.task.subtasks
    run.spin_for(1.0)
    assert expert.released == 0 and not tap.messages["/pi_vla/expert/plan"]     # nobody said anything: it waits
    say("wave at the camera", "topic")                                           # names no subtask: ignored
    run.spin_for(0.2)
    assert expert.released == 0 and expert.unmatched_language == ["wave at the camera"]
    colour = sim.task.cube(second.obj).color
    say(f"pick up the {colour} cube", "topic")       # the second cube first: named by its colour, released
    run.spin_for(0.2)
    assert expert.released == 2
    plans = [json.loads(m.data) for _, m in tap.messages["/pi_vla/expert/plan"]]
    # the expert still works in the task's order: the first subtask's plan, announced as it is made
    assert [p["subtask"] for p in plans] == [0] and plans[0]["obj"] == first.obj
    assert plans[0]["start"] < plans[0]["release"] < plans[0]["end"]
