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

"""What the robot can be told by voice: the instructions of a profile's tasks plus the control words.

A :class:`Vocabulary` holds ``instructions`` (full single-step sentences, lower case, words only) and ``control``
words. A recognizer constrained to it can hear exactly:

- one control word: ``next``, ``stop``, ``clear``, ``status``, ``success``, ``fail`` (:data:`CONTROL_WORDS`), or
- one instruction, or several joined by ``then`` (as a person says a multi-step task). The grammar has no
  ``and then`` and no joiner-less sequence: PocketSphinx's grammar search matched the trailing noise of an
  instruction to an optional "and" and then returned that unfinished path; said aloud, "a and then b" and
  "a; b" (a pause) are heard as "a then b".

:meth:`Vocabulary.jsgf` writes that as a JSGF grammar; :meth:`Vocabulary.to_line` turns a recognized word string
back into the line the subtask queue takes (instructions joined by ``"; "``, so
:func:`pi_vla_ros.core.instructions.split_subtasks` splits them exactly where they were said), or ``None`` when
the words are not a complete sentence of the vocabulary (a decoder's partial path).

:func:`profile_vocabulary` builds one from a robot profile: every sentence its simulated task can produce
(``task:`` section; the phrasings, colours, nouns and bowl of :mod:`pi_vla_ros.sim.tasks`) plus the profile's
own ``speech: {phrases: [...]}`` (what a person says to the real robot, e.g. "pick up the plate").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

CONTROL_WORDS = ("next", "stop", "clear", "status", "success", "fail")
JOINERS = (("then",), ("and", "then"))
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def words(text: str) -> tuple[str, ...]:
    """Lower-case words of ``text`` (punctuation, which nobody says, dropped)."""
    return tuple(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class Vocabulary:
    instructions: tuple[str, ...]
    control: tuple[str, ...] = CONTROL_WORDS

    def __post_init__(self):
        norm = tuple(sorted({" ".join(words(s)) for s in self.instructions} - {""}))
        if not norm:
            raise ValueError("a vocabulary needs at least one instruction")
        clash = set(norm) & set(self.control)
        if clash:
            raise ValueError(f"instructions that are control words: {sorted(clash)}")
        object.__setattr__(self, "instructions", norm)

    @property
    def words(self) -> set[str]:
        """Every word the grammar uses (each must have a pronunciation)."""
        return {w for s in self.instructions + self.control for w in s.split()} | {"and", "then"}

    def jsgf(self, name: str = "robot") -> str:
        """The grammar (JSGF 1.0, public rule ``<utterance>``). See the module docstring."""
        instr = " | ".join(self.instructions)
        ctrl = " | ".join(self.control)
        return (f"#JSGF V1.0;\ngrammar {name};\n"
                f"<instruction> = {instr};\n"
                f"public <utterance> = ({ctrl}) | <instruction> ( then <instruction> )*;\n")

    def to_line(self, heard: str) -> str | None:
        """A recognized word string -> the subtask-queue line, or None when it is no complete sentence."""
        toks = words(heard)
        if len(toks) == 1 and toks[0] in self.control:
            return toks[0]
        parts = _split(toks, _sentences(self.instructions))
        return "; ".join(" ".join(p) for p in parts) if parts else None


@lru_cache(maxsize=8)
def _sentences(instructions: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(s.split()) for s in instructions)


def _split(toks: tuple[str, ...], sentences: frozenset) -> list[tuple[str, ...]] | None:
    """``toks`` as instruction (joiner instruction)*, or None. Shortest-first search; the grammar is unambiguous
    enough (joiners are not inside sentences) that the first full parse is the one the decoder took.
    """
    if not toks:
        return None
    for n in range(1, len(toks) + 1):
        head, rest = toks[:n], toks[n:]
        if head not in sentences:
            continue
        if not rest:
            return [head]
        for j in ((),) + JOINERS:
            if rest[:len(j)] == j and len(rest) > len(j):
                tail = _split(rest[len(j):], sentences)
                if tail:
                    return [head] + tail
    return None


def task_instructions(task_cfg: dict) -> list[str]:
    """Every single-step sentence the simulated task configured by ``task_cfg`` (a profile's ``task:``) says."""
    from pi_vla_ros.sim import tasks   # the simulator's phrasings are the source of truth (imported only here)

    colours = sorted({o["color"] for o in task_cfg.get("objects", ())})
    bowl = task_cfg.get("target", {}).get("color", "green")
    return [p.format(obj=f"{c} {n}", target=t)
            for p, c, n, t in itertools.product(tasks.PHRASINGS, colours, tasks.OBJECT_NOUNS, ("bowl", f"{bowl} bowl"))]


def profile_vocabulary(profile, extra: tuple[str, ...] = ()) -> Vocabulary:
    """The vocabulary for a :class:`pi_vla_ros.profiles.RobotProfile` (or its raw YAML dict)."""
    raw = profile if isinstance(profile, dict) else profile.raw
    phrases = list(raw.get("speech", {}).get("phrases", ())) + list(extra)
    if raw.get("task"):
        phrases += task_instructions(raw["task"])
    return Vocabulary(tuple(phrases))
