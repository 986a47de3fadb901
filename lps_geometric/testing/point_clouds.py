r"""Random point clouds and particle systems for tests and examples (and
:func:`~lps_geometric.groups.transport_noise`, re-exported for exact equivariance
tests)."""
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from lps_geometric.groups.transport import transport_noise

__all__ = ['random_point_cloud', 'random_point_cloud_batch', 'point_cloud_graph',
           'transport_noise']


def random_point_cloud(num_nodes: int, complete: bool = True, radius: float = 1.5,
                       charges: bool = True, velocities: bool = True,
                       generator: Optional[torch.Generator] = None,
                       dtype: torch.dtype = torch.float32) -> Data:
    r"""A random particle system: Gaussian ``pos`` and ``vel`` :math:`(n, 3)`, charges
    :math:`\pm 1` as ``x`` :math:`(n, 1)`, and the complete graph (or a radius graph)
    with the products of the charges as ``edge_attr`` :math:`(|E|, 1)`."""
    pos = torch.randn(num_nodes, 3, generator=generator, dtype=dtype)
    if complete:
        idx = torch.arange(num_nodes)
        row, col = idx.repeat_interleave(num_nodes), idx.repeat(num_nodes)
    else:
        dist = torch.cdist(pos, pos)
        row, col = ((dist < radius) & ~torch.eye(num_nodes, dtype=torch.bool)).nonzero().t()
    mask = row != col
    edge_index = torch.stack([row[mask], col[mask]])
    data = Data(pos=pos, edge_index=edge_index, num_nodes=num_nodes)
    if charges:
        q = torch.randint(0, 2, (num_nodes, 1), generator=generator).to(dtype) * 2 - 1
        data.x = q
        data.edge_attr = q[edge_index[0]] * q[edge_index[1]]
    if velocities:
        data.vel = torch.randn(num_nodes, 3, generator=generator, dtype=dtype)
    return data


def random_point_cloud_batch(sizes: Sequence[int] = (5, 5, 5), **kwargs) -> Batch:
    r"""A batch of :func:`random_point_cloud` graphs of the given sizes."""
    return Batch.from_data_list([random_point_cloud(n, **kwargs) for n in sizes])


def point_cloud_graph(pos: Tensor, x: Optional[Tensor] = None) -> Data:
    r"""The complete graph (no self-loops) on the points ``pos`` :math:`(n, 3)`, with
    node features ``x`` :math:`(n, F)` (default: ones :math:`(n, 1)` in the dtype of
    ``pos``): the input format of the Euclidean samplers for the clouds of
    :mod:`lps_geometric.testing.shapes`."""
    if not isinstance(pos, Tensor) or pos.dim() != 2:
        raise ValueError(f"'pos' must be a tensor of shape (n, d) (got "
                         f"{tuple(pos.shape) if isinstance(pos, Tensor) else type(pos)})")
    n = pos.size(0)
    idx = torch.arange(n, device=pos.device)
    row, col = idx.repeat_interleave(n), idx.repeat(n)
    mask = row != col
    if x is None:
        x = pos.new_ones(n, 1)
    elif x.size(0) != n:
        raise ValueError(f"'x' must have {n} rows, one per point (got {x.size(0)})")
    return Data(x=x, pos=pos, edge_index=torch.stack([row[mask], col[mask]]),
                num_nodes=n)
