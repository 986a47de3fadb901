r"""Input checks and centring shared by the point-cloud frames."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.frames.base import check_budget
from lps_geometric.groups.euclidean import POSITION_KEYS, VECTOR_KEYS
from lps_geometric.utils.batch import to_ptr_batch

__all__ = ['points_of', 'centroid', 'PointFrameSampler', 'GramSchmidtFrameSampler']


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


class PointFrameSampler(nn.Module):
    r"""Shared constructor of the frames on point coordinates: the dimension :math:`d`,
    whether the group is special (determinant one), the node attribute holding the
    points and the attributes transformed as points and as vectors. Frames have no
    parameters."""
    requires_pos = True

    def __init__(self, dim: int, special: bool, key: str = 'pos',
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        super().__init__()
        if dim < 1:
            raise ValueError(f"'dim' must be positive (got {dim})")
        self.dim = dim
        self.special = special
        self.key = key
        self.position_keys = tuple(position_keys)
        self.vector_keys = tuple(vector_keys)

    def reset_parameters(self):
        pass


class GramSchmidtFrameSampler(PointFrameSampler):
    r"""Shared constructor of the minimal frames built by a pivoted Gram-Schmidt
    (:math:`O(d)`, Lorentz, unitary): besides :class:`PointFrameSampler`'s settings, the
    number of draws for continuous stabilisers (``budget``) and the pivot and rank
    tolerances of :func:`~lps_geometric.frames.pivoted_gram_schmidt`."""
    def __init__(self, dim: int, special: bool, budget: int = 8, pivot_tol: float = 1e-4,
                 rank_tol: float = 1e-6, key: str = 'pos',
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        super().__init__(dim, special, key, position_keys, vector_keys)
        self.budget = check_budget(budget)
        self.pivot_tol = pivot_tol
        self.rank_tol = rank_tol
