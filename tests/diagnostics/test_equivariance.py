import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.nn import GIN, global_add_pool

from lps_geometric import (EuclideanFrameSampler, PermutationSampler, ProductSampler,
                           Symmetrize, equivariance_error)
from lps_geometric.diagnostics import EquivarianceReport
from lps_geometric.groups import SymmetricGroup
from lps_geometric.samplers import (ExhaustivePermutationSampler, UniformPermutationSampler,
                                    UniformRotationSampler)
from lps_geometric.datasets import CSL
from lps_geometric.diagnostics import SPREAD_RATIO, TOLERANCE
from lps_geometric.groups import resolve_group
from lps_geometric.testing import OrderedMLP, random_batch, random_point_cloud_batch
from lps_geometric.utils.batch import local_index


@pytest.fixture(scope='module')
def csl_batch():
    r"""Four sparse 4-regular graphs (circular skip links) with random node features."""
    graphs = list(CSL(num_nodes=11, skip_lengths=(2, 3), graphs_per_class=2))
    generator = torch.Generator().manual_seed(0)
    for graph in graphs:
        graph.x = torch.randn(graph.num_nodes, 3, generator=generator)
    return Batch.from_data_list(graphs)


def lps_model(level='graph', k=8, sampler=None, in_channels=3, max_nodes=11):
    # Without the virtual node, whose per-graph term dominates an untrained sampler's
    # scores, float rounding does not reorder nearly tied scores of these graphs.
    sampler = sampler or PermutationSampler(in_channels, hidden_channels=16,
                                            virtual_node=False)
    backbone = OrderedMLP(in_channels, 2, max_nodes, keys=('x', ), level=level)
    return Symmetrize(backbone, sampler, eval_num_samples=k).eval()


class IndexBiasedSampler(PermutationSampler):
    r"""Not equivariant: the first node of every graph, by index, is always ranked
    last; the others are ordered at random."""
    def scores(self, data, noise):
        first = local_index(data.batch, data.ptr) == 0
        return super().scores(data, noise) + 1e3 * first


class RoundingTiedSampler(PermutationSampler):
    r"""Scores that are all equal in exact arithmetic but differ by rounding, in a way
    that depends on the node labels: the order follows the labels, not the noise."""
    def scores(self, data, noise):
        x = 1e3 * data.x[:, 0]
        total = global_add_pool(x, data.batch)[data.batch]
        return (total - x) + x


def test_pyg_gin_is_equivariant_and_invariant(batch):
    gin = GIN(3, 16, num_layers=2).eval()
    node = equivariance_error(lambda d: gin(d.x, d.edge_index), batch, level='node')
    graph = equivariance_error(
        lambda d: global_add_pool(gin(d.x, d.edge_index), d.batch), batch)
    assert node.level == 'node' and node.max_abs < 1e-5
    assert graph.level == 'graph' and graph.max_abs < 1e-5
    assert 'equivariance error' in str(node) and 'invariance error' in str(graph)
    # Deterministic: the two evaluations agree, the test is exact.
    for report in (node, graph):
        assert report.spread_max_abs == 0.0 and report.deterministic and report.ok
        assert report.noise == 'fresh' and report.num_samples is None
        assert 'deterministic' in str(report)


def test_detects_a_non_equivariant_model(batch):
    w = torch.randn(batch.num_nodes, 3)
    report = equivariance_error(lambda d: d.x * w, batch, num_trials=4)
    assert report.max_abs > 1e-2 and len(report.per_trial) == 4
    assert isinstance(report, EquivarianceReport) and not report.ok


def test_seed_replays_randomness(batch):
    noisy = lambda d: d.x.sum(0, keepdim=True) + torch.randn(1, 3)  # noqa: E731
    seeded = equivariance_error(noisy, batch, seed=0, level='graph')
    assert seeded.max_abs < 1e-5 and seeded.noise == 'seeded' and seeded.ok
    assert seeded.spread_max_abs > 1e-3      # other seeds give other draws
    fresh = equivariance_error(noisy, batch, level='graph', num_trials=6)
    assert fresh.max_abs > 1e-3 and fresh.noise == 'fresh'
    assert not fresh.exact_test and fresh.ok  # an invariant mean plus noise


