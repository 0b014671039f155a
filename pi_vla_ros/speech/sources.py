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

"""Where speech audio comes from: a WAV file (tests, replay) or a live microphone (sounddevice / PortAudio).

Both yield 16 kHz mono int16 chunks of ``chunk_s`` seconds (the last one of a file may be shorter), for
:meth:`pi_vla_ros.speech.recognizer.Recognizer.feed`.

- :func:`wav_chunks`: the file's samples (converted as :func:`pi_vla_ros.speech.audio.read_wav` does), then
  ``tail_s`` of digital silence so that an utterance at the very end of the file is closed by the endpointer;
  ``realtime=True`` paces them at the rate a microphone would deliver them.
- :func:`microphone_chunks`: an input stream opened on ``device`` (a sounddevice device index or name
  substring; None = the system default). Every way this can fail before audio flows is one
  :class:`AudioDeviceError` with what to do: the sounddevice package missing, the PortAudio library missing
  (``apt-get install libportaudio2``), no input device, or a device that cannot record 16 kHz mono. Chunks the
  audio callback could not deliver in time (``input overflow``) are counted in ``overflows``.
"""

from __future__ import annotations

import queue
import time
from typing import Iterator

import numpy as np

from pi_vla_ros.speech.audio import SAMPLE_RATE, read_wav


class AudioDeviceError(RuntimeError):
    """No usable microphone; the message says why and what to install or pass."""


def wav_chunks(path, chunk_s: float = 0.03, realtime: bool = False, tail_s: float = 1.0) -> Iterator[np.ndarray]:
    audio = np.concatenate([read_wav(path), np.zeros(round(tail_s * SAMPLE_RATE), np.int16)])
    n = max(1, round(chunk_s * SAMPLE_RATE))
    t0 = time.monotonic()
    for i in range(0, len(audio), n):
        if realtime:
            time.sleep(max(0.0, t0 + i / SAMPLE_RATE - time.monotonic()))
        yield audio[i:i + n]


def _sounddevice():
    try:
        import sounddevice
    except ImportError:
        raise AudioDeviceError("no microphone input: the sounddevice package is not installed "
                               "(pip install 'pi_vla_ros[speech]')") from None
    except OSError as exc:   # sounddevice raises OSError when it cannot load the PortAudio library
        raise AudioDeviceError(f"no microphone input: {exc} (install it: apt-get install libportaudio2)") from None
    return sounddevice


class Microphone:
    """A live input stream; iterate it for chunks. See the module docstring."""

    def __init__(self, device=None, chunk_s: float = 0.03):
        sd = _sounddevice()
        try:
            info = sd.query_devices(device, kind="input")
            sd.check_input_settings(device=device, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioDeviceError(f"no usable audio input device ({device if device is not None else 'default'}): "
                                   f"{exc}; list them with: python -m sounddevice") from None
        self.name = info["name"]
        self.overflows = 0
        self._chunks: queue.Queue = queue.Queue()
        self._stream = sd.InputStream(device=device, channels=1, dtype="int16", samplerate=SAMPLE_RATE,
                                      blocksize=max(1, round(chunk_s * SAMPLE_RATE)), callback=self._callback)

    def _callback(self, indata, frames, time_info, status):
        if status.input_overflow:
            self.overflows += 1
        self._chunks.put(indata[:, 0].copy())

    def __iter__(self) -> Iterator[np.ndarray]:
        with self._stream:
            while True:
                yield self._chunks.get()


def microphone_chunks(device=None, chunk_s: float = 0.03) -> Iterator[np.ndarray]:
    """Chunks from a live microphone, opened now (errors are raised here, not at the first chunk)."""
    return iter(Microphone(device, chunk_s))
