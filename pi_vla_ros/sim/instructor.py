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

"""Scripted instructor: the person who gives verbal instructions while episodes are recorded in the simulator.

It watches the scene as a person would (the task's per-subtask progress, ``task.subtask_done_at``) and hears the
scripted expert's plan announcements (:class:`pi_vla_ros.sim.expert.Announcement`); from those it decides what to
say and when. Saying it is a voice's business (typed on ``/pi_vla/instruction``, or synthesized and spoken into the
speech recognizer: ``nodes/instructor_node.py``). ROS-free and deterministic: the script is drawn from the
episode's rng.

Per episode, one of two styles (drawn, or fixed by ``style``):

- ``steps``: the first subtask's sentence ``start_s`` after the episode starts; each time the current subtask is
  seen done, after a reaction time, the next subtask's sentence; after the last one, ``success``.
- ``queue``: the whole task at the start (the instruction queue splits it into its subtasks), then ``next`` at
  each boundary and ``success`` after the last.

A line the robot did not get (the recognizer rejected it, or never made out words in it) is said again, as a
person repeats themselves: :meth:`ScriptedInstructor.not_heard` schedules it a reaction time later, at most
``repeats`` times; a ``next`` not understood is said again as the next subtask's full sentence (what a person
does when a short word is not understood). A subtask not done by its deadline gets ``fail`` and the instructor
stops (``finished``). The deadline is the expert's announced release for that subtask plus ``grace_s``; without an
announcement (a policy drives), the subtask's start (when its line was last said) plus its share of the task's
time limit. Reaction times are uniform in ``reaction_s``.

``poll(t)`` returns the lines due at simulated time ``t`` (each a :class:`Line`; call it once per tick, after the
simulator stepped); ``log`` keeps every line said. Lines are spaced at least ``gap_s`` apart (a person finishes a
sentence before the next), the first at the episode's start plus ``start_s``.

:class:`RoomAudio` is the instructor's voice in the room, for the spoken path: each line synthesized by espeak-ng
(:mod:`pi_vla_ros.speech.synth`; voice and speed drawn per episode) is placed on a 16 kHz timeline from the moment
it is said, over a continuous noise floor; :meth:`RoomAudio.read` hands out the samples of a span of simulated
time, as a microphone would deliver them. ``say`` returns when the words start and end (the first and last sample
above 2% of the utterance's peak: espeak-ng's own padding is not speech), the ground truth labels are checked
against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

STYLES = ("steps", "queue")


@dataclass(frozen=True)
class Line:
    t: float          # simulated time at which the person starts saying it
    text: str
    kind: str         # "task" (every subtask in one line), "subtask", "next", "success", "fail"
    subtask: int      # the subtask it starts or marks


class ScriptedInstructor:
    def __init__(self, task, *, style: str | None = None, reaction_s: tuple[float, float] = (0.3, 0.8),
                 start_s: tuple[float, float] = (0.2, 0.6), grace_s: float = 2.0, gap_s: float = 1.0,
                 repeats: int = 2):
        if style is not None and style not in STYLES:
            raise ValueError(f"unknown instructor style {style!r}; known: {STYLES}")
        self.task = task
        self.fixed_style = style
        self.reaction_s, self.start_s, self.grace_s, self.gap_s = reaction_s, start_s, grace_s, gap_s
        self.repeats = repeats
        self.style = style or STYLES[0]
        self.log: list[Line] = []
        self.finished = True

    def reset(self, t0: float, rng: np.random.Generator) -> None:
        """A new episode that started at ``t0`` (call after the simulator's reset)."""
        self.rng = rng
        self.style = self.fixed_style or STYLES[int(rng.integers(len(STYLES)))]
        self.t0 = t0
        self.log = []
        self.finished = False
        self.expect = -1                       # the subtask last given (-1: nothing said yet)
        self.given_at: dict[int, float] = {}
        self.plans: dict[int, float] = {}      # subtask -> announced release time
        self._next_at = t0 + float(rng.uniform(*self.start_s))
        self._seen_done: float | None = None
        self._repeat: tuple[float, Line] | None = None
        self._repeated: dict[tuple[str, int], int] = {}

    @property
    def repeating(self) -> bool:
        """A line is due to be said again."""
        return self._repeat is not None

    def not_heard(self, line: Line, t: float) -> bool:
        """``line`` did not reach the robot (found out at ``t``): say it again a reaction time later, unless it was
        repeated ``repeats`` times already. Returns whether it will be.
        """
        key = (line.kind, line.subtask)
        if self._repeated.get(key, 0) >= self.repeats:
            return False
        self._repeated[key] = self._repeated.get(key, 0) + 1
        if line.kind == "next":   # say what comes next instead
            line = Line(line.t, self.task.subtasks[line.subtask].text, "subtask", line.subtask)
            self._repeated[("subtask", line.subtask)] = self._repeated[("next", line.subtask)]
        self._repeat = (t + float(self.rng.uniform(*self.reaction_s)), line)
        return True

    def hear(self, announcement) -> None:
        """The expert announced a subtask's plan: its release time bounds when the subtask should be done."""
        self.plans[announcement.subtask] = announcement.release

    def _deadline(self, k: int) -> float:
        if k in self.plans:
            return self.plans[k] + self.grace_s
        return self.given_at[k] + self.task.time_limit_s / len(self.task.subtasks)

    def _say(self, t: float, text: str, kind: str, k: int) -> list[Line]:
        line = Line(t, text, kind, k)
        self.log.append(line)
        self._next_at = t + self.gap_s
        return [line]

    def poll(self, t: float) -> list[Line]:
        if self._repeat is not None and t >= max(self._repeat[0], self._next_at) - 1e-9:
            line = self._repeat[1]
            self._repeat = None
            if line.kind in ("task", "subtask", "next"):
                self.given_at[line.subtask] = t   # the subtask's budget starts when it is understood
            return self._say(t, line.text, line.kind, line.subtask)
        if self.finished or self._repeat is not None or t < self._next_at - 1e-9:
            return []
        subtasks = self.task.subtasks
        if self.expect < 0:                    # the episode's first words
            self.expect, self.given_at[0] = 0, t
            if self.style == "queue":
                return self._say(t, self.task.instruction, "task", 0)
            return self._say(t, subtasks[0].text, "subtask", 0)
        k = self.expect
        done = self.task.subtask_done_at[k]
        if done is None:
            if t >= self._deadline(k):
                self.finished = True
                return self._say(t, "fail", "fail", k)
            return []
        if self._seen_done is None:            # a person reacts a moment after seeing it
            self._seen_done = max(t, done) + float(self.rng.uniform(*self.reaction_s))
        if t < self._seen_done - 1e-9:
            return []
        self._seen_done = None
        if k + 1 == len(subtasks):
            self.finished = True
            return self._say(t, "success", "success", k)
        self.expect, self.given_at[k + 1] = k + 1, t
        if self.style == "queue":
            return self._say(t, "next", "next", k + 1)
        return self._say(t, subtasks[k + 1].text, "subtask", k + 1)


VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m4", "en-gb-scotland")


def speakable(text: str) -> str:
    """A line as a person says it: written step separators ("; ", ", then") become a spoken "then", with no pause
    that a speech endpointer would take for the end of the utterance.
    """
    return re.sub(r"\s*[,;]\s*(?:and\s+)?(?:then\s+)?", " then ", text).strip()


class RoomAudio:
    """A person's voice plus room noise on a 16 kHz timeline in simulated time. See the module docstring.

    Lines are spoken as :func:`speakable` writes them.

    Per episode (:meth:`reset`): a voice from ``voices``, a speed (words per minute) uniform in ``speed``, a noise
    floor (white, RMS uniform in ``noise_rms``, int16 units; espeak-ng's speech is about 3000 RMS). Deterministic:
    the noise is drawn from the episode's rng as the samples are read, and reads cover time in order.
    """

    def __init__(self, voices=VOICES, speed: tuple[int, int] = (140, 185),
                 noise_rms: tuple[float, float] = (100.0, 400.0)):
        from pi_vla_ros.speech.audio import SAMPLE_RATE

        self.rate = SAMPLE_RATE
        self.voices, self.speed, self.noise_rms = tuple(voices), speed, noise_rms
        self.reset(0.0, np.random.default_rng(0))

    def reset(self, t0: float, rng: np.random.Generator) -> None:
        self.rng = rng
        self.voice = self.voices[int(rng.integers(len(self.voices)))]
        self.wpm = int(rng.integers(self.speed[0], self.speed[1] + 1))
        self.rms = float(rng.uniform(*self.noise_rms))
        self.utterances: list[tuple[int, np.ndarray]] = []   # (first sample, int16 audio)
        self._read_to = round(t0 * self.rate)

    def say(self, t: float, text: str) -> tuple[float, float]:
        """Start saying ``text`` at simulated time ``t``; returns (start, end) of the words in simulated time."""
        from pi_vla_ros.speech.synth import synthesize

        audio = synthesize(speakable(text), voice=self.voice, speed=self.wpm)
        first = max(round(t * self.rate), self._read_to)      # what is already heard cannot change
        self.utterances.append((first, audio))
        loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > 0.02 * np.abs(audio.astype(np.int32)).max())
        return float(first + loud[0]) / self.rate, float(first + loud[-1] + 1) / self.rate

    def read(self, t: float) -> np.ndarray:
        """The samples from the last read up to simulated time ``t`` (int16)."""
        end = round(t * self.rate)
        start, n = self._read_to, max(0, end - self._read_to)
        mix = self.rng.standard_normal(n) * self.rms
        for first, audio in self.utterances:
            a, b = max(start, first), min(end, first + len(audio))
            if a < b:
                mix[a - start:b - start] += audio[a - first:b - first]
        self.utterances = [(f, a) for f, a in self.utterances if f + len(a) > end]   # spoken out: forget
        self._read_to = max(end, start)
        return np.clip(np.round(mix), -32768, 32767).astype(np.int16)
