r"""The released files of PATTERN/CLUSTER (PyG's
:class:`~torch_geometric.datasets.GNNBenchmarkDataset`) and of the Long Range Graph
Benchmark (PyG's :class:`~torch_geometric.datasets.LRGBDataset`: Peptides-func,
Peptides-struct, PCQM-Contact), read without executing code, as one dataset with its
official split.

PyG reads both datasets' raw and processed files with ``fs.torch_load``, which retries
a refused weights-only load with unrestricted unpickling, and reads its
``pre_transform.pt`` marker with ``weights_only=False``: a crafted file would run code.
The classes here read every file with :obj:`torch.load(weights_only=True)` only (the
released files are lists of tensors and dicts, which that allows); a file that needs
more is refused with an error that says so.
"""
import os.path as osp
from typing import Callable, Dict, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.datasets import GNNBenchmarkDataset, LRGBDataset

from lps_geometric.datasets.base import NamedInMemoryDataset, check_root

__all__ = ['SplitDataset', 'SafeGNNBenchmarkDataset', 'SafeLRGBDataset',
           'gnn_benchmark_sbm', 'lrgb_dataset', 'LRGB_NAMES', 'categorical_nodes',
           'read_weights_only']

#: The LRGB datasets with a task here.
LRGB_NAMES = ('peptides-func', 'peptides-struct', 'pcqm-contact')
_SPLITS = (('train', 'train'), ('valid', 'val'), ('test', 'test'))


def read_weights_only(path: str):
    r"""``torch.load(path, weights_only=True)``; a file that holds anything else than
    tensors and plain containers raises a :class:`ValueError` (it is never unpickled
    without restriction)."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:   # the unpickler's refusals have several types
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ''
        raise ValueError(f'{path} cannot be read as tensors and plain containers '
                         f'(torch.load(weights_only=True) refused it: {reason}); files '
                         f'that need code to load are not read') from error


def _check_arguments(root: str, split: str):
    r"""The split name of PyG's readers (``train``, ``val``, ``test``) and the root."""
    if split not in ('train', 'val', 'test'):
        raise ValueError(f"'split' must be 'train', 'val' or 'test' (got {split!r})")
    check_root(root)


class SplitDataset(torch.utils.data.Dataset):
    r"""Datasets of the train, valid and test splits as one dataset: positions
    ``0 .. len(train) - 1`` are the training graphs, then the validation graphs, then
    the test graphs, and :meth:`get_idx_split` returns them.

    Args:
        parts (dict): ``{'train': ..., 'valid': ..., 'test': ...}`` datasets.
        name (str, optional): The dataset's name (shown by :obj:`repr`).
    """
    def __init__(self, parts: Dict[str, torch.utils.data.Dataset], name: str = ''):
        missing = [k for k in ('train', 'valid', 'test') if k not in parts]
        if missing:
            raise ValueError(f"SplitDataset needs the splits {missing}")
        self.parts = {k: parts[k] for k in ('train', 'valid', 'test')}
        self.name = name
        sizes = [len(p) for p in self.parts.values()]
        self._offsets = [0]
        for size in sizes:
            self._offsets.append(self._offsets[-1] + size)

    def __len__(self) -> int:
        return self._offsets[-1]

    def __getitem__(self, index: int) -> Data:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f'index {index} is out of range for {len(self)} graphs')
        for part, (start, stop) in zip(self.parts.values(),
                                       zip(self._offsets, self._offsets[1:])):
            if index < stop:
                return part[index - start]
        raise IndexError(index)   # pragma: no cover - the loop always returns

    def get_idx_split(self) -> Dict[str, Tensor]:
        return {k: torch.arange(start, stop) for k, start, stop in
                zip(self.parts, self._offsets, self._offsets[1:])}

    def __repr__(self) -> str:
        sizes = ', '.join(f'{k}={len(v)}' for k, v in self.parts.items())
        return f'{self.__class__.__name__}({self.name!r}, {sizes})'


