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

"""The scripted-instructor node in a lockstep graph: its lines reach the instruction queue when it says them."""

import pytest

pytest.importorskip("mujoco")

from pi_vla_ros.nodes.instructor_node import InstructorNode  # noqa: E402
from pi_vla_ros.ros import Parameter, msgs  # noqa: E402
from test.nodes.conftest import Tap  # noqa: E402


def test_typed_lines_reach_the_queue_at_their_time(make_graph):
    run = make_graph("ur5e", skip=("pi_vla_policy", "pi_vla_executor"),
                     overrides={"pi_vla_sim": {"task": "pick_place_sequence", "publish_instruction": False}})
    sim = run.sim.sim
    node = run.add_node(InstructorNode(sim=sim, **run.node_options("instructor"), parameter_overrides=[
        Parameter("use_sim_time", value=True), Parameter("style", value="queue")]))
    tap = Tap(run, {"/pi_vla/instruction": msgs.String, "/pi_vla/language": msgs.String})
    run.reset_episode(2)
    t0 = run.sim_time()
    run.spin_for(1.0)
    assert [line["kind"] for line in node.lines] == ["task"] and not node.finished and not node.pending
    said = tap.messages["/pi_vla/instruction"]
    assert [m.data for _, m in said] == [sim.task.instruction] and 0.2 <= said[0][0] - t0 <= 0.62
    queue = run.nodes["pi_vla_instruction"].queue
    assert queue.subtasks == [s.text for s in sim.task.subtasks] and queue.current == sim.task.subtasks[0].text
    assert tap.messages["/pi_vla/language"][-1][1].data == sim.task.subtasks[0].text
    sim.task.subtask_done_at[0] = sim.time           # as if the first cube were in the bowl: the person says next
    run.spin_for(1.0)
    assert [m.data for _, m in tap.messages["/pi_vla/instruction"]][-1] == "next"
    assert queue.current == sim.task.subtasks[1].text
