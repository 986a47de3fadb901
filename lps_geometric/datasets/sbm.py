r"""PATTERN and CLUSTER, the node-classification tasks of "Benchmarking Graph Neural
Networks" (Dwivedi et al., JMLR 2023), generated here from their stochastic block
models, seeded, so that both run without a network.

The generators follow the published construction (its second, "v2" version, the one
behind the released files):

- **PATTERN**: 100 patterns, each a random graph on :math:`s \sim U\{5..34\}` nodes
  with edge probability 0.5 and a fixed random feature in :math:`\{0, 1, 2\}` per node.
  Every graph of a pattern is a 5-community SBM (community sizes
  :math:`U\{5..34\}`, :math:`p = 0.5` inside, :math:`q = 0.35` between, uniform
  features in :math:`\{0, 1, 2\}`) with the pattern planted: each pattern node is joined
  to each background node with probability 0.5. A node's label is 1 if it belongs to the
  pattern, else 0. 100 / 20 / 20 graphs per pattern: 10,000 / 2,000 / 2,000.
- **CLUSTER**: a 6-community SBM (sizes :math:`U\{5..34\}`, :math:`p = 0.55`,
  :math:`q = 0.25`); one random node of community :math:`r` has feature :math:`r + 1`,
  all others 0 (7 feature values); a node's label is its community. 10,000 / 1,000 /
  1,000 graphs.

Nodes are shuffled, so the order carries no label information. Features are stored as
category indices ``x`` :math:`(N,)` (long), labels ``y`` :math:`(N,)` (long).
"""
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.datasets.base import NamedInMemoryDataset
from lps_geometric.utils.validation import check_positive_int

__all__ = ['SBMConfig', 'PATTERN_CONFIG', 'CLUSTER_CONFIG', 'sample_sbm',
           'generate_pattern', 'generate_cluster', 'SBMPattern', 'SBMCluster',
           'sbm_statistics', 'PUBLISHED_SBM_STATISTICS']


@dataclass(frozen=True)
class SBMConfig:
    r"""The parameters of a PATTERN or CLUSTER generator.

    Attributes:
        communities (int): Communities of the background SBM.
        min_size, max_size (int): Community sizes are uniform in
            :math:`\{\text{min\_size}, \dots, \text{max\_size}\}`.
        p, q (float): Edge probability inside a community and between two.
        vocabulary (int): Node-feature values (PATTERN: random in
            :math:`\{0..V-1\}`; CLUSTER: :math:`0` and one marked node per community).
        splits (tuple): Graphs in train / valid / test (PATTERN: per pattern).
        patterns (int): PATTERN only: the number of planted patterns.
        pattern_p, pattern_q (float): PATTERN only: edge probability inside the
            pattern and between a pattern node and a background node.
    """
    communities: int
    min_size: int
    max_size: int
    p: float
    q: float
    vocabulary: int
    splits: Tuple[int, int, int]
    patterns: int = 0
    pattern_p: float = 0.0
    pattern_q: float = 0.0


#: The published PATTERN generator (benchmarking-gnns, ``generate_SBM_PATTERN``).
PATTERN_CONFIG = SBMConfig(communities=5, min_size=5, max_size=34, p=0.5, q=0.35,
                           vocabulary=3, splits=(100, 20, 20), patterns=100,
                           pattern_p=0.5, pattern_q=0.5)
#: The published CLUSTER generator (benchmarking-gnns, ``generate_SBM_CLUSTER``).
CLUSTER_CONFIG = SBMConfig(communities=6, min_size=5, max_size=34, p=0.55, q=0.25,
                           vocabulary=7, splits=(10000, 1000, 1000))

#: Statistics of the released files: graphs per split, node range and the average
#: nodes and directed edges of the training split (PyG's ``GNNBenchmarkDataset``
#: table; the ranges from DGL's ``PATTERNDataset``/``CLUSTERDataset``).
PUBLISHED_SBM_STATISTICS = {
    'PATTERN': dict(splits=(10000, 2000, 2000), min_nodes=44, max_nodes=188,
                    mean_nodes=118.9, mean_edges=6098.9, classes=2, features=3),
    'CLUSTER': dict(splits=(10000, 1000, 1000), min_nodes=40, max_nodes=190,
                    mean_nodes=117.2, mean_edges=4303.9, classes=6, features=7),
}


def _sizes(config: SBMConfig, generator: torch.Generator) -> Tensor:
    return torch.randint(config.min_size, config.max_size + 1, (config.communities,),
                         generator=generator)


