r"""Random point clouds and particle systems for tests and examples, and a helper that
moves a sampler's noise along with a group element (exact equivariance tests)."""
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from lps_geometric.groups.euclidean import EuclideanTransform, split_element
from lps_geometric.groups.symmetric import Permutation
from lps_geometric.utils.batch import replicate_batch

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


def transport_noise(element, noise: Tensor, data: Data, num_samples: int) -> Tensor:
    r"""Transforms a sampler's per-node noise for :obj:`num_samples` stacked copies of
    ``data`` by a group element of ``data`` (the same element for every copy): vectors
    rotate (:math:`\epsilon \mapsto R \epsilon`, no translation) and rows move with their
    nodes. With the transported noise, an equivariant sampler gives the transformed
    sample exactly, so a symmetrized model is exactly equivariant."""
    stacked = replicate_batch(data, num_samples)
    perm, transform = split_element(element)
    out = noise
    if transform is not None and noise.size(-1) == transform.dim:
        rot = transform.rotation.repeat(num_samples, 1, 1)
        out = EuclideanTransform(rot, None, stacked.batch).act_vectors(out)
    if perm is not None:
        out = Permutation(perm.rank.repeat(num_samples), stacked.batch,
                          stacked.ptr).permute_nodes(out)
    return out
