r"""Samplers built around the user's own network: a PyG GIN scoring nodes for the
permutation sampler, an EGNN of the user's configuration for the Euclidean frame."""
import pytest
import torch
from torch_geometric.nn.models import GIN

from lps_geometric.nn.models import EGNN
from lps_geometric.samplers import EuclideanFrameSampler, PermutationSampler
from lps_geometric.testing import point_cloud_graph, random_batch


def test_permutation_sampler_with_a_pyg_gin_is_equivariant_with_the_noise():
    torch.manual_seed(0)
    data = random_batch(sizes=(6, 5, 7))
    gin = GIN(3 + 1, 16, num_layers=2, out_channels=1)
    sampler = PermutationSampler(3, network=gin).eval()
    assert sampler.network is gin and 'network=GIN' in repr(sampler)
    noise = torch.rand(data.num_nodes, 1)
    sample = sampler(data, 1, noise=noise)
    # Relabel the whole batch inside each graph and move the noise along.
    perm = torch.cat([torch.randperm(int(n)) + int(s) for n, s in
                      zip(data.ptr[1:] - data.ptr[:-1], data.ptr[:-1])])
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    moved = data.clone()
    moved.x = data.x[perm]
    moved.edge_index = inverse[data.edge_index]
    moved.edge_attr = data.edge_attr
    moved_sample = sampler(moved, 1, noise=noise[perm])
    # the canonical relabelling reads the same graph either way
    canon = sample.element.apply(sample.stacked)
    canon_moved = moved_sample.element.apply(moved_sample.stacked)
    assert torch.allclose(canon.x, canon_moved.x)
    # gradients reach the user's network through the relaxed permutation
    sampler.train()
    out = sampler(data, 2)
    out.band.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gin.parameters())


def test_permutation_sampler_refuses_a_network_with_the_wrong_output():
    data = random_batch(sizes=(4, 3))
    sampler = PermutationSampler(3, network=GIN(4, 8, num_layers=1, out_channels=2))
    with pytest.raises(ValueError, match='one score per node'):
        sampler(data, 1)
    with pytest.raises(TypeError, match='torch.nn.Module'):
        PermutationSampler(3, network=lambda h, e: h)


def test_euclidean_sampler_with_a_custom_egnn_is_exactly_equivariant():
    torch.manual_seed(1)
    data = point_cloud_graph(torch.randn(7, 3, dtype=torch.float64))
    net = EGNN(1, 24, 2, vector_channels=2, out_vector_channels=3,
               update_pos=False).double()
    sampler = EuclideanFrameSampler(0, network=net).double()
    assert sampler.net is net
    noise = torch.randn(7, 3, dtype=torch.float64)
    sample = sampler(data, 1, noise=noise)
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
    moved = data.clone()
    moved.pos = data.pos @ rotation.T + 0.5
    moved_sample = sampler(moved, 1, noise=noise @ rotation.T)
    canon = sample.element.apply(sample.stacked).pos
    canon_moved = moved_sample.element.apply(moved_sample.stacked).pos
    assert torch.allclose(canon, canon_moved, atol=1e-9)


def test_euclidean_sampler_refuses_a_network_with_the_wrong_vectors():
    data = point_cloud_graph(torch.randn(5, 3))
    net = EGNN(1, 8, 1, vector_channels=2, out_vector_channels=2, update_pos=False)
    with pytest.raises(ValueError, match='three vectors per node'):
        EuclideanFrameSampler(0, network=net)(data, 1)


def test_the_diagnostics_move_the_noise_of_a_sampler_with_its_own_network():
    from lps_geometric import Symmetrize, equivariance_error
    from lps_geometric.testing import OrderedMLP
    data = random_batch(sizes=(5, 4), seed=2)
    data.pos = torch.randn(data.num_nodes, 3)
    sampler = PermutationSampler(3, network=GIN(4, 16, num_layers=2, out_channels=1))
    model = Symmetrize(OrderedMLP(3, 2, max_nodes=8, keys=('pos',)), sampler,
                       num_samples=2).eval()
    report = equivariance_error(model, data, 'permutation', num_trials=2)
    assert report.noise == 'transported'
