import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.groups import LinearTransform, LorentzGroup, UnitaryGroup, haar_unitary
from lps_geometric.groups.linear import minkowski_inner, minkowski_metric, random_lorentz

DT = torch.float64


@pytest.mark.parametrize('dim', [2, 4])
@pytest.mark.parametrize('special', [False, True])
def test_random_lorentz_preserves_the_metric(dim, special):
    gen = torch.Generator().manual_seed(0)
    L = random_lorentz(200, dim, special, rapidity=1.0, generator=gen)
    eta = minkowski_metric(dim)
    assert torch.allclose(L.transpose(1, 2) @ eta @ L, eta.expand_as(L), atol=1e-8)
    det = torch.linalg.det(L)
    if special:
        assert torch.allclose(det, torch.ones_like(det))
    else:
        assert (det < 0).any() and (det > 0).any()
    a, b = torch.randn(200, dim, dtype=DT), torch.randn(200, dim, dtype=DT)
    La, Lb = torch.einsum('bij,bj->bi', L, a), torch.einsum('bij,bj->bi', L, b)
    assert torch.allclose(minkowski_inner(La, Lb), minkowski_inner(a, b), atol=1e-7)


def test_minkowski_inner_signature():
    a = torch.tensor([2., 1., 0., 3.])
    assert minkowski_inner(a, a).item() == 4 - 1 - 9
    assert torch.equal(minkowski_metric(3, torch.float32), torch.diag(torch.tensor(
        [1., -1., -1.])))


@pytest.mark.parametrize('special', [False, True])
def test_haar_unitary_is_unitary(special):
    gen = torch.Generator().manual_seed(1)
    U = haar_unitary(500, 3, special, gen)
    eye = torch.eye(3, dtype=U.dtype).expand_as(U)
    assert torch.allclose(U.conj().transpose(1, 2) @ U, eye, atol=1e-10)
    det = torch.linalg.det(U)
    if special:
        assert torch.allclose(det, torch.ones_like(det), atol=1e-10)
    else:     # determinants spread over the circle
        assert det.angle().std() > 1.0
    assert U.mean(0).abs().max() < 0.1              # Haar: E[U] = 0


def _data(dim, dtype, sizes=(3, 4)):
    return Batch.from_data_list([Data(pos=torch.randn(n, dim, dtype=dtype), num_nodes=n)
                                 for n in sizes])


def test_inverses_and_group_names():
    data = _data(4, DT)
    lorentz = LorentzGroup(4)
    L = lorentz.random_element(data, torch.Generator().manual_seed(2))
    assert isinstance(L, LinearTransform) and L.kind == 'lorentz'
    eye = torch.eye(4, dtype=DT).expand(2, 4, 4)
    assert torch.allclose(L.compose(L.inverse()).rotation, eye, atol=1e-10)
    moved = L.apply(data)
    assert torch.allclose(L.inverse().apply(moved).pos, data.pos, atol=1e-10)
    assert lorentz.name == 'O(1,3)' and LorentzGroup(3, special=True).name == 'SO(1,2)'
    cdata = _data(2, torch.complex128)
    U = UnitaryGroup(2).random_element(cdata, torch.Generator().manual_seed(3))
    assert torch.allclose(U.compose(U.inverse()).rotation,
                          torch.eye(2, dtype=torch.complex128).expand(2, 2, 2), atol=1e-10)
    assert UnitaryGroup(2).name == 'U(2)' and UnitaryGroup(3, special=True).name == 'SU(3)'
    assert torch.equal(UnitaryGroup(2).identity(cdata).rotation,
                       torch.eye(2, dtype=torch.complex64).expand(2, 2, 2))
    with pytest.raises(ValueError, match='kind'):
        LinearTransform(eye, data.batch, 'symplectic')
