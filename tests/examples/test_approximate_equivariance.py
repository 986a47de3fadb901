import importlib.util
import json
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / 'examples' / 'approximate_equivariance.py'


def load_example():
    spec = importlib.util.spec_from_file_location('approximate_equivariance', PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small(tmp_path):
    return ['--quick', '--epochs', '1', '--eval-every', '1', '--threads', '1', '--out',
            str(tmp_path / 'out'), '--root', str(tmp_path / 'data')]


def test_orientations_runs_every_model_and_reuses_finished_runs(tmp_path, capsys):
    example = load_example()
    rows = example.main(['--setting', 'orientations'] + small(tmp_path))
    names = [r['name'] for r in rows]
    assert names == ['egnn', 'fa', 'lps_k1', 'egnn_relaxed', 'mpnn_augmented', 'mpnn']
    found = {r['name']: r for r in rows}
    for name in ('egnn', 'fa'):              # exact: float32 rounding
        assert found[name]['equivariance']['relative_rms'] < 1e-5, name
    for name in ('lps_k1', 'egnn_relaxed', 'mpnn_augmented', 'mpnn'):
        assert found[name]['equivariance']['relative_rms'] > 1e-3, name
    assert found['egnn_relaxed']['relax_coefficient_at_test'] == 0.1
    for name in ('egnn', 'fa'):   # the same systems in other orientations: equal MSE
        assert abs(found[name]['test_mse_seen_orientations'] / found[name]['test_mse']
                   - 1) < 1e-4, name
    assert found['mpnn']['test_mse_seen_orientations'] != found['mpnn']['test_mse']
    assert '--train-orientation' in found['egnn']['argv']
    out = tmp_path / 'out' / 'orientations'
    table = (out / 'table.md').read_text()
    assert table.count('\n') == 2 + 6 and 'EGNN (exact)' in table
    assert (out / 'plot.png').exists()
    summary = json.loads((out / 'summary.json').read_text())
    assert [r['name'] for r in summary['runs']] == names
    capsys.readouterr()
    again = example.main(['--setting', 'orientations'] + small(tmp_path))
    assert 'reusing' in capsys.readouterr().out
    assert [r['test_mse'] for r in again] == [r['test_mse'] for r in rows]
    with pytest.raises(SystemExit, match='other flags'):     # a folder of another run
        example.main(['--setting', 'orientations', '--kept-coefficient', '0.2']
                     + small(tmp_path))


def test_relaxation_setting_tables_seeds_and_curves(tmp_path):
    example = load_example()
    rows = example.main(['--setting', 'relaxation', '--seeds', '0', '1',
                         '--relax-end', '1'] + small(tmp_path))
    assert len(rows) == 8
    relaxed = [r for r in rows if 'relaxed' in r['description']]
    assert len(relaxed) == 4 and all(r['curve'] for r in relaxed)
    for r in relaxed:       # coefficient zero at the end of epoch 1: exact again
        assert r['curve'][-1][1] == 0.0 and r['curve'][-1][2] < 1e-5
        assert r['equivariance']['max_relative'] < 1e-5
    table = (tmp_path / 'out' / 'relaxation' / 'table.md').read_text()
    assert 'EGNN, relaxed (coefficient 1 to 0)' in table and ' ± ' in table
    assert 'LPS + MPNN, relaxed' in table
    args = example.parse_args(['--setting', 'relaxation', '--models', 'egnn',
                               '--relax-starts', '1', '0.1', '--seeds', '0'])
    assert [name for name, _, _ in example.runs(args)] == [
        'egnn_plain_s0', 'egnn_relax_s0', 'egnn_relax0.1_s0']


def test_bad_settings_are_refused(tmp_path):
    example = load_example()
    with pytest.raises(SystemExit):
        example.parse_args(['--setting', 'relaxation', '--epochs', '4', '--relax-end', '5'])

