r"""The straight-through band gradient of the patch embedding
(:mod:`lps_geometric.nn._band_gradient`): the pixel-gradient routes agree, the located
pixels are the shifted ones, the graph blocks cover the batch, and the band's gradient
equals autograd through the dense relaxed adjacency image."""
import pytest
import torch

from lps_geometric.groups import Permutation
from lps_geometric.nn import AdjacencyPatchEmbedding, to_dense_image
from lps_geometric.nn import _band_gradient
from lps_geometric.samplers.relaxation import banded_soft_rank, straight_through
from lps_geometric.testing import random_batch

from .patches import dense_patch_tokens


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


@pytest.mark.parametrize('patch_size', [(2, 2), (3, 3), (1, 4)])
@pytest.mark.parametrize('route', ['gemm', 'gemm-blocks', 'per-entry'])
def test_band_gradient_equals_autograd_through_the_dense_relaxed_image(
        patch_size, route, monkeypatch):
    if route == 'gemm-blocks':
        monkeypatch.setattr(_band_gradient, 'GEMM_BLOCK_BUDGET', 1)
    elif route == 'per-entry':
        monkeypatch.setattr(_band_gradient, 'GEMM_ROUTE_RATIO', 0)
        monkeypatch.setattr(_band_gradient, 'GEMM_ROUTE_MIN', 0)
    torch.manual_seed(0)
    data = random_batch(sizes=(6, 1, 7, 4), node_channels=3, edge_channels=2)
    data.x, data.edge_attr = data.x.double(), data.edge_attr.double()
    embed = AdjacencyPatchEmbedding(3, 2, 8, patch_size).double()
    torch.nn.init.normal_(embed.bias)
    score = torch.randn(data.num_nodes, dtype=torch.double, requires_grad=True)
    perm = Permutation.from_scores(score.detach(), data.batch, data.ptr)
    canonical = perm.apply(data)
    band = perm.permute_nodes(straight_through(
        banded_soft_rank(score, perm, band=2, tau=0.5), 2))
    tokens, grid = embed(canonical.x, canonical.edge_index, canonical.edge_attr,
                         canonical.batch, canonical.ptr, band=band)
    weight = torch.randn_like(tokens)
    grad, = torch.autograd.grad((tokens * weight).sum(), score, retain_graph=True)
    n = int((data.ptr[1:] - data.ptr[:-1]).max())
    image = to_dense_image(canonical, n, edge_dim=2, node_dim=3, band=band)
    dense = dense_patch_tokens(embed, image, canonical.ptr)
    expected, = torch.autograd.grad((dense * weight).sum(), score)
    assert tokens.shape == dense.shape == (grid.num_tokens, 8)
    # the forward value is the hard image's, the gradient the relaxed image's
    assert torch.allclose(tokens, dense, atol=1e-12)
    hard, _ = embed(canonical.x, canonical.edge_index, canonical.edge_attr,
                    canonical.batch, canonical.ptr)
    assert torch.allclose(tokens, hard, atol=1e-12)
    assert grad.abs().max() > 0
    assert torch.allclose(grad, expected, atol=1e-10)


def test_a_band_without_gradient_takes_the_hard_path():
    data = random_batch(sizes=(5, 3), node_channels=3, edge_channels=2)
    embed = AdjacencyPatchEmbedding(3, 2, 8, 2)
    band = torch.zeros(data.num_nodes, 5)
    band[:, 2] = 1.0
    with_band, _ = embed(data.x, data.edge_index, data.edge_attr, data.batch, data.ptr,
                         band=band)
    without, _ = embed(data.x, data.edge_index, data.edge_attr, data.batch, data.ptr)
    assert torch.equal(with_band, without)
