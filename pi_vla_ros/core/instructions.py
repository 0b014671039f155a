"""Verbal instructions: typed or spoken text -> a queue of subtasks -> the current language conditioning.

A multi-step instruction ("pick up the red cube; put it in the bowl") becomes a queue; "next"
advances it. The current subtask is what the policy is conditioned on. Spoken input plugs in through
:class:`SpeechBackend`; typed input goes through the same :meth:`SubtaskQueue.handle`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Protocol

# Separators a person naturally uses between steps.
_SPLIT = re.compile(r"\s*(?:;|\n|,?\s+then\s+|,?\s+and then\s+)\s*", re.IGNORECASE)
MAX_INSTRUCTION_CHARS = 500


def split_subtasks(text: str) -> list[str]:
    parts = (re.sub(r"^(?:and\s+)?then\s+", "", p.strip(" ."), flags=re.IGNORECASE) for p in _SPLIT.split(text.strip()))
    return [p for p in parts if p]


@dataclass
class SubtaskQueue:
    subtasks: list[str] = field(default_factory=list)
    index: int = 0
    task: str = ""   # the whole instruction as given

    @property
    def current(self) -> str:
        """The language conditioning now: the current subtask, or '' when there is none."""
        return self.subtasks[self.index] if self.index < len(self.subtasks) else ""

    @property
    def remaining(self) -> list[str]:
        return self.subtasks[self.index + 1:]

    def handle(self, text: str) -> str:
        """Apply one typed/spoken line. Returns a one-line description of what happened.

        Commands: ``next``/``skip``/``done`` advance, ``stop``/``clear`` empty the queue, ``status``
        reports. Anything else is a new instruction replacing the queue.
        """
        line = text.strip()
        if not line:
            raise ValueError("empty instruction")
        if len(line) > MAX_INSTRUCTION_CHARS:
            raise ValueError(f"instruction longer than {MAX_INSTRUCTION_CHARS} characters")
        word = line.lower().rstrip(".!")
        if word in ("next", "skip", "done"):
            if self.index < len(self.subtasks):
                self.index += 1
            return f"now: {self.current!r}" if self.current else "all subtasks done"
        if word in ("stop", "clear"):
            self.subtasks, self.index, self.task = [], 0, ""
            return "cleared"
        if word == "status":
            return f"task {self.task!r}; now {self.current!r}; then {self.remaining}"
        self.task = line
        self.subtasks = split_subtasks(line)
        self.index = 0
        return f"new task with {len(self.subtasks)} subtask(s); now: {self.current!r}"


class SpeechBackend(Protocol):
    """Speech recognition plugs in here: yield one recognized utterance at a time."""

    def utterances(self) -> Iterator[str]: ...


SPEECH_BACKENDS: dict[str, type] = {}


def register_speech_backend(name: str):
    def deco(cls):
        SPEECH_BACKENDS[name] = cls
        return cls
    return deco
