r"""A plain transformer that reads a graph as an image: patches of its adjacency matrix."""
import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_batch

from lps_geometric.nn.capabilities import BackboneCapabilities
from lps_geometric.nn.patch_embedding import AdjacencyPatchEmbedding
from lps_geometric.nn.transformer import TransformerEncoder
from lps_geometric.utils.batch import local_index, to_ptr_batch
from lps_geometric.utils.validation import (check_graph_size, input_is_checked,
                                           validate_graph_batch)

__all__ = ['AdjacencyPatchTransformer']


class AdjacencyPatchTransformer(nn.Module):
    r"""A ViT over :math:`p \times p` patches of the adjacency image of a graph whose node
    order is meaningful (the backbone :math:`f` of symmetrization, from Kim et al.,
    `"Learning Probabilistic Symmetrization for Architecture Agnostic Equivariance"
    <https://arxiv.org/abs/2306.02866>`_).

    The graph is the image :math:`A \in \mathbb{R}^{n \times n \times (1 + C_e)}` (adjacency
    channel plus edge features, node features on the diagonal), cut into a
    :math:`\lceil n / p_h \rceil \times \lceil n / p_w \rceil` grid of patches. Tokens are
    computed from the edge list (:class:`~lps_geometric.nn.AdjacencyPatchEmbedding`), get a
    learned 2-D position embedding and a class token, and run through a pre-LN transformer.
    Graphs of different sizes share a batch through a key padding mask.

    This model is *not* permutation invariant by itself: it reads node :math:`i` of every
    graph as position :math:`i`. Wrap it in :class:`~lps_geometric.nn.Symmetrize`.

    Args:
        in_channels (int): Node feature size (:obj:`0`: no node features).
        out_channels (int): Output size.
        max_nodes (int): Largest graph the model accepts (sets the position grid).
        edge_dim (int, optional): Edge feature size. (default: :obj:`0`)
        patch_size (int or (int, int), optional): Patch shape. (default: square patches
            with a :math:`14 \times 14` grid for ``max_nodes``, i.e.
            :math:`\lceil \mathrm{max\_nodes} / 14 \rceil`)
        tokens (str, optional): :obj:`"patches"` (square patches) or :obj:`"rows"` (one
            token per node: patch :math:`(1, \mathrm{max\_nodes})`, the 1-D variant).
            (default: :obj:`"patches"`)
        embed_dim (int, optional): Token width. (default: :obj:`192`)
        depth (int, optional): Transformer blocks. (default: :obj:`4`)
        num_heads (int, optional): Attention heads. (default: :obj:`3`)
        mlp_ratio (float, optional): MLP width over ``embed_dim``. (default: :obj:`4.0`)
        dropout (float, optional): Dropout. (default: :obj:`0.0`)
        attn_dropout (float, optional): Attention dropout. (default: :obj:`0.0`)
        level (str, optional): :obj:`"graph"` (class token) or :obj:`"node"` (node
            :math:`i` is read from the diagonal token holding pixel :math:`(i, i)`, slot
            :math:`i \bmod p_h`). (default: :obj:`"graph"`)

    Shapes:
        - **input:** a :class:`~torch_geometric.data.Data`/``Batch`` with ``x``
          :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)`, optional ``edge_attr``
          :math:`(|E|, C_e)`, ``batch``; optional ``band`` :math:`(|V|, 2w+1)`
          (keyword argument: straight-through weights that
          :class:`~lps_geometric.nn.Symmetrize` passes in training)
        - **output:** :math:`(B, \mathrm{out})` or :math:`(|V|, \mathrm{out})`
    """
    def __init__(self, in_channels: int, out_channels: int, max_nodes: int,
                 edge_dim: int = 0, patch_size: Optional[Union[int, Tuple[int,
                                                                         int]]] = None,
                 tokens: str = 'patches', embed_dim: int = 192, depth: int = 4,
                 num_heads: int = 3, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 attn_dropout: float = 0.0, level: str = 'graph'):
        super().__init__()
        if max_nodes < 1:
            raise ValueError(f"'max_nodes' must be positive (got {max_nodes})")
        if level not in ('graph', 'node'):
            raise ValueError(f"'level' must be 'graph' or 'node' (got '{level}')")
        if tokens == 'rows':
            if patch_size is not None:
                raise ValueError("'patch_size' is implied by tokens='rows'")
            patch_size = (1, max_nodes)
        elif tokens == 'patches':
            if patch_size is None:
                patch_size = math.ceil(max_nodes / 14)
            if isinstance(patch_size, int):
                patch_size = (patch_size, patch_size)
        else:
            raise ValueError(f"'tokens' must be 'patches' or 'rows' (got '{tokens}')")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.max_nodes = max_nodes
        self.edge_dim = edge_dim
        self.tokens = tokens
        self.level = level
        self.embed_dim = embed_dim
        ph, pw = patch_size
        self.patch_size = (ph, pw)
        self.grid_size = (math.ceil(max_nodes / ph), math.ceil(max_nodes / pw))

        self.patch_embed = AdjacencyPatchEmbedding(in_channels, edge_dim, embed_dim,
                                                   self.patch_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        self.cls_token = nn.Parameter(torch.empty(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.empty(1, 1 + num_patches, embed_dim))
        self.encoder = TransformerEncoder(embed_dim, depth, num_heads, mlp_ratio,
                                          dropout, attn_dropout)
        head_out = out_channels * (ph if level == 'node' else 1)
        self.head = nn.Linear(embed_dim, head_out)
        self.reset_parameters()

    def reset_parameters(self):
        self.patch_embed.reset_parameters()
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.encoder.reset_parameters()
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

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
        x = data.x if self.in_channels > 0 else None
        tokens, grid = self.patch_embed(x, data.edge_index,
                                        getattr(data, 'edge_attr', None), batch, ptr,
                                        band)
        grid_pos = grid.grid_position(self.grid_size[1])
        tokens = tokens + self.pos_embed[0, 1 + grid_pos]
        tokens, mask = to_dense_batch(tokens, grid.token_batch, batch_size=B)
        cls = (self.cls_token[0] + self.pos_embed[0, :1]).expand(B, 1, -1)
        tokens = torch.cat([cls, tokens], dim=1)
        mask = torch.cat([mask.new_ones(B, 1), mask], dim=1)
        out = self.encoder(tokens, mask)

        if self.level == 'graph':
            return self.head(out[:, 0])
        ph, pw = self.patch_size
        pos = local_index(batch, ptr)
        local = (torch.div(pos, ph, rounding_mode='floor') * grid.grid_w[batch]
                 + torch.div(pos, pw, rounding_mode='floor'))
        node_out = self.head(out[batch, 1 + local]).view(-1, ph, self.out_channels)
        return node_out[torch.arange(pos.numel(), device=pos.device), pos % ph]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'max_nodes={self.max_nodes}, edge_dim={self.edge_dim}, '
                f'patch_size={self.patch_size}, embed_dim={self.embed_dim}, '
                f'depth={len(self.encoder.blocks)}, level={self.level})')
