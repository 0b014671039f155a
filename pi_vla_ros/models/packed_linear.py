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

"""nn.Linear whose CPU inference runs oneDNN with the weight packed once (the π0.6 expert's hot path).

Why: on the CPU, F.linear re-orders ("packs") the weight into the GEMM kernel's blocked layout on every call,
which at the expert's 50 rows per GEMM costs ~20% in bf16; and fp32 goes to MKL, which on AMD CPUs runs its AVX2
kernels (~90 GFLOP/s per core on the dev machine's AVX-512 EPYC, where oneDNN's AVX-512 fp32 GEMM does ~210).
oneDNN's prepacked linear (the op torch.compile's freezing pass emits for bf16) avoids both, and fuses GELU.

Taken only where it is safe: CPU tensors, autograd off (no_grad / inference_mode), oneDNN present (for bf16: a CPU
with bf16 instructions). Anything else (training, CUDA, odd dtypes) is plain F.linear. The packed copy is rebuilt
whenever the weight changes (its version counter, storage or dtype), so optimizer steps, load_state_dict and .to()
are all seen; writes through `weight.data` bypass the version counter and are NOT seen (write under torch.no_grad()
instead). Keys and parameters are nn.Linear's; the packed copy is a plain attribute (not in the state dict, dropped
by deepcopy and pickling). Costs one extra copy of the weights in memory once inference has run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
# oneDNN packs bf16 weights only on CPUs with bf16 instructions (AVX512-BF16, AMX, AVX-NE-CONVERT); an AVX2-only
# CPU raises, so bf16 goes to F.linear there.
_BF16_PACKS = ONEDNN and torch.ops.mkldnn._is_mkldnn_bf16_supported()
PACKED_DTYPES = (torch.float32, torch.bfloat16) if _BF16_PACKS else (torch.float32,)


class Linear(nn.Linear):
    _packed: tuple | None = None

    def forward(self, x: Tensor, gelu_tanh: bool = False) -> Tensor:
        """x @ W^T + b, optionally followed by GELU (tanh approximation), fused into the GEMM when packed."""
        w = self.weight
        if not (ONEDNN and x.device.type == "cpu" and x.dtype == w.dtype and w.dtype in PACKED_DTYPES
                and not torch.is_grad_enabled() and x.shape[-1] == w.shape[1]):  # a wrong width: F.linear says so
            y = F.linear(x, w, self.bias)
            return F.gelu(y, approximate="tanh") if gelu_tanh else y
        key = (w._version, w.data_ptr(), w.dtype)
        if self._packed is None or self._packed[0] != key:
            rows = max(1, x.numel() // x.shape[-1])  # layout hint only; any row count works afterwards
            self._packed = key, torch.ops.mkldnn._reorder_linear_weight(w.detach(), rows)
        post = ("gelu", [], "tanh") if gelu_tanh else ("none", [], "")
        return torch.ops.mkldnn._linear_pointwise(x, self._packed[1], self.bias, *post)

    def __getstate__(self):  # the packed copy is a cache (and oneDNN tensors cannot be copied or pickled)
        return {**super().__getstate__(), "_packed": None}
