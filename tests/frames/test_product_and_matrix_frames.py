import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import (LorentzMinimalFrameSampler, PCAFrameSampler,
                                  ProductMinimalFrameSampler, SortedProductFrameSampler,
                                  UnitaryMinimalFrameSampler)
from lps_geometric.groups import (EuclideanGroup, LorentzGroup, OrthogonalGroup,
                                  ProductGroup, UnitaryGroup)
from lps_geometric.nn import Symmetrize
from lps_geometric.samplers import METHODS, build_sampler
from lps_geometric.testing import OrderedMLP, cube, regular_polygon, tetrahedron

pytest.importorskip('pynauty')
EMPTY = torch.empty(2, 0, dtype=torch.long)


def cloud(pos, x_dim=1):
    return Data(pos=pos, x=torch.ones(pos.size(0), x_dim, dtype=pos.dtype),
                edge_index=EMPTY)


@pytest.mark.parametrize('special', [False, True])
def test_product_mfa_frame_size_is_the_stabilizer(special):
    gen = torch.Generator().manual_seed(0)
    shapes = [torch.randn(6, 3, generator=gen, dtype=torch.float64), regular_polygon(5),
              regular_polygon(4) * torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64),
              tetrahedron(), cube()]
    expected_o3 = [1, 20, 8, 24, 48]
    expected_so3 = [1, 10, 4, 12, 24]
    data = Batch.from_data_list([cloud(p) for p in shapes])
    sample = ProductMinimalFrameSampler(3, special=special, budget=64)(data)
    expected = expected_so3 if special else expected_o3
    assert sample.frame_size.tolist() == expected
    used = sample.graph_index[sample.weight > 0]
    assert torch.bincount(used).tolist() == expected
    canon = sample.element.apply(sample.stacked).pos
    for graph in range(len(shapes)):
        copies = ((sample.graph_index == graph) & (sample.weight > 0)).nonzero().view(-1)
        clouds = [canon[sample.stacked.ptr[c]:sample.stacked.ptr[c + 1]]
                  for c in copies.tolist()]
        assert all(torch.allclose(c, clouds[0], atol=1e-12) for c in clouds)


@pytest.mark.parametrize('dim', [2, 3])
def test_product_mfa_polygon_in_the_plane(dim):
    data = Batch.from_data_list([cloud(regular_polygon(6, dim))])
    o = ProductMinimalFrameSampler(dim, special=False)(data).frame_size.item()
    so = ProductMinimalFrameSampler(dim, special=True)(data).frame_size.item()
    assert (o, so) == ((12, 6) if dim == 2 else (24, 12))


@pytest.mark.parametrize('special', [False, True])
@pytest.mark.parametrize('frame', ['mfa', 'fa'])
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_product_frames_are_exactly_equivariant(frame, special, dtype, tol):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    shapes = [torch.randn(n, 3, generator=gen, dtype=torch.float64) for n in (5, 7)]
    shapes += [regular_polygon(5)] if frame == 'mfa' else []
    data = Batch.from_data_list([cloud(p.to(dtype)) for p in shapes])
    sampler = ProductMinimalFrameSampler(3, special=special) if frame == 'mfa' else \
        SortedProductFrameSampler(PCAFrameSampler(3, special=special))
    backbone = OrderedMLP(4, 3, max_nodes=7, keys=('pos', 'x'), level='node').to(dtype)
    net = Symmetrize(backbone, sampler, level='node', output='position').eval()
    group = ProductGroup(EuclideanGroup(3, special=special))
    assert_equivariant(net, data, group, num_trials=3, output='position', rtol=tol)


def four_momenta(n, gen):
    p = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    mass = torch.rand(n, 1, generator=gen, dtype=torch.float64) + 0.1
    return torch.cat([(p.pow(2).sum(-1, keepdim=True) + mass ** 2).sqrt(), p], dim=-1)


@pytest.mark.parametrize('special', [False, True])
def test_lorentz_mfa_is_exactly_equivariant(special):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    data = Batch.from_data_list([cloud(four_momenta(n, gen)) for n in (5, 6, 4)])
    sampler = LorentzMinimalFrameSampler(4, special=special)
    assert sampler(data).frame_size.tolist() == [1.0, 1.0, 1.0]
    backbone = OrderedMLP(5, 4, max_nodes=6, keys=('pos', 'x'), level='node'
                          ).to(torch.float64)
    net = Symmetrize(backbone, sampler, level='node', output='vector').eval()
    assert_equivariant(net, data, LorentzGroup(4, special=special),
                                num_trials=3, output='vector', rtol=1e-10)
    # invariant outputs too
    inv = Symmetrize(OrderedMLP(5, 2, max_nodes=6, keys=('pos', 'x')).double(),
                     sampler).eval()
    assert_equivariant(inv, data, LorentzGroup(4, special=special), rtol=1e-10)


