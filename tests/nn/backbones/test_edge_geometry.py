import pytest
import torch
from torch_geometric.data import Data

from lps_geometric.nn import ConcatEdgeGeometry


class Capture(torch.nn.Module):
    r"""Returns the edge features it receives."""
    level = 'node'
    max_nodes = 8

    def forward(self, data):
        return data.edge_attr


def tiny():
    pos = torch.tensor([[0., 0., 0.], [3., 4., 0.], [0., 0., 2.]])
    vel = torch.tensor([[1., 0., 0.], [1., 0., 0.], [0., 1., 0.]])
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
    return Data(x=torch.ones(3, 1), pos=pos, vel=vel, edge_index=edge_index,
                edge_attr=torch.tensor([[7.], [8.], [9.]]))


def test_features_are_differences_and_lengths_target_minus_source():
    out = ConcatEdgeGeometry(Capture(), keys=('pos', 'vel'), in_channels=1)(tiny())
    assert out.shape == (3, 1 + 4 + 4)
    # edge 0 -> 1: pos_1 - pos_0 = (3, 4, 0), length 5; vel difference 0, length ~0
    assert torch.allclose(out[0], torch.tensor([7., 3., 4., 0., 5., 0., 0., 0., 0.]),
                          atol=1e-5)
    # edge 2 -> 0: pos_0 - pos_2 = (0, 0, -2); vel_0 - vel_2 = (1, -1, 0)
    assert torch.allclose(out[2, 1:], torch.tensor([0., 0., -2., 2., 1., -1., 0.,
                                                    2 ** 0.5]), atol=1e-6)
    no_norms = ConcatEdgeGeometry(Capture(), keys=('pos', ), norms=False)(tiny())
    assert no_norms.shape == (3, 3)


def test_inner_products_of_differences_come_last():
    data = tiny()
    layer = ConcatEdgeGeometry(Capture(), keys=('pos', 'vel'), in_channels=1,
                               inner_products=True)
    out = layer(data)
    assert out.shape == (3, 1 + 4 + 4 + 1)
    plain = ConcatEdgeGeometry(Capture(), keys=('pos', 'vel'), in_channels=1)(data)
    assert torch.equal(out[:, :-1], plain)
    # edge 0 -> 1: (3, 4, 0) . (0, 0, 0) = 0; edge 1 -> 2: (-3, -4, 2) . (-1, 1, 0) = -1;
    # edge 2 -> 0: (0, 0, -2) . (1, -1, 0) = 0
    assert torch.allclose(out[:, -1], torch.tensor([0., -1., 0.]))
    # invariant under a rotation and reflection applied to both vectors, and a shift
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    moved = data.clone()
    moved.pos, moved.vel = data.pos @ q.T + torch.randn(3), data.vel @ q.T
    assert torch.allclose(layer(moved)[:, -1], out[:, -1], atol=1e-5)
    assert 'inner_products=True' in repr(layer)


def test_inner_products_of_multichannel_vectors():
    data = tiny()
    data.vec = torch.randn(3, 2, 3)
    layer = ConcatEdgeGeometry(Capture(), keys=('vel', 'vec', 'pos'), norms=False,
                               inner_products=True)
    out = layer(data)
    # 3 + 6 + 3 differences, then <vel, vec> (2), <vel, pos> (1), <vec, pos> (2)
    assert out.shape == (3, 12 + 2 + 1 + 2)
    src, dst = data.edge_index
    dvel, dvec, dpos = (data[k][dst] - data[k][src] for k in ('vel', 'vec', 'pos'))
    expected = torch.cat([(dvec * dvel[:, None]).sum(-1), (dvel * dpos).sum(-1, True),
                          (dvec * dpos[:, None]).sum(-1)], dim=-1)
    assert torch.allclose(out[:, 12:], expected, atol=1e-6)
    data.low = torch.randn(3, 2)
    with pytest.raises(ValueError, match='one dimension'):
        ConcatEdgeGeometry(Capture(), keys=('pos', 'low'), inner_products=True)(data)


