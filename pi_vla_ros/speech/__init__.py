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

"""Speech: offline recognition of spoken instructions, and the audio helpers it is tested with.

Layers inside (imports point down): :mod:`.audio` (WAV files, resampling, noise) and :mod:`.synth` (espeak-ng
text to speech) have no recognizer; :mod:`.vocabulary` turns a robot profile into the phrases a recognizer
may hear; :mod:`.recognizer` segments audio and decodes it against that vocabulary with PocketSphinx;
:mod:`.sources` delivers audio from a WAV file or a microphone; :mod:`.backend` (``pocketsphinx``) and
:mod:`.whisper` (``whisper``, a user's local checkpoint) are the speech backends the instruction node loads by
name. No module here imports ROS; ``nodes/instruction_node.py`` is the ROS edge.
"""
