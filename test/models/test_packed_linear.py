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

import pytest
import torch
import torch.nn.functional as F

from pi_vla_ros.models.packed_linear import Linear


def make(i=32, o=48, seed=0):
    torch.manual_seed(seed)
    return Linear(i, o)


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_inference_matches_f_linear_with_and_without_gelu(dtype, atol):
    lin = make().to(dtype)
    x = torch.randn(2, 50, 32).to(dtype)
    ref = F.linear(x.float(), lin.weight.float(), lin.bias.float())
    with torch.no_grad():
        assert torch.allclose(lin(x).float(), ref, atol=atol)
        assert torch.allclose(lin(x, gelu_tanh=True).float(), F.gelu(ref, approximate="tanh"), atol=atol)
        assert torch.allclose(lin(x[:, :7]).float(), ref[:, :7], atol=atol)  # other row counts reuse the packing


def test_weight_changes_are_seen():
    lin = make()
    x = torch.randn(5, 32)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    with torch.no_grad():
        before = lin(x)
    lin(x).square().sum().backward()  # grad enabled: plain F.linear, gradients flow
    assert lin.weight.grad is not None
    opt.step()
    with torch.no_grad():
        after = lin(x)
        assert not torch.allclose(before, after)
        assert torch.allclose(after, F.linear(x, lin.weight, lin.bias), atol=1e-5)
        lin.load_state_dict({"weight": torch.zeros(48, 32), "bias": torch.ones(48)})
        assert torch.equal(lin(x), torch.ones(5, 48))


def test_state_dict_is_nn_linear():
    lin = make()
    with torch.no_grad():
        lin(torch.randn(3, 32))  # builds the packed copy
    assert set(lin.state_dict()) == {"weight", "bias"}


def test_deepcopy_and_pickle_after_inference(tmp_path):
    import copy

    lin, x = make(), torch.randn(3, 32)
    with torch.no_grad():
        y = lin(x)
        clone = copy.deepcopy(lin)  # e.g. an EMA copy made after an evaluation
        assert torch.equal(clone(x), y)
    torch.save(lin, tmp_path / "lin.pt")
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "lin.pt", weights_only=False)(x), y)


def test_a_wrong_input_width_is_a_clear_error():
    """oneDNN's own message for this is 'could not create a primitive descriptor'; F.linear names the shapes."""
    layer = Linear(14, 32)
    with torch.no_grad(), pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        layer(torch.zeros(50, 32))
