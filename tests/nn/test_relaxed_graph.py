import torch
from torch_geometric.utils import to_dense_adj, to_dense_batch

from lps_geometric import PermutationSampler, Symmetrize
from lps_geometric.nn import AdjacencyMLP
from lps_geometric.groups import Permutation
from lps_geometric.nn import to_dense_image
from lps_geometric.samplers import banded_soft_rank, straight_through
from lps_geometric.samplers.relaxation import band_positions
from lps_geometric.testing import random_batch
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


def test_adjacency_mlp_symmetrized():
    data = random_batch(sizes=(4, 3, 1))
    from lps_geometric import equivariance_error
    from lps_geometric.samplers import ExhaustivePermutationSampler
    from lps_geometric.diagnostics import assert_equivariant
    mlp = AdjacencyMLP(3, 2, max_nodes=4, edge_dim=4, hidden_channels=[32])
    exact = Symmetrize(mlp, ExhaustivePermutationSampler()).eval()
    assert_equivariant(exact, data, rtol=1e-5)
    assert equivariance_error(mlp, data).max_abs > 1e-4
    lps = Symmetrize(mlp, PermutationSampler(3, edge_dim=4, tau=0.5), num_samples=2)
    lps(data).sum().backward()
    assert sum(float(p.grad.abs().sum()) for p in lps.sampler.parameters()) > 0
    assert 'AdjacencyMLP(3, 2' in repr(mlp)
