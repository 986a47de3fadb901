r"""The relaxed permutation (:mod:`lps_geometric.samplers.relaxation`): the banded soft
rank against the dense soft sort, its rows, the straight-through band, the entropy and
the settings' checks."""
import math

import pytest
import torch

from lps_geometric.groups import Permutation
from lps_geometric.samplers.relaxation import (band_entropy, banded_soft_rank,
                                               check_relaxation, straight_through)
from lps_geometric.testing import dense_soft_assignment
from lps_geometric.utils.batch import max_graph_size


@pytest.mark.parametrize('sinkhorn_iters', [0, 5])
def test_band_equals_dense_softsort_when_wide(batch, sinkhorn_iters):
    score = torch.randn(batch.num_nodes)
    from lps_geometric.groups import Permutation
    perm = Permutation.from_scores(score, batch.batch, batch.ptr)
    n = max_graph_size(batch.ptr)
    band = banded_soft_rank(score, perm, band=n, tau=0.5, sinkhorn_iters=sinkhorn_iters)
    dense = dense_soft_assignment(score, perm, n, tau=0.5,
                                  sinkhorn_iters=sinkhorn_iters)
    # Band entry m of node v is position rank_v + m - n.
    local = torch.arange(batch.num_nodes) - batch.ptr[batch.batch]
    for m in range(2 * n + 1):
        j = perm.rank + m - n
        ok = (j >= 0) & (j < (batch.ptr[1:] - batch.ptr[:-1])[batch.batch])
        expected = dense[batch.batch[ok], local[ok], j[ok]]
        assert torch.allclose(band[ok, m], expected, atol=1e-6)
        assert torch.all(band[~ok, m] == 0)


def test_band_rows_are_distributions(batch):
    score = torch.randn(batch.num_nodes)
    from lps_geometric.groups import Permutation
    perm = Permutation.from_scores(score, batch.batch, batch.ptr)
    soft = banded_soft_rank(score, perm, band=2, tau=0.1, sinkhorn_iters=3)
    assert torch.allclose(soft.sum(1), torch.ones(batch.num_nodes), atol=1e-6)
    assert bool((soft >= 0).all())
    # Small temperature: mass concentrates on the hard rank.
    cold = banded_soft_rank(score, perm, band=2, tau=1e-4)
    assert float(band_entropy(cold)) < float(band_entropy(soft))


def test_straight_through_is_exactly_hard_forward():
    soft = torch.rand(5, 5, requires_grad=True)
    st = straight_through(soft, band=2)
    expected = torch.zeros(5, 5)
    expected[:, 2] = 1
    assert torch.equal(st, expected)
    (st * torch.randn(5, 5)).sum().backward()
    assert soft.grad.abs().sum() > 0



def test_band_entropy_values():
    uniform = torch.full((4, 5), 0.2)
    assert math.isclose(float(band_entropy(uniform)), math.log(5), rel_tol=1e-6)
    hard = torch.zeros(3, 5)
    hard[:, 2] = 1.0
    assert float(band_entropy(hard)) == 0.0              # zeros do not make NaN
    mixed = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert math.isclose(float(band_entropy(mixed)), math.log(2) / 2, rel_tol=1e-6)
    soft = torch.tensor([[0.25, 0.75, 0.0]], requires_grad=True)
    band_entropy(soft).backward()
    assert torch.isfinite(soft.grad).all()


def test_soft_rank_gradient_and_temperature(batch):
    score = torch.randn(batch.num_nodes, requires_grad=True)
    perm = Permutation.from_scores(score.detach(), batch.batch, batch.ptr)
    soft = banded_soft_rank(score, perm, band=2, tau=0.5)
    assert soft.shape == (batch.num_nodes, 5)
    (soft * torch.randn_like(soft)).sum().backward()
    assert score.grad.abs().sum() > 0
    # the hard rank is the most likely position of every node at a low temperature
    cold = banded_soft_rank(score.detach(), perm, band=2, tau=1e-3)
    assert (cold.argmax(dim=1) == 2).float().mean() > 0.9
    # band 0: the hard rank only
    assert torch.allclose(banded_soft_rank(score.detach(), perm, band=0, tau=0.5),
                          torch.ones(batch.num_nodes, 1))


def test_straight_through_band_passes_the_soft_gradient():
    soft = torch.rand(4, 3, requires_grad=True)
    weight = torch.randn(4, 3)
    (straight_through(soft, band=1) * weight).sum().backward()
    assert torch.equal(soft.grad, weight)


def test_check_relaxation_names_the_setting_out_of_range():
    check_relaxation(0.5, 0)
    check_relaxation(1.0, 3, sinkhorn_iters=4)
    for tau in (0.0, -1.0, float('nan')):
        with pytest.raises(ValueError, match='tau'):
            check_relaxation(tau, 2)
    for band in (-1, 1.5):
        with pytest.raises(ValueError, match='band'):
            check_relaxation(0.5, band)
    with pytest.raises(ValueError, match='sinkhorn_iters'):
        check_relaxation(0.5, 2, sinkhorn_iters=-1)


def test_relaxation_and_noise_internals_stay_importable_but_are_not_listed():
    import lps_geometric.samplers as samplers
    from lps_geometric.groups import euclidean
    from lps_geometric.samplers import permutation, relaxation
    internals = {'sample_noise': permutation, 'banded_soft_rank': relaxation,
                 'straight_through': relaxation, 'band_entropy': relaxation,
                 'canonicalizing_transform': euclidean}
    for name, home in internals.items():
        assert getattr(samplers, name) is getattr(home, name), name
        assert name not in samplers.__all__, name
    for name in ('Sampler', 'GroupSample', 'PermutationSampler', 'build_sampler',
                 'METHODS', 'register_sampler', 'available_methods'):
        assert name in samplers.__all__, name
