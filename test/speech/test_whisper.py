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

"""Plumbing of the whisper backend with a tiny, randomly initialised Whisper built here.

The model knows nothing: these tests check that audio reaches it segment by segment, that its transcript is held
to the vocabulary and its confidence to the threshold, and that the backend plugs into the instruction node's
interface. They say nothing about recognition, which needs a user's real checkpoint.
"""

import numpy as np
import pytest

from pi_vla_ros.core.instructions import SPEECH_BACKENDS
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.speech import audio, synth

pytestmark = pytest.mark.skipif(not synth.available(),
                                reason="espeak-ng is not installed (scripts/ci_deps.sh installs it)")


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import decoders, models, pre_tokenizers, Tokenizer

    # A byte-level tokenizer of single bytes plus Whisper's special tokens: enough to save a processor.
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))},
                               merges=[]))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>"])
    end = "<|endoftext|>"
    tokenizer = transformers.WhisperTokenizerFast(tokenizer_object=tok, unk_token=end, bos_token=end, eos_token=end,
                                                  pad_token=end)
    cfg = transformers.WhisperConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_target_positions=64,
        decoder_start_token_id=tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_whisper")
    transformers.WhisperForConditionalGeneration(cfg).save_pretrained(path)
    transformers.WhisperProcessor(feature_extractor=transformers.WhisperFeatureExtractor(feature_size=80),
                                  tokenizer=tokenizer).save_pretrained(path)
    return str(path)


def _clip():
    words = synth.synthesize("put the red cube in the bowl", "en-us", 160)
    clip = np.concatenate([audio.silence(0.6), words, audio.silence(1.0)])
    return audio.add_noise(clip, 20.0, np.random.default_rng(0))


def test_segments_reach_the_model_and_its_words_are_held_to_the_vocabulary(tiny_whisper):
    from pi_vla_ros.speech.whisper import WhisperBackend

    assert SPEECH_BACKENDS["whisper"] is WhisperBackend
    backend = WhisperBackend(load_profile("ur5e"), model=tiny_whisper, source="feed")
    heard = backend.feed(_clip()) + backend.recognizer.flush()
    assert len(heard) == 1                                   # one segment, decoded by the model
    (u,) = heard
    assert u.reason == "speech_no_match" and not u.accepted and u.text == ""   # random text is no sentence
    assert 1.5 < u.end_s - u.start_s < 3.5


def test_a_vocabulary_transcript_is_accepted_only_above_the_threshold(tiny_whisper, monkeypatch):
    from pi_vla_ros.speech.vocabulary import profile_vocabulary
    from pi_vla_ros.speech.whisper import WhisperRecognizer

    voc = profile_vocabulary(load_profile("ur5e"))
    strict = WhisperRecognizer(voc, tiny_whisper, min_confidence=0.5)
    # Stand-in for a model that transcribes: its tokens' probabilities stay the tiny model's (low).
    monkeypatch.setattr(strict.processor, "batch_decode", lambda *a, **k: [" Put the red cube in the bowl."])
    (u,) = strict.feed(_clip()) + strict.flush()
    assert u.heard == "Put the red cube in the bowl." and u.reason == "speech_low_confidence"
    assert 0.0 < u.confidence < 0.5 and u.ratio < 0
    lenient = WhisperRecognizer(voc, tiny_whisper, min_confidence=0.0)
    monkeypatch.setattr(lenient.processor, "batch_decode", lambda *a, **k: [" Put the red cube in the bowl."])
    (u,) = lenient.feed(_clip()) + lenient.flush()
    assert u.accepted and u.text == "put the red cube in the bowl"


def test_the_model_path_is_required():
    from pi_vla_ros.speech.whisper import WhisperBackend

    with pytest.raises(ValueError, match="speech_model"):
        WhisperBackend(load_profile("ur5e"), source="feed")
