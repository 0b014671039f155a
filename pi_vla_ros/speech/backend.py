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

"""The ``pocketsphinx`` speech backend: an audio source and a :class:`Recognizer`, as the instruction node uses them.

``PocketSphinxBackend(profile=..., source="mic", ...)`` builds the recognizer on the profile's vocabulary
(:func:`~pi_vla_ros.speech.vocabulary.profile_vocabulary`). ``source`` is ``"mic"`` (a live microphone,
``device`` selects it), a WAV file path (replayed at the microphone's pace when ``realtime``), or ``"feed"``
(no source of its own: audio is pushed with :meth:`feed`, e.g. from a ROS audio topic). :meth:`utterances`
yields every :class:`~pi_vla_ros.speech.recognizer.Utterance` the source's audio holds, accepted and rejected;
callers act on ``accepted`` ones only. With ``push_to_talk``, :meth:`set_talking` (the button) delimits the
utterances instead of the voice-activity detector. The microphone is opened in the constructor, so a missing
device is one :class:`~pi_vla_ros.speech.sources.AudioDeviceError` there. ``recognizer_factory(vocabulary,
min_confidence, pronunciations)`` builds another recognizer on the same sources (``pi_vla_ros.speech.whisper``).

Thread-safety: :meth:`feed`, :meth:`set_talking` and the :meth:`utterances` loop may run on different threads;
one lock serializes them.
"""

from __future__ import annotations

import threading
from typing import Iterator

import numpy as np

from pi_vla_ros.core.instructions import register_speech_backend
from pi_vla_ros.speech.recognizer import Recognizer, Utterance
from pi_vla_ros.speech.sources import microphone_chunks, wav_chunks
from pi_vla_ros.speech.vocabulary import profile_vocabulary

# Chosen on the tuning split of benchmarks/speech_bench.py (never on its evaluation split).
DEFAULT_MIN_CONFIDENCE = 0.5


@register_speech_backend("pocketsphinx")
class PocketSphinxBackend:
    def __init__(self, profile, source: str = "mic", device=None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 push_to_talk: bool = False, realtime: bool = True, extra_phrases: tuple[str, ...] = (),
                 recognizer_factory=None):
        raw = profile if isinstance(profile, dict) else profile.raw
        make = recognizer_factory or (lambda voc, min_confidence, pronunciations: Recognizer(
            voc, min_confidence=min_confidence, pronunciations=pronunciations))
        self.recognizer = make(profile_vocabulary(raw, tuple(extra_phrases)), min_confidence,
                               raw.get("speech", {}).get("pronunciations"))
        self._lock = threading.Lock()
        if push_to_talk:
            self.recognizer.set_talking(False)
        if source == "mic":
            self._chunks = microphone_chunks(device)
        elif source == "feed":
            self._chunks = None
        else:
            self._chunks = wav_chunks(source, realtime=realtime)

    def feed(self, samples: np.ndarray) -> list[Utterance]:
        with self._lock:
            return self.recognizer.feed(samples)

    def set_talking(self, talking: bool) -> list[Utterance]:
        with self._lock:
            return self.recognizer.set_talking(talking)

    def utterances(self) -> Iterator[Utterance]:
        if self._chunks is None:
            return
        for chunk in self._chunks:
            yield from self.feed(chunk)
        with self._lock:
            yield from self.recognizer.flush()
