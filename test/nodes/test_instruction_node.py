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

"""The verbal-instruction node: typed lines (topic, terminal) and speech -> /pi_vla/language."""

import io
import time

import pytest

from pi_vla_ros.core.instructions import SPEECH_BACKENDS, register_speech_backend
from pi_vla_ros.nodes.common import LATCHED_QOS
from pi_vla_ros.nodes.instruction_node import InstructionNode
from pi_vla_ros.ros import Node, Parameter, SingleThreadedExecutor, msgs
from pi_vla_ros.runner import isolated_context


@pytest.fixture
def graph():
    context = isolated_context()
    nodes = []

    def make(**params):
        node = InstructionNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        listener = Node("listener", context=context)
        heard = []
        # a late, transient-local subscriber still gets the current conditioning
        listener.create_subscription(msgs.String, "/pi_vla/language", lambda m: heard.append(m.data), LATCHED_QOS)
        ex = SingleThreadedExecutor(context=context)
        ex.add_node(node)
        ex.add_node(listener)
        nodes.extend([node, listener])

        def spin(seconds, until=lambda: False):
            """Wall clock (terminal and speech input arrive from threads; a late-joining transient-local
            subscription gets the stored sample through DDS's own threads), at most ``seconds``.
            """
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not until():
                ex.spin_once(timeout_sec=0.01)
        return node, listener, heard, spin

    yield make
    for n in nodes:
        n.destroy_node()
    context.try_shutdown()


def test_topic_lines_become_subtasks(graph):
    node, listener, heard, spin = graph(initial_instruction="pick up the red cube; put it in the bowl")
    pub = listener.create_publisher(msgs.String, "/pi_vla/instruction", 10)
    spin(5.0, lambda: heard)
    assert heard == ["pick up the red cube"]
    pub.publish(msgs.String(data="next"))
    spin(5.0, lambda: len(heard) == 2)
    pub.publish(msgs.String(data="next"))
    spin(5.0, lambda: len(heard) == 3)
    assert heard == ["pick up the red cube", "put it in the bowl", ""]
    pub.publish(msgs.String(data="   "))                       # rejected, counted, nothing published
    spin(0.05)
    assert node.rejections.counter.as_dict() == {"instruction_empty": 1} and heard[-1] == ""


def test_terminal_prompt(graph, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("wave; bow\nnext\n"))
    node, _, heard, spin = graph(interactive=True)
    spin(5.0, lambda: heard and heard[-1] == "bow")
    assert heard[-1] == "bow"


def test_speech_backend_plugs_in(graph):
    @register_speech_backend("canned")
    class Canned:

        def utterances(self):
            yield "open the drawer then close it"

    try:
        node, _, heard, spin = graph(speech_backend="canned")
        spin(5.0, lambda: heard)
        assert heard[-1] == "open the drawer" and node.queue.remaining == ["close it"]
    finally:
        SPEECH_BACKENDS.pop("canned")
    with pytest.raises(ValueError, match="unknown speech backend"):
        graph(speech_backend="nope")


def test_bad_lines_are_rejected_counted_and_harmless(graph):
    node, listener, heard, spin = graph(initial_instruction="pick up the red cube", max_instruction_chars=100)
    pub = listener.create_publisher(msgs.String, "/pi_vla/instruction", 10)
    spin(5.0, lambda: heard)
    for text in ("x" * 101, "stop\x07now", "x" * 101):
        pub.publish(msgs.String(data=text))
        spin(0.05)
    node.submit_line("wave \udcff hello", "terminal")    # undecodable terminal bytes (surrogateescape) never
    spin(5.0, lambda: node.rejections.counter.total() == 4)   # reach a topic: UTF-8 cannot even encode them
    assert node.rejections.counter.as_dict() == {"instruction_control_char": 1, "instruction_too_long": 2,
                                                 "instruction_unencodable": 1}
    assert heard == ["pick up the red cube"]            # nothing of it reached the policy's language
