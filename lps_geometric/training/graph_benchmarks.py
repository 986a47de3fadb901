r"""The graph benchmarks of the learned-symmetrization paper as training runs:
PATTERN and CLUSTER (node classification, class-weighted accuracy), Peptides-func
(multi-label graph classification, AP), Peptides-struct (multi-target regression,
MAE) and PCQM-Contact (link prediction, MRR): their data, task and models, for the
command line and for scripts."""
import functools
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import AddLaplacianEigenvectorPE, AddRandomWalkPE

from lps_geometric.datasets.pyg_benchmarks import gnn_benchmark_sbm, lrgb_dataset
from lps_geometric.datasets.sbm import SBMCluster, SBMPattern
from lps_geometric.training.graph_models import GNNBaseline, SymmetrizedGraph
from lps_geometric.training.models import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS
from lps_geometric.training.tasks import Task

__all__ = ['GraphBenchmark', 'GRAPH_BENCHMARKS', 'load_graph_benchmark',
           'graph_benchmark_model', 'CachedEncoding', 'subset_split', 'max_nodes_of']


@dataclass(frozen=True)
class GraphBenchmark:
    r"""What a benchmark is: its level, task and feature categories."""
    name: str
    level: str                    # 'node' or 'graph'
    kind: str                     # Task kind
    metric: str
    node_dims: Tuple[int, ...]
    edge_dims: Optional[Tuple[int, ...]]
    outputs: int                  # classes, tasks or targets (link: 0, embeddings)
    loss: str = 'mse'
    class_weight: Optional[str] = None

    def task(self) -> Task:
        return Task(self.kind, metric=self.metric, loss=self.loss,
                    class_weight=self.class_weight)


GRAPH_BENCHMARKS: Dict[str, GraphBenchmark] = {
    'pattern': GraphBenchmark('pattern', 'node', 'multiclass', 'weighted_acc', (3,),
                              None, 2, class_weight='balanced'),
    'cluster': GraphBenchmark('cluster', 'node', 'multiclass', 'weighted_acc', (7,),
                              None, 6, class_weight='balanced'),
    'peptides-func': GraphBenchmark('peptides-func', 'graph', 'classification', 'ap',
                                    ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS, 10),
    'peptides-struct': GraphBenchmark('peptides-struct', 'graph', 'regression', 'mae',
                                      ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS, 11,
                                      loss='l1'),
    'pcqm-contact': GraphBenchmark('pcqm-contact', 'node', 'link', 'mrr',
                                   ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS, 0),
}
r"""The benchmarks by their command-line name."""


class CachedEncoding(torch.utils.data.Dataset):
    r"""A dataset whose graphs get a positional encoding, computed once per graph and
    kept (only the encoding, not the graph) — PyG's
    :class:`~torch_geometric.transforms.AddRandomWalkPE` or
    :class:`~torch_geometric.transforms.AddLaplacianEigenvectorPE`, which are pure
    functions of the graph (their signs are flipped in the model, in training).

    Args:
        dataset: Graphs with ``get_idx_split()``.
        transform (callable): Adds the attribute ``key``.
        key (str): The attribute it adds.
    """
    def __init__(self, dataset, transform: Callable[[Data], Data], key: str):
        self.dataset, self.transform, self.key = dataset, transform, key
        self._cache: Dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Data:
        index = int(index)
        data = self.dataset[index]
        if index not in self._cache:
            self._cache[index] = getattr(self.transform(data.clone()), self.key)
        data[self.key] = self._cache[index]
        return data

    @property
    def _data(self):
        r"""The wrapped dataset's collated graphs (their labels are read once)."""
        return getattr(self.dataset, '_data', None)

    def get_idx_split(self) -> Dict[str, Tensor]:
        return self.dataset.get_idx_split()

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.dataset!r}, {self.key})'


def subset_split(split: Dict[str, Tensor], max_train: Optional[int] = None,
                 max_eval: Optional[int] = None, seed: int = 0) -> Dict[str, Tensor]:
    r"""At most ``max_train`` training and ``max_eval`` validation and test graphs, a
    random subset of each split (seeded; sorted), for runs that fit a CPU budget."""
    out = {}
    for key, index in split.items():
        limit = max_train if key == 'train' else max_eval
        if limit is not None and limit < len(index):
            gen = torch.Generator().manual_seed(seed + {'train': 0, 'valid': 1,
                                                        'test': 2}[key])
            index = index[torch.randperm(len(index), generator=gen)[:limit]].sort()[0]
        out[key] = index
    return out


def _pe_transform(pe: str, pe_dim: int):
    if pe == 'rwse':
        return AddRandomWalkPE(pe_dim), 'random_walk_pe'
    return _LaplacianPE(pe_dim), 'laplacian_eigenvector_pe'


class _LaplacianPE:
    r""":class:`AddLaplacianEigenvectorPE` with zero columns for graphs of at most
    ``k`` nodes (PyG's transform needs more than ``k``)."""
    def __init__(self, k: int):
        self.k = k

    def __call__(self, data: Data) -> Data:
        n = data.num_nodes
        if n > self.k + 1:
            return AddLaplacianEigenvectorPE(self.k, is_undirected=True)(data)
        data.laplacian_eigenvector_pe = torch.zeros(n, self.k)
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.k})'


