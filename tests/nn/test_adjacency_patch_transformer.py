import math

import pytest
import torch

from lps_geometric.nn import (AdjacencyPatchEmbedding, AdjacencyPatchTransformer,
                              TransformerEncoder)
from lps_geometric.testing import random_batch


@pytest.mark.parametrize('tokens', ['patches', 'rows'])
@pytest.mark.parametrize('level', ['graph', 'node'])
def test_output_shapes(batch, tokens, level):
    model = AdjacencyPatchTransformer(3, 5, max_nodes=9, edge_dim=4, tokens=tokens,
                                      embed_dim=16, depth=1, num_heads=2, level=level)
    out = model(batch)
    assert out.shape == ((batch.num_graphs if level == 'graph' else batch.num_nodes), 5)


def test_default_patch_grid_is_14_by_14():
    model = AdjacencyPatchTransformer(3, 2, max_nodes=444, embed_dim=16, depth=1,
                                      num_heads=2)
    assert model.patch_size == (math.ceil(444 / 14), ) * 2
    assert model.grid_size == (14, 14)
    assert model.pos_embed.shape == (1, 1 + 196, 16)


def test_rows_variant_has_one_token_per_node():
    model = AdjacencyPatchTransformer(3, 2, max_nodes=10, tokens='rows', embed_dim=16,
                                      depth=1, num_heads=2)
    assert model.patch_size == (1, 10) and model.grid_size == (10, 1)


def test_without_node_or_edge_features():
    data = random_batch(node_channels=0, edge_channels=0)
    model = AdjacencyPatchTransformer(0, 2, max_nodes=9, embed_dim=16, depth=1,
                                      num_heads=2)
    assert model(data).shape == (data.num_graphs, 2)


def test_padding_tokens_do_not_leak(batch):
    model = AdjacencyPatchTransformer(3, 2, max_nodes=12, edge_dim=4, patch_size=2,
                                      embed_dim=16, depth=2, num_heads=2).eval()
    alone = model(batch.get_example(0).__class__(**batch.get_example(0).to_dict()))
    together = model(batch)
    assert torch.allclose(alone[0], together[0], atol=1e-5)


def test_depends_on_node_order(batch):
    from lps_geometric.groups import SymmetricGroup
    model = AdjacencyPatchTransformer(3, 2, max_nodes=9, edge_dim=4, patch_size=2,
                                      embed_dim=16, depth=1, num_heads=2)
    group = SymmetricGroup()
    moved = group.act(group.random_element(batch), batch)
    assert not torch.allclose(model(batch), model(moved), atol=1e-4)


def test_errors():
    with pytest.raises(ValueError, match='max_nodes'):
        AdjacencyPatchTransformer(3, 2, max_nodes=0)
    with pytest.raises(ValueError, match='level'):
        AdjacencyPatchTransformer(3, 2, max_nodes=4, level='edge')
    with pytest.raises(ValueError, match='tokens'):
        AdjacencyPatchTransformer(3, 2, max_nodes=4, tokens='pixels')
    with pytest.raises(ValueError, match='patch_size'):
        AdjacencyPatchTransformer(3, 2, max_nodes=4, tokens='rows', patch_size=2)
    with pytest.raises(ValueError, match='patch_size'):
        AdjacencyPatchEmbedding(3, 0, 16, (2, 3))
    with pytest.raises(ValueError, match='divisible'):
        TransformerEncoder(10, 1, 3)
    model = AdjacencyPatchTransformer(3, 2, max_nodes=4, edge_dim=4, embed_dim=16,
                                      depth=1, num_heads=2)
    with pytest.raises(ValueError, match='exceeds'):
        model(random_batch(sizes=(5, )))


def test_repr_and_reset():
    model = AdjacencyPatchTransformer(3, 2, max_nodes=8, embed_dim=16, depth=1,
                                      num_heads=2)
    assert repr(model).startswith('AdjacencyPatchTransformer(3, 2, max_nodes=8')
    assert 'patch_size' in repr(model.patch_embed)
    before = model.head.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.head.weight)


def test_timm_style_parameter_names():
    model = AdjacencyPatchTransformer(3, 2, max_nodes=8, embed_dim=16, depth=2,
                                      num_heads=2)
    names = set(dict(model.named_parameters()))
    for name in ('encoder.blocks.1.attn.qkv.weight', 'encoder.blocks.0.mlp.fc2.bias',
                 'encoder.blocks.0.norm1.weight', 'encoder.norm.weight', 'pos_embed',
                 'cls_token'):
        assert name in names


