import torch
from torch_geometric.utils import to_dense_adj, to_dense_batch

from lps_geometric.groups import Permutation
from lps_geometric.nn import to_dense_image
from lps_geometric.samplers.relaxation import (band_positions, banded_soft_rank,
                                               straight_through)
from lps_geometric.utils.batch import max_graph_size


def dense_band_assignment(perm, band, n):
    """Dense (B, n, n) node->position matrix holding the band weights."""
    position, valid = band_positions(perm, (band.size(1) - 1) // 2)
    B = perm.ptr.numel() - 1
    local = torch.arange(perm.batch.numel()) - perm.ptr[perm.batch]
    M = torch.zeros(B, n, n)
    rows = perm.batch.unsqueeze(1).expand_as(position)
    cols = local.unsqueeze(1).expand_as(position)
    pos = position - perm.ptr[perm.batch].unsqueeze(1)
    return M.index_put((rows[valid], cols[valid], pos[valid]), band[valid],
                       accumulate=True)


def test_relaxed_dense_image_matches_dense_permutation(batch):
    score = torch.randn(batch.num_nodes, requires_grad=True)
    perm = Permutation.from_scores(score.detach(), batch.batch, batch.ptr)
    band = straight_through(banded_soft_rank(score, perm, band=2, tau=0.5), 2)
    n = max_graph_size(batch.ptr)
    canonical = perm.apply(batch)
    image = to_dense_image(canonical, n, edge_dim=4, node_dim=3,
                           band=perm.permute_nodes(band))
    weight = torch.randn_like(image)
    grad_sparse, = torch.autograd.grad((image * weight).sum(), score, retain_graph=True)

    M = dense_band_assignment(perm, band, n)
    A = to_dense_adj(batch.edge_index, batch.batch,
                     torch.cat([torch.ones(batch.num_edges, 1), batch.edge_attr], 1),
                     max_num_nodes=n)
    X, _ = to_dense_batch(batch.x, batch.batch, max_num_nodes=n)
    dense = torch.einsum('bui,buvc,bvj->bijc', M, A, M)
    diag = torch.einsum('bui,buf->bif', M, X)
    dense_image = torch.cat([dense, torch.zeros(*dense.shape[:3], 3)], -1)
    idx = torch.arange(n)
    dense_image[:, idx, idx, 5:] = diag
    grad_dense, = torch.autograd.grad((dense_image * weight).sum(), score)
    assert torch.allclose(image, dense_image, atol=1e-6)
    assert torch.allclose(grad_sparse, grad_dense, atol=1e-5)


def test_hard_dense_image_is_the_adjacency_with_features_on_the_diagonal(batch):
    n = max_graph_size(batch.ptr)
    image = to_dense_image(batch, n, edge_dim=4, node_dim=3)
    assert image.shape == (batch.num_graphs, n, n, 1 + 4 + 3)
    A = to_dense_adj(batch.edge_index, batch.batch,
                     torch.cat([torch.ones(batch.num_edges, 1), batch.edge_attr], 1),
                     max_num_nodes=n)
    assert torch.allclose(image[..., :5], A)
    X, _ = to_dense_batch(batch.x, batch.batch, max_num_nodes=n)
    idx = torch.arange(n)
    assert torch.allclose(image[:, idx, idx, 5:], X)
    off = ~torch.eye(n, dtype=torch.bool)
    assert (image[:, off, 5:] == 0).all()
    assert to_dense_image(batch, n, edge_dim=4, node_dim=3, dtype=torch.double).dtype \
        == torch.double


def test_pixel_entries_of_a_band():
    from lps_geometric.nn.relaxed_graph import edge_pixels, node_pixels
    batch = torch.tensor([0, 0, 0, 1, 1])
    ptr = torch.tensor([0, 3, 5])
    edge_index = torch.tensor([[0, 3], [2, 4]])
    hard = edge_pixels(edge_index, batch, ptr)
    assert hard.row.tolist() == [0, 0] and hard.col.tolist() == [2, 1]
    assert hard.weight.tolist() == [1.0, 1.0] and hard.graph.tolist() == [0, 1]
    band = torch.rand(5, 3)
    relaxed = edge_pixels(edge_index, batch, ptr, band)
    assert relaxed.weight.numel() == 2 * (4 * 1 + 1)
    # the hard pixel weighs band[src, w] * band[dst, w]
    assert torch.allclose(relaxed.weight[:2], band[[0, 3], 1] * band[[2, 4], 1])
    # shifted rows and columns are clamped into their graph
    assert relaxed.row.max() <= 2 and relaxed.col[relaxed.graph == 1].max() <= 1
    nodes = node_pixels(batch, ptr, band)
    assert torch.equal(nodes.row, nodes.col)
    assert nodes.row.tolist() == [0, 0, 1, 0, 1, 2, 1, 2, 2, 0, 0, 1, 0, 1, 1]
    assert torch.equal(nodes.weight, band.reshape(-1))
