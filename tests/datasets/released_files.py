r"""Small files in the on-disk layouts of the released benchmark files, written by tests
(nothing is downloaded): PyG's ``GNNBenchmarkDataset`` (PATTERN/CLUSTER) and
``LRGBDataset`` (Peptides-func, Peptides-struct, PCQM-Contact)."""
from pathlib import Path

from dataclasses import replace

import torch

from lps_geometric.datasets.sbm import (CLUSTER_CONFIG, PATTERN_CONFIG, generate_cluster,
                                        generate_pattern)
from lps_geometric.training.models import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS


def _molecule(gen: torch.Generator, n: int):
    x = torch.stack([torch.randint(d, (n,), generator=gen) for d in ATOM_FEATURE_DIMS],
                    dim=1)
    row = torch.arange(n - 1)
    chords = torch.randint(n, (2, max(1, n // 4)), generator=gen)
    chords = chords[:, chords[0] != chords[1]]
    und = torch.cat([torch.stack([row, row + 1]), chords], dim=1)
    und = torch.unique(torch.sort(und, dim=0)[0], dim=1)
    edge_index = torch.cat([und, und.flip(0)], dim=1)
    edge_attr = torch.stack([torch.randint(d, (und.size(1),), generator=gen)
                             for d in BOND_FEATURE_DIMS], dim=1).repeat(2, 1)
    return x, edge_attr, edge_index


def write_lrgb(root: Path, name: str, graphs_per_split: int = 12, seed: int = 0) -> Path:
    r"""``root/NAME/raw/{train,val,test}.pt`` as ``LRGBDataset`` reads them: lists of
    ``(x, edge_attr, edge_index, y)`` (peptides; ``y`` :math:`(1, 10)` binary or
    :math:`(1, 11)` real) or ``(x, edge_attr, edge_index, edge_label_index,
    edge_label)`` (PCQM-Contact: a few contacts and non-contacts per graph)."""
    gen = torch.Generator().manual_seed(seed)
    raw = Path(root) / name / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    for split in ('train', 'val', 'test'):
        graphs = []
        for _ in range(graphs_per_split):
            n = int(torch.randint(6, 14, (1,), generator=gen))
            x, edge_attr, edge_index = _molecule(gen, n)
            if name == 'peptides-func':
                y = torch.randint(2, (1, 10), generator=gen).float()
                graphs.append((x, edge_attr, edge_index, y))
            elif name == 'peptides-struct':
                graphs.append((x, edge_attr, edge_index,
                               torch.randn(1, 11, generator=gen)))
            else:
                pairs = torch.randint(n, (2, 6), generator=gen)
                pairs = pairs[:, pairs[0] != pairs[1]]
                label = torch.randint(2, (pairs.size(1),), generator=gen)
                graphs.append((x, edge_attr, edge_index, pairs, label))
        torch.save(graphs, raw / f'{split}.pt')
    return Path(root)


def write_gnn_benchmark(root: Path, name: str = 'PATTERN', graphs_per_split: int = 6,
                        seed: int = 0) -> Path:
    r"""``root/NAME/raw/NAME_v2.pt`` as ``GNNBenchmarkDataset`` reads it: the three
    splits' lists of graph dicts with one-hot ``x``, ``edge_index`` and node labels
    ``y``."""
    if name == 'PATTERN':
        graphs = generate_pattern(seed, replace(PATTERN_CONFIG, patterns=graphs_per_split,
                                                splits=(1, 1, 1)))
        width = 3
    else:
        graphs = generate_cluster(seed, replace(CLUSTER_CONFIG, splits=(graphs_per_split,)
                                                * 3))
        width = 7
    parts = [[dict(x=torch.eye(width)[g.x], edge_index=g.edge_index, y=g.y)
              for g in graphs[key]] for key in ('train', 'valid', 'test')]
    raw = Path(root) / name / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    torch.save(parts, raw / f'{name}_v2.pt')
    return Path(root)
