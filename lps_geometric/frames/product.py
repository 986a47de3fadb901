r"""Minimal frames for :math:`S_n \times O(d)`, :math:`S_n \times SO(d)`,
:math:`S_n \times E(d)` and :math:`S_n \times SE(d)`: unlabelled point clouds (Lin et al.,
2024), by canonical labelling of the Gram matrix and a pivoted Gram-Schmidt in the
canonical order."""
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.frames.base import (check_budget, choose_elements, lexicographic_keys,
                                       numpy_generator, ragged_ranks, ragged_stack)
from lps_geometric.groups.nauty import canonical_form, require_pynauty
from lps_geometric.frames.orthogonal import (apply_stabilizer, pivoted_gram_schmidt,
                                             stabilizer_size)
from lps_geometric.frames.points import PointFrameSampler, centroid, points_of
from lps_geometric.groups.euclidean import POSITION_KEYS, VECTOR_KEYS, ProductElement
from lps_geometric.groups.symmetric import Permutation
from lps_geometric.samplers.base import GroupSample
from lps_geometric.groups.euclidean import canonicalizing_transform
from lps_geometric.utils.batch import local_index

__all__ = ['ProductMinimalFrameSampler', 'cluster_values']


def cluster_values(values: np.ndarray, tol: float) -> np.ndarray:
    r"""Integer labels that order ``values`` and merge values closer than ``tol`` to
    their sorted neighbour (so float noise does not split equal values)."""
    flat = values.reshape(-1)
    if flat.size == 0:
        return flat.astype(np.int64).reshape(values.shape)
    order = np.argsort(flat, kind='stable')
    jumps = np.diff(flat[order]) > tol
    labels = np.empty(flat.size, dtype=np.int64)
    labels[order] = np.concatenate([[0], np.cumsum(jumps)])
    return labels.reshape(values.shape)


