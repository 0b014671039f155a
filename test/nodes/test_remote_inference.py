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

"""The policy node with ``inference_mode: remote``: the simulated graph driven through a loopback policy server
(``pi-vla serve``'s server) on lockstep simulated time, RTC on, across a server restart.
"""

import math

import numpy as np

from pi_vla_ros.ros import msgs
from test.nodes.conftest import Tap, controller_topics, finite_command
from test.serving import conftest as serving
from test.serving.conftest import KEY

bimanual_policy = serving.bimanual_policy
serve = serving.serve


def test_remote_policy_server_drives_the_graph_with_rtc_and_holds_across_a_restart(make_graph, serve, monkeypatch):
    server = serve()
    port = server.port
    monkeypatch.setenv("PI_VLA_API_KEY", KEY)
    run = make_graph("bimanual", overrides={"pi_vla_policy": {
        "inference_mode": "remote", "remote_url": server.url, "remote_lockstep": True, "simulated_latency_s": 0.1,
        "real_time_chunking": True, "restart_backoff_s": 0.05, "restart_backoff_max_s": 0.2}})
    pol, ex = run.node("pi_vla_policy"), run.node("pi_vla_executor")
    tap = Tap(run, controller_topics(run) | {"/diagnostics": msgs.DiagnosticArray})
    run.spin_until(3.0)
    log = list(pol.chunk_log)
    assert len(log) >= 3 and not ex.core.holding
    assert all(c["rtt_s"] > 0 and abs(c["latency_s"] - 0.1) < 1e-6 for c in log)   # lockstep: exactly 0.1 s
    later = [c["rtc"] for c in log[1:]]
    assert all(r is not None for r in later)           # each request carried the executing prefix
    # the frozen prefix covers the delay the loop measured, network included (>= 0.1 s of 0.02 s steps)
    assert all(r["frozen"] >= math.ceil(0.1 / 0.02) for r in later)
    diag = [s for _, m in tap.messages["/diagnostics"] for s in m.status if s.name == "pi_vla_policy"][-1]
    values = {kv.key: kv.value for kv in diag.values}
    assert float(values["rtt_ms_p50"]) > 0 and float(values["latency_ms_p50"]) == 100
    assert run.report()["policy"]["network_rtt_ms"]["p50"] > 0          # the run report has it too

    server.stop()                                       # the server goes away mid-run
    chunks, t_down = len(pol.chunk_log), run.sim_time()
    while not ex.core.holding:
        run.spin_for(0.02)
        assert run.sim_time() < t_down + 3.0, "the executor never held"
    run.spin_for(0.5)
    assert len(pol.chunk_log) == chunks and not pol.runner.ready
    rejected = run.report()["rejected_inputs"]["pi_vla_policy"]
    assert rejected["policy_server_died"] == 1

    serve(port=port)                                    # back on the same address: the node resumes by itself
    t_back = run.sim_time()
    while len(pol.chunk_log) <= chunks or ex.core.holding:
        run.spin_for(0.02)
        assert run.sim_time() < t_back + 30.0, "never resumed"
    run.spin_for(1.0)
    assert not ex.core.holding and pol.runner.restarts == 1
    assert run.report()["policy"]["restarts"] == 1
    for topic, received in tap.messages.items():
        if topic != "/diagnostics":
            assert received and all(finite_command(m) for _, m in received), topic


def test_remote_inference_reproduces_local_inference_exactly(make_graph, serve, monkeypatch):
    """Lockstep, same latency, same seed: the chunks through the network are the local ones, bit for bit (float32
    arrays cross msgpack unchanged; the RTC prefix reaches the server's policy; episodes re-seed its noise).
    """
    def chunks(**policy_params):
        run = make_graph("bimanual", overrides={"pi_vla_policy": {"simulated_latency_s": 0.1} | policy_params})
        tap = Tap(run, {"/pi_vla/action_chunk": msgs.JointTrajectory})
        run.spin_until(2.0)
        run.reset_episode(7)
        run.spin_for(2.0)
        return [np.array([p.positions for p in m.points]) for _, m in tap.messages["/pi_vla/action_chunk"]]

    local = chunks()
    monkeypatch.setenv("PI_VLA_API_KEY", KEY)
    remote = chunks(inference_mode="remote", remote_url=serve().url, remote_lockstep=True)
    assert len(local) >= 6 and len(remote) == len(local)
    assert all(np.array_equal(a, b) for a, b in zip(local, remote))
