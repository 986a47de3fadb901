r"""The EXP dataset of 1-WL-indistinguishable graph pairs, and its EXP-classify split.

The authors distribute EXP as :obj:`GRAPHSAT.pkl`, a pickle of :class:`Data` objects of an
old PyTorch Geometric release. Unpickling runs whatever callables a file names, so the file
is read with :class:`RestrictedUnpickler`, which resolves exactly the four globals the
file needs and refuses everything else. The pickled :class:`Data` objects are rebuilt into
a local placeholder that only stores their attribute dictionary; fresh
:class:`torch_geometric.data.Data` objects are then built from plain tensors.
"""
import collections
import io
import os.path as osp
import pickle
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch._utils
from torch import Tensor
from torch_geometric.data import Data, download_url

from lps_geometric.datasets.base import NamedInMemoryDataset

__all__ = ['EXP', 'EXPClassify', 'exp_pairs', 'load_exp_pickle', 'RestrictedUnpickler']


class _PickledData:
    r"""Stand-in for the pickled :class:`torch_geometric.data.data.Data` class.

    Unpickling creates it without calling :meth:`__init__` and hands it the original
    object's attribute dictionary via :meth:`__setstate__`; nothing else happens.
    """
    def __init__(self) -> None:
        self.state: Dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slot state)
            merged: Dict[str, Any] = {}
            for part in state:
                if part is not None:
                    merged.update(part)
            state = merged
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f'Unexpected state of type {type(state).__name__} for a pickled Data object')
        self.state = dict(state)


def _load_from_bytes(blob: bytes) -> Any:
    r"""Replacement for :func:`torch.storage._load_from_bytes`: loads the nested
    :func:`torch.save` blob (a tensor storage) with PyTorch's own restricted loader."""
    if not isinstance(blob, (bytes, bytearray)):
        raise pickle.UnpicklingError('Expected bytes for a pickled tensor storage')
    return torch.load(io.BytesIO(blob), weights_only=True)


class RestrictedUnpickler(pickle.Unpickler):
    r"""A :class:`pickle.Unpickler` that only resolves the globals listed in
    :attr:`ALLOWED`, mapping each to a safe implementation.

    Any other global (a function such as :obj:`os.system`, or an arbitrary class) raises a
    :class:`pickle.UnpicklingError` naming it, before anything could be called.
    """
    ALLOWED: Dict[Tuple[str, str], Any] = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
        ('torch.storage', '_load_from_bytes'): _load_from_bytes,
        ('torch_geometric.data.data', 'Data'): _PickledData,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            allowed = ', '.join(f'{m}.{n}' for m, n in self.ALLOWED)
            raise pickle.UnpicklingError(
                f"Refusing to unpickle global '{module}.{name}': only {allowed} are "
                f"allowed in an EXP dataset file") from None


def load_exp_pickle(path: str) -> List[Dict[str, Any]]:
    r"""Reads :obj:`GRAPHSAT.pkl` safely and returns one attribute dictionary (keys such
    as :obj:`x`, :obj:`edge_index`, :obj:`y`) per graph.

    Args:
        path (str): Path to the pickle file.
    """
    with open(path, 'rb') as f:
        obj = RestrictedUnpickler(f).load()
    if not isinstance(obj, list) or not all(isinstance(d, _PickledData) for d in obj):
        raise ValueError(f"'{path}' does not hold a list of pickled Data objects")
    return [d.state for d in obj]


def exp_pairs(num_graphs: int) -> Tensor:
    r"""The pairs of EXP: graphs :obj:`2i` and :obj:`2i + 1` form pair :obj:`i`.

    Returns a :obj:`torch.long` tensor of shape :obj:`[num_graphs // 2, 2]`. The same
    holds inside every EXP-classify split (their boundaries are even).

    Args:
        num_graphs (int): Number of graphs (must be even).
    """
    if num_graphs % 2 != 0:
        raise ValueError(f'EXP pairs need an even number of graphs, got {num_graphs}')
    return torch.arange(num_graphs, dtype=torch.long).view(-1, 2)


