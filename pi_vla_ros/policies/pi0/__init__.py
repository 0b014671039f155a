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

"""π0 / π0.5 policy: PaliGemma + Gemma action expert as a mixture of transformers (FACTS.md §2-3)."""

from .configuration import Pi0Config
from .policy import Pi0Policy
from .processing import Pi0Processor
from .weights import load_weights, save_weights, state_dict_openpi

__all__ = ["Pi0Config", "Pi0Policy", "Pi0Processor", "load_weights", "save_weights", "state_dict_openpi"]
