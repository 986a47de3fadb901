r"""Minimal frames of :math:`S_n \times O(d)` and its relatives
(:mod:`lps_geometric.frames.product`): the stabiliser as the frame, exactness, and the
clustering of nearly equal values."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import ProductMinimalFrameSampler
from lps_geometric.frames.product import cluster_values
from lps_geometric.groups import EuclideanGroup, ProductGroup
from lps_geometric.nn import Symmetrize
from lps_geometric.testing import OrderedMLP, cube, regular_polygon, tetrahedron

from .clouds import cloud

pytest.importorskip('pynauty')


@pytest.mark.parametrize('special', [False, True])
def test_product_mfa_frame_size_is_the_stabilizer(special):
    gen = torch.Generator().manual_seed(0)
    shapes = [torch.randn(6, 3, generator=gen, dtype=torch.float64), regular_polygon(5),
              regular_polygon(4) * torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64),
              tetrahedron(), cube()]
    expected_o3 = [1, 20, 8, 24, 48]
    expected_so3 = [1, 10, 4, 12, 24]
    data = Batch.from_data_list([cloud(p) for p in shapes])
    sample = ProductMinimalFrameSampler(3, special=special, budget=64)(data)
    expected = expected_so3 if special else expected_o3
    assert sample.frame_size.tolist() == expected
    used = sample.graph_index[sample.weight > 0]
    assert torch.bincount(used).tolist() == expected
    canon = sample.element.apply(sample.stacked).pos
    for graph in range(len(shapes)):
        copies = ((sample.graph_index == graph) & (sample.weight > 0)).nonzero().view(-1)
        clouds = [canon[sample.stacked.ptr[c]:sample.stacked.ptr[c + 1]]
                  for c in copies.tolist()]
        assert all(torch.allclose(c, clouds[0], atol=1e-12) for c in clouds)


@pytest.mark.parametrize('dim', [2, 3])
def test_product_mfa_polygon_in_the_plane(dim):
    data = Batch.from_data_list([cloud(regular_polygon(6, dim))])
    o = ProductMinimalFrameSampler(dim, special=False)(data).frame_size.item()
    so = ProductMinimalFrameSampler(dim, special=True)(data).frame_size.item()
    assert (o, so) == ((12, 6) if dim == 2 else (24, 12))


@pytest.mark.parametrize('special', [False, True])
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_product_frames_are_exactly_equivariant(special, dtype, tol):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    shapes = [torch.randn(n, 3, generator=gen, dtype=torch.float64) for n in (5, 7)]
    shapes += [regular_polygon(5)]
    data = Batch.from_data_list([cloud(p.to(dtype)) for p in shapes])
    sampler = ProductMinimalFrameSampler(3, special=special)
    backbone = OrderedMLP(4, 3, max_nodes=7, keys=('pos', 'x'), level='node').to(dtype)
    net = Symmetrize(backbone, sampler, level='node', output='position').eval()
    group = ProductGroup(EuclideanGroup(3, special=special))
    assert_equivariant(net, data, group, num_trials=3, output='position', rtol=tol)


def test_cluster_values_orders_and_merges_close_values():
    values = np.array([[0.3, 0.1], [0.1 + 1e-9, 0.7]])
    labels = cluster_values(values, tol=1e-6)
    assert labels.shape == (2, 2) and labels.dtype == np.int64
    assert labels.tolist() == [[1, 0], [0, 2]]
    # a chain of small steps is one cluster; a coarse tolerance merges more
    chain = cluster_values(np.array([0.0, 0.5e-6, 1.0e-6, 1.0]), 1e-6)
    assert chain.tolist() == [0, 0, 0, 1]
    assert cluster_values(np.array([0.0, 0.2, 0.4]), 0.3).tolist() == [0, 0, 0]
    assert cluster_values(np.zeros((0, 3)), 1e-6).shape == (0, 3)
