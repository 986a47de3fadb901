r"""Models for molecular property prediction: an OGB-style GIN baseline, a symmetrized
transformer (any method) on OGB-featurised molecular graphs, an E(3)-symmetrized
transformer and a SchNet baseline for 3D molecules (QM9)."""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GINEConv, global_mean_pool

from lps_geometric.nn.backbones.adjacency_mlp import AdjacencyMLP
from lps_geometric.nn.backbones.adjacency_patch_transformer import AdjacencyPatchTransformer
from lps_geometric.nn.backbones.concat_features import ConcatNodeFeatures
from lps_geometric.nn.backbones.positional_gin import PositionalGIN
from lps_geometric.nn.symmetrize import Symmetrize

__all__ = ['CategoricalEncoder', 'OGBGIN', 'SymmetrizedMolecule', 'E3SymmetrizedMolecule',
           'SchNetBaseline',
           'ATOM_FEATURE_DIMS', 'BOND_FEATURE_DIMS', 'complete_graph']

#: Category counts of OGB's 9 atom features and 3 bond features (``ogb.utils.features``).
ATOM_FEATURE_DIMS = (119, 5, 12, 12, 10, 6, 6, 2, 2)
BOND_FEATURE_DIMS = (5, 6, 2)


class CategoricalEncoder(nn.Module):
    r"""Sum of one embedding per categorical column (OGB's AtomEncoder/BondEncoder):
    :math:`(N, F)` long :math:`\to (N, D)` float."""
    def __init__(self, dims: Sequence[int], embed_dim: int):
        super().__init__()
        self.dims = tuple(dims)
        self.embeddings = nn.ModuleList([nn.Embedding(d, embed_dim) for d in self.dims])
        self.reset_parameters()

    def reset_parameters(self):
        for emb in self.embeddings:
            nn.init.xavier_uniform_(emb.weight)

    def forward(self, x: Tensor) -> Tensor:
        x = x.long()
        if x.dim() == 1:
            x = x.unsqueeze(-1)
        if x.size(1) != len(self.dims):
            raise ValueError(f'Expected {len(self.dims)} categorical columns '
                             f'(got {x.size(1)})')
        return sum(emb(x[:, i]) for i, emb in enumerate(self.embeddings))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.dims})'


class OGBGIN(nn.Module):
    r"""The OGB GIN baseline (Hu et al., 2020): atom and bond encoders, ``num_layers``
    GINE layers (MLP 2 layers, batch norm, ReLU, dropout), mean pooling, a linear head.

    Args:
        out_channels (int): Tasks.
        hidden_channels (int, optional): Width. (default: :obj:`300`)
        num_layers (int, optional): Message passing layers. (default: :obj:`5`)
        dropout (float, optional): Dropout. (default: :obj:`0.5`)
    """
    def __init__(self, out_channels: int, hidden_channels: int = 300, num_layers: int = 5,
                 dropout: float = 0.5):
        super().__init__()
        self.atom_encoder = CategoricalEncoder(ATOM_FEATURE_DIMS, hidden_channels)
        self.bond_encoders = nn.ModuleList([
            CategoricalEncoder(BOND_FEATURE_DIMS, hidden_channels)
            for _ in range(num_layers)])
        self.convs = nn.ModuleList([
            GINEConv(nn.Sequential(nn.Linear(hidden_channels, 2 * hidden_channels),
                                   nn.BatchNorm1d(2 * hidden_channels), nn.ReLU(),
                                   nn.Linear(2 * hidden_channels, hidden_channels)),
                     train_eps=True) for _ in range(num_layers)])
        self.norms = nn.ModuleList([nn.BatchNorm1d(hidden_channels)
                                    for _ in range(num_layers)])
        self.dropout = dropout
        self.head = nn.Linear(hidden_channels, out_channels)

    def reset_parameters(self):
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    def forward(self, data: Data) -> Tensor:
        h = self.atom_encoder(data.x)
        for i, (conv, norm, bond) in enumerate(zip(self.convs, self.norms,
                                                   self.bond_encoders)):
            h = norm(conv(h, data.edge_index, bond(data.edge_attr)))
            if i < len(self.convs) - 1:
                h = h.relu()
            h = nn.functional.dropout(h, self.dropout, self.training)
        return self.head(global_mean_pool(h, data.batch))


