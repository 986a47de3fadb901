r"""Frames of :math:`S_n \times E(d)` that sort the canonical coordinates
(:mod:`lps_geometric.frames.sorting`)."""
import pytest
import torch
from torch_geometric.data import Batch

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import (OrthogonalMinimalFrameSampler, PCAFrameSampler,
                                  SortedProductFrameSampler)
from lps_geometric.groups import EuclideanGroup, ProductGroup
from lps_geometric.nn import Symmetrize
from lps_geometric.testing import OrderedMLP

from .clouds import cloud


@pytest.mark.parametrize('special', [False, True])
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_product_frames_are_exactly_equivariant(special, dtype, tol):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    shapes = [torch.randn(n, 3, generator=gen, dtype=torch.float64) for n in (5, 7)]
    data = Batch.from_data_list([cloud(p.to(dtype)) for p in shapes])
    sampler = SortedProductFrameSampler(PCAFrameSampler(3, special=special))
    backbone = OrderedMLP(4, 3, max_nodes=7, keys=('pos', 'x'), level='node').to(dtype)
    net = Symmetrize(backbone, sampler, level='node', output='position').eval()
    group = ProductGroup(EuclideanGroup(3, special=special))
    assert_equivariant(net, data, group, num_trials=3, output='position', rtol=tol)


def test_sorted_coordinates_are_the_same_for_every_node_order():
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    sampler = SortedProductFrameSampler(OrthogonalMinimalFrameSampler(3))
    assert sampler.dim == 3 and sampler.draws_samples is False
    sample = sampler(Batch.from_data_list([cloud(pos)]))
    # a generic cloud: one Euclidean frame element, no ties, one copy
    assert sample.counts.tolist() == [1] and sample.frame_size.tolist() == [1.0]
    canon = sample.element.apply(sample.stacked).pos
    perm = torch.randperm(6, generator=gen)
    moved = sampler(Batch.from_data_list([cloud(pos[perm])]))
    assert torch.allclose(moved.element.apply(moved.stacked).pos, canon, atol=1e-12)
    # the canonical rows are sorted lexicographically (x is constant, so by coordinates)
    assert torch.equal(canon[:, 0], canon[:, 0].sort().values)


def test_tied_rows_get_tie_samples_copies_and_a_larger_frame():
    pos = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]],
                       dtype=torch.float64)
    frame = OrthogonalMinimalFrameSampler(3, translation=False)
    sampler = SortedProductFrameSampler(frame, tie_samples=3)
    sample = sampler(Batch.from_data_list([cloud(pos)]))
    assert sample.counts.tolist() == [3]
    assert sample.frame_size.tolist() == [2.0]               # the two equal rows swap
    assert torch.allclose(sample.weight.sum(), torch.ones((), dtype=torch.float64))


def test_sorted_product_frame_refuses_bad_settings():
    with pytest.raises(ValueError, match="'key'"):
        SortedProductFrameSampler(torch.nn.Identity())
    with pytest.raises(ValueError):
        SortedProductFrameSampler(PCAFrameSampler(3), tie_samples=0)
    with pytest.raises(ValueError):
        SortedProductFrameSampler(PCAFrameSampler(3), decimals=-1)
    assert 'PCAFrameSampler' in repr(SortedProductFrameSampler(PCAFrameSampler(3)))
