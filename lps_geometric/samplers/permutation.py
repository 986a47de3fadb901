r"""Learned distribution over node permutations (probabilistic symmetrization of
:math:`S_n`)."""
from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP, GINConv, GINEConv, global_add_pool

from lps_geometric.groups.symmetric import Permutation
from lps_geometric.samplers.base import GroupSample
from lps_geometric.samplers.relaxation import (band_entropy, banded_soft_rank,
                                               straight_through)
from lps_geometric.utils.batch import replicate_batch
from lps_geometric.utils.sparse import NeighborSum, gin_update

__all__ = ['PermutationSampler', 'sample_noise']


def sample_noise(num_nodes: int, scale: float, distribution: str, device,
                 dtype=torch.float, generator: Optional[torch.Generator] = None
                 ) -> Tensor:
    r"""i.i.d. node noise of shape :obj:`(num_nodes, 1)`: :math:`U(0, s)` or
    :math:`\mathcal{N}(0, s^2)`."""
    if scale == 0:
        return torch.zeros(num_nodes, 1, device=device, dtype=dtype)
    if distribution == 'uniform':
        noise = torch.rand(num_nodes, 1, generator=generator, device=device,
                           dtype=dtype)
    elif distribution == 'normal':
        noise = torch.randn(num_nodes, 1, generator=generator, device=device,
                            dtype=dtype)
    else:
        raise ValueError(f"Unknown noise distribution '{distribution}' "
                         f"(expected 'uniform' or 'normal')")
    return noise * scale