class SymmetrizedMolecule(nn.Module):
    r"""Any symmetrization method around a plain transformer, for OGB-featurised
    molecules: the categorical atom and bond features are embedded first (a per-node and
    per-edge map, hence permutation equivariant), then ``Symmetrize.from_method``.

    Args:
        out_channels (int): Tasks.
        method (str, optional): A method of
            :func:`~lps_geometric.samplers.build_sampler` for :math:`S_n`
            (:obj:`"lps"`, :obj:`"ga"`, :obj:`"fa"`, :obj:`"mfa"`, :obj:`"canonical"`,
            or one added with :func:`~lps_geometric.samplers.register_sampler`; the
            learned :obj:`"lps"` and :obj:`"canonical"` samplers also read the bond
            embeddings), or :obj:`"none"` (the backbone alone, not invariant).
            (default: :obj:`"lps"`)
        max_nodes (int, optional): Largest molecule. (default: :obj:`64`)
        embed_dim, depth, num_heads, dropout: The transformer (one token per atom, the
            adjacency row with bond features as channels).
        feature_dim (int, optional): Width of the atom/bond embeddings. (default: 16)
        num_samples, eval_num_samples (int): :math:`k` in training and evaluation.
        entropy_weight (float): LPS entropy regulariser.
        backbone (str, optional): :obj:`"transformer"` (one token per atom),
            :obj:`"mlp"` (:class:`~lps_geometric.nn.AdjacencyMLP` on the flattened
            adjacency image, hidden width ``4 * embed_dim``) or :obj:`"gin"`
            (:class:`~lps_geometric.nn.PositionalGIN` with bond features, width
            ``embed_dim``, ``depth`` layers: sparse, no adjacency image). (default:
            :obj:`"transformer"`)
        gin_norm (str, optional): ``norm`` of :class:`~lps_geometric.nn.PositionalGIN`:
            :obj:`"post"`, :obj:`"pre"` or :obj:`"batch"`. (default: :obj:`"post"`)
    """
    def __init__(self, out_channels: int, method: str = 'lps', max_nodes: int = 64,
                 embed_dim: int = 64, depth: int = 4, num_heads: int = 4,
                 dropout: float = 0.1, feature_dim: int = 16, num_samples: int = 1,
                 eval_num_samples: int = 10, entropy_weight: float = 0.1,
                 backbone: str = 'transformer', gin_norm: str = 'post'):
        super().__init__()
        if backbone not in ('transformer', 'mlp', 'gin'):
            raise ValueError(f"'backbone' must be 'transformer', 'mlp' or 'gin' (got "
                             f"{backbone})")
        self.method = method
        self.atom_encoder = CategoricalEncoder(ATOM_FEATURE_DIMS, feature_dim)
        self.bond_encoder = CategoricalEncoder(BOND_FEATURE_DIMS, feature_dim)
        if backbone == 'transformer':
            backbone = AdjacencyPatchTransformer(
                feature_dim, out_channels, max_nodes=max_nodes, edge_dim=feature_dim,
                tokens='rows', embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                dropout=dropout)
        elif backbone == 'gin':
            backbone = PositionalGIN(feature_dim, out_channels, max_nodes=max_nodes,
                                     hidden_channels=embed_dim, num_layers=depth,
                                     edge_dim=feature_dim, dropout=dropout,
                                     norm=gin_norm)
        else:
            backbone = AdjacencyMLP(feature_dim, out_channels, max_nodes=max_nodes,
                                    hidden_channels=[4 * embed_dim] * 2,
                                    edge_dim=feature_dim, dropout=dropout)
        if method == 'none':
            self.model = backbone
        else:
            sampler_kwargs = dict(edge_dim=feature_dim) if method in ('lps', 'canonical') \
                else {}
            self.model = Symmetrize.from_method(
                backbone, method, 'S_n', in_channels=feature_dim,
                sampler_kwargs=sampler_kwargs, num_samples=num_samples,
                eval_num_samples=eval_num_samples, entropy_weight=entropy_weight)

    def forward(self, data: Data) -> Tensor:
        data = data.clone()
        data.x = self.atom_encoder(data.x)
        data.edge_attr = self.bond_encoder(data.edge_attr)
        return self.model(data)

    def regularization_loss(self) -> Tensor:
        if isinstance(self.model, Symmetrize):
            return self.model.regularization_loss()
        return torch.zeros((), device=self.atom_encoder.embeddings[0].weight.device)


