r"""Minimal frames for :math:`S_n` acting on graphs: the canonical labelling and the
automorphism group (Lin et al., 2024), computed by nauty."""
from collections import OrderedDict
from typing import Optional

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.frames.base import (FrameSampler, check_budget, choose_elements,
                                      lexicographic_keys, numpy_generator, ragged_ranks,
                                      ragged_stack)
from lps_geometric.groups.nauty import CanonicalForm, canonical_form, require_pynauty
from lps_geometric.groups.symmetric import Permutation
from lps_geometric.samplers.base import GroupSample
from lps_geometric.utils.batch import to_ptr_batch
from lps_geometric.utils.validation import (GraphInputError, check_positive_int,
                                           validate_graph_batch)

__all__ = ['GraphMinimalFrameSampler', 'graph_colors']


def graph_colors(data: Data, node_keys=('x',), use_edge_attr: bool = True):
    r"""Canonical integer colours of the nodes and edges of a batch: the lexicographic
    rank of every node's feature row (``node_keys`` concatenated, plus the colour of a
    self-loop if there is one) and of every edge's ``edge_attr`` row (1-based).
    Returns ``(node_color (|V|,), edge_color (|E|,))``."""
    N = data.num_nodes
    edge_index = data.edge_index
    device = edge_index.device
    edge_key = torch.zeros(edge_index.size(1), 0, dtype=torch.float64, device=device)
    edge_attr = getattr(data, 'edge_attr', None)
    if use_edge_attr and edge_attr is not None:
        edge_key = (edge_attr.unsqueeze(-1) if edge_attr.dim() == 1
                    else edge_attr.flatten(1)).to(torch.float64)
    edge_color = lexicographic_keys(torch.cat(
        [edge_key, edge_key.new_zeros(edge_key.size(0), 1)], dim=-1)) + 1
    parts = []
    for key in node_keys:
        value = getattr(data, key, None)
        if isinstance(value, Tensor) and value.size(0) == N:
            parts.append(value.reshape(N, -1).to(torch.float64))
    loop = edge_index[0] == edge_index[1]
    loop_color = torch.zeros(N, 1, dtype=torch.float64, device=device)
    loop_color[edge_index[0, loop], 0] = edge_color[loop].to(torch.float64)
    parts.append(loop_color)
    node_color = lexicographic_keys(torch.cat(parts, dim=-1))
    return node_color, edge_color


