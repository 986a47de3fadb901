r"""The Circular Skip Link (CSL) dataset, generated on the fly."""
from typing import Callable, List, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce

from lps_geometric.datasets.base import NamedInMemoryDataset
from lps_geometric.utils.validation import check_integer

__all__ = ['CSL', 'circular_skip_link_graph']


def circular_skip_link_graph(num_nodes: int, skip_length: int) -> Tensor:
    r"""The undirected, coalesced :obj:`edge_index` of the circular skip-link graph
    :math:`C_{n,s}`: the cycle :math:`0 - 1 - \cdots - (n-1) - 0` plus the chords
    :math:`i - (i + s) \bmod n`.

    Args:
        num_nodes (int): Number of nodes :math:`n`.
        skip_length (int): Skip length :math:`s`.
    """
    node = torch.arange(num_nodes)
    src = torch.cat([node, node])
    dst = torch.cat([(node + 1) % num_nodes, (node + skip_length) % num_nodes])
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    return coalesce(edge_index, num_nodes=num_nodes)


class CSL(NamedInMemoryDataset):
    r"""The Circular Skip Link dataset from the `"Relational Pooling for Graph
    Representations" <https://arxiv.org/abs/1903.02541>`_ paper (Murphy et al., ICML 2019).

    Class :math:`c` holds copies of the circular skip-link graph :math:`C_{n,s_c}` (an
    :math:`n`-cycle plus the chords :math:`i \to (i + s_c) \bmod n`, see
    :func:`circular_skip_link_graph`), each with its nodes relabelled by a random
    permutation. With the defaults, the graphs are :obj:`4`-regular on :obj:`41` nodes and
    1-WL (hence message passing GNNs) cannot tell the :obj:`10` classes apart. The
    literature evaluates on it with 5-fold cross-validation, see
    :func:`~lps_geometric.datasets.stratified_kfold`.

    The graphs are generated (nothing is downloaded), reproducibly: the relabellings come
    from a :class:`torch.Generator` seeded with :obj:`seed`. With a :obj:`root` the result
    is cached in :obj:`root/csl/processed/` (one file per parameter setting); with
    :obj:`root=None` it is only kept in memory.

    Every graph is a :class:`~torch_geometric.data.Data` object with :obj:`x` (all ones,
    shape :obj:`[num_nodes, 1]`, :obj:`torch.float`), an undirected, coalesced
    :obj:`edge_index` (:obj:`torch.long`) and :obj:`y` (the class index, shape :obj:`[1]`,
    :obj:`torch.long`).

    Args:
        root (str, optional): Root directory for the cache. (default: :obj:`None`)
        num_nodes (int, optional): Number of nodes :math:`n` of every graph.
            (default: :obj:`41`)
        skip_lengths (Sequence[int], optional): One skip length per class.
            (default: :obj:`(2, 3, 4, 5, 6, 9, 11, 12, 13, 16)`)
        graphs_per_class (int, optional): Number of relabelled copies per class.
            (default: :obj:`15`)
        seed (int, optional): Seed of the random relabellings. (default: :obj:`0`)
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
    """

    name = 'csl'

    def __init__(
        self,
        root: Optional[str] = None,
        num_nodes: int = 41,
        skip_lengths: Sequence[int] = (2, 3, 4, 5, 6, 9, 11, 12, 13, 16),
        graphs_per_class: int = 15,
        seed: int = 0,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        pre_filter: Optional[Callable] = None,
        force_reload: bool = False,
    ) -> None:
        num_nodes = check_integer('num_nodes', num_nodes)
        graphs_per_class = check_integer('graphs_per_class', graphs_per_class)
        seed = check_integer('seed', seed)
        skip_lengths = tuple(check_integer('skip_lengths', s) for s in skip_lengths)
        if num_nodes < 5:
            raise ValueError(f'CSL needs at least 5 nodes, got {num_nodes}')
        if graphs_per_class < 1:
            raise ValueError(f'graphs_per_class must be positive, got {graphs_per_class}')
        if len(skip_lengths) == 0:
            raise ValueError('CSL needs at least one skip length')
        chords = set()
        for s in skip_lengths:
            if s % num_nodes in (0, 1, num_nodes - 1):
                raise ValueError(f'Skip length {s} does not add chords to a '
                                 f'{num_nodes}-cycle')
            chord = frozenset((s % num_nodes, -s % num_nodes))
            if chord in chords:
                raise ValueError(f'Skip length {s} repeats another class '
                                 f'(s and n - s give the same graph)')
            chords.add(chord)

        self.num_nodes_per_graph = num_nodes
        self.skip_lengths = skip_lengths
        self.graphs_per_class = graphs_per_class
        self.seed = seed
        self._cached = root is not None
        super().__init__(root, transform, pre_transform, pre_filter,
                         force_reload=force_reload)
        if self._cached:
            self.load(self.processed_paths[0])
        else:
            self.data, self.slices = self.collate(self._generate())

    @property
    def has_process(self) -> bool:
        return self._cached

    @property
    def raw_file_names(self) -> List[str]:
        return []  # generated, nothing to download

    @property
    def processed_file_names(self) -> List[str]:
        skips = '-'.join(str(s) for s in self.skip_lengths)
        return [f'csl_n{self.num_nodes_per_graph}_s{skips}_g{self.graphs_per_class}'
                f'_seed{self.seed}.pt']

    def _generate(self) -> List[Data]:
        n = self.num_nodes_per_graph
        generator = torch.Generator().manual_seed(self.seed)
        data_list = []
        for label, skip in enumerate(self.skip_lengths):
            edge_index = circular_skip_link_graph(n, skip)
            for _ in range(self.graphs_per_class):
                perm = torch.randperm(n, generator=generator)  # node v becomes perm[v]
                data = Data(x=torch.ones(n, 1),
                            edge_index=coalesce(perm[edge_index], num_nodes=n),
                            y=torch.tensor([label]))
                if self.pre_filter is not None and not self.pre_filter(data):
                    continue
                if self.pre_transform is not None:
                    data = self.pre_transform(data)
                data_list.append(data)
        return data_list

    def process(self) -> None:
        self.save(self._generate(), self.processed_paths[0])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, '
                f'num_nodes={self.num_nodes_per_graph}, '
                f'num_classes={len(self.skip_lengths)})')
