r"""Minimal frames for :math:`S_n` acting on sets (point sets without edges): sorting
(Lin et al., 2024)."""
import itertools
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.frames.base import (check_budget, frame_weights, lexicographic_keys,
                                       lexicographic_rank, rank_table)
from lps_geometric.groups.symmetric import Permutation, segment_argsort
from lps_geometric.samplers.base import GroupSample
from lps_geometric.utils.batch import replicate_batch, to_ptr_batch

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


class SetMinimalFrameSampler(nn.Module):
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
        self.budget = check_budget(budget)
        self.decimals = decimals

    def reset_parameters(self):
        pass

    def _rows(self, data: Data) -> Tensor:
        parts = []
        for key in self.keys:
            value = getattr(data, key, None)
            if value is None:
                raise ValueError(f"SetMinimalFrameSampler sorts by '{key}', which the "
                                 f"data does not have")
            parts.append(value.reshape(data.num_nodes, -1).to(torch.float64))
        rows = torch.cat(parts, dim=-1)
        if not torch.isfinite(rows).all():
            raise ValueError(f'The rows {self.keys} contain NaN or inf')
        return rows

    def forward(self, data: Data, num_samples: Optional[int] = None,
                noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""The sorting frame of every graph (``num_samples``, ``noise`` ignored)."""
        batch, ptr, B = to_ptr_batch(data)
        key = lexicographic_keys(self._rows(data), self.decimals)
        size = tie_stabilizer_size(key, batch, B)
        largest = float(size.max())
        if largest == 1:
            k, weight = 1, None
            rank = segment_argsort(key.to(torch.float64), batch, ptr).view(1, -1)
        elif largest > self.budget:
            k, weight = self.budget, None
            rank = torch.stack([lexicographic_rank(key, batch, ptr, generator)
                                for _ in range(k)])
        else:
            tables = self._enumerate(key, batch, ptr, size)
            k = int(largest)
            rank = rank_table(tables, ptr, k)
            weight = frame_weights(size, k)
        stacked = replicate_batch(data, k)
        element = Permutation(rank.reshape(-1), stacked.batch, stacked.ptr)
        return GroupSample(element, k, weight=weight, stacked=stacked, frame_size=size)

    @staticmethod
    def _enumerate(key: Tensor, batch: Tensor, ptr: Tensor, size: Tensor):
        r"""All sorting permutations of every graph: the stable sort, then every
        permutation inside each block of tied positions (a product of symmetric
        groups), as :math:`(m_b, n_b)` rank tables."""
        base = segment_argsort(key.to(torch.float64), batch, ptr).cpu().numpy()
        keys = key.cpu().numpy()
        offsets = ptr.cpu().numpy()
        tables = []
        for b in range(len(offsets) - 1):
            lo, hi = offsets[b], offsets[b + 1]
            rank = base[lo:hi]
            if size[b] == 1:
                tables.append(rank.reshape(1, -1))
                continue
            sorted_keys = np.empty_like(rank)
            sorted_keys[rank] = keys[lo:hi]
            # blocks of equal keys in sorted order -> product of their permutations
            blocks = np.split(np.arange(hi - lo), np.nonzero(np.diff(sorted_keys))[0] + 1)
            tables_b = [np.arange(hi - lo)]
            for block in blocks:
                if block.size < 2:
                    continue
                perms = np.array(list(itertools.permutations(block)))
                grown = []
                for t in tables_b:
                    for p in perms:
                        u = t.copy()
                        u[block] = t[p]
                        grown.append(u)
                tables_b = grown
            positions = np.stack(tables_b)            # permutations of sorted positions
            tables.append(positions[:, rank])         # rank'[v] = pi(rank[v])
        return tables

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys}, budget={self.budget})'
