r"""Group averaging over :math:`S_n`: uniform (Haar) samples, or every permutation."""
import itertools
import math
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.groups.symmetric import Permutation
from lps_geometric.samplers.base import GroupSample, Sampler
from lps_geometric.utils.batch import (max_graph_size, num_graphs_of, replicate_batch,
                                      to_ptr_batch)
from lps_geometric.utils.validation import (GraphInputError, check_positive_int,
                                           validate_graph_batch)

__all__ = ['UniformPermutationSampler', 'ExhaustivePermutationSampler']


class UniformPermutationSampler(Sampler):
    r"""Uniformly random node permutations (group averaging with Monte Carlo samples):
    :math:`g \sim \mathrm{Unif}(S_{n})` independently for every graph and sample,
    the argsort of i.i.d. uniform scores.

    Same interface as :class:`~lps_geometric.samplers.PermutationSampler`; it has no
    parameters and gives no gradient to a sampler.
    """
    def forward(self, data: Data, num_samples: int = 1, *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        validate_graph_batch(data)
        num_samples = check_positive_int('num_samples', num_samples)
        stacked = replicate_batch(data, num_samples)
        if noise is None:
            noise = torch.rand(stacked.num_nodes, 1, generator=generator,
                               device=stacked.batch.device)
        elif noise.shape != (stacked.num_nodes, 1):
            raise ValueError(f"'noise' must have shape ({stacked.num_nodes}, 1) for "
                             f"{num_samples} samples of {data.num_nodes} nodes "
                             f"(got {tuple(noise.shape)})")
        perm = Permutation.from_scores(noise.view(-1), stacked.batch, stacked.ptr)
        return GroupSample.from_copies(perm, stacked, num_samples, num_graphs_of(data))

    def reset_parameters(self):
        pass

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'


class ExhaustivePermutationSampler(Sampler):
    r"""Exact group averaging: all :math:`n!` permutations of every graph.

    :math:`\phi(G) = \frac{1}{n!} \sum_{g \in S_n} g \cdot f(g^{-1} \cdot G)` is exactly
    invariant/equivariant. A batch uses :math:`k = n_{\max}!` copies; a graph with
    :math:`n < n_{\max}` nodes cycles through its :math:`n!` permutations, which is still
    uniform since :math:`n!` divides :math:`n_{\max}!`. Only for tiny graphs.

    Args:
        max_nodes (int, optional): Refuse graphs larger than this. (default: :obj:`7`)
    """
    draws_samples = False

    def __init__(self, max_nodes: int = 7):
        super().__init__()
        self.max_nodes = check_positive_int('max_nodes', max_nodes)

    def num_samples_for(self, data: Data) -> int:
        r"""The number of copies :math:`n_{\max}!` this batch needs."""
        _, ptr, _ = to_ptr_batch(data)
        n = max_graph_size(ptr)
        if n > self.max_nodes:
            raise GraphInputError(f"{self.__class__.__name__} enumerates n! "
                                  f"permutations; a graph with {n} nodes exceeds "
                                  f"max_nodes={self.max_nodes}")
        return math.factorial(n)

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""All :math:`n_{\max}!` orders (``num_samples``, if given, must be a positive
        integer and is otherwise ignored; ``noise`` is ignored)."""
        validate_graph_batch(data)
        if num_samples is not None:
            check_positive_int('num_samples', num_samples)
        k = self.num_samples_for(data)
        stacked = replicate_batch(data, k)
        device = stacked.batch.device
        sizes = (stacked.ptr[1:] - stacked.ptr[:-1])
        # Table of all permutations of {0..m-1} for every m <= n_max.
        n_max = max(int(sizes.max()), 1)
        tables = {m: torch.tensor(list(itertools.permutations(range(m))),
                                  dtype=torch.long, device=device)
                  for m in range(1, n_max + 1)}
        B = sizes.numel() // k
        copy = torch.arange(k, device=device).repeat_interleave(B)
        rank = torch.empty_like(stacked.batch)
        local = torch.arange(stacked.batch.numel(), device=device) \
            - stacked.ptr[stacked.batch]
        node_size = sizes[stacked.batch]
        node_copy = copy[stacked.batch]
        for m, table in tables.items():
            mask = node_size == m
            rows = node_copy[mask] % table.size(0)
            rank[mask] = table[rows, local[mask]]
        factorials = torch.tensor([float(math.factorial(m)) for m in range(n_max + 1)],
                                  dtype=torch.float64, device=device)
        frame_size = factorials[sizes[:B]]
        return GroupSample.from_copies(Permutation(rank, stacked.batch, stacked.ptr),
                                       stacked, k, num_graphs_of(data),
                                       num_samples=None, frame_size=frame_size)

    def reset_parameters(self):
        pass

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(max_nodes={self.max_nodes})'
