import pytest
import torch

from lps_geometric.groups import EuclideanGroup, OrthogonalGroup, ProductGroup, segment_argsort
from lps_geometric.samplers import (EuclideanFrameSampler, ProductSampler,
                                    UniformProductSampler, UniformRotationSampler)
from lps_geometric.testing import random_point_cloud, random_point_cloud_batch, transport_noise
from torch_geometric.data import Batch, Data

DT = torch.float64


def clouds(sizes=(5, 4, 7), **kw):
    torch.manual_seed(0)
    return random_point_cloud_batch(sizes, dtype=DT, **kw)


def frame_and_center(sample):
    el = sample.element
    el = getattr(el, 'transform', el)
    Q = el.rotation.transpose(1, 2)          # h = (Q^T, -Q^T c)
    c = None if el.translation is None else -(Q @ el.translation.unsqueeze(-1)).squeeze(-1)
    return Q, c


@pytest.mark.parametrize('norm', [False, True])
@pytest.mark.parametrize('translation', ['centroid', 'learned', 'none'])
def test_frame_sampler_exactly_equivariant_with_transported_noise(translation, norm):
    data = clouds()
    sampler = EuclideanFrameSampler(1, hidden_channels=16, num_layers=2,
                                    vector_keys=('vel',), edge_dim=1,
                                    translation=translation, norm=norm).double()
    group = EuclideanGroup() if translation != 'none' else OrthogonalGroup()
    k = 3
    noise = torch.randn(k * data.num_nodes, 3, dtype=DT)
    Q, c = frame_and_center(sampler(data, k, noise=noise))
    for seed in range(3):
        g = group.random_element(data, torch.Generator().manual_seed(seed))
        moved = group.act(g, data)
        Qg, cg = frame_and_center(sampler(moved, k,
                                          noise=transport_noise(g, noise, data, k)))
        R = g.rotation.repeat(k, 1, 1)
        assert torch.allclose(Qg, R @ Q, atol=1e-9)
        if translation == 'none':
            assert c is None and cg is None
        else:
            t = g.translation.repeat(k, 1)
            assert torch.allclose(cg, (R @ c.unsqueeze(-1)).squeeze(-1) + t, atol=1e-9)


def test_so3_frames_follow_rotations_but_not_reflections():
    data = clouds()
    k = 2
    noise = torch.randn(k * data.num_nodes, 3, dtype=DT)
    o3 = EuclideanFrameSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1).double()
    so3 = EuclideanFrameSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1,
                                special=True).double()
    so3.load_state_dict(o3.state_dict())
    reflection = -torch.eye(3, dtype=DT)  # the parity, det = -1
    g = OrthogonalGroup().identity(data)
    g.rotation = reflection.expand(data.num_graphs, 3, 3).clone()
    moved = g.apply(data)
    for sampler, equivariant in ((o3, True), (so3, False)):
        Q, _ = frame_and_center(sampler(data, k, noise=noise))
        Qg, _ = frame_and_center(sampler(moved, k, noise=transport_noise(g, noise, data, k)))
        assert torch.allclose(torch.linalg.det(Q).abs(), torch.ones(len(Q), dtype=DT))
        close = torch.allclose(Qg, reflection @ Q, atol=1e-9)
        assert close == equivariant
    # SO(3) frames always have det +1, O(3) frames take both signs over samples
    Qs, _ = frame_and_center(so3(data, 50))
    assert torch.allclose(torch.linalg.det(Qs), torch.ones(len(Qs), dtype=DT))
    Qo, _ = frame_and_center(o3(data, 50))
    assert (torch.linalg.det(Qo) < 0).any() and (torch.linalg.det(Qo) > 0).any()


@pytest.mark.parametrize('noise_scale', [0.0, 1.0])
def test_degenerate_clouds_give_valid_frames(noise_scale):
    line = torch.tensor([[0., 0., 0.], [1., 1., 1.], [2., 2., 2.], [-1., -1., -1.]], dtype=DT)
    plane = torch.tensor([[0., 0., 0.], [1., 0., 0.], [0., 1., 0.], [1., 1., 0.]], dtype=DT)
    same = torch.ones(4, 3, dtype=DT)
    graphs = []
    for pos in (line, plane, same, torch.zeros(1, 3, dtype=DT)):
        d = random_point_cloud(pos.size(0), dtype=DT, velocities=False)
        d.pos = pos
        graphs.append(d)
    data = Batch.from_data_list(graphs)
    sampler = EuclideanFrameSampler(1, 16, 2, edge_dim=1, noise_scale=noise_scale).double()
    for special in (False, True):
        sampler.special = special
        Q, c = frame_and_center(sampler(data, 4))
        assert torch.isfinite(Q).all() and torch.isfinite(c).all()
        eye = torch.eye(3, dtype=DT).expand_as(Q)
        assert torch.allclose(Q.transpose(1, 2) @ Q, eye, atol=1e-9)


