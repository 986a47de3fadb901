import pytest
import torch
from torch_geometric.nn import GIN, global_add_pool

from lps_geometric import EquivarianceReport, SymmetricGroup, equivariance_error
from lps_geometric.diagnostics import resolve_group
from lps_geometric.testing import random_batch


def test_pyg_gin_is_equivariant_and_invariant(batch):
    gin = GIN(3, 16, num_layers=2).eval()
    node = equivariance_error(lambda d: gin(d.x, d.edge_index), batch, level='node')
    graph = equivariance_error(
        lambda d: global_add_pool(gin(d.x, d.edge_index), d.batch), batch)
    assert node.level == 'node' and node.max_abs < 1e-5
    assert graph.level == 'graph' and graph.max_abs < 1e-5
    assert 'equivariance error' in str(node) and 'invariance error' in str(graph)


def test_detects_a_non_equivariant_model(batch):
    w = torch.randn(batch.num_nodes, 3)
    report = equivariance_error(lambda d: d.x * w, batch, num_trials=4)
    assert report.max_abs > 1e-2 and len(report.per_trial) == 4
    assert isinstance(report, EquivarianceReport)


def test_seed_replays_randomness(batch):
    noisy = lambda d: d.x.sum(0, keepdim=True) + torch.randn(1, 3)  # noqa: E731
    assert equivariance_error(noisy, batch, seed=0, level='graph').max_abs < 1e-5
    assert equivariance_error(noisy, batch, level='graph').max_abs > 1e-3


def test_group_resolution():
    assert isinstance(resolve_group('S_n'), SymmetricGroup)
    assert isinstance(resolve_group(None), SymmetricGroup)
    with pytest.raises(ValueError, match='Unknown group'):
        resolve_group('GL(3)')
    so7 = resolve_group('SO(7)')
    assert so7.dim == 7 and so7.special
    assert resolve_group('S_n x E(2)').name == 'S_n x E(2)'
    assert resolve_group('SO(1,3)').name == 'SO(1,3)'
    assert resolve_group('U(2)').name == 'U(2)'


def test_ambiguous_level_is_refused():
    data = random_batch(sizes=(3, ))
    with pytest.raises(ValueError, match='level'):
        equivariance_error(lambda d: torch.zeros(2, 1), data)
