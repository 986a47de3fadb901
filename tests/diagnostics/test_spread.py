import itertools
import math

import pytest
import torch

from lps_geometric.diagnostics import (SampleSpread, permutation_spread, rotation_spread,
                                       sample_spread)
from lps_geometric.frames import PCAFrameSampler
from lps_geometric.groups import haar_orthogonal
from lps_geometric.samplers import (EuclideanFrameSampler, PermutationSampler,
                                    ProductSampler, UniformPermutationSampler,
                                    UniformProductSampler, UniformRotationSampler)
from lps_geometric.testing import random_batch, random_point_cloud_batch


def _dense_rotation_spread(rotation, k):
    B, d = rotation.size(0) // k, rotation.size(-1)
    R = rotation.view(k, B, d, d).double()
    out = torch.zeros(B, dtype=torch.float64)
    for a, b in itertools.permutations(range(k), 2):
        out += (R[a] - R[b]).pow(2).sum(dim=(-1, -2))
    return out / (k * (k - 1)) / (2 * d)


def _dense_permutation_spread(rank, batch, k):
    n_total = batch.numel()
    rank = rank.view(k, n_total)
    B = int(batch.max()) + 1
    out = torch.full((B,), float('nan'), dtype=torch.float64)
    for g in range(B):
        nodes = (batch == g).nonzero().flatten().tolist()
        n = len(nodes)
        if n < 2:
            continue
        total = 0.0
        for v in nodes:
            differ = sum(int(rank[a, v] != rank[b, v])
                         for a, b in itertools.permutations(range(k), 2))
            total += differ / (k * (k - 1)) / (1 - 1 / n)
        out[g] = total / n
    return out


def test_rotation_spread_matches_the_pairwise_definition():
    torch.manual_seed(0)
    k, B = 5, 7
    rotation = haar_orthogonal(k * B, 3)
    assert torch.allclose(rotation_spread(rotation, k), _dense_rotation_spread(rotation, k),
                          atol=1e-12)
    # two antipodal samples, R and -R: ||2R||^2 / 6 = 12 / 6 = 2
    R = haar_orthogonal(1, 3).double()
    assert rotation_spread(torch.cat([R, -R]), 2).item() == pytest.approx(2.0)


def test_rotation_spread_is_invariant_to_a_common_rotation():
    torch.manual_seed(1)
    k, B = 6, 4
    rotation = haar_orthogonal(k * B, 3).double()
    left = haar_orthogonal(B, 3).double().repeat(k, 1, 1)
    right = haar_orthogonal(B, 3).double().repeat(k, 1, 1)
    moved = left @ rotation @ right
    assert torch.allclose(rotation_spread(moved, k), rotation_spread(rotation, k),
                          atol=1e-10)


def test_permutation_spread_matches_the_pairwise_definition():
    torch.manual_seed(2)
    data = random_batch((5, 1, 3, 8), seed=2)
    k = 4
    sample = UniformPermutationSampler()(data, num_samples=k)
    fast = permutation_spread(sample.element.rank, data.batch, k)
    dense = _dense_permutation_spread(sample.element.rank, data.batch, k)
    assert torch.isnan(fast[1]) and torch.isnan(dense[1])   # the single-node graph
    keep = ~torch.isnan(dense)
    assert torch.allclose(fast[keep], dense[keep], atol=1e-12)


def test_uniform_samplers_score_one():
    torch.manual_seed(3)
    clouds = random_point_cloud_batch([5] * 40)
    graphs = random_batch([6] * 40, seed=3)
    k = 32
    rot = sample_spread(UniformRotationSampler(), clouds, k)
    assert rot.permutation is None
    assert rot.rotation.shape == (40,)
    assert rot.summary()['rotation'] == pytest.approx(1.0, abs=0.05)
    assert rot.summary()['center'] == pytest.approx(0.0, abs=1e-10)   # the centroid
    perm = sample_spread(UniformPermutationSampler(), graphs, k)
    assert perm.rotation is None and perm.center is None
    assert perm.summary()['permutation'] == pytest.approx(1.0, abs=0.05)
    both = sample_spread(UniformProductSampler(), clouds, k).summary()
    assert both['rotation'] == pytest.approx(1.0, abs=0.05)
    assert both['permutation'] == pytest.approx(1.0, abs=0.05)
    # SO(3) Haar samples have mean zero too
    special = sample_spread(UniformRotationSampler(special=True), clouds, k).summary()
    assert special['rotation'] == pytest.approx(1.0, abs=0.05)


