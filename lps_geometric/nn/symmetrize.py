r"""The symmetrization layer: one wrapper for LPS, group averaging and canonicalization."""
import inspect
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.groups.spread import rotation_spread
from lps_geometric.groups.euclidean import split_element
from lps_geometric.groups.linear import LinearTransform
from lps_geometric.nn.capabilities import BackboneCapabilities, capabilities_of
from lps_geometric.samplers.base import GroupSample, sampler_requirements
from lps_geometric.samplers.factory import build_sampler
from lps_geometric.samplers.registry import lookup_sampler
from lps_geometric.utils.validation import (GraphInputError, check_positive_int,
                                           checked_input, validate_graph_batch)

__all__ = ['Symmetrize']


class Symmetrize(nn.Module):
    r"""Makes any backbone :math:`f` equivariant by averaging over group elements drawn
    from a sampler,

    .. math::
        \phi(G) = \mathbb{E}_{g \sim p(g \mid G)} \left[ g \cdot f(g^{-1} \cdot G)
        \right] \approx \sum_{r=1}^{k} w_r \, g_r \cdot f(g_r^{-1} \cdot G).

    With a :class:`~lps_geometric.samplers.PermutationSampler` this is learned
    probabilistic symmetrization (LPS); with
    :class:`~lps_geometric.samplers.UniformPermutationSampler` group averaging; with
    :class:`~lps_geometric.samplers.ExhaustivePermutationSampler` exact averaging over
    :math:`S_n`; with a noise-free sampler and :math:`k = 1` canonicalization. For point
    clouds and particle systems the samplers return Euclidean or product elements
    (:class:`~lps_geometric.samplers.EuclideanFrameSampler` for :math:`O(3)`,
    :math:`SO(3)`, :math:`E(3)`, :math:`SE(3)`;
    :class:`~lps_geometric.samplers.ProductSampler` for :math:`S_n \times E(3)`;
    :class:`~lps_geometric.samplers.UniformRotationSampler` for Haar averaging) and
    ``output`` says how they act on the backbone's output. Deterministic frames
    (:mod:`lps_geometric.frames`: FA, MFA for :math:`S_n`, Euclidean, product, Lorentz
    and unitary groups) return every graph's whole frame with weights, and the layer
    averages each graph over exactly its own frame. :meth:`from_method` builds any of
    these by name. If the sampler
    is equivariant (:math:`p(g \mid h G) = p(h^{-1} g \mid G)`), :math:`\phi` is invariant
    (graph outputs) or equivariant (node outputs) in distribution, and exactly so for
    exhaustive averaging.

    The :math:`k` samples are one backbone call: the batch is stacked :math:`k` times into a
    batch of :math:`kB` graphs (no padding; a frame stacks each graph as many times as its
    frame has elements), relabelled into each sample's canonical order, run through
    :math:`f`, mapped back (node outputs return to their nodes) and averaged with the
    sample's weights. The steps are methods (:meth:`check_input`, :meth:`sample`,
    :meth:`canonicalize`, :meth:`run_backbone`, :meth:`invert`, :meth:`average`).

    Args:
        backbone (torch.nn.Module): Maps a canonically ordered ``Batch`` to graph outputs
            :math:`(B, C)` or node outputs :math:`(|V|, C)`; what it reads and returns
            is its :class:`~lps_geometric.nn.BackboneCapabilities`.
        sampler (torch.nn.Module): A :class:`~lps_geometric.samplers.Sampler` (or any
            module with its call signature) returning a
            :class:`~lps_geometric.samplers.GroupSample` for ``(data, num_samples)``.
        num_samples (int, optional): :math:`k` in training. (default: :obj:`1`)
        eval_num_samples (int, optional): :math:`k` in evaluation. (default:
            ``num_samples``)
        level (str, optional): :obj:`"graph"` or :obj:`"node"`. (default: the level the
            backbone declares, see :func:`~lps_geometric.nn.capabilities_of`)
        entropy_weight (float, optional): Weight of the sampler's entropy penalty in
            :meth:`regularization_loss`. (default: :obj:`0.0`)
        spread_weight (float, optional): Weight :math:`\lambda` of a penalty
            :math:`\lambda\,(1 - s)` in :meth:`regularization_loss`, where :math:`s` is
            the spread of the :math:`k \ge 2` rotations sampled for each graph in the last
            training pass (:func:`~lps_geometric.groups.rotation_spread`: one for
            Haar samples, zero for one frame per input), averaged over the batch. It
            keeps a learned frame sampler from collapsing into a canonicalization
            (whose noise a network can learn to ignore). (default: :obj:`0.0`)
        output (str, optional): What the backbone's output is, which fixes how a group
            element maps it back: :obj:`"scalar"` (invariant features, logits),
            :obj:`"vector"` (rotates: velocities, forces, displacements; last dimension
            :math:`d`) or :obj:`"position"` (rotates and translates). Relabelling acts
            on node rows whatever the kind. (default: :obj:`"scalar"`)
        validate (bool, optional): Check every input batch once
            (:func:`~lps_geometric.utils.validate_graph_batch`: a
            :class:`~lps_geometric.utils.GraphInputError` names the problem); the
            sampler and the backbone do not check the stacked batch again, and
            :obj:`False` skips the checks altogether. (default: :obj:`True`)

    Shapes:
        - **input:** a ``Data``/``Batch``, or ``x`` :math:`(|V|, F)`, ``edge_index``
          :math:`(2, |E|)`, optional ``edge_attr`` :math:`(|E|, D)` and ``batch``
          :math:`(|V|,)`
        - **output:** :math:`(B, C)` (graph level) or :math:`(|V|, C)` (node level)

    Example:
        >>> backbone = AdjacencyPatchTransformer(in_channels=3, out_channels=2,
        ...                                      max_nodes=64)
        >>> sampler = PermutationSampler(in_channels=3)
        >>> model = Symmetrize(backbone, sampler, num_samples=1, eval_num_samples=10)
        >>> out = model(batch)                          # (B, 2)
        >>> loss = criterion(out, batch.y) + model.regularization_loss()
    """
    def __init__(self, backbone: nn.Module, sampler: nn.Module, num_samples: int = 1,
                 eval_num_samples: Optional[int] = None, level: Optional[str] = None,
                 entropy_weight: float = 0.0, output: str = 'scalar',
                 validate: bool = True, spread_weight: float = 0.0):
        super().__init__()
        num_samples = check_positive_int('num_samples', num_samples)
        if eval_num_samples is not None:
            eval_num_samples = check_positive_int('eval_num_samples', eval_num_samples)
        capabilities = capabilities_of(backbone)
        _check_band_argument(backbone, capabilities)
        level = level or capabilities.level
        if level not in ('graph', 'node'):
            raise ValueError(f"'level' must be 'graph' or 'node' (got '{level}')")
        if output not in ('scalar', 'vector', 'position'):
            raise ValueError(f"'output' must be 'scalar', 'vector' or 'position' "
                             f"(got '{output}')")
        self.output = output
        self.backbone = backbone
        self.sampler = sampler
        self.num_samples = num_samples
        self.eval_num_samples = eval_num_samples or num_samples
        self.level = level
        self.entropy_weight = entropy_weight
        if not spread_weight >= 0:
            raise ValueError(f"'spread_weight' must be non-negative (got {spread_weight})")
        self.spread_weight = spread_weight
        self.validate = validate
        self.last_sample: Optional[GroupSample] = None
        self._declared = None    # (backbone, sampler, capabilities, requirements)

    def _declarations(self) -> Tuple[BackboneCapabilities, dict]:
        r"""The backbone's capabilities and the input checks that they and the
        sampler's requirements ask for, derived once per (backbone, sampler) pair (again
        when either is replaced)."""
        declared = self._declared
        if declared is None or declared[0] is not self.backbone \
                or declared[1] is not self.sampler:
            capabilities = capabilities_of(self.backbone)
            _check_band_argument(self.backbone, capabilities)
            needs = sampler_requirements(self.sampler)
            if needs.get('node_channels') is None:
                needs['node_channels'] = capabilities.in_channels or None
            needs = dict(needs, max_nodes=capabilities.max_nodes,
                         edge_channels=capabilities.edge_dim or None)
            declared = (self.backbone, self.sampler, capabilities, needs)
            object.__setattr__(self, '_declared', declared)
        return declared[2], declared[3]

    @property
    def backbone_capabilities(self) -> BackboneCapabilities:
        r"""The backbone's :class:`~lps_geometric.nn.BackboneCapabilities`."""
        return self._declarations()[0]

    @property
    def capabilities(self) -> BackboneCapabilities:
        r"""The layer's own declaration, for a symmetrized model used as a backbone:
        the backbone's limits at the layer's ``level``; it reads no ``band``."""
        inner = self.backbone_capabilities
        return inner.with_changes(level=self.level, reads_band=False)

    @classmethod
    def from_method(cls, backbone: nn.Module, method: str = 'lps', group='S_n',
                    in_channels: Optional[int] = None,
                    sampler_kwargs: Optional[dict] = None, **kwargs) -> 'Symmetrize':
        r"""A symmetrized model by method and group name, so that methods can be swapped
        with one argument (see :func:`~lps_geometric.samplers.build_sampler`):
        :obj:`"lps"`, :obj:`"ga"`, :obj:`"fa"`, :obj:`"mfa"`, :obj:`"canonical"`
        (one noise-free sample in training and evaluation), :obj:`"exhaustive"`.

        Example:
            >>> model = Symmetrize.from_method(backbone, 'mfa', 'S_n x E(3)',
            ...                                output='position')
        """
        sampler = build_sampler(method, group, in_channels, **(sampler_kwargs or {}))
        entry, _ = lookup_sampler(method, group)
        if entry.num_samples is not None:    # e.g. one copy for canonicalization
            kwargs.setdefault('num_samples', entry.num_samples)
            kwargs.setdefault('eval_num_samples', entry.num_samples)
        return cls(backbone, sampler, **kwargs)

    @classmethod
    def from_pyg(cls, model: nn.Module, method: str = 'lps', group='S_n', *,
                 in_channels: int, max_nodes: Optional[int] = None,
                 out_channels: Optional[int] = None, level: str = 'graph',
                 positions: Optional[str] = 'learned',
                 backbone_kwargs: Optional[dict] = None,
                 sampler_kwargs: Optional[dict] = None, **kwargs) -> 'Symmetrize':
        r"""A symmetrized PyG model with the usual ``forward(x, edge_index, ...)``
        (:class:`~torch_geometric.nn.models.GIN`, ``GAT``, ``GraphSAGE``, ``PNA``, a
        ``GPSConv`` stack) in one call: the model reads the position codes of the
        sampled node order through a
        :class:`~lps_geometric.nn.backbones.PyGBackbone` (``backbone_kwargs`` go to
        it: ``position_channels``, ``combine``, ``pool``, ``head``, ``edge_attr``, ...),
        and the method is chosen as in :meth:`from_method` (``sampler_kwargs`` go to
        the sampler, other keyword arguments to :class:`Symmetrize`). The LPS sampler
        reads edge features only if told their width
        (``sampler_kwargs={"edge_dim": D}``).

        Example:
            >>> from torch_geometric.nn.models import GIN
            >>> model = Symmetrize.from_pyg(GIN(32, 32, num_layers=4), 'lps',
            ...                             in_channels=3, out_channels=2,
            ...                             max_nodes=40, num_samples=4)
        """
        from lps_geometric.nn.backbones.pyg_backbone import PyGBackbone
        backbone = PyGBackbone(model, in_channels, out_channels, max_nodes,
                               positions=positions, level=level,
                               **(backbone_kwargs or {}))
        return cls.from_method(backbone, method, group, in_channels=in_channels,
                               sampler_kwargs=sampler_kwargs, **kwargs)

    def reset_parameters(self):
        for module in (self.backbone, self.sampler):
            if hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    @staticmethod
    def _as_data(data, edge_index, edge_attr, batch) -> Data:
        if isinstance(data, Data):
            return data
        if data is not None and not isinstance(data, Tensor):
            raise GraphInputError(f"Pass a Data/Batch object or 'x' and 'edge_index' "
                                  f"(got {type(data).__name__})")
        if edge_index is None:
            raise GraphInputError("Pass a Data/Batch object or 'x' and 'edge_index'")
        if batch is not None and not isinstance(batch, Tensor):
            raise GraphInputError(f"'batch' must be a tensor (got {type(batch).__name__})")
        out = Data(x=data, edge_index=edge_index, edge_attr=edge_attr)
        if batch is not None:
            out.batch = batch
            out.num_graphs = int(batch.max()) + 1 if batch.numel() > 0 else 0
        if data is None:
            out.num_nodes = int(batch.numel()) if batch is not None else None
        return out

    def forward(self, data: Union[Data, Tensor, None] = None,
                edge_index: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None,
                batch: Optional[Tensor] = None, *, noise: Optional[Tensor] = None,
                num_samples: Optional[int] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
        r"""Symmetrized output: :meth:`sample`, :meth:`canonicalize`,
        :meth:`run_backbone`, :meth:`invert` and :meth:`average` in turn, after one
        check of the input.

        Args:
            data: A ``Data``/``Batch``, or the node features ``x``.
            edge_index, edge_attr, batch: The graph, when ``data`` is ``x``.
            noise (torch.Tensor, optional): The sampler's noise for the stacked batch,
                shape :obj:`(k |V|, 1)` (for reproducibility and equivariance tests).
            num_samples (int, optional): Override :math:`k` for this call.
            generator (torch.Generator, optional): Random source of the sampler.
        """
        data = self.check_input(data, edge_index, edge_attr, batch)
        with checked_input():
            sample = self.sample(data, num_samples, noise=noise, generator=generator)
            out = self.run_backbone(self.canonicalize(sample), sample)
            return self.average(self.invert(out, sample), sample)

    def check_input(self, data: Union[Data, Tensor, None] = None,
                    edge_index: Optional[Tensor] = None,
                    edge_attr: Optional[Tensor] = None,
                    batch: Optional[Tensor] = None) -> Data:
        r"""The input as a ``Data``/``Batch``, checked once against what the sampler
        and the backbone declare (when ``validate``): a
        :class:`~lps_geometric.utils.GraphInputError` names any problem."""
        data = self._as_data(data, edge_index, edge_attr, batch)
        if self.validate:
            validate_graph_batch(data, **self._declarations()[1])
        return data

    def sample(self, data: Data, num_samples: Optional[int] = None, *,
               noise: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""Group elements for copies of every graph (the sampler's
        :class:`~lps_geometric.samplers.GroupSample`, kept as :attr:`last_sample`);
        :math:`k` is ``num_samples``, else :attr:`num_samples` in training and
        :attr:`eval_num_samples` in evaluation."""
        if num_samples is None:
            num_samples = self.num_samples if self.training else self.eval_num_samples
        else:
            num_samples = check_positive_int('num_samples', num_samples)
        sample = self.sampler(data, num_samples, noise=noise, generator=generator)
        self.last_sample = sample
        return sample

    @staticmethod
    def canonicalize(sample: GroupSample) -> Data:
        r""":math:`g^{-1} \cdot G` for every copy: the stacked batch relabelled (and, for
        Euclidean elements, moved) into each copy's canonical frame."""
        return sample.element.apply(sample.stacked)

    def run_backbone(self, canonical: Data, sample: GroupSample) -> Tensor:
        r""":math:`f(g^{-1} \cdot G)` for every copy; a backbone that declares
        ``reads_band`` also receives the sampler's relaxed permutation, in the canonical
        node order, as ``band``."""
        if sample.band is not None and self.backbone_capabilities.reads_band:
            band = sample.element.permute_nodes(sample.band)
            return self.backbone(canonical, band=band)
        return self.backbone(canonical)

    def invert(self, out: Tensor, sample: GroupSample) -> Tensor:
        r""":math:`g \cdot f(g^{-1} \cdot G)`: every copy's output mapped back by its
        group element (node rows return to their nodes; vectors and positions rotate
        back as ``output`` says)."""
        expected = sample.num_stacked if self.level == 'graph' \
            else sample.stacked.num_nodes
        if out.size(0) != expected:
            what = 'graphs' if self.level == 'graph' else 'nodes'
            raise RuntimeError(f'The backbone returned {out.size(0)} rows for '
                               f'{expected} {what} (level="{self.level}")')
        return sample.element.pull_output(out, self.level, self.output)

    def average(self, out: Tensor, sample: GroupSample) -> Tensor:
        r"""The weighted average over the copies of every graph: rows of ``out``
        (one per stacked graph or node) times their copy's weight, summed into their
        input graph's (or node's) row."""
        if not (out.is_floating_point() or out.is_complex()):
            raise TypeError(f'The backbone returned {out.dtype} outputs; an average '
                            f'needs floating-point (or complex) outputs')
        if self.level == 'graph':
            index, weight, size = sample.graph_index, sample.weight, sample.num_graphs
        else:
            index = sample.node_index
            weight = sample.weight[sample.stacked.batch]
            size = sample.num_nodes
        # half precision is averaged in float32 (a weight such as 1/3 rounds badly in
        # bfloat16), and the result is cast back
        work = torch.promote_types(out.dtype, torch.float32)
        weighted = out.to(work) * weight.to(work).view(-1, *([1] * (out.dim() - 1)))
        if sample.copies is not None:
            # k blocks of the input rows: a sum over the block axis, deterministic on
            # every device and in the same order for every row
            total = weighted.view(sample.copies, size, *out.shape[1:]).sum(dim=0)
        else:
            # a ragged stack: rows scattered to their graph or node (index_add_ is
            # deterministic on the CPU, and on CUDA in deterministic mode)
            total = weighted.new_zeros((size, *out.shape[1:])).index_add_(0, index,
                                                                          weighted)
        return total.to(out.dtype)

    def regularization_loss(self) -> Tensor:
        r"""The sampler's penalties for the last forward pass (zero when there are none);
        add it to the training loss: ``entropy_weight`` times the entropy of the relaxed
        permutation, plus ``spread_weight`` times :math:`1 - s`, the shortfall of the
        sampled rotations' spread from that of Haar samples (for :math:`k \ge 2`
        samples of a learned frame)."""
        sample = self.last_sample
        device = next(self.parameters(), torch.empty(0)).device
        loss = torch.zeros((), device=device)
        if sample is None:
            return loss
        if sample.entropy is not None and self.entropy_weight != 0:
            loss = loss + self.entropy_weight * sample.entropy
        rotation = _sampled_rotation(sample)
        if (self.spread_weight != 0 and rotation is not None and rotation.requires_grad
                and sample.copies >= 2):
            spread = rotation_spread(rotation, sample.copies).mean()
            loss = loss + self.spread_weight * (1.0 - spread).to(rotation.dtype)
        return loss

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(\n  backbone={self.backbone},\n'
                f'  sampler={self.sampler},\n  num_samples={self.num_samples}, '
                f'eval_num_samples={self.eval_num_samples}, level={self.level}, '
                f'output={self.output}' + (f', spread_weight={self.spread_weight}'
                                           if self.spread_weight else '') + ')')


def _check_band_argument(backbone: nn.Module, capabilities: BackboneCapabilities):
    r"""A backbone that declares ``reads_band`` must take ``band`` in ``forward``."""
    if not capabilities.reads_band:
        return
    parameters = inspect.signature(backbone.forward).parameters.values()
    if not any(p.name == 'band' or p.kind is inspect.Parameter.VAR_KEYWORD
               for p in parameters):
        raise TypeError(f"{type(backbone).__name__} declares reads_band=True, but its "
                        f"forward takes no 'band' argument")


def _sampled_rotation(sample: GroupSample) -> Optional[Tensor]:
    r"""The :math:`(kB, d, d)` orthogonal part of :math:`k` Monte Carlo samples of
    every graph, or :obj:`None`."""
    if sample.copies is None or sample.num_samples is None:
        return None
    try:
        _, transform = split_element(sample.element)
    except TypeError:       # elements without a rotation part (e.g. of other groups)
        return None
    if transform is None or isinstance(transform, LinearTransform):
        return None
    return transform.rotation
