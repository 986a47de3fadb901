r"""Constraint relaxation (Pertigkiozoglou et al., NeurIPS 2024): layers with an added
non-equivariant term whose coefficient is driven to zero in training.

A relaxed layer computes

.. math::
    f_\alpha(x) = f(x) + \alpha\, W x,

where :math:`f` is the equivariant layer, :math:`W` a learned, unconstrained map of the
layer's input and :math:`\alpha \ge 0` a coefficient set from outside (a schedule that
reaches zero by the end of training). :func:`relax` wraps chosen layers of a model in
:class:`RelaxedLayer`; :func:`unrelax` puts the original layers back, with their
parameters, so the model is exactly equivariant again; with :math:`\alpha = 0` a relaxed
model already computes the equivariant layers' outputs.
"""
from typing import Callable, List, Optional, Sequence, Tuple, Type, Union

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv, GINEConv, MessagePassing

from lps_geometric.nn.backbones.mpnn import MPNNLayer
from lps_geometric.nn.conv.egnn_conv import EGNNConv
from lps_geometric.nn.symmetrize import Symmetrize

__all__ = ['RelaxedLayer', 'NodeOrderTerm', 'EGNNConvTerm', 'SymmetrizeTerm', 'relax',
           'unrelax', 'set_relaxation', 'relaxation_coefficient', 'relaxed_layers',
           'NothingToRelaxError']


class NothingToRelaxError(ValueError):
    r""":func:`relax` found no layer to relax in the model."""


class SymmetrizeTerm(nn.Module):
    r"""The non-equivariant term of a :class:`~lps_geometric.nn.Symmetrize` relaxed as a
    whole: its backbone :math:`f` on the input as given, in its own node order and
    frame, so that :math:`\phi_\alpha(G) = \phi(G) + \alpha f(G)` (the backbone's
    parameters are shared, not copied). Reads a ``Data``/``Batch``."""
    def __init__(self, symmetrize: Symmetrize):
        super().__init__()
        # kept outside the module tree: the backbone belongs to the layer
        object.__setattr__(self, '_symmetrize', symmetrize)

    def forward(self, data, *args, **kwargs) -> Tensor:
        return self._symmetrize.backbone(self._symmetrize.check_input(data, *args))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(the backbone on the input as given)'



class NodeOrderTerm(nn.Module):
    r"""The non-equivariant term of a node-feature layer ``layer(x, edge_index, ...)``
    :math:`\to (|V|, C_{out})`: a linear map of the node's features plus a learned code
    of the node's row, :math:`W x_v + E_{r_v}` with :math:`r_v = v \bmod`
    ``max_rows``. The code depends on the node order, so the term breaks permutation
    equivariance (a node-wise linear map alone would not).

    Args:
        in_channels (int): :math:`C_{in}`.
        out_channels (int): :math:`C_{out}`.
        max_rows (int, optional): Rows with their own code. (default: :obj:`64`)
    """
    def __init__(self, in_channels: int, out_channels: int, max_rows: int = 64):
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels)
        self.codes = nn.Embedding(max_rows, out_channels)
        self.max_rows = max_rows
        self.reset_parameters()

    def reset_parameters(self):
        self.lin.reset_parameters()
        nn.init.normal_(self.codes.weight, std=0.1)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        rows = torch.arange(x.size(0), device=x.device) % self.max_rows
        return self.lin(x) + self.codes(rows).to(x.dtype)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.lin.in_features}, '
                f'{self.lin.out_features}, max_rows={self.max_rows})')


