r"""Models of the graph benchmarks (PATTERN, CLUSTER, LRGB): a symmetrized backbone on
categorical node and edge features, and PyG's GIN/GINE and GPS baselines, at the graph
level (graph classification and regression) or the node level (node classification,
node embeddings for link prediction)."""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP, GINConv, GINEConv, GPSConv, global_mean_pool

from lps_geometric.groups.symmetric import check_level
from lps_geometric.nn.backbones.adjacency_patch_transformer import AdjacencyPatchTransformer
from lps_geometric.nn.backbones.positional_gin import PositionalGIN
from lps_geometric.nn.symmetrize import Symmetrize
from lps_geometric.training.models import CategoricalEncoder

__all__ = ['SymmetrizedGraph', 'GNNBaseline', 'PE_KINDS']

#: Positional encodings of :class:`GNNBaseline` (``"none"``, random-walk structural
#: encodings, Laplacian eigenvectors).
PE_KINDS = ('none', 'rwse', 'lappe')


class SymmetrizedGraph(nn.Module):
    r"""A symmetrization method around a transformer (one token per node, the adjacency
    row with edge features as channels) or :class:`~lps_geometric.nn.PositionalGIN`,
    for graphs with categorical node features (and optionally edge features): the
    categories are embedded per node and per edge (permutation equivariant), then
    :meth:`Symmetrize.from_method <lps_geometric.nn.Symmetrize.from_method>` for
    :math:`S_n`.

    Args:
        node_dims (sequence of int): Categories of each column of ``x`` (a single
            column: ``x`` of shape :math:`(N,)` or :math:`(N, 1)`).
        out_channels (int): Outputs per graph (``level="graph"``) or per node.
        edge_dims (sequence of int, optional): Categories of each column of
            ``edge_attr``; :obj:`None`: no edge features. (default: :obj:`None`)
        level (str, optional): :obj:`"graph"` or :obj:`"node"`. (default:
            :obj:`"graph"`)
        method (str, optional): :obj:`"lps"`, :obj:`"ga"`, :obj:`"fa"`,
            :obj:`"mfa"`, :obj:`"canonical"` or :obj:`"none"` (the backbone alone).
            (default: :obj:`"lps"`)
        backbone (str, optional): :obj:`"transformer"` or :obj:`"gin"`.
        max_nodes (int): The largest graph.
        feature_dim (int): Width of the node and edge embeddings.
        embed_dim, depth, num_heads, dropout: The backbone's width, layers, heads
            (transformer) and dropout.
        num_samples, eval_num_samples (int): :math:`k` in training and evaluation.
        entropy_weight (float): LPS entropy regulariser.
        gin_norm (str): ``norm`` of :class:`~lps_geometric.nn.PositionalGIN`.
        tokens (str): The transformer's tokens: :obj:`"rows"` (one per node, its
            adjacency row) or :obj:`"patches"` (square patches of the adjacency image,
            :math:`\lceil n_{max} / 14 \rceil` wide: a 14 x 14 grid as a ViT-B/16
            sees a 224 x 224 image). (default: :obj:`"rows"`)

    Shapes:
        - **input:** a batch with ``x`` :math:`(|V|,)` or :math:`(|V|, F)` (long),
          ``edge_index``, optional ``edge_attr`` :math:`(|E|, F_e)` (long)
        - **output:** :math:`(B, \mathrm{out})` or :math:`(|V|, \mathrm{out})`
    """
    def __init__(self, node_dims: Sequence[int], out_channels: int,
                 edge_dims: Optional[Sequence[int]] = None, level: str = 'graph',
                 method: str = 'lps', backbone: str = 'transformer', max_nodes: int = 64,
                 feature_dim: int = 16, embed_dim: int = 64, depth: int = 4,
                 num_heads: int = 4, dropout: float = 0.1, num_samples: int = 1,
                 eval_num_samples: int = 10, entropy_weight: float = 0.1,
                 gin_norm: str = 'post', tokens: str = 'rows'):
        super().__init__()
        if backbone not in ('transformer', 'gin'):
            raise ValueError(f"'backbone' must be 'transformer' or 'gin' (got "
                             f"{backbone!r})")
        self.level = check_level(level)
        self.method = method
        self.node_encoder = CategoricalEncoder(node_dims, feature_dim)
        self.edge_encoder = CategoricalEncoder(edge_dims, feature_dim) if edge_dims \
            else None
        edge_dim = feature_dim if edge_dims else 0
        if backbone == 'transformer':
            network = AdjacencyPatchTransformer(
                feature_dim, out_channels, max_nodes=max_nodes, edge_dim=edge_dim,
                tokens=tokens, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                dropout=dropout, level=level)
        else:
            network = PositionalGIN(feature_dim, out_channels, max_nodes=max_nodes,
                                    hidden_channels=embed_dim, num_layers=depth,
                                    edge_dim=edge_dim, dropout=dropout, level=level,
                                    norm=gin_norm)
        if method == 'none':
            self.model = network
        else:
            sampler_kwargs = dict(edge_dim=edge_dim) if method in ('lps', 'canonical') \
                and edge_dim else {}
            self.model = Symmetrize.from_method(
                network, method, 'S_n', in_channels=feature_dim,
                sampler_kwargs=sampler_kwargs, num_samples=num_samples,
                eval_num_samples=eval_num_samples, entropy_weight=entropy_weight,
                level=level)

    def reset_parameters(self):
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    def forward(self, data: Data) -> Tensor:
        data = data.clone()
        data.x = self.node_encoder(data.x)
        if self.edge_encoder is not None:
            data.edge_attr = self.edge_encoder(data.edge_attr)
        else:
            data.edge_attr = None
        return self.model(data)

    def regularization_loss(self) -> Tensor:
        if isinstance(self.model, Symmetrize):
            return self.model.regularization_loss()
        return torch.zeros((), device=self.node_encoder.embeddings[0].weight.device)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(method={self.method}, level={self.level}, '
                f'model={self.model.__class__.__name__})')


