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

"""The whole graph, closed loop through the simulator, on simulated time."""

import json

import numpy as np
import pytest

from pi_vla_ros.ros import msgs
from pi_vla_ros.ros.serialization import deserialize_message, serialize_message
from test.nodes.conftest import Tap, controller_topics


@pytest.mark.parametrize("robot", ["ur5e", "bimanual", "mobile_manipulator"])
def test_profile_graph_runs_closed_loop(make_graph, robot):
    run = make_graph(robot)
    tap = Tap(run, controller_topics(run))
    run.spin_until(5.0)
    report = run.report()
    ex = report["executor"]
    assert report["sim_s"] >= 4.98
    assert report["policy"]["chunks"] >= 6                    # one per 0.5 s (0.8 s for ur5e) after the first
    assert ex["starvation_ticks"] == 0 and ex["watchdog_trips"] == 0
    assert report["rejected_total"] == 0, report["rejected_inputs"]
    # every controller interface got commands, and every message survives CDR with its real ROS 2 type
    for topic, received in tap.messages.items():
        assert len(received) > 200, topic
        for _, msg in received:
            assert deserialize_message(serialize_message(msg), type(msg)) == msg
    # the robot actually moved under the policy's commands
    js = run.node("pi_vla_observation").core.latest_state()
    assert js is not None and np.all(np.isfinite(js[1]))


def test_one_command_per_tick(make_graph):
    run = make_graph("bimanual")
    run.spin_until(3.0)
    t = np.asarray(run.node("pi_vla_executor").publish_sim_times)
    assert t[0] <= 0.05                                        # starts as soon as a joint state arrives
    np.testing.assert_allclose(np.diff(t), 0.02, atol=1e-9)    # exactly one per 20 ms of sim time
    tap_counts = len(t)
    assert tap_counts == pytest.approx((t[-1] - t[0]) / 0.02 + 1)


def test_language_change_reaches_next_chunk(make_graph):
    run = make_graph("bimanual")
    run.spin_until(1.0)
    policy = run.node("pi_vla_policy")
    first = policy.chunk_log[-1]["prompt"]
    assert first == run.sim.sim.instruction
    tap = Tap(run, {})
    pub = tap.node.create_publisher(msgs.String, "/pi_vla/instruction", 10)
    pub.publish(msgs.String(data="wave at the camera; then bow"))
    n_before = len(policy.chunk_log)
    run.spin_for(1.0)
    new = policy.chunk_log[n_before:]
    assert new, "no chunk after the language change"
    # the first chunk requested after the change already carries it
    requested_after = [c for c in new if c["requested_at"] >= 1.0]
    assert requested_after and requested_after[0]["prompt"] == "wave at the camera"
    pub.publish(msgs.String(data="next"))
    run.spin_for(1.0)
    assert policy.chunk_log[-1]["prompt"] == "bow"


def test_report_fields(make_graph, tmp_path):
    run = make_graph("bimanual")
    run.spin_until(2.0)
    report = run.report()
    json.dumps(report)
    for key in ("commands", "rate_hz_wall", "rate_hz_sim", "interval_ms_wall", "starvation_ticks",
                "watchdog_trips", "safety_clamps"):
        assert key in report["executor"]
    for key in ("chunks", "inference_latency_ms", "observation_age_ms"):
        assert key in report["policy"]
    assert report["executor"]["rate_hz_sim"] == pytest.approx(50.0, abs=1e-6)
    assert report["policy"]["inference_latency_ms"]["p50"] == pytest.approx(100.0, abs=1e-6)  # simulated
    assert "success" in report["task"] and "instruction" in report["task"]
    # the graph ran on real rclpy over Fast DDS, and the report says so
    assert report["ros"]["client_library"] == "rclpy" and report["ros"]["rmw"] == "rmw_fastrtps_cpp"


@pytest.mark.parametrize("policy", ["pi0_tiny", "pi05_tiny", "pi06_tiny"])
def test_each_model_family_drives_the_graph(make_graph, policy):
    run = make_graph("bimanual", policy=policy)
    run.spin_until(2.0)
    report = run.report()
    assert report["policy"]["name"] == policy and report["policy"]["chunks"] >= 3
    assert report["executor"]["starvation_ticks"] == 0 and report["rejected_total"] == 0


class RecordingPolicy:
    """Wraps a policy and keeps every observation it was asked about (and the chunk it gave)."""

    def __init__(self, policy):
        self.inner, self.metadata, self.calls = policy, policy.metadata, []

    def infer(self, obs):
        chunk = self.inner.infer(obs)
        self.calls.append((obs, chunk))
        return chunk

    def reset(self):
        self.inner.reset()


def _handover_jumps(calls):
    """|new chunk - executing chunk| at each observation stamp + frozen steps (where the new one takes over)."""
    jumps = []
    for (_, old), (obs, new) in zip(calls, calls[1:]):
        k = obs.committed.frozen if obs.committed is not None else 7
        t = obs.stamp + k * new.dt
        old_t = old.stamp + old.dt * np.arange(len(old.actions))
        at_old = np.array([np.interp(t, old_t, old.actions[:, j]) for j in range(old.actions.shape[1])])
        jumps.append(np.abs(new.actions[k] - at_old).max())
    return np.array(jumps)


def _recorded_run(make_graph, rtc: bool) -> tuple[list, list]:
    """(the policy's (observation, chunk) calls, the policy node's chunk log) of a 3 s bimanual run."""
    from pi_vla_ros.policies.factory import make_policy
    from pi_vla_ros.profiles import load_profile

    policy = RecordingPolicy(make_policy("pi06_tiny", load_profile("bimanual"), allow_untrained=True))
    run = make_graph("bimanual", instances={"pi_vla_policy": {"policy": policy}},
                     overrides={"pi_vla_policy": {"real_time_chunking": rtc}})
    run.spin_until(3.0)
    chunk_log = run.node("pi_vla_policy").chunk_log
    run.close()
    return policy.calls[1:], chunk_log   # calls[0] is the warm-up on a blank observation


