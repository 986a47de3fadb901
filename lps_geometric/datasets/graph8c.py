r"""The GRAPH8c dataset: every connected simple graph on eight nodes.

The graphs are read from a graph6 file (one graph per line). The file is either generated
locally with nauty's ``geng`` or downloaded from the GNNML repository of Balcilar et al.
"""
import os
import shutil
import subprocess
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data, download_url

from lps_geometric.datasets.base import NamedInMemoryDataset

__all__ = ['GRAPH8c', 'parse_graph6']


def _graph6_header(line: bytes) -> Tuple[int, int]:
    r"""Returns ``(num_nodes, header_length)`` of one graph6 line."""
    if len(line) == 0:
        raise ValueError('Empty graph6 line')
    if line[0] in (ord(':'), ord(';'), ord('&')):
        raise ValueError(f"Expected graph6, got sparse6/digraph6 line {line[:20]!r}")
    if line[0] != 126:  # 0 <= n <= 62: a single byte
        return line[0] - 63, 1
    if len(line) > 1 and line[1] != 126:  # 63 <= n <= 258047: '~' + 3 bytes
        num_bytes, start = 3, 1
    else:  # '~~' + 6 bytes
        num_bytes, start = 6, 2
    num_nodes = 0
    for byte in line[start:start + num_bytes]:
        num_nodes = (num_nodes << 6) | (byte - 63)
    return num_nodes, start + num_bytes


def _upper_triangle_order(num_nodes: int) -> Tuple[np.ndarray, np.ndarray]:
    r"""Row and column of every bit of a graph6 body (column-wise upper triangle)."""
    col, row = np.triu_indices(num_nodes, k=1)[::-1]
    # graph6 enumerates (0,1), (0,2), (1,2), (0,3), ...: sort by column, then row.
    order = np.lexsort((row, col))
    return row[order], col[order]


