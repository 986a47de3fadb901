import pytest
import torch

from lps_geometric.groups import frame_conditioning, haar_orthogonal, polar_frame

DT = torch.float64


def _rotated(v, R):
    return torch.einsum('bij,bkj->bki', R, v)      # every row vector rotated


@pytest.mark.parametrize('dim', [2, 3, 5])
def test_frames_are_orthogonal_and_rotations_when_special(dim):
    v = torch.randn(32, dim, dim, dtype=DT)
    eye = torch.eye(dim, dtype=DT).expand(32, dim, dim)
    for special in (False, True):
        Q = polar_frame(v, special=special)
        assert torch.allclose(Q.transpose(1, 2) @ Q, eye, atol=1e-12)
        det = torch.linalg.det(Q)
        if special:
            assert torch.allclose(det, torch.ones(32, dtype=DT))
        else:     # the nearest orthogonal matrix keeps the orientation of the vectors
            assert torch.equal(torch.sign(det), torch.sign(torch.linalg.det(v)))


def test_o3_frame_is_equivariant_under_reflections_so3_only_under_rotations():
    gen = torch.Generator().manual_seed(4)
    v = torch.randn(64, 3, 3, generator=gen, dtype=DT)
    R = haar_orthogonal(64, 3, False, gen, dtype=DT)
    reflect = torch.linalg.det(R) < 0
    assert reflect.any() and (~reflect).any()
    rv = _rotated(v, R)
    assert torch.allclose(polar_frame(rv), R @ polar_frame(v), atol=1e-10)
    S, Sr = polar_frame(v, special=True), polar_frame(rv, special=True)
    assert torch.allclose(Sr[~reflect], (R @ S)[~reflect], atol=1e-10)
    assert not torch.allclose(Sr[reflect], (R @ S)[reflect], atol=1e-3)


def test_frame_is_the_nearest_orthogonal_matrix():
    # a matrix that is already orthogonal (as columns) is its own frame
    R = haar_orthogonal(8, 3, True, torch.Generator().manual_seed(0), dtype=DT)
    assert torch.allclose(polar_frame(R.transpose(1, 2)), R, atol=1e-12)
    # a symmetric positive definite matrix has the identity as its frame
    a = torch.randn(8, 3, 3, dtype=DT)
    spd = a @ a.transpose(1, 2) + 3 * torch.eye(3, dtype=DT)
    assert torch.allclose(polar_frame(spd), torch.eye(3, dtype=DT).expand(8, 3, 3),
                          atol=1e-12)


def test_conditioning_is_invariant_scale_free_and_zero_on_degenerate_input():
    gen = torch.Generator().manual_seed(5)
    v = torch.randn(16, 3, 3, generator=gen, dtype=DT)
    R = haar_orthogonal(16, 3, False, gen, dtype=DT)
    for special in (False, True):
        mu = frame_conditioning(v, special=special)
        assert ((mu >= 0) & (mu <= 1)).all()
        assert torch.allclose(frame_conditioning(7.5 * v, special=special), mu)
        if not special:
            assert torch.allclose(frame_conditioning(_rotated(v, R)), mu, atol=1e-12)
        Q, mu2 = polar_frame(v, special=special, return_conditioning=True)
        assert torch.allclose(mu2, mu)
    zero = torch.zeros(2, 3, 3, dtype=DT)
    Q, mu = polar_frame(zero, return_conditioning=True)
    assert torch.isfinite(Q).all() and torch.equal(mu, torch.zeros(2, dtype=DT))
    assert torch.allclose(Q.transpose(1, 2) @ Q, torch.eye(3, dtype=DT).expand(2, 3, 3))
    rank_one = torch.outer(torch.ones(3, dtype=DT), torch.tensor([1., 2., 3.],
                                                                 dtype=DT)).unsqueeze(0)
    assert frame_conditioning(rank_one).item() == pytest.approx(0.0, abs=1e-7)
    assert frame_conditioning(torch.eye(3, dtype=DT).unsqueeze(0)).item() == 1.0


def test_gradient_is_the_first_derivative():
    v = (torch.randn(3, 3, 3, dtype=DT) + 2 * torch.eye(3, dtype=DT)).requires_grad_()
    for special in (False, True):
        assert torch.autograd.gradcheck(lambda x: polar_frame(x, special=special), (v,))
    zero = torch.zeros(1, 3, 3, dtype=DT, requires_grad=True)
    polar_frame(zero).sum().backward()
    assert torch.equal(zero.grad, torch.zeros_like(zero))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match='shape'):
        polar_frame(torch.randn(2, 3, 2))
    with pytest.raises(ValueError, match='shape'):
        frame_conditioning(torch.randn(3, 3))
    with pytest.raises(ValueError, match='floating point'):
        polar_frame(torch.ones(1, 2, 2, dtype=torch.long))
    assert polar_frame(torch.randn(4, 3, 3)).dtype == torch.float32
