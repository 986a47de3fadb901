r"""Spread of sampled group elements: how far the :math:`k` elements drawn for one input
lie from each other, on a scale on which the uniform (Haar) distribution scores one and
identical elements zero (pure tensor math; :func:`~lps_geometric.diagnostics.sample_spread`
and the spread penalty of :class:`~lps_geometric.nn.Symmetrize` build on it)."""
from typing import Optional

import torch
from torch import Tensor

__all__ = ['rotation_spread', 'permutation_spread', 'pairwise_mean_sq']


def pairwise_mean_sq(values: Tensor) -> Tensor:
    r"""Mean of :math:`\|x_a - x_b\|^2` over ordered pairs :math:`a \ne b` of the
    :math:`k` rows of ``values`` :math:`(k, B, m)`: :math:`\frac{2}{k - 1}\sum_a
    \|x_a - \bar{x}\|^2`, shape :obj:`(B,)`."""
    k = values.size(0)
    deviation = values - values.mean(dim=0, keepdim=True)
    return deviation.pow(2).sum(dim=(0, 2)) * (2.0 / (k - 1))


def rotation_spread(rotation: Tensor, num_samples: int) -> Tensor:
    r"""Spread of the orthogonal matrices of :math:`k` samples of :math:`B` graphs.

    For rotations :math:`R_1, \dots, R_k \in O(d)` of one graph it returns
    :math:`\mathbb{E}_{a \ne b}\|R_a - R_b\|_F^2 / 2d = 1 - \mathbb{E}_{a \ne b}
    \operatorname{tr}(R_a^\top R_b) / d`. Haar-uniform samples of :math:`O(d)` or
    :math:`SO(d)` (:math:`d \ge 2`) score one in expectation (the mean of a Haar matrix is
    zero), identical samples zero, and the score is invariant to rotating every sample of
    a graph by the same element on either side (so it compares samplers across inputs).

    Args:
        rotation (torch.Tensor): Shape :obj:`(k B, d, d)`, copy :math:`r` of graph
            :math:`b` at row :math:`r B + b`.
        num_samples (int): :math:`k \ge 2`.

    Returns:
        torch.Tensor: Shape :obj:`(B,)`.
    """
    if num_samples < 2:
        raise ValueError(f'The spread needs at least two samples (got {num_samples})')
    kB, d, _ = rotation.shape
    if kB % num_samples:
        raise ValueError(f'{kB} stacked rotations are not {num_samples} copies of a batch')
    values = rotation.reshape(num_samples, kB // num_samples, d * d)
    return pairwise_mean_sq(values.double()) / (2 * d)


def permutation_spread(rank: Tensor, batch: Tensor, num_samples: int,
                       num_graphs: Optional[int] = None) -> Tensor:
    r"""Spread of the permutations of :math:`k` samples of :math:`B` graphs.

    For each node :math:`v` of a graph with :math:`n \ge 2` nodes it takes the fraction
    of sample pairs :math:`a \ne b` that put :math:`v` at different positions,
    :math:`\mathbb{P}(\sigma_a(v) \ne \sigma_b(v))`, divides by its value for uniform
    permutations, :math:`1 - 1/n`, and averages over the graph's nodes. Uniform samples
    score one in expectation, identical samples zero. Single-node graphs give :obj:`nan`.

    Args:
        rank (torch.Tensor): Position of every stacked node in its graph, shape
            :obj:`(k |V|,)` (node :math:`v` of copy :math:`r` at row :math:`r|V| + v`).
        batch (torch.Tensor): Node-to-graph assignment of the *unstacked* batch, shape
            :obj:`(|V|,)`.
        num_samples (int): :math:`k \ge 2`.
        num_graphs (int, optional): :math:`B` (default: :obj:`batch.max() + 1`).

    Returns:
        torch.Tensor: Shape :obj:`(B,)`, float64.
    """
    if num_samples < 2:
        raise ValueError(f'The spread needs at least two samples (got {num_samples})')
    num_nodes = batch.numel()
    if rank.numel() != num_samples * num_nodes:
        raise ValueError(f'{rank.numel()} stacked ranks are not {num_samples} copies of '
                         f'{num_nodes} nodes')
    rank = rank.view(num_samples, num_nodes)
    # ordered pairs of samples that place the node at the same position (k x k per node,
    # k is small; nothing here is quadratic in the graph)
    same = (rank.unsqueeze(0) == rank.unsqueeze(1)).sum(dim=(0, 1)) - num_samples
    differ = 1.0 - same.double() / (num_samples * (num_samples - 1))
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if num_nodes else 0
    B = num_graphs
    size = torch.zeros(B, dtype=torch.float64, device=batch.device).index_add_(
        0, batch, torch.ones(num_nodes, dtype=torch.float64, device=batch.device))
    uniform = 1.0 - 1.0 / size[batch]
    node = torch.where(uniform > 0, differ / uniform.clamp_min(1e-12),
                       torch.full_like(differ, float('nan')))
    total = torch.zeros(B, dtype=torch.float64, device=batch.device).index_add_(
        0, batch, torch.nan_to_num(node, nan=0.0))
    return torch.where(size > 1, total / size, torch.full_like(total, float('nan')))