class SafeGNNBenchmarkDataset(GNNBenchmarkDataset):
    r""":class:`~torch_geometric.datasets.GNNBenchmarkDataset` for ``"PATTERN"`` and
    ``"CLUSTER"`` (the same files, URL and layout: ``root/NAME/raw/NAME_v2.pt``, a list
    of the three splits' lists of graph dicts) with every file read weights-only."""
    _process = NamedInMemoryDataset._process
    load = NamedInMemoryDataset.load

    def __init__(self, root: str, name: str, split: str = 'train',
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, force_reload: bool = False):
        if name not in ('PATTERN', 'CLUSTER'):
            raise ValueError(f"SafeGNNBenchmarkDataset reads 'PATTERN' and 'CLUSTER' "
                             f"(got {name!r})")
        _check_arguments(root, split)
        super().__init__(root, name, split, transform, pre_transform,
                         force_reload=force_reload)

    def process(self):
        inputs = read_weights_only(self.raw_paths[0])
        if not (isinstance(inputs, (list, tuple)) and len(inputs) == 3 and
                all(isinstance(part, (list, tuple)) for part in inputs)):
            raise ValueError(f'{self.raw_paths[0]} must hold the three splits (train, '
                             f'val, test), each a list of graph dicts')
        for i, part in enumerate(inputs):
            graphs = []
            for j, entry in enumerate(part):
                if not isinstance(entry, dict) or 'edge_index' not in entry:
                    raise ValueError(f'{self.raw_paths[0]}: graph {j} of split {i} is '
                                     f'not a dict with an edge_index')
                graph = Data(**entry)
                graphs.append(graph if self.pre_transform is None
                              else self.pre_transform(graph))
            self.save(graphs, self.processed_paths[i])


class SafeLRGBDataset(LRGBDataset):
    r""":class:`~torch_geometric.datasets.LRGBDataset` for ``"peptides-func"``,
    ``"peptides-struct"`` and ``"pcqm-contact"`` (the same files, URLs and layout:
    ``root/NAME/raw/{train,val,test}.pt``, each a list of graph tuples) with every file
    read weights-only. The superpixel datasets, stored as plain pickles, are not read.
    """
    _process = NamedInMemoryDataset._process
    load = NamedInMemoryDataset.load

    def __init__(self, root: str, name: str, split: str = 'train',
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, force_reload: bool = False):
        if str(name).lower() not in LRGB_NAMES:
            raise ValueError(f"SafeLRGBDataset reads {', '.join(LRGB_NAMES)} (got "
                             f"{name!r}; the superpixel datasets are plain pickles)")
        _check_arguments(root, split)
        super().__init__(root, name, split, transform, pre_transform,
                         force_reload=force_reload)

    def process(self):
        link = self.name == 'pcqm-contact'
        width = 5 if link else 4
        for split in ('train', 'val', 'test'):
            path = osp.join(self.raw_dir, f'{split}.pt')
            graphs = read_weights_only(path)
            data_list = []
            for j, graph in enumerate(graphs):
                if not isinstance(graph, (list, tuple)) or len(graph) != width:
                    raise ValueError(f'{path}: graph {j} must be a tuple of {width} '
                                     f'tensors (x, edge_attr, edge_index, '
                                     f'{"edge_label_index, edge_label" if link else "y"})')
                x, edge_attr, edge_index = graph[:3]
                if link:
                    data = Data(x=x, edge_index=edge_index, edge_attr=edge_attr,
                                edge_label_index=graph[3], edge_label=graph[4])
                else:
                    data = Data(x=x, edge_index=edge_index, edge_attr=edge_attr,
                                y=graph[3])
                data_list.append(data if self.pre_transform is None
                                 else self.pre_transform(data))
            self.save(data_list, osp.join(self.processed_dir, f'{split}.pt'))


def categorical_nodes(data: Data) -> Data:
    r"""``x`` as category indices :math:`(N,)` (long): one-hot rows become their index,
    a single column its values (the released PATTERN/CLUSTER files store one-hot
    features; the generated datasets store indices)."""
    x = data.x
    if x is None:
        raise ValueError('The graph has no node features x')
    if x.dim() == 2 and x.size(1) > 1:
        x = x.argmax(dim=1)
    data = data.clone()
    data.x = x.reshape(-1).long()
    return data


def gnn_benchmark_sbm(name: str, root: str = 'datasets',
                      transform: Optional[Callable] = None) -> SplitDataset:
    r"""The released PATTERN or CLUSTER files (downloaded to ``root/NAME`` on first
    use) as one :class:`SplitDataset`, node features as category indices like the
    generated :class:`~lps_geometric.datasets.SBMPattern`."""
    name = str(name).upper()

    def compose(data: Data) -> Data:
        data = categorical_nodes(data)
        return data if transform is None else transform(data)

    parts = {key: SafeGNNBenchmarkDataset(root, name, split, transform=compose)
             for key, split in _SPLITS}
    return SplitDataset(parts, name)


def lrgb_dataset(name: str, root: str = 'datasets', transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None) -> SplitDataset:
    r"""An LRGB dataset (:data:`LRGB_NAMES`; downloaded to ``root/NAME`` on first use)
    with its official split as one :class:`SplitDataset`."""
    name = str(name).lower()
    parts = {key: SafeLRGBDataset(root, name, split, transform=transform,
                                  pre_transform=pre_transform)
             for key, split in _SPLITS}
    return SplitDataset(parts, name)

