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
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

__all__ = ['CanonicalForm', 'canonical_form', 'require_pynauty']


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
                   edge_color: Optional[np.ndarray] = None) -> CanonicalForm:
    r"""Canonical labelling and automorphisms of an undirected coloured graph.

    Args:
        num_nodes (int): :math:`n`.
        edges (numpy.ndarray): Undirected edges :math:`(E, 2)`, each listed once, no
            self-loops.
        node_color (numpy.ndarray, optional): Vertex colours :math:`(n,)`, integers whose
            *order* is canonical (e.g. ranks of sorted feature rows).
        edge_color (numpy.ndarray, optional): Edge colours :math:`(E,)`, integers
            :math:`\ge 1`, canonical in the same sense.
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
    cells = []
    colors = np.unique(node_color)
    for layer in range(num_layers):
        for c in colors:
            cells.append(set((layer * n + np.nonzero(node_color == c)[0]).tolist()))
    graph = pynauty.Graph(n * num_layers, directed=False, adjacency_dict=adjacency,
                          vertex_coloring=cells)
    generators, size_mantissa, size_exponent, _, _ = pynauty.autgrp(graph)
    label = np.asarray(pynauty.canon_label(graph), dtype=np.int64)
    layer0 = label[label < n]
    rank = np.empty(n, dtype=np.int64)
    rank[layer0] = np.arange(n)
    gens = [np.asarray(g, dtype=np.int64)[:n] for g in generators]
    return CanonicalForm(rank, gens, float(size_mantissa) * 10.0 ** size_exponent)
