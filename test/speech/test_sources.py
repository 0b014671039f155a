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

import sys
import types

import numpy as np
import pytest

from pi_vla_ros.speech import audio, sources
from pi_vla_ros.speech.sources import AudioDeviceError


def test_wav_chunks_cover_the_file_then_silence(tmp_path):
    x = audio.noise(1.0, 1000.0, np.random.default_rng(0))
    chunks = list(sources.wav_chunks(audio.write_wav(tmp_path / "a.wav", x), chunk_s=0.03, tail_s=0.5))
    assert all(len(c) == 480 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 480
    y = np.concatenate(chunks)
    assert y[:16000].tolist() == x.tolist() and len(y) == 24000 and not y[16000:].any()


def test_missing_sounddevice_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)        # import fails as if not installed
    with pytest.raises(AudioDeviceError, match="sounddevice package is not installed"):
        sources.microphone_chunks()


def test_no_input_device_is_one_clear_error(monkeypatch):
    class PortAudioError(Exception):
        pass

    def query_devices(device=None, kind=None):
        raise PortAudioError("Error querying device -1")

    fake = types.SimpleNamespace(PortAudioError=PortAudioError, query_devices=query_devices)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    with pytest.raises(AudioDeviceError, match=r"no usable audio input device \(default\).*python -m sounddevice"):
        sources.microphone_chunks()


def test_this_machine_without_portaudio_or_microphone():
    """Here (and in CI) there is no PortAudio or no input device: one AudioDeviceError, whichever it is."""
    try:
        import sounddevice
        sounddevice.query_devices(kind="input")
    except Exception:  # noqa: BLE001 - any reason will do: the point is the error below
        with pytest.raises(AudioDeviceError, match="no microphone input|no usable audio input device"):
            sources.microphone_chunks()
    else:
        pytest.skip("this machine has a microphone")
