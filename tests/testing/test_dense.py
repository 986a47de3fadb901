r"""The dense oracle of :mod:`lps_geometric.testing.dense`, checked on its own: the
assignment matrices, the dense image and the dense symmetrization against the sparse
layer with the same noise."""
import pytest
import torch
from torch_geometric.utils import to_dense_batch

from lps_geometric import AdjacencyPatchTransformer, PermutationSampler, Symmetrize
from lps_geometric.groups import Permutation
from lps_geometric.testing import (DenseSymmetrize, dense_adjacency_image, dense_assignment,
                                   dense_soft_assignment, random_batch)
from lps_geometric.utils.batch import max_graph_size, to_ptr_batch


def _perm(data, seed=0):
    batch, ptr, _ = to_ptr_batch(data)
    return Permutation.random(batch, ptr, generator=torch.Generator().manual_seed(seed))


def test_dense_assignment_is_the_permutation_matrix():
    data = random_batch((5, 1, 3), seed=0)
    perm = _perm(data)
    n = max_graph_size(data.ptr)
    M = dense_assignment(perm, n)
    assert M.shape == (3, n, n)
    sizes = (data.ptr[1:] - data.ptr[:-1]).tolist()
    for b, size in enumerate(sizes):
        block = M[b, :size, :size]
        assert torch.equal(block.sum(0), torch.ones(size))       # a permutation matrix
        assert torch.equal(block.sum(1), torch.ones(size))
        assert float(M[b].sum()) == size                         # nothing outside
    # M^T X puts every node's row at its position, as Permutation.permute_nodes does
    x, _ = to_dense_batch(data.x, data.batch, max_num_nodes=n)
    moved, _ = to_dense_batch(perm.permute_nodes(data.x), data.batch, max_num_nodes=n)
    assert torch.allclose(torch.einsum('bvi,bvf->bif', M, x), moved)


@pytest.mark.parametrize('band', [None, 1])
def test_soft_assignment_rows_are_distributions(band):
    data = random_batch((6, 4, 1), seed=1)
    batch, ptr, _ = to_ptr_batch(data)
    score = torch.randn(data.num_nodes)
    perm = Permutation.from_scores(score, batch, ptr)
    n = max_graph_size(ptr)
    P = dense_soft_assignment(score, perm, n, tau=0.5, band=band)
    _, mask = to_dense_batch(score, batch, max_num_nodes=n)
    assert torch.allclose(P.sum(-1)[mask], torch.ones(int(mask.sum())))
    assert float(P[~mask].abs().sum()) == 0
    assert bool((P >= 0).all())
    if band is not None:
        rank, _ = to_dense_batch(perm.rank, batch, max_num_nodes=n)
        j = torch.arange(n).view(1, 1, -1)
        outside = (j - rank.unsqueeze(2)).abs() > band
        assert float(P[outside].abs().sum()) == 0
    # a small temperature gives the hard assignment
    cold = dense_soft_assignment(score, perm, n, tau=1e-4, band=band)
    assert torch.allclose(cold, dense_assignment(perm, n), atol=1e-6)


def test_sinkhorn_makes_the_soft_assignment_nearly_doubly_stochastic():
    data = random_batch((7,), seed=2)
    batch, ptr, _ = to_ptr_batch(data)
    score = torch.randn(7)
    perm = Permutation.from_scores(score, batch, ptr)
    plain = dense_soft_assignment(score, perm, 7, tau=1.0)
    balanced = dense_soft_assignment(score, perm, 7, tau=1.0, sinkhorn_iters=50)
    ones = torch.ones(7)
    assert (balanced[0].sum(0) - ones).abs().max() < 1e-3
    assert (balanced[0].sum(0) - ones).abs().max() < (plain[0].sum(0) - ones).abs().max()


def test_dense_adjacency_image_reads_edges_and_features():
    data = random_batch((4, 3), seed=3)
    image, x = dense_adjacency_image(data, 4, edge_dim=4)
    assert image.shape == (2, 4, 4, 5) and x.shape == (2, 4, 3)
    for b in range(2):
        lo = int(data.ptr[b])
        mask = data.batch[data.edge_index[0]] == b
        src, dst = data.edge_index[:, mask] - lo
        assert float(image[b, ..., 0].sum()) == int(mask.sum())
        assert torch.equal(image[b, src, dst, 0], torch.ones(int(mask.sum())))
        assert torch.allclose(image[b, src, dst, 1:], data.edge_attr[mask])
    assert torch.equal(x[1, :3], data.x[4:])
    assert float(x[1, 3].abs().sum()) == 0                  # padding
    plain, _ = dense_adjacency_image(data, 4, edge_dim=0)
    assert torch.equal(plain, image[..., :1])


@pytest.mark.parametrize('level', ['graph', 'node'])
def test_dense_symmetrize_equals_the_sparse_layer(level):
    torch.manual_seed(0)
    data = random_batch((5, 3, 6), seed=4)
    backbone = AdjacencyPatchTransformer(3, 2, max_nodes=6, edge_dim=4, patch_size=2,
                                         embed_dim=16, depth=1, num_heads=2, level=level)
    sampler = PermutationSampler(3, hidden_channels=8, edge_dim=4, dropout=0.0, band=2)
    noise = torch.rand(2 * data.num_nodes, 1)
    sparse = Symmetrize(backbone, sampler, num_samples=2)(data, noise=noise)
    dense = DenseSymmetrize(backbone, sampler, num_samples=2, band=2)(data, noise=noise)
    assert dense.shape == sparse.shape == ((3, 2) if level == 'graph' else (14, 2))
    assert torch.allclose(dense, sparse, atol=1e-5)
