r"""Sparse (banded) relaxations of a hard permutation, for straight-through gradients.

After the per-graph sort, a node's soft rank only has appreciable mass on positions near
its hard rank. The relaxed assignment is therefore kept on a band of :math:`2w + 1`
positions around the hard rank of every node, an :obj:`(|V|, 2w + 1)` tensor instead of
an :math:`n \times n` matrix: :math:`O(n w)` memory and time.

The soft rank is SoftSort (Prillo & Eisenschlos, ICML 2020):

.. math::
    P_{v, j} = \operatorname{softmax}_j \left( -\frac{|s_v - s_{(j)}|}{\tau} \right),

where :math:`s_{(j)}` is the :math:`j`-th smallest score of :math:`v`'s graph and :math:`j`
runs over the band. Optional Sinkhorn iterations alternate column and row normalisation on
the band (log domain), making the band doubly stochastic where the band allows it.
"""
import numbers

import torch
from torch import Tensor

from lps_geometric.groups.symmetric import Permutation, band_positions

__all__ = ['banded_soft_rank', 'straight_through', 'band_entropy', 'band_positions',
           'check_relaxation']


def check_relaxation(tau: float, band: int, sinkhorn_iters: int = 0):
    r"""Checks the settings of the relaxed permutation (shared by every sampler that
    relaxes one): a positive temperature ``tau``, a non-negative integer band
    half-width ``band`` and number of Sinkhorn iterations; a :class:`ValueError` names
    the one out of range."""
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not tau > 0 \
            or tau == float('inf'):
        raise ValueError(f"'tau' must be a positive finite number (got {tau!r})")
    for name, value in (('band', band), ('sinkhorn_iters', sinkhorn_iters)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
                or value < 0:
            raise ValueError(f"'{name}' must be a non-negative integer (got {value!r})")


def _band_column_logsumexp(log_p: Tensor, band: int) -> Tensor:
    r"""Log-sum-exp of every column of a transposed band in rank order (``log_p`` of
    shape :obj:`(2w + 1, |V|)`, entry :math:`(m, q)` for the node at global position
    :math:`q`): column :math:`p` holds the entries :math:`(m, p + w - m)`,
    :math:`m = 0, \dots, 2w`, one diagonal of the band, read as :math:`2w + 1` shifted
    slices (positions past either end count as :math:`-\infty`). Returns
    :obj:`(|V|,)`."""
    width, num_nodes = log_p.shape
    pad = log_p.new_full((width, band), float('-inf'))
    padded = torch.cat([pad, log_p, pad], dim=1)  # node q at q + w
    diagonal = torch.stack([padded[m, 2 * band - m:2 * band - m + num_nodes]
                            for m in range(width)])
    return diagonal.logsumexp(dim=0)


def _band_column_values(column: Tensor, band: int) -> Tensor:
    r"""``column[q + m - w]`` for every entry :math:`(m, q)` of a transposed band in
    rank order, :obj:`(2w + 1, |V|)`; positions past either end read zero (their
    entries are outside their graph, and masked by the caller)."""
    pad = column.new_zeros(band)
    padded = torch.cat([pad, column, pad])
    num_nodes = column.numel()
    return torch.stack([padded[m:m + num_nodes] for m in range(2 * band + 1)])


def banded_soft_rank(score: Tensor, perm: Permutation, band: int = 2,
                     tau: float = 0.01, sinkhorn_iters: int = 0) -> Tensor:
    r"""The relaxed permutation of ``score`` on a band around the hard ranks.

    Args:
        score (torch.Tensor): Node scores of shape :obj:`(|V|,)`; ``perm`` must be their
            per-graph argsort (:meth:`Permutation.from_scores`).
        perm (Permutation): The hard permutation.
        band (int, optional): Half-width :math:`w` of the band. (default: :obj:`2`)
        tau (float, optional): Temperature :math:`\tau`. (default: :obj:`0.01`)
        sinkhorn_iters (int, optional): Sinkhorn iterations on the band.
            (default: :obj:`0`)

    Returns:
        torch.Tensor: :obj:`(|V|, 2w + 1)` non-negative weights, rows summing to one,
        exactly zero outside the graph.
    """
    check_relaxation(tau, band, sinkhorn_iters)
    position, valid = band_positions(perm, band)
    sorted_score = perm.permute_nodes(score)
    logits = -(score.unsqueeze(1) - sorted_score[position]).abs() / tau
    logits = logits.masked_fill(~valid, float('-inf'))
    log_p = logits.log_softmax(dim=1)
    if sinkhorn_iters > 0:
        # In rank order a column of the band is one of its diagonals, so column sums
        # are shifted slices instead of scatters. Entries outside the graph stay -inf:
        # they add exp(-inf) = 0 to whichever column they fall in, and every column
        # holds the finite centre entry of the node of that rank.
        # The band is transposed, (2w + 1, |V|), so that every reduction runs over
        # its short first dimension with the long one contiguous.
        log_p = perm.permute_nodes(log_p).t().contiguous()
        invalid = perm.permute_nodes(~valid).t().contiguous()
        for _ in range(sinkhorn_iters):
            column = _band_column_logsumexp(log_p, band)
            log_p = (log_p - _band_column_values(column, band)).masked_fill(
                invalid, float('-inf'))
            log_p = log_p - log_p.logsumexp(dim=0, keepdim=True)
        log_p = perm.pull_nodes(log_p.t())
    return log_p.exp()


def straight_through(soft: Tensor, band: int) -> Tensor:
    r"""Hard one-hot band weights in the forward pass, gradients of ``soft`` backward.

    The centre of the band (the hard rank) is one and every other entry is exactly zero
    in the forward pass: :math:`\tilde P = P_{hard} + (P - \mathrm{sg}(P))`.
    """
    hard = torch.zeros_like(soft)
    hard[:, band] = 1.0
    return hard + (soft - soft.detach())


def band_entropy(soft: Tensor) -> Tensor:
    r"""Mean row entropy :math:`-\frac{1}{|V|}\sum_v \sum_j P_{vj} \log P_{vj}` of a
    banded relaxation (an entropy penalty pushes it towards a hard permutation)."""
    logp = torch.where(soft > 0, soft, torch.ones_like(soft)).log()
    return -(soft * logp).sum(dim=1).mean()
