r"""Learned Euclidean frames are exact at the dtype's tolerance with the noise moved
along, on generic and on nearly degenerate or highly symmetric clouds, and report the
copies where they cannot be."""
import warnings

import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.groups import (EuclideanGroup, OrthogonalGroup, frame_conditioning,
                                  haar_orthogonal, polar_frame)
from lps_geometric.groups.gram_schmidt import gram_schmidt
from lps_geometric.nn import MPNN, ConcatNodeFeatures, Symmetrize
from lps_geometric.samplers import EuclideanFrameSampler, ProductSampler
from lps_geometric.samplers.euclidean import requantile_radii
from lps_geometric.testing import transport_noise
from lps_geometric.testing.point_clouds import point_cloud_graph
from lps_geometric.testing.shapes import (cube, icosahedron, nearly_collinear,
                                          nearly_planar, octahedron, regular_polygon,
                                          tetrahedron)
from lps_geometric.utils import GraphInputError


def adversarial_batch(dtype):
    g = torch.Generator().manual_seed(0)
    clouds = [torch.randn(8, 3, generator=g, dtype=torch.float64), tetrahedron(), cube(),
              octahedron(), icosahedron(), regular_polygon(6),
              nearly_collinear(7, 1e-3, g), nearly_planar(8, 1e-3, g)]
    return Batch.from_data_list([point_cloud_graph(p.to(dtype)) for p in clouds])


SAMPLERS = {
    'O(3)': lambda: EuclideanFrameSampler(1, 16, 2, translation='none'),
    'SO(3)': lambda: EuclideanFrameSampler(1, 16, 2, translation='none', special=True),
    'E(3)': lambda: EuclideanFrameSampler(1, 16, 2),
    'SE(3)': lambda: EuclideanFrameSampler(1, 16, 2, special=True),
    'S_n x E(3)': lambda: ProductSampler(1, 16, 2),
}
OUTPUTS = [('node', 'vector'), ('node', 'position'), ('graph', 'scalar')]


def symmetrized(group, level, output, dtype):
    torch.manual_seed(0)
    width = 2 if output == 'scalar' else 3
    backbone = ConcatNodeFeatures(MPNN(4, width, hidden_channels=16, num_layers=2,
                                       level=level), keys=('pos',), in_channels=1)
    return Symmetrize(backbone, SAMPLERS[group](), num_samples=2, level=level,
                      output=output).to(dtype).eval()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('group', list(SAMPLERS))
def test_exact_on_adversarial_clouds_with_transported_noise(group, dtype):
    data = adversarial_batch(dtype)
    for level, output in OUTPUTS:
        if output == 'position' and group in ('O(3)', 'SO(3)'):
            continue  # no translations: positions and vectors transform alike
        model = symmetrized(group, level, output, dtype)
        # float32: a tenth of the dtype tolerance
        rtol = 1e-4 if dtype == torch.float32 else None
        report = assert_equivariant(model, data, group, level=level, output=output,
                                    num_trials=4, noise='transport', rtol=rtol,
                                    generator=torch.Generator().manual_seed(1))
        assert model.last_sample.num_degenerate == 0
        assert report.exact_test


def test_polar_frame_is_equivariant_orthogonal_and_oriented():
    torch.manual_seed(0)
    v = torch.randn(16, 3, 3, dtype=torch.float64)
    for special, group_special in ((False, False), (True, True)):
        Q = polar_frame(v, special)
        assert torch.allclose(Q.transpose(1, 2) @ Q, torch.eye(3, dtype=Q.dtype),
                              atol=1e-12)
        det = torch.linalg.det(Q)
        if special:
            assert torch.allclose(det, torch.ones_like(det))
        else:  # the sign of det of the vectors
            assert torch.equal(det.sign(), torch.linalg.det(v).sign())
        R = haar_orthogonal(16, 3, group_special, dtype=torch.float64)
        assert torch.allclose(polar_frame(v @ R.transpose(1, 2), special), R @ Q,
                              atol=1e-12)
        mu = frame_conditioning(v, special)
        assert torch.allclose(frame_conditioning(v @ R.transpose(1, 2), special), mu)
    # the nearest orthogonal matrix: for an orthogonal input, the input itself
    R = haar_orthogonal(4, 3, dtype=torch.float64)
    assert torch.allclose(polar_frame(R.transpose(1, 2)), R, atol=1e-12)
    with pytest.raises(ValueError, match='shape'):
        polar_frame(torch.randn(2, 3, 2))


