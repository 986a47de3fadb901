r"""OGB's molecule datasets read by the ``ogb`` package's own code from a small dataset
written in OGB's on-disk layout, with weights-only loading and nothing downloaded."""
import gzip
import math
import pickle
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest
import torch

pytest.importorskip('rdkit')
pytest.importorskip('ogb')

from lps_geometric.datasets import (evaluator_for, ogb_dataset,  # noqa: E402
                                    ogb_molecule_names, smiles_to_data)
from lps_geometric.datasets._ogb import allowed_globals  # noqa: E402
from lps_geometric.datasets.molecules import OGB_PROCESSED_CLASSES  # noqa: E402

MOLECULES = ['CCO', 'CCCO', 'c1ccccc1O', 'c1ccccc1N', 'c1ccccc1CC', 'C1CCCCC1O',
             'CC(=O)O', 'c1ccncc1', 'c1ccncc1C', 'CCN', 'OCCO', 'C1CC1', 'C1CC1C',
             'c1ccc2ccccc2c1', 'CCOC', 'CS(=O)(=O)Cl', 'c1ccc2ccccc2c1O', 'CCCC',
             'C(Cl)Cl', 'C1CCC1', 'C1CCCC1', 'c1ccoc1', 'c1ccsc1', 'C1CCNCC1',
             'CC(C)O', 'CC(=O)N', 'C#N', 'c1ccccc1C(=O)O', 'OC1CCCC1', 'c1cc[nH]c1']


def _write_csv_gz(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, 'wt') as f:
        for row in rows:
            values = row if isinstance(row, (list, tuple)) else [row]
            f.write(','.join('' if isinstance(v, float) and math.isnan(v) else str(v)
                             for v in values) + '\n')


def write_ogb_dataset(root: Path, name: str, smiles: Sequence[str] = MOLECULES,
                      labels: Optional[Sequence[Sequence[float]]] = None,
                      split: Optional[Dict[str, Sequence[int]]] = None) -> Path:
    r"""Writes ``root/ogbg_molxxx`` as OGB distributes it: ``raw/`` (edges once per
    bond, as OGB adds the inverse edges itself; node and edge features; node and edge
    counts; graph labels with empty cells for missing ones), ``split/scaffold/``,
    ``mapping/mol.csv.gz`` and the ``RELEASE_v1.txt`` marker that makes ``ogb`` use the
    folder instead of downloading. Graphs come from OGB's ``smiles2graph``."""
    from ogb.utils import smiles2graph
    folder = Path(root) / name.replace('-', '_')
    graphs = [smiles2graph(s) for s in smiles]
    if labels is None:
        labels = [[i % 2] for i in range(len(smiles))]
    if split is None:
        n = len(smiles)
        split = dict(train=range(int(0.6 * n)), valid=range(int(0.6 * n), int(0.8 * n)),
                     test=range(int(0.8 * n), n))
    raw = folder / 'raw'
    _write_csv_gz(raw / 'edge.csv.gz',
                  [list(e) for g in graphs for e in g['edge_index'][:, ::2].T])
    _write_csv_gz(raw / 'edge-feat.csv.gz',
                  [list(e) for g in graphs for e in g['edge_feat'][::2]])
    _write_csv_gz(raw / 'node-feat.csv.gz',
                  [list(v) for g in graphs for v in g['node_feat']])
    _write_csv_gz(raw / 'num-node-list.csv.gz', [g['num_nodes'] for g in graphs])
    _write_csv_gz(raw / 'num-edge-list.csv.gz',
                  [g['edge_index'].shape[1] // 2 for g in graphs])
    _write_csv_gz(raw / 'graph-label.csv.gz', [list(row) for row in labels])
    for key, idx in split.items():
        _write_csv_gz(folder / 'split' / 'scaffold' / f'{key}.csv.gz', list(idx))
    _write_csv_gz(folder / 'mapping' / 'mol.csv.gz',
                  [['label', 'smiles']] + [[row[0], s] for row, s in zip(labels, smiles)])
    (folder / 'RELEASE_v1.txt').write_text('')
    return folder


@pytest.fixture
def no_download(monkeypatch):
    r"""Makes any download attempt fail the test."""
    import urllib.request

    import ogb.graphproppred.dataset_pyg as dataset_pyg

    def refuse(*args, **kwargs):
        raise AssertionError('a download was attempted')

    monkeypatch.setattr(dataset_pyg.PygGraphPropPredDataset, 'download', refuse)
    monkeypatch.setattr(dataset_pyg, 'decide_download', refuse)
    monkeypatch.setattr(urllib.request, 'urlopen', refuse)


@pytest.fixture
def load_calls(monkeypatch):
    r"""Records the ``weights_only`` argument of every ``torch.load``."""
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get('weights_only', 'default'))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    return calls


def test_ogb_names_are_the_molecule_datasets():
    names = ogb_molecule_names()
    assert 'ogbg-molhiv' in names and 'ogbg-moltox21' in names
    assert all(n.startswith('ogbg-mol') for n in names)
    with pytest.raises(ValueError, match="Unknown molecule dataset 'zinc'.*freesolv"):
        ogb_dataset('zinc')
    with pytest.raises(ValueError, match="Unknown OGB dataset 'ogbg-molxyz'.*ogbg-molhiv"):
        ogb_dataset('ogbg-molxyz')


def test_ogb_layout_processes_then_loads_weights_only(tmp_path, no_download, load_calls):
    root = tmp_path / 'data'
    write_ogb_dataset(root, 'ogbg-molhiv')
    processed = root / 'ogbg_molhiv' / 'processed' / 'geometric_data_processed.pt'

    allowed_before = set(torch.serialization.get_safe_globals())
    dataset = ogb_dataset('ogbg-molhiv', str(root))            # processes the raw files
    assert processed.exists() and len(dataset) == len(MOLECULES)
    for i in (0, 5, len(MOLECULES) - 1):
        expected = smiles_to_data(MOLECULES[i])
        assert torch.equal(dataset[i].x, expected.x)
        assert torch.equal(dataset[i].edge_index, expected.edge_index)
        assert torch.equal(dataset[i].edge_attr, expected.edge_attr)
        assert dataset[i].y.tolist() == [[i % 2]]
    split = dataset.get_idx_split()
    assert split['train'].tolist() == list(range(18))
    assert split['test'].tolist() == list(range(24, 30))
    assert dataset.task_type == 'binary classification' and dataset.num_tasks == 1
    assert evaluator_for(dataset).eval_metric == 'rocauc'

    from lps_geometric.datasets._ogb import OGBGraphPropPredDataset

    def no_processing(self):
        raise AssertionError('the processed file was not reused')

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OGBGraphPropPredDataset, 'process', no_processing)
        again = ogb_dataset('ogbg-molhiv', str(root))          # loads the processed file
    assert len(again) == len(dataset) and torch.equal(again[3].x, dataset[3].x)
    # every file was read weights-only (torch's default is weights_only=True)
    assert len(load_calls) >= 4 and all(w in (True, 'default') for w in load_calls)
    # the allow-list was scoped to the construction: afterwards it is as it was before
    # (PyG allows `Data` itself, but not the storage classes)
    assert set(torch.serialization.get_safe_globals()) == allowed_before
    from torch_geometric.data.storage import GlobalStorage
    assert GlobalStorage not in allowed_before