def _pairs(prob: Tensor, generator: torch.Generator) -> Tensor:
    r"""An undirected random graph with pair probabilities ``prob`` :math:`(N, N)`
    (symmetric), as ``edge_index`` with both directions."""
    n = prob.size(0)
    upper = torch.triu(torch.rand(n, n, generator=generator) < prob, diagonal=1)
    row, col = upper.nonzero(as_tuple=True)
    return torch.stack([torch.cat([row, col]), torch.cat([col, row])])


def sample_sbm(sizes: Tensor, p: float, q: float, generator: torch.Generator
               ) -> Tuple[Tensor, Tensor]:
    r"""One stochastic-block-model graph: ``(edge_index, community)``, nodes ordered by
    community (``community`` :math:`(N,)`), every pair inside a community joined with
    probability ``p`` and between communities with ``q``."""
    community = torch.repeat_interleave(torch.arange(sizes.numel()), sizes)
    same = community.view(-1, 1) == community.view(1, -1)
    prob = torch.where(same, torch.tensor(p), torch.tensor(q))
    return _pairs(prob, generator), community


def _shuffled(x: Tensor, edge_index: Tensor, y: Tensor,
              generator: torch.Generator) -> Data:
    n = x.numel()
    perm = torch.randperm(n, generator=generator)    # new position of each node
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n)
    edge_index = perm[edge_index]
    order = torch.argsort(edge_index[0] * n + edge_index[1])
    return Data(x=x[inverse], edge_index=edge_index[:, order], y=y[inverse],
                num_nodes=n)


def generate_pattern(seed: int = 0, config: SBMConfig = PATTERN_CONFIG
                     ) -> Dict[str, List[Data]]:
    r"""The PATTERN graphs of ``config`` from ``seed``: ``{'train', 'valid', 'test'}``
    lists (pattern by pattern, as generated)."""
    generator = torch.Generator().manual_seed(seed)
    out: Dict[str, List[Data]] = dict(train=[], valid=[], test=[])
    for _ in range(config.patterns):
        s = int(torch.randint(config.min_size, config.max_size + 1, (1,),
                              generator=generator))
        pattern_edges = _pairs(torch.full((s, s), config.pattern_p), generator)
        pattern_x = torch.randint(config.vocabulary, (s,), generator=generator)
        for key, count in zip(out, config.splits):
            for _ in range(count):
                edges, community = sample_sbm(_sizes(config, generator), config.p,
                                              config.q, generator)
                m = community.numel()
                x = torch.cat([torch.randint(config.vocabulary, (m,),
                                             generator=generator), pattern_x])
                y = torch.cat([torch.zeros(m, dtype=torch.long),
                               torch.ones(s, dtype=torch.long)])
                joined = (torch.rand(s, m, generator=generator) < config.pattern_q
                          ).nonzero(as_tuple=True)
                bridge = torch.stack([joined[0] + m, joined[1]])
                edge_index = torch.cat([edges, pattern_edges + m, bridge,
                                        bridge.flip(0)], dim=1)
                out[key].append(_shuffled(x, edge_index, y, generator))
    return out


def generate_cluster(seed: int = 0, config: SBMConfig = CLUSTER_CONFIG
                     ) -> Dict[str, List[Data]]:
    r"""The CLUSTER graphs of ``config`` from ``seed``: ``{'train', 'valid',
    'test'}`` lists."""
    generator = torch.Generator().manual_seed(seed)
    out: Dict[str, List[Data]] = dict(train=[], valid=[], test=[])
    for key, count in zip(out, config.splits):
        for _ in range(count):
            sizes = _sizes(config, generator)
            edge_index, community = sample_sbm(sizes, config.p, config.q, generator)
            # one random node of each community carries the community's mark r + 1
            starts = torch.cumsum(sizes, 0) - sizes
            marked = starts + (torch.rand(sizes.numel(), generator=generator)
                               * sizes).long()
            x = torch.zeros(community.numel(), dtype=torch.long)
            x[marked] = torch.arange(1, sizes.numel() + 1)
            out[key].append(_shuffled(x, edge_index, community, generator))
    return out


def sbm_statistics(graphs: Dict[str, List[Data]]) -> Dict[str, object]:
    r"""Graphs per split, node range, and for the training split the average nodes,
    directed edges and the class fractions."""
    train = graphs['train']
    nodes = torch.tensor([g.num_nodes for g in train], dtype=torch.float64)
    edges = torch.tensor([g.edge_index.size(1) for g in train], dtype=torch.float64)
    every = [g.num_nodes for split in graphs.values() for g in split]
    labels = torch.cat([g.y for g in train])
    fractions = torch.bincount(labels).double() / labels.numel()
    return dict(splits=tuple(len(v) for v in graphs.values()), min_nodes=min(every),
                max_nodes=max(every), mean_nodes=float(nodes.mean()),
                mean_edges=float(edges.mean()),
                class_fractions=[round(float(f), 4) for f in fractions])


