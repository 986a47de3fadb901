import math

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import (OrthogonalMinimalFrameSampler, PCAFrameSampler,
                                  pivoted_gram_schmidt)
from lps_geometric.groups import EuclideanGroup, OrthogonalGroup
from lps_geometric.nn import EGNN, Symmetrize
from lps_geometric.testing import OrderedMLP, cube, regular_polygon

GROUPS = [(False, False), (True, False), (False, True), (True, True)]  # special, transl.


def group_of(dim, special, translation):
    cls = EuclideanGroup if translation else OrthogonalGroup
    return cls(dim, special=special)


def cloud_batch(dim=3, sizes=(5, 7, 4), dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return Batch.from_data_list([
        Data(pos=torch.randn(n, dim, generator=gen, dtype=dtype),
             x=torch.randn(n, 2, generator=gen, dtype=dtype),
             edge_index=torch.empty(2, 0, dtype=torch.long)) for n in sizes])


def model(sampler, dim, output, dtype=torch.float64, max_nodes=7):
    level = 'graph' if output == 'scalar' else 'node'
    out_channels = 3 if output == 'scalar' else dim
    backbone = OrderedMLP(dim + 2, out_channels, max_nodes, keys=('pos', 'x'),
                          level=level).to(dtype)
    return Symmetrize(backbone, sampler, output=output).eval()


@pytest.mark.parametrize('special,translation', GROUPS)
@pytest.mark.parametrize('frame', ['fa', 'mfa'])
@pytest.mark.parametrize('output', ['scalar', 'vector', 'position'])
def test_exact_equivariance_float64(frame, special, translation, output):
    torch.manual_seed(0)
    cls = PCAFrameSampler if frame == 'fa' else OrthogonalMinimalFrameSampler
    if output == 'position' and not translation:
        output = 'vector'
    net = model(cls(3, special, translation), 3, output, max_nodes=8)
    data = cloud_batch()
    if frame == 'mfa':   # inputs with symmetries: a hexagon (rank 2) and a cube
        shapes = data.to_data_list() + [
            Data(pos=p, x=torch.randn(p.size(0), 2, dtype=torch.float64),
                 edge_index=torch.empty(2, 0, dtype=torch.long))
            for p in (regular_polygon(6), cube())]
        data = Batch.from_data_list(shapes)
    group = group_of(3, special, translation)
    assert_equivariant(net, data, group, num_trials=3, output=output, rtol=1e-10)


@pytest.mark.parametrize('frame', ['fa', 'mfa'])
def test_exact_equivariance_float32(frame):
    torch.manual_seed(0)
    cls = PCAFrameSampler if frame == 'fa' else OrthogonalMinimalFrameSampler
    net = model(cls(3, False, True), 3, 'position', dtype=torch.float32)
    data = cloud_batch(dtype=torch.float32)
    assert_equivariant(net, data, 'E(3)', num_trials=3, output='position', rtol=1e-5)


@pytest.mark.parametrize('dim', [2, 4, 5])
def test_mfa_any_dimension(dim):
    torch.manual_seed(0)
    net = model(OrthogonalMinimalFrameSampler(dim, special=False), dim, 'position',
                max_nodes=9)
    data = cloud_batch(dim, sizes=(dim + 2, dim + 4))
    assert_equivariant(net, data, f'E({dim})', num_trials=3, output='position', rtol=1e-10)


def test_reflections_separate_o3_from_so3():
    torch.manual_seed(0)
    data = cloud_batch()
    reflect = OrthogonalGroup(3)
    for special, expect_invariant in ((False, True), (True, False)):
        net = model(OrthogonalMinimalFrameSampler(3, special, False), 3, 'scalar')
        out = net(data)
        mirrored = data.clone()
        mirrored.pos = mirrored.pos * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
        err = (net(mirrored) - out).abs().max().item()
        assert (err < 1e-10) == expect_invariant, (special, err)
        # rotations are fine for both
        assert_equivariant(net, data, OrthogonalGroup(3, special=True), rtol=1e-10)
    del reflect


def test_mfa_frame_size_is_the_stabilizer():
    gen = torch.Generator().manual_seed(1)
    full = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    planar = regular_polygon(6)
    line = torch.linspace(-1, 1, 5, dtype=torch.float64).view(-1, 1) * torch.tensor(
        [[1.0, 2.0, 0.5]], dtype=torch.float64)
    data = Batch.from_data_list([Data(pos=p) for p in (full, planar, line)])
    # O(3): O(3 - r) = {1}, {±1}, O(2)
    o3 = OrthogonalMinimalFrameSampler(3, special=False, translation=False)(data)
    assert o3.frame_size.tolist() == [1.0, 2.0, math.inf]
    so3 = OrthogonalMinimalFrameSampler(3, special=True, translation=False)(data)
    assert so3.frame_size.tolist() == [1.0, 1.0, math.inf]
    # ragged: one copy, two copies, `budget` copies
    assert torch.bincount(o3.graph_index).tolist() == [1, 2, 8]
    # every frame element maps the cloud to the same canonical cloud
    canon = o3.element.apply(o3.stacked).pos
    for graph in range(3):
        copies = (o3.graph_index == graph).nonzero().view(-1).tolist()
        clouds = [canon[o3.stacked.ptr[c]:o3.stacked.ptr[c + 1]] for c in copies]
        assert all(torch.allclose(c, clouds[0], atol=1e-12) for c in clouds)
    # frames are orthogonal, determinants +1 for SO(3)
    rot = so3.element.rotation
    eye = torch.eye(3, dtype=rot.dtype).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(rot.size(0),
                                                            dtype=rot.dtype))


