r"""Minimal frames of :math:`O(d)`, :math:`SO(d)`, :math:`E(d)`, :math:`SE(d)`
(:mod:`lps_geometric.frames.orthogonal`): exact equivariance, the stabiliser as the
frame, the pivoted Gram-Schmidt and the stabiliser helpers."""
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import OrthogonalMinimalFrameSampler, pivoted_gram_schmidt
from lps_geometric.frames.orthogonal import (apply_stabilizer, stabilizer_frames,
                                             stabilizer_size)
from lps_geometric.groups import EuclideanGroup, OrthogonalGroup
from lps_geometric.testing import cube, regular_polygon

from .clouds import GROUPS, cloud_batch, frame_and_plain_outputs, group_of, model


@pytest.mark.parametrize('special,translation', GROUPS)
@pytest.mark.parametrize('output', ['scalar', 'vector', 'position'])
def test_exact_equivariance_float64(special, translation, output):
    torch.manual_seed(0)
    if output == 'position' and not translation:
        output = 'vector'
    net = model(OrthogonalMinimalFrameSampler(3, special, translation), 3, output,
                max_nodes=8)
    # inputs with symmetries: a hexagon (rank 2) and a cube
    shapes = cloud_batch().to_data_list() + [
        Data(pos=p, x=torch.randn(p.size(0), 2, dtype=torch.float64),
             edge_index=torch.empty(2, 0, dtype=torch.long))
        for p in (regular_polygon(6), cube())]
    data = Batch.from_data_list(shapes)
    group = group_of(3, special, translation)
    assert_equivariant(net, data, group, num_trials=3, output=output, rtol=1e-10)


def test_exact_equivariance_float32():
    torch.manual_seed(0)
    net = model(OrthogonalMinimalFrameSampler(3, False, True), 3, 'position',
                dtype=torch.float32)
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


def test_fa_and_mfa_agree_with_an_equivariant_backbone():
    plain, out = frame_and_plain_outputs(OrthogonalMinimalFrameSampler(3))
    assert torch.allclose(out, plain, atol=1e-4)


def test_pivoted_gram_schmidt_is_equivariant():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    batch = torch.zeros(7, dtype=torch.long)
    q, rank = pivoted_gram_schmidt(x, batch, 1)
    r = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))[0]
    q2, _ = pivoted_gram_schmidt(x @ r.T, batch, 1)
    assert rank.tolist() == [4]
    assert torch.allclose(q2[0], r @ q[0], atol=1e-12)


def test_pivoted_gram_schmidt_rank_and_orthonormal_columns():
    gen = torch.Generator().manual_seed(0)
    full = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    plane = torch.randn(4, 2, generator=gen, dtype=torch.float64) @ torch.randn(
        2, 3, generator=gen, dtype=torch.float64)
    points = torch.cat([full, plane, torch.zeros(2, 3, dtype=torch.float64)])
    batch = torch.tensor([0] * 5 + [1] * 4 + [2] * 2)
    q, rank = pivoted_gram_schmidt(points, batch, 3)
    assert q.shape == (3, 3, 3) and rank.tolist() == [3, 2, 0]
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(q[0].T @ q[0], eye, atol=1e-12)
    # the first two columns of the planar graph span its plane
    basis = q[1, :, :2]
    assert torch.allclose(basis.T @ basis, eye[:2, :2], atol=1e-12)
    assert torch.allclose(plane @ basis @ basis.T, plane, atol=1e-10)


def test_stabilizer_size_of_every_rank():
    rank = torch.tensor([3, 2, 1, 0])
    assert stabilizer_size(rank, 3, special=False).tolist() == [1.0, 2.0, math.inf,
                                                                math.inf]
    assert stabilizer_size(rank, 3, special=True).tolist() == [1.0, 1.0, math.inf,
                                                               math.inf]
    assert stabilizer_size(rank, 3, special=False).dtype == torch.float64


def test_apply_stabilizer_flips_fixes_determinants_and_keeps_the_span():
    gen = torch.Generator().manual_seed(0)
    frame = torch.linalg.qr(torch.randn(3, 3, 3, generator=gen, dtype=torch.float64))[0]
    rank = torch.tensor([3, 2, 1])
    frames = frame.unsqueeze(0).expand(2, -1, -1, -1)
    flip = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]], dtype=torch.float64)
    out = apply_stabilizer(frames, rank, special=False, flip=flip, generator=gen)
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3, 3)
    assert torch.allclose(out @ out.transpose(-1, -2), eye, atol=1e-12)
    # full rank: unchanged; rank d - 1: the last column's sign is the flip
    assert torch.allclose(out[:, 0], frame[0].expand(2, 3, 3))
    assert torch.allclose(out[0, 1], frame[1])
    assert torch.allclose(out[1, 1, :, :2], frame[1, :, :2])
    assert torch.allclose(out[1, 1, :, 2], -frame[1, :, 2])
    # rank 1: the first column stays, the others turn inside its complement
    assert torch.allclose(out[:, 2, :, 0], frame[2, :, 0].expand(2, 3))
    assert not torch.allclose(out[0, 2], out[1, 2])
    # the input is not modified
    assert torch.equal(frames[0], frame)
    special = apply_stabilizer(frames, rank, special=True, generator=gen)
    det = torch.linalg.det(special)
    assert torch.allclose(det, torch.ones_like(det), atol=1e-12)


def test_stabilizer_frames_stack_one_two_or_budget_copies():
    gen = torch.Generator().manual_seed(0)
    frame = torch.linalg.qr(torch.randn(3, 3, 3, generator=gen, dtype=torch.float64))[0]
    data = Batch.from_data_list([Data(pos=torch.randn(n, 3, dtype=torch.float64))
                                 for n in (3, 2, 4)])
    rank = torch.tensor([3, 2, 1])
    frames, size, stack = stabilizer_frames(frame, rank, False, 5, data, gen)
    assert size.tolist() == [1.0, 2.0, math.inf]
    assert stack.counts.tolist() == [1, 2, 5]
    assert frames.shape == (8, 3, 3)
    assert stack.stacked.num_graphs == 8
    # the two copies of the rank-2 graph are the two signs of the last column
    assert torch.allclose(frames[1], frame[1])
    assert torch.allclose(frames[2, :, 2], -frame[1, :, 2])
