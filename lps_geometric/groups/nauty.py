r"""Canonical labelling and automorphism groups of vertex- and edge-coloured graphs with
nauty (McKay & Piperno, 2014) through :mod:`pynauty` (optional dependency, extra
``frames``).

nauty colours vertices only. Edge colours are encoded by the layering construction of
nauty's user guide: with :math:`c` edge colours (0 meaning no edge), the graph gets
:math:`L = \lceil \log_2 (c + 1) \rceil` layers of copies of its vertices, the copies of a
vertex are joined in a path across layers, and an edge of colour :math:`c_{uv}` joins the
copies of :math:`u` and :math:`v` in every layer whose bit is set in :math:`c_{uv}`.
Each layer is its own block of vertex cells, so automorphisms and the canonical order
of the layered graph restrict to layer 0, which are those of the edge-coloured graph.
"""
from collections import OrderedDict
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from torch import Tensor

__all__ = ['CanonicalForm', 'canonical_form', 'require_pynauty', 'exact_colors',
           'canonical_tie_ranks']


def require_pynauty():
    try:
        import pynauty
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Minimal frames on graphs need 'pynauty' (canonical labelling with nauty): "
            "pip install 'lps_geometric[frames]' or pip install pynauty") from e
    return pynauty


@dataclass
class CanonicalForm:
    r"""The canonical labelling and automorphism group of one coloured graph.

    Attributes:
        rank (numpy.ndarray): Canonical position of every vertex, :math:`(n,)`; relabelling
            vertex :math:`v` to ``rank[v]`` gives the same coloured graph for all
            isomorphic inputs.
        generators (list of numpy.ndarray): Generators of :math:`\mathrm{Aut}(G)` as
            image arrays :math:`a[v]`.
        group_size (float): :math:`|\mathrm{Aut}(G)|` (as nauty reports it).
    """
    rank: np.ndarray
    generators: List[np.ndarray]
    group_size: float


def canonical_form(num_nodes: int, edges: np.ndarray,
                   node_color: Optional[np.ndarray] = None,
                   edge_color: Optional[np.ndarray] = None,
                   directed: bool = False) -> CanonicalForm:
    r"""Canonical labelling and automorphisms of a coloured graph.

    Args:
        num_nodes (int): :math:`n`.
        edges (numpy.ndarray): Edges :math:`(E, 2)`, no self-loops; undirected edges
            listed once, or arcs (source, target) with ``directed``.
        node_color (numpy.ndarray, optional): Vertex colours :math:`(n,)`, integers whose
            *order* is canonical (e.g. ranks of sorted feature rows).
        edge_color (numpy.ndarray, optional): Edge colours :math:`(E,)`, integers
            :math:`\ge 1`, canonical in the same sense.
        directed (bool, optional): Read ``edges`` as arcs. (default: :obj:`False`)
    """
    pynauty = require_pynauty()
    n = int(num_nodes)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if node_color is None:
        node_color = np.zeros(n, dtype=np.int64)
    node_color = np.asarray(node_color, dtype=np.int64)
    if edge_color is None or len(edge_color) == 0:
        edge_color = np.ones(len(edges), dtype=np.int64)
    edge_color = np.asarray(edge_color, dtype=np.int64)
    if len(edge_color) and edge_color.min() < 1:
        raise ValueError('Edge colours must be >= 1 (0 means no edge)')
    num_layers = max(1, int(np.ceil(np.log2(int(edge_color.max(initial=1)) + 1))))

    adjacency = {v: [] for v in range(n * num_layers)}
    for layer in range(num_layers):
        bit = 1 << layer
        sel = (edge_color & bit) != 0
        for u, v in edges[sel]:
            adjacency[layer * n + int(u)].append(layer * n + int(v))
        if layer + 1 < num_layers:
            for v in range(n):
                adjacency[layer * n + v].append((layer + 1) * n + v)
                if directed:  # the links between layers go both ways
                    adjacency[(layer + 1) * n + v].append(layer * n + v)
    cells = []
    colors = np.unique(node_color)
    for layer in range(num_layers):
        for c in colors:
            cells.append(set((layer * n + np.nonzero(node_color == c)[0]).tolist()))
    graph = pynauty.Graph(n * num_layers, directed=directed, adjacency_dict=adjacency,
                          vertex_coloring=cells)
    generators, size_mantissa, size_exponent, _, _ = pynauty.autgrp(graph)
    label = np.asarray(pynauty.canon_label(graph), dtype=np.int64)
    layer0 = label[label < n]
    rank = np.empty(n, dtype=np.int64)
    rank[layer0] = np.arange(n)
    gens = [np.asarray(g, dtype=np.int64)[:n] for g in generators]
    return CanonicalForm(rank, gens, float(size_mantissa) * 10.0 ** size_exponent)


def exact_colors(rows: Optional[Tensor], num_rows: int, device=None) -> Tensor:
    r"""One integer per row of ``rows`` :math:`(N, \dots)` ordering the rows
    lexicographically by their exact values (equal rows share a colour; :obj:`None`
    gives colour 0 everywhere). Unlike rounded keys, two rows that differ at all get
    different colours, so an automorphism of the coloured graph preserves the rows
    exactly."""
    if rows is None or num_rows == 0:
        return torch.zeros(num_rows, dtype=torch.long, device=device)
    rows = rows.reshape(num_rows, -1)
    if rows.is_complex():
        rows = torch.view_as_real(rows).reshape(num_rows, -1)
    rows = rows.to(torch.float64) + 0.0  # -0.0 and 0.0 are the same colour
    if rows.size(1) == 0:
        return torch.zeros(num_rows, dtype=torch.long, device=rows.device)
    return torch.unique(rows, dim=0, return_inverse=True)[1]


