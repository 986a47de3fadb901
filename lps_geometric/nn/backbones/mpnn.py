r"""A plain message-passing backbone: permutation-equivariant, not E(3)-equivariant."""
from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP, MessagePassing, global_add_pool, global_mean_pool

from lps_geometric.groups.symmetric import check_level
from lps_geometric.nn.capabilities import BackboneCapabilities
from lps_geometric.utils.batch import to_ptr_batch
from lps_geometric.utils.validation import GraphInputError, validate_graph_batch

__all__ = ['MPNN', 'MPNNLayer']


class MPNNLayer(MessagePassing):
    r"""One residual message-passing layer with edge features,

    .. math::
        m_{ji} = \phi_m\left([\, h_i \,\|\, h_j \,\|\, e_{ji} \,]\right), \qquad
        h_i' = h_i + \phi_h\left([\, h_i \,\|\, \textstyle\bigoplus_{j \to i} m_{ji}
        \,]\right),

    with two-layer MLPs :math:`\phi_m, \phi_h` and :math:`\bigoplus` a sum or a mean
    over the incoming edges (:math:`j` = ``edge_index[0]``, :math:`i` =
    ``edge_index[1]``). A node without incoming edges receives a zero message. With
    ``norm=True`` every hidden layer of the MLPs is layer-normalised (after the linear
    map, before the activation); ``dropout`` acts after every hidden activation and on
    the residual branch :math:`\phi_h(\cdot)` (training only).

    Args:
        channels (int): Width of :math:`h`.
        edge_dim (int, optional): Width of :math:`e` (:obj:`0`: none). (default: :obj:`0`)
        aggr (str, optional): :obj:`"add"` or :obj:`"mean"`. (default: :obj:`"add"`)
        act (str, optional): Activation of the MLPs. (default: :obj:`"silu"`)
        norm (bool, optional): Layer norm in the MLPs. (default: :obj:`False`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.0`)
    """
    def __init__(self, channels: int, edge_dim: int = 0, aggr: str = 'add',
                 act: str = 'silu', norm: bool = False, dropout: float = 0.0):
        super().__init__(aggr=aggr)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1) (got {dropout})")
        self.channels = channels
        self.edge_dim = edge_dim
        self.norm = norm
        self.dropout = dropout
        # per-row layer norm: PyG's default 'graph' mode would normalise across all the
        # nodes of the batch and couple graphs (and the symmetrization's samples)
        layer_norm = dict(norm='layer_norm', norm_kwargs=dict(mode='node')) if norm \
            else dict(norm=None)
        self.message_mlp = MLP([2 * channels + edge_dim, channels, channels], act=act,
                               dropout=dropout, plain_last=False, **layer_norm)
        self.update_mlp = MLP([2 * channels, channels, channels], act=act,
                              dropout=dropout, **layer_norm)

    def reset_parameters(self):
        super().reset_parameters()
        self.message_mlp.reset_parameters()
        self.update_mlp.reset_parameters()

    def forward(self, h: Tensor, edge_index: Tensor,
                edge_attr: Optional[Tensor] = None) -> Tensor:
        aggregated = self.propagate(edge_index, h=h, edge_attr=edge_attr)
        update = self.update_mlp(torch.cat([h, aggregated], dim=-1))
        return h + nn.functional.dropout(update, self.dropout, self.training)

    def message(self, h_i: Tensor, h_j: Tensor, edge_attr: Optional[Tensor]) -> Tensor:
        parts = [h_i, h_j] if edge_attr is None else [h_i, h_j, edge_attr]
        return self.message_mlp(torch.cat(parts, dim=-1))

    def __repr__(self) -> str:
        extra = (', norm=True' if self.norm else '') + \
            (f', dropout={self.dropout}' if self.dropout else '')
        return (f'{self.__class__.__name__}({self.channels}, edge_dim={self.edge_dim}, '
                f'aggr={self.aggr}{extra})')


