r"""QM9 offline: the 130,831 molecules of QM9 as shipped by the PyPI package
:obj:`qm9pack`, as a PyG dataset with PyTorch Geometric's 19 regression targets.

QM9 (Ramakrishnan, Dral, Rupp and von Lilienfeld, `"Quantum chemistry structures and
properties of 134 kilo molecules" <https://doi.org/10.1038/sdata.2014.22>`_, Scientific
Data 2014) holds the B3LYP/6-31G(2df,p) equilibrium geometries and properties of the
133,885 molecules of GDB-17 with up to nine heavy atoms (C, N, O, F). The
:obj:`qm9pack` tables leave out the 3,054 molecules whose geometry failed the
consistency check, i.e. the same 130,831 molecules that PyG's
:class:`torch_geometric.datasets.QM9` keeps.
"""
import ast
import csv
import importlib.util
import json
import math
import os
import os.path as osp
import shutil
import sys
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.datasets.base import NamedInMemoryDataset

try:  # optional: a progress bar when processing the full set
    from tqdm import tqdm
except ImportError:  # pragma: no cover
    tqdm = None

__all__ = ['QM9Pack', 'TARGETS', 'target_index', 'HAR2EV', 'ATOMREF']

#: Hartree to electronvolt (CODATA 2018; PyG's :obj:`HAR2EV`).
HAR2EV = 27.211386246

#: The elements of QM9, in the order of the one-hot node features :obj:`x`.
ELEMENTS: Tuple[str, ...] = ('H', 'C', 'N', 'O', 'F')
ATOMIC_NUMBERS: Dict[str, int] = {'H': 1, 'C': 6, 'N': 7, 'O': 8, 'F': 9}

#: Energies of the free atoms (Hartree), from QM9's :obj:`atomref` table, in the column
#: order :math:`U_0`, :math:`U` (298.15 K), :math:`H` (298.15 K), :math:`G` (298.15 K).
ATOMREF: Dict[str, Tuple[float, float, float, float]] = {
    'H': (-0.500273, -0.498857, -0.497912, -0.510927),
    'C': (-37.846772, -37.845355, -37.844411, -37.861317),
    'N': (-54.583861, -54.582445, -54.581501, -54.598897),
    'O': (-75.064579, -75.063162, -75.062219, -75.079532),
    'F': (-99.718730, -99.717314, -99.716370, -99.733544),
}

#: The 19 targets of :obj:`data.y`, as :obj:`(name, unit)` pairs, in the order and
#: units of PyG's :class:`~torch_geometric.datasets.QM9`.
TARGETS: List[Tuple[str, str]] = [
    ('mu', 'D'),                # 0  dipole moment
    ('alpha', 'bohr^3'),        # 1  isotropic polarizability
    ('homo', 'eV'),             # 2  HOMO energy
    ('lumo', 'eV'),             # 3  LUMO energy
    ('gap', 'eV'),              # 4  LUMO - HOMO
    ('r2', 'bohr^2'),           # 5  electronic spatial extent
    ('zpve', 'eV'),             # 6  zero point vibrational energy
    ('U0', 'eV'),               # 7  internal energy at 0 K
    ('U', 'eV'),                # 8  internal energy at 298.15 K
    ('H', 'eV'),                # 9  enthalpy at 298.15 K
    ('G', 'eV'),                # 10 free energy at 298.15 K
    ('cv', 'cal/mol K'),        # 11 heat capacity at 298.15 K
    ('U0_atom', 'eV'),          # 12 atomization energy at 0 K
    ('U_atom', 'eV'),           # 13 atomization energy at 298.15 K
    ('H_atom', 'eV'),           # 14 atomization enthalpy at 298.15 K
    ('G_atom', 'eV'),           # 15 atomization free energy at 298.15 K
    ('A', 'GHz'),               # 16 rotational constant
    ('B', 'GHz'),               # 17 rotational constant
    ('C', 'GHz'),               # 18 rotational constant
]

