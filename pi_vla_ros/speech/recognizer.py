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

"""Offline speech recognition with PocketSphinx, constrained to a :class:`~pi_vla_ros.speech.vocabulary.Vocabulary`.

Audio (16 kHz mono int16, any chunk size) goes in through :meth:`Recognizer.feed`; an :class:`Utterance` comes out
for every stretch of speech, accepted or rejected. Rejected ones must never be acted on; they say why in
``reason``.

Segmentation (:class:`Endpointer`): 30 ms frames. A frame is speech when PocketSphinx's voice-activity detector
(``pocketsphinx.Vad``, WebRTC's) says so *and* its energy is at least ``gate_db`` above the noise floor (the 10th
percentile of the last ``floor_s`` seconds of frame energies; the VAD alone calls steady room noise at a third of
the voice's level speech). Speech starts when ``start_ratio`` of the last ``window_s`` of frames are speech, and
ends when ``end_ratio`` of them are not (PocketSphinx's Endpointer rule, with separate ratios), or after
``max_utterance_s``. ``preroll_s`` of audio before the start is kept, so the first word is decoded whole.
:meth:`Recognizer.reset` starts a new stream (a new noise floor). With push-to-talk
(:meth:`Recognizer.set_talking`) the button alone delimits speech and the detector is not used.

Decoding, once per segment at its end (so the result depends on the segment alone, and cepstral mean
normalization sees all of it): one PocketSphinx decoder searches the vocabulary's JSGF grammar, one a free phone
loop (the model's ``en-us-phone.lm.bin``). The confidence is a likelihood ratio: the grammar path's score minus
the phone loop's (the best any speech could score), per 10 ms frame of speech in the grammar path, in
PocketSphinx's log units (``Utterance.ratio``), mapped into (0, 1) by a logistic with ``confidence_center`` (the
ratio at confidence 0.5) and ``confidence_scale``; words forced into the grammar score far below the phone loop.
A lone control word has its own centre, ``control_confidence_center``: a short word's ratio runs lower (fewer frames
to average; the phone loop's per-phone costs weigh more), and on the first round's tuning split every control word
misheard as another scored below -21 while half of the correct ones scored between -20 and -8. The defaults were
chosen on the tuning splits of ``pi_vla_ros/benchmarks/speech_bench.py`` only; the README's "Spoken instructions"
has their figures and what was tried and not kept. ``Utterance.reason``:

- ``""``: accepted; ``text`` is the line for the subtask queue (:meth:`Vocabulary.to_line`).
- ``speech_no_match``: the grammar search ended without a complete sentence (a partial path, or nothing).
- ``speech_low_confidence``: a complete sentence, with confidence below ``min_confidence``.
- ``speech_too_short``: under ``min_speech_s`` of speech frames in the segment (a click, a cough).

Times: ``start_s`` and ``end_s`` are stream times (samples fed / 16 kHz) of the segment's first and last speech
frame; ``decided_s`` the stream time at which the end of speech was decided (``end_s`` plus the end-of-speech
window); ``decode_s`` the wall-clock seconds from that decision to the result.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np
import pocketsphinx

from pi_vla_ros.speech.audio import SAMPLE_RATE
from pi_vla_ros.speech.vocabulary import Vocabulary

FRAME_S = 0.03
FRAME = int(SAMPLE_RATE * FRAME_S)          # 480 samples, what pocketsphinx.Vad takes at 16 kHz
FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "SIL", "+SPN+", "+NSN+"}
# The grammar search's beams, wider than PocketSphinx's defaults (1e-48, 7e-29, 1e-48): with those, a voice far from
# the US-English model (RP above all) had every path to the grammar's end pruned, and the segment was rejected with
# no words at all. On the third round's tuning clips (tune, eval, eval2): instructions 272 -> 282 of 293 heard
# exactly. The phone loop keeps the defaults (not tried wider). Wider still (1e-120, 1e-100, 1e-120) was no better
# (441 instead of 443 of 500 right) and slower.
GRAMMAR_BEAMS = dict(beam=1e-80, wbeam=1e-60, pbeam=1e-80)
# Pronunciations added beside the dictionary's American ones, for words of the vocabulary only. "The bowl" was heard
# as "the green bowl" (RP voices above all; probably the British diphthong's long glide into a dark L, which B OW L
# does not cover); a variant with that glide spelt out as a W. With it, on the same clips and
# centres: 8 instead of 17 lines accepted other than the one said, instructions 282 -> 288 of 293. British "stop"
# and "block" have a rounded short o, nearer the model's AO than the dictionary's AA: with those two variants as
# well, control words 100 -> 109 of 135 (out-of-vocabulary clips accepted 7 -> 9 of 130: "no" now heard as "stop").
ACCENT_VARIANTS = {"bowl": ("B OW W L",), "stop": ("S T AO P",), "block": ("B L AO K",)}


@dataclass(frozen=True)
class Utterance:
    text: str              # the subtask-queue line ("" when rejected)
    heard: str             # the grammar decoder's words, whatever they were
    confidence: float      # 0..1; 0 when nothing matched
    reason: str            # "" when accepted, else why not (module docstring)
    start_s: float
    end_s: float
    decided_s: float
    decode_s: float
    ratio: float = float("nan")   # the raw likelihood ratio per frame (for tuning)

    @property
    def accepted(self) -> bool:
        return not self.reason


class Endpointer:
    """Speech / non-speech segmentation of 30 ms frames. See the module docstring."""

    def __init__(self, vad_mode: int = pocketsphinx.Vad.LOOSE, window_s: float = 0.3, start_ratio: float = 0.5,
                 end_ratio: float = 1.0, gate_db: float = 5.0, floor_s: float = 5.0, max_utterance_s: float = 12.0):
        self.vad = pocketsphinx.Vad(vad_mode, SAMPLE_RATE, FRAME_S)
        assert self.vad.frame_bytes == 2 * FRAME
        self.window = max(2, round(window_s / FRAME_S))
        self.need_start = math.ceil(start_ratio * self.window)
        self.need_end = math.ceil(end_ratio * self.window)
        self.gate_db = gate_db
        self.max_frames = round(max_utterance_s / FRAME_S)
        self.energies: deque[float] = deque(maxlen=round(floor_s / FRAME_S))
        self.recent: deque[bool] = deque(maxlen=self.window)
        self.in_speech = False
        self.frames_in = 0

    def is_speech(self, frame: np.ndarray) -> bool:
        e = 10 * math.log10(max(float(np.mean(frame.astype(np.float64) ** 2)), 1.0))
        self.energies.append(e)
        floor = float(np.percentile(self.energies, 10))
        return e >= floor + self.gate_db and self.vad.is_speech(frame.tobytes())

    def update(self, frame: np.ndarray) -> str:
        """One frame -> ``"start"`` (speech began ``window`` frames ago), ``"end"``, or ``""`` (no change)."""
        self.recent.append(self.is_speech(frame))
        if not self.in_speech:
            if sum(self.recent) >= self.need_start:
                self.in_speech, self.frames_in = True, 0
                return "start"
            return ""
        self.frames_in += 1
        if len(self.recent) - sum(self.recent) >= self.need_end or self.frames_in >= self.max_frames:
            self.in_speech = False
            self.recent.clear()
            return "end"
        return ""


class _Pass:
    """One PocketSphinx decoder on one search (grammar or phone loop)."""

    def __init__(self, **config):
        self.dec = pocketsphinx.Decoder(loglevel="FATAL", **config)
        self.logmath = self.dec.get_logmath()

    def decode(self, samples: np.ndarray):
        """(hypothesis words, log score in nats, speech frames of the path) of one whole segment."""
        # The model's feat.params turns on PocketSphinx's noise removal, whose noise estimate (and the CMN
        # state) otherwise carries over from the previous segment, whatever stream or noise that was: the
        # same audio then decoded differently after different clips. start_stream() clears both (5.x calls it
        # deprecated but still does exactly that).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.dec.start_stream()
        self.dec.start_utt()
        self.dec.process_raw(samples.tobytes(), False, True)
        self.dec.end_utt()
        h = self.dec.hyp()
        if h is None:
            return "", -math.inf, 0
        frames = sum(s.end_frame - s.start_frame + 1 for s in self.dec.seg() if s.word.split("(")[0] not in FILLERS)
        return h.hypstr, math.log(max(h.score, 1e-300)), frames


class Segmenter:
    """Streaming segmentation (endpointer or push-to-talk) into utterances; ``_decode`` recognizes one segment.

    Subclasses (:class:`Recognizer`; ``pi_vla_ros.speech.whisper``) implement ``_decode(segment) -> (heard, line,
    confidence, ratio, speech_frames)`` with ``line`` None when the words are no sentence of the vocabulary.
    """

    def __init__(self, vocabulary: Vocabulary, min_confidence: float = 0.5, min_speech_s: float = 0.15,
                 preroll_s: float = 0.5, **endpointer_args):
        self.vocabulary = vocabulary
        self.min_confidence = float(min_confidence)
        self.min_speech_frames = round(min_speech_s / 0.01)
        self._endpointer_args = endpointer_args     # Endpointer's keyword arguments
        self.endpointer = Endpointer(**endpointer_args)
        self.push_to_talk = False
        self._talking = False
        self._buf = np.zeros(0, np.int16)
        self._pre: deque[np.ndarray] = deque(maxlen=round(preroll_s / FRAME_S))
        self._samples = 0                    # fed so far (stream time * SAMPLE_RATE)
        self._seg_start = 0.0
        self._active = False
        self._segment: list[np.ndarray] = []

    def reset(self) -> None:
        """A new stream: stream time back to 0, the noise floor forgotten, an open utterance dropped."""
        self.endpointer = Endpointer(**self._endpointer_args)
        self._buf = np.zeros(0, np.int16)
        self._pre.clear()
        self._samples = 0
        self._active = self._talking = False

    # ---- input --------------------------------------------------------------------------------------------
    def set_talking(self, talking: bool) -> list[Utterance]:
        """Push-to-talk: the button went down (True) or up (False). Switches the recognizer to push-to-talk
        mode (the voice-activity detector is no longer used); releasing the button ends the utterance.
        """
        self.push_to_talk = True
        out = []
        if talking and not self._talking:
            self._begin(self._samples / SAMPLE_RATE, ())
        elif not talking and self._talking and self._active:
            self._segment.append(self._buf)          # up to the release, not to the last whole frame
            self._samples += len(self._buf)
            self._buf = np.zeros(0, np.int16)
            out.append(self._finish(self._samples / SAMPLE_RATE))
        self._talking = bool(talking)
        return out

    def feed(self, samples: np.ndarray) -> list[Utterance]:
        """Any number of new samples (int16 at 16 kHz) -> the utterances that ended in them."""
        self._buf = np.concatenate([self._buf, np.asarray(samples, dtype=np.int16).ravel()])
        out = []
        while len(self._buf) >= FRAME:
            frame, self._buf = self._buf[:FRAME], self._buf[FRAME:]
            self._samples += FRAME
            now = self._samples / SAMPLE_RATE
            if self.push_to_talk:
                if self._active:
                    self._feed_frame(frame)
                continue
            event = self.endpointer.update(frame)
            if event == "start":
                self._begin(now - len(self._pre) * FRAME_S - FRAME_S, list(self._pre) + [frame])
            elif self._active:
                self._feed_frame(frame)
                if event == "end":
                    out.append(self._finish(now))
            self._pre.append(frame)
        return out

    def flush(self) -> list[Utterance]:
        """End of the stream: an utterance still open is decoded as it is."""
        if self._active:
            return [self._finish(self._samples / SAMPLE_RATE)]
        return []

    # ---- decoding -----------------------------------------------------------------------------------------
    def _begin(self, start_s: float, frames) -> None:
        self._active, self._seg_start = True, max(0.0, start_s)
        self._segment = list(frames)

    def _feed_frame(self, frame: np.ndarray) -> None:
        self._segment.append(frame)

    def _finish(self, decided_s: float) -> Utterance:
        t0 = time.perf_counter()
        self._active = False
        segment = np.concatenate(self._segment) if self._segment else np.zeros(FRAME, np.int16)
        self._segment = []
        heard, line, conf, ratio, frames = self._decode(segment)
        tail = 0.0 if self.push_to_talk else self.endpointer.window * FRAME_S
        end_s = max(self._seg_start, decided_s - tail)
        if frames < self.min_speech_frames and line is not None:
            reason = "speech_too_short"
        elif line is None:
            reason = "speech_no_match"
        elif conf < self.min_confidence:
            reason = "speech_low_confidence"
        else:
            reason = ""
        return Utterance(line if not reason else "", heard, conf, reason, self._seg_start, end_s, decided_s,
                         time.perf_counter() - t0, ratio)


class Recognizer(Segmenter):
    """PocketSphinx recognition of a vocabulary's sentences, on :class:`Segmenter`'s segments. See the module
    docstring.
    """

    def __init__(self, vocabulary: Vocabulary, min_confidence: float = 0.5, confidence_center: float = -6.0,
                 control_confidence_center: float = -20.0, confidence_scale: float = 4.0, min_speech_s: float = 0.15,
                 preroll_s: float = 0.5, pronunciations: dict | None = None, **endpointer_args):
        super().__init__(vocabulary, min_confidence, min_speech_s, preroll_s, **endpointer_args)
        self.center, self.scale = float(confidence_center), float(confidence_scale)
        self.control_center = float(control_confidence_center)
        model = pocketsphinx.get_model_path("en-us")
        self.grammar = _Pass(lm=None, jsgf=None, bestpath=False, **GRAMMAR_BEAMS)
        for word, phones in (pronunciations or {}).items():
            self.grammar.dec.add_word(word, phones, False)
        for word, variants in ACCENT_VARIANTS.items():
            if word in vocabulary.words and self.grammar.dec.lookup_word(word) is not None:
                for phones in variants:
                    self._add_variant(word, phones)
        missing = sorted(w for w in vocabulary.words if self.grammar.dec.lookup_word(w) is None)
        if missing:
            raise ValueError(f"no pronunciation for {missing}: add them to the profile's speech: pronunciations "
                             f"(ARPABET phones, e.g. {{word: 'W ER D'}})")
        self.grammar.dec.add_jsgf_string("vocabulary", vocabulary.jsgf())
        self.grammar.dec.activate_search("vocabulary")
        self.phones = _Pass(lm=None, allphone=f"{model}/en-us-phone.lm.bin", bestpath=False)

    def _add_variant(self, word: str, phones: str) -> None:
        """One more pronunciation of ``word``, as the dictionary's next free ``word(N)`` (the grammar search tries
        every one).
        """
        n = 2
        while (known := self.grammar.dec.lookup_word(f"{word}({n})")) is not None:
            if known == phones:
                return
            n += 1
        self.grammar.dec.add_word(f"{word}({n})", phones, False)

    def _decode(self, segment: np.ndarray):
        heard, g_score, frames = self.grammar.decode(segment)
        _, p_score, _ = self.phones.decode(segment)
        line = self.vocabulary.to_line(heard) if heard else None
        # Per 10 ms frame of speech, in PocketSphinx's own log units (log base 1.0001).
        ratio = (g_score - p_score) / frames / math.log(1.0001) if frames else -math.inf
        center = self.control_center if line in self.vocabulary.control else self.center
        conf = 0.0 if line is None else 1.0 / (1.0 + math.exp(-(ratio - center) / self.scale))
        return heard, line, conf, ratio, frames