class PermutationSampler(nn.Module):
    r"""Samples node permutations :math:`g \sim p_\theta(g \mid G)` with an equivariant
    network and noise outsourcing (Kim et al., `"Learning Probabilistic Symmetrization for
    Architecture Agnostic Equivariance" <https://arxiv.org/abs/2306.02866>`_).

    A GIN with a virtual node reads the node features and i.i.d. node noise
    :math:`\epsilon_v` and gives a score per node,

    .. math::
        s = \mathrm{GIN}_\theta([x \,\|\, \epsilon], A), \qquad
        \mathrm{rank}_v = \#\{u \in G(v) : s_u < s_v\},

    so the hard permutation (the per-graph argsort) is equivariant: permuting the graph and
    its noise permutes the ranks along, and :math:`g^{-1} \cdot G` is invariant. Nodes
    whose scores tie exactly (saturated ReLUs) are ordered by their noise. For the
    backward pass the hard assignment is relaxed (SoftSort with temperature :math:`\tau`,
    on a band of :math:`2w+1` positions, optionally Sinkhorn-normalised) with a
    straight-through estimator. :obj:`noise_scale=0` gives a learned canonicalization
    (Kaba et al., 2023): ties between nodes the GIN cannot tell apart (automorphic nodes
    always tie) are then broken by node index, so the output can depend on the input's
    node order on graphs with such ties.

    Args:
        in_channels (int): Node feature size (:obj:`0` for graphs without features).
        hidden_channels (int, optional): GIN width. (default: :obj:`64`)
        num_layers (int, optional): GIN layers. (default: :obj:`3`)
        edge_dim (int, optional): Edge feature size; uses GINE when positive.
            (default: :obj:`0`)
        dropout (float, optional): Dropout in the GIN. (default: :obj:`0.1`)
        virtual_node (bool, optional): Add a virtual node connected to all nodes.
            (default: :obj:`True`)
        noise_scale (float, optional): Noise scale. (default: :obj:`1.0`)
        noise (str, optional): :obj:`"uniform"` (:math:`U(0, s)`) or :obj:`"normal"`.
            (default: :obj:`"uniform"`)
        tau (float, optional): Relaxation temperature. (default: :obj:`0.01`)
        band (int, optional): Band half-width :math:`w` of the relaxation.
            (default: :obj:`2`)
        sinkhorn_iters (int, optional): Sinkhorn iterations on the band.
            (default: :obj:`0`)

    Shapes:
        - **input:** a ``Batch`` with :math:`|V|` nodes and :math:`B` graphs, optional
          noise :math:`(k |V|, 1)` in the stacked node order
        - **output:** :class:`~lps_geometric.samplers.GroupSample` with a
          :class:`~lps_geometric.groups.Permutation` of the :math:`k B` stacked graphs
    """
    def __init__(self, in_channels: int, hidden_channels: int = 64, num_layers: int = 3,
                 edge_dim: int = 0, dropout: float = 0.1, virtual_node: bool = True,
                 noise_scale: float = 1.0, noise: str = 'uniform', tau: float = 0.01,
                 band: int = 2, sinkhorn_iters: int = 0):
        super().__init__()
        if noise not in ('uniform', 'normal'):
            raise ValueError(f"'noise' must be 'uniform' or 'normal' (got '{noise}')")
        if tau <= 0:
            raise ValueError(f"'tau' must be positive (got {tau})")
        if band < 0:
            raise ValueError(f"'band' must be non-negative (got {band})")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.edge_dim = edge_dim
        self.dropout = dropout
        self.noise_scale = noise_scale
        self.noise = noise
        self.tau = tau
        self.band = band
        self.sinkhorn_iters = sinkhorn_iters

        self.encoder = nn.Linear(in_channels + 1, hidden_channels)
        self.convs = nn.ModuleList()
        for _ in range(num_layers):
            mlp = MLP([hidden_channels, hidden_channels, hidden_channels],
                      norm=None, dropout=0.0)
            if edge_dim > 0:
                self.convs.append(GINEConv(mlp, train_eps=True, edge_dim=edge_dim))
            else:
                self.convs.append(GINConv(mlp, train_eps=True))
        self.virtual_node = virtual_node
        if virtual_node:
            self.virtual_mlps = nn.ModuleList([
                MLP([hidden_channels, hidden_channels, hidden_channels], norm=None)
                for _ in range(num_layers - 1)
            ])
        self.score = nn.Linear(hidden_channels, 1)
        self.reset_parameters()

    def reset_parameters(self):
        self.encoder.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        if self.virtual_node:
            for mlp in self.virtual_mlps:
                mlp.reset_parameters()
        self.score.reset_parameters()

    def scores(self, data: Data, noise: Tensor) -> Tensor:
        r"""Node scores :math:`s` of shape :obj:`(|V|,)` for a batch and its noise."""
        x = data.x if self.in_channels > 0 else None
        h = noise if x is None else torch.cat([x.to(noise.dtype), noise], dim=1)
        h = self.encoder(h)
        batch = data.batch
        # GIN's sum over neighbours as CSR products (built once for all layers), the
        # same as ``conv(h, edge_index)`` without an (|E|, hidden) message tensor.
        neighbor_sum = None if self.edge_dim > 0 else \
            NeighborSum(data.edge_index, h.size(0), h.dtype)
        vn = None
        for layer, conv in enumerate(self.convs):
            if vn is not None:
                h = h + vn[batch]
            if neighbor_sum is None:
                h = conv(h, data.edge_index, data.edge_attr.to(h.dtype))
            else:
                h = gin_update(conv, h, neighbor_sum)
            h = torch.relu(h)
            h = nn.functional.dropout(h, self.dropout, self.training)
            if self.virtual_node and layer < self.num_layers - 1:
                pooled = global_add_pool(h, batch, size=data.num_graphs)
                vn = self.virtual_mlps[layer](pooled if vn is None else pooled + vn)
        return self.score(h).squeeze(-1)

    def forward(self, data: Data, num_samples: int = 1, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        stacked = replicate_batch(data, num_samples)
        if noise is None:
            noise = sample_noise(stacked.num_nodes, self.noise_scale, self.noise,
                                 self.encoder.weight.device, self.encoder.weight.dtype,
                                 generator)
        elif noise.shape != (stacked.num_nodes, 1):
            raise ValueError(f"'noise' must have shape ({stacked.num_nodes}, 1) for "
                             f"{num_samples} samples of {data.num_nodes} nodes "
                             f"(got {tuple(noise.shape)})")
        score = self.scores(stacked, noise)
        # Exactly equal scores (ReLU units saturated on several nodes) are ordered by the
        # noise, which moves with the nodes, not by node index.
        perm = Permutation.from_scores(score.detach(), stacked.batch, stacked.ptr,
                                       tie_break=noise.view(-1))
        band = entropy = None
        if torch.is_grad_enabled() and score.requires_grad:
            soft = banded_soft_rank(score, perm, self.band, self.tau,
                                    self.sinkhorn_iters)
            band = straight_through(soft, self.band)
            entropy = band_entropy(soft)
        return GroupSample(perm, num_samples, band=band, entropy=entropy,
                           stacked=stacked)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, '
                f'noise_scale={self.noise_scale}, tau={self.tau}, band={self.band}, '
                f'sinkhorn_iters={self.sinkhorn_iters})')
