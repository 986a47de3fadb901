r"""Any PyG model with the usual ``forward(x, edge_index, ...)`` as a backbone."""
import inspect
import warnings
from typing import Optional, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn.inits import reset
from torch_geometric.utils import scatter

from lps_geometric.groups.symmetric import check_level
from lps_geometric.utils.batch import to_ptr_batch
from lps_geometric.utils.validation import check_graph_size, validate_graph_batch

from .position_encoding import POSITION_KINDS, PositionEncoding
from ..capabilities import BackboneCapabilities
from .wrapper import BackboneWrapper

__all__ = ['PyGBackbone']

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_POOLS = ('sum', 'mean', 'max')


class PyGBackbone(BackboneWrapper):
    r"""Makes a PyG model with the usual ``forward(x, edge_index, ...)`` signature
    (:class:`~torch_geometric.nn.models.GIN`, :class:`~torch_geometric.nn.models.GAT`,
    :class:`~torch_geometric.nn.models.GraphSAGE`,
    :class:`~torch_geometric.nn.models.PNA`, a stack of
    :class:`~torch_geometric.nn.conv.GPSConv`, ...) a backbone of
    :class:`~lps_geometric.nn.Symmetrize`, and lets it read every node's position in
    the sampled node order.

    :class:`~lps_geometric.nn.Symmetrize` relabels every copy of the batch into its
    sampled order, so node :math:`v` of graph :math:`b` sits at position
    :math:`i_v = v - \mathrm{ptr}_b`. The model reads

    .. math::
        x_v' = W \left[\, x_v \,\|\, E_{i_v} \,\right] + c
        \qquad\text{or}\qquad
        x_v' = \left[\, x_v \,\|\, E_{i_v} \,\right]

    (``combine="project"`` or ``"concat"``), with
    :math:`E \in \mathbb{R}^{n_{\max} \times d_E}` a table of position codes
    (:class:`~lps_geometric.nn.backbones.PositionEncoding`: learned, fixed random or
    sinusoidal), and the output is

    .. math::
        y = \mathrm{head}\Big( \bigoplus_{v \in G} f(X', A)_v \Big)
        \quad \text{(graph level)}, \qquad
        y_v = \mathrm{head}\big( f(X', A)_v \big) \quad \text{(node level)},

    with :math:`\bigoplus` the sum, mean or max over the nodes of each graph. In
    training with a learned sampler (LPS), the code is read through the
    straight-through relaxed permutation that
    :class:`~lps_geometric.nn.Symmetrize` passes as ``band`` (see
    :func:`~lps_geometric.nn.backbones.position_encoding.position_codes`), so the
    gradient reaches the sampler.

    A message-passing GNN is permutation-equivariant on its own: symmetrizing it
    without positions (``positions=None``) returns the GNN itself, whatever the
    sampler, and gains nothing (it stays within 1-WL). With positions the backbone
    tells every node apart and is not invariant alone; symmetrized, it is invariant
    (node level: equivariant) and more expressive than the GNN: relational pooling
    (Murphy et al., 2019) with uniform orders, LPS with learned ones.

    The model's ``forward`` is inspected once, at construction: ``edge_attr`` and
    ``batch`` are passed as keywords where it names them (``edge_attr`` not to PyG
    models that declare ``supports_edge_attr = False``, such as
    :class:`~torch_geometric.nn.models.GIN`, which would ignore it).

    Args:
        model (torch.nn.Module): The PyG model, called as
            ``model(x', edge_index, **extra)``; it returns node features
            :math:`(|V|, C)`, or graph features :math:`(B, C)` with ``pool=None``.
        in_channels (int): Width :math:`F` of the data's ``x`` (:obj:`0`: no ``x``).
        out_channels (int, optional): If set and ``head`` is not, a linear head maps
            the model's ``out_channels`` to this size. (default: :obj:`None`)
        max_nodes (int, optional): :math:`n_{\max}`, the largest graph (rows of
            :math:`E`); required with positions. (default: :obj:`None`)
        positions (str, optional): :obj:`"learned"`, :obj:`"random"`,
            :obj:`"sinusoidal"` or :obj:`None` (``x`` is passed unchanged).
            (default: :obj:`"learned"`)
        position_channels (int, optional): :math:`d_E`. (default: the model's
            ``in_channels`` with ``combine="project"``, the model's ``in_channels``
            minus :math:`F` with ``combine="concat"``)
        combine (str, optional): :obj:`"project"` (a linear map of
            :math:`[x \| E]` to the model's ``in_channels``) or :obj:`"concat"` (the
            model reads :math:`[x \| E]`, of width :math:`F + d_E`, directly).
            (default: :obj:`"project"`)
        level (str, optional): :obj:`"graph"` or :obj:`"node"`. (default:
            :obj:`"graph"`)
        pool (str, optional): Graph readout :obj:`"sum"`, :obj:`"mean"` or
            :obj:`"max"`; :obj:`None` if the model pools itself (it then receives
            ``batch``). Unused at node level. (default: :obj:`"sum"`)
        head (torch.nn.Module, optional): Applied after pooling (graph level) or to
            every node (node level). (default: a linear layer if ``out_channels`` is
            set, else none)
        edge_attr (bool or str, optional): Pass ``data.edge_attr`` to the model:
            :obj:`True` (the model must take it and the data must have it),
            :obj:`False`, or :obj:`"auto"` (when the model takes it and the data has
            it). (default: :obj:`"auto"`)
        model_in_channels (int, optional): The model's input width, for models
            without an ``in_channels`` attribute. (default: ``model.in_channels``)
        seed (int, optional): Seed of the :obj:`"random"` code table.
            (default: :obj:`0`)

    Shapes:
        - **input:** a ``Batch`` in the sampled order with ``x`` :math:`(|V|, F)`,
          ``edge_index`` :math:`(2, |E|)`, optional ``edge_attr`` :math:`(|E|, D)`;
          optional ``band`` :math:`(|V|, 2w+1)` (keyword argument)
        - **output:** :math:`(B, C)` (graph level) or :math:`(|V|, C)` (node level)

    Example:
        >>> from torch_geometric.nn.models import GIN
        >>> backbone = PyGBackbone(GIN(64, 64, num_layers=4), in_channels=3,
        ...                        out_channels=2, max_nodes=40)
        >>> model = Symmetrize.from_method(backbone, 'lps', in_channels=3)
        >>> # the same in one call:
        >>> model = Symmetrize.from_pyg(GIN(64, 64, num_layers=4), 'lps',
        ...                             in_channels=3, out_channels=2, max_nodes=40)
    """
    COMBINES = ('project', 'concat')

    def __init__(self, model: nn.Module, in_channels: int,
                 out_channels: Optional[int] = None, max_nodes: Optional[int] = None,
                 positions: Optional[str] = 'learned',
                 position_channels: Optional[int] = None, combine: str = 'project',
                 level: str = 'graph', pool: Optional[str] = 'sum',
                 head: Optional[nn.Module] = None, edge_attr: Union[bool, str] = 'auto',
                 model_in_channels: Optional[int] = None, seed: int = 0):
        if not isinstance(model, nn.Module):
            raise TypeError(f"'model' must be a torch.nn.Module (got "
                            f"{type(model).__name__})")
        super().__init__(model)
        if in_channels < 0:
            raise ValueError(f"'in_channels' must be non-negative (got {in_channels})")
        if positions is not None and positions not in POSITION_KINDS:
            raise ValueError(f"Unknown position code '{positions}' (expected one of "
                             f"{POSITION_KINDS} or None)")
        if combine not in self.COMBINES:
            raise ValueError(f"'combine' must be one of {self.COMBINES} (got "
                             f"'{combine}')")
        if pool is not None and pool not in _POOLS:
            raise ValueError(f"'pool' must be one of {_POOLS} or None (got '{pool}')")
        if edge_attr not in (True, False, 'auto'):
            raise ValueError(f"'edge_attr' must be True, False or 'auto' (got "
                             f"{edge_attr!r})")
        self.in_channels = in_channels
        self.level = check_level(level)
        self.pool = pool
        self.positions = positions
        self.combine = combine
        self.edge_dim = None
        self.max_nodes = max_nodes if positions is not None else None
        name = type(model).__name__

        params = self._forward_parameters(model)
        self.passes_batch = 'batch' in params
        takes_edge_attr = 'edge_attr' in params and \
            getattr(model, 'supports_edge_attr', True) is not False
        if edge_attr is True and not takes_edge_attr:
            raise ValueError(f"edge_attr=True, but {name} does not use edge features "
                             f"(its forward has no 'edge_attr', or it declares "
                             f"supports_edge_attr=False)")
        self.edge_attr = edge_attr
        self.passes_edge_attr = takes_edge_attr and edge_attr is not False
        if self.level == 'graph' and pool is None and not self.passes_batch:
            raise ValueError(f"pool=None leaves the pooling to the model, but "
                             f"{name}.forward takes no 'batch'")

        if model_in_channels is None:
            model_in_channels = getattr(model, 'in_channels', None)
        if isinstance(model_in_channels, int) and model_in_channels < 0:
            model_in_channels = None  # lazily initialised PyG model
        self.model_in_channels = model_in_channels

        self.position_encoding = None
        self.lin = None
        if positions is None:
            if in_channels == 0:
                raise ValueError('Without node features (in_channels=0) the model needs '
                                 'positions to read')
            warnings.warn(f'PyGBackbone({name}, positions=None): a permutation-'
                          f'equivariant GNN gains nothing from symmetrization without '
                          f'position codes (the symmetrized model equals the GNN)',
                          UserWarning, stacklevel=2)
            self._check_width(in_channels, name, 'in_channels')
            self.position_channels = 0
        else:
            if max_nodes is None or max_nodes < 1:
                raise ValueError(f"Position codes need 'max_nodes', the largest graph "
                                 f"(got {max_nodes})")
            if position_channels is None:
                if model_in_channels is None:
                    raise ValueError(f"Cannot read the input width of {name}: pass "
                                     f"'position_channels' or 'model_in_channels'")
                position_channels = model_in_channels if combine == 'project' \
                    else model_in_channels - in_channels
            if position_channels < 1:
                raise ValueError(f"'position_channels' must be positive (got "
                                 f"{position_channels}; with combine='concat' the "
                                 f"model's in_channels must exceed the data's "
                                 f"{in_channels})")
            self.position_channels = position_channels
            self.position_encoding = PositionEncoding(max_nodes, position_channels,
                                                      positions, seed)
            width = in_channels + position_channels
            if combine == 'project':
                if model_in_channels is None:
                    raise ValueError(f"combine='project' maps [x, codes] to the model's "
                                     f"input width, which {name} does not tell: pass "
                                     f"'model_in_channels'")
                self.lin = nn.Linear(width, model_in_channels)
            else:
                self._check_width(width, name, 'in_channels + position_channels')

        if head is None and out_channels is not None:
            model_out = getattr(model, 'out_channels', None)
            if not isinstance(model_out, int) or model_out < 1:
                raise ValueError(f"out_channels={out_channels} adds a linear head on "
                                 f"{name}'s output, whose width it does not tell: pass "
                                 f"'head'")
            head = nn.Linear(model_out, out_channels)
        self.head = head
        self.out_channels = out_channels if out_channels is not None else \
            getattr(model, 'out_channels', None)

    @staticmethod
    def _forward_parameters(model: nn.Module):
        name = type(model).__name__
        try:
            params = inspect.signature(model.forward).parameters
        except (TypeError, ValueError) as error:
            raise TypeError(f'Cannot read the signature of {name}.forward') from error
        positional = [p for k, p in params.items() if p.kind in _POSITIONAL]
        varargs = any(p.kind == inspect.Parameter.VAR_POSITIONAL
                      for p in params.values())
        if (len(positional) < 2 and not varargs) or (
                positional and positional[0].name in ('data', 'batch', 'graph')):
            raise TypeError(f"PyGBackbone calls model(x, edge_index, ...), but "
                            f"{name}.forward{inspect.signature(model.forward)} does not "
                            f"take them; a model that reads a Data object can be a "
                            f"backbone of Symmetrize directly")
        return params

    def _check_width(self, width: int, name: str, what: str):
        if self.model_in_channels is not None and self.model_in_channels != width:
            raise ValueError(f"{name} reads {self.model_in_channels} input channels, but "
                             f"receives {what} = {width}")

    def reset_parameters(self):
        reset(self.backbone)
        if self.position_encoding is not None:
            self.position_encoding.reset_parameters()
        if self.lin is not None:
            self.lin.reset_parameters()
        if self.head is not None:
            reset(self.head)

    def node_input(self, data: Data, batch: Tensor, ptr: Tensor,
                   band: Optional[Tensor] = None) -> Tensor:
        r"""The model's input :math:`X'` :obj:`(|V|, C_{in})`: node features and the
        position codes of the sampled order, combined."""
        x = self.read(data, 'x').view(data.num_nodes, -1) if self.in_channels > 0 \
            else None
        if self.position_encoding is None:
            return x
        check_graph_size(ptr, self.max_nodes)
        codes = self.position_encoding(batch, ptr, band)
        if x is not None:
            codes = torch.cat([x.to(codes.dtype), codes], dim=-1)
        return codes if self.lin is None else self.lin(codes)

    @property
    def capabilities(self) -> BackboneCapabilities:
        return BackboneCapabilities(level=self.level, max_nodes=self.max_nodes,
                                    in_channels=self.in_channels or None,
                                    reads_band=self.position_encoding is not None)

    def forward(self, data: Data, band: Optional[Tensor] = None) -> Tensor:
        validate_graph_batch(data, max_nodes=self.max_nodes, node_channels=self.in_channels)
        batch, ptr, B = to_ptr_batch(data)
        x = self.node_input(data, batch, ptr, band)
        extra = {}
        if self.passes_batch:
            extra['batch'] = batch
        if self.passes_edge_attr:
            if self.edge_attr is True:
                extra['edge_attr'] = self.read(data, 'edge_attr', 'edge attribute')
            elif getattr(data, 'edge_attr', None) is not None:
                extra['edge_attr'] = data.edge_attr
        out = self.backbone(x, data.edge_index, **extra)
        if self.level == 'graph' and self.pool is not None:
            out = scatter(out, batch, dim=0, dim_size=B, reduce=self.pool)
        return out if self.head is None else self.head(out)

    def __repr__(self) -> str:
        text = (f'{self.__class__.__name__}({self.backbone}, '
                f'in_channels={self.in_channels}, out_channels={self.out_channels}, '
                f'max_nodes={self.max_nodes}, positions={self.positions}')
        if self.position_encoding is not None:
            text += (f', position_channels={self.position_channels}, '
                     f'combine={self.combine}')
        text += f', level={self.level}'
        if self.level == 'graph':
            text += f', pool={self.pool}'
        return text + f', edge_attr={self.passes_edge_attr})'