def test_noise_free_samplers_score_zero_and_noisy_ones_do_not():
    torch.manual_seed(4)
    clouds = random_point_cloud_batch((5, 4, 6, 1))
    canonical = ProductSampler(1, hidden_channels=16, num_layers=2, vector_keys=('vel',),
                               edge_dim=1, noise_scale=0.0).eval()
    spread = sample_spread(canonical, clouds, num_samples=6)
    assert spread.rotation.abs().max() < 1e-10
    assert torch.isnan(spread.permutation[3])                    # a single particle
    assert spread.permutation[:3].abs().max() == 0
    noisy = ProductSampler(1, hidden_channels=16, num_layers=2, vector_keys=('vel',),
                           edge_dim=1, noise_scale=1.0).eval()
    summary = sample_spread(noisy, clouds, num_samples=6).summary()
    assert summary['rotation'] > 0.05 and summary['permutation'] > 0.05
    # a learned centre moves with the noise
    learned = EuclideanFrameSampler(1, hidden_channels=16, num_layers=2,
                                    translation='learned').eval()
    assert sample_spread(learned, clouds, num_samples=4).summary()['center'] > 0
    # a learned S_n sampler: with informative node features its order at initialisation
    # hardly depends on the noise; a larger noise scale spreads it out
    graphs = random_batch((6, 5), seed=4)
    spreads = []
    for scale in (1.0, 10.0):
        torch.manual_seed(5)
        lps = PermutationSampler(3, hidden_channels=16, num_layers=2, edge_dim=4,
                                 noise_scale=scale).eval()
        generator = torch.Generator().manual_seed(6)
        spreads.append(sample_spread(lps, graphs, 16, generator).summary()['permutation'])
    assert spreads[0] < spreads[1] and spreads[1] > 0.3


def test_spread_is_reproducible_with_a_generator_and_reads_well():
    clouds = random_point_cloud_batch((5, 5))
    sampler = UniformProductSampler()
    a = sample_spread(sampler, clouds, 4, generator=torch.Generator().manual_seed(7))
    b = sample_spread(sampler, clouds, 4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.rotation, b.rotation) and torch.equal(a.permutation, b.permutation)
    assert isinstance(a, SampleSpread)
    text = str(a)
    assert 'rotation' in text and 'permutation' in text and 'k = 4' in text


def test_spread_rejects_what_it_cannot_measure():
    clouds = random_point_cloud_batch((5, 5))
    with pytest.raises(ValueError, match='at least two samples'):
        sample_spread(UniformRotationSampler(), clouds, num_samples=1)
    with pytest.raises(ValueError, match='weighted or ragged'):
        sample_spread(PCAFrameSampler(3), clouds, num_samples=2)
    with pytest.raises(ValueError, match='not 3 copies'):
        rotation_spread(haar_orthogonal(4, 3), 3)
    with pytest.raises(ValueError, match='not 2 copies'):
        permutation_spread(torch.zeros(5, dtype=torch.long), torch.zeros(3, dtype=torch.long),
                           2)
    assert math.isnan(SampleSpread(None, torch.tensor([float('nan')]), None, 2)
                      .summary()['permutation'])


def test_spread_of_an_unknown_element_type_is_a_type_error():
    from lps_geometric.samplers import GroupSample
    from lps_geometric.utils import replicate_batch
    clouds = random_point_cloud_batch((5, 5))
    with pytest.raises(TypeError, match='Unsupported group element str'):
        sample_spread(lambda data, num_samples: GroupSample.from_copies(
            'abc', replicate_batch(data, num_samples), num_samples, data.num_graphs),
            clouds, 2)
