import json

import pytest
import torch

pytest.importorskip('rdkit')
pytest.importorskip('ogb')

from lps_geometric.datasets.molecules import (B3DB, FreeSolv, evaluator_for,  # noqa: E402
                                              scaffold_split, smiles_to_data)

SMILES = ['CCO', 'CCCO', 'c1ccccc1O', 'c1ccccc1N', 'c1ccccc1CC', 'C1CCCCC1O', 'CC(=O)O',
          'c1ccncc1', 'c1ccncc1C', 'CCN', 'OCCO', 'C1CC1', 'C1CC1C', 'c1ccc2ccccc2c1',
          'CCOC', 'NOT_A_SMILES', 'CS(=O)(=O)Cl', 'c1ccc2ccccc2c1O', 'CCCC', 'C(Cl)Cl',
          'C1CCC1', 'C1CCCC1', 'c1ccoc1', 'c1ccsc1', 'C1CCNCC1']


def write_freesolv(root, copies: int = 1):
    raw = root / 'freesolv' / 'raw'
    raw.mkdir(parents=True)
    lines = ['iupac,smiles,expt,calc']
    lines += [f'mol{i},{s},{-float(i) / 3:.3f},0.0'
              for i, s in enumerate(SMILES * copies)]
    (raw / 'freesolv.csv').write_text('\n'.join(lines) + '\n')


def test_smiles_to_data_uses_ogb_features():
    data = smiles_to_data('CCO')
    assert data.x.shape == (3, 9) and data.x.dtype == torch.long
    assert data.edge_index.shape == (2, 4) and data.edge_attr.shape == (4, 3)
    with pytest.raises(ValueError, match='Invalid SMILES'):
        smiles_to_data('C1CC')       # unclosed ring
    with pytest.raises(ValueError):
        smiles_to_data('')


def test_scaffold_split_keeps_scaffolds_apart():
    smiles = [s for s in SMILES if s != 'NOT_A_SMILES']
    split = scaffold_split(smiles, 0.6, 0.2)
    all_idx = torch.cat(list(split.values())).sort().values
    assert torch.equal(all_idx, torch.arange(len(smiles)))
    from rdkit.Chem.Scaffolds import MurckoScaffold
    scaffold = [MurckoScaffold.MurckoScaffoldSmiles(smiles=s, includeChirality=True)
                for s in smiles]
    train = {scaffold[i] for i in split['train'].tolist()}
    test = {scaffold[i] for i in split['test'].tolist()}
    assert not (train & test)
    again = scaffold_split(smiles, 0.6, 0.2)          # deterministic
    assert all(torch.equal(split[k], again[k]) for k in split)


def test_freesolv_from_raw_file_skips_invalid_smiles(tmp_path):
    write_freesolv(tmp_path)
    with pytest.warns(UserWarning, match='invalid'):
        dataset = FreeSolv(str(tmp_path))
    assert len(dataset) == len(SMILES) - 1
    assert dataset.invalid[0]['smiles'] == 'NOT_A_SMILES'
    saved = json.loads((tmp_path / 'freesolv' / 'processed' / 'invalid.json').read_text())
    assert saved == dataset.invalid
    split = dataset.get_idx_split()
    assert sum(len(v) for v in split.values()) == len(dataset)
    assert dataset[0].y.shape == (1, 1) and dataset.task_type == 'regression'
    assert evaluator_for(dataset).eval_metric == 'rmse'
    again = FreeSolv(str(tmp_path))           # processed cache, no warning needed
    assert len(again) == len(dataset) and again.invalid == dataset.invalid


def test_b3db_labels(tmp_path):
    raw = tmp_path / 'b3db' / 'raw'
    raw.mkdir(parents=True)
    header = 'NO.\tcompound_name\tIUPAC_name\tSMILES\tCID\tlogBB\tBBB+/BBB-\tInchi'
    rows = [f'{i}\tm{i}\tx\t{s}\t0\t0\t{"BBB+" if i % 2 else "BBB-"}\tx'
            for i, s in enumerate(SMILES[:10])]
    (raw / 'B3DB_classification.tsv').write_text('\n'.join([header] + rows) + '\n')
    dataset = B3DB(str(tmp_path))
    assert [float(d.y) for d in dataset] == [float(i % 2) for i in range(10)]
    assert evaluator_for(dataset).eval_metric == 'rocauc'


def test_invalid_smiles_are_reported_with_file_lines(tmp_path):
    raw = tmp_path / 'b3db' / 'raw'
    raw.mkdir(parents=True)
    header = 'NO.\tcompound_name\tIUPAC_name\tSMILES\tCID\tlogBB\tBBB+/BBB-\tInchi'
    rows = [f'0\t"a name\nover two lines"\tx\tCCO\t0\t0\tBBB+\tx',
            f'1\tm1\tx\tNOT_A_SMILES\t0\t0\tBBB-\tx'] + \
        [f'{i}\tm{i}\tx\t{s}\t0\t0\tBBB-\tx' for i, s in enumerate(SMILES[:8], 2)]
    (raw / 'B3DB_classification.tsv').write_text('\n'.join([header] + rows) + '\n')
    with pytest.warns(UserWarning, match="line 4 'NOT_A_SMILES'"):
        dataset = B3DB(str(tmp_path))
    assert dataset.invalid == [dict(line=4, smiles='NOT_A_SMILES',
                                    error='RDKit cannot parse it')]
    assert [int(d.line) for d in dataset][:2] == [2, 5]
