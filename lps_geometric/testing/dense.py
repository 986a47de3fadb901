r"""A dense reference implementation of permutation symmetrization (the test oracle).

Everything here is the textbook formula with :math:`n \times n` matrices: dense adjacency
images :math:`A \in \mathbb{R}^{B \times n \times n \times C}`, an assignment matrix
:math:`M \in \mathbb{R}^{B \times n \times n}` (:math:`M_{vi} = 1` iff node :math:`v` goes to
position :math:`i`), the permuted image :math:`M^\top A M`, and a patch embedding that cuts
the image into patches. It shares its parameters with the sparse modules, so the two paths
must agree to float tolerance — in outputs and in gradients. It is :math:`O(B n^2)` memory
and :math:`O(B n^3)` time, only for tests and benchmarks.
"""
from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_adj, to_dense_batch

from lps_geometric.groups.symmetric import Permutation
from lps_geometric.nn.backbones.adjacency_patch_transformer import \
    AdjacencyPatchTransformer
from lps_geometric.samplers.permutation import PermutationSampler, sample_noise
from lps_geometric.utils.batch import max_graph_size, replicate_batch, to_ptr_batch

__all__ = [
    'dense_assignment', 'dense_soft_assignment', 'dense_adjacency_image',
    'dense_patch_transformer', 'DenseSymmetrize'
]


def dense_assignment(perm: Permutation, n_max: int) -> Tensor:
    r"""The hard assignment :math:`M_{b, v, \mathrm{rank}_v} = 1`, shape
    :obj:`(B, n, n)` (rows: nodes in input order, columns: positions)."""
    batch, ptr = perm.batch, perm.ptr
    B = ptr.numel() - 1
    local = torch.arange(batch.numel(), device=batch.device) - ptr[batch]
    out = torch.zeros(B, n_max, n_max, device=batch.device)
    out[batch, local, perm.rank] = 1.0
    return out


def dense_soft_assignment(score: Tensor, perm: Permutation, n_max: int, tau: float,
                          band: Optional[int] = None, sinkhorn_iters: int = 0
                          ) -> Tensor:
    r"""SoftSort over all positions, :math:`P_{vj} = \mathrm{softmax}_j(-|s_v -
    s_{(j)}| / \tau)`, optionally restricted to :math:`|j - \mathrm{rank}_v| \le w` and
    Sinkhorn-normalised, as a dense :obj:`(B, n, n)` matrix (zero outside the graphs)."""
    batch = perm.batch
    s, mask = to_dense_batch(score, batch, max_num_nodes=n_max)
    sorted_s, _ = to_dense_batch(perm.permute_nodes(score), batch, max_num_nodes=n_max)
    r, _ = to_dense_batch(perm.rank, batch, max_num_nodes=n_max)
    valid = mask.unsqueeze(1) & mask.unsqueeze(2)
    if band is not None:
        j = torch.arange(n_max, device=score.device)
        valid = valid & ((j.view(1, 1, -1) - r.unsqueeze(2)).abs() <= band)
    logits = -(s.unsqueeze(2) - sorted_s.unsqueeze(1)).abs() / tau
    logits = logits.masked_fill(~valid, float('-inf'))
    rows = mask.unsqueeze(2)
    log_p = logits.log_softmax(dim=2)
    for _ in range(sinkhorn_iters):
        # Columns outside the graph are empty: a finite fill keeps their gradient at 0.
        finite = log_p.masked_fill(~valid, -1e30)
        log_p = finite - finite.logsumexp(dim=1, keepdim=True)
        log_p = log_p.masked_fill(~valid, float('-inf')).log_softmax(dim=2)
    p = log_p.exp()
    return torch.where(rows, p, torch.zeros_like(p)).nan_to_num(0.0)


def dense_adjacency_image(data: Data, n_max: int, edge_dim: int):
    r"""Dense image :obj:`(B, n, n, 1 + edge_dim)` (adjacency channel first) and node
    features :obj:`(B, n, F)` of a batch."""
    batch, ptr, B = to_ptr_batch(data)
    ones = torch.ones(data.edge_index.size(1), 1)
    attr = ones if edge_dim == 0 else torch.cat(
        [ones, data.edge_attr.float().view(-1, edge_dim)], dim=1)
    image = to_dense_adj(data.edge_index, batch, attr, max_num_nodes=n_max,
                         batch_size=B)
    x = None
    if getattr(data, 'x', None) is not None:
        x, _ = to_dense_batch(data.x.float().view(data.num_nodes, -1), batch,
                              max_num_nodes=n_max, batch_size=B)
    return image, x


