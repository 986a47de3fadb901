r"""The patch embedding of the adjacency image (:mod:`lps_geometric.nn.patch_embedding`):
the token layout, the scatter equals the dense patchified image, the bag sums and their
table gradient, and the constructor's checks."""
import pytest
import torch

from lps_geometric.nn import AdjacencyPatchEmbedding, to_dense_image
from lps_geometric.nn.patch_embedding import PatchGrid
from lps_geometric.testing import random_batch

from .patches import dense_patch_tokens


def test_patch_grid_lays_out_every_graphs_tokens():
    ptr = torch.tensor([0, 5, 6, 10])                  # graphs of 5, 1 and 4 nodes
    grid = PatchGrid(ptr, (2, 2))
    assert grid.grid_h.tolist() == [3, 1, 2] and grid.grid_w.tolist() == [3, 1, 2]
    assert grid.token_ptr.tolist() == [0, 9, 10, 14] and grid.num_tokens == 14
    assert grid.token_batch.tolist() == [0] * 9 + [1] + [2] * 4
    # pixel (3, 4) of graph 0 is in patch (1, 2); pixel (2, 1) of graph 2 in patch (1, 0)
    token = grid.token(torch.tensor([0, 2]), torch.tensor([3, 2]), torch.tensor([4, 1]))
    assert token.tolist() == [0 + 1 * 3 + 2, 10 + 1 * 2 + 0]
    # positions in a 4-wide model grid: row-major, each graph from the top left
    position = grid.grid_position(4)
    assert position[:9].tolist() == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    assert position[9:].tolist() == [0, 0, 1, 4, 5]
    rows = PatchGrid(ptr, (1, 4))
    assert rows.grid_h.tolist() == [5, 1, 4] and rows.grid_w.tolist() == [2, 1, 1]


@pytest.mark.parametrize('patch_size', [1, 2, 3, (1, 5)])
@pytest.mark.parametrize('channels', [(3, 2), (0, 2), (3, 0), (0, 0)])
def test_scatter_embedding_equals_the_dense_patchified_image(patch_size, channels):
    node_channels, edge_channels = channels
    data = random_batch(sizes=(6, 1, 7, 4), node_channels=max(node_channels, 1),
                        edge_channels=max(edge_channels, 1))
    embed = AdjacencyPatchEmbedding(node_channels, edge_channels, 8, patch_size).double()
    torch.nn.init.normal_(embed.bias)
    x = data.x.double() if node_channels else None
    edge_attr = data.edge_attr.double() if edge_channels else None
    tokens, grid = embed(x, data.edge_index, edge_attr, data.batch, data.ptr)
    n = int((data.ptr[1:] - data.ptr[:-1]).max())
    data.x, data.edge_attr = x, edge_attr
    image = to_dense_image(data, n, edge_dim=edge_channels, node_dim=node_channels,
                           dtype=torch.double)
    assert torch.allclose(tokens, dense_patch_tokens(embed, image, data.ptr), atol=1e-12)
    assert tokens.shape == (grid.num_tokens, 8)


def test_embedding_checks_its_settings_and_inputs():
    embed = AdjacencyPatchEmbedding(3, 2, 8, (2, 2))
    assert embed.node_slots == 2 and embed.edge_table.shape == (2 * 2 * 3, 8)
    assert embed.node_table.shape == (2 * 3, 8)
    assert AdjacencyPatchEmbedding(3, 0, 8, (1, 5)).node_slots == 5
    assert repr(embed) == ('AdjacencyPatchEmbedding(node_channels=3, edge_channels=2, '
                           'embed_dim=8, patch_size=(2, 2))')
    with pytest.raises(ValueError, match='square or a row'):
        AdjacencyPatchEmbedding(3, 2, 8, (2, 3))
    with pytest.raises(ValueError, match='positive'):
        AdjacencyPatchEmbedding(3, 2, 8, 0)
    data = random_batch(sizes=(4, 3), node_channels=3, edge_channels=2)
    with pytest.raises(ValueError, match='edge features'):
        embed(data.x, data.edge_index, None, data.batch, data.ptr)
    with pytest.raises(ValueError, match='node features'):
        embed(None, data.edge_index, data.edge_attr, data.batch, data.ptr)
    before = embed.edge_table.detach().clone()
    embed.reset_parameters()
    assert not torch.equal(before, embed.edge_table)
    assert torch.equal(embed.bias, torch.zeros(8))
    assert embed.edge_table.abs().max() <= 1 / (2 * 2 * 3) ** 0.5


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

