import pytest
import torch

from lps_geometric.groups import (EuclideanGroup, OrthogonalGroup, ProductGroup,
                                  SymmetricGroup, transport_noise)
from lps_geometric.testing import random_point_cloud_batch

DT = torch.float64
K = 3                                   # stacked copies of the batch


@pytest.fixture
def data():
    torch.manual_seed(0)
    return random_point_cloud_batch((5, 3, 1, 6), dtype=DT)


def _rotate_copies(noise, rotation, batch):
    num_nodes = batch.numel()
    rows = rotation[batch].repeat(K, 1, 1)                # the rotation of every row
    assert rows.size(0) == noise.size(0) == K * num_nodes
    return torch.einsum('nij,nj->ni', rows, noise)


def _permute_copies(noise, perm, num_nodes):
    out = torch.empty_like(noise)
    for r in range(K):
        block = slice(r * num_nodes, (r + 1) * num_nodes)
        out[block] = perm.permute_nodes(noise[block])
    return out


def test_permutation_moves_the_rows_of_every_copy(data):
    perm = SymmetricGroup().random_element(data)
    noise = torch.randn(K * data.num_nodes, 4, dtype=DT)
    out = transport_noise(perm, noise, data, K)
    assert torch.equal(out, _permute_copies(noise, perm, data.num_nodes))
    assert not torch.equal(out, noise)


def test_euclidean_element_rotates_vector_noise_without_translating(data):
    g = EuclideanGroup().random_element(data)
    assert g.translation is not None and g.translation.abs().max() > 0
    noise = torch.randn(K * data.num_nodes, 3, dtype=DT)
    out = transport_noise(g, noise, data, K)
    assert torch.allclose(out, _rotate_copies(noise, g.rotation, data.batch), atol=1e-12)
    assert torch.allclose(out.norm(dim=-1), noise.norm(dim=-1))      # no translation
    # noise of another width than the dimension is not a vector: it stays as it is
    scalars = torch.randn(K * data.num_nodes, 2, dtype=DT)
    assert torch.equal(transport_noise(g, scalars, data, K), scalars)


def test_product_element_rotates_and_moves(data):
    a = ProductGroup(OrthogonalGroup()).random_element(data)
    noise = torch.randn(K * data.num_nodes, 3, dtype=DT)
    expected = _permute_copies(_rotate_copies(noise, a.transform.rotation, data.batch),
                               a.permutation, data.num_nodes)
    assert torch.allclose(transport_noise(a, noise, data, K), expected, atol=1e-12)


def test_identity_keeps_the_noise_and_other_elements_are_refused(data):
    noise = torch.randn(K * data.num_nodes, 3, dtype=DT)
    identity = ProductGroup(EuclideanGroup()).identity(data)
    assert torch.allclose(transport_noise(identity, noise, data, K), noise)
    with pytest.raises(TypeError, match='Unsupported group element'):
        transport_noise(object(), noise, data, K)
