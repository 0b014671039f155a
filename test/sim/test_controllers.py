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

"""Controller semantics (ros2_control JTC / forward command / twist timeout); no MuJoCo needed."""

import math

import numpy as np
import pytest

from pi_vla_ros.sim.controllers import (CommandRejected, ForwardPositionController, JointGroup,
                                        JointTrajectoryController, TrajectoryPoint, TrajectoryRejected,
                                        TwistController)

J = ["a", "b"]
ZERO = [0.0, 0.0]


def jtc(**kw):
    return JointTrajectoryController(J, lower=[-1.0, -2.0], upper=[1.0, 2.0], **kw)


def rejects(reason, ctrl, names, points, stamp=0.0, now=10.0):
    with pytest.raises(TrajectoryRejected) as e:
        ctrl.accept(names, points, stamp, now, ZERO)
    assert e.value.reason == reason, e.value


@pytest.mark.parametrize("reason,names,points,stamp", [
    ("empty", J, [], 0.0),
    ("empty", [], [(1.0, [])], 0.0),
    ("duplicate_joint", ["a", "a"], [(1.0, [0.1, 0.2])], 0.0),
    ("unknown_joint", ["a", "b", "c"], [(1.0, [0.1, 0.2, 0.3])], 0.0),
    ("missing_joint", ["a"], [(1.0, [0.1])], 0.0),
    ("wrong_size", J, [(1.0, [0.1])], 0.0),
    ("wrong_size", J, [(1.0, [0.1, 0.2], [0.0])], 0.0),
    ("wrong_size", J, [(1.0, [])], 0.0),
    ("non_finite", J, [(1.0, [0.1, math.nan])], 0.0),
    ("non_finite", J, [(math.inf, [0.1, 0.2])], 0.0),
    ("non_finite", J, [(1.0, [0.1, 0.2])], math.nan),
    ("non_increasing_time", J, [(1.0, [0.1, 0.2]), (1.0, [0.2, 0.2])], 0.0),
    ("non_increasing_time", J, [(1.0, [0.1, 0.2]), (0.5, [0.2, 0.2])], 0.0),
    ("non_increasing_time", J, [(-0.1, [0.1, 0.2])], 0.0),
    ("nonzero_end_velocity", J, [(1.0, [0.1, 0.2], [0.0, 0.3])], 0.0),
    ("out_of_limits", J, [(1.0, [1.5, 0.0])], 0.0),
    ("stamp_in_past", J, [(1.0, [0.1, 0.2]), (2.0, [0.2, 0.2])], 7.9),  # ends at 9.9 < now 10
])
def test_rejections(reason, names, points, stamp):
    rejects(reason, jtc(), names, points, stamp)


def test_rejection_keeps_the_active_trajectory():
    c = jtc()
    c.accept(J, [(1.0, [0.5, 0.5])], 0.0, 0.0, ZERO)
    seq = c.last_command_seq
    rejects("unknown_joint", c, ["a", "x"], [(1.0, [0.0, 0.0])], now=0.5)
    assert c.last_command_seq == seq
    np.testing.assert_allclose(c.sample(2.0), [0.5, 0.5])


def test_limits_are_optional_and_end_velocity_can_be_allowed():
    c = JointTrajectoryController(J, allow_nonzero_velocity_at_trajectory_end=True)
    c.accept(J, [(1.0, [5.0, -5.0], [1.0, 0.0])], 0.0, 0.0, ZERO)
    np.testing.assert_allclose(c.sample(1.0), [5.0, -5.0])


def test_no_trajectory_samples_none():
    assert jtc().sample(0.0) is None


def test_joints_are_mapped_by_name_and_points_can_be_dataclasses():
    c = jtc()
    c.accept(["b", "a"], [TrajectoryPoint(1.0, [0.4, 0.2])], 0.0, 0.0, ZERO)
    np.testing.assert_allclose(c.sample(1.0), [0.2, 0.4])


def test_stamp_zero_starts_now_linear_then_holds():
    c = jtc()
    c.accept(J, [(1.0, [0.2, 0.4]), (2.0, [0.6, 0.0])], 0.0, 5.0, [0.0, 0.0])
    np.testing.assert_allclose(c.sample(5.0), [0.0, 0.0])
    np.testing.assert_allclose(c.sample(5.5), [0.1, 0.2])       # halfway to the first point
    np.testing.assert_allclose(c.sample(6.0), [0.2, 0.4])
    np.testing.assert_allclose(c.sample(6.25), [0.3, 0.3])      # linear between points
    np.testing.assert_allclose(c.sample(7.0), [0.6, 0.0])
    np.testing.assert_allclose(c.sample(100.0), [0.6, 0.0])     # hold the last point
    assert c.end_time_s == pytest.approx(7.0)


def test_future_stamp_moves_from_acceptance_to_reach_first_point_when_due():
    c = jtc()
    c.accept(J, [(1.0, [0.4, 0.0])], stamp_s=7.0, now_s=5.0, current_positions=[0.0, 0.0])
    # JTC: the segment to the first point runs from the acceptance time to stamp + time_from_start.
    np.testing.assert_allclose(c.sample(5.0), [0.0, 0.0])
    np.testing.assert_allclose(c.sample(6.5), [0.2, 0.0])
    np.testing.assert_allclose(c.sample(8.0), [0.4, 0.0])
    np.testing.assert_allclose(c.sample(4.0), [0.0, 0.0])      # before acceptance: the acceptance state


def test_past_stamp_with_future_end_starts_mid_trajectory():
    c = jtc()
    c.accept(J, [(1.0, [0.2, 0.0]), (3.0, [0.6, 0.0])], stamp_s=4.0, now_s=6.0, current_positions=[0.0, 0.0])
    np.testing.assert_allclose(c.sample(6.0), [0.4, 0.0])      # already halfway between the two points
    np.testing.assert_allclose(c.sample(7.0), [0.6, 0.0])


