r"""An MLP on the flattened adjacency image: the simplest non-equivariant backbone."""
from typing import List, Optional

from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP

from lps_geometric.nn.capabilities import BackboneCapabilities
from lps_geometric.nn.relaxed_graph import to_dense_image
from lps_geometric.utils.batch import to_ptr_batch
from lps_geometric.utils.validation import (check_graph_size, input_is_checked,
                                           validate_graph_batch)

__all__ = ['AdjacencyMLP']


class AdjacencyMLP(nn.Module):
    r"""An MLP on the flattened :math:`n_{\max} \times n_{\max}` adjacency image (edge
    features as channels, node features on the diagonal), zero-padded to ``max_nodes``,
    the backbone the LPS paper uses for graph separation.

    .. math::
        f(G) = \mathrm{MLP}\big(\mathrm{vec}(A_{\le n_{\max}})\big)

    It sees node :math:`i` as position :math:`i`, so it is not permutation invariant; wrap
    it in :class:`~lps_geometric.nn.Symmetrize`. The relaxed image carries the sampler's
    straight-through gradient. :math:`O(B n_{\max}^2)` memory, for small graphs.

    Args:
        in_channels (int): Node feature size (:obj:`0` for none).
        out_channels (int): Output size.
        max_nodes (int): Image size :math:`n_{\max}`.
        hidden_channels (list of int, optional): Hidden layer widths.
            (default: :obj:`[256, 256]`)
        edge_dim (int, optional): Edge feature size. (default: :obj:`0`)
        act (str, optional): Activation. (default: :obj:`"relu"`)
        dropout (float, optional): Dropout. (default: :obj:`0.0`)

    Shapes:
        - **input:** a canonically ordered ``Batch``
        - **output:** :math:`(B, \mathrm{out})`
    """
    level = 'graph'

    def __init__(self, in_channels: int, out_channels: int, max_nodes: int,
                 hidden_channels: List[int] = (256, 256), edge_dim: int = 0,
                 act: str = 'relu', dropout: float = 0.0):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.max_nodes = max_nodes
        self.edge_dim = edge_dim
        channels = 1 + edge_dim + in_channels
        self.mlp = MLP([max_nodes * max_nodes * channels, *hidden_channels, out_channels],
                       act=act, dropout=dropout, norm=None)
        self.reset_parameters()

    def reset_parameters(self):
        self.mlp.reset_parameters()

    @property
    def capabilities(self) -> BackboneCapabilities:
        return BackboneCapabilities(level='graph', max_nodes=self.max_nodes,
                                    in_channels=self.in_channels or None,
                                    edge_dim=self.edge_dim or None, reads_band=True)

    def forward(self, data: Data, band: Optional[Tensor] = None) -> Tensor:
        validate_graph_batch(data, max_nodes=self.max_nodes, node_channels=self.in_channels,
                             edge_channels=self.edge_dim)
        if input_is_checked():   # else validate_graph_batch checked the size
            check_graph_size(to_ptr_batch(data)[1], self.max_nodes)
        image = to_dense_image(data, self.max_nodes, self.edge_dim, self.in_channels,
                               dtype=self.mlp.lins[0].weight.dtype, band=band)
        return self.mlp(image.flatten(1))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'max_nodes={self.max_nodes}, edge_dim={self.edge_dim})')
