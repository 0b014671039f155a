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

"""Multi-step tasks: per-subtask success detection, the order the instruction gives, subtask boundaries."""

import numpy as np
import pytest

from pi_vla_ros.core.instructions import split_subtasks
from pi_vla_ros.sim.expert import ScriptedExpert, run_episode
from pi_vla_ros.sim.simulator import Simulator

_SIMS = {}


def sequence_sim(profile: str) -> Simulator:
    if profile not in _SIMS:
        _SIMS[profile] = Simulator(profile, task="pick_place_sequence")
    return _SIMS[profile]


def test_instruction_is_the_subtasks_a_person_would_queue(profile_name):
    sim = sequence_sim(profile_name)
    for seed in range(12):
        instruction = sim.reset(seed)
        subtasks = sim.task.subtasks
        assert len(subtasks) == 2 and {s.obj for s in subtasks} == set(sim.task.object_names)
        assert split_subtasks(instruction) == [s.text for s in subtasks]
        for s in subtasks:
            assert sim.task.cube(s.obj).color in s.text
        assert sim.task.current == 0 and sim.target_object == subtasks[0].obj
    first = sim.reset(3, target_object="blue_cube")
    assert sim.task.subtasks[0].obj == "blue_cube" and first.index("blue") < first.index("red")


def test_expert_does_both_subtasks_in_order_and_announces_each_boundary(profile_name):
    sim = sequence_sim(profile_name)
    for seed in range(6):
        r = run_episode(sim, seed)
        assert r["success"] and not r["wrong_object_moved"], r
        done = r["subtask_done_at"]
        plans = r["announcements"]
        assert [a.subtask for a in plans] == [0, 1]
        assert [a.obj for a in plans] == [s.obj for s in sim.task.subtasks]
        # each subtask is detected done after its plan started and by the planned release (+ the cube's fall)
        for a, t in zip(plans, done):
            assert a.start < t <= a.release + 0.3, (a, t)
        # the second starts once the first arm is home (its last target is sent one tick ahead)
        assert plans[0].end <= plans[1].start + 1.0 / sim.profile.policy_rate_hz
        assert done[0] < plans[1].start < done[1]
        if len(sim.scene.arms) == 2:  # each cube by the arm on its side
            assert [a.arm for a in plans] == [("left" if a.obj == "red_cube" else "right") for a in plans]
        assert r["time_s"] <= sim.task.time_limit_s


def test_expert_waits_for_the_next_subtask_to_be_released():
    sim = sequence_sim("ur5e")
    sim.reset(4)
    expert = ScriptedExpert(sim)
    expert.released = 0
    heard = []
    expert.listeners.append(heard.append)
    n_sub = round(1.0 / (sim.profile.policy_rate_hz * sim.physics_dt))

    def run(seconds):
        actions = []
        for _ in range(round(seconds * sim.profile.policy_rate_hz)):
            actions.append(expert.act())
            sim.apply_action(actions[-1])
            sim.step(n_sub)
        return np.array(actions)

    idle = run(1.0)
    assert not heard and np.ptp(idle, axis=0).max() == 0 and expert.phase() == "wait"   # nothing moves unasked
    expert.released = 1
    run(12.0)
    assert [a.subtask for a in heard] == [0] and sim.task.subtask_done_at[0] is not None
    assert sim.task.current == 1 and not sim.success() and expert.phase() == "wait" and not expert.done
    expert.released = 2
    run(9.0)
    assert [a.subtask for a in heard] == [0, 1] and sim.success() and expert.done


def _put_in_bowl(sim, name):
    task, d = sim.task, sim.data
    a = task._qadr[name]
    xy = task.place_xy(name)
    d.qpos[a:a + 7] = [*xy, task.top_z + task.BOWL_FLOOR + task.cube(name).size / 2 + 1e-4, 1, 0, 0, 0]
    d.qvel[:] = 0
    sim.step(50)


def test_success_needs_the_order_the_instruction_gives():
    sim = sequence_sim("ur5e")
    sim.reset(2)
    first, second = (s.obj for s in sim.task.subtasks)
    _put_in_bowl(sim, second)                   # the later cube first: the order is broken for good
    assert sim.task.order_broken and sim.task.subtask_done_at == [None, None]
    _put_in_bowl(sim, first)
    assert sim.task.subtask_done_at[0] is not None and not sim.success()

    sim.reset(2)
    _put_in_bowl(sim, first)
    assert sim.task.current == 1 and sim.target_object == second and not sim.success()
    assert not sim.task.order_broken and not sim.wrong_object_moved()
    _put_in_bowl(sim, second)
    assert sim.task.current == 2 and sim.success()
    t0, t1 = sim.task.subtask_done_at
    assert t0 < t1


def test_a_waiting_cube_moved_is_the_wrong_object():
    sim = sequence_sim("bimanual")
    sim.reset(5)
    second = sim.task.subtasks[1].obj
    a = sim.task._qadr[second]
    sim.data.qpos[a] += 0.05
    sim.step(5)
    assert sim.wrong_object_moved()


@pytest.mark.parametrize("profile", ["ur5e"])
def test_single_step_task_keeps_its_interface(profile, sim_for):
    sim = sim_for(profile)
    instruction = sim.reset(1)
    assert [s.text for s in sim.task.subtasks] == [instruction] and sim.task.subtask_done_at == [None]
    r = run_episode(sim, 1)
    assert r["success"] and r["subtask_done_at"][0] == pytest.approx(r["time_s"])
