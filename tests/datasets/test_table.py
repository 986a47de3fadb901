r"""A user's own molecules from CSV, TSV and SDF files (:class:`MoleculeTable`)."""
import math
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip('rdkit')
pytest.importorskip('ogb')

from lps_geometric.datasets import (MoleculeTable, evaluator_for,  # noqa: E402
                                    random_split, scaffold_split, smiles_to_data)
from tests.datasets.test_ogb import MOLECULES  # noqa: E402

NAN = float('nan')


def write_table(path: Path, delimiter: str = ',', invalid=(), classification=False,
                split_column=False) -> Path:
    r"""A table with a header line, one molecule per line: ``name``, ``smiles``, two
    targets (``logS`` always given, ``pIC50`` missing on every third row), and
    optionally a ``fold`` column. ``invalid`` maps row indices to bad SMILES."""
    invalid = dict(invalid)
    header = ['name', 'smiles', 'logS', 'pIC50'] + (['fold'] if split_column else [])
    lines = [delimiter.join(header)]
    for i, s in enumerate(MOLECULES):
        s = invalid.get(i, s)
        a = i % 2 if classification else round(-0.1 * i, 3)
        b = '' if i % 3 == 0 else ((i // 2) % 2 if classification else round(0.5 * i, 3))
        row = [f'mol{i}', s, str(a), str(b)]
        if split_column:
            row.append('test' if i % 5 == 0 else 'Valid' if i % 5 == 1 else 'train')
        lines.append(delimiter.join(row))
    path.write_text('\n'.join(lines) + '\n')
    return path


def write_sdf(path: Path, broken: bool = False) -> Path:
    from rdkit import Chem
    writer = Chem.SDWriter(str(path))
    for i, s in enumerate(MOLECULES):
        mol = Chem.AddHs(Chem.MolFromSmiles(s)) if i == 0 else Chem.MolFromSmiles(s)
        mol.SetProp('_Name', f'mol{i}')
        mol.SetProp('logS', str(-0.1 * i))
        if i % 3:
            mol.SetProp('pIC50', str(0.5 * i))
        mol.SetProp('fold', 'test' if i % 5 == 0 else 'valid' if i % 5 == 1 else 'train')
        writer.write(mol)
    writer.close()
    if broken:   # a record whose atom count is not a number: RDKit cannot read it
        text = path.read_text().split('$$$$\n')
        lines = text[2].split('\n')
        lines[3] = 'xx' + lines[3][2:]
        text[2] = '\n'.join(lines)
        path.write_text('$$$$\n'.join(text))
    return path


def test_csv_regression_two_targets_with_missing_labels(tmp_path):
    path = write_table(tmp_path / 'solubility.csv')
    dataset = MoleculeTable(str(tmp_path / 'data'), str(path), ['logS', 'pIC50'])
    assert len(dataset) == len(MOLECULES) and dataset.num_tasks == 2
    assert dataset.task_type == 'regression' and dataset.eval_metric == 'rmse'
    y = torch.cat([d.y for d in dataset])
    assert y.shape == (len(MOLECULES), 2)
    assert torch.isnan(y[:, 1]).tolist() == [i % 3 == 0 for i in range(len(MOLECULES))]
    assert y[4].tolist() == pytest.approx([-0.4, 2.0])
    assert dataset[4].smiles == MOLECULES[4] and int(dataset[4].line) == 6
    assert torch.equal(dataset[4].x, smiles_to_data(MOLECULES[4]).x)
    split = dataset.get_idx_split()
    expected = scaffold_split(MOLECULES)
    assert all(torch.equal(split[k], expected[k]) for k in split)
    evaluator = evaluator_for(dataset)
    assert evaluator.eval_metric == 'rmse' and evaluator.num_tasks == 2
    assert dataset.invalid == [] and dataset.unlabeled == []
    assert 'solubility.csv' in repr(dataset)


def test_tsv_classification_random_split(tmp_path):
    path = write_table(tmp_path / 'bbb.tsv', '\t', classification=True)
    kwargs = dict(target_columns='logS', task_type='classification', split='random')
    dataset = MoleculeTable(str(tmp_path), str(path), **kwargs)
    assert dataset.eval_metric == 'rocauc' and evaluator_for(dataset).num_tasks == 1
    assert [float(d.y) for d in dataset] == [float(i % 2) for i in range(len(MOLECULES))]
    split = dataset.get_idx_split()
    assert [len(split[k]) for k in ('train', 'valid', 'test')] == [24, 3, 3]
    assert torch.equal(torch.cat(list(split.values())).sort().values,
                       torch.arange(len(MOLECULES)))
    assert torch.equal(split['test'], random_split(len(MOLECULES), seed=0)['test'])
    other = MoleculeTable(str(tmp_path), str(path), seed=1, **kwargs).get_idx_split()
    assert not torch.equal(other['train'], split['train'])
    ap = MoleculeTable(str(tmp_path), str(path), metric='ap', **kwargs)
    assert evaluator_for(ap).eval_metric == 'ap'


def test_user_split_column(tmp_path):
    path = write_table(tmp_path / 'folds.csv', split_column=True)
    dataset = MoleculeTable(str(tmp_path), str(path), ['logS'], split='fold',
                            metric='mae')
    split = dataset.get_idx_split()
    assert split['test'].tolist() == [i for i in range(30) if i % 5 == 0]
    assert split['valid'].tolist() == [i for i in range(30) if i % 5 == 1]
    assert evaluator_for(dataset) is None           # OGB has no MAE; Task computes it


def test_sdf_smiles_from_molecules_targets_from_properties(tmp_path):
    path = write_sdf(tmp_path / 'mols.sdf')
    dataset = MoleculeTable(str(tmp_path), str(path), ['logS', 'pIC50'], split='fold')
    assert len(dataset) == len(MOLECULES)
    assert dataset[0].smiles == 'CCO' and dataset[0].num_nodes == 3   # Hs removed
    assert dataset[7].y[0].tolist() == pytest.approx([-0.7, 3.5])
    assert math.isnan(float(dataset[3].y[0, 1]))
    assert dataset.get_idx_split()['test'].tolist() == [0, 5, 10, 15, 20, 25]
    assert int(dataset[0].line) == 1
    lines = path.read_text().split('\n')
    assert lines[int(dataset[1].line) - 1] == 'mol1'          # a record's first line


def test_invalid_smiles_are_reported_with_their_lines(tmp_path):
    path = write_table(tmp_path / 'bad.csv', invalid={3: 'C1CC', 10: 'XYZ', 11: ''})
    with pytest.raises(ValueError) as info:
        MoleculeTable(str(tmp_path), str(path), ['logS'])
    message = str(info.value)
    assert '3 of 30 molecules' in message
    assert "line 5 'C1CC'" in message and "line 12 'XYZ'" in message
    assert "line 13 ''" in message and "on_invalid='skip'" in message
    with pytest.warns(UserWarning, match=r"left out 3 .*line 5 'C1CC'"):
        dataset = MoleculeTable(str(tmp_path), str(path), ['logS'], on_invalid='skip')
    assert len(dataset) == 27
    assert [r['line'] for r in dataset.invalid] == [5, 12, 13]
    assert dataset.invalid[1]['smiles'] == 'XYZ'
    assert 5 not in [int(d.line) for d in dataset]
    with pytest.warns(UserWarning, match='left out 3'):            # on every load
        MoleculeTable(str(tmp_path), str(path), ['logS'], on_invalid='skip')


def test_many_invalid_rows_are_counted(tmp_path):
    path = write_table(tmp_path / 'bad.csv', invalid={i: 'Q' for i in range(14)})
    with pytest.raises(ValueError, match=r'14 of 30 .*line 11 .* and 4 more'):
        MoleculeTable(str(tmp_path), str(path), ['logS'])


def test_unreadable_sdf_record_is_reported(tmp_path):
    path = write_sdf(tmp_path / 'broken.sdf', broken=True)
    with pytest.raises(ValueError, match=r'1 of 30 .*line \d+'):
        MoleculeTable(str(tmp_path), str(path), ['logS'])
    with pytest.warns(UserWarning, match='left out 1'):
        dataset = MoleculeTable(str(tmp_path), str(path), ['logS'], on_invalid='skip')
    assert len(dataset) == 29
    line = dataset.invalid[0]['line']
    assert path.read_text().split('\n')[line - 1] == 'mol2'


def test_molecules_without_labels_are_left_out_with_a_warning(tmp_path):
    path = tmp_path / 'gaps.csv'
    rows = [f'{s},{"" if i in (2, 7) else i}' for i, s in enumerate(MOLECULES)]
    path.write_text('smiles,value\n' + '\n'.join(rows) + '\n')
    with pytest.warns(UserWarning, match=r'without any target value \(lines 4, 9'):
        dataset = MoleculeTable(str(tmp_path), str(path), 'value', split='random')
    assert len(dataset) == 28 and dataset.unlabeled == [4, 9]


def test_cache_is_keyed_by_content_and_options(tmp_path, monkeypatch):
    path = write_table(tmp_path / 'solubility.csv')
    root = str(tmp_path / 'data')
    first = MoleculeTable(root, str(path), ['logS'])
    calls = []
    original = MoleculeTable.process

    def counting(self):
        calls.append(self.key)
        original(self)

    monkeypatch.setattr(MoleculeTable, 'process', counting)
    same = MoleculeTable(root, str(path), ['logS'])
    assert calls == [] and same.key == first.key
    other = MoleculeTable(root, str(path), ['logS', 'pIC50'])
    assert calls == [other.key] and other.num_tasks == 2
    random = MoleculeTable(root, str(path), ['logS'], split='random')
    assert len(calls) == 2 and random.key not in (first.key, other.key)
    text = path.read_text().replace('-0.4', '-9.0')           # the file is edited
    path.write_text(text)
    edited = MoleculeTable(root, str(path), ['logS'])
    assert len(calls) == 3 and edited.key != first.key
    assert float(edited[4].y) == -9.0
    assert float(MoleculeTable(root, str(path), ['logS'])[4].y) == -9.0
    assert len(calls) == 3


@pytest.mark.parametrize('kwargs,match', [
    (dict(target_columns=['logP']), r"no column 'logP'; the file has: 'name', 'smiles'"),
    (dict(target_columns=['logS'], smiles_column='SMILES'), "no column 'SMILES'"),
    (dict(target_columns=['logS'], split='fold'), r"no column 'fold' \('split' is"),
    (dict(target_columns=[]), 'at least one target column'),
    (dict(target_columns=['logS'], task_type='ranking'), "'task_type' must be"),
    (dict(target_columns=['logS'], metric='rocauc'), 'metric of regression'),
    (dict(target_columns=['logS'], on_invalid='drop'), "'on_invalid' must be"),
    (dict(target_columns=['logS'], frac_train=0.95, frac_valid=0.1), 'frac_train'),
    (dict(target_columns=['logS'], task_type='classification'), r'0/1 or empty.*not 0/1'),
    (dict(target_columns=['name']), r"cannot be read .*line 2, 'name': 'mol0'"),
])
def test_clear_errors(tmp_path, kwargs, match):
    path = write_table(tmp_path / 'solubility.csv')
    with pytest.raises(ValueError, match=match):
        MoleculeTable(str(tmp_path), str(path), **kwargs)


def test_clear_errors_for_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='No such file'):
        MoleculeTable(str(tmp_path), str(tmp_path / 'missing.csv'), 'y')
    (tmp_path / 'empty.csv').write_text('')
    with pytest.raises(ValueError, match='is empty'):
        MoleculeTable(str(tmp_path), str(tmp_path / 'empty.csv'), 'y')
    (tmp_path / 'header.csv').write_text('smiles,y\n\n')
    with pytest.raises(ValueError, match='a header but no molecules'):
        MoleculeTable(str(tmp_path), str(tmp_path / 'header.csv'), 'y')
    (tmp_path / 'table.xlsx').write_text('x')
    with pytest.raises(ValueError, match="Unsupported file type '.xlsx'"):
        MoleculeTable(str(tmp_path), str(tmp_path / 'table.xlsx'), 'y')
    (tmp_path / 'few.csv').write_text('smiles,y\nCCO,1\nc1ccccc1,2\nCCN,3\n')
    with pytest.raises(ValueError, match='scaffold split of 3 molecules leaves valid'):
        MoleculeTable(str(tmp_path), str(tmp_path / 'few.csv'), 'y')


def test_trains_with_the_engine(tmp_path):
    pytest.importorskip('lightning')
    from lps_geometric.training import OGBGIN, Task, TrainConfig, train
    path = write_table(tmp_path / 'mixed.csv', classification=True)
    dataset = MoleculeTable(str(tmp_path), str(path), ['logS', 'pIC50'],
                            task_type='classification', split='random')
    task = Task('classification', metric=dataset.eval_metric,
                evaluator=evaluator_for(dataset))
    config = TrainConfig(epochs=1, batch_size=8, eval_batch_size=16, accelerator='cpu',
                         devices=1, precision='32-true', out_dir=str(tmp_path / 'run'),
                         progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        result = train(config, lambda: OGBGIN(2, 16, 2, 0.0), dataset,
                       dataset.get_idx_split(), task)
    assert 'rocauc' in result['test'] and math.isfinite(result['history']['train'][0][1])
