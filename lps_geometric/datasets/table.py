r"""A user's own molecules with measured labels, from a CSV, TSV or SDF file, as an
OGB-format dataset (:class:`MoleculeTable`)."""
import csv
import hashlib
import json
import math
import os.path as osp
import re
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

from lps_geometric.datasets.base import describe
from lps_geometric.datasets.molecules import (MoleculeCSV, Record, _require,
                                              read_report, read_table, scaffold_split)

__all__ = ['MoleculeTable', 'random_split']

DELIMITERS = {'.csv': ',', '.tsv': '\t', '.tab': '\t'}
SDF_SUFFIXES = ('.sdf', '.sd')
SUFFIXES = tuple(DELIMITERS) + ('.txt',) + SDF_SUFFIXES
MISSING = frozenset({'', 'nan', 'na', 'n/a', 'null', 'none'})
SPLIT_VALUES = {'train': 'train', 'training': 'train', 'valid': 'valid', 'val': 'valid',
                'validation': 'valid', 'test': 'test', 'testing': 'test'}
METRICS = {'regression': ('rmse', 'mae'), 'classification': ('rocauc', 'ap')}
# OGB datasets whose evaluator computes each metric (set to the table's number of tasks)
OGB_REFERENCE = {'rmse': 'ogbg-molesol', 'rocauc': 'ogbg-molbbbp', 'ap': 'ogbg-molpcba'}
CACHE_VERSION = 1


def random_split(num_examples: int, frac_train: float = 0.8, frac_valid: float = 0.1,
                 seed: int = 0) -> Dict[str, Tensor]:
    r"""A random split: a permutation drawn with a :class:`torch.Generator` seeded by
    :obj:`seed`, cut into :math:`\lfloor f_\text{train} N \rfloor` train,
    :math:`\lfloor f_\text{valid} N \rfloor` valid and the remaining test examples.
    Returns sorted :obj:`torch.long` index tensors under ``'train'``, ``'valid'`` and
    ``'test'``.

    Args:
        num_examples (int): :math:`N`.
        frac_train (float, optional): :math:`f_\text{train}`. (default: :obj:`0.8`)
        frac_valid (float, optional): :math:`f_\text{valid}`. (default: :obj:`0.1`)
        seed (int, optional): Seed of the permutation. (default: :obj:`0`)
    """
    perm = torch.randperm(num_examples, generator=torch.Generator().manual_seed(seed))
    n_train, n_valid = int(frac_train * num_examples), int(frac_valid * num_examples)
    parts = perm[:n_train], perm[n_train:n_train + n_valid], perm[n_train + n_valid:]
    return {k: v.sort().values for k, v in zip(('train', 'valid', 'test'), parts)}


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


