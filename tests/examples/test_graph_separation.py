import importlib.util
import json
import sys
import urllib.error
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[2] / 'examples' / 'graph_separation.py'


def load_example():
    spec = importlib.util.spec_from_file_location('graph_separation', PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_count_close_pairs_matches_brute_force():
    example = load_example()
    emb = torch.tensor([[0.0, 0.0], [0.0, 0.0005], [1.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    assert example.count_close_pairs(emb, 1e-3, chunk=2) == 2
    assert example.count_close_pairs(emb, 1.01, chunk=3) == 6


def test_csl_training_smoke(tmp_path):
    example = load_example()
    example.main(['--tasks', 'csl', '--backbone', 'transformer', '--epochs', '2',
                  '--folds', '1', '--embed-dim', '16', '--depth', '1', '--heads', '2',
                  '--eval-every', '1', '--out', str(tmp_path), '--root',
                  str(tmp_path / 'data')])
    result = json.loads((tmp_path / 'results_lps_transformer.json').read_text())
    models = {r['model'] for r in result['results']}
    assert models == {'lps-transformer', 'gin'}
    for r in result['results']:
        assert 0.0 <= r['test_accuracy'] <= 1.0


def test_help_lists_tasks(capsys):
    example = load_example()
    try:
        example.parse_args(['--help'])
    except SystemExit:
        pass
    assert 'exp-classify' in capsys.readouterr().out


def test_csl_with_the_positional_gin_backbone_and_relabelled_graphs(tmp_path):
    example = load_example()
    example.main(['--tasks', 'csl', '--backbone', 'gin', '--epochs', '2', '--folds', '1',
                  '--embed-dim', '16', '--depth', '2', '--eval-every', '1',
                  '--samples', '2', '--eval-samples', '2',
                  '--no-baseline', '--out', str(tmp_path), '--root',
                  str(tmp_path / 'data')])
    result = json.loads((tmp_path / 'results_lps_gin.json').read_text())
    assert [r['model'] for r in result['results']] == ['lps-gin']


def test_relabelled_graphs_keep_labels_and_isomorphism_class():
    from lps_geometric.datasets import CSL
    example = load_example()
    dataset = CSL(seed=0)
    moved = example.relabelled(dataset, seed=3)
    assert len(moved) == len(dataset)
    changed = 0
    for a, b in zip(dataset, moved):
        assert torch.equal(a.y, b.y) and a.num_nodes == b.num_nodes
        assert a.num_edges == b.num_edges
        # same degree multiset, other node order
        deg_a = torch.bincount(a.edge_index[0], minlength=a.num_nodes)
        deg_b = torch.bincount(b.edge_index[0], minlength=b.num_nodes)
        assert torch.equal(deg_a.sort().values, deg_b.sort().values)
        changed += int(not torch.equal(a.edge_index, b.edge_index))
    assert changed > 0


def test_method_none_trains_the_backbone_alone(tmp_path):
    example = load_example()
    args = example.parse_args(['--method', 'none', '--backbone', 'gin'])
    model = example.build_symmetrized(args, 1, 10, 41)
    assert not isinstance(model, example.Symmetrize)
    example.main(['--tasks', 'csl', '--method', 'none', '--backbone', 'gin', '--epochs',
                  '1', '--folds', '1', '--embed-dim', '8', '--depth', '1',
                  '--no-baseline', '--out', str(tmp_path), '--root', str(tmp_path / 'd')])
    result = json.loads((tmp_path / 'results_none_gin.json').read_text())
    assert [r['model'] for r in result['results']] == ['none-gin']


def test_defaults_per_backbone_and_quick_mode():
    example = load_example()
    args = example.parse_args(['--quick'])
    assert (args.backbone, args.gin_norm, args.depth, args.samples) == ('gin', 'batch', 6, 8)
    assert args.lr_decay and args.entropy_weight == 0.0 and args.lr == 1e-3
    assert args.eval_samples == 16 and args.separation_samples == 2 and args.folds == 1
    assert args.task_epochs == {'exp-classify': 40, 'csl': 150}
    full = example.parse_args([])
    assert full.eval_samples == 64 and full.folds == 5 and full.lr == 5e-4 and full.separation_samples == 10
    assert full.task_epochs == {'exp-classify': 300, 'csl': 300}
    # given options win, in quick mode too
    args = example.parse_args(['--quick', '--epochs', '5', '--eval-samples', '3',
                               '--no-lr-decay', '--gin-norm', 'post', '--folds', '2'])
    assert args.task_epochs == {'exp-classify': 5, 'csl': 5}
    assert (args.eval_samples, args.lr_decay, args.gin_norm, args.folds) == (3, False,
                                                                           'post', 2)
    args = example.parse_args(['--backbone', 'transformer'])
    assert (args.depth, args.samples, args.eval_samples, args.lr) == (4, 1, 10, 1e-3)
    assert not args.lr_decay and args.entropy_weight == 0.1


@pytest.mark.parametrize('bad', [['--samples', '0'], ['--epochs', '0'], ['--folds', '6'],
                                 ['--threads', '0'], ['--eval-every', '-1']])
def test_bad_values_are_refused(bad, capsys):
    example = load_example()
    with pytest.raises(SystemExit):
        example.parse_args(bad)
    assert f'{bad[0]} must be' in capsys.readouterr().err


def test_missing_exp_offline_skips_with_one_line(tmp_path, monkeypatch, capsys):
    example = load_example()

    def offline(*args, **kwargs):
        raise urllib.error.URLError('no network')

    monkeypatch.setattr(example, 'download_url', offline)
    (tmp_path / 'empty').mkdir()
    example.main(['--tasks', 'exp', 'exp-classify', '--shared-data', str(tmp_path / 'empty'),
                  '--root', str(tmp_path / 'data'), '--out', str(tmp_path / 'out')])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if 'skipping' in line]
    assert len(lines) == 1, out
    assert 'skipping exp, exp-classify' in lines[0] and 'GRAPHSAT.pkl' in lines[0]
    assert example.EXP.url in lines[0] and '--shared-data' in lines[0]
    assert 'Traceback' not in out
    result = json.loads((tmp_path / 'out' / 'results_lps_gin.json').read_text())
    assert [(r['task'], 'skipped' in r) for r in result['results']] == [
        ('exp', True), ('exp-classify', True)]
    assert '| exp-classify | - | skipped' in out


def test_graph8c_is_generated_offline_or_skipped(tmp_path, monkeypatch, capsys):
    example = load_example()
    calls = []

    class FakeGRAPH8c:
        url = example.GRAPH8c.url

        def __init__(self, root, generate=None):
            calls.append(generate)

    monkeypatch.setattr(example, 'GRAPH8c', FakeGRAPH8c)
    args = example.parse_args(['--root', str(tmp_path / 'data'), '--shared-data',
                               str(tmp_path / 'empty')])
    monkeypatch.setattr(example.shutil, 'which', lambda name: None)
    monkeypatch.setitem(sys.modules, 'pynauty', None)  # not installed
    monkeypatch.setattr(example, 'download_url', lambda *a, **k: (_ for _ in ()).throw(
        urllib.error.URLError('no network')))
    assert example.load_graph8c(args) is None
    line, = capsys.readouterr().out.strip().splitlines()
    assert 'skipping graph8c' in line and 'pip install pynauty' in line
    assert calls == []
    monkeypatch.delitem(sys.modules, 'pynauty')
    if importlib.util.find_spec('pynauty') is not None:
        assert isinstance(example.load_graph8c(args), FakeGRAPH8c)
        assert calls == [True]  # generated, never downloaded


def test_output_explains_the_numbers(tmp_path, capsys):
    example = load_example()
    example.main(['--tasks', 'csl', '--epochs', '1', '--embed-dim', '8', '--depth', '1',
                  '--samples', '1', '--eval-samples', '1', '--quick', '--out',
                  str(tmp_path), '--root', str(tmp_path / 'data')])
    out = capsys.readouterr().out
    assert 'chance' in out and '0.1' in out and 'last epoch' in out
    assert 'Summary' in out and '| csl | lps-gin | test accuracy' in out
    assert '| csl | gin | test accuracy' in out and '(fold 0 of 5)' in out


def test_missing_lightning_skips_training_with_one_line(tmp_path, monkeypatch, capsys):
    example = load_example()
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(example.importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'lightning' else find_spec(name, *a))
    example.main(['--tasks', 'csl', '--out', str(tmp_path), '--root', str(tmp_path / 'd')])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if 'skipping' in line]
    assert len(lines) == 1 and 'skipping csl' in lines[0] and 'lightning' in lines[0]
    assert '| csl | - | skipped: lightning is not installed |' in out


def test_relaxed_training_logs_the_closing_error(tmp_path):
    import csv
    example = load_example()
    example.main(['--tasks', 'csl', '--backbone', 'gin', '--epochs', '2', '--folds', '1',
                  '--embed-dim', '16', '--depth', '2', '--eval-every', '1',
                  '--samples', '2', '--eval-samples', '2', '--relax', 'linear',
                  '--out', str(tmp_path), '--root', str(tmp_path / 'data')])
    logs = sorted((tmp_path / 'runs').glob('*/logs/metrics.csv'))
    assert len(logs) == 2                           # LPS and the GIN baseline
    for log in logs:
        rows = list(csv.DictReader(open(log)))
        assert [float(r['relax_coefficient']) for r in rows] == [0.5, 0.0]
        errors = [float(r['val_equivariance_error']) for r in rows]
        assert errors[0] > 1e-4 and errors[1] < 1e-6, (log, errors)
    with pytest.raises(SystemExit):
        example.parse_args(['--relax', 'linear', '--relax-end-fraction', '0'])
