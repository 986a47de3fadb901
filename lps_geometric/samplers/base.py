r"""What every sampler returns: group elements for :math:`k` copies of a batch."""
from dataclasses import dataclass
from typing import Any, Optional

from torch import Tensor

__all__ = ['GroupSample']


@dataclass
class GroupSample:
    r"""Group elements for :math:`k` stacked copies of a batch of :math:`B` graphs.

    Copy :math:`r` of graph :math:`b` is graph :math:`rB + b` of the stacked batch (see
    :func:`~lps_geometric.utils.replicate_batch`).

    Attributes:
        element: One group element per stacked graph (e.g. a
            :class:`~lps_geometric.groups.Permutation`).
        num_samples (int): :math:`k`.
        weight (torch.Tensor, optional): Averaging weights of shape :obj:`(k B,)`, summing
            to one over the copies of each graph; :obj:`None` means uniform :math:`1/k`.
        band (torch.Tensor, optional): Straight-through relaxed assignment of shape
            :obj:`(k |V|, 2w + 1)` (hard forward, soft backward), in the node order of
            the stacked input.
        entropy (torch.Tensor, optional): Mean entropy of the soft assignment (a scalar
            regulariser).
        stacked (Data, optional): The stacked batch the sampler built
            (:func:`~lps_geometric.utils.replicate_batch`), reused by
            :class:`~lps_geometric.nn.Symmetrize` instead of stacking twice.
        frame_size (torch.Tensor, optional): For deterministic frames (FA, MFA), the
            number of elements of every graph's frame, shape :obj:`(B,)`, float64,
            :obj:`inf` for a continuous frame (sampled).
        graph_index (torch.Tensor, optional): For a *ragged* stack
            (:func:`~lps_geometric.utils.replicate_graphs`: graph :math:`b` copied
            :math:`m_b` times), the original graph of every stacked graph; ``weight``
            then has one entry per stacked graph and ``num_samples`` is
            :math:`\max_b m_b`. :obj:`None` for the regular :math:`k`-copy layout.
        node_index (torch.Tensor, optional): For a ragged stack, the original node of
            every stacked node.
        conditioning (torch.Tensor, optional): For learned Euclidean frames, the
            invariant conditioning :math:`\mu \in [0, 1]` of every stacked graph's frame,
            shape :obj:`(k B,)` (see
            :class:`~lps_geometric.samplers.EuclideanFrameSampler`).
        num_redrawn (int, optional): Stacked graphs whose noise was redrawn because
            their frame was ill-conditioned.
        num_degenerate (int, optional): Stacked graphs whose frame is still
            ill-conditioned after the redraws, i.e. not guaranteed equivariant
            (:obj:`0` when every frame is).
    """
    element: object
    num_samples: int
    weight: Optional[Tensor] = None
    band: Optional[Tensor] = None
    entropy: Optional[Tensor] = None
    stacked: Optional[Any] = None
    frame_size: Optional[Tensor] = None
    graph_index: Optional[Tensor] = None
    node_index: Optional[Tensor] = None
    conditioning: Optional[Tensor] = None
    num_redrawn: Optional[int] = None
    num_degenerate: Optional[int] = None

    @property
    def num_copies(self) -> float:
        r"""Graphs the backbone sees per input graph, on average."""
        if self.graph_index is None:
            return float(self.num_samples)
        return self.graph_index.numel() / max(int(self.graph_index.max()) + 1, 1)