def test_mfa_continuous_stabilizer_is_equivariant_in_distribution():
    torch.manual_seed(0)
    line = torch.linspace(-1, 1, 5, dtype=torch.float64).view(-1, 1) * torch.tensor(
        [[1.0, 2.0, 0.5]], dtype=torch.float64)
    data = Batch.from_data_list([Data(pos=line, x=torch.zeros(5, 2, dtype=torch.float64),
                                      edge_index=torch.empty(2, 0, dtype=torch.long))])
    net = model(OrthogonalMinimalFrameSampler(3, budget=4000), 3, 'scalar', max_nodes=5)
    out = net(data)
    g = EuclideanGroup(3).random_element(data)
    moved = net(g.apply(data))
    assert (out - moved).abs().max() < 0.05 * out.abs().max()


def test_pca_frame_sizes_and_ties():
    torch.manual_seed(0)
    data = Batch.from_data_list([Data(pos=p) for p in (
        torch.randn(6, 3, dtype=torch.float64), cube(), regular_polygon(5))])
    fa = PCAFrameSampler(3, tie_samples=3)(data)
    assert fa.frame_size.tolist() == [8.0, math.inf, math.inf]
    assert int(fa.counts.max()) == 8 * 3
    so3 = PCAFrameSampler(3, special=True)(data)
    assert torch.allclose(torch.linalg.det(so3.element.rotation),
                          torch.ones(so3.element.rotation.size(0), dtype=torch.float64))
    # no NaN for a single point or coincident points
    degenerate = Batch.from_data_list([Data(pos=torch.zeros(1, 3)),
                                       Data(pos=torch.ones(4, 3))])
    for cls in (PCAFrameSampler, OrthogonalMinimalFrameSampler):
        sample = cls(3)(degenerate)
        assert torch.isfinite(sample.element.rotation).all()
        assert torch.isfinite(sample.element.apply(sample.stacked).pos).all()


def test_fa_and_mfa_agree_with_an_equivariant_backbone():
    torch.manual_seed(0)
    data = cloud_batch(sizes=(5, 6))
    data.x = data.x.float()
    data.pos = data.pos.float()
    data.edge_index = torch.tensor([[0, 1, 2, 1], [1, 0, 1, 2]])
    egnn = EGNN(2, hidden_channels=16, num_layers=2, out_channels=3).eval()

    class Backbone(torch.nn.Module):
        level = 'graph'

        def forward(self, batch):
            h, _, _ = egnn(batch.x, batch.pos, batch.edge_index)
            return scatter(h, batch.batch, dim=0, reduce='sum')

    plain = Backbone()(data)
    for sampler in (PCAFrameSampler(3), OrthogonalMinimalFrameSampler(3)):
        out = Symmetrize(Backbone(), sampler).eval()(data)
        assert torch.allclose(out, plain, atol=1e-4), sampler


def test_pivoted_gram_schmidt_is_equivariant():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    batch = torch.zeros(7, dtype=torch.long)
    q, rank = pivoted_gram_schmidt(x, batch, 1)
    r = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))[0]
    q2, _ = pivoted_gram_schmidt(x @ r.T, batch, 1)
    assert rank.tolist() == [4]
    assert torch.allclose(q2[0], r @ q[0], atol=1e-12)


def test_bad_point_input():
    sampler = OrthogonalMinimalFrameSampler(3)
    with pytest.raises(ValueError, match='pos'):
        sampler(Data(x=torch.randn(3, 2), num_nodes=3))
    with pytest.raises(ValueError, match='NaN'):
        sampler(Data(pos=torch.tensor([[0.0, float('nan'), 1.0]])))
    with pytest.raises(ValueError, match=r'\(\|V\|, 3\)'):
        PCAFrameSampler(3)(Data(pos=torch.randn(4, 2)))