def test_real_time_chunking_commits_the_executing_chunk(make_graph):
    calls, chunk_log = _recorded_run(make_graph, rtc=True)
    assert len(calls) >= 5 and calls[0][0].committed is None
    dt, delay = 0.02, 5                              # bimanual: 50 Hz actions; simulated latency 0.1 s = 5 steps
    for (_, prev), (obs, _), log in zip(calls, calls[1:], chunk_log[1:]):
        c = obs.committed
        grid = obs.stamp + dt * np.arange(50)
        assert c.overlap == np.sum(grid <= prev.stamp + 49 * dt + 1e-9)
        assert c.frozen == int(np.ceil((log["requested_at"] - obs.stamp) / dt - 1e-9)) + delay
        prev_t = prev.stamp + dt * np.arange(50)
        expected = np.stack([np.interp(grid, prev_t, prev.actions[:, j]) for j in range(14)], 1)
        np.testing.assert_allclose(c.actions, expected, atol=1e-6)


def test_real_time_chunking_removes_the_jump_at_handover(make_graph):
    rtc_calls, _ = _recorded_run(make_graph, rtc=True)
    plain_calls, _ = _recorded_run(make_graph, rtc=False)
    assert all(obs.committed is None for obs, _ in plain_calls)
    jumps_rtc, jumps_plain = _handover_jumps(rtc_calls), _handover_jumps(plain_calls)
    assert jumps_rtc.max() < 0.2 * jumps_plain.mean()


def test_executor_yields_to_an_intervention_and_resumes_from_the_measured_state(make_graph):
    run = make_graph("ur5e")
    run.spin_until(1.0)
    ex = run.node("pi_vla_executor")
    tap = Tap(run, {})
    pub = tap.node.create_publisher(msgs.Bool, "/pi_vla/intervention", 10)
    pub.publish(msgs.Bool(data=True))
    run.spin_for(0.05)
    n = len(ex.publish_sim_times)
    run.spin_for(1.0)
    assert len(ex.publish_sim_times) == n and ex.intervention_ticks >= 49       # silent while a person drives
    pub.publish(msgs.Bool(data=False))
    run.spin_for(1.0)
    assert len(ex.publish_sim_times) >= n + 45                                   # the policy drives again
    assert ex.core.stats.chunks_accepted >= 1 and not ex.intervening


def test_compressed_cameras_drive_the_graph(make_graph):
    """Cameras as image_transport's compressed plugin sends them (JPEG on <topic>/compressed), decoded at the edge."""
    import cv2

    from pi_vla_ros.nodes.common import SENSOR_QOS

    run = make_graph("ur5e", overrides={"pi_vla_observation": {"camera_transport": "compressed"}})
    tap = Tap(run, {})
    cameras = run.sim.profile.cameras
    pubs = {c.name: tap.node.create_publisher(msgs.CompressedImage, f"{c.topic}/compressed", SENSOR_QOS)
            for c in cameras}

    def republish(camera, msg):   # what `ros2 run image_transport republish raw compressed` does
        rgb = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        pubs[camera].publish(msgs.CompressedImage(header=msg.header, format="rgb8; jpeg compressed bgr8",
                                                  data=jpeg.tobytes()))

    for cam in cameras:
        tap.node.create_subscription(msgs.Image, cam.topic, lambda m, c=cam.name: republish(c, m), SENSOR_QOS)
    run.spin_until(3.0)
    report = run.report()
    assert report["rejected_total"] == 0, report["rejected_inputs"]
    assert report["policy"]["chunks"] >= 3
    obs = run.node("pi_vla_observation")
    assert all(obs.forwarded[c.name] >= 25 for c in cameras), obs.forwarded   # 10 Hz for 3 s


def test_episode_end_holds_until_the_next_instruction(make_graph):
    """On an episode end (a person's "success" mark, or the simulator's success detector) the language is cleared,
    the policy stops requesting chunks and the executor holds its last command, without counting starvation; the
    next instruction starts the next episode.
    """
    run = make_graph("ur5e")
    tap = Tap(run, {"/scaled_joint_trajectory_controller/joint_trajectory": msgs.JointTrajectory})
    end = tap.node.create_publisher(msgs.String, "/pi_vla/episode_end", 10)
    instruction = tap.node.create_publisher(msgs.String, "/pi_vla/instruction", 10)
    run.spin_until(2.0)
    policy, executor = run.node("pi_vla_policy"), run.node("pi_vla_executor")
    end.publish(msgs.String(data="success"))
    run.spin_for(0.3)                                   # braking to a stop takes a few ticks
    chunks = len(policy.chunk_log)
    assert run.node("pi_vla_instruction").history[-1] == "" and executor.idle
    t_end = run.sim_time()
    run.spin_for(2.0)
    assert len(policy.chunk_log) <= chunks + 1          # at most the one already in flight, never executed
    held = [m.points[0].positions for t, m in tap.messages[
        "/scaled_joint_trajectory_controller/joint_trajectory"] if t > t_end]
    assert len(held) >= 95 and np.ptp(np.asarray(held), axis=0).max() == 0.0   # one constant hold command
    assert executor.core.stats.starvation_ticks == 0 and executor.core.stats.watchdog_trips == 0
    instruction.publish(msgs.String(data="wave at the camera"))
    run.spin_for(1.5)
    assert len(policy.chunk_log) >= chunks + 2 and policy.chunk_log[-1]["prompt"] == "wave at the camera"
    assert not executor.core.holding
