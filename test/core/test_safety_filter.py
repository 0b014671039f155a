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

"""The safety filter's guarantees (core/executor.py, point 4), over random profiles and target sequences."""

from pathlib import Path

import numpy as np
from hypothesis import given, settings, strategies as st

from pi_vla_ros.core.executor import ActionExecutor, Chunk, SafetyFilter, TOL
from pi_vla_ros.profiles import JointLimit, RobotProfile, load_profile

DT = 0.02


def make(lower, upper, velocity, accel, max_step=0.05) -> RobotProfile:
    joints = tuple(f"j{i}" for i in range(len(lower)))
    return RobotProfile(
        name="prop", urdf_path=Path("/nonexistent.urdf"), joints=joints, base_dims=(),
        limits={j: JointLimit(lo, up, v, 1.0) for j, lo, up, v in zip(joints, lower, upper, velocity)},
        max_acceleration=dict(zip(joints, accel)), base_limits={}, cameras=(), controllers=(),
        control_rate_hz=1 / DT, policy_rate_hz=1 / DT, max_step_per_tick=max_step)


@st.composite
def profiles(draw, n=3):
    lower = np.array(draw(st.lists(st.floats(-2.0, 0.0), min_size=n, max_size=n)))
    upper = lower + np.array(draw(st.lists(st.floats(0.05, 3.0), min_size=n, max_size=n)))
    velocity = draw(st.lists(st.floats(0.1, 5.0), min_size=n, max_size=n))
    accel = draw(st.lists(st.one_of(st.floats(1.0, 100.0), st.just(np.inf)), min_size=n, max_size=n))
    return make(lower, upper, velocity, accel, draw(st.floats(0.005, 0.1)))


def run(profile, start, targets):
    """Commands for a target sequence, checking every guarantee on every tick."""
    f = SafetyFilter(profile, DT, start)
    lo, hi = profile.lower(), profile.upper()
    v_step, delta = profile.velocity() * DT, profile.acceleration() * DT * DT
    p, s0, out = np.array(start, float), np.zeros(len(start)), []
    for t in targets:
        c, _, changes = f(t, np.zeros(0))
        x, step = np.clip(t, lo, hi), c - p
        assert np.all(c >= lo - TOL) and np.all(c <= hi + TOL)                         # URDF position limits
        assert np.all(np.abs(step) <= v_step + TOL)                                     # URDF velocity limit
        assert np.all(np.abs(step) <= profile.max_step_per_tick + TOL)
        hard = np.abs(step - s0) > delta + TOL
        assert np.all(c[hard] == x[hard]), "acceleration exceeded other than by stopping on the target"
        assert np.all(changes["target_stop"][hard] > 0)                                 # ... and reported as such
        assert np.all(np.where(p < x, c <= x, True)) and np.all(np.where(p > x, c >= x, True))  # never past x
        assert np.all(np.where(p == x, c == x, True))                                   # on the target: stays
        p, s0 = c, step
        out.append(c)
    return np.array(out)


