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

"""Bad input anywhere in the graph: one clear log line, counted, never reaches a controller, graph keeps running."""

import numpy as np
import pytest

from pi_vla_ros.nodes.common import LATCHED_QOS, to_duration, to_stamp
from pi_vla_ros.ros import msgs
from test.nodes.conftest import Rosout, Tap, controller_topics, finite_command


def _joint_state(run, names, positions):
    return msgs.JointState(header=msgs.Header(stamp=to_stamp(run.sim_time())), name=names, position=positions)


def _stamped(msg, seconds):
    msg.header.stamp = to_stamp(seconds)
    return msg


def _image(run, cam, width=None, height=None, encoding="rgb8"):
    c = run.sim.profile.camera(cam)
    w, h = width or c.width, height or c.height
    ch = 4 if encoding == "32FC1" else 3
    return msgs.Image(header=msgs.Header(stamp=to_stamp(run.sim_time())), width=w, height=h, encoding=encoding,
                      step=w * ch, data=bytes(w * h * ch))


def _chunk(names, rows, times):
    return msgs.JointTrajectory(joint_names=names, points=[
        msgs.JointTrajectoryPoint(positions=r, time_from_start=to_duration(t)) for r, t in zip(rows, times)])


CASES = {
    "nan_joint_state": ("pi_vla_observation", "non_finite_joint_state"),
    "inf_joint_state": ("pi_vla_observation", "non_finite_joint_state"),
    "missing_joint": ("pi_vla_observation", "missing_joint"),
    "unknown_joint": ("pi_vla_observation", "unknown_joint"),
    "image_size": ("pi_vla_observation", "image_size"),
    "image_encoding": ("pi_vla_observation", "image_encoding"),
    "chunk_width": ("pi_vla_executor", "chunk_width"),
    "chunk_time": ("pi_vla_executor", "non_increasing_time"),
    # a stamp far in the future must not make every later, correct message "out of order" (held forever)
    "future_stamp": ("pi_vla_observation", "future_stamp"),
    "future_stamp_max": ("pi_vla_observation", "future_stamp"),
    # the executor's internal state topic is checked too: NaN never becomes the hold position
    "nan_internal_state": ("pi_vla_executor", "non_finite_state"),
    "short_internal_state": ("pi_vla_executor", "state_size"),
    "duplicate_joint": ("pi_vla_observation", "duplicate_joint"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_rejected_counted_and_contained(make_graph, case):
    run = make_graph("bimanual")
    tap = Tap(run, controller_topics(run))
    log = Rosout(run)
    run.spin_until(1.0)
    profile = run.sim.profile
    joints = list(profile.joints)
    good = list(run.node("pi_vla_observation").core.latest_state()[1])
    pubs = {
        "js": tap.node.create_publisher(msgs.JointState, "/joint_states", 10),
        "img": tap.node.create_publisher(msgs.Image, "/cam_high/image_raw", 10),
        "chunk": tap.node.create_publisher(msgs.JointTrajectory, "/pi_vla/action_chunk", 10),
        "state": tap.node.create_publisher(msgs.JointState, "/pi_vla/observation/joint_states", 10),
    }
    names = list(profile.action_names)
    bad = {
        "nan_joint_state": ("js", lambda: _joint_state(run, joints, good[:3] + [float("nan")] + good[4:])),
        "inf_joint_state": ("js", lambda: _joint_state(run, joints, [float("inf")] + good[1:])),
        "missing_joint": ("js", lambda: _joint_state(run, joints[:-1], good[:-1])),
        "unknown_joint": ("js", lambda: _joint_state(run, joints + ["elbow_of_doom"], good + [0.0])),
        "image_size": ("img", lambda: _image(run, "cam_high", width=64, height=48)),
        "image_encoding": ("img", lambda: _image(run, "cam_high", encoding="32FC1")),
        "chunk_width": ("chunk", lambda: _chunk(names, [[0.0] * (len(names) - 1)] * 3, [0, 0.02, 0.04])),
        "chunk_time": ("chunk", lambda: _chunk(names, [[1e3] * len(names)] * 3, [0, 0.04, 0.02])),
        "future_stamp": ("js", lambda: _stamped(_joint_state(run, joints, good), run.sim_time() + 10.0)),
        "future_stamp_max": ("js", lambda: _stamped(_joint_state(run, joints, good), 2**31 - 1)),
        "nan_internal_state": ("state", lambda: _joint_state(run, joints, [float("nan")] * len(joints))),
        "short_internal_state": ("state", lambda: _joint_state(run, joints, good[:-1])),
        "duplicate_joint": ("js", lambda: _joint_state(run, joints + joints[:1], good + good[:1])),
    }
    node_name, reason = CASES[case]
    pub, make = bad[case]
    for _ in range(5):
        pubs[pub].publish(make())
        run.spin_for(0.05)
    counts = run.report()["rejected_inputs"][node_name]
    assert counts.get(reason) == 5, counts
    assert len(log.lines(f"[{reason}]")) == 1, log.lines()             # one clear line, not a flood
    run.spin_for(1.0)                                                   # the graph keeps running
    report = run.report()
    assert report["executor"]["starvation_ticks"] == 0
    for topic, received in tap.messages.items():
        assert all(finite_command(m) for _, m in received), topic
        assert received[-1][0] >= run.sim_time() - 0.03, f"{topic} stopped"
    if case == "chunk_time":   # the absurd 1e3 rad targets never reached the arm
        js = run.node("pi_vla_observation").core.latest_state()[1]
        assert np.all(js <= profile.upper() + 1e-6)


def test_stale_camera_is_reported_and_policy_holds(make_graph):
    run = make_graph("bimanual")
    tap = Tap(run, controller_topics(run))
    log = Rosout(run)
    run.spin_until(1.0)
    run.sim.pause_camera("cam_left_wrist", True)
    chunks = len(run.node("pi_vla_policy").chunk_log)
    run.spin_for(2.0)
    obs = run.report()["rejected_inputs"]["pi_vla_observation"]
    assert obs.get("stale_camera") == 1                        # once per fresh->stale transition
    assert run.report()["rejected_inputs"]["pi_vla_policy"].get("stale_camera") == 1
    assert len(run.node("pi_vla_policy").chunk_log) <= chunks + 1   # no new chunk from stale data
    ex = run.node("pi_vla_executor").core.stats
    assert ex.watchdog_trips == 1                              # ran out of actions: holds position
    assert len(log.lines("stale_camera")) == 2                 # observation + policy, once each
    run.sim.pause_camera("cam_left_wrist", False)
    run.spin_for(1.5)
    assert len(run.node("pi_vla_policy").chunk_log) > chunks + 1   # recovers when the camera is back
    for topic, received in tap.messages.items():
        assert received[-1][0] >= run.sim_time() - 0.03, f"{topic} stopped"


def test_oversized_language_is_rejected_by_the_policy(make_graph):
    run = make_graph("ur5e")
    tap = Tap(run, {})
    log = Rosout(run)
    run.spin_until(1.0)
    policy = run.node("pi_vla_policy")
    before = policy.language
    pub = tap.node.create_publisher(msgs.String, "/pi_vla/language", LATCHED_QOS)   # a transient-local topic
    for _ in range(3):
        pub.publish(msgs.String(data="x" * 1_000_000))     # 1 MB: seconds of tokenizing per chunk if accepted
        run.spin_for(0.1)
    assert policy.language == before
    assert run.report()["rejected_inputs"]["pi_vla_policy"] == {"language_too_long": 3}
    assert len(log.lines("language_too_long")) == 1
    run.spin_for(1.0)
    assert policy.chunk_log[-1]["prompt"] == before                 # the loop went on with the last good task
