r"""The GRAPH8c dataset: every connected simple graph on eight nodes.

The graphs are read from a graph6 file (one graph per line). The file is generated
locally (with nauty's ``geng``, or with :func:`connected_graphs` through :mod:`pynauty`)
or downloaded from the GNNML repository of Balcilar et al.
"""
import os
import shutil
import subprocess
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data, download_url

from lps_geometric.datasets.base import NamedInMemoryDataset

__all__ = ['GRAPH8c', 'parse_graph6', 'to_graph6', 'connected_graphs']


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


def to_graph6(num_nodes: int, rows: Sequence[int]) -> bytes:
    r"""Encodes one graph (at most :obj:`62` nodes) as a graph6 string.

    Args:
        num_nodes (int): Number of nodes :math:`n \le 62`.
        rows (Sequence[int]): Adjacency as :math:`n` bit masks: bit :obj:`u` of
            :obj:`rows[v]` is set if and only if :obj:`u` and :obj:`v` are adjacent.
    """
    if not 0 <= num_nodes <= 62 or len(rows) != num_nodes:
        raise ValueError(f'to_graph6 encodes 0 to 62 nodes with one row each (got '
                         f'{num_nodes} nodes and {len(rows)} rows)')
    bits = [(rows[i] >> j) & 1 for j in range(1, num_nodes) for i in range(j)]
    bits += [0] * (-len(bits) % 6)
    body = bytes(63 + int(''.join(map(str, bits[k:k + 6])), 2)
                 for k in range(0, len(bits), 6))
    return bytes([63 + num_nodes]) + body


def _require_pynauty():
    try:
        import pynauty
    except ImportError as e:
        raise ImportError(
            "Generating GRAPH8c needs 'pynauty' (canonical labelling with nauty): "
            "pip install pynauty (or pip install 'lps_geometric[examples]'); nauty's "
            "'geng' on the PATH works too") from e
    return pynauty


def _canonical_rows(pynauty, num_nodes: int, rows: List[int]) -> Tuple[int, ...]:
    r"""The adjacency bit masks of the graph relabelled by nauty's canonical labelling
    (equal for exactly the isomorphic graphs)."""
    graph = pynauty.Graph(num_nodes, adjacency_dict={
        v: [u for u in range(num_nodes) if (rows[v] >> u) & 1] for v in range(num_nodes)})
    position = [0] * num_nodes
    for i, v in enumerate(pynauty.canon_label(graph)):  # vertex v goes to position i
        position[v] = i
    out = [0] * num_nodes
    for v in range(num_nodes):
        mask = 0
        for u in range(num_nodes):
            if (rows[v] >> u) & 1:
                mask |= 1 << position[u]
        out[position[v]] = mask
    return tuple(out)


def connected_graphs(num_nodes: int) -> List[bytes]:
    r"""All connected simple graphs on :obj:`num_nodes` nodes up to isomorphism, as
    graph6 strings in nauty's canonical labelling, sorted bytewise.

    Every connected graph on :math:`n + 1` nodes has a vertex whose removal leaves it
    connected (a leaf of a spanning tree), so it is a connected graph on :math:`n` nodes
    plus a new vertex joined to a nonempty subset of the old ones. The graphs are grown
    one vertex at a time in this way from the single vertex, and the candidates are
    deduplicated by their canonical form (:mod:`pynauty`), which is equal for exactly
    the isomorphic graphs. The counts are those of OEIS A001349 (1, 1, 2, 6, 21, 112,
    853, 11117 for 1 to 8 nodes); 8 nodes take a few seconds.

    Args:
        num_nodes (int): Number of nodes, from :obj:`1` to :obj:`10` (the number of
            candidates grows as :math:`2^n` times the number of graphs).

    Raises:
        ImportError: :mod:`pynauty` is not installed.
    """
    if not 1 <= int(num_nodes) <= 10:
        raise ValueError(f"'num_nodes' must be in [1, 10] (got {num_nodes})")
    pynauty = _require_pynauty()
    level: Set[Tuple[int, ...]] = {(0, )}
    for n in range(1, int(num_nodes)):
        grown: Set[Tuple[int, ...]] = set()
        for rows in level:
            for subset in range(1, 1 << n):  # neighbours of the new vertex n
                new = [r | (((subset >> v) & 1) << n) for v, r in enumerate(rows)]
                grown.add(_canonical_rows(pynauty, n + 1, new + [subset]))
        level = grown
    return sorted(to_graph6(int(num_nodes), rows) for rows in level)


