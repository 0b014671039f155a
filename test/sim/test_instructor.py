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

"""The scripted instructor: what a person says during VI collection, and when."""

import numpy as np
import pytest

from pi_vla_ros.sim.expert import Announcement
from pi_vla_ros.sim.instructor import ScriptedInstructor
from pi_vla_ros.sim.simulator import Simulator


@pytest.fixture(scope="module")
def task():
    sim = Simulator("ur5e", task="pick_place_sequence")
    sim.reset(0)
    return sim.task


def run(instructor, task, until, done_at=(), dt=0.02):
    """Poll every tick; subtask k is done at done_at[k] (as the simulator would detect it)."""
    task.subtask_done_at = [None] * len(task.subtasks)
    heard = []
    for i in range(round(until / dt) + 1):
        t = i * dt
        for k, d in enumerate(done_at):
            if d is not None and t >= d and task.subtask_done_at[k] is None:
                task.subtask_done_at[k] = t
        heard += instructor.poll(t)
    return heard


def test_steps_one_subtask_at_a_time_after_each_is_seen_done(task):
    ins = ScriptedInstructor(task, style="steps", reaction_s=(0.5, 0.5))
    ins.reset(0.0, np.random.default_rng(0))
    lines = run(ins, task, 20.0, done_at=(6.0, 13.0))
    assert [(line.kind, line.subtask) for line in lines] == [("subtask", 0), ("subtask", 1), ("success", 1)]
    assert [line.text for line in lines[:2]] == [s.text for s in task.subtasks]
    assert 0.2 <= lines[0].t <= 0.6
    assert lines[1].t == pytest.approx(6.5) and lines[2].t == pytest.approx(13.5)
    assert ins.finished and ins.log == lines


def test_queue_gives_the_whole_task_then_next(task):
    ins = ScriptedInstructor(task, style="queue")
    ins.reset(2.0, np.random.default_rng(1))
    lines = run(ins, task, 20.0, done_at=(6.0, 13.0))
    assert [line.text for line in lines] == [task.instruction, "next", "success"]
    assert lines[0].t >= 2.2 and 6.3 <= lines[1].t <= 6.8 + 1e-9


def test_a_subtask_late_past_the_announced_release_is_failed(task):
    ins = ScriptedInstructor(task, style="steps", grace_s=2.0)
    ins.reset(0.0, np.random.default_rng(2))
    ins.hear(Announcement(0, task.subtasks[0].text, task.subtasks[0].obj, "arm", 0.5, 6.0, 8.0))
    lines = run(ins, task, 20.0, done_at=())
    assert [line.kind for line in lines] == ["subtask", "fail"] and lines[1].t == pytest.approx(8.0)
    assert ins.finished


def test_without_a_plan_the_deadline_is_the_subtasks_share_of_the_time_limit(task):
    ins = ScriptedInstructor(task, style="steps")
    ins.reset(0.0, np.random.default_rng(3))
    lines = run(ins, task, 30.0, done_at=(5.0,))
    share = task.time_limit_s / 2
    assert [line.kind for line in lines] == ["subtask", "subtask", "fail"]
    assert lines[2].t == pytest.approx(lines[1].t + share, abs=0.021)


def test_the_same_seed_gives_the_same_script(task):
    a, b = (ScriptedInstructor(task) for _ in range(2))
    a.reset(0.0, np.random.default_rng(7))
    b.reset(0.0, np.random.default_rng(7))
    assert run(a, task, 20.0, done_at=(6.0, 13.0)) == run(b, task, 20.0, done_at=(6.0, 13.0))
    with pytest.raises(ValueError, match="unknown instructor style"):
        ScriptedInstructor(task, style="shout")


def test_room_audio_places_each_line_when_it_is_said():
    from pi_vla_ros.sim.instructor import RoomAudio
    from pi_vla_ros.speech import synth

    if not synth.available():
        pytest.skip("espeak-ng is not installed (scripts/ci_deps.sh installs it)")
    room = RoomAudio(noise_rms=(200.0, 200.0))
    room.reset(10.0, np.random.default_rng(4))
    start, end = room.say(10.5, "put the red cube in the bowl")
    assert 10.5 <= start < 10.7 and start + 1.0 < end < start + 3.5
    pieces = [room.read(10.0 + 0.02 * k) for k in range(1, 251)]       # 5 s, one tick at a time
    audio = np.concatenate(pieces).astype(float)
    assert len(audio) == 5 * room.rate and all(len(p) == 320 for p in pieces)
    rms = lambda a, b: np.sqrt(np.mean(audio[round((a - 10) * room.rate):round((b - 10) * room.rate)] ** 2))  # noqa
    assert rms(10.0, 10.4) == pytest.approx(200, rel=0.1)               # the room before the words
    assert rms(start, end) > 5 * 200 and rms(end + 0.2, 15.0) == pytest.approx(200, rel=0.1)
    again = RoomAudio(noise_rms=(200.0, 200.0))
    again.reset(10.0, np.random.default_rng(4))
    assert again.say(10.5, "put the red cube in the bowl") == (start, end)
    # the same episode heard in other pieces is the same audio (the noise is drawn as the samples are read)
    np.testing.assert_array_equal(np.concatenate([again.read(10.0 + 0.05 * k) for k in range(1, 101)]),
                                  audio.astype(np.int16))


def test_a_line_not_heard_is_said_again_at_most_twice(task):
    ins = ScriptedInstructor(task, style="steps", reaction_s=(0.5, 0.5), repeats=2)
    ins.reset(0.0, np.random.default_rng(5))
    task.subtask_done_at = [None, None]
    first = []
    t = 0.0
    while not first:
        first = ins.poll(t)
        t += 0.02
    assert ins.not_heard(first[0], 2.0) and ins.repeating
    assert ins.poll(2.48) == [] and ins.poll(2.5)[0].text == first[0].text and not ins.repeating
    assert ins.not_heard(first[0], 4.0) and ins.poll(4.5)[0].text == first[0].text
    assert not ins.not_heard(first[0], 6.0) and not ins.repeating      # twice is enough
    assert [line.text for line in ins.log] == [first[0].text] * 3 and ins.given_at[0] == pytest.approx(4.5)


def test_a_next_not_heard_becomes_the_next_subtasks_sentence(task):
    ins = ScriptedInstructor(task, style="queue", reaction_s=(0.5, 0.5))
    ins.reset(0.0, np.random.default_rng(6))
    lines = run(ins, task, 8.0, done_at=(6.0,))
    assert [line.kind for line in lines] == ["task", "next"]
    assert ins.not_heard(lines[1], 7.5)
    again = ins.poll(8.0)
    assert [(line.kind, line.text, line.subtask) for line in again] == [("subtask", task.subtasks[1].text, 1)]


def test_lines_are_spoken_without_a_pause_between_their_steps():
    from pi_vla_ros.sim.instructor import speakable

    assert speakable("put the red cube in the bowl; then move the blue block to the bowl") == \
        "put the red cube in the bowl then move the blue block to the bowl"
    assert speakable("a b, then c d") == speakable("a b; c d") == "a b then c d"
    assert speakable("pick up the red cube and put it in the bowl and then x") == \
        "pick up the red cube and put it in the bowl and then x"
