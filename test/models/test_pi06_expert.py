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

from pi_vla_ros.models.flow_matching import euler_sample, sinusoidal_time_embedding
from pi_vla_ros.models.pi06_expert import ExpertConfig, Pi06Expert

CFG = ExpertConfig(width=64, depth=2, heads=4, horizon=10, action_dim=5, context_dim=32)


def make(seed=0, **kw):
    torch.manual_seed(seed)
    return Pi06Expert(ExpertConfig(**{**CFG.__dict__, **kw})).eval()


def context(b=2, n=12):
    ctx = torch.randn(b, n, CFG.context_dim)
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[0, 8:] = False
    return ctx, mask


def randomize_modulation(expert):
    # modulation starts at zero (identity AdaLN); make it non-trivial so the tests see time conditioning
    with torch.no_grad():
        for name, p in expert.named_parameters():
            if ".mod." in name or name.startswith("final_norm.mod"):
                p.normal_(0, 0.05)


def test_shapes_and_identity_adaln_at_init():
    e = make()
    ctx, mask = context()
    v = e(torch.randn(2, 10, 5), torch.rand(2), ctx, mask)
    assert v.shape == (2, 10, 5) and torch.isfinite(v).all()
    x = torch.randn(2, 10, 64)
    norm = e.blocks[0].norm1
    mod = norm.modulation(torch.randn(2, 64))
    assert torch.allclose(norm(x, mod), torch.nn.functional.layer_norm(x, (64,), eps=1e-6), atol=1e-6)
    assert mod[2] is None  # ungated: plain residuals


def test_gated_variant_starts_with_closed_residuals():
    e = make(gate=True)
    ctx, mask = context()
    x = torch.randn(2, 10, 5)
    h = e.in_proj(x) + e.pos
    blk, cond = e.blocks[0], torch.randn(2, 64)
    cache = e.precompute_context(ctx, mask)
    mods = [n.modulation(cond) for n in (blk.norm1, blk.norm2, blk.norm3)]
    assert torch.allclose(blk(h, mods, *cache["kv"][0], cache["bias"]), h)


def test_time_changes_velocity():
    e = make()
    randomize_modulation(e)
    ctx, mask = context()
    x = torch.randn(2, 10, 5)
    assert not torch.allclose(e(x, torch.full((2,), 0.9), ctx, mask), e(x, torch.full((2,), 0.1), ctx, mask))


def test_cached_context_equals_recomputation():
    e = make()
    randomize_modulation(e)
    ctx, mask = context()
    noise = torch.randn(2, 10, 5)
    cache = e.precompute_context(ctx, mask)
    with torch.no_grad():
        recomputed = euler_sample(lambda x, t: e(x, t, ctx, mask), noise, 10)
    cached = e.sample(cache, noise, 10)
    assert torch.allclose(cached, recomputed, atol=1e-6)
    assert torch.equal(e.sample(cache, noise, 10), cached)  # the cache is not mutated by sampling


def test_masked_context_is_ignored():
    e = make()
    ctx, mask = context()
    x, t = torch.randn(2, 10, 5), torch.rand(2)
    other = ctx.clone()
    other[0, 8:] = 100.0  # only masked positions of sample 0 change
    with torch.no_grad():
        assert torch.allclose(e(x, t, ctx, mask), e(x, t, other, mask), atol=1e-6)
        other[1, 0] = 100.0
        assert not torch.allclose(e(x, t, ctx, mask)[1], e(x, t, other, mask)[1])


def test_self_attention_is_bidirectional():
    e = make()
    ctx, mask = context()
    x, t = torch.randn(2, 10, 5), torch.rand(2)
    y = x.clone()
    y[:, -1] += 1.0  # change the last action only
    with torch.no_grad():
        assert not torch.allclose(e(x, t, ctx, mask)[:, 0], e(y, t, ctx, mask)[:, 0])