class ProductMinimalFrameSampler(PointFrameSampler):
    r"""Minimal frame averaging over :math:`S_n \times O(d)` (and :math:`SO(d)`,
    :math:`E(d)`, :math:`SE(d)`) for unlabelled point clouds (MFA; Lin et al., 2024).

    1. Centre the points (groups with translations) and form the Gram matrix
       :math:`K = X X^\top`, invariant under :math:`O(d)` and permuted by :math:`S_n`.
    2. Canonically label the complete graph whose node colours are the node features and
       :math:`K_{ii}` and whose edge colours are :math:`K_{ij}` (and ``edge_attr`` where an
       edge exists), with nauty; values within ``tol`` times the largest :math:`|K_{ij}|`
       are equal. Its automorphisms :math:`a` are exactly the permutations preserving
       :math:`K`, each realised by one orthogonal map on the span of the points.
    3. For every :math:`\sigma = \sigma_K \circ a`, orthonormalise the points by
       :func:`~lps_geometric.frames.pivoted_gram_schmidt` with ties broken by the
       canonical position, and multiply by the stabiliser of the span
       (:func:`~lps_geometric.frames.apply_stabilizer`).

    All elements give the same canonical cloud, and the frame has
    :math:`|\mathrm{Aut}(K)| \cdot |O(d - r)|` elements, the size of the stabiliser of
    the cloud in :math:`S_n \times O(d)`: :math:`4n` for a regular :math:`n`-gon in 3D
    (:math:`D_n` times the reflection through its plane), one for a generic cloud. For
    :math:`SO(d)` and clouds of full rank only the automorphisms realised by rotations are
    kept. Frames beyond ``budget`` elements are averaged over ``budget`` uniform draws.

    Args:
        dim (int, optional): :math:`d`. (default: :obj:`3`)
        special (bool, optional): :math:`SO(d)`/:math:`SE(d)`. (default: :obj:`False`)
        translation (bool, optional): Centre at the centroid. (default: :obj:`True`)
        budget (int, optional): Largest frame averaged exactly. (default: :obj:`64`)
        tol (float, optional): Relative tolerance for equal Gram entries.
            (default: :obj:`1e-5`)
        node_keys (tuple of str, optional): Node attributes colouring nodes.
            (default: :obj:`("x",)`)
        use_edge_attr (bool, optional): Colour pairs by ``edge_attr``. (default:
            :obj:`True`)
        key (str, optional): Node attribute holding the points. (default: :obj:`"pos"`)
        position_keys, vector_keys: Attributes transformed as points and as vectors.
    """
    def __init__(self, dim: int = 3, special: bool = False, translation: bool = True,
                 budget: int = 64, tol: float = 1e-5, node_keys=('x',),
                 use_edge_attr: bool = True, key: str = 'pos',
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        super().__init__(dim, special, key, position_keys, vector_keys)
        require_pynauty()
        self.translation = translation
        self.budget = check_budget(budget)
        if not tol >= 0:
            raise ValueError(f"'tol' must be non-negative (got {tol})")
        self.tol = tol
        self.node_keys = tuple(node_keys)
        self.use_edge_attr = use_edge_attr

    def _colors(self, data: Data, xc: Tensor):
        N = data.num_nodes
        parts = [torch.zeros(N, 0, dtype=torch.float64, device=xc.device)]
        for key in self.node_keys:
            value = getattr(data, key, None)
            if isinstance(value, Tensor) and value.size(0) == N:
                parts.append(value.reshape(N, -1).to(torch.float64))
        node_key = lexicographic_keys(torch.cat(parts, dim=-1)).cpu().numpy()
        edge_key = None
        edge_attr = getattr(data, 'edge_attr', None)
        if self.use_edge_attr and edge_attr is not None and data.edge_index.numel():
            edge_key = (data.edge_index.cpu().numpy(),
                        (lexicographic_keys(edge_attr.reshape(edge_attr.size(0), -1))
                         + 1).cpu().numpy())
        return node_key, edge_key

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""The minimal frame of every cloud (``num_samples``, ``noise`` ignored)."""
        pos, batch, ptr, B = points_of(data, self.dim, self.key)
        x = pos.to(torch.float64)
        center = centroid(x, batch, B, self.translation)
        xc = x if center is None else x - center[batch]
        _, rank = pivoted_gram_schmidt(xc, batch, B, local_index(batch, ptr))
        orth_size = stabilizer_size(rank, self.dim, self.special).cpu().numpy()
        node_key, edge_key = self._colors(data, xc)
        rng = numpy_generator(generator)
        points = xc.cpu().numpy()
        offsets = ptr.cpu().numpy()
        tables, flips, sizes = [], [], []
        for b in range(B):
            lo, hi = offsets[b], offsets[b + 1]
            n = hi - lo
            form = self._canonical(points[lo:hi], node_key[lo:hi], edge_key, lo, hi)
            elements = choose_elements(form.generators, n, form.group_size, self.budget,
                                       rng)
            table = form.rank[elements]
            s = orth_size[b]
            if s == 2:   # O(d), rank d - 1: both signs of the normal direction
                table = np.repeat(table, 2, axis=0)
                flip = np.tile([1.0, -1.0], len(elements))
                if len(table) > self.budget:
                    pick = np.sort(rng.choice(len(table), self.budget, replace=False))
                    table, flip = table[pick], flip[pick]
            else:
                if np.isinf(s) and len(table) < self.budget:
                    table = table[np.arange(self.budget) % len(table)]
                flip = np.ones(len(table))
            tables.append(table)
            flips.append(flip)
            sizes.append(form.group_size * s)
        counts = torch.tensor([t.shape[0] for t in tables], device=batch.device)
        stack = ragged_stack(data, counts)
        stacked, graph_index, node_index, copy, _, _ = stack
        ranks = ragged_ranks(tables, batch.device)
        flip = torch.from_numpy(np.concatenate(flips)).to(batch.device)
        frames, _ = pivoted_gram_schmidt(xc[node_index], stacked.batch,
                                         stacked.num_graphs, ranks)
        rank_g = rank[graph_index]
        size = torch.tensor(sizes, dtype=torch.float64, device=batch.device)
        valid = torch.ones(graph_index.numel(), dtype=torch.bool, device=batch.device)
        if self.special:
            # Full rank: keep the automorphisms realised by rotations (frames with the
            # orientation of the canonical labelling's own frame, copy 0).
            det = torch.linalg.det(frames)
            first = torch.cumsum(counts, 0) - counts
            same = (det * det[first][graph_index]) > 0
            valid = torch.where(rank_g == self.dim, same, valid)
            kept = scatter(valid.to(torch.float64), graph_index, dim=0, dim_size=B,
                           reduce='sum')
            size = torch.where(rank == self.dim,
                               (size * kept / counts.to(torch.float64)).round(), size)
        frames = apply_stabilizer(frames.unsqueeze(0), rank_g, self.special,
                                  flip.unsqueeze(0), generator)[0]
        weight = valid.to(torch.float64)
        weight = weight / scatter(weight, graph_index, dim=0, dim_size=B,
                                  reduce='sum')[graph_index]

        dtype = pos.dtype
        if center is not None:
            center = center[graph_index].to(dtype)
        transform = canonicalizing_transform(frames.to(dtype), center, stacked.batch,
                                             self.position_keys, self.vector_keys)
        perm = Permutation(ranks, stacked.batch, stacked.ptr)
        return stack.sample(ProductElement(perm, transform), size, weight)

    def _canonical(self, points: np.ndarray, node_key: np.ndarray, edge_key, lo: int,
                   hi: int):
        n = hi - lo
        gram = points @ points.T
        scale = max(float(np.abs(gram).max()), np.finfo(np.float64).tiny)
        iu, ju = np.triu_indices(n, k=1)
        diag = cluster_values(np.diag(gram), self.tol * scale)
        off = cluster_values(gram[iu, ju], self.tol * scale)
        pair_attr = np.zeros(len(iu), dtype=np.int64)
        if edge_key is not None:
            edge_index, colors = edge_key
            inside = (edge_index[0] >= lo) & (edge_index[0] < hi)
            u, v = edge_index[0, inside] - lo, edge_index[1, inside] - lo
            dense = np.zeros((n, n), dtype=np.int64)
            dense[u, v] = colors[inside]
            pair_attr = dense[iu, ju]
        _, edge_color = np.unique(np.stack([off, pair_attr], 1), axis=0,
                                  return_inverse=True)
        _, node_color = np.unique(np.stack([node_key, diag], 1), axis=0,
                                  return_inverse=True)
        return canonical_form(n, np.stack([iu, ju], 1), node_color.reshape(-1),
                              edge_color.reshape(-1) + 1)

    def __repr__(self) -> str:
        group = ('S' if self.special else '') + ('E' if self.translation else 'O')
        return (f'{self.__class__.__name__}(S_n x {group}({self.dim}), '
                f'budget={self.budget})')
