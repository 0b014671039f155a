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

import io
import wave

import numpy as np
import pytest

from pi_vla_ros.speech import audio


def test_wav_round_trip_and_formats(tmp_path):
    rng = np.random.default_rng(0)
    x = audio.noise(0.5, 3000.0, rng)
    assert audio.read_wav(audio.write_wav(tmp_path / "a.wav", x)).tolist() == x.tolist()
    # 8 kHz stereo 16-bit: channels averaged, rate converted (a 440 Hz tone keeps its frequency).
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(np.stack([tone, tone], 1).astype("<i2").tobytes())
    y = audio.read_wav(tmp_path / "s.wav")
    assert len(y) == 16000
    assert np.argmax(np.abs(np.fft.rfft(y))) == 440            # 1 s of audio: bin = Hz
    # 24-bit and 8-bit samples keep their top bits.
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(3), w.setframerate(16000)
        w.writeframes(b"".join(int(v * 256).to_bytes(3, "little", signed=True) for v in (-20000, 0, 12345)))
    buf.seek(0)
    assert audio.read_wav(buf).tolist() == [-20000, 0, 12345]


def test_bad_wav_is_one_clear_error(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"not audio at all")
    with pytest.raises(audio.AudioFormatError, match="x.wav: not a PCM WAV"):
        audio.read_wav(tmp_path / "x.wav")


def test_add_noise_hits_the_requested_snr():
    rng = np.random.default_rng(1)
    speech = np.concatenate([audio.silence(1.0), (6000 * np.sin(np.arange(16000) * 0.1)).astype(np.int16)])
    for color in ("white", "pink", "brown"):
        noisy = audio.add_noise(speech, 10.0, rng, color)
        n = noisy.astype(float) - speech
        # Against the speech's RMS, not the whole clip's (half of it is silence).
        snr = 20 * np.log10(np.sqrt(np.mean(speech[16000:].astype(float) ** 2)) / np.sqrt(np.mean(n ** 2)))
        assert abs(snr - 10.0) < 0.5, (color, snr)