class _GeneratedSBM(NamedInMemoryDataset):
    r"""A generated PATTERN/CLUSTER dataset with its split (base class)."""
    name = ''
    config: SBMConfig
    num_classes_: int

    def __init__(self, root: str = 'datasets', seed: int = 0,
                 splits: Optional[Tuple[int, int, int]] = None,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, force_reload: bool = False):
        self.seed = check_positive_int('seed', seed, minimum=0)
        config = self.config
        if splits is not None:
            if len(splits) != 3:
                raise ValueError(f"'splits' takes three counts (train, valid, test; got "
                                 f"{splits})")
            splits = tuple(check_positive_int('splits', int(s)) for s in splits)
            config = replace(config, splits=splits)
        self.sbm_config = config
        super().__init__(root, transform, pre_transform, force_reload=force_reload)
        self.load(self.processed_paths[0])
        self._split = torch.load(self.processed_paths[1], weights_only=True)

    def _key(self) -> str:
        text = json.dumps(dict(seed=self.seed, **asdict(self.sbm_config)),
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> List[str]:
        key = self._key()
        return [f'{key}.pt', f'{key}-split.pt', f'{key}-statistics.json']

    def download(self):
        pass

    def generate(self) -> Dict[str, List[Data]]:
        raise NotImplementedError

    def process(self):
        graphs = self.generate()
        if self.pre_transform is not None:
            graphs = {k: [self.pre_transform(g) for g in v] for k, v in graphs.items()}
        every, split, start = [], {}, 0
        for key, part in graphs.items():
            every.extend(part)
            split[key] = torch.arange(start, start + len(part))
            start += len(part)
        self.save(every, self.processed_paths[0])
        torch.save(split, self.processed_paths[1])
        with open(self.processed_paths[2], 'w') as f:
            json.dump(sbm_statistics(graphs), f, indent=2)

    @property
    def statistics(self) -> Dict[str, object]:
        r"""The generated graphs' :func:`sbm_statistics` (computed when generated)."""
        with open(self.processed_paths[2]) as f:
            return json.load(f)

    def get_idx_split(self) -> Dict[str, Tensor]:
        r"""``{'train', 'valid', 'test'}`` graph indices."""
        return {k: v.clone() for k, v in self._split.items()}

    @property
    def num_classes(self) -> int:
        return self.num_classes_

    @property
    def vocabulary(self) -> int:
        r"""Node-feature values (the categories of ``x``)."""
        return self.sbm_config.vocabulary

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, seed={self.seed}, '
                f'splits={self.sbm_config.splits})')


class SBMPattern(_GeneratedSBM):
    r"""PATTERN (Dwivedi et al.), generated offline from ``seed``: node classification
    (is a node in the planted pattern?), 2 classes, features in :math:`\{0, 1, 2\}`.

    Args:
        root (str, optional): The graphs are kept in ``root/pattern/processed``.
            (default: :obj:`"datasets"`)
        seed (int, optional): Seed of the generator. (default: :obj:`0`)
        splits (tuple, optional): Graphs per pattern in train / valid / test, for
            smaller versions. (default: :obj:`(100, 20, 20)`: 10,000 / 2,000 / 2,000)
        transform, pre_transform (callable, optional): As in PyG.
    """
    name = 'pattern'
    config = PATTERN_CONFIG
    num_classes_ = 2

    def generate(self) -> Dict[str, List[Data]]:
        return generate_pattern(self.seed, self.sbm_config)


class SBMCluster(_GeneratedSBM):
    r"""CLUSTER (Dwivedi et al.), generated offline from ``seed``: node classification
    into the 6 communities, one marked node per community (features in
    :math:`\{0..6\}`).

    Args:
        root (str, optional): The graphs are kept in ``root/cluster/processed``.
            (default: :obj:`"datasets"`)
        seed (int, optional): Seed of the generator. (default: :obj:`0`)
        splits (tuple, optional): Graphs in train / valid / test. (default:
            :obj:`(10000, 1000, 1000)`)
        transform, pre_transform (callable, optional): As in PyG.
    """
    name = 'cluster'
    config = CLUSTER_CONFIG
    num_classes_ = 6

    def generate(self) -> Dict[str, List[Data]]:
        return generate_cluster(self.seed, self.sbm_config)