def load_graph_benchmark(name: str, root: str = 'datasets', source: str = 'generated',
                         seed: int = 0, max_train: Optional[int] = None,
                         max_eval: Optional[int] = None, pe: str = 'none',
                         pe_dim: int = 16):
    r"""``(dataset, split, task, benchmark)`` of a benchmark of
    :data:`GRAPH_BENCHMARKS`.

    Args:
        name (str): ``pattern``, ``cluster``, ``peptides-func``, ``peptides-struct``
            or ``pcqm-contact``.
        root (str): Data root (``root/pattern``, ``root/peptides-func``, ...).
        source (str): PATTERN/CLUSTER: ``"generated"`` (offline, from ``seed``) or
            ``"original"`` (the released files through PyG's
            :class:`~torch_geometric.datasets.GNNBenchmarkDataset`, downloaded on first
            use). The LRGB datasets are always the released files.
        seed (int): Seed of the generated graphs.
        max_train, max_eval (int, optional): Random subsets of the splits
            (:func:`subset_split`).
        pe (str): ``"none"``, ``"rwse"`` or ``"lappe"``: a positional encoding of
            ``pe_dim`` channels added to every graph (:class:`CachedEncoding`).
    """
    name = str(name).lower()
    if name not in GRAPH_BENCHMARKS:
        raise ValueError(f"Unknown graph benchmark '{name}' (one of "
                         f"{', '.join(GRAPH_BENCHMARKS)})")
    if source not in ('generated', 'original'):
        raise ValueError(f"'source' must be 'generated' or 'original' (got {source!r})")
    if pe not in ('none', 'rwse', 'lappe'):
        raise ValueError(f"'pe' must be 'none', 'rwse' or 'lappe' (got {pe!r})")
    benchmark = GRAPH_BENCHMARKS[name]
    if name in ('pattern', 'cluster'):
        if source == 'generated':
            dataset = (SBMPattern if name == 'pattern' else SBMCluster)(root, seed=seed)
        else:
            dataset = gnn_benchmark_sbm(name, root)
    else:
        if source != 'generated':
            raise ValueError(f"'source' is for PATTERN and CLUSTER; {name} is read from "
                             f"its released files")
        dataset = lrgb_dataset(name, root)
    split = subset_split(dataset.get_idx_split(), max_train, max_eval)
    if pe != 'none':
        dataset = CachedEncoding(dataset, *_pe_transform(pe, pe_dim))
    task = benchmark.task()
    if task.kind == 'regression':
        task.standardize(torch.cat([dataset[int(i)].y.view(1, -1) for i in split['train']]))
    return dataset, split, task, benchmark


def max_nodes_of(dataset, split: Dict[str, Tensor]) -> int:
    r"""The largest graph of the split's graphs (from the collated slices when the
    dataset is in memory)."""
    data = getattr(dataset, '_data', None)
    slices = getattr(getattr(dataset, 'dataset', dataset), 'slices', None)
    if data is not None and slices is not None and 'x' in slices:
        return int(torch.diff(slices['x']).max())
    index = torch.cat(list(split.values()))
    return max(int(dataset[int(i)].num_nodes) for i in index.tolist())


def graph_benchmark_model(benchmark: GraphBenchmark, model: str, max_nodes: int,
                          backbone: str = 'transformer', embed_dim: int = 64,
                          depth: int = 4, heads: int = 4, dropout: float = 0.0,
                          samples: int = 1, eval_samples: int = 10,
                          entropy_weight: float = 0.1, hidden: int = 64, layers: int = 4,
                          pe: str = 'none', pe_dim: int = 16, gin_norm: str = 'post',
                          tokens: str = 'rows') -> Callable:
    r"""A picklable constructor of a benchmark's model: ``model`` a symmetrization
    method (:class:`~lps_geometric.training.graph_models.SymmetrizedGraph` around
    ``backbone``) or ``"gin"`` / ``"gps"``
    (:class:`~lps_geometric.training.graph_models.GNNBaseline`). Link prediction
    returns node embeddings of ``embed_dim`` (``hidden`` for the baselines)
    channels."""
    if model in ('gin', 'gps'):
        out = benchmark.outputs or hidden
        return functools.partial(GNNBaseline, node_dims=benchmark.node_dims,
                                 out_channels=out, edge_dims=benchmark.edge_dims,
                                 conv=model, level=benchmark.level,
                                 hidden_channels=hidden, num_layers=layers, heads=heads,
                                 dropout=dropout, pe=pe, pe_dim=pe_dim)
    out = benchmark.outputs or embed_dim
    return functools.partial(SymmetrizedGraph, node_dims=benchmark.node_dims,
                             out_channels=out, edge_dims=benchmark.edge_dims,
                             level=benchmark.level, method=model, backbone=backbone,
                             max_nodes=max_nodes, embed_dim=embed_dim, depth=depth,
                             num_heads=heads, dropout=dropout, num_samples=samples,
                             eval_num_samples=eval_samples,
                             entropy_weight=entropy_weight, gin_norm=gin_norm,
                             tokens=tokens)
