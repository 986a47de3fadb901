r"""The input checks and centring shared by the point-cloud frames
(:mod:`lps_geometric.frames.points`)."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.frames import OrthogonalMinimalFrameSampler, PCAFrameSampler
from lps_geometric.frames.base import FrameSampler
from lps_geometric.frames.points import (GramSchmidtFrameSampler, PointFrameSampler,
                                         centroid, points_of)
from lps_geometric.utils import GraphInputError


def test_points_of_returns_the_points_and_the_batch_layout():
    data = Batch.from_data_list([Data(pos=torch.randn(n, 3), edge_index=torch.empty(
        2, 0, dtype=torch.long)) for n in (2, 3)])
    points, batch, ptr, num_graphs = points_of(data, 3)
    assert points is data.pos
    assert batch.tolist() == [0, 0, 1, 1, 1]
    assert ptr.tolist() == [0, 2, 5] and num_graphs == 2
    # a single graph without a batch vector
    single = Data(v=torch.randn(4, 2), num_nodes=4)
    points, batch, ptr, num_graphs = points_of(single, 2, key='v')
    assert points is single.v and batch.tolist() == [0] * 4
    assert ptr.tolist() == [0, 4] and num_graphs == 1


def test_points_of_refuses_bad_points():
    with pytest.raises(GraphInputError, match="no 'pos'"):
        points_of(Data(x=torch.randn(3, 2), num_nodes=3), 3)
    with pytest.raises(GraphInputError, match='NaN'):
        points_of(Data(pos=torch.tensor([[0.0, float('nan'), 1.0]])), 3)
    with pytest.raises(GraphInputError, match=r'\(\|V\|, 3\)'):
        points_of(Data(pos=torch.randn(4, 2)), 3)
    with pytest.raises(GraphInputError):
        points_of(Data(pos=torch.arange(6).view(2, 3)), 3)          # not floating
    with pytest.raises(GraphInputError, match='complex'):
        points_of(Data(pos=torch.randn(2, 3)), 3, complex_pos=True)
    pos = torch.complex(torch.randn(2, 3), torch.randn(2, 3))
    assert points_of(Data(pos=pos), 3, complex_pos=True)[0] is pos
    # GraphInputError is a ValueError
    assert issubclass(GraphInputError, ValueError)


def test_bad_point_input():
    sampler = OrthogonalMinimalFrameSampler(3)
    with pytest.raises(ValueError, match='pos'):
        sampler(Data(x=torch.randn(3, 2), num_nodes=3))
    with pytest.raises(ValueError, match='NaN'):
        sampler(Data(pos=torch.tensor([[0.0, float('nan'), 1.0]])))
    with pytest.raises(ValueError, match=r'\(\|V\|, 3\)'):
        PCAFrameSampler(3)(Data(pos=torch.randn(4, 2)))


def test_centroid_is_the_mean_of_each_graph_or_none():
    points = torch.tensor([[0.0, 0.0], [2.0, 4.0], [1.0, 1.0], [3.0, 1.0], [5.0, 7.0]])
    batch = torch.tensor([0, 0, 1, 1, 1])
    assert torch.allclose(centroid(points, batch, 2),
                          torch.tensor([[1.0, 2.0], [3.0, 3.0]]))
    assert centroid(points, batch, 2, enabled=False) is None
    # a graph without nodes has centroid zero
    assert torch.allclose(centroid(points, batch, 3)[2], torch.zeros(2))


def test_point_frame_constructors_keep_their_settings_and_check_them():
    frame = PointFrameSampler(4, True, key='coords', position_keys=['coords'],
                              vector_keys=['vel'])
    assert isinstance(frame, FrameSampler) and frame.draws_samples is False
    assert (frame.dim, frame.special, frame.key) == (4, True, 'coords')
    assert frame.position_keys == ('coords',) and frame.vector_keys == ('vel',)
    assert frame.requires_pos
    assert list(frame.parameters()) == []
    frame.reset_parameters()
    gs = GramSchmidtFrameSampler(3, False, budget=5, pivot_tol=1e-3, rank_tol=1e-7)
    assert (gs.budget, gs.pivot_tol, gs.rank_tol) == (5, 1e-3, 1e-7)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError):
            PointFrameSampler(bad, False)
    with pytest.raises(ValueError, match='budget'):
        GramSchmidtFrameSampler(3, False, budget=0)


def test_the_point_frames_read_the_points_from_key():
    gen = torch.Generator().manual_seed(0)
    pts = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    by_pos = PCAFrameSampler(3)(Data(pos=pts))
    by_key = PCAFrameSampler(3, key='coords', position_keys=('coords',))(
        Data(coords=pts, num_nodes=5))
    assert torch.allclose(by_pos.element.rotation, by_key.element.rotation)
    sample = OrthogonalMinimalFrameSampler(3, key='coords', position_keys=('coords',))(
        Data(coords=pts, num_nodes=5))
    canon = sample.element.apply(sample.stacked).coords
    # centred, then rotated: the centroid of the canonical cloud is the origin
    assert torch.allclose(canon.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)
