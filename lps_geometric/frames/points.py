r"""Input checks and centring shared by the point-cloud frames."""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.utils.batch import to_ptr_batch

__all__ = ['points_of', 'centroid']


def points_of(data: Data, dim: int, key: str = 'pos') -> Tuple[Tensor, Tensor, Tensor, int]:
    r"""``(points, batch, ptr, B)`` with ``points = data[key]`` of shape
    :obj:`(|V|, d)`, after checking shape and finiteness."""
    value = getattr(data, key, None)
    if value is None:
        raise ValueError(f"This frame needs node coordinates '{key}' of shape (|V|, {dim})")
    if value.dim() != 2 or value.size(-1) != dim:
        raise ValueError(f"'{key}' must have shape (|V|, {dim}) (got {tuple(value.shape)})")
    if not torch.isfinite(value).all():
        raise ValueError(f"'{key}' contains NaN or inf")
    batch, ptr, B = to_ptr_batch(data)
    if B == 0 or value.size(0) == 0:
        raise ValueError('The batch holds no nodes')
    if bool(((ptr[1:] - ptr[:-1]) == 0).any()):
        raise ValueError('The batch holds an empty graph (0 nodes)')
    return value, batch, ptr, B


def centroid(points: Tensor, batch: Tensor, num_graphs: int,
             enabled: bool = True) -> Optional[Tensor]:
    r"""Per-graph mean of ``points``, shape :obj:`(B, d)`, or :obj:`None` if not
    ``enabled`` (groups without translations)."""
    if not enabled:
        return None
    return scatter(points, batch, dim=0, dim_size=num_graphs, reduce='mean')
