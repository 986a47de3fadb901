r"""The sampler contract: what every sampler (frames included) takes and returns.

A *sampler* maps a batch of :math:`B` graphs to group elements for copies of every graph,
:math:`g_{b,1}, \dots, g_{b,m_b}` with weights :math:`w_{b,r}` summing to one over the
copies of graph :math:`b`. :class:`~lps_geometric.nn.Symmetrize` averages a backbone over
them,

.. math::
    \phi(G_b) = \sum_{r=1}^{m_b} w_{b,r}\; g_{b,r} \cdot f(g_{b,r}^{-1} \cdot G_b).

Monte Carlo samplers (LPS, group averaging) draw :math:`m_b = k` copies of every graph
(``num_samples``); deterministic frames (FA, MFA) and exhaustive averaging enumerate a
set whose size depends on the graph and ignore ``num_samples``. Either way the result is
one :class:`GroupSample` with the same per-graph layout, so the layer has one averaging
path.
"""
from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

__all__ = ['GroupSample', 'Sampler', 'sampler_requirements']


@dataclass(repr=False, eq=False)
class GroupSample:
    r"""Group elements for a stack of copies of a batch of :math:`B` graphs, and how to
    average over them.

    The *stacked* batch holds :math:`S = \sum_b m_b` graphs: copies of the input graphs,
    each with its own group element. ``graph_index`` says which input graph every
    stacked graph copies, ``node_index`` which input node every stacked node copies, and
    ``weight`` how much each copy counts in its graph's average. Build one with
    :meth:`from_copies` (:math:`k` copies of every graph, copy :math:`r` of graph
    :math:`b` at stacked position :math:`rB + b`, as
    :func:`~lps_geometric.utils.replicate_batch` stacks them) or give the ragged
    indices of :func:`~lps_geometric.utils.replicate_graphs`.

    Attributes:
        element: One group element per stacked graph (e.g. a
            :class:`~lps_geometric.groups.Permutation`).
        stacked (Data): The stacked batch of :math:`S` graphs.
        graph_index (torch.Tensor): The input graph of every stacked graph, :obj:`(S,)`.
        node_index (torch.Tensor): The input node of every stacked node,
            :obj:`(|V_S|,)`.
        weight (torch.Tensor): Averaging weight of every stacked graph, :obj:`(S,)`,
            summing to one over the copies of each input graph.
        num_graphs (int): :math:`B`.
        num_nodes (int): :math:`|V|`, the nodes of the input batch.
        num_samples (int, optional): The number :math:`k` of Monte Carlo samples drawn
            per graph; :obj:`None` for samplers that enumerate a set (frames, exhaustive
            averaging), whose sizes are in ``frame_size``.
        copies (int, optional): :math:`k` when the stack is :math:`k` blocks of the
            :math:`B` input graphs (copy :math:`r` of graph :math:`b` at :math:`rB + b`);
            :obj:`None` for a ragged stack.
        frame_size (torch.Tensor, optional): For frames and exhaustive averaging, the
            number of elements of every graph's set, :obj:`(B,)`, float64, :obj:`inf`
            for a continuous frame (then sampled within the budget).
        band (torch.Tensor, optional): Straight-through relaxed assignment of shape
            :obj:`(|V_S|, 2w + 1)` (hard forward, soft backward), in the node order of
            the stacked input.
        entropy (torch.Tensor, optional): Mean entropy of the soft assignment (a scalar
            regulariser).
        conditioning (torch.Tensor, optional): For learned Euclidean frames, the
            invariant conditioning :math:`\mu \in [0, 1]` of every stacked graph's frame,
            :obj:`(S,)` (see :class:`~lps_geometric.samplers.EuclideanFrameSampler`).
        num_redrawn (int, optional): Stacked graphs whose noise was redrawn because
            their frame was ill-conditioned.
        num_degenerate (int, optional): Stacked graphs whose frame is still
            ill-conditioned after the redraws, i.e. not guaranteed equivariant.
    """
    element: object
    stacked: Data
    graph_index: Tensor
    node_index: Tensor
    weight: Tensor
    num_graphs: int
    num_nodes: int
    num_samples: Optional[int] = None
    copies: Optional[int] = None
    frame_size: Optional[Tensor] = None
    band: Optional[Tensor] = None
    entropy: Optional[Tensor] = None
    conditioning: Optional[Tensor] = None
    num_redrawn: Optional[int] = None
    num_degenerate: Optional[int] = None

    @classmethod
    def from_copies(cls, element: object, stacked: Data, num_copies: int,
                    num_graphs: int, weight: Optional[Tensor] = None,
                    **fields: Any) -> 'GroupSample':
        r"""A sample over :math:`k` = ``num_copies`` copies of every graph, stacked as
        :func:`~lps_geometric.utils.replicate_batch` does; ``weight`` :obj:`(k B,)`
        defaults to :math:`1/k`. ``num_samples`` defaults to :math:`k` (pass
        ``num_samples=None`` for an enumerated set); other fields are passed on."""
        k, B = int(num_copies), int(num_graphs)
        if k < 1:
            raise ValueError(f"'num_copies' must be positive (got {num_copies})")
        N, rest = divmod(stacked.num_nodes, k)
        if rest or stacked.num_graphs != k * B:
            raise ValueError(f"A stack of {k} copies of {B} graphs needs k B graphs and "
                             f"a multiple of k nodes (got {stacked.num_graphs} graphs, "
                             f"{stacked.num_nodes} nodes)")
        tensor = stacked.batch if stacked.batch is not None else next(
            (v for v in stacked.to_dict().values() if isinstance(v, Tensor)), None)
        device = tensor.device if tensor is not None else None
        graph_index = torch.arange(B, device=device).repeat(k)
        node_index = torch.arange(N, device=device).repeat(k)
        if weight is None:
            weight = torch.full((k * B,), 1.0 / k, dtype=torch.float64, device=device)
        fields.setdefault('num_samples', k)
        return cls(element, stacked, graph_index, node_index, weight, B, N, copies=k,
                   **fields)

    @property
    def num_stacked(self) -> int:
        r""":math:`S`, the graphs the backbone sees."""
        return self.graph_index.numel()

    @property
    def counts(self) -> Tensor:
        r"""Copies of every input graph, :obj:`(B,)` (no synchronisation)."""
        return torch.bincount(self.graph_index, minlength=self.num_graphs)

    @property
    def num_copies(self) -> float:
        r"""Graphs the backbone sees per input graph, on average."""
        return self.num_stacked / max(self.num_graphs, 1)

    def __repr__(self) -> str:
        layout = f'copies={self.copies}' if self.copies is not None else 'ragged'
        parts = [f'element={self.element!r}', f'num_graphs={self.num_graphs}',
                 f'num_stacked={self.num_stacked}', layout,
                 f'num_samples={self.num_samples}']
        if self.frame_size is not None:
            parts.append('frame_size=' + str(self.frame_size.tolist()
                                             if self.frame_size.numel() <= 8 else
                                             list(self.frame_size.shape)))
        if self.band is not None:
            parts.append(f'band={list(self.band.shape)}')
        if self.num_degenerate:
            parts.append(f'num_degenerate={self.num_degenerate}')
        return f'{self.__class__.__name__}({", ".join(parts)})'


