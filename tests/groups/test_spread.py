import math

import pytest
import torch

from lps_geometric.groups import haar_orthogonal, permutation_spread, rotation_spread
from lps_geometric.groups.spread import pairwise_mean_sq

DT = torch.float64


def test_pairwise_mean_sq_is_the_mean_over_ordered_pairs():
    values = torch.randn(5, 3, 4, dtype=DT)
    brute = torch.stack([
        torch.stack([(values[a, b] - values[c, b]).pow(2).sum()
                     for a in range(5) for c in range(5) if a != c]).mean()
        for b in range(3)])
    assert torch.allclose(pairwise_mean_sq(values), brute)


def test_rotation_spread_zero_for_equal_one_for_haar_and_invariant():
    gen = torch.Generator().manual_seed(0)
    k, B = 8, 500
    R = haar_orthogonal(k * B, 3, False, gen, dtype=DT)
    spread = rotation_spread(R, k)
    assert spread.shape == (B, )
    assert spread.mean().item() == pytest.approx(1.0, abs=0.03)
    same = haar_orthogonal(B, 3, True, gen, dtype=DT).repeat(k, 1, 1)
    assert torch.allclose(rotation_spread(same, k), torch.zeros(B, dtype=DT), atol=1e-12)
    # the same rotation on either side of every sample of a graph leaves it unchanged
    left = haar_orthogonal(B, 3, False, gen, dtype=DT).repeat(k, 1, 1)
    right = haar_orthogonal(B, 3, False, gen, dtype=DT).repeat(k, 1, 1)
    assert torch.allclose(rotation_spread(left @ R @ right, k), spread, atol=1e-12)
    # two samples R and -R are as far apart as rotations can be: 2
    eye = torch.eye(3, dtype=DT).unsqueeze(0)
    assert rotation_spread(torch.cat([eye, -eye]), 2).item() == pytest.approx(2.0)


def test_permutation_spread_zero_for_equal_one_for_uniform_nan_for_one_node():
    gen = torch.Generator().manual_seed(1)
    sizes = [4, 1, 6]
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    k = 400
    ranks = torch.cat([torch.cat([torch.randperm(n, generator=gen) for n in sizes])
                       for _ in range(k)])
    spread = permutation_spread(ranks, batch, k)
    assert spread[0].item() == pytest.approx(1.0, abs=0.05)
    assert spread[2].item() == pytest.approx(1.0, abs=0.05)
    assert math.isnan(spread[1].item())
    one = torch.cat([torch.randperm(n, generator=gen) for n in sizes])
    equal = permutation_spread(one.repeat(5), batch, 5)
    assert equal[0].item() == 0.0 and equal[2].item() == 0.0
    # two samples that move every node: spread 1 / (1 - 1/n)
    swap = torch.tensor([0, 1, 1, 0])
    assert permutation_spread(swap, torch.zeros(2, dtype=torch.long), 2).item() == \
        pytest.approx(2.0)
    assert permutation_spread(one.repeat(2), batch, 2, num_graphs=4).shape == (4, )


def test_bad_sample_counts_are_refused():
    with pytest.raises(ValueError, match='at least two'):
        rotation_spread(torch.eye(3).unsqueeze(0), 1)
    with pytest.raises(ValueError, match='copies'):
        rotation_spread(torch.eye(3).repeat(5, 1, 1), 2)
    with pytest.raises(ValueError, match='at least two'):
        permutation_spread(torch.zeros(3, dtype=torch.long), torch.zeros(3,
                                                                       dtype=torch.long), 1)
    with pytest.raises(ValueError, match='copies'):
        permutation_spread(torch.zeros(5, dtype=torch.long),
                           torch.zeros(3, dtype=torch.long), 2)
