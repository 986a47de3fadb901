r"""Frame averaging over :math:`S_n` with Laplacian eigenvector frames (Puny et al.,
"Frame Averaging for Invariant and Equivariant Network Design", ICLR 2022)."""
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_adj

from lps_geometric.frames.base import (FrameSampler, lexicographic_keys, ragged_stack,
                                      self_loop_marks)
from lps_geometric.frames.pca import sign_table
from lps_geometric.frames.sets import tie_stabilizer_size
from lps_geometric.groups.symmetric import Permutation, segment_argsort
from lps_geometric.samplers.base import GroupSample
from lps_geometric.utils.batch import max_graph_size, to_ptr_batch
from lps_geometric.utils.validation import check_positive_int, validate_graph_batch

__all__ = ['LaplacianFrameSampler', 'laplacian_eigenkeys']


def laplacian_eigenkeys(data: Data, num_blocks: int = 3, tie_tol: float = 1e-6):
    r"""Spectral node keys for sorting: for each of the first ``num_blocks`` eigenvalues
    of the graph Laplacian :math:`L = D - A` after the smallest, the eigenvector if the
    eigenvalue is simple (defined up to sign) or, if it is repeated, the diagonal of the
    eigenspace's projector :math:`\mathrm{diag}(U U^\top)` (basis- and sign-free).

    The Laplacians are dense per graph, padded to :math:`n_{\max}` (the eigendecomposition
    is the method: :math:`O(B n_{\max}^3)`), with the padding given eigenvalues above the
    spectrum so that it never mixes with real nodes.

    Returns:
        ``(keys, simple)``: keys :math:`(|V|, \text{num\_blocks})` (float64) and
        :math:`(B, \text{num\_blocks})` booleans marking the sign-ambiguous (simple)
        columns.
    """
    batch, ptr, B = to_ptr_batch(data)
    n = max(max_graph_size(ptr), 1)
    adj = to_dense_adj(data.edge_index, batch, max_num_nodes=n, batch_size=B)
    adj = ((adj + adj.transpose(1, 2)) > 0).to(torch.float64)
    adj = adj * (1 - torch.eye(n, dtype=torch.float64, device=adj.device))
    deg = adj.sum(-1)
    sizes = ptr[1:] - ptr[:-1]
    local = torch.arange(n, device=adj.device)
    real = local.view(1, -1) < sizes.view(-1, 1)                      # (B, n)
    pad_value = 4.0 * float(deg.max()) + 4.0 if deg.numel() else 4.0
    lap = torch.diag_embed(deg + (~real) * pad_value) - adj
    evals, evecs = torch.linalg.eigh(lap)
    scale = evals.abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
    tied = (evals[:, 1:] - evals[:, :-1]) <= tie_tol * scale
    block = torch.cat([torch.zeros_like(evals[:, :1], dtype=torch.long),
                       torch.cumsum((~tied).long(), dim=-1)], dim=-1)  # (B, n)
    in_graph = local.view(1, -1) < sizes.view(-1, 1)   # eigen index < n_b: real pairs
    keys, simple = [], []
    sq = evecs * evecs
    for c in range(1, num_blocks + 1):
        member = (block == c) & in_graph                                # (B, n) eigen idx
        count = member.sum(-1)
        first = member.to(torch.float64).argmax(dim=-1)
        vec = evecs.gather(-1, first.view(-1, 1, 1).expand(-1, n, 1)).squeeze(-1)
        proj = (sq * member.unsqueeze(1)).sum(-1)                        # (B, n) nodes
        is_simple = count == 1
        key = torch.where(is_simple.view(-1, 1), vec, proj)
        key = torch.where((count > 0).view(-1, 1), key, torch.zeros_like(key))
        keys.append(key)
        simple.append(is_simple)
    keys = torch.stack(keys, dim=-1)[real]                               # (|V|, m)
    return keys, torch.stack(simple, dim=-1)