def test_new_trajectory_replaces_the_old_one_without_blending():
    c = jtc()
    c.accept(J, [(2.0, [0.8, 0.8])], 0.0, 0.0, [0.0, 0.0])
    now = 1.0
    here = c.sample(now)
    c.accept(J, [(1.0, [-0.5, 0.0])], 0.0, now, here)
    np.testing.assert_allclose(c.sample(now), here)
    np.testing.assert_allclose(c.sample(1.5), (here + [-0.5, 0.0]) / 2)
    np.testing.assert_allclose(c.sample(3.0), [-0.5, 0.0])     # the first goal is gone


def test_first_point_at_time_zero_is_jumped_to():
    c = jtc()
    c.accept(J, [(0.0, [0.5, 0.5]), (1.0, [0.7, 0.5])], 0.0, 2.0, [0.0, 0.0])
    np.testing.assert_allclose(c.sample(2.0), [0.5, 0.5])
    np.testing.assert_allclose(c.sample(2.5), [0.6, 0.5])


def _finite_diff(c, t, h=1e-5):
    return (c.sample(t + h) - c.sample(t - h)) / (2 * h)


def test_cubic_with_velocities_matches_knot_velocities():
    c = jtc()
    pts = [(1.0, [0.5, 0.0], [1.0, -0.5]), (2.0, [0.8, 0.3], [0.0, 0.0])]
    c.accept(J, pts, 0.0, 0.0, [0.0, 0.0])
    np.testing.assert_allclose(_finite_diff(c, 0.0 + 1e-4), [0.0, 0.0], atol=1e-3)  # starts at rest
    np.testing.assert_allclose(_finite_diff(c, 1.0), [1.0, -0.5], atol=1e-4)
    np.testing.assert_allclose(c.sample(1.0), [0.5, 0.0])
    # Hermite midpoint of the second segment: (p0+p1)/2 + T (v0 - v1) / 8
    np.testing.assert_allclose(c.sample(1.5), [0.65 + 1.0 / 8, 0.15 - 0.5 / 8])


def test_quintic_with_accelerations_matches_knot_accelerations():
    c = jtc()
    pts = [(1.0, [0.5, 0.0], [0.5, 0.0], [2.0, -1.0]), (2.0, [0.8, 0.3], [0.0, 0.0], [0.0, 0.0])]
    c.accept(J, pts, 0.0, 0.0, [0.0, 0.0])
    h = 1e-4
    acc = (c.sample(1.0 + h) - 2 * c.sample(1.0) + c.sample(1.0 - h)) / h ** 2
    np.testing.assert_allclose(acc, [2.0, -1.0], atol=1e-2)
    np.testing.assert_allclose(_finite_diff(c, 1.0), [0.5, 0.0], atol=1e-4)
    cubic = jtc()
    cubic.accept(J, [p[:3] for p in pts], 0.0, 0.0, [0.0, 0.0])
    assert np.abs(c.sample(1.5) - cubic.sample(1.5)).max() > 1e-3  # the accelerations do change the path


def test_missing_velocities_on_one_end_fall_back_to_linear():
    c = jtc()
    c.accept(J, [(1.0, [0.5, 0.0], [0.2, 0.0]), (2.0, [0.9, 0.0])], 0.0, 0.0, [0.0, 0.0])
    np.testing.assert_allclose(c.sample(1.5), [0.7, 0.0])


def test_forward_position_controller():
    f = ForwardPositionController(J)
    assert f.target() is None
    f.command([0.1, 0.2])
    for bad, reason in (([0.1], "wrong_size"), ([], "wrong_size"), ([0.1, math.inf], "non_finite")):
        with pytest.raises(CommandRejected) as e:
            f.command(bad)
        assert e.value.reason == reason
    np.testing.assert_allclose(f.target(), [0.1, 0.2])  # a rejected command changes nothing


def test_twist_timeout():
    t = TwistController(0.3)
    assert t.velocity(0.0) == (0.0, 0.0)
    t.command(0.2, -0.5, now_s=1.0)
    assert t.velocity(1.0) == (0.2, -0.5)
    assert t.velocity(1.29) == (0.2, -0.5)
    assert t.velocity(1.3) == (0.0, 0.0)      # expires exactly at the timeout
    t.command(0.1, 0.0, now_s=2.0)
    assert t.velocity(2.1) == (0.1, 0.0)
    with pytest.raises(CommandRejected):
        t.command(math.nan, 0.0, 2.2)
    assert TwistController(0.0).velocity(0.0) == (0.0, 0.0)
    forever = TwistController(0.0)
    forever.command(0.1, 0.0, 0.0)
    assert forever.velocity(1e6) == (0.1, 0.0)


def test_joint_group_most_recent_interface_drives():
    g = JointGroup("arm", J, [-1, -1], [1, 1])
    g.reset([0.3, 0.3])
    assert g.active is None
    np.testing.assert_allclose(g.target(0.0), [0.3, 0.3])
    g.trajectory.accept(J, [(1.0, [0.5, 0.5])], 0.0, 0.0, [0.3, 0.3])
    assert g.active == "trajectory"
    g.position.command([-0.2, 0.1])
    assert g.active == "position"
    np.testing.assert_allclose(g.target(0.5), [-0.2, 0.1])
    g.trajectory.accept(J, [(1.0, [0.0, 0.0])], 0.0, 1.0, [-0.2, 0.1])
    assert g.active == "trajectory"
    np.testing.assert_allclose(g.target(3.0), [0.0, 0.0])
    g.reset([0.0, 0.0])
    assert g.active is None