def test_plain_ogb_load_needs_the_allow_list(tmp_path, no_download):
    r"""Why :func:`ogb_dataset` allows PyG's data classes: the processed file holds a
    pickled ``Data``, which a weights-only load refuses without them."""
    root = tmp_path / 'data'
    write_ogb_dataset(root, 'ogbg-molbace')
    ogb_dataset('ogbg-molbace', str(root))
    path = root / 'ogbg_molbace' / 'processed' / 'geometric_data_processed.pt'
    with pytest.raises(pickle.UnpicklingError, match='torch_geometric'):
        torch.load(path, weights_only=True)
    with allowed_globals(OGB_PROCESSED_CLASSES):
        data, slices = torch.load(path, weights_only=True)
    assert slices['x'].numel() == len(MOLECULES) + 1


def test_ogb_multitask_with_missing_labels(tmp_path, no_download):
    labels = [[float(i % 2), math.nan if i % 3 == 0 else float((i // 2) % 2)]
              for i in range(len(MOLECULES))]
    write_ogb_dataset(tmp_path, 'ogbg-molclintox', labels=labels)
    dataset = ogb_dataset('ogbg-molclintox', str(tmp_path))
    assert dataset.num_tasks == 2
    y = torch.cat([d.y for d in dataset])
    assert y.shape == (len(MOLECULES), 2) and y.dtype == torch.float
    assert torch.isnan(y[:, 1]).sum() == 10 and not torch.isnan(y[:, 0]).any()
    assert evaluator_for(dataset).num_tasks == 2


def test_ogb_download_failure_is_explained(tmp_path, monkeypatch):
    import urllib.error

    import ogb.graphproppred.dataset_pyg as dataset_pyg

    def offline(url):
        raise urllib.error.URLError('no network')

    monkeypatch.setattr(dataset_pyg, 'decide_download', offline)
    with pytest.raises(RuntimeError, match=r'Could not download ogbg-molhiv.*RELEASE_v1'):
        ogb_dataset('ogbg-molhiv', str(tmp_path))
    assert not (tmp_path / 'ogbg_molhiv').exists()      # no empty folder left behind