class GraphMinimalFrameSampler(FrameSampler):
    r"""Minimal frame averaging over :math:`S_n` on graphs (MFA; Lin et al., 2024):

    .. math::
        F(G) = \{ \sigma_G \circ a : a \in \mathrm{Aut}(G) \},

    with :math:`\sigma_G` nauty's canonical labelling and :math:`\mathrm{Aut}(G)` the
    automorphism group of the graph with node colours (rows of ``x``) and edge colours
    (rows of ``edge_attr``). Every element maps :math:`G` to the same canonical graph,
    and :math:`|F(G)| = |\mathrm{Aut}(G)|` is the size of the stabiliser, the smallest
    possible frame: one element for an asymmetric graph, :math:`2n` for the cycle
    :math:`C_n`, 120 for the Petersen graph.

    Frames with at most ``budget`` elements are averaged exactly. Larger ones are
    estimated by averaging ``budget`` elements drawn uniformly (without replacement from
    the enumerated group up to ``max_enumerate`` elements, approximately uniformly by
    product replacement beyond); the estimator is unbiased for uniform draws and
    equivariant in distribution.

    nauty runs on the host, once per graph (graphs are independent C calls); results are
    cached by the graph's content (``cache_size`` graphs), so a dataset pays once.
    Graphs must be undirected (``edge_index`` holding both directions with equal
    attributes). The frame reads the edge *set*: duplicate edges count once, and a
    self-loop colours its node (by its ``edge_attr``), as in
    :class:`LaplacianFrameSampler`.

    Args:
        budget (int, optional): Largest frame averaged exactly. (default: :obj:`64`)
        node_keys (tuple of str, optional): Node attributes giving node colours.
            (default: :obj:`("x",)`)
        use_edge_attr (bool, optional): Colour edges by ``edge_attr``. (default:
            :obj:`True`)
        max_enumerate (int, optional): Largest group enumerated for sampling.
            (default: :obj:`10000`)
        cache_size (int, optional): Canonical forms kept. (default: :obj:`100000`)
    """
    def __init__(self, budget: int = 64, node_keys=('x',), use_edge_attr: bool = True,
                 max_enumerate: int = 10000, cache_size: int = 100000):
        super().__init__()
        require_pynauty()
        self.budget = check_budget(budget)
        self.node_keys = tuple(node_keys)
        self.use_edge_attr = use_edge_attr
        self.max_enumerate = check_positive_int('max_enumerate', max_enumerate)
        self.cache_size = check_positive_int('cache_size', cache_size, minimum=0)
        self._cache: 'OrderedDict[bytes, CanonicalForm]' = OrderedDict()

    def reset_parameters(self):
        pass

    def _canonical(self, n: int, edges: np.ndarray, node_color: np.ndarray,
                   edge_color: np.ndarray) -> CanonicalForm:
        key = b'|'.join([np.int64(n).tobytes(), edges.tobytes(), node_color.tobytes(),
                         edge_color.tobytes()])
        form = self._cache.get(key)
        if form is None:
            form = canonical_form(n, edges, node_color, edge_color)
            self._cache[key] = form
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return form

    def canonical_forms(self, data: Data):
        r"""nauty's result for every graph of the batch (a list). The graph is read as
        an edge set: duplicate edges count once, a self-loop colours its node."""
        validate_graph_batch(data)
        batch, ptr, B = to_ptr_batch(data)
        node_color, edge_color = graph_colors(data, self.node_keys, self.use_edge_attr)
        ei = data.edge_index
        src, dst = ei[0], ei[1]
        N = node_color.numel()
        if ei.numel():
            # The edge set: duplicates of an edge with equal colour count once.
            C = int(edge_color.max()) + 1
            code = torch.unique((src * N + dst) * C + edge_color)
            src, dst, edge_color = code // C // N, code // C % N, code % C
            # Undirected check: every edge has its reverse with the same colour.
            reverse = (dst * N + src) * C + edge_color       # aligned with code
            rev = torch.sort(reverse).values
            if not torch.equal(code, rev):
                missing = int((~torch.isin(reverse, code)).nonzero()[0])
                raise GraphInputError(
                    f'GraphMinimalFrameSampler needs undirected graphs: every edge '
                    f"(u, v) with its reverse (v, u) and equal 'edge_attr'; edge "
                    f'({int(src[missing])}, {int(dst[missing])}) has none (use '
                    f'torch_geometric.utils.to_undirected)')
        keep = src < dst
        e_src, e_dst = src[keep].cpu().numpy(), dst[keep].cpu().numpy()
        e_col = edge_color[keep].cpu().numpy()
        e_graph = batch[src[keep]].cpu().numpy()
        order = np.argsort(e_graph, kind='stable')
        e_src, e_dst, e_col, e_graph = e_src[order], e_dst[order], e_col[order], \
            e_graph[order]
        bounds = np.searchsorted(e_graph, np.arange(B + 1))
        offsets = ptr.cpu().numpy()
        n_col = node_color.cpu().numpy()
        forms = []
        for b in range(B):
            lo, hi = bounds[b], bounds[b + 1]
            start = offsets[b]
            edges = np.stack([e_src[lo:hi], e_dst[lo:hi]], axis=1) - start
            forms.append(self._canonical(int(offsets[b + 1] - start),
                                         np.ascontiguousarray(edges),
                                         n_col[start:offsets[b + 1]],
                                         np.ascontiguousarray(e_col[lo:hi])))
        return forms

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""The minimal frame of every graph (``num_samples``, ``noise`` ignored)."""
        batch, ptr, B = to_ptr_batch(data)
        forms = self.canonical_forms(data)
        rng = numpy_generator(generator)
        tables = []
        for form in forms:
            n = form.rank.size
            elements = choose_elements(form.generators, n, form.group_size, self.budget,
                                       rng, self.max_enumerate)
            tables.append(form.rank[elements])          # rank_a[v] = c[a[v]]
        counts = torch.tensor([t.shape[0] for t in tables], device=batch.device)
        size = torch.tensor([f.group_size for f in forms], dtype=torch.float64,
                            device=batch.device)
        stack = ragged_stack(data, counts)
        stacked, graph_index, node_index, _, _, _ = stack
        element = Permutation(ragged_ranks(tables, batch.device), stacked.batch,
                              stacked.ptr)
        return stack.sample(element, size)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(budget={self.budget})'
