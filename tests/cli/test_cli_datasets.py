r"""The CLI on OGB datasets written in OGB's layout and on tables of one's own
molecules (1 epoch, tiny models, nothing downloaded)."""
import json
import math

import pytest

pytest.importorskip('rdkit')
pytest.importorskip('ogb')
pytest.importorskip('lightning')

from lps_geometric.cli import CLIError, dataset_label, main  # noqa: E402
from tests.datasets.test_ogb import MOLECULES, no_download, write_ogb_dataset  # noqa
from tests.datasets.test_table import write_sdf, write_table  # noqa: E402

TINY = ['--epochs', '1', '--batch-size', '8', '--eval-batch-size', '16', '--embed-dim',
        '16', '--depth', '1', '--heads', '2', '--eval-samples', '2', '--hidden', '16',
        '--layers', '2', '--accelerator', 'cpu', '--precision', '32-true',
        '--no-progress']


def train(tmp_path, *options):
    return main(['train', '--root', str(tmp_path / 'data'), '--out', str(tmp_path / 'runs')]
                + TINY + list(options))


def test_ogb_layout_trains_and_evaluates(tmp_path, no_download, capsys):
    write_ogb_dataset(tmp_path / 'data', 'ogbg-molhiv')
    result, = train(tmp_path, '--dataset', 'ogbg-molhiv', '--model', 'lps')
    assert 'rocauc' in result['test']
    assert 'ogbg-molhiv lps: test rocauc' in capsys.readouterr().out
    metrics = main(['evaluate', '--run', str(tmp_path / 'runs' / 'ogbg-molhiv-lps-seed0')])
    assert 'rocauc' in metrics


def test_ogb_two_tasks_with_missing_labels_train(tmp_path, no_download):
    labels = [[float(i % 2), math.nan if i % 3 == 0 else float((i // 2) % 2)]
              for i in range(len(MOLECULES))]
    write_ogb_dataset(tmp_path / 'data', 'ogbg-molclintox', labels=labels)
    result, = train(tmp_path, '--dataset', 'ogbg-molclintox', '--model', 'gin')
    assert math.isfinite(result['history']['train'][0][1])
    assert math.isfinite(result['test']['rocauc'])


def test_own_csv_regression_two_targets(tmp_path):
    path = write_table(tmp_path / 'solubility.csv')
    result, = train(tmp_path, '--dataset', str(path), '--target', 'logS', 'pIC50',
                    '--split', 'random', '--model', 'gin')
    assert math.isfinite(result['test']['rmse']) and 'mae' in result['test']
    summary = json.loads((tmp_path / 'runs' / 'solubility-gin-summary.json').read_text())
    assert summary['metric'] == 'rmse'
    metrics = main(['evaluate', '--run', str(tmp_path / 'runs' / 'solubility-gin-seed0')])
    assert metrics['rmse'] == pytest.approx(result['test']['rmse'], abs=1e-5)


def test_own_tsv_classification_with_a_split_column(tmp_path):
    path = write_table(tmp_path / 'bbb.tsv', '\t', classification=True, split_column=True,
                       invalid={4: 'NOT_A_SMILES'})
    with pytest.raises(CLIError, match=r"line 6 'NOT_A_SMILES'.*--skip-invalid"):
        train(tmp_path, '--dataset', str(path), '--target', 'logS', '--task',
              'classification', '--split', 'fold', '--model', 'lps')
    with pytest.warns(UserWarning, match="line 6 'NOT_A_SMILES'"):
        result, = train(tmp_path, '--dataset', str(path), '--target', 'logS', 'pIC50',
                        '--task', 'classification', '--split', 'fold', '--skip-invalid',
                        '--model', 'lps')
    assert 'rocauc' in result['test']


def test_own_sdf(tmp_path):
    path = write_sdf(tmp_path / 'mols.sdf')
    result, = train(tmp_path, '--dataset', str(path), '--target', 'logS', '--metric',
                    'mae', '--model', 'gin')
    assert math.isfinite(result['test']['mae'])


def test_dataset_errors_are_one_line(tmp_path):
    path = write_table(tmp_path / 'solubility.csv')
    with pytest.raises(CLIError, match=r"no column 'logP'; the file has"):
        train(tmp_path, '--dataset', str(path), '--target', 'logP')
    with pytest.raises(CLIError, match='--target: name the target column'):
        train(tmp_path, '--dataset', str(path))
    with pytest.raises(CLIError, match=r"--split: for a table file"):
        train(tmp_path, '--dataset', 'freesolv', '--split', 'random')
    with pytest.raises(CLIError, match='--target: for qm9 and table files'):
        train(tmp_path, '--dataset', 'freesolv', '--target', 'expt')
    assert dataset_label(str(path)) == 'solubility'
    assert dataset_label('ogbg-molhiv') == 'ogbg-molhiv'