def complete_graph(data: Data, cutoff: Optional[float] = None) -> Data:
    r"""Adds ``edge_index`` (every ordered pair of atoms of a molecule, closer than
    ``cutoff`` if given) and ``edge_attr`` (the distance), without torch-cluster."""
    n = data.num_nodes
    idx = torch.arange(n)
    row, col = idx.repeat_interleave(n), idx.repeat(n)
    keep = row != col
    row, col = row[keep], col[keep]
    dist = (data.pos[row] - data.pos[col]).norm(dim=-1)
    if cutoff is not None:
        near = dist < cutoff
        row, col, dist = row[near], col[near], dist[near]
    data = data.clone()
    data.edge_index = torch.stack([row, col])
    data.edge_attr = dist.view(-1, 1)
    return data


class E3SymmetrizedMolecule(nn.Module):
    r"""An :math:`S_n \times E(3)`-invariant model of 3D molecules: a transformer with one
    token per atom reading ``[x, pos]`` in a frame of the method, over the complete graph
    with distances as edge features. ``method`` is a method of
    :func:`~lps_geometric.samplers.build_sampler` for :math:`S_n \times E(3)` (LPS, GA,
    FA, MFA, canonicalization, or a registered one); the learned samplers also read the
    distances."""
    def __init__(self, in_channels: int, out_channels: int = 1, method: str = 'lps',
                 max_nodes: int = 29, embed_dim: int = 64, depth: int = 4,
                 num_heads: int = 4, dropout: float = 0.0, num_samples: int = 1,
                 eval_num_samples: int = 10, entropy_weight: float = 0.0):
        super().__init__()
        transformer = AdjacencyPatchTransformer(
            in_channels + 3, out_channels, max_nodes=max_nodes, edge_dim=1, tokens='rows',
            embed_dim=embed_dim, depth=depth, num_heads=num_heads, dropout=dropout)
        backbone = ConcatNodeFeatures(transformer, keys=('pos',), in_channels=in_channels)
        sampler_kwargs = dict(edge_dim=1) if method in ('lps', 'canonical') else {}
        self.model = Symmetrize.from_method(
            backbone, method, 'S_n x E(3)', in_channels=in_channels,
            sampler_kwargs=sampler_kwargs, num_samples=num_samples,
            eval_num_samples=eval_num_samples, entropy_weight=entropy_weight)

    def forward(self, data: Data) -> Tensor:
        return self.model(data)

    def regularization_loss(self) -> Tensor:
        return self.model.regularization_loss()


class SchNetBaseline(nn.Module):
    r"""PyG's :class:`~torch_geometric.nn.models.SchNet` on atomic numbers ``z`` and
    positions, with the interaction graph given by the data's ``edge_index`` (e.g.
    :func:`complete_graph`), so torch-cluster is not needed."""
    def __init__(self, hidden_channels: int = 128, num_interactions: int = 6,
                 cutoff: float = 10.0):
        super().__init__()
        from torch_geometric.nn.models import SchNet
        self.schnet = SchNet(hidden_channels=hidden_channels, num_filters=hidden_channels,
                             num_interactions=num_interactions, cutoff=cutoff,
                             interaction_graph=self._graph)
        self._edges = None

    def _graph(self, pos: Tensor, batch: Tensor):
        row, col = self._edges
        return self._edges, (pos[row] - pos[col]).norm(dim=-1)

    def forward(self, data: Data) -> Tensor:
        self._edges = data.edge_index
        return self.schnet(data.z, data.pos, data.batch)