class EGNNConvTerm(nn.Module):
    r"""The non-equivariant term of an :class:`~lps_geometric.nn.EGNNConv`: linear maps
    of the node's scalars, raw coordinates and flattened vector channels,

    .. math::
        \Delta h_v = A\,[h_v \,\|\, x_v \,\|\, \mathrm{vec}(V_v)], \qquad
        \Delta V_v = \mathrm{unvec}(B\,[x_v \,\|\, \mathrm{vec}(V_v)]),

    added to the layer's scalar and vector outputs (and, if the layer moves positions,
    :math:`\Delta x_v = D\,[x_v \,\|\, \mathrm{vec}(V_v)]` to its positions). Mixing the
    coordinate axes breaks rotation equivariance, reading raw positions breaks
    translation equivariance, and the scalar term is not invariant.
    """
    def __init__(self, conv: EGNNConv):
        super().__init__()
        F, V = conv.in_channels, conv.vector_channels
        V_out = conv.out_vector_channels
        geometric = 3 + 3 * V
        self.vector_channels, self.out_vector_channels = V, V_out
        self.scalar = nn.Linear(F + geometric, conv.out_channels)
        self.vector = nn.Linear(geometric, 3 * V_out) if V_out > 0 else None
        self.position = nn.Linear(geometric, 3) if conv.update_pos else None

    def reset_parameters(self):
        for lin in (self.scalar, self.vector, self.position):
            if lin is not None:
                lin.reset_parameters()

    def forward(self, x: Tensor, pos: Tensor, vec: Optional[Tensor], *args, **kwargs
                ) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        N = pos.size(0)
        flat = vec.reshape(N, -1) if vec is not None and self.vector_channels > 0 \
            else pos.new_zeros(N, 3 * self.vector_channels)
        geometric = torch.cat([pos, flat.to(pos.dtype)], dim=-1)
        dh = self.scalar(torch.cat([x.to(pos.dtype), geometric], dim=-1))
        dvec = self.vector(geometric).view(N, self.out_vector_channels, 3) \
            if self.vector is not None else None
        dpos = self.position(geometric) if self.position is not None else None
        return dh, dpos, dvec


class RelaxedLayer(nn.Module):
    r"""An equivariant ``layer`` plus ``coefficient`` times a non-equivariant ``term``
    of the same inputs (see the module description).

    Outputs that are tuples (an :class:`~lps_geometric.nn.EGNNConv`'s
    ``(h, pos, vec)``) get the term's matching entries added (entries the term gives
    as :obj:`None` are left alone). The coefficient is kept on the host (reading it
    never synchronises a device) and saved in the state dict (as extra state), so
    checkpoints restore it; set it with :func:`set_relaxation` or a schedule.

    Args:
        layer (torch.nn.Module): The equivariant layer.
        term (torch.nn.Module): Maps the layer's inputs to its output's shape.
        coefficient (float, optional): :math:`\alpha \ge 0`. (default: :obj:`1.0`)
    """
    def __init__(self, layer: nn.Module, term: nn.Module, coefficient: float = 1.0):
        super().__init__()
        if isinstance(layer, RelaxedLayer):
            raise ValueError('The layer is already relaxed')
        self.layer = layer
        self.term = term
        self.coefficient = 0.0
        self.set_coefficient(coefficient)

    def set_coefficient(self, coefficient: float):
        r"""Sets :math:`\alpha` (a non-negative finite number)."""
        value = float(coefficient)
        if not (value >= 0 and value != float('inf')):
            raise ValueError(f"The relaxation coefficient must be a non-negative finite "
                             f"number (got {coefficient!r})")
        self.coefficient = value

    def get_extra_state(self) -> dict:
        return {'coefficient': self.coefficient}

    def set_extra_state(self, state: dict):
        self.set_coefficient(state['coefficient'])

    def __getattr__(self, name: str):
        # what the wrapped layer offers (e.g. a Symmetrize's regularization_loss or
        # last_sample) stays reachable through the relaxed layer
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__('layer'), name)

    def reset_parameters(self):
        for module in (self.layer, self.term):
            if hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    def forward(self, *args, **kwargs):
        out = self.layer(*args, **kwargs)
        if self.coefficient == 0.0:
            return out
        extra = self.term(*args, **kwargs)
        alpha = self.coefficient
        if isinstance(out, tuple):
            return tuple(o if e is None else o + alpha * e.to(o.dtype)
                         for o, e in zip(out, extra))
        return out + alpha * extra.to(out.dtype)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.layer}, term={self.term}, '
                f'coefficient={self.coefficient:g})')