class MPNN(nn.Module):
    r"""A message-passing network over node and edge features (Gilmer et al., 2017),
    the "GNN" baseline of the EGNN paper: an embedding :math:`h^{(0)} = W x`, :math:`L`
    residual :class:`MPNNLayer` s, and a two-layer MLP head per node (node level) or on
    the pooled nodes (graph level).

    It is permutation-equivariant by construction but reads coordinates as plain
    features, so it is **not** E(3)-equivariant: symmetrize it over the Euclidean group
    only (:class:`~lps_geometric.samplers.UniformRotationSampler` for group averaging,
    :class:`~lps_geometric.samplers.EuclideanFrameSampler` for LPS or
    canonicalization, :class:`~lps_geometric.frames.PCAFrameSampler` for frame
    averaging) and the result is exactly :math:`S_n \times E(3)`-equivariant, with no
    permutation to sample. Wrap it in
    :class:`~lps_geometric.nn.ConcatNodeFeatures` and
    :class:`~lps_geometric.nn.ConcatEdgeGeometry` to feed it positions, velocities and
    pair geometry. Cost :math:`O(|E| d^2 + |V| d^2)` per layer, no dense matrix.

    Args:
        in_channels (int): Node feature width (``data.x``).
        out_channels (int): Output width.
        hidden_channels (int, optional): Width :math:`d`. (default: :obj:`64`)
        num_layers (int, optional): Message-passing layers :math:`L`. (default: :obj:`4`)
        edge_dim (int, optional): Edge feature width (``data.edge_attr``; :obj:`0`:
            none). (default: :obj:`0`)
        aggr (str, optional): :obj:`"add"` or :obj:`"mean"` over incoming edges.
            (default: :obj:`"add"`)
        act (str, optional): Activation. (default: :obj:`"silu"`)
        level (str, optional): :obj:`"node"` or :obj:`"graph"` (sum pooling with
            ``aggr="add"``, mean pooling with ``aggr="mean"``). (default: :obj:`"node"`)
        norm (bool, optional): Layer norm inside every layer's MLPs (see
            :class:`MPNNLayer`). (default: :obj:`False`)
        dropout (float, optional): Dropout inside every layer (see
            :class:`MPNNLayer`). (default: :obj:`0.0`)

    Shapes:
        - **input:** a ``Data``/``Batch`` with ``x`` :math:`(|V|, F)`, ``edge_index``
          :math:`(2, |E|)` and, if ``edge_dim > 0``, ``edge_attr`` :math:`(|E|, C_e)`
        - **output:** :math:`(|V|, \mathrm{out})` or :math:`(B, \mathrm{out})`
    """
    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 64,
                 num_layers: int = 4, edge_dim: int = 0, aggr: str = 'add',
                 act: str = 'silu', level: str = 'node', norm: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        if in_channels < 1 or out_channels < 1 or hidden_channels < 1 or num_layers < 1:
            raise ValueError('in_channels, out_channels, hidden_channels and num_layers '
                             'must be positive')
        if edge_dim < 0:
            raise ValueError(f"'edge_dim' must be non-negative (got {edge_dim})")
        if aggr not in ('add', 'mean'):
            raise ValueError(f"'aggr' must be 'add' or 'mean' (got '{aggr}')")
        check_level(level)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.edge_dim = edge_dim
        self.aggr = aggr
        self.level = level
        self.norm = norm
        self.dropout = dropout
        self.embed = nn.Linear(in_channels, hidden_channels)
        self.layers = nn.ModuleList([MPNNLayer(hidden_channels, edge_dim, aggr, act, norm,
                                               dropout) for _ in range(num_layers)])
        self.head = MLP([hidden_channels, hidden_channels, out_channels], act=act,
                        norm=None)

    def reset_parameters(self):
        self.embed.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        self.head.reset_parameters()

    @property
    def capabilities(self) -> BackboneCapabilities:
        return BackboneCapabilities(level=self.level, in_channels=self.in_channels or None,
                                    edge_dim=self.edge_dim or None)

    def forward(self, data: Data) -> Tensor:
        validate_graph_batch(data)
        x = getattr(data, 'x', None)
        if x is None or x.dim() != 2 or x.size(-1) != self.in_channels:
            got = 'none' if x is None else tuple(x.shape)
            raise GraphInputError(f'MPNN expects node features x of shape (|V|, '
                                  f'{self.in_channels}) (got {got})')
        edge_attr = None
        if self.edge_dim > 0:
            edge_attr = getattr(data, 'edge_attr', None)
            if edge_attr is None or edge_attr.size(-1) != self.edge_dim or \
                    edge_attr.size(0) != data.edge_index.size(1):
                got = 'none' if edge_attr is None else tuple(edge_attr.shape)
                raise GraphInputError(f'MPNN expects edge features edge_attr of shape '
                                      f'(|E|, {self.edge_dim}) (got {got} for |E| = '
                                      f'{data.edge_index.size(1)})')
        h = self.embed(x if x.is_floating_point() else x.to(self.embed.weight.dtype))
        if edge_attr is not None:
            edge_attr = edge_attr.to(h.dtype)
        for layer in self.layers:
            h = layer(h, data.edge_index, edge_attr)
        if self.level == 'graph':
            batch, _, num_graphs = to_ptr_batch(data)
            pool = global_add_pool if self.aggr == 'add' else global_mean_pool
            h = pool(h, batch, size=num_graphs)
        return self.head(h)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, '
                f'edge_dim={self.edge_dim}, aggr={self.aggr}, level={self.level}'
                + (', norm=True' if self.norm else '')
                + (f', dropout={self.dropout})' if self.dropout else ')'))