@st.composite
def wild_targets(draw, profile):
    """Arbitrary sequences: jumps, holds, beyond the limits, reversals."""
    n = len(profile.joints)
    segments = draw(st.lists(st.tuples(st.lists(st.floats(-4.0, 4.0), min_size=n, max_size=n), st.integers(1, 40)),
                             min_size=1, max_size=8))
    return [np.array(v) for v, k in segments for _ in range(k)]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_never_beyond_the_limits_nor_past_the_target(data):
    profile = data.draw(profiles())
    start = profile.lower() + data.draw(st.floats(0.0, 1.0)) * (profile.upper() - profile.lower())
    run(profile, start, data.draw(wild_targets(profile)))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_standing_target_is_reached_exactly_within_every_limit(data):
    profile = data.draw(profiles())
    lo, hi = profile.lower(), profile.upper()
    start = lo + data.draw(st.floats(0.0, 1.0)) * (hi - lo)
    goal = np.clip(np.array(data.draw(st.lists(st.floats(-4.0, 4.0), min_size=3, max_size=3))), lo, hi)
    v = np.minimum(profile.velocity(), profile.max_step_per_tick / DT)
    ticks = int(np.max(np.abs(goal - start) / v + 2 * v / profile.acceleration()) / DT) + 10  # ramp, cruise, ramp
    cmds = run(profile, start, [goal] * ticks)
    steps = np.diff(np.vstack([start, cmds]), axis=0)
    delta = profile.acceleration() * DT * DT
    assert np.all(np.abs(np.diff(np.vstack([np.zeros(3), steps]), axis=0)) <= delta + TOL)  # no exception needed
    assert np.array_equal(cmds[-1], goal)
    assert np.all(steps * np.sign(goal - start) >= 0)                                       # monotone, no overshoot


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_target_sequence_within_the_limits_passes_unchanged(data):
    profile = data.draw(profiles())
    lo, hi = profile.lower(), profile.upper()
    v = np.minimum(profile.velocity(), profile.max_step_per_tick / DT) * 0.9
    a = np.minimum(profile.acceleration(), 1e3) * 0.9
    centre = lo + (hi - lo) * np.array(data.draw(st.lists(st.floats(0.2, 0.8), min_size=3, max_size=3)))
    # sums of cosines: at rest at t = 0, |x'| <= v, |x''| <= a, within 0.18 of the range below the centre
    t = DT * np.arange(1, 300)
    x = np.repeat(centre[None], len(t) + 1, 0)
    n = data.draw(st.integers(1, 3))
    for _ in range(n):   # each wave gets 1/n of every budget
        omega = data.draw(st.floats(0.1, 20.0))
        amp = min((hi - lo).min() * 0.09, *(v / omega), *(a / omega ** 2)) / n * data.draw(st.floats(0.0, 1.0))
        wave = amp * np.cos(omega * np.concatenate([[0.0], t]))
        x += (wave - wave[0])[:, None]
    cmds = run(profile, x[0], list(x[1:]))
    assert np.array_equal(cmds, x[1:])


def test_lone_step_on_the_demo_shoulder_does_not_overshoot():
    """Issue 9: a lone 0.3 rad step overshot by 61% and settled after 95 ticks (no braking term)."""
    profile = load_profile("bimanual")
    i = profile.joints.index("right_shoulder")
    ex = ActionExecutor(profile)
    ex.on_state(np.zeros(14))
    actions = np.zeros((100, 14))
    actions[:, i] = 0.3
    ex.on_chunk(Chunk(times=DT * np.arange(100), actions=actions), now=0.0)
    x = np.array([ex.tick(k * DT).positions[i] for k in range(1, 60)])
    assert x.max() == 0.3 and np.all(np.diff(x) >= 0)                        # never past the target
    assert np.nonzero(x == 0.3)[0][0] + 1 <= 20 and np.all(x[20:] == 0.3)  # there within 20 ticks, exactly
    acc = np.diff(np.diff(np.concatenate([[0.0, 0.0], x]))) / DT ** 2
    assert np.abs(acc).max() <= 10.0 + 1e-6                                  # the profile's 10 rad/s^2
    assert ex.stats.clamps_by_kind.get("target_stop", 0) == 0 and "braking" in ex.stats.clamps_by_kind


def test_clamps_reported_per_joint_and_kind_with_magnitudes():
    profile = make([-1.0, -1.0], [1.0, 1.0], [1.0, 1.0], [np.inf, np.inf], max_step=0.5)
    ex = ActionExecutor(profile)
    ex.on_state(np.zeros(2))
    ex.on_chunk(Chunk(times=DT * np.arange(5), actions=np.array([[1.5, 0.01]] * 5)), now=0.0)
    ex.tick(DT)
    s = ex.stats
    assert s.safety_clamps == 1 and s.clamps_by_kind == {"position": 1, "velocity": 1}
    assert s.clamps_by_joint["position"] == {"j0": {"count": 1, "max": 0.5}}           # 1.5 beyond the limit 1.0
    assert s.clamps_by_joint["velocity"]["j0"]["max"] == 1.0 - 1.0 * DT               # 1 rad/s: 0.02 of 1.0
    assert "j1" not in s.clamps_by_joint["velocity"]                                  # j1 reached 0.01 exactly


def test_target_jumping_back_stops_on_it_and_says_so():
    profile = make([-1.0], [1.0], [2.0], [10.0])
    f = SafetyFilter(profile, DT, np.zeros(1))
    for _ in range(30):
        c, _, ch = f(np.array([0.9]), np.zeros(0))
    assert 0.0 < c[0] < 0.9 and f.step[0] > 0.01        # moving fast toward 0.9
    c2, _, ch = f(c + 0.001, np.zeros(0))               # the target comes back to just ahead
    assert c2[0] == c[0] + 0.001 and ch["target_stop"][0] > 0
