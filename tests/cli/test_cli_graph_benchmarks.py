r"""``lps-geometric train`` on the graph benchmarks: PATTERN/CLUSTER generated (a small
generator configuration) and from the released-file layout, and one short run per LRGB
task on files the tests write (nothing is downloaded)."""
import json
from dataclasses import replace

import pytest

pytest.importorskip('lightning')

from lps_geometric.cli import CLIError, main  # noqa: E402
from lps_geometric.datasets.sbm import CLUSTER_CONFIG, PATTERN_CONFIG  # noqa: E402
from lps_geometric.datasets.sbm import SBMCluster, SBMPattern  # noqa: E402
from tests.datasets.released_files import write_gnn_benchmark, write_lrgb  # noqa: E402


def _common(tmp_path, dataset):
    return ['train', '--dataset', dataset, '--root', str(tmp_path / 'data'), '--epochs',
            '2', '--batch-size', '8', '--eval-batch-size', '16', '--accelerator', 'cpu',
            '--precision', '32-true', '--out', str(tmp_path / 'runs'), '--no-progress',
            '--hidden', '16', '--layers', '2', '--heads', '2', '--embed-dim', '16',
            '--depth', '1', '--eval-samples', '2']


@pytest.fixture
def small_generators(monkeypatch):
    monkeypatch.setattr(SBMPattern, 'config', replace(PATTERN_CONFIG, patterns=10,
                                                      splits=(3, 1, 1)))
    monkeypatch.setattr(SBMCluster, 'config', replace(CLUSTER_CONFIG,
                                                      splits=(30, 10, 10)))


@pytest.mark.parametrize('dataset', ['pattern', 'cluster'])
def test_generated_node_classification(tmp_path, small_generators, dataset):
    common = _common(tmp_path, dataset) + ['--max-train', '20', '--max-eval', '8']
    gin = main(common + ['--model', 'gin'])[0]
    assert gin['metric'] == 'weighted_acc' and 0 <= gin['test']['weighted_acc'] <= 1
    assert 'acc' in gin['test']
    gps = main(common + ['--model', 'gps', '--pe', 'rwse', '--pe-dim', '4'])[0]
    assert 0 <= gps['test']['weighted_acc'] <= 1
    lps = main(common + ['--model', 'lps', '--backbone', 'gin', '--name', 'lps-gin'])[0]
    assert 0 <= lps['test']['weighted_acc'] <= 1
    transformer = main(common + ['--model', 'lps', '--backbone', 'transformer'])[0]
    assert 0 <= transformer['test']['weighted_acc'] <= 1
    # the evaluation of a finished run rebuilds the same model and data
    metrics = main(['evaluate', '--run', str(tmp_path / 'runs' / f'{dataset}-gin-seed0')])
    assert metrics['weighted_acc'] == pytest.approx(gin['test']['weighted_acc'])


def test_pattern_from_the_released_layout(tmp_path):
    write_gnn_benchmark(tmp_path / 'data', 'PATTERN', graphs_per_split=4)
    result = main(_common(tmp_path, 'pattern') + ['--source', 'original', '--model',
                                                  'gps', '--pe', 'lappe', '--pe-dim',
                                                  '3'])[0]
    assert 0 <= result['test']['weighted_acc'] <= 1


@pytest.mark.parametrize('dataset,metric,model', [
    ('peptides-func', 'ap', ['--model', 'gin']),
    ('peptides-struct', 'mae', ['--model', 'gps', '--pe', 'rwse', '--pe-dim', '4']),
    ('pcqm-contact', 'mrr', ['--model', 'lps', '--backbone', 'gin']),
])
def test_lrgb_tasks(tmp_path, dataset, metric, model):
    write_lrgb(tmp_path / 'data', dataset, graphs_per_split=10)
    result = main(_common(tmp_path, dataset) + model)[0]
    assert result['metric'] == metric
    value = result['test'][metric]
    assert value == value      # defined
    if dataset == 'pcqm-contact':
        assert set(result['test']) == {'mrr', 'mrr_filtered', 'mrr_filtered_self'}
        assert 0 < result['test']['mrr'] <= result['test']['mrr_filtered'] <= \
            result['test']['mrr_filtered_self'] <= 1
    summary = json.loads((tmp_path / 'runs' /
                          f'{dataset}-{model[1]}-summary.json').read_text())
    assert summary['metric'] == metric


def test_lrgb_transformer_run(tmp_path):
    write_lrgb(tmp_path / 'data', 'pcqm-contact', graphs_per_split=6)
    result = main(_common(tmp_path, 'pcqm-contact') + ['--model', 'lps'])[0]
    assert 0 < result['test']['mrr'] <= 1


@pytest.mark.parametrize('extra,match', [
    (['--dataset', 'freesolv', '--max-train', '5'], '--max-train'),
    (['--dataset', 'freesolv', '--model', 'gps'], 'gps'),
    (['--dataset', 'peptides-func', '--source', 'original'], '--source'),
    (['--dataset', 'pattern', '--pe', 'rwse', '--model', 'lps'], '--pe'),
    (['--dataset', 'pattern', '--model', 'schnet'], 'schnet'),
    (['--dataset', 'pattern', '--target', 'gap'], '--target'),
    (['--dataset', 'pattern', '--model', 'gin', '--vit-checkpoint', 'vit.pth'],
     '--vit-checkpoint'),
])
def test_misplaced_options_are_refused(tmp_path, small_generators, extra, match):
    from tests.datasets.test_molecules import write_freesolv
    write_freesolv(tmp_path / 'data', copies=1)
    args = ['train', '--root', str(tmp_path / 'data'), '--epochs', '1', '--out',
            str(tmp_path / 'runs'), '--no-progress'] + extra
    with pytest.raises(CLIError, match=match):
        main(args)


def test_gps_width_must_fit_the_heads(tmp_path):
    with pytest.raises(SystemExit):
        main(['train', '--dataset', 'pattern', '--model', 'gps', '--hidden', '10',
              '--heads', '4', '--out', str(tmp_path)])
