r"""The pre-LN transformer encoder (:mod:`lps_geometric.nn.transformer`): attention
against its formula, the MLP and the block's residual form, packing of the real tokens,
bucketed attention and the encoder with padding."""
import math

import pytest
import torch

from lps_geometric.nn import TransformerEncoder
from lps_geometric.nn.transformer import (Attention, FeedForward, TokenPacking,
                                          TransformerBlock)


def reference_attention(attn, x, mask=None):
    r"""Multi-head softmax attention written out: :math:`\mathrm{softmax}(q k^\top /
    \sqrt{d_h})\, v` per head over the real keys, then the output projection."""
    B, T, D = x.shape
    H = attn.num_heads
    q, k, v = attn.qkv(x).view(B, T, 3, H, D // H).unbind(2)
    scores = torch.einsum('bqhd,bkhd->bhqk', q, k) / math.sqrt(D // H)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float('-inf'))
    out = torch.einsum('bhqk,bkhd->bqhd', scores.softmax(-1), v).reshape(B, T, D)
    return attn.proj(out)


def randomize(module):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.5)
    return module


def test_attention_is_softmax_attention_per_head():
    torch.manual_seed(0)
    attn = randomize(Attention(12, 3).double())
    x = torch.randn(2, 5, 12, dtype=torch.double)
    assert torch.allclose(attn(x), reference_attention(attn, x), atol=1e-12)
    mask = torch.tensor([[True, True, False, True, False], [True] * 5])
    assert torch.allclose(attn(x, mask), reference_attention(attn, x, mask), atol=1e-12)
    # masked keys do not matter
    moved = x.clone()
    moved[0, [2, 4]] = 100.0
    assert torch.allclose(attn(moved, mask)[0, [0, 1, 3]], attn(x, mask)[0, [0, 1, 3]],
                          atol=1e-12)
    with pytest.raises(ValueError, match='divisible'):
        Attention(10, 3)


def test_attention_dropout_acts_in_training_only():
    torch.manual_seed(0)
    attn = randomize(Attention(8, 2, attn_dropout=0.5))
    x = torch.randn(1, 6, 8)
    attn.eval()
    assert torch.equal(attn(x), attn(x))
    attn.train()
    assert not torch.allclose(attn(x), attn(x))


def test_feed_forward_and_initialisation():
    torch.manual_seed(0)
    mlp = FeedForward(6, 24)
    assert mlp.fc1.weight.shape == (24, 6) and mlp.fc2.weight.shape == (6, 24)
    assert torch.equal(mlp.fc1.bias, torch.zeros(24))
    assert 0.01 < float(mlp.fc1.weight.detach().std()) < 0.03          # std 0.02
    randomize(mlp)
    x = torch.randn(4, 6)
    expected = mlp.fc2(torch.nn.functional.gelu(mlp.fc1(x)))
    assert torch.allclose(mlp(x), expected, atol=1e-6)


def test_block_is_pre_layer_norm_with_residuals():
    torch.manual_seed(0)
    block = randomize(TransformerBlock(8, 2, mlp_ratio=2.0)).double()
    assert block.mlp.fc1.out_features == 16
    x = torch.randn(2, 4, 8, dtype=torch.double)
    h = x + block.attn(block.norm1(x))
    assert torch.allclose(block(x), h + block.mlp(block.norm2(h)), atol=1e-12)
    block.reset_parameters()
    assert torch.equal(block.norm1.weight, torch.ones(8, dtype=torch.double))
    assert torch.equal(block.attn.qkv.bias, torch.zeros(24, dtype=torch.double))


def test_token_packing_packs_and_pads_the_real_tokens():
    mask = torch.tensor([[True, True, False, False], [False, False, False, False],
                         [True, True, True, True], [True, False, True, False]])
    packing = TokenPacking(mask, max_buckets=4)
    x = torch.arange(16.0).view(4, 4, 1)
    packed = packing.pack(x)
    assert packed.shape == (8, 1)
    assert sorted(packing.index.tolist()) == mask.view(-1).nonzero().view(-1).tolist()
    padded = packing.pad(packed)
    assert torch.equal(padded, torch.where(mask.unsqueeze(-1), x, torch.zeros(())))
    # lengths 2, 4, 2: two buckets without padding, the empty sequence in none
    assert [b.shape for b in packing.buckets] == [(2, 2), (1, 4)]
    assert all(b.gather is None for b in packing.buckets)
    # one bucket: padded to its longest, with a mask
    single = TokenPacking(mask, max_buckets=1)
    assert [b.shape for b in single.buckets] == [(3, 4)]
    assert single.buckets[0].mask.sum().item() == 8
    assert torch.equal(single.pad(single.pack(x)), padded)


def test_encoder_depth_final_norm_and_reset():
    torch.manual_seed(0)
    encoder = TransformerEncoder(8, depth=3, num_heads=2, mlp_ratio=1.5)
    assert len(encoder.blocks) == 3 and encoder.blocks[0].mlp.fc1.out_features == 12
    x = torch.randn(2, 5, 8)
    h = x
    for block in encoder.blocks:
        h = block(h)
    assert torch.allclose(encoder(x), encoder.norm(h), atol=1e-6)
    torch.nn.init.normal_(encoder.norm.weight)
    encoder.reset_parameters()
    assert torch.equal(encoder.norm.weight, torch.ones(8))
    assert TransformerEncoder(8, depth=0, num_heads=2)(x).shape == x.shape


def test_encoder_with_padding_equals_each_sequence_alone():
    # With a mask the position-wise layers run on the real tokens only; each sequence
    # must come out as if it were alone (no padding), and the padded rows are zero.
    torch.manual_seed(0)
    encoder = TransformerEncoder(16, depth=2, num_heads=2).double().eval()
    for block in encoder.blocks:  # non-trivial LayerNorm parameters
        torch.nn.init.normal_(block.norm1.weight)
        torch.nn.init.normal_(block.norm2.bias)
    lengths = [5, 2, 7]
    x = torch.randn(3, 7, 16, dtype=torch.double)
    mask = torch.arange(7) < torch.tensor(lengths).unsqueeze(1)
    out = encoder(x, mask)
    for b, n in enumerate(lengths):
        alone = encoder(x[b:b + 1, :n])
        assert torch.allclose(out[b, :n], alone[0], atol=1e-12)
        assert torch.equal(out[b, n:], torch.zeros(7 - n, 16, dtype=torch.double))
    assert torch.allclose(encoder(x, torch.ones(3, 7, dtype=torch.bool)), encoder(x),
                          atol=1e-12)


@pytest.mark.parametrize('max_buckets', [1, 2, 3, 4, 20])
def test_bucketed_attention_equals_attention_per_sequence(max_buckets):
    # Masks with holes, an empty sequence, more distinct lengths than buckets: every
    # sequence's real tokens attend to each other only, in their order.
    from lps_geometric.nn.transformer import Attention, TokenPacking
    torch.manual_seed(0)
    B, T, D = 7, 9, 8
    mask = torch.rand(B, T) < 0.6
    mask[0] = False  # empty
    mask[1] = True  # full
    mask[2, :3] = torch.tensor([False, True, False])
    attn = Attention(D, 2).double()
    x = torch.randn(B, T, D, dtype=torch.double, requires_grad=True)
    packing = TokenPacking(mask, max_buckets)
    assert len(packing.buckets) <= max_buckets
    out = attn.forward_packed(packing.pack(x), packing)
    for b in range(B):
        rows = mask[b].nonzero().view(-1)
        if rows.numel() == 0:
            continue
        alone = attn(x[b:b + 1, rows])[0]
        got = out[packing.index // T == b]
        assert torch.allclose(got, alone, atol=1e-12)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.equal(x.grad[~mask], torch.zeros_like(x.grad[~mask]))
    with pytest.raises(ValueError, match='max_buckets'):
        TokenPacking(mask, 0)

