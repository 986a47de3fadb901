r"""The deliberately non-equivariant :class:`~lps_geometric.testing.OrderedMLP`: it
reads the node order, so it must change under a relabelling and a rotation."""
import pytest
import torch

from lps_geometric.testing import OrderedMLP, random_point_cloud_batch


def test_shapes_at_both_levels():
    data = random_point_cloud_batch((5, 3, 4))
    assert OrderedMLP(3, 2, max_nodes=5)(data).shape == (3, 2)
    assert OrderedMLP(6, 2, max_nodes=5, keys=('pos', 'vel'),
                      level='node')(data).shape == (12, 2)


def test_it_depends_on_the_node_order_and_the_frame():
    torch.manual_seed(0)
    data = random_point_cloud_batch((5,))
    model = OrderedMLP(3, 4, max_nodes=5)
    moved = data.clone()
    moved.pos = data.pos[torch.tensor([1, 0, 2, 3, 4])]
    assert not torch.allclose(model(data), model(moved), atol=1e-4)
    rotated = data.clone()
    rotated.pos = data.pos @ torch.tensor([[0., -1, 0], [1, 0, 0], [0, 0, 1]]).T
    assert not torch.allclose(model(data), model(rotated), atol=1e-4)


def test_node_outputs_follow_their_graph_rows():
    torch.manual_seed(1)
    data = random_point_cloud_batch((2, 3))
    model = OrderedMLP(3, 1, max_nodes=3, level='node')
    out = model(data)
    alone = random_point_cloud_batch((3,))
    alone.pos = data.pos[2:]
    assert torch.allclose(out[2:], model(alone), atol=1e-6)


def test_complex_attributes_are_read_as_real_and_imaginary_parts():
    data = random_point_cloud_batch((4,))
    data.z = torch.complex(data.pos, data.vel)
    model = OrderedMLP(6, 2, max_nodes=4, keys=('z',))
    reference = OrderedMLP(6, 2, max_nodes=4, keys=('pos', 'vel'))
    reference.load_state_dict(model.state_dict())
    # (re, im) interleaved per coordinate, so permute the reference's input columns
    data.both = torch.stack([data.pos, data.vel], dim=-1).reshape(4, 6)
    reference.keys = ('both',)
    assert torch.allclose(model(data), reference(data))


def test_reset_parameters_and_repr():
    model = OrderedMLP(3, 2, max_nodes=4)
    before = [p.clone() for p in model.parameters()]
    model.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert repr(model) == "OrderedMLP(3, 2, max_nodes=4, keys=('pos',), level=graph)"


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="'level'"):
        OrderedMLP(3, 2, max_nodes=4, level='edge')
