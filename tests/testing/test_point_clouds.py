r"""The particle systems of :mod:`lps_geometric.testing.point_clouds`: complete or
radius graphs without self-loops, charges and their products as edge features,
reproducible for a generator, and the checks of :func:`point_cloud_graph`."""
import pytest
import torch

from lps_geometric.groups import transport_noise as groups_transport_noise
from lps_geometric.testing import (point_cloud_graph, random_point_cloud,
                                   random_point_cloud_batch, transport_noise)


def test_complete_particle_system():
    data = random_point_cloud(6, generator=torch.Generator().manual_seed(0))
    assert data.pos.shape == data.vel.shape == (6, 3) and data.x.shape == (6, 1)
    assert data.edge_index.shape == (2, 30)
    pairs = set(map(tuple, data.edge_index.t().tolist()))
    assert pairs == {(i, j) for i in range(6) for j in range(6) if i != j}
    assert set(data.x.view(-1).tolist()) <= {-1.0, 1.0}
    row, col = data.edge_index
    assert torch.equal(data.edge_attr, data.x[row] * data.x[col])


def test_radius_graph_keeps_only_close_pairs():
    generator = torch.Generator().manual_seed(1)
    data = random_point_cloud(20, complete=False, radius=1.0, generator=generator)
    row, col = data.edge_index
    dist = (data.pos[row] - data.pos[col]).norm(dim=1)
    assert bool((dist < 1.0).all()) and bool((row != col).all())
    all_dist = torch.cdist(data.pos, data.pos)
    assert data.num_edges == int(((all_dist < 1.0).sum() - 20))
    assert data.num_edges < 20 * 19


def test_options_dtype_and_generator():
    bare = random_point_cloud(4, charges=False, velocities=False)
    assert bare.x is None and 'vel' not in bare and bare.edge_attr is None
    double = random_point_cloud(4, dtype=torch.float64)
    assert double.pos.dtype == double.vel.dtype == double.x.dtype == torch.float64
    a = random_point_cloud(5, generator=torch.Generator().manual_seed(7))
    b = random_point_cloud(5, generator=torch.Generator().manual_seed(7))
    assert all(torch.equal(a[k], b[k]) for k in ('pos', 'vel', 'x', 'edge_index'))


def test_batch_of_clouds():
    batch = random_point_cloud_batch((3, 4), velocities=False)
    assert batch.num_graphs == 2 and batch.num_nodes == 7
    assert batch.num_edges == 3 * 2 + 4 * 3 and 'vel' not in batch
    assert random_point_cloud_batch().num_graphs == 3


def test_point_cloud_graph():
    pos = torch.randn(5, 3, dtype=torch.float64)
    data = point_cloud_graph(pos)
    assert torch.equal(data.x, torch.ones(5, 1, dtype=torch.float64))
    assert data.edge_index.shape == (2, 20) and data.num_nodes == 5
    assert bool((data.edge_index[0] != data.edge_index[1]).all())
    x = torch.randn(5, 2)
    assert torch.equal(point_cloud_graph(pos, x).x, x)
    with pytest.raises(ValueError, match="'x' must have 5 rows"):
        point_cloud_graph(pos, torch.randn(4, 2))
    with pytest.raises(ValueError, match="'pos'"):
        point_cloud_graph(torch.randn(5))
    with pytest.raises(ValueError, match="'pos'"):
        point_cloud_graph([[0.0, 0.0, 0.0]])


def test_transport_noise_is_the_groups_function():
    assert transport_noise is groups_transport_noise
