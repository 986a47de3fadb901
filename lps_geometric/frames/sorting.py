r"""Frames for :math:`S_n \times E(d)` built from a Euclidean frame: sort the nodes by
their canonical coordinates (frame averaging for unlabelled point clouds with a
backbone that is not permutation equivariant)."""
from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.frames.base import lexicographic_keys
from lps_geometric.frames.sets import tie_stabilizer_size
from lps_geometric.groups.euclidean import ProductElement
from lps_geometric.groups.symmetric import Permutation, segment_argsort
from lps_geometric.samplers.base import GroupSample
from lps_geometric.utils.batch import replicate_batch

__all__ = ['SortedProductFrameSampler']


class SortedProductFrameSampler(nn.Module):
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
        self.euclidean = euclidean
        self.node_keys = tuple(node_keys)
        self.decimals = decimals
        self.tie_samples = tie_samples

    def reset_parameters(self):
        pass

    def forward(self, data: Data, num_samples: Optional[int] = None,
                noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        sample = self.euclidean(data, num_samples, noise=noise, generator=generator)
        k, stacked, transform = sample.num_samples, sample.stacked, sample.element
        coords = transform.act_positions(stacked[self.euclidean.key])
        parts = []
        for key in self.node_keys:
            value = getattr(stacked, key, None)
            if isinstance(value, Tensor) and value.size(0) == stacked.num_nodes:
                parts.append(value.reshape(value.size(0), -1).to(torch.float64))
        rows = torch.cat(parts + [coords.to(torch.float64)], dim=-1)
        key = lexicographic_keys(rows, self.decimals).to(torch.float64)
        ties = tie_stabilizer_size(key.long(), stacked.batch, stacked.num_graphs)
        draws = self.tie_samples if bool((ties > 1).any()) else 1
        if draws > 1:
            stacked_all = replicate_batch(stacked, draws)
            transform = transform.__class__(
                transform.rotation.repeat(draws, 1, 1),
                None if transform.translation is None
                else transform.translation.repeat(draws, 1),
                stacked_all.batch, transform.position_keys, transform.vector_keys)
            key = key.repeat(draws)
            stacked = stacked_all
        tie_break = torch.rand(key.numel(), generator=generator, dtype=torch.float64,
                               device=key.device)
        rank = segment_argsort(key + 0.5 * tie_break, stacked.batch, stacked.ptr)
        perm = Permutation(rank, stacked.batch, stacked.ptr)
        weight = None if sample.weight is None else sample.weight.repeat(draws) / draws
        B = stacked.num_graphs // (k * draws)
        size = sample.frame_size
        if size is not None:
            size = size * ties.view(-1, B)[0]
        return GroupSample(ProductElement(perm, transform), k * draws, weight=weight,
                           stacked=stacked, frame_size=size)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.euclidean})'