def _graph_key(n, edges, node_color, edge_color, directed) -> bytes:
    return b'|'.join([np.int64(n).tobytes(), np.int64(directed).tobytes(),
                      edges.tobytes(), node_color.tobytes(), edge_color.tobytes()])


def canonical_tie_ranks(data, node_key: Tensor, graphs: Tensor,
                        cache: Optional['OrderedDict[bytes, np.ndarray]'] = None,
                        cache_size: int = 10000) -> Tensor:
    r"""Canonical positions of the nodes of some graphs of a batch, to order nodes whose
    ``node_key`` is equal equivariantly.

    Graph :math:`b` in ``graphs`` is coloured by ``node_key`` (an integer per node whose
    order is canonical, e.g. the rank of a node's score), the exact rows of ``x`` and the
    self-loops of every node (their number and attributes), and its edges by the exact
    rows of ``edge_attr`` (multi-edges by the multiset of their attributes); nauty's
    canonical labelling of that coloured graph gives every node its position
    :math:`c_v`. Sorting by :math:`(\text{key}_v, c_v)` is then a canonical order up to an
    automorphism :math:`a` of the coloured graph: relabelling :math:`G` by it gives the
    same graph, features included, for every order of the input, and two orders differ by
    an :math:`a` that maps each node to one with the same key, features and
    neighbourhood. A graph whose edges are not all matched by a reverse edge with equal
    attributes is labelled as a directed graph.

    Runs on the host, one nauty call per graph in ``graphs``; results are kept in
    ``cache`` (an :class:`~collections.OrderedDict`, at most ``cache_size`` graphs) by the
    content of the coloured graph.

    Args:
        data (Data): A batch with ``edge_index``, ``batch``, ``ptr``, optional ``x`` and
            ``edge_attr``.
        node_key (torch.Tensor): Integer key of every node :math:`(|V|,)`.
        graphs (torch.Tensor): Indices of the graphs to label.
        cache (OrderedDict, optional): Canonical positions by graph content.
        cache_size (int, optional): Largest ``cache``. (default: :obj:`10000`)

    Returns:
        torch.Tensor: :math:`(|V|,)` long, the canonical position of every node inside
        its graph for the graphs in ``graphs``, :obj:`0` elsewhere.
    """
    require_pynauty()
    N = node_key.numel()
    device = node_key.device
    ptr = data.ptr.cpu().numpy()
    edge_index = data.edge_index
    edge_attr = getattr(data, 'edge_attr', None)
    edge_color = exact_colors(edge_attr, edge_index.size(1), device) + 1
    loop = edge_index[0] == edge_index[1]
    # Self-loops become node colours: the sorted colours of a node's loops.
    loop_nodes = edge_index[0, loop].cpu().numpy()
    loop_colors = edge_color[loop].cpu().numpy()
    x_color = exact_colors(getattr(data, 'x', None), N, device).cpu().numpy()
    key = node_key.cpu().numpy().astype(np.int64)
    src_all = edge_index[0, ~loop].cpu().numpy()
    dst_all = edge_index[1, ~loop].cpu().numpy()
    col_all = edge_color[~loop].cpu().numpy()
    edge_graph = np.searchsorted(ptr, src_all, side='right') - 1
    out = np.zeros(N, dtype=np.int64)
    for b in graphs.cpu().tolist():
        lo, hi = int(ptr[b]), int(ptr[b + 1])
        n = hi - lo
        sel = edge_graph == b
        src, dst, col = src_all[sel] - lo, dst_all[sel] - lo, col_all[sel]
        loops = {}
        in_graph = (loop_nodes >= lo) & (loop_nodes < hi)
        for v, c in zip(loop_nodes[in_graph] - lo, loop_colors[in_graph]):
            loops.setdefault(int(v), []).append(int(c))
        loop_key = [tuple(sorted(loops.get(v, ()))) for v in range(n)]
        loop_id = {k: i for i, k in enumerate(sorted(set(loop_key)))}
        colors_of_node = np.stack([key[lo:hi] - key[lo:hi].min(), x_color[lo:hi],
                                   [loop_id[k] for k in loop_key]], axis=1)
        node_color = np.unique(colors_of_node, axis=0,
                               return_inverse=True)[1].astype(np.int64).reshape(-1)
        # Arcs with the multiset of colours of their copies.
        arcs = {}
        for u, v, c in zip(src.tolist(), dst.tolist(), col.tolist()):
            arcs.setdefault((u, v), []).append(c)
        arcs = {uv: tuple(sorted(c)) for uv, c in arcs.items()}
        directed = any(arcs.get((v, u)) != c for (u, v), c in arcs.items())
        if not directed:
            arcs = {uv: c for uv, c in arcs.items() if uv[0] < uv[1]}
        pairs = sorted(arcs)
        multiset_id = {c: i + 1 for i, c in enumerate(sorted(set(arcs.values())))}
        edges = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        colors = np.asarray([multiset_id[arcs[uv]] for uv in pairs], dtype=np.int64)
        graph_key = _graph_key(n, edges, node_color, colors, directed)
        rank = None if cache is None else cache.get(graph_key)
        if rank is None:
            rank = canonical_form(n, edges, node_color, colors, directed=directed).rank
            if cache is not None:
                cache[graph_key] = rank
                if len(cache) > cache_size:
                    cache.popitem(last=False)
        elif cache is not None:
            cache.move_to_end(graph_key)
        out[lo:hi] = rank
    return torch.from_numpy(out).to(device)