@pytest.mark.parametrize('level', ['graph', 'node'])
def test_lps_is_exact_with_the_noise_moved_along(csl_batch, level):
    model = lps_model(level)
    report = equivariance_error(model, csl_batch, 'S_n', level=level)
    assert report.noise == 'transported' and report.num_samples == 8
    assert report.relative < TOLERANCE[torch.float32] and report.exact_test
    assert report.spread_relative > 1e-2 and not report.deterministic
    assert report.ok and report.note == ''
    # The same model with fresh noise: error of the size of the spread, not ~0.
    fresh = equivariance_error(model, csl_batch, 'S_n', level=level, noise='fresh',
                               num_trials=4)
    assert fresh.noise == 'fresh' and not fresh.exact_test
    assert fresh.relative > 1e-2 and 0.3 < fresh.spread_ratio <= SPREAD_RATIO
    assert fresh.ok and "noise='fresh'" in fresh.note


def test_group_averaging_is_exact_with_the_noise_moved_along(batch):
    model = lps_model(sampler=UniformPermutationSampler(), max_nodes=9)
    report = equivariance_error(model, batch, 'S_n', num_samples=5)
    assert report.noise == 'transported' and report.num_samples == 5
    assert report.max_abs < 1e-6 and report.spread_max_abs > 1e-3 and report.ok


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('group,sampler,output', [
    ('E(3)', EuclideanFrameSampler, 'scalar'),
    ('SO(3)', lambda *a: EuclideanFrameSampler(*a, special=True), 'vector'),
    ('S_n x E(3)', ProductSampler, 'position'),
])
def test_euclidean_lps_is_exact_with_the_noise_moved_along(group, sampler, output, dtype):
    torch.manual_seed(3)
    data = random_point_cloud_batch((5, 6, 4), dtype=dtype)
    level = 'graph' if output == 'scalar' else 'node'
    backbone = OrderedMLP(3, 2 if level == 'graph' else 3, 6, level=level)
    model = Symmetrize(backbone, sampler(1, 16, 2), eval_num_samples=6, output=output,
                       level=level).eval().to(dtype)
    report = equivariance_error(model, data, group, output=output)
    assert report.noise == 'transported' and report.level == level
    assert report.dtype == str(dtype).replace('torch.', '')
    assert report.tolerance == TOLERANCE[dtype]
    assert report.relative < TOLERANCE[dtype] and report.spread_relative > 1e-2
    assert report.ok, report


def test_broken_models_report_error_far_above_the_spread(csl_batch):
    # A non-equivariant backbone alone: deterministic, and far from invariant.
    raw = equivariance_error(OrderedMLP(3, 2, 11, keys=('x', )), csl_batch, 'S_n')
    assert raw.deterministic and raw.relative > 1e-2 and not raw.ok
    # An LPS model whose sampler is not equivariant: with enough samples the error is
    # many times the model's own spread (which shrinks as 1/sqrt(k)), both random.
    model = lps_model(k=256, sampler=IndexBiasedSampler(3, hidden_channels=16,
                                                        virtual_node=False))
    report = equivariance_error(model, csl_batch, 'S_n')
    assert report.noise == 'transported' and report.spread_relative > 0
    assert report.max_abs > 3 * report.spread_max_abs and not report.ok
    assert report.num_rows == 12 and report.rows_above >= 6  # g may fix node 0
    assert 'within the Monte Carlo spread' not in report.note
    fresh = equivariance_error(model, csl_batch, 'S_n', noise='fresh')
    assert fresh.spread_ratio > 2 * SPREAD_RATIO and not fresh.ok
    assert 'FAIL' in str(fresh) and 'Monte Carlo spread' in str(fresh)


