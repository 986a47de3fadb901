r"""Learned distribution over node permutations (probabilistic symmetrization of
:math:`S_n`)."""
import inspect
import warnings
from collections import OrderedDict
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP, GINConv, GINEConv

from lps_geometric.groups.nauty import canonical_tie_ranks, require_pynauty
from lps_geometric.groups.symmetric import Permutation, segment_argsort
from lps_geometric.samplers.base import GroupSample, Sampler
from lps_geometric.samplers.relaxation import (band_entropy, banded_soft_rank,
                                               check_relaxation,
                                               straight_through)
from lps_geometric.utils.batch import num_graphs_of, replicate_batch
from lps_geometric.utils.sparse import NeighborSum
from lps_geometric.utils.validation import check_positive_int, validate_graph_batch

__all__ = ['PermutationSampler', 'sample_noise', 'invariant_sum', 'TIE_BREAKS']

#: How :class:`PermutationSampler` orders nodes whose score and noise are equal.
TIE_BREAKS = ('auto', 'canonical', 'index')


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


def _working_precision(dtype: torch.dtype):
    r"""The dtype, mantissa bits and number of limbs of an order-invariant sum of
    ``dtype`` values: one float64 limb for float64, two float32 limbs otherwise."""
    if dtype == torch.float64:
        return torch.float64, 53, 1
    return torch.float32, 24, 2


