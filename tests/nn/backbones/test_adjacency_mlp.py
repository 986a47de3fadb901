r"""The MLP on the adjacency image (:mod:`lps_geometric.nn.backbones.adjacency_mlp`): the
flattened dense image, symmetrization, capabilities and the size check."""
import pytest
import torch

from lps_geometric import PermutationSampler, Symmetrize
from lps_geometric.nn import AdjacencyMLP, to_dense_image
from lps_geometric.testing import random_batch
from lps_geometric.utils import GraphInputError


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


def test_adjacency_mlp_reads_the_flattened_dense_image():
    torch.manual_seed(0)
    data = random_batch(sizes=(4, 2), node_channels=3, edge_channels=2)
    mlp = AdjacencyMLP(3, 5, max_nodes=4, edge_dim=2, hidden_channels=[7]).eval()
    assert mlp.mlp.lins[0].in_channels == 4 * 4 * (1 + 2 + 3)
    image = to_dense_image(data, 4, edge_dim=2, node_dim=3)
    assert torch.allclose(mlp(data), mlp.mlp(image.flatten(1)), atol=1e-6)
    assert mlp(data).shape == (2, 5)
    caps = mlp.capabilities
    assert (caps.level, caps.max_nodes, caps.in_channels, caps.edge_dim,
            caps.reads_band) == ('graph', 4, 3, 2, True)
    assert AdjacencyMLP(0, 1, max_nodes=3).capabilities.in_channels is None
    with pytest.raises(GraphInputError):
        mlp(random_batch(sizes=(5,), node_channels=3, edge_channels=2))
    before = mlp.mlp.lins[0].weight.detach().clone()
    mlp.reset_parameters()
    assert not torch.equal(before, mlp.mlp.lins[0].weight)
    assert isinstance(Symmetrize(mlp, PermutationSampler(3, edge_dim=2)), Symmetrize)
