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

"""The ``whisper`` speech backend: a user's own local Whisper checkpoint behind the same interface as PocketSphinx.

Nothing ships or downloads: ``model`` is the path of a Hugging Face Whisper checkpoint directory the user already
has (``config.json``, weights, and the processor's tokenizer / feature-extractor files), loaded with
``local_files_only=True`` through transformers' ``WhisperForConditionalGeneration`` and ``WhisperProcessor``.

Segmentation, push-to-talk and the reasons are :class:`~pi_vla_ros.speech.recognizer.Segmenter`'s. Each segment
is transcribed greedily (English, transcribe, when the checkpoint knows languages); the transcript must be a
sentence of the same :class:`~pi_vla_ros.speech.vocabulary.Vocabulary` as PocketSphinx's (``speech_no_match``
otherwise), so a free-running model cannot put unvetted words in the queue. The confidence is the geometric mean
of the generated tokens' probabilities (``exp`` of the mean log-probability); ``Utterance.ratio`` holds that mean.
``speech_too_short`` counts the segment's length, as Whisper has no word alignment here.
"""

from __future__ import annotations

import math

import numpy as np

from pi_vla_ros.core.instructions import register_speech_backend
from pi_vla_ros.speech.audio import SAMPLE_RATE
from pi_vla_ros.speech.backend import PocketSphinxBackend
from pi_vla_ros.speech.recognizer import Segmenter
from pi_vla_ros.speech.vocabulary import Vocabulary


class WhisperRecognizer(Segmenter):
    def __init__(self, vocabulary: Vocabulary, model: str, min_confidence: float = 0.5, max_new_tokens: int = 64,
                 device: str = "cpu", **segmenter_args):
        super().__init__(vocabulary, min_confidence, **segmenter_args)
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.torch = torch
        self.processor = WhisperProcessor.from_pretrained(model, local_files_only=True)
        self.model = WhisperForConditionalGeneration.from_pretrained(model, local_files_only=True).to(device).eval()
        self.device = device
        # The decoder's positions hold the start tokens and the transcript: at most what is left of them.
        self.max_new_tokens = min(int(max_new_tokens), self.model.config.max_target_positions - 4)
        # Checkpoints trained on many languages know their language and task tokens; a bare one does not.
        self._lang = dict(language="en", task="transcribe") if getattr(
            self.model.generation_config, "lang_to_id", None) else {}

    def _decode(self, segment: np.ndarray):
        x = segment.astype(np.float32) / 32768.0
        feats = self.processor(x, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features.to(self.device)
        with self.torch.inference_mode():
            out = self.model.generate(feats, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      return_dict_in_generate=True, output_scores=True, **self._lang)
            logp = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
        heard = self.processor.batch_decode(out.sequences, skip_special_tokens=True)[0].strip()
        mean = float(logp.mean()) if logp.numel() else -math.inf
        line = self.vocabulary.to_line(heard) if heard else None
        conf = math.exp(mean) if line is not None and math.isfinite(mean) else 0.0
        return heard, line, conf, mean, round(len(segment) / SAMPLE_RATE * 100)


@register_speech_backend("whisper")
class WhisperBackend(PocketSphinxBackend):
    """:class:`PocketSphinxBackend`'s sources and threading with :class:`WhisperRecognizer`; ``model`` is required."""

    def __init__(self, profile, model: str = "", **options):
        if not model:
            raise ValueError("the whisper speech backend needs speech_model:=<path of a local Whisper checkpoint>")
        super().__init__(profile, recognizer_factory=lambda voc, min_confidence, pronunciations: WhisperRecognizer(
            voc, model, min_confidence), **options)
