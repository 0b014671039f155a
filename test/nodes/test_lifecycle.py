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

"""Managed nodes: nothing moves before activation, deactivation holds safely, configure loads the model."""

import numpy as np

from pi_vla_ros.ros import TransitionCallbackReturn
from test.nodes.conftest import Tap, controller_topics

SUCCESS = TransitionCallbackReturn.SUCCESS


def test_executor_commands_only_while_active(make_graph):
    run = make_graph("ur5e", overrides={"pi_vla_executor": {"autostart": False}})
    tap = Tap(run, controller_topics(run))
    ex = run.node("pi_vla_executor")
    run.spin_until(1.0)
    assert not any(tap.messages.values()) and ex.core is None          # unconfigured: no publisher, no command
    assert ex.trigger_configure() == SUCCESS
    run.spin_for(0.5)
    assert not any(tap.messages.values())                               # configured but inactive: still nothing
    assert ex.trigger_activate() == SUCCESS
    run.spin_for(1.0)
    counts = {t: len(m) for t, m in tap.messages.items()}
    assert all(n >= 45 for n in counts.values()), counts                 # ~50 Hz once active
    assert ex.trigger_deactivate() == SUCCESS                           # one hold command, then silence
    run.drain()
    held = {t: len(m) for t, m in tap.messages.items()}
    assert all(held[t] == counts[t] + 1 for t in held), (counts, held)
    last = tap.messages["/scaled_joint_trajectory_controller/joint_trajectory"][-1][1]
    assert np.all(np.isfinite(last.points[0].positions))
    run.spin_for(1.0)
    assert {t: len(m) for t, m in tap.messages.items()} == held
    assert ex.trigger_activate() == SUCCESS                             # and back
    run.spin_for(0.5)
    assert all(len(m) > held[t] for t, m in tap.messages.items())


def test_policy_loads_on_configure_and_stops_requesting_when_inactive(make_graph):
    run = make_graph("ur5e", overrides={"pi_vla_policy": {"autostart": False}})
    policy = run.node("pi_vla_policy")
    assert policy.runner is None                                        # nothing loaded before configure
    run.spin_until(0.5)
    assert policy.trigger_configure() == SUCCESS and policy.runner is not None
    assert policy.trigger_activate() == SUCCESS
    run.spin_for(2.0)
    n = len(policy.chunk_log)
    assert n >= 2
    assert policy.trigger_deactivate() == SUCCESS
    run.spin_for(2.0)
    assert len(policy.chunk_log) == n                                   # inactive: no new chunk
    assert run.node("pi_vla_executor").core.holding                     # and the executor's watchdog holds
    assert policy.trigger_cleanup() == SUCCESS and policy.runner is None


def test_configure_failure_is_one_clear_error(make_graph):
    import pytest

    with pytest.raises(RuntimeError, match="could not be configured"):
        make_graph("ur5e", overrides={"pi_vla_policy": {"checkpoint": "/nonexistent/ckpt"}})