def _default_term(layer: nn.Module) -> Optional[nn.Module]:
    if isinstance(layer, Symmetrize):
        return SymmetrizeTerm(layer)
    if isinstance(layer, EGNNConv):
        return EGNNConvTerm(layer)
    if isinstance(layer, MPNNLayer):
        return NodeOrderTerm(layer.channels, layer.channels)
    for owner in (layer, getattr(layer, 'nn', None)):
        # PyG's GCNConv, GATConv, ... declare their widths; GINConv and GINEConv are
        # as wide as their inner network
        in_channels = getattr(owner, 'in_channels', None)
        out_channels = getattr(owner, 'out_channels', None)
        if isinstance(in_channels, int) and isinstance(out_channels, int) \
                and in_channels > 0 and out_channels > 0:
            return NodeOrderTerm(in_channels, out_channels)
    return None


LayerFilter = Union[Sequence[Type[nn.Module]], Callable[[str, nn.Module], bool]]


def relax(model: nn.Module, layers: Optional[LayerFilter] = None,
          coefficient: float = 1.0,
          make_term: Optional[Callable[[nn.Module], nn.Module]] = None) -> nn.Module:
    r"""Wraps layers of ``model`` in :class:`RelaxedLayer` (in place) and returns the
    model. When ``model`` is itself a layer to relax (e.g. a
    :class:`~lps_geometric.nn.Symmetrize` at the top), the result is a new
    :class:`RelaxedLayer` around it: use the return value,
    ``model = relax(model)``.

    Args:
        model (torch.nn.Module): Any model (a backbone, a sampler's network, a
            :class:`~lps_geometric.nn.Symmetrize`).
        layers (optional): Which layers to relax: a sequence of classes, or a function
            ``(name, module) -> bool``. (default: every
            :class:`~lps_geometric.nn.Symmetrize` as a whole (:class:`SymmetrizeTerm`),
            and outside them every :class:`~lps_geometric.nn.EGNNConv`, the MPNN's
            layers and every :class:`torch_geometric.nn.MessagePassing` layer with
            integer ``in_channels`` and ``out_channels``, or with an inner ``nn`` that
            has them, as :class:`~torch_geometric.nn.GINConv` and
            :class:`~torch_geometric.nn.GINEConv`: so also the samplers' networks and
            :class:`~lps_geometric.nn.PositionalGIN`)
        coefficient (float, optional): The starting :math:`\alpha`. (default:
            :obj:`1.0`)
        make_term (callable, optional): ``make_term(layer)`` builds the term of a
            layer; the default builds :class:`SymmetrizeTerm`, :class:`EGNNConvTerm` or
            :class:`NodeOrderTerm`. A :class:`~torch_geometric.nn.GINConv` or
            :class:`~torch_geometric.nn.GINEConv` is relaxed through its network
            ``conv.nn`` (which every GIN update calls, the library's sparse ones
            too): its term maps the network's input.

    Layers inside a chosen layer, or inside a relaxed one, are not relaxed (again):
    relaxing a relaxed model finds nothing new. A layer chosen by ``layers``
    for which no term can be built is a :class:`ValueError`; relaxing nothing is a
    :class:`NothingToRelaxError`.
    """
    if layers is None:
        def chosen(name, module):
            return isinstance(module, (Symmetrize, EGNNConv, MPNNLayer)) or (
                isinstance(module, MessagePassing) and _default_term(module) is not None)
    elif callable(layers) and not isinstance(layers, (list, tuple)):
        chosen = layers
    else:
        classes = tuple(layers)

        def chosen(name, module):
            return isinstance(module, classes)
    build = make_term or _default_term
    if not isinstance(model, RelaxedLayer) and not _relaxed_gin(model) and \
            chosen('', model):
        if isinstance(model, (GINConv, GINEConv)):
            model.nn = RelaxedLayer(model.nn, _wrap(model, build, coefficient).term,
                                    coefficient)
            return model
        return _wrap(model, build, coefficient)
    targets: List[Tuple[nn.Module, str, nn.Module]] = []
    taken: List[str] = []
    for parent_name, parent in model.named_modules():
        if isinstance(parent, RelaxedLayer):
            continue
        for child_name, child in parent.named_children():
            full = f'{parent_name}.{child_name}' if parent_name else child_name
            if any(full.startswith(name + '.') for name in taken):
                continue                      # inside a layer relaxed as a whole
            if not isinstance(child, RelaxedLayer) and not _relaxed_gin(child) and \
                    chosen(full, child) and not _inside_relaxed(model, full):
                targets.append((parent, child_name, child))
                taken.append(full)
    if not targets:
        raise NothingToRelaxError(
            f'No layer of {type(model).__name__} to relax: the default layers are '
            f'Symmetrize, EGNNConv, the MPNN\'s layers and PyG message-passing layers '
            f'with integer in_channels and out_channels, or an inner nn with them '
            f'(pass layers= and make_term=)')
    for parent, child_name, child in targets:
        if isinstance(child, (GINConv, GINEConv)) and isinstance(child.nn, nn.Module):
            # relaxed through its network: GINConv's forward calls it, and so do the
            # library's sparse GIN sums (gin_update, the permutation sampler), which
            # never call the conv's own forward
            wrapped = _wrap(child, build, coefficient)
            child.nn = RelaxedLayer(child.nn, wrapped.term, coefficient)
            continue
        setattr(parent, child_name, _wrap(child, build, coefficient))
    return model


