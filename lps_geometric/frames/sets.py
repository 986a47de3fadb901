r"""Minimal frames for :math:`S_n` acting on sets (point sets without edges): sorting
(Lin et al., 2024)."""
import itertools
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.frames.base import (FrameSampler, check_budget, lexicographic_keys,
                                       lexicographic_rank, ragged_stack)
from lps_geometric.groups.symmetric import Permutation, segment_argsort
from lps_geometric.samplers.base import GroupSample
from lps_geometric.utils.batch import to_ptr_batch
from lps_geometric.utils.validation import (VECTOR_KEYS, GraphInputError,
                                           check_node_tensor, check_positive_int,
                                           input_is_checked, node_count,
                                           validate_graph_batch)

__all__ = ['SetMinimalFrameSampler', 'tie_stabilizer_size']


def tie_stabilizer_size(key: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    r""":math:`\prod_i m_i!` per graph for the multiplicities :math:`m_i` of equal
    ``key`` values: the size of the subgroup of :math:`S_n` fixing the rows, shape
    :math:`(B,)`, float64 (:obj:`inf` on overflow)."""
    pair = batch * (int(key.max()) + 1) + key
    _, inverse, counts = torch.unique(pair, return_inverse=True, return_counts=True)
    graph_of_block = torch.zeros_like(counts)
    graph_of_block[inverse] = batch
    log_size = scatter(torch.lgamma(counts.to(torch.float64) + 1), graph_of_block, dim=0,
                       dim_size=num_graphs, reduce='sum')
    return torch.exp(log_size).round()


class SetMinimalFrameSampler(FrameSampler):
    r"""Minimal frame averaging over :math:`S_n` on sets (MFA; Lin et al., 2024): the
    frame is every permutation that sorts the rows of the node features
    lexicographically,

    .. math::
        F(X) = \{ \sigma : X_{\sigma^{-1}(1)} \preceq \dots \preceq
        X_{\sigma^{-1}(n)} \},

    whose size :math:`\prod_i m_i!` (multiplicities :math:`m_i` of equal rows) is the
    size of the stabiliser of :math:`X` in :math:`S_n`. Distinct rows give one element
    (canonicalization by sorting). Frames of at most ``budget`` elements are averaged
    exactly; larger ones by ``budget`` uniform draws (random order inside tied rows,
    exactly uniform on the frame: an unbiased estimate).

    Rows are compared after rounding to ``decimals`` digits. Edges, if any, are carried
    along but not used (see :class:`GraphMinimalFrameSampler` for graphs).

    Args:
        keys (sequence of str, optional): Node attributes forming the rows.
            (default: :obj:`("x",)`)
        budget (int, optional): Largest frame averaged exactly. (default: :obj:`64`)
        decimals (int, optional): Rounding before comparison. (default: :obj:`6`)
    """
    def __init__(self, keys: Sequence[str] = ('x',), budget: int = 64, decimals: int = 6):
        super().__init__()
        self.keys = tuple(keys)
        if not self.keys:
            raise ValueError("'keys' must name at least one node attribute")
        self.budget = check_budget(budget)
        self.decimals = check_positive_int('decimals', decimals, minimum=0)

    def reset_parameters(self):
        pass

    def _rows(self, data: Data) -> Tensor:
        validate_graph_batch(data, require_edges=False)
        N = node_count(data)
        # inside Symmetrize the standard attributes were checked once already
        checked = ('x', 'pos') + VECTOR_KEYS if input_is_checked() else ()
        parts = []
        for key in self.keys:
            value = getattr(data, key, None)
            if value is None:
                raise GraphInputError(f"SetMinimalFrameSampler sorts by '{key}', which "
                                      f"the data does not have")
            if key not in checked:
                check_node_tensor(key, value, N)
            parts.append(value.reshape(N, -1).to(torch.float64))
        return torch.cat(parts, dim=-1)

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""The sorting frame of every graph (``num_samples``, ``noise`` ignored): graph
        :math:`b` is copied :math:`\min(|F_b|, \text{budget})` times."""
        rows = self._rows(data)
        batch, ptr, B = to_ptr_batch(data)
        key = lexicographic_keys(rows, self.decimals)
        size = tie_stabilizer_size(key, batch, B)
        exact = size <= self.budget
        counts = torch.where(exact, size, torch.full_like(size, self.budget)).long()
        stack = ragged_stack(data, counts)
        stacked, graph_index, node_index, _, _, _ = stack
        # Uniform draws from every frame (random order inside ties); exactly the frame
        # for graphs without ties.
        rank = lexicographic_rank(key[node_index], stacked.batch, stacked.ptr, generator)
        enumerate_graphs = (exact & (size > 1)).nonzero().view(-1).tolist()
        if enumerate_graphs:
            tables = self._enumerate(key, batch, ptr, enumerate_graphs)
            first_copy = torch.cumsum(counts, 0) - counts
            for b, table in zip(enumerate_graphs, tables):
                lo = int(stacked.ptr[first_copy[b]])
                rank[lo:lo + table.size] = torch.from_numpy(table.reshape(-1)).to(
                    rank.device)
        element = Permutation(rank, stacked.batch, stacked.ptr)
        return stack.sample(element, size)

    @staticmethod
    def _enumerate(key: Tensor, batch: Tensor, ptr: Tensor, graphs: List[int]):
        r"""All sorting permutations of the listed graphs: the stable sort, then every
        permutation inside each block of tied positions (a product of symmetric
        groups), as :math:`(m_b, n_b)` rank tables."""
        base = segment_argsort(key.to(torch.float64), batch, ptr).cpu().numpy()
        keys = key.cpu().numpy()
        offsets = ptr.cpu().numpy()
        tables = []
        for b in graphs:
            lo, hi = offsets[b], offsets[b + 1]
            rank = base[lo:hi]
            sorted_keys = np.empty_like(rank)
            sorted_keys[rank] = keys[lo:hi]
            blocks = np.split(np.arange(hi - lo), np.nonzero(np.diff(sorted_keys))[0] + 1)
            positions = [np.arange(hi - lo)]
            for block in blocks:
                if block.size < 2:
                    continue
                grown = []
                for table in positions:
                    for perm in itertools.permutations(block):
                        moved = table.copy()
                        moved[block] = table[list(perm)]
                        grown.append(moved)
                positions = grown
            tables.append(np.stack(positions)[:, rank])     # rank'[v] = pi(rank[v])
        return tables

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys}, budget={self.budget})'