# Source column and factor of targets 0-11 and 16-18; 12-15 are computed from 7-10.
_COLUMNS: List[Tuple[int, str, float]] = [
    (0, 'Dipole_debye', 1.0),
    (1, 'Polarizability_bohr3', 1.0),
    (2, 'HOMO_au', HAR2EV),
    (3, 'LUMO_au', HAR2EV),
    (4, 'HOMO_LUMO_gap_au', HAR2EV),
    (5, 'R2_bohr2', 1.0),
    (6, 'ZPVE_au', HAR2EV),
    (7, 'InternalEnergy_0K_au', HAR2EV),
    (8, 'InternalEnergy_298K_au', HAR2EV),
    (9, 'Enthalphy_298K_au', HAR2EV),  # sic, the column name of qm9pack
    (10, 'GibbsFreeEnergy_298K_au', HAR2EV),
    (11, 'Heatcapacity_Cv_cal_mol_K', 1.0),
    (16, 'RotA_GHz', 1.0),
    (17, 'RotB_GHz', 1.0),
    (18, 'RotC_GHz', 1.0),
]
_ENERGY_COLUMNS = ('InternalEnergy_0K_au', 'InternalEnergy_298K_au', 'Enthalphy_298K_au',
                   'GibbsFreeEnergy_298K_au')
_REQUIRED = ('XYZ_file', 'Index', 'SMILES', 'Elements', 'XYZ_Ang') + tuple(
    column for _, column, _ in _COLUMNS)

#: Number of molecules in the :obj:`qm9pack` tables.
NUM_MOLECULES = 130_831


def target_index(name: Union[str, int]) -> int:
    r"""The column of target :obj:`name` in :obj:`data.y` (see :obj:`TARGETS`), e.g.
    :obj:`target_index('gap') == 4`, :obj:`target_index('U0') == 7`. Names are matched
    exactly first, then case-insensitively (the 19 names differ also in lower case);
    an integer in :obj:`[0, 19)` is returned as is.

    Raises:
        ValueError: For an unknown name or an index out of range.
    """
    names = [n for n, _ in TARGETS]
    if isinstance(name, int) and not isinstance(name, bool):
        if 0 <= name < len(TARGETS):
            return name
        raise ValueError(f'Target index {name} out of range [0, {len(TARGETS)})')
    if name in names:
        return names.index(name)
    lower = [n.lower() for n in names]
    if isinstance(name, str) and name.lower() in lower:
        return lower.index(name.lower())
    raise ValueError(f'Unknown QM9 target {name!r} (expected one of {names})')


def _package_data_dir() -> Optional[str]:
    r"""The :obj:`data/` folder of the installed :obj:`qm9pack` package, or :obj:`None`.
    Only locates the package: importing it would need :obj:`pkg_resources`."""
    spec = importlib.util.find_spec('qm9pack')
    if spec is None or not spec.submodule_search_locations:
        return None
    return osp.join(list(spec.submodule_search_locations)[0], 'data')


def _parse_row(row: Dict[str, str]) -> Data:
    r"""One table row as a :class:`~torch_geometric.data.Data` object (see
    :class:`QM9Pack`). Raises :class:`ValueError` with a reason for a bad row."""
    try:
        elements = ast.literal_eval(row['Elements'])
        xyz = ast.literal_eval(row['XYZ_Ang'])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(f'unparsable Elements or XYZ_Ang ({type(e).__name__})') from None
    if not isinstance(elements, (list, tuple)) or not isinstance(xyz, (list, tuple)):
        raise ValueError('Elements and XYZ_Ang must be lists')
    if len(elements) == 0:
        raise ValueError('no atoms')
    unknown = sorted({str(e) for e in elements
                      if not isinstance(e, str) or e not in ATOMIC_NUMBERS})
    if unknown:
        raise ValueError(f'element(s) {", ".join(unknown)} not in {", ".join(ELEMENTS)}')
    if len(xyz) != len(elements):
        raise ValueError(f'{len(elements)} elements but {len(xyz)} coordinates')
    try:
        pos = [[float(c) for c in atom] for atom in xyz]
    except (TypeError, ValueError):
        raise ValueError('non-numeric coordinates') from None
    if any(len(p) != 3 for p in pos):
        raise ValueError('coordinates are not 3D')
    try:
        index = int(row['Index'])
        values = {column: float(row[column]) for _, column, _ in _COLUMNS}
    except (TypeError, ValueError):
        raise ValueError('non-numeric Index or target') from None
    if not all(math.isfinite(v) for v in values.values()) or not all(
            math.isfinite(c) for p in pos for c in p):
        raise ValueError('non-finite target or coordinate')

    y = [0.0] * len(TARGETS)
    for i, column, factor in _COLUMNS:
        y[i] = values[column] * factor
    for k, column in enumerate(_ENERGY_COLUMNS):  # atomization energies, Hartree -> eV
        reference = sum(ATOMREF[e][k] for e in elements)
        y[12 + k] = (values[column] - reference) * HAR2EV

    type_idx = torch.tensor([ELEMENTS.index(e) for e in elements], dtype=torch.long)
    data = Data(
        x=torch.nn.functional.one_hot(type_idx, len(ELEMENTS)).to(torch.float),
        z=torch.tensor([ATOMIC_NUMBERS[e] for e in elements], dtype=torch.long),
        pos=torch.tensor(pos, dtype=torch.float),
        edge_index=torch.empty(2, 0, dtype=torch.long),
        y=torch.tensor([y], dtype=torch.float),
        smiles=row['SMILES'],
        idx=torch.tensor([index], dtype=torch.long),
    )
    return data