class GRAPH8c(NamedInMemoryDataset):
    r"""All :obj:`11,117` connected non-isomorphic simple graphs on :obj:`8` nodes, as
    used to count pairs of graphs a GNN cannot tell apart in the `"Breaking the Limits of
    Message Passing Graph Neural Networks" <https://arxiv.org/abs/2106.04319>`_ paper
    (Balcilar et al., ICML 2021).

    The graphs have no labels: the dataset is meant for expressivity tests (a model is
    judged by how many pairs of graphs get (numerically) equal embeddings).

    The raw file :obj:`graph8c.g6` holds one graph6 string per line and is expected in
    :obj:`root/graph8c/raw/`; a copy found there is used as is. Otherwise it is made,
    depending on :obj:`generate`, in this order:

    1. nauty's generator (:obj:`nauty-geng -c 8`, Debian's name, or :obj:`geng`) if it
       is on the :obj:`PATH`; its output sorted bytewise reproduces the published file
       line for line;
    2. a download from the `GNNML repository
       <https://github.com/balcilar/gnn-matlang>`_ (not with :obj:`generate=True`);
    3. :func:`connected_graphs` (needs :mod:`pynauty`; a few seconds), when the
       download fails or with :obj:`generate=True`. The file then holds the same
       graphs in nauty's canonical labelling, in another order.

    Either way the number of graphs is checked against the published :obj:`11,117`.

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
        generate (bool, optional): How a missing raw file is made: :obj:`None`: with
            :obj:`geng`, else downloaded, else generated with :mod:`pynauty`;
            :obj:`True`: generated locally (:obj:`geng` or :mod:`pynauty`), never
            downloaded; :obj:`False`: downloaded only. (default: :obj:`None`)
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
        generate: Optional[bool] = None,
    ) -> None:
        if generate not in (None, True, False):
            raise ValueError(f"'generate' must be None, True or False (got {generate!r})")
        self.generate = generate
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
        if geng is not None and self.generate is not False:
            try:
                self._generate_with_geng(geng)
                return
            except (OSError, subprocess.SubprocessError, RuntimeError) as e:
                fallback = 'generating it with pynauty' if self.generate else 'downloading it'
                warnings.warn(f'Generating GRAPH8c with {geng!r} failed ({e}); '
                              f'{fallback} instead', stacklevel=2)
        if self.generate:
            self._generate_with_pynauty()
            return
        try:
            download_url(self.url, self.raw_dir)
        except OSError as e:  # offline (urllib's URLError is an OSError)
            if self.generate is False:
                raise OSError(f'Downloading GRAPH8c from {self.url} failed ({e}); put '
                              f'graph8c.g6 into {self.raw_dir}, or pass generate=True '
                              f'to generate it (needs pynauty)') from e
            try:
                _require_pynauty()
            except ImportError as missing:
                raise ImportError(
                    f'Downloading GRAPH8c from {self.url} failed ({e}) and it cannot be '
                    f'generated offline: {missing}; or put graph8c.g6 into '
                    f'{self.raw_dir}') from e
            warnings.warn(f'Downloading GRAPH8c failed ({e}); generating it with '
                          f'pynauty instead', stacklevel=2)
            self._generate_with_pynauty()

    def _write_raw(self, lines: List[bytes], source: str) -> None:
        if len(lines) != self.num_graphs_expected:
            raise RuntimeError(f'expected {self.num_graphs_expected} graphs from '
                               f'{source}, got {len(lines)}')
        path = self.raw_paths[0]
        tmp = path + '.part'
        with open(tmp, 'wb') as f:
            f.write(b'\n'.join(lines) + b'\n')
        os.replace(tmp, path)

    def _generate_with_geng(self, geng: str) -> None:
        result = subprocess.run([geng, '-c', '-q', str(self.num_nodes_per_graph)],
                                check=True, capture_output=True, timeout=600)
        self._write_raw(sorted(result.stdout.split()), 'geng')

    def _generate_with_pynauty(self) -> None:
        self._write_raw(connected_graphs(self.num_nodes_per_graph), 'connected_graphs')

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