class GNNBaseline(nn.Module):
    r"""PyG's GIN (GINE with edge features) or GPS baseline on categorical features.

    ``conv="gin"``: ``num_layers`` :class:`~torch_geometric.nn.GINConv` (or
    :class:`~torch_geometric.nn.GINEConv`) layers with a two-layer MLP, batch norm,
    ReLU, dropout and a residual connection. ``conv="gps"``:
    :class:`~torch_geometric.nn.GPSConv` layers (the GIN/GINE layer as local message
    passing plus multi-head attention over each graph, Rampášek et al., 2022). Either
    reads a positional encoding concatenated to the node embedding:
    ``pe="rwse"`` the random-walk return probabilities ``data.random_walk_pe``
    :math:`(|V|, w)` (:class:`torch_geometric.transforms.AddRandomWalkPE`),
    ``pe="lappe"`` Laplacian eigenvectors ``data.laplacian_eigenvector_pe``
    :math:`(|V|, k)` (:class:`torch_geometric.transforms.AddLaplacianEigenvectorPE`),
    with their signs flipped at random per graph in training. Then mean pooling and an
    MLP head (graph level), or the MLP head per node.

    Args:
        node_dims (sequence of int): Categories of the columns of ``x``.
        out_channels (int): Outputs per graph or per node.
        edge_dims (sequence of int, optional): Categories of the columns of
            ``edge_attr`` (GINE); :obj:`None`: GIN. (default: :obj:`None`)
        conv (str, optional): :obj:`"gin"` or :obj:`"gps"`. (default: :obj:`"gin"`)
        level (str, optional): :obj:`"graph"` or :obj:`"node"`.
        hidden_channels (int): Width. (default: :obj:`64`)
        num_layers (int): Layers. (default: :obj:`4`)
        heads (int): Attention heads of GPS. (default: :obj:`4`)
        dropout (float): Dropout. (default: :obj:`0.0`)
        pe (str): :obj:`"none"`, :obj:`"rwse"` or :obj:`"lappe"`. (default:
            :obj:`"none"`)
        pe_dim (int): Channels of the encoding as read from the data (walk length,
            number of eigenvectors). (default: :obj:`16`)
        pe_embed (int, optional): Width the encoding is embedded to. (default:
            :obj:`min(16, hidden_channels // 4)`)
    """
    def __init__(self, node_dims: Sequence[int], out_channels: int,
                 edge_dims: Optional[Sequence[int]] = None, conv: str = 'gin',
                 level: str = 'graph', hidden_channels: int = 64, num_layers: int = 4,
                 heads: int = 4, dropout: float = 0.0, pe: str = 'none', pe_dim: int = 16,
                 pe_embed: Optional[int] = None):
        super().__init__()
        if pe_embed is None:
            pe_embed = max(1, min(16, hidden_channels // 4))
        if conv not in ('gin', 'gps'):
            raise ValueError(f"'conv' must be 'gin' or 'gps' (got {conv!r})")
        if pe not in PE_KINDS:
            raise ValueError(f"'pe' must be one of {PE_KINDS} (got {pe!r})")
        if conv == 'gps' and hidden_channels % heads:
            raise ValueError(f"GPS needs 'hidden_channels' ({hidden_channels}) to be a "
                             f"multiple of 'heads' ({heads})")
        if pe != 'none' and pe_embed >= hidden_channels:
            raise ValueError(f"'pe_embed' ({pe_embed}) must be smaller than "
                             f"'hidden_channels' ({hidden_channels})")
        self.conv, self.level, self.pe, self.dropout = conv, check_level(level), pe, dropout
        self.pe_dim = pe_dim
        width = hidden_channels - (pe_embed if pe != 'none' else 0)
        self.node_encoder = CategoricalEncoder(node_dims, width)
        self.pe_encoder = None
        if pe != 'none':
            self.pe_norm = nn.BatchNorm1d(pe_dim)
            self.pe_encoder = nn.Linear(pe_dim, pe_embed)
        self.edge_encoders = nn.ModuleList(
            [CategoricalEncoder(edge_dims, hidden_channels) for _ in range(num_layers)]
        ) if edge_dims else None
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            mlp = MLP([hidden_channels, 2 * hidden_channels, hidden_channels],
                      norm='batch_norm')
            local = GINEConv(mlp, train_eps=True) if edge_dims else \
                GINConv(mlp, train_eps=True)
            if conv == 'gps':
                self.layers.append(GPSConv(hidden_channels, local, heads=heads,
                                           dropout=dropout))
            else:
                self.layers.append(local)
                self.norms.append(nn.BatchNorm1d(hidden_channels))
        self.head = MLP([hidden_channels, hidden_channels, out_channels], norm=None)

    def reset_parameters(self):
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    def _encoding(self, data: Data) -> Tensor:
        key = 'random_walk_pe' if self.pe == 'rwse' else 'laplacian_eigenvector_pe'
        pe = getattr(data, key, None)
        if pe is None or pe.dim() != 2 or pe.size(1) != self.pe_dim:
            raise ValueError(f"pe='{self.pe}' reads data.{key} of shape (N, "
                             f"{self.pe_dim}) (got "
                             f"{None if pe is None else tuple(pe.shape)}): add "
                             f"{'AddRandomWalkPE' if self.pe == 'rwse' else 'AddLaplacianEigenvectorPE'}"
                             f"({self.pe_dim}) to the dataset's transform")
        pe = pe.float()
        if self.pe == 'lappe' and self.training:    # eigenvectors' signs are arbitrary
            batch = data.batch if data.batch is not None else \
                torch.zeros(pe.size(0), dtype=torch.long, device=pe.device)
            num_graphs = int(data.num_graphs) if hasattr(data, 'num_graphs') else 1
            sign = torch.randint(0, 2, (num_graphs, self.pe_dim), device=pe.device
                                 ) * 2 - 1
            pe = pe * sign[batch]
        return self.pe_encoder(self.pe_norm(pe))

    def forward(self, data: Data) -> Tensor:
        h = self.node_encoder(data.x)
        if self.pe_encoder is not None:
            h = torch.cat([h, self._encoding(data)], dim=-1)
        batch = data.batch if data.batch is not None else \
            torch.zeros(h.size(0), dtype=torch.long, device=h.device)
        for i, layer in enumerate(self.layers):
            kwargs = {}
            if self.edge_encoders is not None:
                kwargs['edge_attr'] = self.edge_encoders[i](data.edge_attr)
            if self.conv == 'gps':
                h = layer(h, data.edge_index, batch, **kwargs)
            else:
                out = self.norms[i](layer(h, data.edge_index, **kwargs)).relu()
                h = h + nn.functional.dropout(out, self.dropout, self.training)
        if self.level == 'graph':
            h = global_mean_pool(h, batch)
        return self.head(h)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(conv={self.conv}, layers={len(self.layers)}, '
                f'level={self.level}, pe={self.pe})')
