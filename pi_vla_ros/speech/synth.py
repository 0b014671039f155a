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

"""Text to speech with espeak-ng (the Debian package, run as a subprocess): a scripted instructor's voice.

``synthesize(text, voice="en-us", speed=160, pitch=50)`` returns the utterance as a 16 kHz mono int16
numpy array (:data:`pi_vla_ros.speech.audio.SAMPLE_RATE`), without leading or trailing padding beyond what
espeak-ng itself puts around the words (about 0.1 s). ``synthesize_wav(path, text, ...)`` writes the same
audio as a 16-bit PCM WAV file and returns the path. Use :func:`pi_vla_ros.speech.audio.add_noise` and
:func:`pi_vla_ros.speech.audio.silence` to build a realistic stream around it.

- ``voice``: an espeak-ng voice name, optionally with a variant: ``en-us``, ``en-gb``, ``en-us+f3``,
  ``en-gb-scotland+m4``, ... (``espeak-ng --voices=en`` and ``--voices=variant`` list them).
- ``speed``: words per minute (espeak-ng's ``-s``; 80-450, 175 is its default).
- ``pitch``: 0-99 (``-p``; 50 is the default). ``amplitude``: 0-200 (``-a``; 100 is the default).

espeak-ng writes 22.05 kHz audio; it is resampled here. Deterministic: the same arguments give the same
samples. Errors are one exception each: :class:`SynthesisUnavailable` (espeak-ng is not installed; the
message says how to install it) and :class:`SynthesisError` (espeak-ng failed, e.g. an unknown voice, or
the text is empty).
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np

from pi_vla_ros.speech.audio import SAMPLE_RATE, read_wav, write_wav

ESPEAK = "espeak-ng"


class SynthesisUnavailable(RuntimeError):
    """espeak-ng is not installed."""


class SynthesisError(RuntimeError):
    """espeak-ng ran and failed (unknown voice, out-of-range argument, empty text)."""


def available() -> bool:
    """Whether espeak-ng can be run here."""
    return shutil.which(ESPEAK) is not None


def synthesize(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50, amplitude: int = 100,
               sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``text`` spoken by espeak-ng -> mono int16 at ``sample_rate``. See the module docstring."""
    if not text or not text.strip():
        raise SynthesisError("nothing to say: the text is empty")
    if not 80 <= int(speed) <= 450 or not 0 <= int(pitch) <= 99 or not 0 <= int(amplitude) <= 200:
        raise SynthesisError(f"speed {speed} (80-450), pitch {pitch} (0-99) or amplitude {amplitude} (0-200) "
                             f"out of range")
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise SynthesisUnavailable("espeak-ng is not installed: apt-get install espeak-ng (scripts/ci_deps.sh "
                                   "does it)")
    # The text goes on stdin (not argv) so that a leading '-' is never read as an option.
    proc = subprocess.run([exe, "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "-a", str(int(amplitude)),
                           "--stdout"], input=text.encode("utf-8"), capture_output=True, timeout=60)
    err = proc.stderr.decode("utf-8", "replace").strip()
    # espeak-ng exits 0 and writes an empty stream for an unknown voice; it says so on stderr.
    if proc.returncode != 0 or len(proc.stdout) <= 44 or err:
        raise SynthesisError(f"espeak-ng -v {voice} failed (exit {proc.returncode}): {err or 'no audio'}")
    return read_wav(io.BytesIO(proc.stdout), sample_rate)


def synthesize_wav(path, text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50,
                   amplitude: int = 100, sample_rate: int = SAMPLE_RATE):
    """:func:`synthesize` written to ``path`` as 16-bit mono PCM WAV; returns the path."""
    return write_wav(path, synthesize(text, voice, speed, pitch, amplitude, sample_rate), sample_rate)