def _to_data(state: Dict[str, Any], i: int) -> Data:
    for key in ('x', 'edge_index', 'y'):
        if not isinstance(state.get(key), Tensor):
            raise ValueError(f'EXP graph {i} has no tensor {key!r}')
    x = state['x'].to(torch.float)
    if x.dim() == 1:
        x = x.view(-1, 1)
    edge_index = state['edge_index'].to(torch.long)
    num_nodes = x.size(0)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f'EXP graph {i} has a malformed edge_index')
    if edge_index.numel() > 0 and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise ValueError(f'EXP graph {i} has edges to nodes outside of [0, {num_nodes})')
    # Sort edges by (row, col) and drop duplicates; the raw edges come unsorted.
    key = torch.unique(edge_index[0] * num_nodes + edge_index[1])
    edge_index = torch.stack([key // num_nodes, key % num_nodes])
    if state['y'].numel() != 1:
        raise ValueError(f'EXP graph {i} should have one label')
    y = state['y'].to(torch.long).view(1)
    return Data(x=x, edge_index=edge_index, y=y)


class EXP(NamedInMemoryDataset):
    r"""The EXP dataset from the `"The Surprising Power of Graph Neural Networks with
    Random Node Initialization" <https://arxiv.org/abs/2010.01179>`_ paper (Abboud et al.,
    IJCAI 2021).

    :obj:`1,200` graphs encoding propositional formulas, in :obj:`600` pairs: graphs
    :obj:`2i` and :obj:`2i + 1` are non-isomorphic but cannot be told apart by 1-WL (and
    hence by any message passing GNN), and one of them is satisfiable (label :obj:`1`),
    the other not (label :obj:`0`). :attr:`pairs` (or :func:`exp_pairs`) gives the pair
    index tensor.

    The raw file :obj:`GRAPHSAT.pkl` is expected in :obj:`root/exp/raw/` (a copy found
    there is used as is) or downloaded from the `GNN-RNI repository
    <https://github.com/ralphabb/GNN-RNI>`_. It is read with :class:`RestrictedUnpickler`,
    which never executes code from the file.

    Every graph is a :class:`~torch_geometric.data.Data` object with :obj:`x` (a binary
    node feature of shape :obj:`[num_nodes, 1]`, :obj:`torch.float`), an undirected,
    coalesced :obj:`edge_index` (:obj:`torch.long`) and :obj:`y` (shape :obj:`[1]`,
    :obj:`torch.long`, in :obj:`{0, 1}`).

    Args:
        root (str): Root directory; the dataset lives in :obj:`root/exp/`.
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
            Filtering graphs breaks the pair structure used by :attr:`pairs`.
            (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
    """

    url = 'https://raw.githubusercontent.com/ralphabb/GNN-RNI/main/Data/EXP/raw/GRAPHSAT.pkl'
    name = 'exp'
    num_graphs_expected = 1200

    def __init__(
        self,
        root: str,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        pre_filter: Optional[Callable] = None,
        force_reload: bool = False,
    ) -> None:
        super().__init__(root, transform, pre_transform, pre_filter,
                         force_reload=force_reload)
        self.load(self.processed_paths[self._processed_index()])

    def _processed_index(self) -> int:
        return 0

    @property
    def raw_file_names(self) -> List[str]:
        return ['GRAPHSAT.pkl']

    @property
    def processed_file_names(self) -> List[str]:
        return ['data.pt']

    @property
    def pairs(self) -> Tensor:
        r"""The :obj:`[len(self) // 2, 2]` tensor of pairs of indistinguishable graphs."""
        return exp_pairs(len(self))

    def download(self) -> None:
        try:
            download_url(self.url, self.raw_dir)
        except OSError as e:  # offline: urllib's URLError is an OSError
            raise OSError(f'Downloading EXP from {self.url} failed ({e}); put '
                          f'GRAPHSAT.pkl into {self.raw_dir}') from e

    def _read_raw(self) -> List[Data]:
        path = self.raw_paths[0]
        states = load_exp_pickle(path)
        if len(states) != self.num_graphs_expected:
            raise RuntimeError(f"'{path}' holds {len(states)} graphs, expected "
                               f"{self.num_graphs_expected}")
        data_list = [_to_data(state, i) for i, state in enumerate(states)]
        for i in range(0, len(data_list), 2):
            a, b = data_list[i], data_list[i + 1]
            if a.num_nodes != b.num_nodes or a.num_edges != b.num_edges:
                raise RuntimeError(f'EXP graphs {i} and {i + 1} should form a pair but '
                                   f'differ in size')
        return data_list

    def _finalize(self, data_list: List[Data]) -> List[Data]:
        if self.pre_filter is not None:
            data_list = [data for data in data_list if self.pre_filter(data)]
        if self.pre_transform is not None:
            data_list = [self.pre_transform(data) for data in data_list]
        return data_list

    def process(self) -> None:
        self.save(self._finalize(self._read_raw()), self.processed_paths[0])

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self)})'


class EXPClassify(EXP):
    r"""The EXP-classify task: the graphs of :class:`EXP` from the `"The Surprising Power
    of Graph Neural Networks with Random Node Initialization"
    <https://arxiv.org/abs/2010.01179>`_ paper with their satisfiability label, split as in
    the `"Breaking the Limits of Message Passing Graph Neural Networks"
    <https://arxiv.org/abs/2106.04319>`_ paper (Balcilar et al., ICML 2021): the first
    :obj:`200` graphs for validation, the next :obj:`200` for testing and the remaining
    :obj:`800` for training.

    Both graphs of a pair always fall into the same split, so :attr:`pairs` holds inside
    every split. All three splits are processed at once (into
    :obj:`root/exp/processed_classify/`) from the same raw file as :class:`EXP`.

    Args:
        root (str): Root directory; the dataset lives in :obj:`root/exp/`.
        split (str, optional): :obj:`"train"`, :obj:`"val"` or :obj:`"test"`.
            (default: :obj:`"train"`)
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
            It is applied after splitting. (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
    """

    #: Graph index ranges ``[start, end)`` of the published split.
    split_ranges: Dict[str, Tuple[int, int]] = {
        'train': (400, 1200),
        'val': (0, 200),
        'test': (200, 400),
    }

    def __init__(
        self,
        root: str,
        split: str = 'train',
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        pre_filter: Optional[Callable] = None,
        force_reload: bool = False,
    ) -> None:
        if split not in self.split_ranges:
            raise ValueError(f"Unknown EXPClassify split {split!r}: expected one of "
                             f"{sorted(self.split_ranges)}")
        self.split = split
        super().__init__(root, transform, pre_transform, pre_filter,
                         force_reload=force_reload)

    def _processed_index(self) -> int:
        return list(self.split_ranges).index(self.split)

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.name, 'processed_classify')

    @property
    def processed_file_names(self) -> List[str]:
        return [f'{split}.pt' for split in self.split_ranges]

    def process(self) -> None:
        data_list = self._read_raw()
        for split, path in zip(self.split_ranges, self.processed_paths):
            start, end = self.split_ranges[split]
            self.save(self._finalize(data_list[start:end]), path)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self)}, split={self.split!r})'
