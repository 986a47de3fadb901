import pytest
import torch
from torch import nn

from lps_geometric import EuclideanFrameSampler, Symmetrize
from lps_geometric.samplers import ExhaustivePermutationSampler, UniformRotationSampler
from lps_geometric.diagnostics import EquivarianceReport, assert_equivariant
from lps_geometric.testing import OrderedMLP, random_batch, random_point_cloud_batch


def exhaustive_model(level='graph'):
    backbone = OrderedMLP(3, 2, 6, keys=('x',), level=level)
    return Symmetrize(backbone, ExhaustivePermutationSampler(max_nodes=6)).eval()


@pytest.fixture
def small_batch():
    return random_batch(sizes=(4, 6, 3), seed=1)


@pytest.mark.parametrize('level', ['graph', 'node'])
def test_passes_for_exact_group_averaging(small_batch, level):
    report = assert_equivariant(exhaustive_model(level), small_batch, 'S_n',
                                num_trials=5)
    assert isinstance(report, EquivarianceReport) and report.ok
    assert report.level == level and report.exact_test


def test_fails_with_the_report_for_an_order_dependent_model(small_batch):
    backbone = OrderedMLP(3, 2, 6, keys=('x',), level='graph').eval()
    with pytest.raises(AssertionError) as info:
        assert_equivariant(backbone, small_batch, 'S_n', num_trials=5)
    text = str(info.value)
    assert 'Not equivariant under S_n' in text and 'OrderedMLP' in text
    assert 'exceed the relative tolerance' in text and 'verdict FAIL' in text


def test_non_finite_output_fails(small_batch):
    class NaNModel(nn.Module):
        def forward(self, data):
            return torch.full((data.num_graphs, 1), float('nan'))

    with pytest.raises(AssertionError, match='not finite'):
        assert_equivariant(NaNModel(), small_batch, num_trials=2)


class PointMLP(nn.Module):
    r"""A graph-level MLP on raw coordinates: not rotation-invariant by itself."""
    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, data):
        out = torch.zeros(data.num_graphs, 1, dtype=data.pos.dtype)
        return out.index_add(0, data.batch, self.mlp(data.pos))


def cloud(dtype=torch.float32):
    data = random_point_cloud_batch((5, 6), generator=torch.Generator().manual_seed(0))
    data.pos = data.pos.to(dtype)
    return data


def test_exact_test_required_unless_asked_otherwise():
    model = Symmetrize(PointMLP(), UniformRotationSampler(), eval_num_samples=4).eval()
    with pytest.raises(AssertionError, match='the test is not exact'):
        assert_equivariant(model, cloud(), 'E(3)', num_trials=3)
    report = assert_equivariant(model, cloud(), 'E(3)', num_trials=3, exact=False)
    assert report.noise == 'fresh' and not report.exact_test


def test_transported_noise_makes_lps_exact():
    sampler = EuclideanFrameSampler(1, hidden_channels=16, num_layers=2)
    model = Symmetrize(PointMLP(), sampler, eval_num_samples=3).eval().double()
    report = assert_equivariant(model, cloud(torch.float64), 'E(3)', num_trials=5,
                                noise='transport')
    assert report.noise == 'transported' and report.dtype == 'float64'
    with pytest.raises(AssertionError, match='exceed the relative tolerance'):
        assert_equivariant(PointMLP().double(), cloud(torch.float64), 'E(3)',
                           num_trials=3)


def test_max_fraction_is_range_checked(small_batch):
    with pytest.raises(ValueError, match='max_fraction'):
        assert_equivariant(exhaustive_model(), small_batch, max_fraction=1.0)