class TablePixels:
    """Relaxed pixel entries given as (M, S) token and cell tables (duck-types
    ``_RelaxedPixels`` for ``_pixel_values``)."""
    def __init__(self, graph, token, cell, num_cells):
        self.graph, self.token, self.cell = graph, token, cell
        self.num_columns = token.size(1)
        self.num_cells = num_cells

    def take(self, order):
        return TablePixels(self.graph[order], self.token[order], self.cell[order],
                           self.num_cells)

    def flat_index(self, lo, hi, token_lo):
        return (self.token[lo:hi] - token_lo) * self.num_cells + self.cell[lo:hi]

    def locate(self, s, lo, hi):
        return self.token[lo:hi, s], self.cell[lo:hi, s]


def test_pixel_gradient_strategies_agree():
    from lps_geometric.nn import _band_gradient as band_gradient
    from lps_geometric.nn._band_gradient import _pixel_values
    R, C, d, M, S = 60, 3, 8, 500, 5
    gen = torch.Generator().manual_seed(0)
    token_ptr = torch.tensor([0, 7, 7, 20, 26, 40])  # graph 1 has no tokens (and rows)
    graph = torch.randint(0, 5, (M,), generator=gen)
    graph[graph == 1] = 2
    sizes = (token_ptr[1:] - token_ptr[:-1])[graph]
    token = token_ptr[graph].unsqueeze(1) + (torch.rand(M, S, generator=gen)
                                             * sizes.unsqueeze(1)).long()
    T = int(token_ptr[-1])
    grad, table = torch.randn(T, d, generator=gen), torch.randn(R, d, generator=gen)
    cell = torch.randint(0, R // C, (M, S), generator=gen)
    feat = torch.randn(M, C, generator=gen)
    expected = (torch.einsum('msd,mscd->msc', grad[token],
                             table.view(R // C, C, d)[cell]) * feat[:, None]).sum(-1)
    order = torch.argsort(graph, stable=True)
    routes = [
        (1 << 26, False),  # one GEMM
        (7 * R, False),  # GEMM in blocks of whole graphs, rows not grouped by graph
        (7 * R, True),  # the same, rows grouped (as in a PyG batch)
        (1, False),  # one graph per block
    ]
    for budget, grouped in routes:
        perm = order if grouped else torch.arange(M)
        pixels = TablePixels(graph[perm], token[perm], cell[perm], R // C)
        got = _pixel_values(grad, table, pixels, feat[perm], token_ptr, budget=budget)
        assert torch.allclose(got, expected[perm], atol=1e-5), budget
    ratio, least = band_gradient.GEMM_ROUTE_RATIO, band_gradient.GEMM_ROUTE_MIN
    chunk = band_gradient.ENTRY_CHUNK_BUDGET
    try:  # per-entry products, in one chunk and in chunks of 10 entries
        band_gradient.GEMM_ROUTE_RATIO, band_gradient.GEMM_ROUTE_MIN = 0, 0
        pixels = TablePixels(graph, token, cell, R // C)
        got = _pixel_values(grad, table, pixels, feat, token_ptr)
        band_gradient.ENTRY_CHUNK_BUDGET = 10 * 8 * C * d
        chunked = _pixel_values(grad, table, pixels, feat, token_ptr)
        # half precision (no CPU CSR kernels): gathered table cells
        half = _pixel_values(grad.bfloat16(), table.bfloat16(), pixels, feat.bfloat16(),
                             token_ptr)
    finally:
        band_gradient.GEMM_ROUTE_RATIO, band_gradient.GEMM_ROUTE_MIN = ratio, least
        band_gradient.ENTRY_CHUNK_BUDGET = chunk
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(chunked, expected, atol=1e-5)
    assert torch.allclose(half.float(), expected, atol=0.5, rtol=0.05)


@pytest.mark.parametrize('patch_size', [(1, 1), (2, 2), (3, 3), (1, 4), (5, 5)])
@pytest.mark.parametrize('nodes', [False, True])
def test_flat_index_tables_match_locate(patch_size, nodes):
    from lps_geometric.nn._band_gradient import _RelaxedPixels
    from lps_geometric.nn.patch_embedding import PatchGrid
    gen = torch.Generator().manual_seed(1)
    sizes = torch.tensor([7, 1, 2, 11, 5])  # graphs smaller than the shifts too
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
    grid = PatchGrid(ptr, patch_size)
    w = 3
    graph = torch.randint(0, 5, (300,), generator=gen)
    row = (torch.rand(300, generator=gen) * sizes[graph]).long()
    col = row if nodes else (torch.rand(300, generator=gen) * sizes[graph]).long()
    if nodes:
        shifts, slots = [(d, d) for d in range(-w, w + 1)], max(patch_size)
    else:
        steps = [d for d in range(-w, w + 1) if d]
        shifts, slots = [(0, 0)] + [(d, 0) for d in steps] + [(0, d) for d in steps], None
    pixels = _RelaxedPixels(grid, sizes, graph, row, col, shifts, slots)
    columns = [pixels.locate(s, 0, 300) for s in range(len(shifts))]
    token = torch.stack([t for t, _ in columns], dim=1)
    cell = torch.stack([c for _, c in columns], dim=1)
    # the located pixels are the shifted ones, clamped into the graph
    size = sizes[graph].unsqueeze(1)
    shifted_row = torch.minimum((row.unsqueeze(1) + torch.tensor(
        [d for d, _ in shifts])).clamp(min=0), size - 1)
    ph, pw = patch_size
    assert torch.equal(token - grid.token_ptr[graph].unsqueeze(1) - torch.div(
        shifted_row, ph, rounding_mode='floor') * grid.grid_w[graph].unsqueeze(1),
        torch.div(torch.minimum((col.unsqueeze(1) + torch.tensor(
            [d for _, d in shifts])).clamp(min=0), size - 1), pw, rounding_mode='floor'))
    for lo, hi, token_lo in [(0, 300, 0), (40, 200, 3)]:
        expected = (token[lo:hi] - token_lo) * pixels.num_cells + cell[lo:hi]
        assert torch.equal(pixels.flat_index(lo, hi, token_lo), expected)


def test_graph_blocks_cover_the_batch_once():
    from lps_geometric.nn._band_gradient import _graph_blocks
    token_ptr = torch.tensor([0, 7, 7, 20, 26, 40])
    row_ptr = torch.tensor([0, 3, 3, 9, 9, 12])
    blocks = _graph_blocks(token_ptr, row_ptr, tokens_per_block=10)
    # graphs start at tokens 0, 7, 7 (window 0), 20 (window 2), 26 (window 2)
    assert blocks == [(0, 20, 0, 9), (20, 40, 9, 12)]
    assert _graph_blocks(token_ptr, row_ptr, 1000) == [(0, 40, 0, 12)]


@pytest.mark.parametrize('dtype', [torch.float, torch.double])
def test_bag_sum_table_gradient_equals_embedding_bag(dtype):
    # The CSR backward of the table (transposed bags) against embedding_bag's own.
    from lps_geometric.nn.patch_embedding import _TableBagSum, _embedding_bag_sum, _bag_sum
    gen = torch.Generator().manual_seed(1)
    E, C, ncell, T, D = 400, 3, 12, 30, 8
    token = torch.randint(0, T - 5, (E,), generator=gen)  # the last tokens get nothing
    row = torch.randint(0, ncell - 2, (E,), generator=gen)  # nor the last cells
    psw = torch.randn(E, C, generator=gen, dtype=dtype)
    table = torch.randn(ncell * C, D, generator=gen, dtype=dtype, requires_grad=True)
    g = torch.randn(T, D, generator=gen, dtype=dtype)
    out = _TableBagSum.apply(table, token, row, psw, T)
    (grad,) = torch.autograd.grad((out * g).sum(), table)
    expected_out = _embedding_bag_sum(token, row, psw, table, T)
    (expected,) = torch.autograd.grad((expected_out * g).sum(), table)
    tol = 1e-5 if dtype == torch.float else 1e-12
    assert torch.allclose(out, expected_out, atol=tol)
    assert torch.allclose(grad, expected, atol=tol)
    assert torch.equal(grad[-2 * C:], torch.zeros(2 * C, D, dtype=dtype))
    # Features that need a gradient take embedding_bag's autograd path, and get it.
    feat = psw.clone().requires_grad_(True)
    out = _bag_sum(token, row, torch.ones(E, dtype=dtype), feat, table, T)
    (grad_feat,) = torch.autograd.grad((out * g).sum(), feat)
    expected = torch.einsum('ed,ecd->ec', g[token], table.view(ncell, C, D)[row])
    assert torch.allclose(grad_feat, expected.detach(), atol=tol)


def test_bag_sum_in_half_precision():
    # No CPU CSR kernels for bfloat16: the table gradient comes from embedding_bag.
    from lps_geometric.nn.patch_embedding import _bag_sum
    gen = torch.Generator().manual_seed(2)
    token, row = torch.randint(0, 10, (50,), generator=gen), torch.randint(0, 6, (50,),
                                                                           generator=gen)
    feat = torch.randn(50, 2, generator=gen)
    table = torch.randn(12, 4, generator=gen)
    grads = []
    for dtype in (torch.float, torch.bfloat16):
        t = table.detach().to(dtype).requires_grad_(True)
        out = _bag_sum(token, row, torch.ones(50, dtype=dtype), feat.to(dtype), t, 10)
        out.float().square().sum().backward()
        grads.append(t.grad.float())
    assert torch.allclose(grads[0], grads[1], rtol=0.05, atol=0.1)


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
