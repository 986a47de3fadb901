r"""Frames for :math:`S_n \times E(d)` built from a Euclidean frame: sort the nodes by
their canonical coordinates (frame averaging for unlabelled point clouds with a
backbone that is not permutation equivariant)."""
from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.frames.base import (FrameSampler, lexicographic_keys, lexicographic_rank,
                                       ragged_stack)
from lps_geometric.frames.sets import tie_stabilizer_size
from lps_geometric.groups.euclidean import ProductElement
from lps_geometric.groups.symmetric import Permutation
from lps_geometric.samplers.base import GroupSample
from lps_geometric.utils.batch import num_graphs_of
from lps_geometric.utils.validation import check_positive_int

__all__ = ['SortedProductFrameSampler']


class SortedProductFrameSampler(FrameSampler):
    r"""A frame for :math:`S_n \times G` from a frame for :math:`G \le E(d)`:

    .. math::
        F(X) = \{ (\sigma, g) : g \in F_G(X),\ \sigma \text{ sorts the rows of }
        [\,x \mid g^{-1} \cdot X\,] \text{ lexicographically} \}.

    :math:`F_G(X)` does not depend on the order of the nodes (PCA and Gram-Schmidt
    frames are permutation equivariant sums), and the canonical coordinates
    :math:`g^{-1} \cdot X` are :math:`G`-invariant and move with the nodes, so
    :math:`F` is a frame for the product. Rows that tie (equal up to ``decimals``) are
    ordered uniformly at random (``tie_samples`` draws per element, equivariant in
    distribution).

    Args:
        euclidean (torch.nn.Module): A Euclidean frame sampler, e.g.
            :class:`~lps_geometric.frames.PCAFrameSampler` (FA for
            :math:`S_n \times E(3)`).
        node_keys (tuple of str, optional): Node attributes sorted before the
            coordinates. (default: :obj:`("x",)`)
        decimals (int, optional): Rounding of the rows. (default: :obj:`5`)
        tie_samples (int, optional): Draws when rows tie. (default: :obj:`4`)
    """
    requires_pos = True

    def __init__(self, euclidean: nn.Module, node_keys=('x',), decimals: int = 5,
                 tie_samples: int = 4):
        super().__init__()
        if not hasattr(euclidean, 'key'):
            raise ValueError(f"'euclidean' must be a Euclidean frame sampler with a "
                             f"'key' attribute, e.g. PCAFrameSampler (got "
                             f"{type(euclidean).__name__})")
        self.euclidean = euclidean
        self.node_keys = tuple(node_keys)
        self.decimals = check_positive_int('decimals', decimals, minimum=0)
        self.tie_samples = check_positive_int('tie_samples', tie_samples)

    @property
    def dim(self) -> int:
        r"""The dimension :math:`d` of the points (the Euclidean frame's)."""
        return self.euclidean.dim

    def reset_parameters(self):
        pass

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        sample = self.euclidean(data, num_samples, noise=noise, generator=generator)
        stacked, transform = sample.stacked, sample.element
        B = num_graphs_of(data)
        graph_index, node_index = sample.graph_index, sample.node_index
        weight = sample.weight
        coords = transform.act_positions(stacked[self.euclidean.key])
        parts = []
        for key in self.node_keys:
            value = getattr(stacked, key, None)
            if isinstance(value, Tensor) and value.size(0) == stacked.num_nodes:
                parts.append(value.reshape(value.size(0), -1).to(torch.float64))
        rows = torch.cat(parts + [coords.to(torch.float64)], dim=-1)
        key = lexicographic_keys(rows, self.decimals)
        ties = tie_stabilizer_size(key, stacked.batch, stacked.num_graphs)
        counts = torch.where(ties > 1, self.tie_samples, 1).long()
        if bool((counts > 1).any()):       # extra copies where rows tie
            stacked, inner_graph, inner_node, _, _, _ = ragged_stack(stacked, counts)
            transform = transform.__class__(
                transform.rotation[inner_graph],
                None if transform.translation is None
                else transform.translation[inner_graph],
                stacked.batch, transform.position_keys, transform.vector_keys)
            key = key[inner_node]
            weight = weight[inner_graph] / counts[inner_graph].to(weight.dtype)
            graph_index, node_index = graph_index[inner_graph], node_index[inner_node]
        rank = lexicographic_rank(key, stacked.batch, stacked.ptr, generator)
        perm = Permutation(rank, stacked.batch, stacked.ptr)
        size = sample.frame_size      # times the largest tie group over the frame
        if size is not None:
            largest = torch.zeros(B, dtype=torch.float64, device=size.device)
            largest = largest.scatter_reduce(0, sample.graph_index, ties,
                                             reduce='amax')
            size = size * largest
        return GroupSample(ProductElement(perm, transform), stacked, graph_index,
                           node_index, weight, B, sample.num_nodes, frame_size=size)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.euclidean})'

