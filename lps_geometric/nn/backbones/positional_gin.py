r"""A message-passing backbone that reads every node's position in the sampled order."""
from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP, GINConv, GINEConv, global_add_pool

from lps_geometric.groups.symmetric import check_level
from lps_geometric.nn.capabilities import BackboneCapabilities
from lps_geometric.utils.batch import to_ptr_batch
from lps_geometric.utils.sparse import NeighborSum, gin_update
from lps_geometric.utils.validation import (check_graph_size, input_is_checked,
                                           validate_graph_batch)

from .position_encoding import position_codes, position_table

__all__ = ['PositionalGIN', 'position_table']


class PositionalGIN(nn.Module):
    r"""GIN whose nodes also read their position in the (sampled) node order: a sparse,
    deliberately order-dependent backbone for :class:`~lps_geometric.nn.Symmetrize`.

    Node :math:`v` at position :math:`i_v` of its graph starts from

    .. math::
        h_v^{(0)} = W_x x_v + E_{i_v},

    where :math:`E \in \mathbb{R}^{n_{\max} \times d}` is a table of position codes
    (learned, fixed random or sinusoidal). :math:`L` GIN (GINE with edge features)
    layers with residual connections and layer norm follow, either *post-norm*
    (``norm="post"``, the default)

    .. math::
        h^{(l+1)} = \mathrm{LN}\left(h^{(l)} + \mathrm{ReLU}(\mathrm{GIN}(h^{(l)}))\right)

    or *pre-norm* (``norm="pre"``)

    .. math::
        h^{(l+1)} = h^{(l)} + \mathrm{GIN}(\mathrm{LN}(h^{(l)})),

    or post-norm with batch norm (``norm="batch"``): :math:`\mathrm{BN}` in place of
    :math:`\mathrm{LN}` in the post-norm layer, normalising every channel over all the
    nodes of the batch (running statistics in evaluation), as in the original GIN. A
    layer norm acts on each node alone and cannot remove an offset that all nodes
    share; batch norm removes it by construction. Its statistics are sums over nodes,
    so the symmetrized model stays invariant in training mode too (a graph's output
    then depends on the rest of its batch, as with any batch norm).

    Then sum pooling, a layer norm and an MLP head (graph level), or the MLP head per
    node (node level). The norm after pooling keeps the head's inputs at unit scale
    whatever the graph size: a sum over :math:`n` nodes grows with :math:`n`, and
    inputs of that scale can drive every ReLU of the head negative, so that the
    output is constant.

    Pre-norm keeps an identity path from the position codes to the pooling. Deep
    post-norm stacks can *collapse* the node features: their spread over the nodes can
    shrink from layer to layer until the pooled features, and so the output, are
    nearly the same for every graph. A layer norm acts on each node alone and cannot
    undo this; batch norm (``norm="batch"``) subtracts the per-channel mean over the
    nodes of the batch in every layer and rescales what is left to unit variance.

    Without the position term this would be a 1-WL GNN; with it, the model tells every
    node apart, so it is not permutation invariant on its own. Symmetrized over node
    orders it becomes invariant and more expressive than 1-WL: with uniform orders this
    is relational pooling with a GIN (Murphy et al., 2019); with a learned distribution
    it is LPS with a message-passing backbone. Cost :math:`O(|E| d + |V| d^2)` per layer:
    no dense matrix anywhere.

    In training, :class:`~lps_geometric.nn.Symmetrize` passes ``band``
    :math:`\tilde P \in \mathbb{R}^{|V| \times (2w+1)}` (one-hot forward, relaxed
    backward); the position code is then read as
    :math:`\sum_m \tilde P_{v,m} E_{i_v + m - w}`, whose forward value is :math:`E_{i_v}`
    and whose gradient reaches the sampler.

    Args:
        in_channels (int): Node feature size (:obj:`0`: no node features).
        out_channels (int): Output size.
        max_nodes (int): Largest graph the model accepts (rows of :math:`E`).
        hidden_channels (int, optional): Width :math:`d`. (default: :obj:`64`)
        num_layers (int, optional): GIN layers :math:`L`. (default: :obj:`4`)
        edge_dim (int, optional): Edge feature size; GINE when positive.
            (default: :obj:`0`)
        positions (str, optional): :obj:`"learned"`, :obj:`"random"` (fixed Gaussian
            codes) or :obj:`"sinusoidal"`. (default: :obj:`"learned"`)
        dropout (float, optional): Dropout after every layer. (default: :obj:`0.0`)
        norm (str, optional): :obj:`"post"` or :obj:`"pre"` layer norm, or
            :obj:`"batch"` (post-norm with batch norm; see above; a training batch
            then needs at least two nodes). (default: :obj:`"post"`)
        level (str, optional): :obj:`"graph"` or :obj:`"node"`. (default: :obj:`"graph"`)

    Shapes:
        - **input:** a ``Batch`` in the sampled order with ``x`` :math:`(|V|, F)`,
          ``edge_index`` :math:`(2, |E|)`, optional ``edge_attr`` :math:`(|E|, C_e)`;
          optional ``band`` :math:`(|V|, 2w+1)` (keyword argument)
        - **output:** :math:`(B, \mathrm{out})` or :math:`(|V|, \mathrm{out})`
    """
    NORMS = ('post', 'pre', 'batch')

    def __init__(self, in_channels: int, out_channels: int, max_nodes: int,
                 hidden_channels: int = 64, num_layers: int = 4, edge_dim: int = 0,
                 positions: str = 'learned', dropout: float = 0.0,
                 level: str = 'graph', norm: str = 'post'):
        super().__init__()
        if max_nodes < 1 or num_layers < 1 or hidden_channels < 1:
            raise ValueError('max_nodes, num_layers and hidden_channels must be positive')
        if norm not in self.NORMS:
            raise ValueError(f"'norm' must be one of {self.NORMS} (got '{norm}')")
        self.norm = norm
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.max_nodes = max_nodes
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.edge_dim = edge_dim
        self.positions = positions
        self.dropout = dropout
        self.level = check_level(level)

        if positions == 'learned':
            self.position = nn.Parameter(torch.empty(max_nodes, hidden_channels))
        else:
            self.register_buffer('position',
                                 position_table(max_nodes, hidden_channels, positions))
        self.encoder = (nn.Linear(in_channels, hidden_channels)
                        if in_channels > 0 else None)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            mlp = MLP([hidden_channels, hidden_channels, hidden_channels], norm=None)
            self.convs.append(GINEConv(mlp, train_eps=True, edge_dim=edge_dim)
                              if edge_dim > 0 else GINConv(mlp, train_eps=True))
            self.norms.append(nn.BatchNorm1d(hidden_channels) if norm == 'batch'
                              else nn.LayerNorm(hidden_channels))
        self.pool_norm = nn.LayerNorm(hidden_channels) if level == 'graph' else None
        # pre-norm leaves the residual stream unnormalised: one norm before a node head
        self.final_norm = (nn.LayerNorm(hidden_channels)
                           if norm == 'pre' and level == 'node' else None)
        self.head = MLP([hidden_channels, hidden_channels, out_channels], norm=None)
        self.reset_parameters()

    def reset_parameters(self):
        if isinstance(self.position, nn.Parameter):
            nn.init.normal_(self.position)
        if self.encoder is not None:
            self.encoder.reset_parameters()
        for conv, norm in zip(self.convs, self.norms):
            conv.reset_parameters()
            norm.reset_parameters()
        if self.pool_norm is not None:
            self.pool_norm.reset_parameters()
        if self.final_norm is not None:
            self.final_norm.reset_parameters()
        self.head.reset_parameters()

    def position_codes(self, batch: Tensor, ptr: Tensor,
                       band: Optional[Tensor] = None) -> Tensor:
        r"""Position codes :obj:`(|V|, d)` of the nodes, through the relaxed band if
        given (:func:`~lps_geometric.nn.backbones.position_encoding.position_codes`)."""
        return position_codes(self.position, batch, ptr, band)

    @property
    def capabilities(self) -> BackboneCapabilities:
        return BackboneCapabilities(level=self.level, max_nodes=self.max_nodes,
                                    in_channels=self.in_channels or None,
                                    edge_dim=self.edge_dim or None, reads_band=True)

    def forward(self, data: Data, band: Optional[Tensor] = None) -> Tensor:
        validate_graph_batch(data, max_nodes=self.max_nodes, node_channels=self.in_channels,
                             edge_channels=self.edge_dim)
        batch, ptr, B = to_ptr_batch(data)
        if input_is_checked():   # else validate_graph_batch checked the size
            check_graph_size(ptr, self.max_nodes)
        h = self.position_codes(batch, ptr, band)
        needed = [('x', self.encoder is not None), ('edge_attr', self.edge_dim > 0)]
        for name, reads in needed:
            if reads and getattr(data, name, None) is None:
                raise ValueError(f"PositionalGIN was built to read '{name}', which the "
                                 f"data does not have")
        if self.encoder is not None:
            h = h + self.encoder(data.x.to(h.dtype).view(h.size(0), -1))
        edge_attr = None
        if self.edge_dim > 0:
            edge_attr = data.edge_attr.to(h.dtype).view(-1, self.edge_dim)
        extra = () if edge_attr is None else (edge_attr,)
        if self.norm == 'batch' and self.training and h.size(0) < 2:
            raise ValueError(f"PositionalGIN(norm='batch') needs at least two nodes in a "
                             f"training batch for its batch statistics (got {h.size(0)})")
        # Without edge features, GIN sums neighbours with CSR products built once.
        neighbor_sum = None if self.edge_dim > 0 else \
            NeighborSum(data.edge_index, h.size(0), h.dtype)

        def gin(conv, value):
            if neighbor_sum is None:
                return conv(value, data.edge_index, *extra)
            return gin_update(conv, value, neighbor_sum)

        for conv, norm in zip(self.convs, self.norms):
            if self.norm == 'pre':      # h + GIN(LN(h))
                out = gin(conv, norm(h))
                h = h + nn.functional.dropout(out, self.dropout, self.training)
            else:                       # LN or BN of h + ReLU(GIN(h))
                out = torch.relu(gin(conv, h))
                h = norm(h + nn.functional.dropout(out, self.dropout, self.training))
        if self.level == 'graph':
            h = self.pool_norm(global_add_pool(h, batch, size=B))
        elif self.final_norm is not None:
            h = self.final_norm(h)
        return self.head(h)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'max_nodes={self.max_nodes}, hidden_channels={self.hidden_channels}, '
                f'num_layers={self.num_layers}, edge_dim={self.edge_dim}, '
                f'positions={self.positions}, norm={self.norm}, level={self.level})')
