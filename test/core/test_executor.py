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

import numpy as np
import pytest

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.executor import ActionExecutor, Chunk, ExecutorConfig, validate_chunk

DT = 0.02


def chunk(start, values, dt=DT):
    values = np.atleast_2d(np.asarray(values, dtype=float))
    return Chunk(times=start + dt * np.arange(len(values)), actions=values)


def ramp(start, n, a0, a1, width=3):
    return chunk(start, np.linspace(a0, a1, n)[:, None].repeat(width, 1) * [1, 1, 0.01])


def test_validate_chunk_maps_names_and_rejects(profile):
    c = validate_chunk(profile, ["grip", "j1", "j2"], [0, 0.02], [[0.01, 0.1, 0.2], [0.02, 0.1, 0.2]])
    np.testing.assert_allclose(c.actions[0], [0.1, 0.2, 0.01])
    bad = [
        (["j1", "j2"], [0], [[0, 0]], "chunk_joints"),
        (["j1", "j2", "grip"], [0, 0.02], [[0, 0], [0, 0]], "chunk_width"),
        (["j1", "j2", "grip"], [0, 0.02], [[0, 0, 0], [0, 0]], "chunk_width"),
        (["j1", "j2", "grip"], [0.02, 0.02], [[0, 0, 0], [0, 0, 0]], "non_increasing_time"),
        (["j1", "j2", "grip"], [0, 0.02], [[0, np.nan, 0], [0, 0, 0]], "non_finite_action"),
        (["j1", "j2", "grip"], [], [], "chunk_empty"),
    ]
    for names, times, acts, reason in bad:
        with pytest.raises(RejectedInput) as e:
            validate_chunk(profile, names, times, acts)
        assert e.value.reason == reason


def test_no_command_before_state_then_hold_measured(profile):
    ex = ActionExecutor(profile)
    assert ex.tick(0.0) is None
    ex.on_state(np.array([0.3, -0.2, 0.01]))
    cmd = ex.tick(0.02)
    assert cmd.holding and np.allclose(cmd.positions, [0.3, -0.2, 0.01])
    assert ex.stats.starvation_ticks == 0             # no chunk yet: waiting is not starvation


def test_resamples_policy_rate_to_control_rate(profile):
    ex = ActionExecutor(profile, ExecutorConfig(control_rate_hz=50))
    ex.on_state(np.zeros(3))
    # 10 Hz policy: 0 -> 0.1 rad in 0.1 s; at 50 Hz the executor must interpolate 0.02 per tick.
    ex.on_chunk(chunk(0.0, [[0, 0, 0], [0.1, 0, 0], [0.2, 0, 0]], dt=0.1), now=0.0)
    got = [ex.tick(k * DT).positions[0] for k in range(1, 6)]
    np.testing.assert_allclose(got, [0.02, 0.04, 0.06, 0.08, 0.10], atol=1e-12)


def test_position_velocity_and_step_limits(profile):
    ex = ActionExecutor(profile)
    ex.on_state(np.zeros(3))
    ex.on_chunk(chunk(0.0, [[5.0, 5.0, 1.0]] * 150), now=0.0)
    prev = np.zeros(3)
    for k in range(1, 140):
        cmd = ex.tick(k * DT).positions
        step = np.abs(cmd - prev)
        assert np.all(step <= profile.velocity() * DT + 1e-12)
        assert np.all(step <= profile.max_step_per_tick + 1e-12)
        assert np.all(cmd <= profile.upper() + 1e-12)
        prev = cmd
    assert np.allclose(prev, profile.upper())         # converged onto the limits, not past them
    assert ex.stats.safety_clamps > 0 and ex.stats.clamps_by_kind["position"] > 0


def test_acceleration_limit():
    from test.core.conftest import make_profile

    p = make_profile()
    object.__setattr__(p, "max_acceleration", {"j1": 5.0, "j2": 5.0, "grip": 5.0})
    ex = ActionExecutor(p)
    ex.on_state(np.zeros(3))
    ex.on_chunk(chunk(0.0, [[1.0, 0, 0]] * 50), now=0.0)
    cmds = np.array([ex.tick(k * DT).positions[0] for k in range(1, 20)])
    vel = np.diff(np.concatenate([[0.0], cmds])) / DT
    assert np.all(np.abs(np.diff(np.concatenate([[0.0], vel]))) <= 5.0 * DT + 1e-9)


def test_watchdog_holds_when_chunk_runs_out(profile):
    ex = ActionExecutor(profile)
    ex.on_state(np.zeros(3))
    ex.on_chunk(ramp(0.0, 5, 0.0, 0.04), now=0.0)
    for k in range(1, 5):
        assert not ex.tick(k * DT).holding
    held = [ex.tick(k * DT) for k in range(5, 9)]
    assert all(c.holding for c in held)
    assert ex.stats.watchdog_trips == 1 and ex.stats.starvation_ticks == 4
    assert np.allclose(held[-1].positions, held[0].positions)
    # what the node logs with the trip: when, and what the latest chunk covered
    assert ex.stats.last_trip == ("at 0.100 s no chunk covers now: the latest spans 0.000-0.080 s "
                                  "(timeout 2.0 s after its start)")


