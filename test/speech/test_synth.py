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

from pi_vla_ros.speech import synth

pytestmark = pytest.mark.skipif(not synth.available(),
                                reason="espeak-ng is not installed (scripts/ci_deps.sh installs it)")


def test_synthesize_is_16k_int16_and_deterministic(tmp_path):
    a = synth.synthesize("put the red cube in the bowl", voice="en-us", speed=160)
    assert a.dtype == np.int16 and a.ndim == 1
    assert 1.0 < len(a) / 16000 < 4.0 and np.abs(a).max() > 5000
    assert synth.synthesize("put the red cube in the bowl", voice="en-us", speed=160).tolist() == a.tolist()
    slow = synth.synthesize("put the red cube in the bowl", voice="en-gb+f3", speed=100)
    assert len(slow) > 1.3 * len(a)                               # speed is words per minute
    path = synth.synthesize_wav(tmp_path / "u.wav", "next", voice="en-us+m3")
    assert len(synth.read_wav(path)) > 1600


@pytest.mark.parametrize("kwargs, match", [
    (dict(text=""), "empty"),
    (dict(text="next", voice="xx-no-such-voice"), "does not exist"),
    (dict(text="next", speed=20), "out of range"),
])
def test_errors(kwargs, match):
    with pytest.raises(synth.SynthesisError, match=match):
        synth.synthesize(**kwargs)


def test_missing_espeak_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    with pytest.raises(synth.SynthesisUnavailable, match="apt-get install espeak-ng"):
        synth.synthesize("next")
