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
from lps_geometric.groups.spread import (pairwise_mean_sq, permutation_spread,
                                         rotation_spread)
from lps_geometric.samplers.base import sampler_requirements
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
    needs = sampler_requirements(sampler)
    needs.pop('node_channels', None)
    validate_graph_batch(data, **needs)
    kwargs = {} if generator is None else {'generator': generator}
    sample = sampler(data, num_samples=num_samples, **kwargs)
    if sample.num_samples is None or sample.copies is None:
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
            center = pairwise_mean_sq(c.double().view(num_samples, B, -1))
    return SampleSpread(rotation, permutation, center, num_samples)
