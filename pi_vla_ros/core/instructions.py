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

"""Verbal instructions: typed or spoken text -> a queue of subtasks -> the current language conditioning.

A multi-step instruction ("pick up the red cube; put it in the bowl") becomes a queue; "next"
advances it; "success" / "fail" are a person's marks on the current subtask (kept in ``marks``, the queue is
unchanged). The current subtask is what the policy is conditioned on. Spoken input plugs in through
:class:`SpeechBackend`; typed input goes through the same :meth:`SubtaskQueue.handle`.

Every line is checked before it can reach a policy (:func:`validate_text`); a rejected line raises
RejectedInput (a ValueError), leaves the queue as it was and is counted in ``SubtaskQueue.rejected`` by
reason: ``instruction_empty`` (blank), ``instruction_too_long`` (more than ``max_chars`` characters after
stripping, 500 by default), ``instruction_unencodable`` (not text, or not encodable as UTF-8: lone
surrogates, as a terminal with a broken locale produces), ``instruction_control_char`` (C0/C1 control
characters other than tab, CR and LF).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Iterator, Protocol

from pi_vla_ros.core.errors import RejectedInput, RejectionCounter

# Separators a person naturally uses between steps.
_SPLIT = re.compile(r"\s*(?:;|\n|,?\s+then\s+|,?\s+and then\s+)\s*", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")   # Unicode category Cc less \t \n \r
MAX_INSTRUCTION_CHARS = 500


def validate_text(text, max_chars: int = MAX_INSTRUCTION_CHARS, kind: str = "instruction") -> str:
    """`text` unchanged if a policy may be conditioned on it, else RejectedInput.

    Reasons: ``<kind>_too_long``, ``<kind>_unencodable`` or ``<kind>_control_char`` (e.g. kind="language" for
    the policy's /pi_vla/language). Empty text passes: whether that is allowed is the caller's business.
    """
    if not isinstance(text, str):
        raise RejectedInput(f"{kind}_unencodable", f"{kind} is {type(text).__name__}, not text")
    if len(text) > max_chars:  # first: a 1 MB line is not scanned any further
        raise RejectedInput(f"{kind}_too_long", f"{kind} has {len(text)} characters, more than {max_chars}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RejectedInput(f"{kind}_unencodable", f"{kind} is not valid Unicode: {exc.reason} at "
                                                   f"character {exc.start}") from None
    bad = _CONTROL.search(text)
    if bad:
        raise RejectedInput(f"{kind}_control_char", f"{kind} contains control character "
                                                    f"U+{ord(bad.group()):04X} at {bad.start()}")
    return text


def nearest_subtask(text: str, candidates: list[str]) -> str:
    """The candidate whose words are nearest the text's: the subtask it names, whatever its wording ("block" for
    "cube"). Scores a predicted subtask by meaning as well as word for word.
    """
    words = text.lower().split()
    return max(candidates, key=lambda c: SequenceMatcher(None, words, c.lower().split()).ratio())


def split_subtasks(text: str) -> list[str]:
    parts = (re.sub(r"^(?:and\s+)?then\s+", "", p.strip(" ."), flags=re.IGNORECASE) for p in _SPLIT.split(text.strip()))
    return [p for p in parts if p]


@dataclass
class SubtaskQueue:
    subtasks: list[str] = field(default_factory=list)
    index: int = 0
    task: str = ""   # the whole instruction as given
    marks: list[tuple[int, str]] = field(default_factory=list)  # (subtask index, "success" | "fail"), in order
    max_chars: int = MAX_INSTRUCTION_CHARS
    rejected: RejectionCounter = field(default_factory=RejectionCounter, repr=False, compare=False)

    @property
    def current(self) -> str:
        """The language conditioning now: the current subtask, or '' when there is none."""
        return self.subtasks[self.index] if self.index < len(self.subtasks) else ""

    @property
    def remaining(self) -> list[str]:
        return self.subtasks[self.index + 1:]

    def reset(self) -> None:
        """Empty the queue (a new episode); the rejection counts are kept."""
        self.subtasks, self.index, self.task, self.marks = [], 0, "", []

    def handle(self, text: str) -> str:
        """Apply one typed/spoken line. Returns a one-line description of what happened.

        Commands: ``next``/``skip``/``done`` advance, ``stop``/``clear`` empty the queue, ``status``
        reports, ``success`` / ``fail`` (``failure``, ``failed``) mark the current subtask (the last one once all
        are done) without changing the queue. Anything else is a new instruction replacing the queue. Bad lines
        raise RejectedInput (see the module docstring), counted in ``self.rejected``.
        """
        try:
            line = text.strip() if isinstance(text, str) else text
            if isinstance(line, str) and not line:
                raise RejectedInput("instruction_empty", "empty instruction")
            validate_text(line, self.max_chars)
        except RejectedInput as e:
            self.rejected.add(e.reason)
            raise
        word = line.lower().rstrip(".!")
        if word in ("next", "skip", "done"):
            if self.index < len(self.subtasks):
                self.index += 1
            return f"now: {self.current!r}" if self.current else "all subtasks done"
        if word in ("stop", "clear"):
            self.reset()
            return "cleared"
        if word in ("success", "fail", "failure", "failed"):
            mark = "success" if word == "success" else "fail"
            self.marks.append((min(self.index, max(len(self.subtasks) - 1, 0)), mark))
            return f"marked {mark}: {self.subtasks[self.marks[-1][0]]!r}" if self.subtasks else f"marked {mark}"
        if word == "status":
            return f"task {self.task!r}; now {self.current!r}; then {self.remaining}"
        self.task = line
        self.subtasks = split_subtasks(line)
        self.index = 0
        return f"new task with {len(self.subtasks)} subtask(s); now: {self.current!r}"


class SpeechBackend(Protocol):
    """Speech recognition plugs in here: yield one recognized utterance at a time.

    An utterance is a line of text, or an object with ``text``, ``heard``, ``confidence`` and ``reason``
    (``""`` when accepted; :class:`pi_vla_ros.speech.recognizer.Utterance`): the instruction node queues accepted
    ones and counts rejected ones by reason. The node constructs a backend with keyword arguments ``profile``,
    ``source``, ``device``, ``min_confidence`` and ``push_to_talk`` (see ``pi_vla_ros.speech.backend``).
    """

    def utterances(self) -> Iterator[str]: ...


SPEECH_BACKENDS: dict[str, type] = {}


def register_speech_backend(name: str):
    def deco(cls):
        SPEECH_BACKENDS[name] = cls
        return cls
    return deco
