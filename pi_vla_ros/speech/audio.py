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

"""Audio in memory: 16 kHz mono int16 numpy arrays, WAV files, resampling and noise.

Every function here takes and returns ``numpy.int16`` 1-D arrays at :data:`SAMPLE_RATE` (16 kHz, the rate
PocketSphinx's English model was trained on) unless it says otherwise. Conversions clip rather than wrap.

- :func:`read_wav` reads a PCM WAV file (8/16/24/32-bit integer, any rate, any channel count): channels are
  averaged, the rate is converted with a polyphase filter (scipy). Anything else (float WAV, compressed,
  not a WAV) raises :class:`AudioFormatError` naming the file.
- :func:`write_wav` writes 16-bit mono PCM.
- :func:`add_noise` mixes white, pink or brown noise in at a signal-to-noise ratio given in dB, measured against
  the RMS of the non-silent part of the signal (so leading/trailing silence does not lower the noise).
- :func:`noise` makes a noise-only clip (no speech), for false-trigger tests.
"""

from __future__ import annotations

import wave
from math import gcd
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


class AudioFormatError(ValueError):
    """An audio file or array this module cannot use; the message names the file and what is wrong."""


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] (or int16) -> int16, clipped."""
    x = np.asarray(x)
    if x.dtype == np.int16:
        return x
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def resample(audio: np.ndarray, rate: int, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """int16 ``audio`` at ``rate`` Hz -> int16 at ``to_rate`` Hz (polyphase, anti-aliased)."""
    if rate == to_rate:
        return np.asarray(audio, dtype=np.int16)
    from scipy.signal import resample_poly   # only when a rate really differs

    g = gcd(int(rate), int(to_rate))
    y = resample_poly(np.asarray(audio, dtype=np.float64), to_rate // g, rate // g)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def read_wav(path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A PCM WAV file (a path or a binary file object) -> mono int16 at ``sample_rate``. See the module docstring."""
    if isinstance(path, (str, Path)):
        path = Path(path)
    try:
        with wave.open(str(path) if isinstance(path, Path) else path, "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc})") from None
    if width == 1:       # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.int32)
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8) >> 16   # sign-extend, keep the top 16 bits
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.int64) >> 16
    else:
        raise AudioFormatError(f"{path}: {8 * width}-bit samples are not supported")
    x = x.reshape(-1, channels).mean(axis=1)
    return resample(np.clip(np.round(x), -32768, 32767).astype(np.int16), rate, sample_rate)


def write_wav(path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write int16 (or float in [-1, 1]) mono ``audio`` as a 16-bit PCM WAV file; returns the path."""
    path = Path(path)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(to_int16(audio).astype("<i2").tobytes())
    return path


def _colored(n: int, rng: np.random.Generator, color: str) -> np.ndarray:
    """Unit-RMS white, pink (1/f power) or brown (1/f^2 power) noise, ``n`` samples."""
    white = rng.standard_normal(n)
    if color == "white":
        return white
    if color not in ("pink", "brown"):
        raise ValueError(f"noise color {color!r}: white, pink or brown")
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=float)
    f[0] = np.inf                      # no DC offset
    shaped = np.fft.irfft(spec / (np.sqrt(f) if color == "pink" else f), n)
    return shaped / (np.sqrt(np.mean(shaped ** 2)) + 1e-12)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """``audio`` with noise mixed in at ``snr_db`` dB below the RMS of its non-silent samples."""
    x = np.asarray(audio, dtype=np.float64)
    loud = np.abs(x) > 0.02 * (np.abs(x).max() + 1e-9)   # speech samples, not the padding around them
    rms = np.sqrt(np.mean(x[loud] ** 2)) if loud.any() else 0.0
    n = _colored(len(x), rng, color) * rms * 10 ** (-snr_db / 20)
    return np.clip(np.round(x + n), -32768, 32767).astype(np.int16)


def noise(duration_s: float, rms: float, rng: np.random.Generator, color: str = "white",
          sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A noise-only clip of ``duration_s`` seconds with RMS ``rms`` (int16 units: 1000 is a quiet room hiss)."""
    n = _colored(int(round(duration_s * sample_rate)), rng, color) * rms
    return np.clip(np.round(n), -32768, 32767).astype(np.int16)


def silence(duration_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    return np.zeros(int(round(duration_s * sample_rate)), np.int16)