class LaplacianFrameSampler(FrameSampler):
    r"""Frame averaging over :math:`S_n` on graphs with Laplacian eigenvector frames
    (FA; Puny et al., 2022).

    Nodes are sorted lexicographically by spectral keys (:func:`laplacian_eigenkeys`:
    eigenvectors of the first ``num_blocks`` non-trivial eigenvalues, projector
    diagonals for repeated ones), then by their features ``x`` if
    ``use_node_features``. The frame is the set of sorting permutations over all sign
    choices :math:`s \in \{\pm 1\}^m` of the simple eigenvectors,
    :math:`2^{m}` elements, and nodes that still tie are ordered uniformly at random
    inside their tie, as published (``tie_samples`` draws per sign choice; the frame
    is then sampled and the average is equivariant in distribution).
    :math:`F(\sigma \cdot G) = \sigma F(G)` holds because eigenvectors move with the
    nodes; signs are enumerated and repeated eigenspaces enter only through their
    projectors, so nothing depends on the eigensolver's arbitrary choices.

    The frame reads the graph's edge *set*, undirected: duplicate edges count once
    and a directed edge counts as an undirected one; a self-loop marks its node (a
    node colour after ``x``), as in :class:`GraphMinimalFrameSampler`.

    Args:
        num_blocks (int, optional): Eigenvalues used, :math:`m`. (default: :obj:`3`)
        use_node_features (bool, optional): Break spectral ties by ``x``. (default:
            :obj:`True`)
        tie_samples (int, optional): Random tie-breaks per sign choice when ties remain.
            (default: :obj:`4`)
        tie_tol (float, optional): Relative eigenvalue gap counted as a tie.
            (default: :obj:`1e-6`)
        decimals (int, optional): Rounding of keys before comparison. (default:
            :obj:`6`)
    """
    def __init__(self, num_blocks: int = 3, use_node_features: bool = True,
                 tie_samples: int = 4, tie_tol: float = 1e-6, decimals: int = 6):
        super().__init__()
        self.num_blocks = check_positive_int('num_blocks', num_blocks)
        self.use_node_features = use_node_features
        self.tie_samples = check_positive_int('tie_samples', tie_samples)
        if not tie_tol >= 0:
            raise ValueError(f"'tie_tol' must be non-negative (got {tie_tol})")
        self.tie_tol = tie_tol
        self.decimals = check_positive_int('decimals', decimals, minimum=0)

    def reset_parameters(self):
        pass

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""The Laplacian frame of every graph (``num_samples``, ``noise`` ignored)."""
        validate_graph_batch(data)
        batch, ptr, B = to_ptr_batch(data)
        keys, simple = laplacian_eigenkeys(data, self.num_blocks, self.tie_tol)
        signs = sign_table(self.num_blocks, keys.device)                  # (S, m)
        S = signs.size(0)
        # Sign flips act on simple columns only (projector columns are sign-free).
        flip = torch.where(simple.unsqueeze(0), signs.unsqueeze(1), 1.0)  # (S, B, m)
        signed = keys.unsqueeze(0) * flip[:, batch]                       # (S, |V|, m)
        x = getattr(data, 'x', None)
        if self.use_node_features and isinstance(x, Tensor):
            feats = x.reshape(x.size(0), -1).to(torch.float64)
            signed = torch.cat([signed, feats.unsqueeze(0).expand(S, -1, -1)], dim=-1)
        loops = self_loop_marks(data.edge_index, keys.size(0))
        if loops is not None:   # a self-loop colours its node, as in the MFA frame
            signed = torch.cat([signed, loops.view(1, -1, 1).expand(S, -1, -1)], dim=-1)
        N = keys.size(0)
        key = lexicographic_keys(signed.reshape(S * N, -1), self.decimals).view(S, N)
        ties = tie_stabilizer_size(key[0], batch, B)
        counts = torch.where(ties > 1, S * self.tie_samples, S).long()
        stack = ragged_stack(data, counts)
        stacked, graph_index, node_index, copy, _, _ = stack
        choice = (copy % S)[stacked.batch]
        node_key = key[choice, node_index].to(torch.float64)
        tie_break = torch.rand(node_key.numel(), generator=generator,
                               dtype=torch.float64, device=node_key.device)
        rank = segment_argsort(node_key + 0.5 * tie_break, stacked.batch, stacked.ptr)
        size = torch.pow(2.0, simple.sum(-1).to(torch.float64)) * ties
        return stack.sample(Permutation(rank, stacked.batch, stacked.ptr), size)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_blocks={self.num_blocks}, '
                f'tie_samples={self.tie_samples})')
