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

"""The PocketSphinx recognizer on synthesized speech (espeak-ng) with noise mixed in: deterministic end to end."""

import numpy as np
import pytest

from pi_vla_ros.core.instructions import SubtaskQueue
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.speech import audio, synth
from pi_vla_ros.speech.recognizer import Recognizer
from pi_vla_ros.speech.vocabulary import Vocabulary, profile_vocabulary

pytestmark = pytest.mark.skipif(not synth.available(),
                                reason="espeak-ng is not installed (scripts/ci_deps.sh installs it)")


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer(profile_vocabulary(load_profile("bimanual")))


def spoken(text, voice, speed, snr_db, seed, color="white", before=0.8, after=1.0):
    """(clip, start of the words, end of the words): silence around the utterance, noise over all of it."""
    rng = np.random.default_rng(seed)
    words = synth.synthesize(text, voice=voice, speed=speed)
    loud = np.flatnonzero(np.abs(words.astype(np.int32)) > 0.02 * np.abs(words.astype(np.int32)).max())
    clip = np.concatenate([audio.silence(before), words, audio.silence(after)])
    return audio.add_noise(clip, snr_db, rng, color), before + loud[0] / 16000, before + loud[-1] / 16000


def hear(recognizer, clip):
    recognizer.reset()
    return recognizer.feed(clip) + recognizer.flush()


CASES = [   # (said, voice, words per minute, SNR dB, noise, the subtask it must become)
    ("put the red cube in the bowl", "en-us", 160, 20, "white", "put the red cube in the bowl"),
    ("move the blue block to the green bowl", "en-gb+f3", 140, 18, "pink", "move the blue block to the green bowl"),
    ("pick up the red block and put it in the bowl", "en-us+m3", 200, 22, "white",
     "pick up the red block and put it in the bowl"),
    ("drop the blue cube in the green bowl", "en-gb-scotland", 180, 25, "pink", "drop the blue cube in the green bowl"),
    ("place the red cube into the bowl", "en-029", 130, 15, "white", "place the red cube into the bowl"),
    ("put the blue cube in the bowl, then put the red cube in the bowl", "en-us", 170, 20, "pink",
     "put the blue cube in the bowl"),
]


@pytest.mark.parametrize("said, voice, wpm, snr, color, subtask", CASES)
def test_spoken_instructions_become_the_right_subtask(recognizer, said, voice, wpm, snr, color, subtask):
    clip, start, end = spoken(said, voice, wpm, snr, seed=wpm, color=color)
    accepted = [u for u in hear(recognizer, clip) if u.accepted]
    assert len(accepted) == 1, [(u.heard, u.reason, round(u.confidence, 2)) for u in hear(recognizer, clip)]
    u = accepted[0]
    queue = SubtaskQueue()
    queue.handle(u.text)
    assert queue.current == subtask and 0.5 < u.confidence <= 1.0
    assert abs(u.start_s - start) < 0.6 and u.end_s - 0.1 < end < u.decided_s    # the words lie in the segment


def test_a_spoken_sequence_is_one_queue(recognizer):
    clip, _, _ = spoken("put the blue cube in the bowl then put the red cube in the bowl", "en-us", 170, 20, 1)
    (u,) = [u for u in hear(recognizer, clip) if u.accepted]
    queue = SubtaskQueue()
    queue.handle(u.text)
    assert queue.subtasks == ["put the blue cube in the bowl", "put the red cube in the bowl"]


@pytest.mark.parametrize("word", ["stop", "clear", "status", "success", "fail"])
def test_control_words(recognizer, word):
    clip, _, _ = spoken(word, "en-us", 150, 25, 2)
    assert [u.text for u in hear(recognizer, clip) if u.accepted] == [word]


def test_noise_only_triggers_nothing(recognizer):
    rng = np.random.default_rng(3)
    for rms in (30.0, 300.0, 1500.0):
        for color in ("white", "pink"):
            heard = hear(recognizer, audio.noise(6.0, rms, rng, color))
            assert not [u for u in heard if u.accepted], (rms, color, heard)


def test_out_of_vocabulary_speech_is_not_acted_on(recognizer):
    for said in ("what time is it now", "open the fridge door", "hello robot how are you"):
        clip, _, _ = spoken(said, "en-gb", 160, 25, 4)
        heard = hear(recognizer, clip)
        assert heard and not [u for u in heard if u.accepted], heard
        assert {u.reason for u in heard} <= {"speech_no_match", "speech_low_confidence", "speech_too_short"}


def test_push_to_talk_delimits_the_utterance(recognizer):
    recognizer.reset()
    clip, _, end = spoken("put the red cube in the bowl", "en-us", 160, 20, 5)
    assert recognizer.set_talking(False) == []
    assert recognizer.feed(clip[:8000]) == []                 # before the button: not heard at all
    recognizer.set_talking(True)
    assert recognizer.feed(clip[8000:]) == []                  # the detector no longer ends utterances
    (u,) = recognizer.set_talking(False)
    assert u.accepted and u.text == "put the red cube in the bowl" and u.end_s == pytest.approx(len(clip) / 16000)
    recognizer.push_to_talk = False


def test_too_little_speech_is_rejected():
    short = Recognizer(profile_vocabulary(load_profile("ur5e")), min_speech_s=3.0)   # "clear" lasts about 0.5 s
    clip, _, _ = spoken("clear", "en-us", 150, 25, 6)
    (u,) = hear(short, clip)
    assert u.reason == "speech_too_short" and not u.accepted and u.text == "" and u.heard == "clear"


def test_a_segment_decodes_the_same_whatever_came_before(recognizer):
    # PocketSphinx's noise removal and CMN state would otherwise carry over from the previous clip.
    clip, _, _ = spoken("next", "en-gb", 170, 14, 7, color="pink")
    loud, _, _ = spoken("put the red cube in the bowl", "en-us", 160, 10, 8, color="white")
    first = [(u.heard, u.ratio) for u in hear(recognizer, clip)]
    hear(recognizer, loud)
    assert [(u.heard, u.ratio) for u in hear(recognizer, clip)] == first


def test_british_vowels_have_their_own_pronunciations(recognizer):
    dec = recognizer.grammar.dec
    assert dec.lookup_word("bowl") == "B OW L" and dec.lookup_word("bowl(2)") == "B OW W L"
    assert dec.lookup_word("stop(2)") == "S T AO P" and dec.lookup_word("block(2)") == "B L AO K"
    recognizer._add_variant("bowl", "B OW W L")                       # already there: not added twice
    assert dec.lookup_word("bowl(3)") is None
    plates = Recognizer(Vocabulary(("pick up the plate",)))          # only the vocabulary's words get variants
    assert plates.grammar.dec.lookup_word("bowl(2)") is None


@pytest.mark.parametrize("said, wpm, snr, color", [
    ("place the blue block into the bowl", 156, 16, "pink"),   # the default beams pruned every complete path
    ("put the red block in the bowl", 165, 20, "pink"),        # (no words at all)
    ("drop the blue block in the bowl", 182, 17, "white"),     # B OW L alone: "the green bowl"
])
def test_an_rp_voice_is_heard_exactly(recognizer, said, wpm, snr, color):
    clip, _, _ = spoken(said, "en-gb-x-rp+m4", wpm, snr, seed=wpm, color=color)
    assert [u.text for u in hear(recognizer, clip) if u.accepted] == [said]
