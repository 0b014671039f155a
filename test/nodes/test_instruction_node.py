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
import json
import sys
import time

import numpy as np
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

        def __init__(self, **options):        # the node passes profile, source, device, min_confidence, ...
            assert options["source"] == "mic" and options["min_confidence"] == 0.5

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


def _speech(text, voice="en-us", wpm=160, seed=0):
    from pi_vla_ros.speech import audio, synth

    clip = np.concatenate([audio.silence(0.6), synth.synthesize(text, voice, wpm), audio.silence(0.9)])
    return audio.add_noise(clip, 20.0, np.random.default_rng(seed), "pink")


def _say(listener, spin, pub, clip, until):
    """Publish ``clip`` on the audio topic in 0.1 s messages (as an audio driver would), spinning between them."""
    for i in range(0, len(clip), 1600):
        pub.publish(msgs.Int16MultiArray(data=clip[i:i + 1600].tolist()))
        spin(0.01)
    spin(30.0, until)


def test_typed_topic_and_spoken_lines_share_one_queue(graph):
    from pi_vla_ros.speech import synth

    if not synth.available():
        pytest.skip("espeak-ng is not installed (scripts/ci_deps.sh installs it)")
    node, listener, heard, spin = graph(speech_backend="pocketsphinx", speech_input="topic", profile="bimanual",
                                        initial_instruction="put the red cube in the bowl; put the blue cube in the "
                                                            "bowl")
    typed = listener.create_publisher(msgs.String, "/pi_vla/instruction", 10)
    mic = listener.create_publisher(msgs.Int16MultiArray, "/pi_vla/audio", 10)
    records = []
    listener.create_subscription(msgs.String, "/pi_vla/speech", lambda m: records.append(json.loads(m.data)), 10)
    spin(5.0, lambda: heard)
    assert heard == ["put the red cube in the bowl"]
    typed.publish(msgs.String(data="next"))                                  # typed advances the same queue
    spin(5.0, lambda: len(heard) == 2)
    assert heard[-1] == "put the blue cube in the bowl"
    _say(listener, spin, mic, _speech("clear"), lambda: len(heard) == 3)     # spoken empties it
    assert heard[-1] == "" and node.queue.subtasks == []
    _say(listener, spin, mic, _speech("drop the blue block in the green bowl then move the red cube to the bowl",
                                      "en-gb", 170), lambda: len(heard) == 4)
    assert heard[-1] == "drop the blue block in the green bowl"
    assert node.queue.remaining == ["move the red cube to the bowl"]
    typed.publish(msgs.String(data="next"))
    spin(5.0, lambda: len(heard) == 5)
    assert heard[-1] == "move the red cube to the bowl"
    spin(5.0, lambda: len(records) == 2)
    assert [r["text"] for r in records] == ["clear", "drop the blue block in the green bowl; move the red cube to "
                                                     "the bowl"]
    assert all(r["reason"] == "" and 0.5 <= r["confidence"] <= 1.0 and r["start"] < r["end"] < r["decided"]
               for r in records)


def test_unrecognized_speech_is_published_counted_and_not_acted_on(graph):
    from pi_vla_ros.speech import audio, synth

    if not synth.available():
        pytest.skip("espeak-ng is not installed (scripts/ci_deps.sh installs it)")
    node, listener, heard, spin = graph(speech_backend="pocketsphinx", speech_input="topic", profile="ur5e",
                                        initial_instruction="put the red cube in the bowl")
    mic = listener.create_publisher(msgs.Int16MultiArray, "/pi_vla/audio", 10)
    records = []
    listener.create_subscription(msgs.String, "/pi_vla/speech", lambda m: records.append(json.loads(m.data)), 10)
    spin(5.0, lambda: heard)
    _say(listener, spin, mic, _speech("what time is it now", "en-gb"), lambda: records)
    _say(listener, spin, mic, audio.noise(4.0, 800.0, np.random.default_rng(2)), lambda: False)
    assert records and all(r["reason"] and not r["text"] for r in records)
    assert sum(node.rejections.counter.as_dict().values()) == len(records)
    assert heard == ["put the red cube in the bowl"] and node.queue.current == "put the red cube in the bowl"


def test_microphone_without_a_device_is_one_clear_error(graph, monkeypatch):
    from pi_vla_ros.speech.sources import AudioDeviceError

    monkeypatch.setitem(sys.modules, "sounddevice", None)     # as on a machine without the package
    with pytest.raises(AudioDeviceError, match="no microphone input"):
        graph(speech_backend="pocketsphinx", speech_input="mic")