def test_seed_size_parameter_count():
    e = Pi06Expert(ExpertConfig())  # 512 wide, 4 layers, 8 heads, horizon 50, 7 actions, 2048 context
    n = sum(p.numel() for p in e.parameters())
    assert 15e6 < n < 30e6, n


def reference_velocity(e, x_t, t, ctx, mask):
    """The expert's math written plainly (SDPA with a boolean mask, separate ops, no caching)."""
    F = torch.nn.functional
    w, heads = e.cfg.width, e.cfg.heads

    def lin(m, x):
        return F.linear(x, m.weight, m.bias)

    def split(x):
        return x.unflatten(-1, (heads, -1)).transpose(1, 2)

    def merge(x):
        return x.transpose(1, 2).flatten(-2)

    def ada(norm, x, cond):
        scale, shift, *gate = lin(norm.mod, cond)[:, None].chunk(norm.n, dim=-1)
        return F.layer_norm(x, (w,), eps=1e-6) * (1 + scale) + shift, (gate[0] if gate else 1.0)

    emb = sinusoidal_time_embedding(t.to(x_t.dtype), w)
    cond = F.silu(lin(e.time_mlp[2], F.silu(lin(e.time_mlp[0], emb))))
    c = e.ctx_norm(lin(e.ctx_proj, ctx))
    x = lin(e.in_proj, x_t) + e.pos
    for blk in e.blocks:
        h, g = ada(blk.norm1, x, cond)
        q, k, v = map(split, lin(blk.qkv, h).chunk(3, dim=-1))
        x = x + g * lin(blk.attn_out, merge(F.scaled_dot_product_attention(q, k, v)))
        h, g = ada(blk.norm2, x, cond)
        k, v = map(split, lin(blk.kv, c).chunk(2, dim=-1))
        y = F.scaled_dot_product_attention(split(lin(blk.q, h)), k, v, attn_mask=mask[:, None, None])
        x = x + g * lin(blk.cross_out, merge(y))
        h, g = ada(blk.norm3, x, cond)
        x = x + g * lin(blk.mlp[2], F.gelu(lin(blk.mlp[0], h), approximate="tanh"))
    return lin(e.out_proj, ada(e.final_norm, x, cond)[0])


@pytest.mark.parametrize("gate,batch", [(False, 2), (True, 2), (False, 1), (True, 1)])
def test_fast_paths_match_the_plain_math(gate, batch):
    e = make(gate=gate)
    randomize_modulation(e)
    ctx, mask = context()
    ctx, mask = ctx[:batch], mask[:batch]  # batch 1 takes the fused LayerNorm-affine path, and sample 0 is masked
    x, t, noise = torch.randn(batch, 10, 5), torch.rand(batch), torch.randn(batch, 10, 5)
    with torch.no_grad():
        ref = reference_velocity(e, x, t, ctx, mask)
        ref_sample = euler_sample(lambda x_, t_: reference_velocity(e, x_, t_, ctx, mask), noise, 10)
        packed = e(x, t, ctx, mask)  # autograd off: prepacked oneDNN linears
    assert torch.allclose(e(x, t, ctx, mask), ref, atol=1e-5)  # autograd on: F.linear
    assert torch.allclose(packed, ref, atol=1e-5)
    sample = e.sample(e.precompute_context(ctx, mask), noise, 10)
    assert torch.allclose(sample, ref_sample, atol=1e-5)
    assert not sample.is_inference()  # cloned out of inference_mode: usable anywhere


def test_bf16_sampling_tracks_fp32():
    e = make()
    randomize_modulation(e)
    ctx, mask = context()
    noise = torch.randn(2, 10, 5)
    ref = e.sample(e.precompute_context(ctx, mask), noise, 10)
    e16 = e.to(torch.bfloat16)
    out = e16.sample(e16.precompute_context(ctx.bfloat16(), mask), noise.bfloat16(), 10)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).norm() / ref.norm() < 0.03