def test_multichannel_vectors_and_wrapper_attributes():
    data = tiny()
    data.vec = torch.randn(3, 2, 3)
    layer = ConcatEdgeGeometry(Capture(), keys=('vec', ), in_channels=1)
    out = layer(data)
    assert out.shape == (3, 1 + 2 * 3 + 2)
    expected = (data.vec[[1, 2, 0]] - data.vec[[0, 1, 2]]).reshape(3, 6)
    assert torch.allclose(out[:, 1:7], expected)
    assert torch.allclose(out[:, 7:], expected.view(3, 2, 3).norm(dim=-1))
    caps = layer.capabilities
    assert caps.edge_dim == 1 and caps.level == 'node' and caps.max_nodes == 8
    assert 'keys=' in repr(layer)


def test_invariances_of_the_features():
    data = tiny()
    layer = ConcatEdgeGeometry(Capture(), keys=('pos', ))
    base = layer(data)
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    moved = data.clone()
    moved.pos = data.pos @ q.T + torch.randn(3)
    out = layer(moved)
    assert torch.allclose(out[:, :3], base[:, :3] @ q.T, atol=1e-5)   # rotates along
    assert torch.allclose(out[:, 3], base[:, 3], atol=1e-5)           # lengths invariant


def test_coincident_nodes_give_finite_gradients():
    data = tiny()
    data.pos = torch.zeros(3, 3, requires_grad=True)
    out = ConcatEdgeGeometry(Capture(), keys=('pos', ))(data)
    out.sum().backward()
    assert torch.isfinite(data.pos.grad).all()


def test_clear_errors():
    data = tiny()
    with pytest.raises(ValueError, match="'acc'"):
        ConcatEdgeGeometry(Capture(), keys=('acc', ))(data)
    del data.edge_attr
    with pytest.raises(ValueError, match='edge_attr'):
        ConcatEdgeGeometry(Capture(), keys=('pos', ), in_channels=1)(data)
    with pytest.raises(ValueError, match='at least one'):
        ConcatEdgeGeometry(Capture(), keys=())
    data = tiny()
    data.pos = torch.zeros(3)
    with pytest.raises(ValueError, match='shape'):
        ConcatEdgeGeometry(Capture(), keys=('pos', ))(data)


def test_inverse_power_fields_of_the_first_key_come_last():
    data = tiny()
    layer = ConcatEdgeGeometry(Capture(), keys=('pos', 'vel'), in_channels=1,
                               inner_products=True, inverse_powers=(1, 2), softening=0.5)
    out = layer(data)
    assert out.shape == (3, 1 + 4 + 4 + 1 + 2 * 4)
    plain = ConcatEdgeGeometry(Capture(), keys=('pos', 'vel'), in_channels=1,
                               inner_products=True)(data)
    assert torch.equal(out[:, :10], plain)
    # edge 0 -> 1: delta (3, 4, 0), softened distance sqrt(25 + 0.25)
    r = (25.25) ** 0.5
    delta = torch.tensor([3., 4., 0.])
    expected = torch.cat([delta / r ** 2, torch.tensor([1 / r]),
                          delta / r ** 3, torch.tensor([1 / r ** 2])])
    assert torch.allclose(out[0, 10:], expected, atol=1e-6)
    # coincident points stay finite; the fields rotate with the frame, lengths do not
    data.pos[1] = data.pos[0]
    assert torch.isfinite(layer(data)).all()
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    moved = data.clone()
    moved.pos, moved.vel = data.pos @ q.T + torch.randn(3), data.vel @ q.T
    a, b = layer(data)[:, 10:].view(3, 2, 4), layer(moved)[:, 10:].view(3, 2, 4)
    assert torch.allclose(b[..., :3], a[..., :3] @ q.T, atol=1e-5)
    assert torch.allclose(b[..., 3], a[..., 3], atol=1e-5)
    assert 'inverse_powers=(1, 2)' in repr(layer)
    for bad in (dict(inverse_powers=(0,)), dict(inverse_powers=(2,), softening=0.0)):
        with pytest.raises(ValueError):
            ConcatEdgeGeometry(Capture(), keys=('pos',), **bad)