class MoleculeTable(MoleculeCSV):
    r"""Molecules with measured labels from a file of one's own, as a dataset in OGB's
    format: graphs with OGB's atom and bond features (:func:`smiles_to_data`), labels
    ``y`` of shape :math:`(1, T)` for :math:`T` target columns, a train/valid/test
    split (:meth:`get_idx_split`), ``task_type``, ``num_tasks``, ``eval_metric`` and an
    OGB-compatible evaluator (:func:`~lps_geometric.datasets.evaluator_for`), so that
    it trains like an ``ogbg-mol*`` dataset, no subclassing needed.

    File formats (by suffix):

    - **CSV** (``.csv``), **TSV** (``.tsv``, ``.tab``), or ``.txt`` (delimiter
      detected): a header line naming the columns, then one molecule per row, with a
      SMILES column (:obj:`smiles_column`) and the target columns. Fields may be
      quoted; a molecule's line is the line its row starts on.
    - **SDF** (``.sdf``, ``.sd``, read with RDKit): one record per molecule; its SMILES
      is written from the molecule (hydrogens removed), targets and a split column are
      read from its properties (``> <name>`` fields). :obj:`smiles_column` is unused.

    Labels: numbers; an empty cell, ``nan``, ``NA``, ``N/A``, ``null`` or ``none`` is a
    missing label, stored as :obj:`nan` and left out of the loss and the metric.
    Classification targets are binary: ``0``/``1`` (or ``true``/``false``). A molecule
    without any label is left out with a warning.

    Invalid SMILES (or SDF records RDKit cannot read) are reported with their file line
    numbers: by default (:obj:`on_invalid="raise"`) building the dataset fails with an
    error listing them; with :obj:`on_invalid="skip"` they are left out with a warning
    and listed in :attr:`invalid` (dicts with ``line``, ``smiles`` and ``error``);
    molecules without any label are listed (by line) in :attr:`unlabeled`. Every graph
    keeps its ``smiles`` and the ``line`` it came from.

    The processed data lives in ``root/NAME/processed/KEY``, where ``KEY`` is a hash of
    the file's content and of every option that changes the data (columns, task type,
    split, fractions, seed, ``on_invalid``, ``pre_transform``): editing the file or
    changing an option builds the dataset anew, and an unchanged call reuses it
    (copies for other contents or options stay in ``root/NAME/processed`` until
    deleted).

    Args:
        root (str): Folder of the processed data (``root/NAME/processed/KEY``).
        path (str): The CSV, TSV or SDF file.
        target_columns (str or list of str): The column(s) (SDF: properties) to learn,
            one task each.
        smiles_column (str, optional): The column holding SMILES (CSV/TSV).
            (default: :obj:`"smiles"`)
        task_type (str, optional): :obj:`"regression"` or :obj:`"classification"`
            (binary, one logit per target). (default: :obj:`"regression"`)
        split (str, optional): :obj:`"scaffold"` (Bemis–Murcko scaffold split, as
            OGB's, :func:`scaffold_split`), :obj:`"random"` (seeded,
            :func:`random_split`) or the name of a column whose values are ``train``,
            ``valid`` (or ``val``, ``validation``) and ``test`` (the two keywords take
            precedence over columns of the same name). (default: :obj:`"scaffold"`)
        frac_train (float, optional): Fraction of training molecules (scaffold and
            random splits). (default: :obj:`0.8`)
        frac_valid (float, optional): Fraction of validation molecules (scaffold and
            random splits); the rest is test. (default: :obj:`0.1`)
        seed (int, optional): Seed of the random split. (default: :obj:`0`)
        metric (str, optional): :obj:`"rmse"` or :obj:`"mae"` for regression,
            :obj:`"rocauc"` or :obj:`"ap"` for classification, averaged over targets as
            OGB's evaluator does. (default: :obj:`"rmse"` / :obj:`"rocauc"`)
        on_invalid (str, optional): :obj:`"raise"` or :obj:`"skip"` (see above).
            (default: :obj:`"raise"`)
        delimiter (str, optional): The column delimiter of a CSV/TSV file.
            (default: from the suffix, detected for ``.txt``)
        name (str, optional): The dataset's folder under :obj:`root`. (default: the
            file's name without suffix)
        transform (callable, optional): Applied to every graph on access.
            (default: :obj:`None`)
        pre_transform (callable, optional): Applied to every graph before saving.
            (default: :obj:`None`)
        force_reload (bool, optional): Build the dataset anew even if cached.
            (default: :obj:`False`)

    Example::

        dataset = MoleculeTable('datasets', 'solubility.csv', target_columns=['logS'])
        split = dataset.get_idx_split()
        train = dataset[split['train']]
    """
    def __init__(self, root: str, path: str, target_columns: Union[str, Sequence[str]],
                 smiles_column: str = 'smiles', task_type: str = 'regression',
                 split: str = 'scaffold', frac_train: float = 0.8,
                 frac_valid: float = 0.1, seed: int = 0, metric: Optional[str] = None,
                 on_invalid: str = 'raise', delimiter: Optional[str] = None,
                 name: Optional[str] = None, transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, force_reload: bool = False):
        path = osp.abspath(osp.expanduser(str(path)))
        if not osp.isfile(path):
            raise FileNotFoundError(f'No such file: {path}')
        suffix = osp.splitext(path)[1].lower()
        if suffix not in SUFFIXES:
            raise ValueError(f"Unsupported file type '{suffix}' of {path} (expected one "
                             f"of {', '.join(SUFFIXES)})")
        if osp.getsize(path) == 0:
            raise ValueError(f'The file {path} is empty')
        if isinstance(target_columns, str):
            target_columns = [target_columns]
        target_columns = [str(c) for c in target_columns]
        if not target_columns:
            raise ValueError('Name at least one target column (target_columns=[...])')
        if len(set(target_columns)) != len(target_columns):
            raise ValueError(f'Target columns repeat: {target_columns}')
        if task_type not in METRICS:
            raise ValueError(f"'task_type' must be 'regression' or 'classification' "
                             f"(got '{task_type}')")
        metric = metric or METRICS[task_type][0]
        if metric not in METRICS[task_type]:
            raise ValueError(f"The metric of {task_type} is one of "
                             f"{', '.join(METRICS[task_type])} (got '{metric}')")
        if on_invalid not in ('raise', 'skip'):
            raise ValueError(f"'on_invalid' must be 'raise' or 'skip' (got '{on_invalid}')")
        if not split:
            raise ValueError("'split' must be 'scaffold', 'random' or a column name")
        if not (0 < frac_train < 1 and 0 <= frac_valid < 1 and frac_train + frac_valid < 1):
            raise ValueError(f'Need 0 < frac_train, 0 <= frac_valid and frac_train + '
                             f'frac_valid < 1 (got {frac_train}, {frac_valid})')
        if delimiter is not None and len(delimiter) != 1:
            raise ValueError(f"'delimiter' must be one character (got {delimiter!r})")
        _require('rdkit')

        self.path = path
        self.is_sdf = suffix in SDF_SUFFIXES
        self.target_columns = target_columns
        self.smiles_column = smiles_column
        self.task_type = task_type
        self.split = split
        self.frac_train, self.frac_valid, self.seed = float(frac_train), \
            float(frac_valid), int(seed)
        self.metric = metric
        self.on_invalid = on_invalid
        self.delimiter = delimiter
        self.name = name or re.sub(r'[^\w.-]+', '_', osp.splitext(osp.basename(path))[0])
        options = dict(version=CACHE_VERSION, sha256=_file_digest(path),
                       smiles_column=None if self.is_sdf else smiles_column,
                       target_columns=target_columns, task_type=task_type, split=split,
                       frac_train=self.frac_train, frac_valid=self.frac_valid,
                       seed=self.seed if split == 'random' else None,
                       on_invalid=on_invalid, delimiter=delimiter,
                       pre_transform=describe(pre_transform))
        self.options = options
        self.key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()
                                  ).hexdigest()[:16]
        super().__init__(root, transform, pre_transform, force_reload=force_reload)
        self.unlabeled: List[int] = read_report(osp.join(self.processed_dir,
                                                         'unlabeled.json'))
        if self.unlabeled:
            lines = ', '.join(map(str, self.unlabeled[:10]))
            more = f' and {len(self.unlabeled) - 10} more' if len(self.unlabeled) > 10 \
                else ''
            warnings.warn(f'{self.__class__.__name__}: left out {len(self.unlabeled)} '
                          f'molecule(s) without any target value (lines {lines}{more}; '
                          f'listed in `dataset.unlabeled`)', stacklevel=2)

    # ---- layout --------------------------------------------------------------------
    @property
    def raw_dir(self) -> str:
        return osp.dirname(self.path)

    @property
    def raw_file_names(self) -> List[str]:
        return [osp.basename(self.path)]

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.name, 'processed', self.key)

    @property
    def split_dir(self) -> str:
        return osp.join(self.processed_dir, 'split')

    @property
    def num_tasks(self) -> int:
        return len(self.target_columns)

    @property
    def eval_metric(self) -> str:
        return self.metric

    @property
    def evaluator_name(self) -> Optional[str]:
        r"""The OGB dataset whose evaluator computes :attr:`eval_metric` (:obj:`None`
        for :obj:`"mae"`, which OGB does not define)."""
        return OGB_REFERENCE.get(self.metric)

    def download(self):
        raise FileNotFoundError(f'No such file: {self.path}')

    # ---- reading -------------------------------------------------------------------
    def _label(self, text: Optional[str], column: str, line: int,
               problems: List[str]) -> float:
        text = '' if text is None else str(text).strip()
        if text.lower() in MISSING:
            return math.nan
        if self.task_type == 'classification' and text.lower() in ('true', 'false'):
            return float(text.lower() == 'true')
        try:
            value = float(text)
        except ValueError:
            problems.append(f'line {line}, {column!r}: {text!r}')
            return math.nan
        if self.task_type == 'classification' and value not in (0.0, 1.0):
            problems.append(f'line {line}, {column!r}: {text!r} (not 0/1)')
        return value

    def _check_columns(self, available: Sequence[str], kind: str):
        wanted = list(self.target_columns)
        if not self.is_sdf:
            wanted.insert(0, self.smiles_column)
        if self.split not in ('scaffold', 'random'):
            wanted.append(self.split)
        missing = [c for c in wanted if c not in available]
        if missing:
            hint = (" ('split' is 'scaffold', 'random' or a column)"
                    if self.split in missing else '')
            raise ValueError(f"{self.path}: no {kind} {', '.join(map(repr, missing))}"
                             f"{hint}; the file has: {', '.join(map(repr, available))}")

    def _rows(self):
        r"""``(line, smiles, {column: text})`` of every molecule, checked columns."""
        if self.is_sdf:
            return self._sdf_rows()
        delimiter = self.delimiter or DELIMITERS.get(osp.splitext(self.path)[1].lower())
        if delimiter is None:
            with open(self.path, newline='', encoding='utf-8-sig') as f:
                try:
                    delimiter = csv.Sniffer().sniff(f.read(1 << 16), ',\t;').delimiter
                except csv.Error:
                    delimiter = ','
        header, rows = read_table(self.path, delimiter)
        if not header:
            raise ValueError(f'The file {self.path} has no header line')
        self._check_columns(header, 'column')
        if not rows:
            raise ValueError(f'The file {self.path} has a header but no molecules')
        return [(line, values[self.smiles_column].strip(), values) for line, values in rows]

    def _sdf_rows(self):
        from rdkit import Chem, RDLogger
        RDLogger.DisableLog('rdApp.*')
        starts, line = [1], 0
        with open(self.path, encoding='utf-8', errors='replace') as f:
            for line, text in enumerate(f, 1):
                if text.strip() == '$$$$':
                    starts.append(line + 1)
        rows, names = [], set()
        for i, mol in enumerate(Chem.SDMolSupplier(self.path)):
            start = starts[i] if i < len(starts) else line
            if mol is None:
                rows.append((start, '', None))
                continue
            values = mol.GetPropsAsDict(includePrivate=False, includeComputed=False)
            values = {k: str(v) for k, v in values.items()}
            names.update(values)
            try:
                smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
            except Exception:  # RDKit raises several kinds for bad molecules
                smiles = ''
            rows.append((start, smiles, values))
        if not rows:
            raise ValueError(f'The file {self.path} holds no molecule records')
        self._check_columns(sorted(names), 'property')
        return rows

    def read_records(self, path: str) -> List[Record]:
        records, problems, unlabeled = [], [], []
        self._split_values: Dict[int, str] = {}
        self._unlabeled = unlabeled
        for line, smiles, values in self._rows():
            if values is None:   # an SDF record RDKit cannot read: an invalid molecule
                records.append((line, '', (math.nan,) * self.num_tasks))
                continue
            labels = tuple(self._label(values.get(c), c, line, problems)
                           for c in self.target_columns)
            if all(math.isnan(v) for v in labels):
                unlabeled.append(line)
                continue
            if self.split not in ('scaffold', 'random'):
                text = str(values.get(self.split, '')).strip().lower()
                if text not in SPLIT_VALUES:
                    problems.append(f'line {line}, {self.split!r}: {text!r} (expected '
                                    f'train, valid or test)')
                self._split_values[line] = SPLIT_VALUES.get(text, '')
            records.append((line, smiles, labels))
        if problems:
            more = f' and {len(problems) - 10} more' if len(problems) > 10 else ''
            kind = ('numbers or empty' if self.task_type == 'regression'
                    else '0/1 or empty')
            raise ValueError(f'{path}: {len(problems)} value(s) cannot be read (targets '
                             f'must be {kind}): {"; ".join(problems[:10])}{more}')
        if not records:
            raise ValueError(f'{path}: no molecule has a value in '
                             f'{", ".join(map(repr, self.target_columns))}')
        return records

    def process(self):
        super().process()
        with open(osp.join(self.processed_dir, 'unlabeled.json'), 'w') as f:
            json.dump(self._unlabeled, f)

    # ---- splitting -----------------------------------------------------------------
    def make_split(self, records: Sequence[Record]) -> Dict[str, Tensor]:
        if self.split == 'scaffold':
            split = scaffold_split([r[1] for r in records], self.frac_train,
                                   self.frac_valid)
        elif self.split == 'random':
            split = random_split(len(records), self.frac_train, self.frac_valid,
                                 self.seed)
        else:
            names = [self._split_values[r[0]] for r in records]
            split = {k: torch.tensor([i for i, v in enumerate(names) if v == k],
                                     dtype=torch.long) for k in ('train', 'valid', 'test')}
        empty = [k for k, v in split.items() if v.numel() == 0]
        if empty:
            raise ValueError(
                f"The {self.split} split of {len(records)} molecules leaves "
                f"{' and '.join(empty)} empty; every part needs at least one molecule "
                f"(use more molecules, other fractions, or another split)")
        return split

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, file={osp.basename(self.path)!r}, '
                f'task={self.task_type}, targets={self.target_columns}, '
                f'split={self.split!r})')
