r"""An :math:`E(n)`-equivariant graph neural network (a stack of
:class:`~lps_geometric.nn.conv.EGNNConv`)."""
from typing import Any, Callable, Dict, Optional, Tuple, Union

from torch import Tensor, nn

from lps_geometric.nn.conv.egnn_conv import EGNNConv
from lps_geometric.utils.validation import (GraphInputError, check_edge_index,
                                           check_node_tensor, input_is_checked)

__all__ = ['EGNN']


class EGNN(nn.Module):
    r"""An :math:`E(3)`-equivariant graph neural network (Satorras et al.,
    `"E(n) Equivariant Graph Neural Networks" <https://arxiv.org/abs/2102.09844>`_):
    a linear node embedding followed by ``num_layers``
    :class:`~lps_geometric.nn.conv.EGNNConv` layers,

    .. math::
        h^{(0)} = \mathrm{Lin}(x), \qquad
        (h^{(l+1)}, x^{(l+1)}, v^{(l+1)}) = \mathrm{EGNNConv}_l(h^{(l)}, x^{(l)},
        v^{(l)}, A), \qquad h = \mathrm{Lin}_{\text{out}}(h^{(L)}),

    with :math:`x^{(0)}` = ``pos`` and :math:`v^{(0)}` = ``vec``. The layers keep
    :math:`V` = ``vector_channels`` vector channels; the last one outputs
    :math:`V'` = ``out_vector_channels``. The output head
    :math:`\mathrm{Lin}_{\text{out}}` exists only when ``out_channels`` is given.

    For :math:`Q \in O(3)`, :math:`t \in \mathbb{R}^3` and a node permutation, :math:`h`
    is invariant, ``pos`` equivariant (:math:`Q x + t`) and ``vec`` rotation equivariant
    and translation invariant (:math:`v Q^\top`), all three permutation equivariant.

    Two uses:

    - **n-body** (EGNN's velocity model, :meth:`from_nbody_protocol`): node features
      the speeds :math:`\|v_i\|` (``in_channels=1``), ``pos`` the initial positions,
      ``vec`` the velocities :math:`(N, 1, 3)` (:math:`V = 1`), edge features the charge
      products :math:`q_i q_j` (``edge_dim=1``) on the complete graph; the prediction
      of the later positions is the output ``pos``. The paper trains 4 layers of width 64
      with Adam at learning rate :math:`5 \cdot 10^{-4}`.
    - **frames**: with ``out_vector_channels=3`` (and, say, ``vec=None``), ``h``
      :math:`(N, C)` are invariant node scalars and ``vec`` :math:`(N, 3, 3)`
      equivariant, translation invariant node vectors; summing ``vec`` per graph (e.g.
      ``torch_geometric.utils.scatter(vec, batch, dim=0, reduce='sum')``) gives 3
      equivariant vectors per graph. Use ``update_pos=False`` when the positions are
      not needed.

    Args:
        in_channels (int): Node feature size :math:`F` (:obj:`0`: no features, ``x``
            may be :obj:`None` and every node starts from the same learned embedding).
        hidden_channels (int, optional): Width of the layers. (default: :obj:`64`)
        num_layers (int, optional): Number of :class:`EGNNConv` layers.
            (default: :obj:`4`)
        vector_channels (int, optional): Vector channels :math:`V` of the input and
            the hidden layers. (default: :obj:`1`)
        out_channels (int, optional): Output node feature size; :obj:`None` returns
            the last layer's :math:`h` (size ``hidden_channels``). (default: :obj:`None`)
        out_vector_channels (int, optional): Output vector channels :math:`V'`.
            (default: ``vector_channels``)
        edge_dim (int, optional): Edge feature size (:obj:`0`: none).
            (default: :obj:`0`)
        update_pos (bool, optional): Update the positions. (default: :obj:`True`)
        tanh (bool, optional): Bound the coordinate coefficients by :math:`\tanh`.
            (default: :obj:`False`)
        normalize (bool, optional): Use unit directions
            :math:`r_{ij} / (\|r_{ij}\| + \epsilon)` (see :class:`EGNNConv`).
            (default: :obj:`False`)
        aggr (str, optional): :obj:`"add"` or :obj:`"mean"` message aggregation for
            :math:`h`. (default: :obj:`"add"`)
        act (str or Callable, optional): Activation. (default: :obj:`"silu"`)
        residual (bool, optional): Residual connections. (default: :obj:`True`)
        **kwargs (optional): Further arguments of every :class:`EGNNConv`.

    Shapes:
        - **input:** ``x`` :math:`(N, F)` (or :obj:`None` if ``in_channels=0``),
          ``pos`` :math:`(N, 3)`, ``edge_index`` :math:`(2, E)`, ``vec``
          :math:`(N, V, 3)` or :obj:`None` (zeros of that shape, so :math:`V` still
          sets the layer sizes), ``edge_attr`` :math:`(E, D)` or :obj:`None`
        - **output:** ``h`` :math:`(N, C)` with :math:`C` = ``out_channels`` or
          ``hidden_channels``, ``pos`` :math:`(N, 3)`, ``vec`` :math:`(N, V', 3)`

    Example:
        >>> model = EGNN.from_nbody_protocol()
        >>> speed = vel.norm(dim=-1, keepdim=True)                  # (N, 1)
        >>> _, pred, _ = model(speed, loc, edge_index, vel.unsqueeze(1), charge_prod)
        >>> loss = F.mse_loss(pred, loc_end)
    """
    #: Settings of the n-body experiment in the EGNN paper.
    NBODY_PROTOCOL: Dict[str, Any] = dict(hidden_channels=64, num_layers=4, lr=5e-4)

    def __init__(self, in_channels: int, hidden_channels: int = 64, num_layers: int = 4,
                 vector_channels: int = 1, out_channels: Optional[int] = None,
                 out_vector_channels: Optional[int] = None, edge_dim: int = 0,
                 update_pos: bool = True, tanh: bool = False, normalize: bool = False,
                 aggr: str = 'add', act: Union[str, Callable, None] = 'silu',
                 residual: bool = True, **kwargs):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"'num_layers' must be positive (got {num_layers})")
        if in_channels < 0:
            raise ValueError(f"'in_channels' must be non-negative (got {in_channels})")
        if out_vector_channels is None:
            out_vector_channels = vector_channels
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.vector_channels = vector_channels
        self.out_channels = out_channels
        self.out_vector_channels = out_vector_channels
        self.edge_dim = edge_dim
        self.update_pos = update_pos

        self.embedding = nn.Linear(max(in_channels, 1), hidden_channels)
        self.convs = nn.ModuleList([
            EGNNConv(hidden_channels, hidden_channels, vector_channels=vector_channels,
                     out_vector_channels=(out_vector_channels if layer == num_layers - 1
                                          else vector_channels),
                     hidden_channels=hidden_channels, edge_dim=edge_dim,
                     update_pos=update_pos, aggr=aggr, act=act, tanh=tanh,
                     residual=residual, normalize=normalize, **kwargs)
            for layer in range(num_layers)
        ])
        self.head = (nn.Linear(hidden_channels, out_channels)
                     if out_channels is not None else None)
        self.reset_parameters()

    @classmethod
    def from_nbody_protocol(cls, **kwargs) -> 'EGNN':
        r"""EGNN's n-body velocity model: ``in_channels=1`` (speeds), ``edge_dim=1``
        (charge products), :math:`V = 1` (velocities), 4 layers of width 64, positions
        updated, no :math:`\tanh`, no normalisation; train with Adam at learning rate
        ``EGNN.NBODY_PROTOCOL['lr']`` (:math:`5 \cdot 10^{-4}`). ``kwargs`` override."""
        settings = dict(in_channels=1, hidden_channels=64, num_layers=4,
                        vector_channels=1, edge_dim=1, update_pos=True, tanh=False,
                        normalize=False)
        settings.update(kwargs)
        return cls(**settings)

    def reset_parameters(self):
        self.embedding.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        if self.head is not None:
            self.head.reset_parameters()

    def forward(self, x: Optional[Tensor], pos: Tensor, edge_index: Tensor,
                vec: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None
                ) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Returns ``(h, pos, vec)`` of shapes :math:`(N, C)`, :math:`(N, 3)`,
        :math:`(N, V', 3)`; ``vec=None`` means zeros :math:`(N, V, 3)`."""
        if not input_is_checked():
            self._check_inputs(x, pos, edge_index, vec, edge_attr)
        if x is None:
            if self.in_channels > 0:
                raise GraphInputError(f"'x' of shape (N, {self.in_channels}) is required")
            x = pos.new_ones(pos.size(0), 1)
        elif self.in_channels == 0:
            x = pos.new_ones(x.size(0), 1)
        h = self.embedding(x if x.is_floating_point() else x.to(pos.dtype))
        if vec is None:
            vec = pos.new_zeros(pos.size(0), self.vector_channels, 3)
        for conv in self.convs:
            h, pos, vec = conv(h, pos, vec, edge_index, edge_attr)
        if self.head is not None:
            h = self.head(h)
        return h, pos, vec

    def _check_inputs(self, x: Optional[Tensor], pos: Tensor, edge_index: Tensor,
                      vec: Optional[Tensor], edge_attr: Optional[Tensor]):
        r"""Rows, widths, dtypes and finiteness of the inputs, and ``edge_index`` in
        range (:class:`~lps_geometric.utils.GraphInputError`)."""
        if not isinstance(pos, Tensor) or pos.dim() == 0:
            raise GraphInputError("'pos' must be a tensor of shape (N, 3)")
        N = x.size(0) if isinstance(x, Tensor) and x.dim() > 0 else pos.size(0)
        check_node_tensor('pos', pos, N, floating=True, width=3, dims=(2,))
        if x is not None:
            check_node_tensor('x', x, N, dims=(2,))
            if self.in_channels > 0 and x.size(1) != self.in_channels:
                raise GraphInputError(f'EGNN expects {self.in_channels} node feature '
                                      f"channels, 'x' has {x.size(1)}")
        if vec is not None:
            check_node_tensor('vec', vec, N, floating=True, width=3, dims=(3,))
        edge_index = check_edge_index(edge_index, N)
        if edge_attr is not None:
            check_node_tensor('edge_attr', edge_attr, edge_index.size(1), what='edges')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, '
                f'vector_channels={self.vector_channels}->{self.out_vector_channels})')
