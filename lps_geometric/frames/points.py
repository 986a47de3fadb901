r"""Input checks and centring shared by the point-cloud frames."""
from typing import Optional, Sequence, Tuple

from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.frames.base import FrameSampler, check_budget
from lps_geometric.groups.euclidean import POSITION_KEYS, VECTOR_KEYS
from lps_geometric.utils.batch import to_ptr_batch
from lps_geometric.utils.validation import (GraphInputError, check_node_tensor,
                                           check_positive_int, input_is_checked,
                                           node_count, validate_graph_batch)

__all__ = ['points_of', 'centroid', 'PointFrameSampler', 'GramSchmidtFrameSampler']


def points_of(data: Data, dim: int, key: str = 'pos',
              complex_pos: bool = False) -> Tuple[Tensor, Tensor, Tensor, int]:
    r"""``(points, batch, ptr, B)`` with ``points = data[key]`` of shape
    :obj:`(|V|, d)`, after checking the batch (:func:`validate_graph_batch`) and the
    points: present, :math:`|V|` rows, :math:`d` columns, floating (complex for
    ``complex_pos``) and finite. Raises
    :class:`~lps_geometric.utils.GraphInputError`."""
    value = getattr(data, key, None)
    if not input_is_checked():
        validate_graph_batch(data, complex_pos=complex_pos and key == 'pos',
                             require_edges=False)
        if value is None:
            raise GraphInputError(f"This frame needs node coordinates '{key}' of shape "
                                  f"(|V|, {dim}); the data has no '{key}'")
        check_node_tensor(key, value, node_count(data), floating=True, width=dim,
                          dims=(2,), complex_ok=complex_pos)
        if complex_pos and not value.is_complex():
            raise GraphInputError(f"This frame needs complex '{key}' (got {value.dtype})")
    batch, ptr, B = to_ptr_batch(data)
    return value, batch, ptr, B


def centroid(points: Tensor, batch: Tensor, num_graphs: int,
             enabled: bool = True) -> Optional[Tensor]:
    r"""Per-graph mean of ``points``, shape :obj:`(B, d)`, or :obj:`None` if not
    ``enabled`` (groups without translations)."""
    if not enabled:
        return None
    return scatter(points, batch, dim=0, dim_size=num_graphs, reduce='mean')


class PointFrameSampler(FrameSampler):
    r"""Shared constructor of the frames on point coordinates: the dimension :math:`d`,
    whether the group is special (determinant one), the node attribute holding the
    points and the attributes transformed as points and as vectors. Frames have no
    parameters."""
    requires_pos = True

    def __init__(self, dim: int, special: bool, key: str = 'pos',
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        super().__init__()
        dim = check_positive_int('dim', dim)
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