class QM9Pack(NamedInMemoryDataset):
    r"""The QM9 dataset (`Ramakrishnan et al., Scientific Data 2014
    <https://doi.org/10.1038/sdata.2014.22>`_), read offline from the CSV tables of the
    PyPI package :obj:`qm9pack` (:obj:`pip install --no-deps qm9pack`), with the 19
    targets of PyG's :class:`~torch_geometric.datasets.QM9`, in its order and units
    (see :obj:`TARGETS` and :func:`target_index`). Online, PyG's
    :class:`~torch_geometric.datasets.QM9` is the alternative.

    The raw files are :obj:`qm9_part1.csv`, :obj:`qm9_part2.csv` and
    :obj:`qm9_part3.csv` in :obj:`root/qm9pack/raw/`; :meth:`download` copies them from
    the installed package (nothing is fetched from the network). Together they hold
    :obj:`130,831` molecules (QM9's :obj:`133,885` less the :obj:`3,054` whose geometry
    failed QM9's consistency check, the set PyG's :obj:`QM9` keeps), in file order,
    which is increasing QM9 index.

    Every molecule with :math:`n` atoms is a :class:`~torch_geometric.data.Data` object
    with

    * :obj:`z` (:obj:`[n]`, :obj:`torch.long`): atomic numbers, H=1, C=6, N=7, O=8, F=9;
    * :obj:`x` (:obj:`[n, 5]`, :obj:`torch.float`): one-hot element over
      :obj:`(H, C, N, O, F)`;
    * :obj:`pos` (:obj:`[n, 3]`, :obj:`torch.float`): the B3LYP equilibrium geometry in
      Ångström;
    * :obj:`edge_index` (:obj:`[2, 0]`, :obj:`torch.long`): empty. QM9 models build
      their graph from :obj:`pos`, e.g. with
      :obj:`transform=torch_geometric.transforms.RadiusGraph(r)` (which needs
      :obj:`pyg-lib` or :obj:`torch-cluster`; with at most 29 atoms per molecule a dense
      :obj:`torch.cdist(pos, pos) < r` does as well) or a radius graph inside the model;
    * :obj:`y` (:obj:`[1, 19]`, :obj:`torch.float`): the targets, columns as in
      :obj:`TARGETS`: :obj:`0` :math:`\mu` (D), :obj:`1` :math:`\alpha` (bohr³),
      :obj:`2-4` HOMO, LUMO, gap (eV), :obj:`5` :math:`\langle R^2 \rangle` (bohr²),
      :obj:`6` ZPVE (eV), :obj:`7-10` :math:`U_0, U, H, G` (eV), :obj:`11` :math:`c_v`
      (cal/mol K), :obj:`12-15` the atomization energies of :obj:`7-10` (eV),
      :obj:`16-18` rotational constants :math:`A, B, C` (GHz);
    * :obj:`smiles` (:obj:`str`) and :obj:`idx` (:obj:`[1]`, :obj:`torch.long`): the
      SMILES string and the QM9 index (:obj:`1` to :obj:`133885`) of the molecule.

    Energies in Hartree are multiplied by :math:`27.211386246` eV/Hartree (PyG's
    :obj:`HAR2EV`). The atomization energy of a molecule with total energy :math:`E`
    (one of :math:`U_0, U, H, G`) and atoms :math:`Z_1, \dots, Z_n` is

    .. math::
        E_{\mathrm{atom}} = \Big(E - \sum_{i=1}^n E^{\mathrm{ref}}_{Z_i}\Big) \cdot
        27.211386246\ \mathrm{eV/Hartree},

    with the free-atom energies :math:`E^{\mathrm{ref}}` of QM9's :obj:`atomref` table
    (:obj:`ATOMREF`, Hartree), computed in double precision and stored as
    :obj:`torch.float`. (PyG's :obj:`QM9` converts these four from a table in kcal/mol,
    so its values may differ from these slightly.)

    **Subsets.** :obj:`max_molecules=N` keeps the first :math:`N` valid molecules in file
    order (before :obj:`pre_filter`) and stops reading there, so a small subset is built
    without reading the whole tables. Every setting has its own processed files
    (:obj:`data_all.pt`, :obj:`data_1000.pt`, ...) in :obj:`root/qm9pack/processed/`,
    which are loaded with :obj:`torch.load(weights_only=True)` (no code is run).

    **Bad rows** (unparsable :obj:`Elements`/:obj:`XYZ_Ang`/numbers, an element other
    than H, C, N, O, F, different numbers of elements and coordinates, non-finite
    values) are skipped, never fatal: they are listed in :attr:`skipped` as
    :obj:`(row, reason)` pairs (:obj:`row` counts the data rows of the three files
    together from :obj:`0`, the reason names file, line and molecule), saved in
    :obj:`skipped_all.json` (resp. :obj:`skipped_N.json`) next to the processed file,
    and summarised in one warning. None are expected in the :obj:`qm9pack` tables.

    Processing shows a :obj:`tqdm` progress bar if :obj:`tqdm` is installed and
    :obj:`log=True`.

    Args:
        root (str): Root directory; the dataset lives in :obj:`root/qm9pack/`.
        max_molecules (int, optional): Keep only the first :obj:`max_molecules`
            molecules; :obj:`None` keeps all. (default: :obj:`None`)
        transform (callable, optional): A function/transform that takes in a
            :class:`~torch_geometric.data.Data` object and returns a transformed version.
            The data object will be transformed before every access. (default: :obj:`None`)
        pre_transform (callable, optional): A function/transform that takes in a
            :class:`~torch_geometric.data.Data` object and returns a transformed version.
            The data object will be transformed before being saved to disk.
            (default: :obj:`None`)
        pre_filter (callable, optional): A function that takes in a
            :class:`~torch_geometric.data.Data` object and returns a boolean value,
            indicating whether the data object should be included in the final dataset.
            (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
        log (bool, optional): Whether to print progress to the console.
            (default: :obj:`True`)
    """

    name = 'qm9pack'
    parts = ('qm9_part1.csv', 'qm9_part2.csv', 'qm9_part3.csv')

    def __init__(
        self,
        root: str,
        max_molecules: Optional[int] = None,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        pre_filter: Optional[Callable] = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        if max_molecules is not None and (isinstance(max_molecules, bool)
                                          or int(max_molecules) != max_molecules
                                          or max_molecules < 1):
            raise ValueError(f'max_molecules must be a positive integer or None, '
                             f'got {max_molecules!r}')
        self.max_molecules = None if max_molecules is None else int(max_molecules)
        self.skipped: List[Tuple[int, str]] = []
        super().__init__(root, transform, pre_transform, pre_filter, log=log,
                         force_reload=force_reload)
        self.load(self.processed_paths[0])
        with open(self.processed_paths[1]) as f:
            self.skipped = [(int(row), str(reason)) for row, reason in json.load(f)]

    @property
    def raw_file_names(self) -> List[str]:
        return list(self.parts)

    @property
    def processed_file_names(self) -> List[str]:
        tag = 'all' if self.max_molecules is None else str(self.max_molecules)
        return [f'data_{tag}.pt', f'skipped_{tag}.json']

    @property
    def target_names(self) -> List[str]:
        r"""The names of the 19 columns of :obj:`data.y`."""
        return [name for name, _ in TARGETS]

    @staticmethod
    def atomref(target: Union[str, int]) -> Optional[Tensor]:
        r"""The free-atom energies (eV) of target :obj:`7-10` (:math:`U_0, U, H, G`) as
        a :obj:`[100, 1]` table indexed by atomic number (zero for other elements), as
        PyG's :meth:`QM9.atomref` (e.g. for :obj:`SchNet(atomref=...)`): zeros for
        target :obj:`6` (ZPVE), :obj:`None` for the other targets."""
        index = target_index(target)
        if not 6 <= index <= 10:
            return None
        out = torch.zeros(100, 1)
        if index == 6:
            return out
        for element, energies in ATOMREF.items():
            out[ATOMIC_NUMBERS[element], 0] = energies[index - 7] * HAR2EV
        return out

    def download(self) -> None:
        r"""Copies the missing raw files from the installed :obj:`qm9pack` package."""
        source = _package_data_dir()
        if source is None or not all(osp.isfile(osp.join(source, f)) for f in self.parts):
            raise RuntimeError(
                f'{self.__class__.__name__} reads QM9 from the PyPI package qm9pack, '
                f'which is not installed (or lacks its data files). Install it with '
                f'`pip install --no-deps qm9pack`, or put {", ".join(self.parts)} into '
                f'{self.raw_dir}. To download QM9 instead, use '
                f'torch_geometric.datasets.QM9.')
        os.makedirs(self.raw_dir, exist_ok=True)
        for filename, path in zip(self.parts, self.raw_paths):
            if not osp.exists(path):
                shutil.copyfile(osp.join(source, filename), path)

    def _read(self, paths: Sequence[str]) -> Tuple[List[Data], List[Tuple[int, str]], int]:
        r"""Reads the first :obj:`max_molecules` valid molecules of the tables. Returns
        the molecules, the skipped rows and the number of rows read."""
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        limit = self.max_molecules
        progress = None
        if tqdm is not None and self.log and limit is None:
            progress = tqdm(total=NUM_MOLECULES, desc='QM9Pack', unit='mol', leave=False)
        data_list: List[Data] = []
        skipped: List[Tuple[int, str]] = []
        row_index = 0
        try:
            for path in paths:
                if limit is not None and len(data_list) >= limit:
                    break  # stop early, do not even open the remaining files
                filename = osp.basename(path)
                with open(path, newline='') as f:
                    reader = csv.reader(f)
                    header = next(reader, None)
                    if header is None:  # an empty file
                        continue
                    missing = [c for c in _REQUIRED if c not in header]
                    if missing:
                        raise ValueError(f'{path}: not a qm9pack table, columns {missing} '
                                         f'missing from the header')
                    for values in reader:
                        if limit is not None and len(data_list) >= limit:
                            break
                        where = f'{filename} line {reader.line_num}'
                        if len(values) != len(header):
                            skipped.append((row_index, f'{where}: {len(values)} fields, '
                                                       f'expected {len(header)}'))
                        else:
                            row = dict(zip(header, values))
                            try:
                                data = _parse_row(row)
                            except ValueError as e:
                                skipped.append((row_index,
                                                f'{where} ({row["XYZ_file"]}): {e}'))
                            else:
                                data_list.append(data)
                        row_index += 1
                        if progress is not None:
                            progress.update(1)
        finally:
            if progress is not None:
                progress.close()
        return data_list, skipped, row_index

    def process(self) -> None:
        data_list, skipped, num_rows = self._read(self.raw_paths)
        if self.pre_filter is not None:
            data_list = [data for data in data_list if self.pre_filter(data)]
        if self.pre_transform is not None:
            data_list = [self.pre_transform(data) for data in data_list]
        if not data_list:
            raise RuntimeError(
                f'{self.__class__.__name__}: no molecules left from {num_rows} rows of '
                f'{self.raw_dir} ({len(skipped)} skipped, the rest removed by pre_filter)')
        self.skipped = skipped
        with open(self.processed_paths[1], 'w') as f:
            json.dump([list(s) for s in skipped], f, indent=1)
        if skipped:
            first_row, first_reason = skipped[0]
            warnings.warn(
                f'{self.__class__.__name__}: skipped {len(skipped)} of {num_rows} rows '
                f'(listed in .skipped and {self.processed_paths[1]}); first: row '
                f'{first_row}, {first_reason}', stacklevel=2)
        self.save(data_list, self.processed_paths[0])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, '
                f'max_molecules={self.max_molecules})')
