r"""The canonically ordered graph as weighted pixel entries, hard or relaxed.

A backbone that reads the graph as an image (patches, a dense adjacency matrix) needs, for
the straight-through gradient, the image of the *relaxed* permutation. With a band
assignment :math:`\tilde P` of shape :obj:`(|V|, 2w + 1)` (one-hot forward, soft
backward), the pixel of edge :math:`(u, v)` is :math:`\tilde P_u \tilde P_v^\top`. Its forward
value is the hard pixel :math:`(i, j)`, and since the other factor is exactly one-hot in the
forward pass, the gradient of every entry :math:`(i + m - w, j)` only goes through
:math:`\tilde P_{u, m}` and that of :math:`(i, j + m - w)` only through
:math:`\tilde P_{v, m}`. So :math:`4w + 1` entries per edge give exactly the gradient of the
full :math:`(2w + 1)^2` product (tested against the dense :math:`M^\top A M`).

Entries are ``(graph, row, col, weight, source)``: the pixel ``(row, col)`` of graph
``graph`` gets ``weight`` times the features of edge (or node) ``source``. Positions that fall
outside a graph are clamped into it and carry weight exactly zero.
"""
from typing import NamedTuple, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.utils.batch import local_index, max_graph_size, to_ptr_batch

__all__ = ['PixelEntries', 'edge_pixels', 'node_pixels', 'to_dense_image']


class PixelEntries(NamedTuple):
    graph: Tensor
    row: Tensor
    col: Tensor
    weight: Tensor
    source: Tensor


def _clamp(position: Tensor, size: Tensor) -> Tensor:
    return torch.minimum(position.clamp(min=0), size - 1)


def edge_pixels(edge_index: Tensor, batch: Tensor, ptr: Tensor,
                band: Optional[Tensor] = None, dtype=torch.float) -> PixelEntries:
    r"""Pixel entries of the edges of a canonically ordered batch.

    Without ``band``: one entry of weight one per edge. With ``band``
    :obj:`(|V|, 2w + 1)`: :math:`4w + 1` straight-through entries per edge.
    """
    pos = local_index(batch, ptr)
    src, dst = edge_index
    graph = batch[src]
    i, j = pos[src], pos[dst]
    E = src.numel()
    edge_id = torch.arange(E, device=src.device)
    if band is None:
        return PixelEntries(graph, i, j, torch.ones(E, device=src.device, dtype=dtype),
                            edge_id)
    w = (band.size(1) - 1) // 2
    device = src.device
    size = (ptr[1:] - ptr[:-1])[graph].unsqueeze(1)
    shifts = torch.cat([torch.arange(-w, 0, device=device),
                        torch.arange(1, w + 1, device=device)])
    keep = shifts + w
    rep = lambda t: t.repeat_interleave(2 * w)  # noqa: E731
    return PixelEntries(
        graph=torch.cat([graph, rep(graph), rep(graph)]),
        row=torch.cat([i, _clamp(i.unsqueeze(1) + shifts, size).reshape(-1), rep(i)]),
        col=torch.cat([j, rep(j), _clamp(j.unsqueeze(1) + shifts, size).reshape(-1)]),
        weight=torch.cat([
            band[src, w] * band[dst, w],
            band[src][:, keep].reshape(-1),
            band[dst][:, keep].reshape(-1),
        ]),
        source=torch.cat([edge_id, rep(edge_id), rep(edge_id)]),
    )


def node_pixels(batch: Tensor, ptr: Tensor, band: Optional[Tensor] = None,
                dtype=torch.float) -> PixelEntries:
    r"""Diagonal pixel entries of the nodes: node :math:`v` at position :math:`i` sits on
    pixel :math:`(i, i)`; with ``band``, :math:`2w + 1` straight-through entries
    :math:`(i + m - w, i + m - w)` of weight :math:`\tilde P_{v, m}`."""
    pos = local_index(batch, ptr)
    N = pos.numel()
    node_id = torch.arange(N, device=pos.device)
    if band is None:
        return PixelEntries(batch, pos, pos, torch.ones(N, device=pos.device,
                                                        dtype=dtype), node_id)
    w = (band.size(1) - 1) // 2
    size = (ptr[1:] - ptr[:-1])[batch].unsqueeze(1)
    offsets = torch.arange(-w, w + 1, device=pos.device)
    moved = _clamp(pos.unsqueeze(1) + offsets, size).reshape(-1)
    return PixelEntries(batch.repeat_interleave(2 * w + 1), moved, moved,
                        band.reshape(-1), node_id.repeat_interleave(2 * w + 1))


def to_dense_image(data: Data, max_nodes: Optional[int] = None,
                   edge_dim: int = 0, node_dim: int = 0,
                   dtype: Optional[torch.dtype] = None,
                   band: Optional[Tensor] = None) -> Tensor:
    r"""The (relaxed) adjacency image of a canonically ordered batch as a dense tensor.

    Returns :obj:`(B, n, n, 1 + edge_dim + node_dim)`: the adjacency channel, the edge
    features, and the node features on the diagonal. Uses the relaxed permutation
    ``band`` :math:`(|V|, 2w + 1)` (which :class:`~lps_geometric.nn.Symmetrize` passes
    to a backbone in training) for straight-through gradients to the sampler, so any dense backbone (MLP, CNN, a vision transformer) can be
    symmetrized. Memory :math:`O(B n^2)`: meant for small graphs. ``dtype`` defaults to
    the relaxed band's, else float32 (pass the backbone's parameter dtype).
    """
    batch, ptr, B = to_ptr_batch(data)
    n = max_nodes or max_graph_size(ptr)
    C = 1 + edge_dim + node_dim
    if dtype is None:
        dtype = band.dtype if band is not None else torch.float
    out = torch.zeros(B, n, n, C, device=batch.device, dtype=dtype)
    e = edge_pixels(data.edge_index, batch, ptr, band, out.dtype)
    parts = [torch.ones(e.source.numel(), 1, device=batch.device, dtype=out.dtype)]
    if edge_dim > 0:
        parts.append(data.edge_attr.to(out.dtype).view(-1, edge_dim)[e.source])
    parts.append(parts[0].new_zeros(e.source.numel(), node_dim))
    feat = torch.cat(parts, dim=1)
    out = out.index_put((e.graph, e.row, e.col), feat * e.weight.unsqueeze(1),
                        accumulate=True)
    if node_dim > 0:
        v = node_pixels(batch, ptr, band, out.dtype)
        x = data.x.to(out.dtype).view(-1, node_dim)[v.source] * v.weight.unsqueeze(1)
        x = torch.cat([x.new_zeros(x.size(0), 1 + edge_dim), x], dim=1)
        out = out.index_put((v.graph, v.row, v.col), x, accumulate=True)
    return out
