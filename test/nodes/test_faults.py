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

"""Faults of the inference machinery, on lockstep simulated time: the policy node logs and counts each fault once,
shows ERROR on /diagnostics while it lasts and requests nothing; the executor holds within its watchdog time,
never commanding anything non-finite; the loop resumes by itself when inference is back. The policy server is a
fake with the runners' API on simulated time (core/inference.py's ProcessRunner is tested with real processes in
test/core/test_inference.py).
"""

import numpy as np

from pi_vla_ros.core.inference import InferenceFault, SimulatedLatencyRunner
from pi_vla_ros.nodes.common import ERROR, OK, WARN
from pi_vla_ros.ros import msgs
from test.nodes.conftest import Rosout, Tap, controller_topics, finite_command


class FlakyRunner(SimulatedLatencyRunner):
    """A policy server on simulated time that the test takes down (the request in flight is lost) and brings back."""

    def __init__(self, policy, latency_s):
        super().__init__(policy, latency_s)
        self.ready, self.restarts, self._faults = True, 0, []

    def fail(self, reason: str) -> None:
        self._pending = None
        self.ready = False
        self.last_error = InferenceFault(reason, "injected by the test")
        self._faults.append(self.last_error)

    def recover(self) -> None:
        self.ready = True
        self.restarts += 1

    def faults(self):
        faults, self._faults = self._faults, []
        return faults

    def submit(self, obs, now):
        assert self.ready, "the node must not submit while the runner is not ready"
        super().submit(obs, now)


def _graph(make_graph, robot="ur5e", **overrides):
    run = make_graph(robot, overrides={"pi_vla_policy": {"diagnostics_period_s": 0.25}} | overrides)
    pol = run.node("pi_vla_policy")
    pol.runner = FlakyRunner(pol.runner.policy, pol.runner.latency_s)
    tap = Tap(run, controller_topics(run) | {"/diagnostics": msgs.DiagnosticArray})
    return run, pol, run.node("pi_vla_executor"), tap, Rosout(run)


def _policy_diagnostics(tap):
    return [(t, s) for t, m in tap.messages["/diagnostics"] for s in m.status if s.name == "pi_vla_policy"]


def test_policy_server_down_twice_holds_counts_logs_once_and_recovers(make_graph):
    run, pol, ex, tap, log = _graph(make_graph, "mobile_manipulator")
    meta = pol.policy.metadata
    watchdog_s = min(ex.p.chunk_timeout_s, meta.horizon * meta.dt)   # the last chunk runs out, or is too old
    run.spin_until(2.0)
    assert len(pol.chunk_log) >= 2 and not ex.core.holding
    assert _policy_diagnostics(tap)[-1][1].level == OK
    for k, reason in enumerate(("policy_server_died", "inference_timeout"), 1):   # two faults in one run
        t_fault, chunks = run.sim_time(), len(pol.chunk_log)
        last_stamp = pol.chunk_log[-1]["stamp"]
        pol.runner.fail(reason)
        held_at = None
        while run.sim_time() < t_fault + watchdog_s + 1.0:
            run.spin_for(0.02)
            if held_at is None and ex.core.holding:
                held_at = run.sim_time()
        assert held_at is not None and held_at <= last_stamp + watchdog_s + 0.02 + 1e-9   # at the watchdog's time
        assert len(pol.chunk_log) == chunks                                        # nothing requested meanwhile
        assert run.report()["rejected_inputs"]["pi_vla_policy"][reason] == 1
        assert len(log.lines(reason)) == 1, log.lines()                           # logged once, as an error
        assert log.lines(reason, level=40)
        down = [s for t, s in _policy_diagnostics(tap) if t > t_fault + 0.3]
        assert down and all(s.level == ERROR for s in down), [s.message for s in down]
        assert reason in down[-1].message
        base = next(m for t, ty in controller_topics(run).items() if ty is msgs.Twist for m in [tap.messages[t][-1][1]])
        assert base.linear.x == 0.0 and base.angular.z == 0.0                      # and the base has stopped

        pol.runner.recover()
        t_back = run.sim_time()
        run.spin_for(1.5)
        assert len(pol.chunk_log) > chunks and not ex.core.holding                 # resumed by itself
        assert _policy_diagnostics(tap)[-1][1].level == OK
        assert len(log.lines("policy server ready again", level=20)) == k
        assert min(c["published_at"] for c in pol.chunk_log[chunks:]) <= t_back + 0.5
    report = run.report()
    assert report["failures"] == {"policy_server_died": 1, "inference_timeout": 1}
    assert report["ok"] and report["policy"]["restarts"] == 2
    for topic, received in tap.messages.items():
        if topic != "/diagnostics":
            assert all(finite_command(m) for _, m in received), topic
            assert received[-1][0] >= run.sim_time() - 0.03, f"{topic} stopped"


def test_rejected_inferences_in_a_row_are_an_error_on_diagnostics(make_graph):
    run, pol, ex, tap, log = _graph(make_graph, pi_vla_sim={"publish_instruction": False})
    run.spin_until(0.5)
    assert {(s.level, s.message) for _, s in _policy_diagnostics(tap)} == {(WARN, "waiting for language on "
                                                                                  "/pi_vla/language")}
    tap.node.create_publisher(msgs.String, "/pi_vla/instruction", 10).publish(msgs.String(data="pick up the cube"))
    run.spin_until(1.5)
    assert _policy_diagnostics(tap)[-1][1].level == OK
    chunks = len(pol.chunk_log)
    infer = pol.runner.policy.infer

    def nan_infer(obs):
        chunk = infer(obs)
        return type(chunk)(np.full_like(chunk.actions, np.nan), chunk.dt, chunk.stamp)

    pol.runner.policy.infer = nan_infer     # e.g. corrupt weights: the server lives, its chunks are rejected
    run.spin_for(3.0)
    assert len(pol.chunk_log) == chunks and ex.core.holding
    assert run.report()["rejected_inputs"]["pi_vla_policy"]["bad_policy_output"] >= 3
    status = _policy_diagnostics(tap)[-1][1]
    assert status.level == ERROR and "bad_policy_output" in status.message
    pol.runner.policy.infer = infer
    run.spin_for(1.5)
    assert len(pol.chunk_log) > chunks and _policy_diagnostics(tap)[-1][1].level == OK


def test_server_that_never_comes_back_fails_the_run(make_graph):
    run, pol, ex, tap, log = _graph(make_graph)
    run.spin_until(1.5)
    pol.runner.fail("policy_server_start_failed")
    run.spin_for(3.0)
    assert ex.core.holding
    report = run.report()
    assert not report["ok"] and report["failures"] == {"policy_server_start_failed": 1}
    assert "policy server was down" in report["why"][0] and "policy_server_start_failed" in report["why"][0]
    js = run.node("pi_vla_observation").core.latest_state()[1]
    assert np.all(np.isfinite(js))


def test_launch_exits_non_zero_when_the_graph_failed(tmp_path):
    import json

    from pi_vla_ros.cli import main

    args = ["launch", "ur5e", "--sim", "--fast", "--allow-untrained", "--report"]
    assert main(args + [str(tmp_path / "short.json"), "--duration", "0.06"]) == 1   # over before the first chunk
    report = json.loads((tmp_path / "short.json").read_text())
    assert report["ok"] is False and report["why"] == ["no action chunk was produced"]
    assert main(args + [str(tmp_path / "ok.json"), "--duration", "0.5"]) == 0
    report = json.loads((tmp_path / "ok.json").read_text())
    assert report["ok"] is True and report["why"] == [] and report["failures"] == {}