class Sampler(nn.Module):
    r"""The base of every sampler and frame: a module that maps a batch to a
    :class:`GroupSample`.

    Subclasses implement :meth:`forward` with this signature and declare what they read
    from the batch in class attributes, which :class:`~lps_geometric.nn.Symmetrize` and
    the diagnostics turn into one input check (:meth:`input_requirements`):

    - :attr:`requires_pos` (bool): the sampler reads point coordinates;
    - :attr:`dim` (int): their dimension :math:`d` (when ``requires_pos``);
    - :attr:`complex_pos` (bool): the coordinates are complex (unitary frames);
    - :attr:`in_channels` (int, optional): the node feature width it reads (:obj:`None`
      or :obj:`0` for none);
    - :attr:`draws_samples` (bool): whether ``num_samples`` is used (:obj:`False` for
      frames and exhaustive averaging, which enumerate a set of their own size).
    """
    requires_pos: bool = False
    dim: int = 3
    complex_pos: bool = False
    in_channels: Optional[int] = None
    draws_samples: bool = True

    def forward(self, data: Data, num_samples: Optional[int] = None, *,
                noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""Group elements for copies of every graph of ``data``.

        Args:
            data (Data): A ``Data``/``Batch`` of :math:`B` graphs.
            num_samples (int, optional): :math:`k`, the copies of every graph to draw
                (ignored when :attr:`draws_samples` is :obj:`False`).
            noise (torch.Tensor, optional): The sampler's noise for the stacked batch
                (for reproducibility and equivariance tests), where it uses noise.
            generator (torch.Generator, optional): The random source.
        """
        raise NotImplementedError

    def reset_parameters(self):
        r"""Resets learnable parameters (none by default)."""

    def input_requirements(self) -> Dict[str, Any]:
        r"""The keyword arguments of :func:`~lps_geometric.utils.validate_graph_batch`
        that check a batch for this sampler."""
        channels = self.in_channels if self.in_channels else None
        return dict(require_pos=self.requires_pos, node_channels=channels,
                    pos_dim=self.dim if self.requires_pos else None,
                    complex_pos=self.complex_pos)


def sampler_requirements(sampler: nn.Module) -> Dict[str, Any]:
    r"""What ``sampler`` reads from a batch, as keyword arguments of
    :func:`~lps_geometric.utils.validate_graph_batch`: its
    :meth:`Sampler.input_requirements`, or, for a sampler of one's own that does not
    derive from :class:`Sampler`, the same attributes read where present
    (``requires_pos``, ``dim``, ``complex_pos``, ``in_channels``)."""
    if isinstance(sampler, Sampler):
        return sampler.input_requirements()
    requires_pos = bool(getattr(sampler, 'requires_pos', False))
    channels = getattr(sampler, 'in_channels', None)
    channels = channels if isinstance(channels, int) and not isinstance(channels, bool) \
        and channels > 0 else None
    return dict(require_pos=requires_pos, node_channels=channels,
                pos_dim=getattr(sampler, 'dim', 3) if requires_pos else None,
                complex_pos=bool(getattr(sampler, 'complex_pos', False)))