def test_scores_tied_up_to_rounding_are_flagged(csl_batch):
    model = lps_model('node', sampler=RoundingTiedSampler(3, hidden_channels=4))
    report = equivariance_error(model, csl_batch, 'S_n', num_trials=4)
    assert report.noise == 'transported' and not report.ok
    assert report.spread_ratio <= SPREAD_RATIO
    assert 'tied up to rounding' in report.note and 'note' in str(report)


def test_noise_that_cannot_be_moved_along_falls_back_to_fresh_noise():
    torch.manual_seed(0)
    data = random_point_cloud_batch((5, 6, 4))
    model = Symmetrize(OrderedMLP(3, 2, 6), UniformRotationSampler(),
                       eval_num_samples=8).eval()
    report = equivariance_error(model, data, 'E(3)', num_trials=4)
    assert report.noise == 'fresh' and 'UniformRotationSampler' in report.note
    assert 'noise not moved along' in str(report) and report.ok
    with pytest.raises(ValueError, match="noise='transport' is not possible"):
        equivariance_error(model, data, 'E(3)', noise='transport')
    with pytest.raises(ValueError, match='not a Symmetrize model'):
        equivariance_error(model.backbone, data, 'E(3)', noise='transport')


def test_exact_averaging_reports_zero_spread():
    data = random_batch(sizes=(4, 3, 1))
    model = lps_model(sampler=ExhaustivePermutationSampler(), max_nodes=4)
    report = equivariance_error(model, data, 'S_n')
    assert report.num_samples == 24  # 4! copies, whatever k was asked for
    assert report.spread_max_abs == 0.0 and report.deterministic and report.ok
    assert report.note == ''


def test_report_reads_as_a_table(csl_batch):
    model = lps_model()
    text = str(equivariance_error(model, csl_batch, 'S_n', num_trials=2))
    lines = text.splitlines()
    assert lines[0] == ("invariance error under S_n, 2 trials, sampler's noise moved "
                        "along with g, k=8:")
    assert lines[1].startswith('  error   max ') and 'relative' in lines[1]
    assert lines[2].startswith('  spread  max ')
    assert lines[2].endswith('(two independent draws of k=8 on the same input)')
    assert lines[3].startswith('  verdict ok: exact within float32 tolerance')
    line = repr(equivariance_error(model, csl_batch, 'S_n', spread=False))
    assert line.startswith("EquivarianceReport(level='graph', group='S_n', "
                           "noise='transported', num_samples=8")
    assert 'spread_relative=None' in line and line.endswith('ok=True)')
    training = equivariance_error(model.train(), csl_batch, 'S_n', num_trials=1)
    assert training.num_samples == 1 and 'training mode' in str(training)


def test_bad_arguments_are_refused(batch):
    model = lps_model(max_nodes=9)
    for kwargs, message in [({'noise': 'moved'}, "'noise' must be"),
                            ({'num_trials': 0}, "'num_trials' must be positive"),
                            ({'rtol': -1.0}, "'rtol' must be non-negative"),
                            ({'num_samples': 0}, "'num_samples' must be positive")]:
        with pytest.raises(ValueError, match=message):
            equivariance_error(model, batch, **kwargs)
    with pytest.raises(ValueError, match='Symmetrize model only'):
        equivariance_error(model.backbone, batch, num_samples=2)


def test_group_resolution():
    assert isinstance(resolve_group('S_n'), SymmetricGroup)
    assert isinstance(resolve_group(None), SymmetricGroup)
    with pytest.raises(ValueError, match='Unknown group'):
        resolve_group('GL(3)')
    so7 = resolve_group('SO(7)')
    assert so7.dim == 7 and so7.special
    assert resolve_group('S_n x E(2)').name == 'S_n x E(2)'
    assert resolve_group('SO(1,3)').name == 'SO(1,3)'
    assert resolve_group('U(2)').name == 'U(2)'


def test_ambiguous_level_is_refused():
    data = random_batch(sizes=(3, ))
    with pytest.raises(ValueError, match='level'):
        equivariance_error(lambda d: torch.zeros(2, 1), data)