def test_polar_frame_conditioning_values():
    diag = torch.diag_embed(torch.tensor([[4., 2., 1.], [4., 2., -1.], [1., 0., 0.],
                                          [4., 1., -1.]], dtype=torch.float64))
    assert torch.allclose(frame_conditioning(diag),
                          torch.tensor([0.5, 0.5, 0., 0.5],
                                       dtype=torch.float64))
    # SO(3): (sigma_2 + sign(det) sigma_3) / sigma_1, zero where Kabsch is undefined
    assert torch.allclose(frame_conditioning(diag, special=True),
                          torch.tensor([0.75, 0.25, 0., 0.], dtype=torch.float64))
    _, mu = polar_frame(torch.zeros(2, 3, 3), return_conditioning=True)
    assert torch.equal(mu, torch.zeros(2))


def test_polar_frame_gradients_are_exact_and_finite_on_degenerate_input():
    torch.manual_seed(0)
    for special in (False, True):
        v = torch.randn(3, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a: polar_frame(a, special), (v,))
    # repeated singular values (the SVD's own gradient divides by their gaps), a
    # rank-one and a zero matrix
    cases = torch.stack([torch.eye(3), 2 * torch.eye(3), torch.diag(torch.tensor(
        [1., 0., 0.])), torch.zeros(3, 3), -torch.eye(3)]).requires_grad_()
    for special in (False, True):
        cases.grad = None
        polar_frame(cases, special).pow(2).sum().backward()
        assert torch.isfinite(cases.grad).all()
        assert float(cases.grad[3].abs().max()) == 0.0


def test_polar_frame_rounding_beats_gram_schmidt_on_ill_conditioned_vectors():
    # nearly dependent vectors with well-separated singular values
    torch.manual_seed(0)
    u = torch.linalg.qr(torch.randn(32, 3, 3, dtype=torch.float64))[0]
    w = torch.linalg.qr(torch.randn(32, 3, 3, dtype=torch.float64))[0]
    m = u @ torch.diag(torch.tensor([1.0, 0.2, 0.05], dtype=torch.float64)) @ w
    v = m.transpose(1, 2)
    R = haar_orthogonal(32, 3, dtype=torch.float64)
    v32, rv32 = v.float(), (v @ R.transpose(1, 2)).float()
    err_polar = (polar_frame(rv32).double() - R @ polar_frame(v32).double()).abs().max()
    err_gs = (gram_schmidt(rv32).double() - R @ gram_schmidt(v32).double()).abs().max()
    assert err_polar < 1e-5 and err_polar < err_gs


def test_requantile_radii_keeps_directions_and_distribution():
    torch.manual_seed(0)
    eps = torch.randn(20000, 3, dtype=torch.float64)
    new = requantile_radii(eps, 1.0)
    assert torch.allclose(torch.nn.functional.cosine_similarity(eps, new),
                          torch.ones(20000, dtype=torch.float64))
    assert (new.norm(dim=1) - eps.norm(dim=1)).abs().mean() > 0.3
    assert abs(float(new.norm(dim=1).mean()) - (8 / torch.pi) ** 0.5) < 0.03
    R = haar_orthogonal(1, 3, dtype=torch.float64)[0]
    assert torch.allclose(requantile_radii(eps @ R.T), new @ R.T)
    assert torch.equal(requantile_radii(torch.zeros(2, 3)), torch.zeros(2, 3))


def test_ill_conditioned_copies_are_redrawn_and_stay_exact():
    data = adversarial_batch(torch.float64)
    torch.manual_seed(0)
    # a high threshold makes redraws common
    sampler = EuclideanFrameSampler(1, 16, 2, min_conditioning=0.02).double()
    model = Symmetrize(ConcatNodeFeatures(MPNN(4, 3, hidden_channels=16, num_layers=2),
                                          keys=('pos',), in_channels=1),
                       sampler, num_samples=3, output='vector').double().eval()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        assert_equivariant(model, data, 'E(3)', output='vector', num_trials=3,
                           noise='transport', generator=torch.Generator().manual_seed(0))
        sample = model.last_sample
    assert sample.num_redrawn > 0
    assert sample.conditioning.shape == (3 * data.num_graphs,)
    ok = sample.conditioning >= 0.02
    assert int((~ok).sum()) == sample.num_degenerate