def test_lorentz_mfa_stabilizer_and_errors():
    gen = torch.Generator().manual_seed(0)
    two = four_momenta(2, gen)                  # time + 1 spatial direction: O(2) free
    data = Batch.from_data_list([cloud(two), cloud(four_momenta(3, gen))])
    sample = LorentzMinimalFrameSampler(4, budget=6)(data)
    assert sample.frame_size.tolist() == [math.inf, 2.0]
    eta = torch.diag(torch.tensor([1.0, -1, -1, -1], dtype=torch.float64))
    mat = sample.element.rotation
    assert torch.allclose(mat.transpose(1, 2) @ eta @ mat, eta.expand_as(mat), atol=1e-10)
    spacelike = torch.tensor([[0.0, 1.0, 0, 0], [0.0, 0, 1, 0]], dtype=torch.float64)
    with pytest.raises(ValueError, match='timelike'):
        LorentzMinimalFrameSampler(4)(cloud(spacelike))


@pytest.mark.parametrize('special', [False, True])
def test_unitary_mfa_is_exactly_equivariant(special):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)

    def cvec(n, d):
        return torch.complex(torch.randn(n, d, generator=gen, dtype=torch.float64),
                             torch.randn(n, d, generator=gen, dtype=torch.float64))
    data = Batch.from_data_list([Data(pos=cvec(n, 3), edge_index=EMPTY) for n in (4, 5)])
    sampler = UnitaryMinimalFrameSampler(3, special=special)
    assert sampler(data).frame_size.tolist() == [1.0, 1.0]
    backbone = OrderedMLP(6, 2, max_nodes=5, keys=('pos',)).to(torch.float64)
    net = Symmetrize(backbone, sampler).eval()
    assert_equivariant(net, data, UnitaryGroup(3, special=special), num_trials=3,
                       rtol=1e-10)
    # rank 1 in C^3: U(2) stabiliser (continuous), SU(2) as well
    low = Batch.from_data_list([Data(pos=cvec(1, 3), edge_index=EMPTY)])
    assert math.isinf(sampler(low).frame_size.item())
    with pytest.raises(ValueError, match='complex'):
        sampler(Data(pos=torch.randn(3, 3), edge_index=EMPTY))


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('group', ['S_n', 'E(3)', 'SO(3)', 'S_n x E(3)'])
def test_every_method_runs_through_symmetrize(method, group):
    torch.manual_seed(0)
    if method == 'exhaustive' and group != 'S_n':
        with pytest.raises(ValueError):
            build_sampler(method, group)
        return
    gen = torch.Generator().manual_seed(0)
    graphs = []
    for n in (4, 5):
        pos = torch.randn(n, 3, generator=gen)
        ei = torch.tensor([[i, (i + 1) % n] for i in range(n)]).t()
        graphs.append(Data(pos=pos, x=torch.randn(n, 2, generator=gen),
                           edge_index=torch.cat([ei, ei.flip(0)], dim=1)))
    data = Batch.from_data_list(graphs)
    backbone = OrderedMLP(5, 2, max_nodes=5, keys=('pos', 'x'))
    model = Symmetrize.from_method(backbone, method, group, in_channels=2,
                                   num_samples=2)
    out = model(data)
    assert out.shape == (2, 2) and torch.isfinite(out).all()
    out.sum().backward()


def test_build_sampler_errors():
    with pytest.raises(ValueError, match='Unknown method'):
        build_sampler('magic', 'S_n')
    with pytest.raises(ValueError, match='in_channels'):
        build_sampler('lps', 'S_n')
    with pytest.raises(ValueError, match='mfa'):
        build_sampler('fa', 'O(1,3)')
    with pytest.raises(ValueError, match='Unknown group'):
        build_sampler('mfa', 'GL(3)')
    assert isinstance(build_sampler('mfa', 'S_n (sets)'), torch.nn.Module)
    assert isinstance(OrthogonalGroup(3), OrthogonalGroup)


def test_bad_settings_are_refused():
    from lps_geometric.frames import (GraphMinimalFrameSampler, LaplacianFrameSampler,
                                      OrthogonalMinimalFrameSampler,
                                      SetMinimalFrameSampler)
    from lps_geometric.groups import LinearTransform
    for make in (lambda: OrthogonalMinimalFrameSampler(3, budget=0),
                 lambda: GraphMinimalFrameSampler(budget=-1),
                 lambda: SetMinimalFrameSampler(budget=0),
                 lambda: LorentzMinimalFrameSampler(1),
                 lambda: LaplacianFrameSampler(num_blocks=0),
                 lambda: PCAFrameSampler(3, tie_samples=0),
                 lambda: OrthogonalMinimalFrameSampler(0),
                 lambda: LinearTransform(torch.eye(2).expand(1, 2, 2), torch.zeros(1),
                                         'affine')):
        with pytest.raises(ValueError):
            make()