def test_watchdog_stops_base(mobile_profile):
    ex = ActionExecutor(mobile_profile)
    ex.on_state(np.zeros(3))
    ex.on_chunk(chunk(0.0, [[0, 0, 0, 0.02, 0.04]] * 3), now=0.0)
    assert ex.tick(DT).base[0] == pytest.approx(0.02)
    assert np.allclose(ex.tick(0.2).base, 0.0)


def test_new_chunk_replaces_with_crossfade(profile):
    ex = ActionExecutor(profile, ExecutorConfig(blend_s=0.04))
    ex.on_state(np.zeros(3))
    ex.on_chunk(chunk(0.0, [[0.0, 0, 0]] * 50), now=0.0)
    ex.tick(DT)
    ex.on_chunk(chunk(0.0, [[0.02, 0, 0]] * 50), now=DT)   # stale prefix of the new chunk is skipped
    a = ex.tick(2 * DT).positions[0]
    b = ex.tick(3 * DT).positions[0]
    assert 0.0 < a < 0.02 and b == pytest.approx(0.02)


def test_teleop_stream_replaces_without_crossfade(profile):
    ex = ActionExecutor(profile, ExecutorConfig(blend_s=0.04))
    ex.on_state(np.zeros(3))
    ex.on_chunk(chunk(0.0, [[0.0, 0, 0]] * 50), now=0.0, blend=False)
    ex.tick(DT)
    ex.on_chunk(chunk(DT, [[0.02, 0, 0]] * 5), now=DT, blend=False)
    assert ex.tick(2 * DT).positions[0] == pytest.approx(0.02)   # at once (within the limits), no fade


def test_chunk_entirely_in_past_rejected(profile):
    ex = ActionExecutor(profile)
    with pytest.raises(RejectedInput) as e:
        ex.on_chunk(chunk(0.0, [[0, 0, 0]] * 3), now=1.0)
    assert e.value.reason == "chunk_in_past"


def test_state_is_validated_and_nan_never_becomes_a_command(profile):
    """Issue 9: a NaN state before any command became the hold position (NaN commands); a short one crashed the tick."""
    ex = ActionExecutor(profile)
    bad = [(np.array([0.1, np.nan, 0.0]), None, "non_finite_state"), (np.zeros(2), None, "state_size"),
           (np.zeros((3, 1)), None, "state_size"), ([0.1, "x", 0.0], None, "state_size"),
           (np.zeros(3), ["j2", "j1", "grip"], "state_joints"), (np.zeros(3), ["j1", "j1", "grip"], "state_joints")]
    for positions, names, reason in bad:
        with pytest.raises(RejectedInput) as e:
            ex.on_state(positions, names)
        assert e.value.reason == reason
    assert ex.tick(0.02) is None                      # nothing valid yet: no command at all
    ex.on_state([0.1, 0.2, 0.01], ["j1", "j2", "grip"])
    with pytest.raises(RejectedInput):
        ex.on_state([np.inf, 0.2, 0.01])              # keeps the last valid state
    assert np.array_equal(ex.tick(0.04).positions, [0.1, 0.2, 0.01])


def test_on_chunk_validates_what_it_is_given(profile):
    ex = ActionExecutor(profile)
    ex.on_state(np.zeros(3))
    for c, reason in [(Chunk(np.array([0.0, 0.02]), np.zeros((2, 2))), "chunk_width"),
                      (Chunk(np.array([0.0, 0.02]), np.array([[0, np.nan, 0], [0, 0, 0]])), "non_finite_action"),
                      (Chunk(np.array([0.0, 0.0]), np.zeros((2, 3))), "non_increasing_time"),
                      (Chunk(np.array([0.0, np.nan]), np.zeros((2, 3))), "non_finite_action")]:
        with pytest.raises(RejectedInput) as e:
            ex.on_chunk(c, now=0.0)
        assert e.value.reason == reason
    assert ex.stats.chunks_accepted == 0 and ex.tick(0.02).holding


def test_hold_stops_a_moving_arm_at_its_last_command(profile):
    ex = ActionExecutor(profile)
    ex.on_state(np.zeros(3))
    ex.on_chunk(ramp(0.0, 6, 0.0, 0.2), now=0.0)      # 0.04 rad per tick
    last = [ex.tick(k * DT) for k in range(1, 6)][-1]
    held = [ex.tick(k * DT) for k in range(6, 10)]
    assert not last.holding and all(c.holding for c in held)
    assert all(np.array_equal(c.positions, last.positions) for c in held)   # no drift past the last command
    assert ex.stats.clamps_by_kind.get("target_stop", 0) == 0           # a hold's stop is not a clamp
