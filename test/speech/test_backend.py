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

import numpy as np
import pytest

from pi_vla_ros.core.instructions import SPEECH_BACKENDS
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.speech import audio, synth
from pi_vla_ros.speech.backend import PocketSphinxBackend

pytestmark = pytest.mark.skipif(not synth.available(),
                                reason="espeak-ng is not installed (scripts/ci_deps.sh installs it)")


def test_registered():
    assert SPEECH_BACKENDS["pocketsphinx"] is PocketSphinxBackend


def test_wav_file_replay(tmp_path):
    rng = np.random.default_rng(0)
    said = [synth.synthesize("drop the red block in the bowl", "en-gb", 170),
            synth.synthesize("clear", "en-us", 150)]
    clip = np.concatenate([audio.silence(0.6), said[0], audio.silence(1.2), said[1], audio.silence(0.2)])
    path = audio.write_wav(tmp_path / "replay.wav", audio.add_noise(clip, 20.0, rng, "pink"))
    backend = PocketSphinxBackend(load_profile("ur5e"), source=str(path), realtime=False)
    heard = list(backend.utterances())
    assert [u.text for u in heard if u.accepted] == ["drop the red block in the bowl", "clear"]


def test_feed_and_push_to_talk():
    backend = PocketSphinxBackend(load_profile("bimanual"), source="feed", push_to_talk=True)
    clip = audio.add_noise(np.concatenate([audio.silence(0.3), synth.synthesize("status", "en-us", 150),
                                           audio.silence(0.3)]), 25.0, np.random.default_rng(1))
    assert backend.feed(clip) == []                    # button up: nothing is heard
    backend.set_talking(True)
    backend.feed(clip)
    (u,) = backend.set_talking(False)
    assert u.accepted and u.text == "status"
