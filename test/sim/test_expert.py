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

"""The scripted expert solves every profile's task (the demos for learning come from it)."""

import numpy as np

from pi_vla_ros.sim.expert import ScriptedExpert, run_episode

SEEDS = range(20)


def test_expert_success_rate(sim_for, profile_name):
    sim = sim_for(profile_name)
    results = [run_episode(sim, seed, target_object=("red_cube", "blue_cube")[seed % 2]) for seed in SEEDS]
    successes = sum(r["success"] and not r["wrong_object_moved"] for r in results)
    assert successes >= 0.95 * len(results), [r for r in results if not r["success"]]
    assert all(r["time_s"] <= sim.task.time_limit_s for r in results)
    if len(sim.scene.arms) == 2:  # the language decides the arm: red is on the left, blue on the right
        assert all(r["arm"] == ("left" if r["target_object"] == "red_cube" else "right") for r in results)


def test_expert_actions_respect_the_profile_limits(sim_for, profile_name):
    """Demos the executor's safety filter would not have to alter: URDF velocity, YAML acceleration."""
    sim = sim_for(profile_name)
    p = sim.profile
    actions = []
    result = run_episode(sim, 1, stop_on_success=False, on_tick=lambda s, a: actions.append(a))
    assert result["success"]
    a = np.array(actions)
    rate = p.policy_rate_hz
    joints = a[:, : p.state_dim]
    assert np.all(joints >= p.lower()) and np.all(joints <= p.upper())
    speed = np.abs(np.diff(joints, axis=0)).max(0) * rate
    assert np.all(speed <= p.velocity()), speed / p.velocity()
    accel = np.abs(np.diff(joints, 2, axis=0)).max(0) * rate ** 2
    assert np.all(accel <= p.acceleration()), accel / p.acceleration()
    if p.base_dims:
        base = a[:, p.state_dim:]
        assert np.abs(base[:, 0]).max() <= p.base_limits["linear_x"]
        assert np.abs(np.diff(base[:, 0])).max() * rate <= p.base_limits["linear_x_accel"] + 1e-9


def test_a_missed_grasp_is_tried_again_within_the_limits(sim_for, profile_name):
    """Recovery demos: a first grasp off across the fingers misses; the expert sees the cube stay down at the end of
    the lift, plans the subtask again from where arm and cube are (announced again), and succeeds in time.
    """
    sim = sim_for(profile_name)
    p = sim.profile
    sim.reset(3)
    expert = ScriptedExpert(sim)
    expert.cfg["fumble_p"] = 1.0
    plans, actions, missed_at = [], [], []
    expert.listeners.append(plans.append)
    n_sub = round(1.0 / (p.policy_rate_hz * sim.physics_dt))
    while not sim.success() and sim.time < sim.task.time_limit_s:
        actions.append(expert.act())
        sim.apply_action(actions[-1])
        sim.step(n_sub)
        if sim.grasp.missed(0.4) and not missed_at:
            missed_at.append(sim.time)
    fumbled_s = sim.time
    assert sim.success() and expert.retried == 1 and expert.attempt == 2
    # the simulator tells the miss (what corrections start from) well before the expert's own check after the lift
    assert missed_at and missed_at[0] < plans[1].start - 0.5, (missed_at, plans[1].start)
    assert [a.subtask for a in plans] == [0, 0] and plans[1].start > plans[0].start and plans[1].release > fumbled_s - 1
    joints = np.array(actions)[:, : p.state_dim]
    assert np.all(np.abs(np.diff(joints, axis=0)).max(0) * p.policy_rate_hz <= p.velocity())
    assert np.all(np.abs(np.diff(joints, 2, axis=0)).max(0) * p.policy_rate_hz ** 2 <= p.acceleration())
    misses = []
    clean = run_episode(sim, 3, on_tick=lambda s, a: misses.append(s.grasp.missed(0.4)))   # no fumble: one grasp
    assert clean["success"] and len(clean["announcements"]) == 1 and clean["time_s"] < fumbled_s
    assert not any(misses)                               # a grasp that holds is never a miss
