r"""Laplacian frame averaging on graphs (:mod:`lps_geometric.frames.laplacian`): exactness
on simple spectra, sampling inside ties, and the spectral keys."""
import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import from_networkx

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import LaplacianFrameSampler, laplacian_eigenkeys
from lps_geometric.nn import AdjacencyMLP, Symmetrize
from lps_geometric.testing import symmetric_graph

pytest.importorskip('pynauty')


def test_laplacian_fa_exact_on_graphs_with_simple_spectrum():
    torch.manual_seed(0)
    sampler = LaplacianFrameSampler(num_blocks=3)
    graphs, seed = [], 0
    while len(graphs) < 4:       # keep graphs whose spectral keys leave no ties
        g = from_networkx(nx.gnp_random_graph(8, 0.45, seed=seed))
        g = Data(x=torch.ones(8, 1), edge_index=g.edge_index, num_nodes=8)
        if sampler(Batch.from_data_list([g])).frame_size.item() == 8:
            graphs.append(g)
        seed += 1
    batch = Batch.from_data_list(graphs)
    sample = sampler(batch)
    assert torch.isfinite(sample.frame_size).all()
    assert (sample.frame_size == 8).all()           # 2^3 sign choices, no remaining ties
    backbone = AdjacencyMLP(in_channels=1, out_channels=3, max_nodes=8)
    net = Symmetrize(backbone, sampler).eval()
    assert_equivariant(net, batch, 'S_n', num_trials=4, rtol=1e-5)


def test_laplacian_fa_ties_on_symmetric_graphs():
    batch = Batch.from_data_list([symmetric_graph('petersen'), symmetric_graph('cycle', 5)])
    sample = LaplacianFrameSampler(tie_samples=3)(batch)
    assert torch.bincount(sample.graph_index).tolist() == [8 * 3, 8 * 3]
    assert (sample.frame_size > 8).all()            # ties remain: sampled inside them
    ranks = sample.element.rank[:sample.stacked.ptr[24]].view(24, 10)
    assert (ranks.sort(dim=1).values == torch.arange(10)).all()


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_set_mfa_and_laplacian_fa_precision(dtype, tol):
    torch.manual_seed(0)
    sampler = LaplacianFrameSampler()
    graphs, seed = [], 0
    while len(graphs) < 3:
        g = from_networkx(nx.gnp_random_graph(7, 0.5, seed=seed))
        g = Data(x=torch.ones(7, 1, dtype=dtype), edge_index=g.edge_index, num_nodes=7)
        if sampler(Batch.from_data_list([g])).frame_size.item() == 8:
            graphs.append(g)
        seed += 1
    backbone = AdjacencyMLP(in_channels=1, out_channels=3, max_nodes=7).to(dtype)
    net = Symmetrize(backbone, sampler).eval()
    assert_equivariant(net, Batch.from_data_list(graphs), 'S_n', num_trials=4, rtol=tol)


def test_laplacian_eigenkeys_are_eigenvectors_and_projector_diagonals():
    path = from_networkx(nx.path_graph(5))
    cycle = symmetric_graph('cycle', 6)
    batch = Batch.from_data_list([Data(edge_index=path.edge_index, num_nodes=5),
                                  Data(edge_index=cycle.edge_index, num_nodes=6)])
    keys, simple = laplacian_eigenkeys(batch, num_blocks=2)
    assert keys.shape == (11, 2) and simple.shape == (2, 2)
    # the path has a simple spectrum; the cycle's non-trivial eigenvalues are double
    assert simple.tolist() == [[True, True], [False, False]]
    adj = torch.tensor(nx.to_numpy_array(nx.path_graph(5)))
    lap = torch.diag(adj.sum(-1)) - adj
    evals, evecs = torch.linalg.eigh(lap)
    for c in range(2):   # up to sign, the eigenvectors of the 2nd and 3rd eigenvalues
        key = keys[:5, c]
        assert torch.allclose(lap @ key, evals[c + 1] * key, atol=1e-8)
        assert torch.allclose(key.abs(), evecs[:, c + 1].abs(), atol=1e-8)
    # projector diagonals of a vertex-transitive graph are constant: 2 / 6
    assert torch.allclose(keys[5:], torch.full((6, 2), 2 / 6, dtype=keys.dtype),
                          atol=1e-8)
