r"""Minimal frames of the Lorentz and unitary groups (:mod:`lps_geometric.frames.linear`):
exactness, stabilisers, the Lorentz Gram-Schmidt and the input checks."""
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import (LorentzMinimalFrameSampler, UnitaryMinimalFrameSampler,
                                  lorentz_gram_schmidt)
from lps_geometric.groups import LorentzGroup, UnitaryGroup
from lps_geometric.nn import Symmetrize
from lps_geometric.testing import OrderedMLP
from lps_geometric.utils import GraphInputError

from .clouds import EMPTY, cloud

ETA = torch.diag(torch.tensor([1.0, -1, -1, -1], dtype=torch.float64))


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


def test_lorentz_gram_schmidt_is_a_lorentz_frame_and_equivariant():
    gen = torch.Generator().manual_seed(2)
    x = four_momenta(6, gen)
    batch = torch.zeros(6, dtype=torch.long)
    frame, rank = lorentz_gram_schmidt(x, batch, 1)
    assert frame.shape == (1, 4, 4) and rank.tolist() == [4]
    assert torch.allclose(frame[0].T @ ETA @ frame[0], ETA, atol=1e-10)
    # the first column is the timelike vector of largest Minkowski norm, normalised
    norm = x[:, 0] ** 2 - x[:, 1:].pow(2).sum(-1)
    first = x[norm.argmax()] / norm.max().sqrt()
    assert torch.allclose(frame[0, :, 0], first, atol=1e-12)
    boost = LorentzGroup(4).random_element(Data(pos=x), generator=gen).rotation[0]
    moved, _ = lorentz_gram_schmidt(x @ boost.T, batch, 1)
    assert torch.allclose(moved[0], boost @ frame[0], atol=1e-8)


def test_lorentz_gram_schmidt_completes_missing_directions():
    gen = torch.Generator().manual_seed(0)
    two = four_momenta(2, gen)
    frame, rank = lorentz_gram_schmidt(two, torch.zeros(2, dtype=torch.long), 1)
    assert rank.tolist() == [2]
    assert torch.allclose(frame[0].T @ ETA @ frame[0], ETA, atol=1e-10)
    with pytest.raises(GraphInputError, match='timelike'):
        lorentz_gram_schmidt(torch.tensor([[0.0, 1.0, 0, 0]], dtype=torch.float64),
                             torch.zeros(1, dtype=torch.long), 1)


def test_the_linear_frames_check_their_settings():
    with pytest.raises(ValueError, match='d >= 2'):
        LorentzMinimalFrameSampler(1)
    with pytest.raises(ValueError):
        UnitaryMinimalFrameSampler(0)
    for sampler in (LorentzMinimalFrameSampler(4, budget=3),
                    UnitaryMinimalFrameSampler(2)):
        assert sampler.draws_samples is False
        assert type(sampler).__name__ in repr(sampler)
