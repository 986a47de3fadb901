import pytest
import torch

from lps_geometric.groups import (EuclideanGroup, EuclideanTransform, OrthogonalGroup,
                                  ProductElement, ProductGroup, haar_orthogonal)
from lps_geometric.testing import random_point_cloud_batch

DT = torch.float64


def batch(sizes=(5, 3, 1, 6)):
    torch.manual_seed(0)
    return random_point_cloud_batch(sizes, dtype=DT)


@pytest.mark.parametrize('special', [False, True])
def test_haar_orthogonal(special):
    gen = torch.Generator().manual_seed(0)
    R = haar_orthogonal(4000, 3, special, gen, dtype=DT)
    eye = torch.eye(3, dtype=DT)
    assert torch.allclose(R @ R.transpose(1, 2), eye.expand_as(R), atol=1e-12)
    det = torch.linalg.det(R)
    if special:
        assert torch.allclose(det, torch.ones_like(det))
    else:  # both cosets, about half each
        assert 0.45 < (det < 0).double().mean() < 0.55
    # Haar moments: E[R] = 0, E[R_ij^2] = 1/3 (5 standard errors)
    se = (1 / 3 / 4000) ** 0.5
    assert R.mean(0).abs().max() < 5 * se
    assert ((R ** 2).mean(0) - 1 / 3).abs().max() < 0.03


def test_transform_group_laws_and_actions():
    data = batch()
    group = EuclideanGroup()
    gen = torch.Generator().manual_seed(1)
    a, b = group.random_element(data, gen), group.random_element(data, gen)
    pos = data.pos
    # composition acts as successive application, inverse undoes
    assert torch.allclose(a.compose(b).act_positions(pos),
                          a.act_positions(b.act_positions(pos)), atol=1e-12)
    assert torch.allclose(a.inverse().act_positions(a.act_positions(pos)), pos,
                          atol=1e-12)
    # vectors ignore translations, scalars are untouched
    assert torch.allclose(a.act_vectors(data.vel),
                          a.act_positions(data.vel) - a.translation[data.batch])
    moved = group.act(a, data)
    assert torch.allclose(moved.pos, a.act_positions(data.pos))
    assert torch.allclose(moved.vel, a.act_vectors(data.vel))
    assert moved.x is data.x and moved.edge_index is data.edge_index
    # multi-channel vectors (N, C, 3)
    vec = torch.randn(data.num_nodes, 4, 3, dtype=DT)
    expected = torch.stack([a.act_vectors(vec[:, c]) for c in range(4)], dim=1)
    assert torch.allclose(a.act_vectors(vec), expected)
    # outputs: graph-level vectors rotate with their graph's element
    out = torch.randn(data.num_graphs, 3, dtype=DT)
    got = group.act_on_output(a, out, 'graph', 'position')
    assert torch.allclose(got, torch.einsum('bij,bj->bi', a.rotation, out) + a.translation)
    assert group.act_on_output(a, out, 'graph', 'scalar') is out
    with pytest.raises(ValueError, match='output'):
        group.act_on_output(a, out, 'graph', 'pseudo')
    with pytest.raises(ValueError, match='level'):
        group.act_on_output(a, out, 'edge', 'vector')
    back = a.pull_output(a.act_output(data.pos, 'node', 'position'), 'node', 'position')
    assert torch.allclose(back, data.pos, atol=1e-12)


def test_orthogonal_group_has_no_translation_and_so3_det():
    data = batch()
    g = OrthogonalGroup(special=True).random_element(data)
    assert g.translation is None
    assert torch.allclose(g.determinant(), torch.ones(data.num_graphs, dtype=DT))
    assert OrthogonalGroup().name == 'O(3)' and EuclideanGroup(special=True).name == 'SE(3)'
    with pytest.raises(ValueError, match='rotation'):
        EuclideanTransform(torch.eye(3), None, data.batch)


def test_product_group():
    data = batch()
    group = ProductGroup(EuclideanGroup())
    gen = torch.Generator().manual_seed(2)
    a, b = group.random_element(data, gen), group.random_element(data, gen)
    assert isinstance(a, ProductElement)
    ab = group.act(a.compose(b), data)
    a_b = group.act(a, group.act(b, data))
    for key in ('pos', 'vel', 'x'):
        assert torch.allclose(ab[key], a_b[key], atol=1e-12)
    assert torch.equal(ab.edge_index, a_b.edge_index)
    ident = group.act(a.inverse().compose(a), data)
    assert torch.allclose(ident.pos, data.pos, atol=1e-12)
    # node outputs: rows move with the permutation and vectors rotate
    out = torch.randn(data.num_nodes, 3, dtype=DT)
    moved = group.act_on_output(a, out, 'node', 'vector')
    expected = a.permutation.permute_nodes(a.transform.act_vectors(out))
    assert torch.allclose(moved, expected)
    assert torch.allclose(a.pull_output(moved, 'node', 'vector'), out, atol=1e-12)
