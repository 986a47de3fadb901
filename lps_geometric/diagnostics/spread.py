r"""How random is a sampler? :func:`sample_spread` measures, per input graph, how far
the :math:`k` group elements a sampler draws for it lie from each other, on a scale on
which the uniform (Haar) distribution scores one and a deterministic sampler zero.

A learned sampler (LPS) is free to make its output ignore the noise it reads; it then
collapses into a learned canonicalization and loses the averaging that symmetrization
relies on to generalise. The spread tells the two apart on held-out data.
"""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.groups.euclidean import split_element
from lps_geometric.groups.linear import LinearTransform
from lps_geometric.utils.batch import batch_vector, num_graphs_of
from lps_geometric.utils.validation import check_positive_int, validate_graph_batch

__all__ = ['SampleSpread', 'sample_spread', 'rotation_spread', 'permutation_spread']


@dataclass
class SampleSpread:
    r"""Result of :func:`sample_spread`, one value per input graph (shape :obj:`(B,)`).

    Attributes:
        rotation (torch.Tensor, optional): Orthogonal part,
            :math:`\mathbb{E}_{a \ne b} \|R_a - R_b\|_F^2 / 2d` (see
            :func:`rotation_spread`); :obj:`None` if the elements have none.
        permutation (torch.Tensor, optional): Permutation part (see
            :func:`permutation_spread`); :obj:`nan` for single-node graphs; :obj:`None`
            if the elements have none.
        center (torch.Tensor, optional): Mean squared distance between the centres
            :math:`c` of two samples (in squared units of ``pos``; :math:`0` for a
            centroid); :obj:`None` without a translation part.
        num_samples (int): :math:`k`.
    """
    rotation: Optional[Tensor]
    permutation: Optional[Tensor]
    center: Optional[Tensor]
    num_samples: int

    def summary(self) -> dict:
        r"""Means over the graphs (single-node graphs left out), as floats."""
        out = {}
        for name in ('rotation', 'permutation', 'center'):
            value = getattr(self, name)
            if value is not None:
                value = value[~torch.isnan(value)]
                out[name] = float(value.mean()) if value.numel() else float('nan')
        return out

    def __str__(self) -> str:
        parts = [f'{name} {value:.3f}' for name, value in self.summary().items()]
        return (f'sample spread (1 = uniform, 0 = deterministic) over k = '
                f'{self.num_samples}: ' + ', '.join(parts))


def _pairwise_mean_sq(values: Tensor) -> Tensor:
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
    return _pairwise_mean_sq(values.double()) / (2 * d)


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


@torch.no_grad()
def sample_spread(sampler, data: Data, num_samples: int = 8,
                  generator: Optional[torch.Generator] = None) -> SampleSpread:
    r"""Draws :math:`k` group elements per graph from ``sampler`` and measures how
    spread out they are (see :class:`SampleSpread`): one for the uniform distribution,
    zero for a deterministic sampler (a canonicalization).

    Use it on held-out data to see whether a learned sampler still randomises or has
    collapsed onto one element per input, e.g. ``sample_spread(model.sampler, batch)``
    for a :class:`~lps_geometric.nn.Symmetrize` model. The sampler is run as it is
    (call ``.eval()`` first for its evaluation behaviour).

    Args:
        sampler: A sampler whose output holds one element per stacked graph: a
            :class:`~lps_geometric.groups.Permutation`, an
            :class:`~lps_geometric.groups.EuclideanTransform` (rotation part only for
            orthogonal matrices, not for :class:`~lps_geometric.groups.LinearTransform`)
            or a :class:`~lps_geometric.groups.ProductElement`.
        data (Data): A graph or a batch.
        num_samples (int, optional): :math:`k \ge 2`. (default: :obj:`8`)
        generator (torch.Generator, optional): For the sampler's noise.

    Returns:
        SampleSpread
    """
    num_samples = check_positive_int('num_samples', num_samples, minimum=0)
    if num_samples < 2:
        raise ValueError(f"The spread needs at least two samples (got "
                         f"num_samples={num_samples})")
    requires_pos = getattr(sampler, 'requires_pos', False)
    validate_graph_batch(data, require_pos=requires_pos,
                         pos_dim=getattr(sampler, 'dim', 3) if requires_pos else None,
                         complex_pos=getattr(sampler, 'complex_pos', False))
    kwargs = {} if generator is None else {'generator': generator}
    sample = sampler(data, num_samples=num_samples, **kwargs)
    if sample.weight is not None or sample.graph_index is not None:
        raise ValueError('sample_spread measures samplers that draw k independent '
                         'samples per graph; this one returned a weighted or ragged frame '
                         '(a deterministic frame has no spread to measure)')
    perm, transform = split_element(sample.element)
    batch = batch_vector(data)
    B = num_graphs_of(data)
    rotation = center = permutation = None
    if perm is not None:
        permutation = permutation_spread(perm.rank, batch, num_samples, B)
    if transform is not None and not isinstance(transform, LinearTransform):
        rotation = rotation_spread(transform.rotation, num_samples)
        if transform.translation is not None:
            # h = (R, t) canonicalizes x -> R x + t = R (x - c), so c = -R^T t
            c = -torch.matmul(transform.rotation.transpose(-1, -2),
                              transform.translation.unsqueeze(-1)).squeeze(-1)
            center = _pairwise_mean_sq(c.double().view(num_samples, B, -1))
    return SampleSpread(rotation, permutation, center, num_samples)