def _wrap(layer: nn.Module, build: Callable[[nn.Module], Optional[nn.Module]],
          coefficient: float) -> RelaxedLayer:
    term = build(layer)
    if term is None:
        raise ValueError(f'No relaxation term for {type(layer).__name__}: pass '
                         f'make_term=')
    param = next(layer.parameters(), None)
    if param is not None:
        term = term.to(device=param.device, dtype=param.dtype)
    return RelaxedLayer(layer, term, coefficient)


def _relaxed_gin(module: nn.Module) -> bool:
    return isinstance(module, (GINConv, GINEConv)) and isinstance(module.nn, RelaxedLayer)


def _inside_relaxed(model: nn.Module, name: str) -> bool:
    if isinstance(model, RelaxedLayer):
        return True
    parts = name.split('.')
    module = model
    for part in parts[:-1]:
        module = getattr(module, part)
        if isinstance(module, RelaxedLayer):
            return True
    return False


def relaxed_layers(model: nn.Module) -> List[RelaxedLayer]:
    r"""The :class:`RelaxedLayer` modules of ``model``."""
    return [m for m in model.modules() if isinstance(m, RelaxedLayer)]


def set_relaxation(model: nn.Module, coefficient: float) -> int:
    r"""Sets :math:`\alpha` of every relaxed layer of ``model``; returns their number."""
    layers = relaxed_layers(model)
    for layer in layers:
        layer.set_coefficient(coefficient)
    return len(layers)


def relaxation_coefficient(model: nn.Module) -> Optional[float]:
    r"""The largest :math:`\alpha` of ``model``'s relaxed layers (:obj:`None` if none)."""
    values = [layer.coefficient for layer in relaxed_layers(model)]
    return max(values) if values else None


def unrelax(model: nn.Module) -> nn.Module:
    r"""Replaces every :class:`RelaxedLayer` of ``model`` by its original layer (the same
    module, with its parameters) and returns ``model``: exactly equivariant again. A
    relaxed layer at the top is returned as its layer."""
    if isinstance(model, RelaxedLayer):
        return unrelax(model.layer)
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, RelaxedLayer):
                setattr(parent, child_name, child.layer)
    return model