def parse_graph6(lines: Sequence[bytes]) -> List[Tuple[int, Tensor]]:
    r"""Decodes graph6 strings into ``(num_nodes, edge_index)`` pairs.

    Lines that share their number of nodes are decoded together with a handful of
    vectorised NumPy operations, so tens of thousands of small graphs take well under a
    second. Every returned :obj:`edge_index` is undirected (both directions), coalesced
    (sorted by row, then column) and of type :obj:`torch.long`.

    Args:
        lines (Sequence[bytes]): graph6 strings, without line breaks. An optional
            ``>>graph6<<`` prefix is accepted.
    """
    prefix = b'>>graph6<<'
    lines = [line[len(prefix):] if line.startswith(prefix) else line for line in lines]

    groups: Dict[Tuple[int, int], List[int]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(_graph6_header(line), []).append(i)

    out: List[Optional[Tuple[int, Tensor]]] = [None] * len(lines)
    for (num_nodes, head), members in groups.items():
        num_bits = num_nodes * (num_nodes - 1) // 2
        body_len = (num_bits + 5) // 6
        bodies = [lines[i][head:] for i in members]
        if any(len(body) != body_len for body in bodies):
            raise ValueError(f'Malformed graph6 line for a graph with {num_nodes} nodes')
        if body_len == 0:
            for i in members:
                out[i] = (num_nodes, torch.empty(2, 0, dtype=torch.long))
            continue

        codes = np.frombuffer(b''.join(bodies), dtype=np.uint8).reshape(len(members), -1)
        codes = codes.astype(np.int64) - 63
        if codes.min() < 0 or codes.max() > 63:
            raise ValueError('graph6 line contains bytes outside of [63, 126]')
        shifts = np.arange(5, -1, -1)  # six bits per byte, most significant first
        bits = (codes[:, :, None] >> shifts) & 1
        bits = bits.reshape(len(members), -1)[:, :num_bits]

        row, col = _upper_triangle_order(num_nodes)
        graph, bit = np.nonzero(bits)
        src, dst = row[bit], col[bit]
        # Both directions, sorted per graph by (row, col) with one global argsort.
        graph = np.concatenate([graph, graph])
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        perm = np.argsort((graph * num_nodes + src) * num_nodes + dst, kind='stable')
        edge_index = torch.from_numpy(np.stack([src[perm], dst[perm]])).long()
        counts = np.bincount(graph, minlength=len(members)).tolist()
        for i, ei in zip(members, torch.split(edge_index, counts, dim=1)):
            out[i] = (num_nodes, ei)
    return out  # type: ignore[return-value]


class GRAPH8c(NamedInMemoryDataset):
    r"""All :obj:`11,117` connected non-isomorphic simple graphs on :obj:`8` nodes, as
    used to count pairs of graphs a GNN cannot tell apart in the `"Breaking the Limits of
    Message Passing Graph Neural Networks" <https://arxiv.org/abs/2106.04319>`_ paper
    (Balcilar et al., ICML 2021).

    The graphs have no labels: the dataset is meant for expressivity tests (a model is
    judged by how many pairs of graphs get (numerically) equal embeddings).

    The raw file :obj:`graph8c.g6` holds one graph6 string per line and is expected in
    :obj:`root/graph8c/raw/`; a copy found there is used as is. Otherwise,
    :meth:`download` runs nauty's generator (:obj:`nauty-geng -c 8`, Debian's name, or
    :obj:`geng`) if it is on the :obj:`PATH`, and sorts its output bytewise, which
    reproduces the published file line for line. Without nauty the file is downloaded
    from the `GNNML repository <https://github.com/balcilar/gnn-matlang>`_.

    Every graph is a :class:`~torch_geometric.data.Data` object with :obj:`x` (all-ones
    node features of shape :obj:`[8, 1]`, :obj:`torch.float`), an undirected and
    coalesced :obj:`edge_index` (:obj:`torch.long`) and :obj:`num_nodes`.

    Args:
        root (str): Root directory; the dataset lives in :obj:`root/graph8c/`.
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

    url = ('https://raw.githubusercontent.com/balcilar/gnn-matlang/main/'
           'dataset/graph8c/raw/graph8c.g6')
    name = 'graph8c'
    num_graphs_expected = 11117
    num_nodes_per_graph = 8

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
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self) -> List[str]:
        return ['graph8c.g6']

    @property
    def processed_file_names(self) -> List[str]:
        return ['data.pt']

    def download(self) -> None:
        geng = shutil.which('nauty-geng') or shutil.which('geng')
        if geng is not None:
            try:
                self._generate_with_geng(geng)
                return
            except (OSError, subprocess.SubprocessError, RuntimeError) as e:
                warnings.warn(f'Generating GRAPH8c with {geng!r} failed ({e}); '
                              f'downloading it instead', stacklevel=2)
        download_url(self.url, self.raw_dir)

    def _generate_with_geng(self, geng: str) -> None:
        result = subprocess.run([geng, '-c', '-q', str(self.num_nodes_per_graph)],
                                check=True, capture_output=True, timeout=600)
        lines = sorted(result.stdout.split())
        if len(lines) != self.num_graphs_expected:
            raise RuntimeError(f'expected {self.num_graphs_expected} graphs from geng, '
                               f'got {len(lines)}')
        path = self.raw_paths[0]
        tmp = path + '.part'
        with open(tmp, 'wb') as f:
            f.write(b'\n'.join(lines) + b'\n')
        os.replace(tmp, path)

    def process(self) -> None:
        with open(self.raw_paths[0], 'rb') as f:
            lines = [line.strip() for line in f.read().splitlines()]
        lines = [line for line in lines if line]
        if len(lines) != self.num_graphs_expected:
            raise RuntimeError(
                f"'{self.raw_paths[0]}' holds {len(lines)} graphs, expected "
                f"{self.num_graphs_expected}; delete it to fetch a fresh copy")

        data_list = []
        for num_nodes, edge_index in parse_graph6(lines):
            if num_nodes != self.num_nodes_per_graph:
                raise RuntimeError(f'GRAPH8c contains a graph with {num_nodes} nodes')
            data = Data(x=torch.ones(num_nodes, 1), edge_index=edge_index,
                        num_nodes=num_nodes)
            if self.pre_filter is not None and not self.pre_filter(data):
                continue
            if self.pre_transform is not None:
                data = self.pre_transform(data)
            data_list.append(data)

        self.save(data_list, self.processed_paths[0])

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self)})'
