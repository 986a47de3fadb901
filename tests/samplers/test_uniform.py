r"""Group averaging over :math:`S_n` (:mod:`lps_geometric.samplers.uniform`): uniform
draws, the exhaustive enumeration, reproducibility and the input checks."""
import pytest
import torch

from lps_geometric import PermutationSampler
from lps_geometric.samplers import ExhaustivePermutationSampler, UniformPermutationSampler
from lps_geometric.testing import random_batch


def test_uniform_sampler_is_uniform():
    data = random_batch(sizes=(3, ))
    gen = torch.Generator().manual_seed(0)
    ranks = UniformPermutationSampler()(data, 6000, generator=gen).element.rank
    _, counts = torch.unique(ranks.view(6000, 3), dim=0, return_counts=True)
    assert counts.numel() == 6
    assert bool(((counts > 850) & (counts < 1150)).all()), counts


def test_exhaustive_sampler_enumerates_every_permutation():
    data = random_batch(sizes=(4, 2, 1, 3))
    sample = ExhaustivePermutationSampler()(data)
    assert sample.copies == 24 and sample.num_samples is None
    assert sample.frame_size.tolist() == [24.0, 2.0, 1.0, 6.0]
    rank = sample.element.rank.view(24, -1)
    ptr = data.ptr
    for g, n in enumerate([4, 2, 1, 3]):
        block = rank[:, int(ptr[g]):int(ptr[g + 1])]
        _, counts = torch.unique(block, dim=0, return_counts=True)
        assert counts.numel() == torch.tensor(range(1, n + 1)).prod()
        assert bool((counts == counts[0]).all())  # uniform multiplicities


def test_exhaustive_sampler_refuses_large_graphs():
    with pytest.raises(ValueError, match='max_nodes'):
        ExhaustivePermutationSampler(max_nodes=5)(random_batch(sizes=(6, )))


def test_uniform_and_exhaustive_samplers_validate_their_input():
    data = random_batch(sizes=(3, 2), p=1.0)
    for bad in (0, -2, 2.0, False):
        with pytest.raises(ValueError, match='num_samples'):
            UniformPermutationSampler()(data, bad)
        with pytest.raises(ValueError, match='num_samples'):
            ExhaustivePermutationSampler()(data, bad)
    with pytest.raises(ValueError, match='noise'):
        UniformPermutationSampler()(data, 2, noise=torch.rand(data.num_nodes, 1))
    broken = data.clone()
    broken.edge_index = broken.edge_index.clone()
    broken.edge_index[0, 0] = 99
    from lps_geometric.utils.validation import GraphInputError
    for sampler in (UniformPermutationSampler(), ExhaustivePermutationSampler(),
                    PermutationSampler(3, hidden_channels=16, edge_dim=4,
                                       dropout=0.0).eval()):
        with pytest.raises(GraphInputError):
            sampler(broken, 1)



def test_uniform_draws_follow_the_generator_and_the_noise():
    data = random_batch(sizes=(5, 3))
    sampler = UniformPermutationSampler()
    a = sampler(data, 4, generator=torch.Generator().manual_seed(1))
    b = sampler(data, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.element.rank, b.element.rank)
    assert a.num_samples == 4 and a.copies == 4 and a.frame_size is None
    assert sampler.draws_samples and list(sampler.parameters()) == []
    # the noise is the scores: ranks sort it within every graph
    noise = torch.rand(4 * data.num_nodes, 1)
    rank = sampler(data, 4, noise=noise).element.rank
    stacked = a.stacked
    for g in range(stacked.num_graphs):
        lo, hi = int(stacked.ptr[g]), int(stacked.ptr[g + 1])
        assert torch.equal(rank[lo:hi], noise[lo:hi, 0].argsort().argsort())
    assert repr(sampler) == 'UniformPermutationSampler()'


def test_exhaustive_weights_and_layout():
    data = random_batch(sizes=(3, 2))
    sample = ExhaustivePermutationSampler()(data)
    assert sample.copies == 6 and not ExhaustivePermutationSampler.draws_samples
    total = torch.zeros(2, dtype=sample.weight.dtype).index_add_(0, sample.graph_index,
                                                                 sample.weight)
    assert torch.allclose(total, torch.ones(2, dtype=total.dtype))
    assert torch.equal(sample.stacked.x, data.x[sample.node_index])
    # num_samples does not change the enumeration
    again = ExhaustivePermutationSampler()(data, 3)
    assert torch.equal(again.element.rank, sample.element.rank)