def test_fresh_redraws_change_only_the_ill_conditioned_copies():
    data = adversarial_batch(torch.float64)
    torch.manual_seed(0)
    strict = EuclideanFrameSampler(1, 16, 2, min_conditioning=0.02).double()
    loose = EuclideanFrameSampler(1, 16, 2, min_conditioning=0.0).double()
    loose.load_state_dict(strict.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        a = strict(data, 4, generator=torch.Generator().manual_seed(5))
    b = loose(data, 4, generator=torch.Generator().manual_seed(5))
    assert b.num_redrawn == 0 and b.num_degenerate == 0
    kept = b.conditioning >= 0.02
    assert a.num_redrawn == int((~kept).sum()) > 0
    rot_a, rot_b = a.element.rotation, b.element.rotation
    assert torch.equal(rot_a[kept], rot_b[kept])
    assert not torch.allclose(rot_a[~kept], rot_b[~kept])


def test_degenerate_copies_are_counted_and_warned():
    # a single point: all pooled vectors derive from one noise vector (rank one)
    g = torch.Generator().manual_seed(0)
    data = Batch.from_data_list([point_cloud_graph(torch.zeros(1, 3, dtype=torch.float64)),
                                 point_cloud_graph(torch.randn(6, 3, generator=g,
                                                               dtype=torch.float64))])
    torch.manual_seed(0)
    sampler = EuclideanFrameSampler(1, 16, 2).double()
    with pytest.warns(RuntimeWarning, match='ill-conditioned frame'):
        sample = sampler(data, 3)
    assert sample.num_degenerate == 3 and sample.num_redrawn == 3
    bad = sample.conditioning < 1e-5
    assert bad.view(3, 2)[:, 0].all() and not bad.view(3, 2)[:, 1].any()
    Q = sample.element.rotation
    assert torch.allclose(Q @ Q.transpose(1, 2), torch.eye(3, dtype=Q.dtype).expand_as(Q),
                          atol=1e-10)


def test_canonicalization_of_symmetric_clouds_is_reported():
    # without noise the pooled vectors of an octahedron cancel to rounding: a frame
    # built from them would be arbitrary, and there is no noise to redraw
    g = torch.Generator().manual_seed(0)
    data = Batch.from_data_list([point_cloud_graph(octahedron()),
                                 point_cloud_graph(torch.randn(8, 3, generator=g,
                                                               dtype=torch.float64))])
    torch.manual_seed(0)
    sampler = EuclideanFrameSampler(1, 16, 2, noise_scale=0.0).double()
    with pytest.warns(RuntimeWarning, match='1 of 2 copies'):
        sample = sampler(data, 1)
    assert sample.num_redrawn == 0 and sample.num_degenerate == 1
    assert float(sample.conditioning[0]) < 1e-10 < 1e-5 < float(sample.conditioning[1])


@pytest.mark.parametrize('cls', [EuclideanFrameSampler, ProductSampler])
def test_input_validation(cls):
    sampler = cls(1, 8, 1, vector_keys=('vel',)).double()
    pos = torch.randn(4, 3, dtype=torch.float64)
    good = point_cloud_graph(pos)
    good.vel = torch.randn(4, 3, dtype=torch.float64)
    sampler(good, 1)
    no_pos = Data(x=good.x, edge_index=good.edge_index, vel=good.vel, num_nodes=4)
    with pytest.raises(ValueError, match='pos'):
        sampler(no_pos, 1)
    bad_pos = good.clone()
    bad_pos.pos = torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match='pos'):
        sampler(bad_pos, 1)
    no_vel = point_cloud_graph(pos)
    with pytest.raises(GraphInputError, match="'vel'"):
        sampler(no_vel, 1)
    bad_vel = good.clone()
    bad_vel.vel = torch.randn(4, 2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="vel"):
        sampler(bad_vel, 1)
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match='num_samples'):
            sampler(good, k)
    with pytest.raises(ValueError, match='min_conditioning'):
        cls(1, 8, 1, min_conditioning=1.5)


@pytest.mark.parametrize('cls', [EuclideanFrameSampler, ProductSampler])
def test_the_input_is_checked_once_and_given_noise_too(cls, monkeypatch):
    # forward validates the batch; its EGNN (and the redrawn subsets) do not check the
    # stacked batch again, and given noise is checked where the EGNN would have
    from lps_geometric.nn import EGNN
    calls = []
    check = EGNN._check_inputs
    monkeypatch.setattr(EGNN, '_check_inputs',
                        lambda self, *args: calls.append(1) or check(self, *args))
    sampler = cls(1, 8, 1, min_conditioning=0.9)           # redraws most copies
    data = point_cloud_graph(torch.randn(5, 3))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        sample = sampler(data, 3)
    assert sample.num_redrawn > 0 and calls == []
    noise = torch.randn(15, 3)
    noise[4, 1] = float('nan')
    with pytest.raises(GraphInputError, match="'noise' contains NaN"):
        sampler(data, 3, noise=noise)