def dense_patch_transformer(model: AdjacencyPatchTransformer, image: Tensor,
                            x: Optional[Tensor], assignment: Tensor,
                            sizes: Tensor) -> Tensor:
    r"""The backbone on the permuted dense image :math:`M^\top A M` (nodes on the
    diagonal as :math:`M^\top X`), with the sparse model's own parameters.

    Returns graph outputs :obj:`(B, C)` or position outputs :obj:`(B, n, C)`.
    """
    B, n = image.shape[:2]
    ph, pw = model.patch_size
    GH, GW = model.grid_size
    d = model.embed_dim
    emb = model.patch_embed
    image = torch.einsum('bui,buvc,bvj->bijc', assignment, image, assignment)
    # Pad to the full grid and cut into patches.
    H, W = GH * ph, GW * pw
    padded = image.new_zeros(B, H, W, image.size(-1))
    padded[:, :n, :n] = image
    patches = padded.view(B, GH, ph, GW, pw, -1).permute(0, 1, 3, 2, 4, 5)
    tokens = patches.reshape(B, GH * GW, -1) @ emb.edge_table
    if model.in_channels > 0:
        xp = torch.einsum('bui,buf->bif', assignment, x)
        slots = emb.node_slots
        table = emb.node_table.view(slots, model.in_channels, d)
        i = torch.arange(n, device=image.device)
        contrib = torch.einsum('bif,ifd->bid', xp, table[i % slots])
        token_of_i = (i // ph) * GW + i // pw
        tokens = tokens.index_add(1, token_of_i, contrib)
    tokens = tokens + emb.bias + model.pos_embed[0, 1:]
    # Tokens inside each graph's own grid are real, the rest is padding.
    a = torch.arange(GH, device=image.device).view(1, GH, 1)
    b = torch.arange(GW, device=image.device).view(1, 1, GW)
    gh = ((sizes + ph - 1) // ph).view(B, 1, 1)
    gw = ((sizes + pw - 1) // pw).view(B, 1, 1)
    mask = ((a < gh) & (b < gw)).view(B, GH * GW)
    cls = (model.cls_token[0] + model.pos_embed[0, :1]).expand(B, 1, -1)
    tokens = torch.cat([cls, tokens], dim=1)
    mask = torch.cat([mask.new_ones(B, 1), mask], dim=1)
    out = model.encoder(tokens, mask)
    if model.level == 'graph':
        return model.head(out[:, 0])
    i = torch.arange(n, device=image.device)
    token_of_i = (i // ph) * GW + i // pw
    head = model.head(out[:, 1 + token_of_i]).view(B, n, ph, model.out_channels)
    return head[:, i, i % ph]


class DenseSymmetrize(nn.Module):
    r"""Dense twin of :class:`~lps_geometric.nn.Symmetrize` with a
    :class:`~lps_geometric.samplers.PermutationSampler` and an
    :class:`~lps_geometric.nn.AdjacencyPatchTransformer` (sharing their parameters).

    The hard permutation is the same argsort; the straight-through relaxation is the dense
    SoftSort matrix (over all positions when ``band=None``, the reference LPS
    implementation's choice, or on the sampler's band for an exact gradient comparison).
    """
    def __init__(self, backbone: AdjacencyPatchTransformer, sampler: PermutationSampler,
                 num_samples: int = 1, band: Optional[int] = None):
        super().__init__()
        self.backbone = backbone
        self.sampler = sampler
        self.num_samples = num_samples
        self.band = band

    def forward(self, data: Data, noise: Optional[Tensor] = None,
                num_samples: Optional[int] = None) -> Tensor:
        k = num_samples or self.num_samples
        stacked = replicate_batch(data, k)
        batch, ptr, B = to_ptr_batch(stacked)
        sizes = ptr[1:] - ptr[:-1]
        n = max_graph_size(ptr)
        if noise is None:
            noise = sample_noise(stacked.num_nodes, self.sampler.noise_scale,
                                 self.sampler.noise, stacked.batch.device)
        score = self.sampler.scores(stacked, noise)
        perm = Permutation.from_scores(score.detach(), batch, ptr,
                                       tie_break=noise.view(-1))
        hard = dense_assignment(perm, n)
        if torch.is_grad_enabled() and score.requires_grad:
            soft = dense_soft_assignment(score, perm, n, self.sampler.tau, self.band,
                                         self.sampler.sinkhorn_iters)
            assignment = hard + (soft - soft.detach())
        else:
            assignment = hard
        image, x = dense_adjacency_image(stacked, n, self.backbone.edge_dim)
        out = dense_patch_transformer(self.backbone, image, x, assignment, sizes)
        num_graphs = B // k
        if self.backbone.level == 'graph':
            return out.view(k, num_graphs, -1).mean(0)
        node_out = out[batch, perm.rank]  # read every node at its position
        return node_out.view(k, -1, node_out.size(-1)).mean(0)