def test_frame_sampler_errors_and_repr():
    data = clouds()
    sampler = EuclideanFrameSampler(1, 8, 1, vector_keys=('vel',), edge_dim=1).double()
    with pytest.raises(ValueError, match='noise'):
        sampler(data, 2, noise=torch.randn(3, 3, dtype=DT))
    no_pos = Data(x=data.x, edge_index=data.edge_index, edge_attr=data.edge_attr,
                  vel=data.vel)
    with pytest.raises(ValueError, match='pos'):
        sampler(no_pos, 1)
    del data.vel
    with pytest.raises(ValueError, match="'vel'"):
        sampler(data, 1)
    with pytest.raises(ValueError, match='translation'):
        EuclideanFrameSampler(1, translation='median')
    assert 'E(3)' in repr(sampler) and 'S_n x SE(3)' in repr(ProductSampler(1, special=True))


def test_overflowing_frame_network_is_an_error_and_norm_prevents_it():
    # large weights and a large input: the products of vectors in the EGNN's messages
    # overflow float32 within three layers (as after long training on n-body)
    torch.manual_seed(0)
    data = random_point_cloud_batch((5, 5, 5))
    data.pos = data.pos * 1e3
    data.vel = data.vel * 1e3
    for norm in (False, True):
        sampler = ProductSampler(1, 16, 3, vector_keys=('vel',), edge_dim=1, norm=norm)
        with torch.no_grad():
            for p in sampler.parameters():
                p.mul_(8.0)
        if norm:
            assert 'norm=True' in repr(sampler)
            Q, _ = frame_and_center(sampler(data, 2))
            assert torch.isfinite(Q).all()
        else:
            with pytest.raises(FloatingPointError, match='non-finite vectors for 6 of 6 graphs'):
                sampler(data, 2)


def test_product_sampler_ranks_and_frames_follow_the_group():
    data = clouds()
    k = 3
    sampler = ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1).double()
    noise = torch.randn(k * data.num_nodes, 3, dtype=DT)
    s = sampler(data, k, noise=noise)
    group = ProductGroup(EuclideanGroup())
    g = group.random_element(data, torch.Generator().manual_seed(5))
    sg = sampler(group.act(g, data), k, noise=transport_noise(g, noise, data, k))
    # the permutation part follows: node v of the input is node sigma(v) of the moved
    # input, and gets the same rank there
    moved_index = (s.element.permutation.ptr[s.element.permutation.batch]
                   + g.permutation.rank.repeat(k))
    assert torch.equal(sg.element.permutation.rank[moved_index], s.element.permutation.rank)
    Q, _ = frame_and_center(s)
    Qg, _ = frame_and_center(sg)
    assert torch.allclose(Qg, g.transform.rotation.repeat(k, 1, 1) @ Q, atol=1e-9)
    # the straight-through band and the entropy exist in training
    assert s.band is not None and s.entropy is not None
    # exactly tied scores are ordered by the length of the noise, which moves along
    torch.nn.init.zeros_(sampler.score.weight)
    with torch.no_grad():
        s = sampler(data, k, noise=noise)
        sg = sampler(group.act(g, data), k, noise=transport_noise(g, noise, data, k))
    assert torch.equal(sg.element.permutation.rank[moved_index], s.element.permutation.rank)
    assert torch.equal(s.element.permutation.rank,
                       segment_argsort(noise.norm(dim=1), s.stacked.batch, s.stacked.ptr))


def test_uniform_samplers_are_haar_and_centred():
    data = clouds()
    gen = torch.Generator().manual_seed(0)
    for sampler in (UniformRotationSampler(), UniformProductSampler(special=True)):
        s = sampler(data, 2000, generator=gen)
        el = getattr(s.element, 'transform', s.element)
        R = el.rotation
        assert torch.allclose(R @ R.transpose(1, 2),
                              torch.eye(3, dtype=DT).expand_as(R), atol=1e-10)
        assert R.mean(0).abs().max() < 0.05
        canonical = s.element.apply(s.stacked)
        from torch_geometric.utils import scatter
        centre = scatter(canonical.pos, canonical.batch, dim=0, reduce='mean')
        assert centre.abs().max() < 1e-10
    assert repr(UniformRotationSampler(special=True, center=False)) == \
        'UniformRotationSampler(SO(3))'