def _pow2(exponent: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.ldexp(torch.ones(exponent.shape, dtype=dtype, device=exponent.device),
                       exponent)


class _InvariantSum(torch.autograd.Function):
    r"""A sum whose forward value does not depend on the order of its terms.

    Every term is scaled by a power of two :math:`2^k` of its group to :math:`y = x 2^k`
    with :math:`|y| < 2^\beta`, and split into integer limbs, :math:`q_1 =
    \mathrm{round}(y)` and, for two limbs, :math:`q_2 = \mathrm{round}((y - q_1)
    2^\beta)`. The partial sums of one limb are integers below the mantissa's range, so
    they are exact in any order; the result :math:`(S_1 + S_2 2^{-\beta}) 2^{-k}` is one
    rounding of order-independent numbers. The backward pass is that of the plain sum
    (``adjoint``)."""
    @staticmethod
    def forward(ctx, value, k_in, k_out, bits_in, bits_out, apply, adjoint):
        ctx.adjoint = adjoint
        working, mantissa, limbs = _working_precision(value.dtype)
        # Adding and subtracting 1.5 * 2^(p - 1) rounds a float of magnitude below
        # 2^(p - 2) to the nearest integer (ties to even), exactly.
        rounding = 1.5 * 2.0 ** (mantissa - 1)
        y = value.to(working) * _pow2(k_in, working).unsqueeze(1)
        if limbs == 1:
            total = apply(y.add_(rounding).sub_(rounding))
        else:
            q1 = torch.add(y, rounding).sub_(rounding)
            q2 = y.sub_(q1)  # exact: |y - q1| <= 1/2
            q2.mul_(_pow2(bits_in, working).unsqueeze(1)).add_(rounding).sub_(rounding)
            s1, s2 = apply(q1), apply(q2)
            total = torch.addcmul(s1, s2, _pow2(-bits_out, working).unsqueeze(1))
        return total.mul_(_pow2(-k_out, working).unsqueeze(1)).to(value.dtype)

    @staticmethod
    def backward(ctx, grad):
        return ctx.adjoint(grad), None, None, None, None, None, None


def _exponents(value: Tensor, group: Tensor, num_groups: int, count: Tensor):
    r"""Per group :math:`b`: the scale exponent :math:`k_b` and the limb width
    :math:`\beta_b` such that :math:`|x| 2^{k_b} < 2^{\beta_b}` for every term of the
    group (rows ``group == b`` of ``value``) and ``count[b]`` integer terms of at most
    :math:`2^{\beta_b}` sum exactly in the working precision."""
    _, mantissa, _ = _working_precision(value.dtype)
    value = value.detach()
    row_max = torch.maximum(value.amax(dim=1), value.amin(dim=1).neg_()) \
        if value.size(1) else value.new_zeros(value.size(0))
    amax = row_max.to(torch.float64).new_zeros(num_groups).scatter_reduce(
        0, group, row_max.to(torch.float64), 'amax', include_self=True)
    _, exponent = torch.frexp(amax)                                # amax < 2^exponent
    _, count_bits = torch.frexp(count.clamp(min=1).to(torch.float64))  # count < 2^bits
    bits = (mantissa - 2 - count_bits).clamp(min=1)
    # 2^k and 2^-k stay finite and normal in the working precision
    limit = 1022 if mantissa == 53 else 126
    return (bits - exponent).clamp(-limit, limit), bits


def invariant_sum(value: Tensor, index: Tensor, dim_size: int, group: Tensor,
                  num_groups: int, count: Tensor) -> Tensor:
    r"""``out[i] = sum of value[j] over index[j] == i``, computed so that the result is
    bitwise independent of the order of the rows of ``value``.

    Floating-point addition is not associative, so an ordinary scatter sum changes in
    its last bits when the rows arrive in another order (a relabelled graph). Here the
    terms of a group (graph) are scaled by a common power of two and split into integer
    limbs whose sums are exact in any order (one float64 limb for float64 values, two
    float32 limbs otherwise), and the limb sums are combined with a single rounding. The
    terms are thereby rounded to a resolution of :math:`2^{-(p - 2 - \lceil \log_2 c
    \rceil)}` (one limb, :math:`p = 53`) or its square (two float32 limbs, :math:`p =
    24`) of the group's largest term, :math:`c` = ``count[b]``: finer than float32 for a
    few hundred terms. Equal multisets of terms give bitwise equal sums, so relabelled
    graphs and automorphic nodes get equal results. Gradients are those of the plain
    sum.

    Limits: the scale is common to all channels of a graph, so a channel much smaller
    than the graph's largest term keeps correspondingly fewer bits; a graph whose
    largest term is below about :math:`2^{-126 + \beta}` (float32 working precision;
    :math:`2^{-1022 + \beta}` in float64) is rounded more coarsely still; and beyond
    :math:`2^{p - 3}` terms in one output row (about 2 million for float32 limbs) the
    resolution falls to two levels per limb, the sums staying exact (order-invariant)
    up to :math:`2^{p - 1}` terms.

    Args:
        value (torch.Tensor): Terms :math:`(M, C)`.
        index (torch.Tensor): Output row of every term :math:`(M,)`.
        dim_size (int): Output rows.
        group (torch.Tensor): Group (graph) of every output row, :math:`(\text{dim\_size},)`;
            the terms of an output row belong to its group.
        num_groups (int): :math:`B`.
        count (torch.Tensor): Bound on the number of terms of one output row, per group
            :math:`(B,)`.
    """
    term_group = group[index]
    k, bits = _exponents(value, term_group, num_groups, count)
    working, _, _ = _working_precision(value.dtype)

    def apply(fixed):
        return fixed.new_zeros(dim_size, fixed.size(1)).index_add_(0, index, fixed)

    def adjoint(grad):
        return grad.index_select(0, index)

    return _InvariantSum.apply(value, k[term_group], k[group], bits[term_group],
                               bits[group], apply, adjoint)


def _invariant_neighbor_sum(h: Tensor, op: NeighborSum, batch: Tensor, num_graphs: int,
                            count: Tensor) -> Tensor:
    r""":func:`invariant_sum` over in-neighbours with the CSR products of ``op`` (built
    in the working precision of ``h``), without an :math:`(|E|, C)` message tensor;
    where ``op`` has no CSR matrix (see :func:`~lps_geometric.utils.sparse.uses_csr`),
    with a gather and scatter of the messages."""
    k, bits = _exponents(h, batch, num_graphs, count)
    k, bits = k[batch], bits[batch]
    src, dst = op.edge_index

    if op.matrix is not None:
        def apply(fixed):
            return op.matrix @ fixed

        def adjoint(grad):
            return (op.transpose @ grad.to(op.dtype).contiguous()).to(grad.dtype)
    else:
        def apply(fixed):
            return fixed.new_zeros(fixed.shape).index_add_(0, dst, fixed.index_select(0, src))

        def adjoint(grad):
            return grad.new_zeros(grad.shape).index_add_(0, src, grad.index_select(0, dst))

    return _InvariantSum.apply(h, k, k, bits, bits, apply, adjoint)


class PermutationSampler(Sampler):
    r"""Samples node permutations :math:`g \sim p_\theta(g \mid G)` with an equivariant
    network and noise outsourcing (Kim et al., `"Learning Probabilistic Symmetrization for
    Architecture Agnostic Equivariance" <https://arxiv.org/abs/2306.02866>`_).

    A GIN with a virtual node reads the node features and i.i.d. node noise
    :math:`\epsilon_v` and gives a score per node,

    .. math::
        s = \mathrm{GIN}_\theta([x \,\|\, \epsilon], A), \qquad
        \mathrm{rank}_v = \#\{u \in G(v) : (s_u, \epsilon_u) < (s_v, \epsilon_v)\},

    so the hard permutation (the per-graph argsort) is equivariant: permuting the graph and
    its noise permutes the ranks along, and :math:`g^{-1} \cdot G` is invariant. For the
    backward pass the hard assignment is relaxed (SoftSort with temperature :math:`\tau`,
    on a band of :math:`2w+1` positions, optionally Sinkhorn-normalised) with a
    straight-through estimator.

    **Exactness.** The scores are computed so that they are *bitwise* equivariant, not
    only up to rounding: every sum over nodes (neighbour sums, the virtual node's
    pooling) is an :func:`invariant_sum`, whose value does not depend on the order of
    its terms, and every other step acts on each node's row alone (the last layer as a
    row-wise product and sum). Relabelling a graph and moving its noise along therefore
    gives exactly the relabelled scores, and the argsort cannot swap two nearly equal
    scores. Nodes the network cannot tell apart (automorphic nodes always, 1-WL-equivalent
    ones often) get exactly equal scores. Equal keys :math:`(s, \epsilon)` are ordered by
    ``tie_break``:

    - :obj:`"canonical"`: by nauty's canonical labelling of the graph coloured by the
      key, the rows of ``x``, self-loops and the rows of ``edge_attr``
      (:func:`~lps_geometric.groups.nauty.canonical_tie_ranks`; needs :mod:`pynauty`,
      runs on the host only for graphs that have ties, cached by content). The order is
      then equivariant up to an automorphism of the coloured graph: the relabelled graph
      :math:`g^{-1} \cdot G` the backbone reads is exactly invariant.
    - :obj:`"index"`: by node index, which depends on the input's node order.
    - :obj:`"auto"`: :obj:`"canonical"` if :mod:`pynauty` is installed, else
      :obj:`"index"` with a warning the first time a tie is met.

    With noise, ties need equal noise values and are rare. :obj:`noise_scale=0` gives a
    learned canonicalization (Kaba et al., 2023), where ties are common; with the
    canonical tie-break its graph-level outputs are exactly invariant, and node-level
    outputs are equivariant up to an automorphism (automorphic nodes may exchange their
    outputs unless they are averaged over the automorphism group, as MFA does).

    Bitwise equivariance assumes dense kernels whose result for a row does not depend on
    the row's position in the matrix (true of MKL's and cuBLAS's matrix products for the
    shapes used here; the single-column output layer is computed as a row-wise sum
    because a matrix-vector product is not).

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
        tie_break (str, optional): :obj:`"auto"`, :obj:`"canonical"` or :obj:`"index"`,
            see above. (default: :obj:`"auto"`)
        network (torch.nn.Module, optional): Your own permutation-equivariant scoring
            network instead of the GIN, e.g.
            ``torch_geometric.nn.models.GIN(in_channels + 1, 64, 3, out_channels=1)``:
            it is called as ``network(h, edge_index)`` (plus ``edge_attr=`` and
            ``batch=`` when its ``forward`` takes them) on
            :math:`h = [x \,\|\, \epsilon]` of width ``in_channels + 1`` and returns
            one score per node, :math:`(|V|, 1)` or :math:`(|V|,)`. The sampler stays
            equivariant in distribution, but its scores are bitwise equivariant only if
            the network's sums are (the built-in GIN's are); ``hidden_channels``,
            ``num_layers``, ``dropout`` and ``virtual_node`` are then unused.
            (default: :obj:`None`: the GIN above)

    Shapes:
        - **input:** a ``Batch`` with :math:`|V|` nodes and :math:`B` graphs, optional
          noise :math:`(k |V|, 1)` in the stacked node order
        - **output:** :class:`~lps_geometric.samplers.GroupSample` with a
          :class:`~lps_geometric.groups.Permutation` of the :math:`k B` stacked graphs
    """
    #: Canonical forms kept by the canonical tie-break.
    cache_size = 10000

    def __init__(self, in_channels: int, hidden_channels: int = 64, num_layers: int = 3,
                 edge_dim: int = 0, dropout: float = 0.1, virtual_node: bool = True,
                 noise_scale: float = 1.0, noise: str = 'uniform', tau: float = 0.01,
                 band: int = 2, sinkhorn_iters: int = 0, tie_break: str = 'auto',
                 network: Optional[nn.Module] = None):
        super().__init__()
        if network is not None and not isinstance(network, nn.Module):
            raise TypeError(f"'network' must be a torch.nn.Module (got "
                            f"{type(network).__name__})")
        if noise not in ('uniform', 'normal'):
            raise ValueError(f"'noise' must be 'uniform' or 'normal' (got '{noise}')")
        check_relaxation(tau, band, sinkhorn_iters)
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"'tie_break' must be one of {TIE_BREAKS} (got "
                             f"'{tie_break}')")
        if tie_break == 'canonical':
            require_pynauty()
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
        self.tie_break = tie_break
        self._canonical_cache: OrderedDict = OrderedDict()
        self.network = network
        if network is not None:
            params = inspect.signature(network.forward).parameters
            self._network_takes = tuple(name for name in ('edge_attr', 'batch')
                                        if name in params)
            self.reset_parameters()
            return

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
        self._canonical_cache.clear()
        if self.network is not None:
            if hasattr(self.network, 'reset_parameters'):
                self.network.reset_parameters()
            return
        self.encoder.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        if self.virtual_node:
            for mlp in self.virtual_mlps:
                mlp.reset_parameters()
        self.score.reset_parameters()

    def scores(self, data: Data, noise: Tensor) -> Tensor:
        r"""Node scores :math:`s` of shape :obj:`(|V|,)` for a batch and its noise,
        bitwise equivariant (see the class description)."""
        x = data.x if self.in_channels > 0 else None
        if x is not None:  # an (|V|,) x is one channel, as validate_graph_batch reads it
            x = x.reshape(x.size(0), -1).to(noise.dtype)
        h = noise if x is None else torch.cat([x, noise], dim=1)
        if self.network is not None:
            return self._network_scores(h, data)
        h = self.encoder(h)
        batch, N = data.batch, h.size(0)
        B = data.num_graphs
        src, dst = data.edge_index
        # Bounds on the number of terms of one sum, per graph (see invariant_sum).
        in_degree = torch.bincount(dst, minlength=N)
        max_degree = in_degree.new_zeros(B).scatter_reduce(0, batch, in_degree, 'amax')
        graph_size = torch.bincount(batch, minlength=B)
        graph = torch.arange(B, device=batch.device)
        # GIN's sum over neighbours as a CSR product (built once for all
        # layers), without an (|E|, hidden) message tensor.
        neighbor_sum = None if self.edge_dim > 0 else \
            NeighborSum(data.edge_index, N, _working_precision(h.dtype)[0])
        vn = None
        for layer, conv in enumerate(self.convs):
            if vn is not None:
                h = h + vn[batch]
            if neighbor_sum is None:  # GINE: relu(x_u + lin(e_uv)) summed over u
                edge = data.edge_attr.to(h.dtype)
                if edge.dim() == 1:  # one edge channel, as validate_graph_batch reads it
                    edge = edge.unsqueeze(-1)
                if conv.lin is not None:
                    edge = conv.lin(edge)
                message = (h.index_select(0, src) + edge).relu()
                total = invariant_sum(message, dst, N, batch, B, max_degree)
            else:
                total = _invariant_neighbor_sum(h, neighbor_sum, batch, B, max_degree)
            h = conv.nn(total + (1 + conv.eps) * h)
            h = torch.relu(h)
            h = nn.functional.dropout(h, self.dropout, self.training)
            if self.virtual_node and layer < self.num_layers - 1:
                pooled = invariant_sum(h, batch, B, graph, B, graph_size)
                vn = self.virtual_mlps[layer](pooled if vn is None else pooled + vn)
        # A row-wise product and sum: a matrix-vector product's value for a row can
        # depend on the row's position.
        return (h * self.score.weight.view(-1)).sum(dim=-1) + self.score.bias

    def noise_reference(self, data: Optional[Data] = None
                        ) -> Tuple[torch.device, torch.dtype]:
        r"""The device and dtype of the noise the sampler draws: those of its first
        parameter, else (a parameter-free network of the user's) of ``data.x``, else
        the CPU and float32."""
        reference = next(self.parameters(), None)
        if reference is None:
            x = getattr(data, 'x', None) if data is not None else None
            reference = x if isinstance(x, Tensor) and x.is_floating_point() \
                else torch.empty(0)
        return reference.device, reference.dtype

    def _network_scores(self, h: Tensor, data: Data) -> Tensor:
        r"""Scores :math:`(|V|,)` from the user's own ``network``."""
        extra = {}
        if 'edge_attr' in self._network_takes and self.edge_dim > 0:
            extra['edge_attr'] = data.edge_attr
        if 'batch' in self._network_takes:
            extra['batch'] = data.batch
        out = self.network(h, data.edge_index, **extra)
        if not isinstance(out, Tensor) or out.shape not in ((h.size(0),),
                                                            (h.size(0), 1)):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"The sampler's network must return one score per node, "
                             f"shape ({h.size(0)}, 1) or ({h.size(0)},) (got {shape})")
        return out.view(-1)

    def rank_nodes(self, score: Tensor, noise: Tensor, data: Data) -> Permutation:
        r"""The per-graph argsort of the keys :math:`(s_v, \epsilon_v)`, equal keys
        ordered by ``tie_break``.

        Args:
            score (torch.Tensor): Scores :math:`(|V|,)`.
            noise (torch.Tensor): Noise :math:`(|V|,)`.
            data (Data): The (stacked) batch the scores belong to.
        """
        batch, ptr = data.batch, data.ptr
        rank = segment_argsort(score, batch, ptr, tie_break=noise)
        if self.tie_break == 'index' or score.numel() < 2:
            return Permutation(rank, batch, ptr)
        order = torch.empty_like(rank)
        order[ptr[batch] + rank] = torch.arange(rank.numel(), device=rank.device)
        s, e, b = score[order], noise[order], batch[order]
        tie = (s[1:] == s[:-1]) & (e[1:] == e[:-1]) & (b[1:] == b[:-1])
        if not bool(tie.any()):
            return Permutation(rank, batch, ptr)
        if not self._canonical_available():
            return Permutation(rank, batch, ptr)
        new = torch.ones_like(b, dtype=torch.bool)
        new[1:] = ~tie
        key = torch.empty_like(rank)
        key[order] = torch.cumsum(new, 0) - 1
        tied = torch.unique(b[1:][tie])
        canonical = canonical_tie_ranks(data, key, tied, cache=self._canonical_cache,
                                        cache_size=self.cache_size)
        rank = segment_argsort(key.to(torch.float64), batch, ptr,
                               tie_break=canonical.to(torch.float64))
        return Permutation(rank, batch, ptr)

    def _canonical_available(self) -> bool:
        if self.tie_break == 'canonical':
            return True
        try:
            import pynauty  # noqa: F401
        except ImportError:
            warnings.warn("PermutationSampler: nodes with equal scores are ordered by "
                          "node index, which depends on the input's node order; install "
                          "'pynauty' to order them by a canonical labelling "
                          "(tie_break='canonical'), or pass tie_break='index' to "
                          "silence this warning", RuntimeWarning, stacklevel=3)
            return False
        return True

    def forward(self, data: Data, num_samples: int = 1, *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        validate_graph_batch(data, node_channels=self.in_channels,
                             edge_channels=self.edge_dim)
        num_samples = check_positive_int('num_samples', num_samples)
        stacked = replicate_batch(data, num_samples)
        if noise is None:
            device, dtype = self.noise_reference(stacked)
            noise = sample_noise(stacked.num_nodes, self.noise_scale, self.noise,
                                 device, dtype, generator)
        elif noise.shape != (stacked.num_nodes, 1):
            raise ValueError(f"'noise' must have shape ({stacked.num_nodes}, 1) for "
                             f"{num_samples} samples of {data.num_nodes} nodes "
                             f"(got {tuple(noise.shape)})")
        score = self.scores(stacked, noise)
        perm = self.rank_nodes(score.detach(), noise.view(-1).to(score.dtype), stacked)
        band = entropy = None
        if torch.is_grad_enabled() and score.requires_grad:
            soft = banded_soft_rank(score, perm, self.band, self.tau,
                                    self.sinkhorn_iters)
            band = straight_through(soft, self.band)
            entropy = band_entropy(soft)
        return GroupSample.from_copies(perm, stacked, num_samples, num_graphs_of(data),
                                       band=band, entropy=entropy)

    def __repr__(self) -> str:
        network = f'network={self.network}' if self.network is not None else \
            f'hidden_channels={self.hidden_channels}, num_layers={self.num_layers}'
        return (f'{self.__class__.__name__}({self.in_channels}, {network}, '
                f'noise_scale={self.noise_scale}, tau={self.tau}, band={self.band}, '
                f'sinkhorn_iters={self.sinkhorn_iters}, tie_break={self.tie_break!r})')
