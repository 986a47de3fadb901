r"""Samplers for :math:`O(3)`, :math:`SO(3)`, :math:`E(3)`, :math:`SE(3)` and
:math:`S_n \times E(3)`: learned frames (LPS), Haar-uniform rotations (group averaging)
and noise-free frames (canonicalization).

Every sampler returns, for each of the :math:`k` stacked copies of each graph, the
*canonicalizing* element :math:`h = g^{-1}`: :math:`h \cdot x = Q^\top (x - c)` for a
frame :math:`Q` (orthonormal columns) and a centre :math:`c`, so the backbone sees
:math:`g^{-1} \cdot x` and :class:`~lps_geometric.nn.Symmetrize` maps its output back
with :math:`g = (Q, c)`.
"""
import warnings
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import scatter, softmax

from lps_geometric.groups.euclidean import (EuclideanTransform, ProductElement,
                                            canonicalizing_transform, haar_orthogonal)
from lps_geometric.groups.polar import polar_frame
from lps_geometric.groups.symmetric import Permutation
from lps_geometric.nn.models.egnn import EGNN
from lps_geometric.samplers.base import GroupSample, Sampler
from lps_geometric.samplers.relaxation import (band_entropy, banded_soft_rank,
                                               check_relaxation, straight_through)
from lps_geometric.utils.batch import num_graphs_of, replicate_batch
from lps_geometric.utils.validation import (GraphInputError, check_node_tensor,
                                            check_positive_int, checked_input,
                                            validate_graph_batch)

__all__ = ['EuclideanFrameSampler', 'ProductSampler', 'UniformRotationSampler',
           'UniformProductSampler', 'canonicalizing_transform', 'requantile_radii',
           'MIN_CONDITIONING']

_TRANSLATIONS = ('centroid', 'learned', 'none')

#: Default conditioning threshold of learned frames, by dtype (see
#: :class:`EuclideanFrameSampler`).
MIN_CONDITIONING = {torch.float16: 1e-1, torch.bfloat16: 3e-1, torch.float32: 3e-3,
                    torch.float64: 1e-5}


_GOLDEN = (5 ** 0.5 - 1) / 2


def _chi3_cdf(r: Tensor) -> Tensor:
    return (torch.special.erf(r / 2 ** 0.5)
            - (2 / torch.pi) ** 0.5 * r * torch.exp(-r * r / 2))


def requantile_radii(noise: Tensor, scale: float = 1.0, shift: float = _GOLDEN) -> Tensor:
    r"""A deterministic redraw of isotropic Gaussian noise vectors that keeps their
    distribution: every row :math:`\epsilon_i` keeps its direction and gets the radius
    whose quantile under :math:`\sigma \chi_3` is that of
    :math:`\lVert \epsilon_i \rVert` shifted by ``shift`` modulo one,

    .. math::
        \epsilon_i \mapsto \frac{\epsilon_i}{\lVert \epsilon_i \rVert}\,
        \sigma F^{-1}\big(F(\lVert \epsilon_i \rVert / \sigma) + s \bmod 1\big),

    with :math:`F` the CDF of :math:`\chi_3`. A rotation of the circle preserves the
    uniform distribution of the quantiles, so :math:`\mathcal{N}(0, \sigma^2 I_3)`
    noise stays :math:`\mathcal{N}(0, \sigma^2 I_3)`, and the map commutes with
    rotations, reflections and node permutations (moving the noise along with
    :math:`g` moves the redrawn noise along too). Zero rows stay zero.

    Args:
        noise (torch.Tensor): :obj:`(N, 3)`.
        scale (float, optional): :math:`\sigma` (:obj:`1` if not positive).
            (default: :obj:`1.0`)
        shift (float, optional): :math:`s`. (default: the golden ratio conjugate)
    """
    scale = scale if scale > 0 else 1.0
    radius = noise.detach().to(torch.float64).norm(dim=-1, keepdim=True) / scale
    target = torch.remainder(_chi3_cdf(radius) + shift, 1.0)
    lo, hi = torch.zeros_like(radius), torch.full_like(radius, 12.0)
    for _ in range(60):  # bisection: F is increasing, F(12) = 1 in float64
        mid = (lo + hi) / 2
        below = _chi3_cdf(mid) < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    factor = torch.where(radius > 0, (lo + hi) / 2 / torch.where(radius > 0, radius,
                                                                 torch.ones_like(radius)),
                         torch.zeros_like(radius))
    return noise * factor.to(noise.dtype)


def _check_pos(data: Data):
    pos = getattr(data, 'pos', None)
    if pos is None:
        raise ValueError("Euclidean samplers need node positions 'pos' of shape (|V|, 3)")
    if pos.dim() != 2 or pos.size(-1) != 3:
        raise ValueError(f"'pos' must have shape (|V|, 3) (got {tuple(pos.shape)})")


def _check_input(data: Data, num_samples: int, node_channels: Optional[int] = None,
                 edge_channels: Optional[int] = None,
                 vector_keys: Sequence[str] = ()) -> int:
    r"""Validates a batch for a learned Euclidean sampler; returns :math:`k`."""
    num_samples = check_positive_int('num_samples', num_samples)
    validate_graph_batch(data, require_pos=True, node_channels=node_channels,
                         edge_channels=edge_channels)
    _check_pos(data)
    for key in vector_keys:
        value = getattr(data, key, None)
        if value is None:
            raise GraphInputError(f"The sampler reads the vector attribute '{key}', "
                                  f"which the data does not have")
        if not isinstance(value, Tensor) or tuple(value.shape) != (data.pos.size(0), 3):
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value)
            raise GraphInputError(f"The vector attribute '{key}' must have shape "
                                  f"(|V|, 3) = ({data.pos.size(0)}, 3) (got {shape})")
    return num_samples


class EuclideanFrameSampler(Sampler):
    r"""Learned probabilistic frames for :math:`O(3)`, :math:`SO(3)`, :math:`E(3)` and
    :math:`SE(3)` (LPS, Kim et al. 2023).

    An :class:`~lps_geometric.nn.EGNN` reads the point cloud — node scalars ``x``, the
    centred positions :math:`x_i - \bar{x}`, the vector attributes named in
    ``vector_keys`` (e.g. velocities) and an isotropic Gaussian noise vector
    :math:`\epsilon_i \sim \mathcal{N}(0, \sigma^2 I_3)` per node — and returns three
    translation-invariant, rotation-equivariant vectors per node; their sums over each
    graph, :math:`M = [v_1\, v_2\, v_3]`, give the frame :math:`Q`, the orthogonal polar
    factor of :math:`M` (:func:`~lps_geometric.groups.polar_frame`: the orthogonal matrix
    nearest to :math:`M`, :math:`\det Q = \pm 1`, for :math:`O(3)`; the nearest rotation
    for :math:`SO(3)`). The
    centre :math:`c` is the centroid, a learned convex combination
    :math:`\sum_i \mathrm{softmax}(w^\top h_i)\, x_i` of the points, or the origin
    (``translation="none"``, for :math:`O(3)`/:math:`SO(3)` only).

    Since the noise is isotropic, transforming the input by :math:`g` transforms the
    frame's distribution by :math:`g`: :math:`p(Q \mid g x) = p(g^{-1} Q \mid x)`. For a
    fixed noise transformed along (:math:`\epsilon \mapsto R \epsilon`) the frame is
    exactly equivariant, :math:`(Q, c) \mapsto (R Q, R c + t)`. Gradients reach the
    network through the first derivative of the polar factor (no relaxation is needed
    for a continuous group). ``noise_scale=0`` with one sample is learned
    canonicalization (Kaba et al. 2023).

    **Conditioning.** In floating point the pooled vectors carry a relative rounding
    error :math:`\varepsilon \approx c\, u / \nu` (:math:`u` the dtype's unit
    roundoff, :math:`c` a small constant) whichever frame of the input is used, where
    :math:`\nu = \min(1, \lVert M \rVert_F / (\sum_i \lVert V_i \rVert_F^2)^{1/2})`
    measures the cancellation in the sum of the node vectors :math:`V_i` (about
    :math:`u` when they cancel exactly, as on a symmetric cloud without noise, where
    :math:`M` is pure rounding), and the frame moves by about
    :math:`\varepsilon / \mu_M`, where :math:`\mu_M` is the invariant conditioning of
    :math:`M` with singular values :math:`\sigma_1 \ge \sigma_2 \ge \sigma_3`
    (:func:`~lps_geometric.groups.frame_conditioning`):
    :math:`(\sigma_2 + \operatorname{sign}(\det M)\, \sigma_3) / \sigma_1` for
    :math:`SO(3)`, :math:`\min((\sigma_2 + \sigma_3) / \sigma_1,
    \sqrt{\sigma_3 / \sigma_1})` for :math:`O(3)` (whose frame must also follow the
    sign of :math:`\det M`). The sampler's criterion is :math:`\mu = \nu\, \mu_M`,
    invariant under the group and the node order; :math:`\mu = 0` where no equivariant
    frame is stable: rank-deficient :math:`M`, e.g. for a single node, whose pooled
    vectors all derive from one noise vector, or without noise on a cloud with a
    continuous stabiliser or a symmetry that cancels the pooled vectors.
    A copy with :math:`\mu <` ``min_conditioning`` gets new noise, for that copy only,
    up to ``max_redraws`` times: fresh Gaussian noise when the sampler draws it, and
    when the noise is given a deterministic, equivariant redraw with the same Gaussian
    distribution, :math:`\epsilon_i \mapsto \epsilon_i - 2 \bar\epsilon` (an orthogonal
    map of the copy's nodes) followed by :func:`requantile_radii`. Rejection by an
    invariant criterion keeps the sample equivariant in distribution, and with given
    noise moved along with :math:`g` the redraws move along too, so exactness is kept.
    Copies still below the threshold after the redraws are counted in
    ``GroupSample.num_degenerate`` and a :class:`RuntimeWarning` is issued: their
    frames are orthogonal but not guaranteed equivariant. ``GroupSample.conditioning``
    holds every copy's final :math:`\mu` and ``GroupSample.num_redrawn`` the number of
    copies redrawn. What holds: with the noise moved along, every copy whose :math:`\mu`
    is above the threshold for both :math:`x` and :math:`g \cdot x` is equivariant up
    to about :math:`\varepsilon / \mu` times the backbone's sensitivity to its frame; a
    copy whose :math:`\mu` lies within rounding of the threshold can be accepted for
    one and redrawn for the other (probability of order :math:`\varepsilon`).

    Args:
        in_channels (int): Node scalar features (``data.x``); :obj:`0` for none.
        hidden_channels (int, optional): EGNN width. (default: :obj:`64`)
        num_layers (int, optional): EGNN layers. (default: :obj:`3`)
        vector_keys (sequence of str, optional): Node vector attributes read besides
            ``pos`` (e.g. :obj:`("vel",)`). (default: :obj:`()`)
        edge_dim (int, optional): Edge features (``data.edge_attr``). (default: :obj:`0`)
        special (bool, optional): :math:`SO(3)`/:math:`SE(3)` frames. (default:
            :obj:`False`)
        translation (str, optional): :obj:`"centroid"`, :obj:`"learned"` or
            :obj:`"none"`. (default: :obj:`"centroid"`)
        noise_scale (float, optional): :math:`\sigma`. (default: :obj:`1.0`)
        norm (bool, optional): Normalise every EGNN layer's scalars and vectors
            (``EGNNConv(norm=True)``). Without it the EGNN's magnitudes can grow
            from layer to layer and overflow after long training, which the sampler
            reports as an error rather than return a frame that is not equivariant.
            (default: :obj:`False`)
        min_conditioning (float, optional): Redraw the noise of copies whose frame's
            conditioning :math:`\mu` is below this; :obj:`None` takes
            :obj:`MIN_CONDITIONING` of the dtype: :obj:`3e-3` for float32,
            :obj:`1e-5` for float64, so that the frame error
            :math:`\varepsilon / \mu_M \approx 10 u / \mu` stays below
            :math:`2 \cdot 10^{-4}` (float32) and :math:`10^{-10}` (float64), under
            the dtype's equivariance tolerance; :obj:`0` never redraws. (default:
            :obj:`None`)
        max_redraws (int, optional): Redraws per call. (default: :obj:`4`)
        network (torch.nn.Module, optional): Your own E(3)-equivariant network in
            place of the EGNN, with the interface of :class:`~lps_geometric.nn.EGNN`:
            ``network(x, pos, edge_index, vec=..., edge_attr=...)`` returns
            ``(h, pos, vec)``, where the input ``vec`` has
            :math:`2 + |\text{vector\_keys}|` channels :math:`(|V|, 2 + V, 3)` (the
            centred positions, the vector attributes, the noise) and the output ``vec``
            three :math:`(|V|, 3, 3)`, e.g.
            ``EGNN(max(in_channels, 1), 128, 5, vector_channels=2,
            out_vector_channels=3, update_pos=False)``. ``x`` is a column of ones
            when ``in_channels=0``. With ``translation="learned"`` the width of ``h``
            must be ``hidden_channels``; ``num_layers`` and ``norm`` are then unused.
            (default: :obj:`None`: an EGNN of ``hidden_channels`` and ``num_layers``)

    Frame vectors that are not finite raise a :class:`FloatingPointError`: any frame
    built from them would be a fixed fallback, silently losing equivariance.

    Shapes:
        - **input:** a batch with ``pos`` :math:`(|V|, 3)` (and ``x``, ``edge_attr``, the
          vector attributes), ``num_samples`` :math:`k`; optional ``noise``
          :math:`(k|V|, 3)`
        - **output:** :class:`~lps_geometric.samplers.GroupSample` with a
          :class:`~lps_geometric.groups.EuclideanTransform` for the :math:`kB` stacked
          graphs
    """
    requires_pos = True

    def __init__(self, in_channels: int, hidden_channels: int = 64, num_layers: int = 3,
                 vector_keys: Sequence[str] = (), edge_dim: int = 0, special: bool = False,
                 translation: str = 'centroid', noise_scale: float = 1.0,
                 norm: bool = False, min_conditioning: Optional[float] = None,
                 max_redraws: int = 4, network: Optional[nn.Module] = None):
        super().__init__()
        if network is not None and not isinstance(network, nn.Module):
            raise TypeError(f"'network' must be a torch.nn.Module (got "
                            f"{type(network).__name__})")
        if translation not in _TRANSLATIONS:
            raise ValueError(f"'translation' must be one of {_TRANSLATIONS} "
                             f"(got '{translation}')")
        if noise_scale < 0:
            raise ValueError(f"'noise_scale' must be non-negative (got {noise_scale})")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.vector_keys = tuple(vector_keys)
        self.edge_dim = edge_dim
        self.special = special
        self.translation = translation
        self.noise_scale = noise_scale
        self.norm = norm
        if min_conditioning is not None and not 0 <= min_conditioning < 1:
            raise ValueError(f"'min_conditioning' must lie in [0, 1) (got "
                             f"{min_conditioning})")
        self.min_conditioning = min_conditioning
        self.max_redraws = check_positive_int('max_redraws', max_redraws, minimum=0)
        self.net = network if network is not None else EGNN(
            max(in_channels, 1), hidden_channels, num_layers,
            vector_channels=2 + len(self.vector_keys), out_vector_channels=3,
            edge_dim=edge_dim, update_pos=False, norm=norm)
        self.center_head = nn.Linear(hidden_channels, 1) if translation == 'learned' \
            else None

    def reset_parameters(self):
        if hasattr(self.net, 'reset_parameters'):
            self.net.reset_parameters()
        if self.center_head is not None:
            self.center_head.reset_parameters()

    @property
    def group_name(self) -> str:
        rot = 'SO(3)' if self.special else 'O(3)'
        if self.translation == 'none':
            return rot
        return 'SE(3)' if self.special else 'E(3)'

    def _noise(self, stacked: Data, noise: Optional[Tensor],
               generator: Optional[torch.Generator]) -> Tensor:
        pos = stacked.pos
        if noise is None:
            noise = torch.randn(pos.shape, generator=generator, device=pos.device,
                                dtype=pos.dtype) * self.noise_scale
        elif noise.shape != pos.shape:
            raise ValueError(f"'noise' must have shape {tuple(pos.shape)} (one 3-vector "
                             f"per stacked node), got {tuple(noise.shape)}")
        else:  # the EGNN reads it unchecked (see encode)
            check_node_tensor('noise', noise, pos.size(0), floating=True)
        return noise.to(pos.dtype)

    def encode(self, stacked: Data, noise: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Runs the EGNN on a stacked batch; returns node scalars :math:`h`
        :math:`(N, C)`, node frame vectors :math:`(N, 3, 3)` and centroids
        :math:`(kB, 3)`."""
        batch, B = stacked.batch, stacked.num_graphs
        pos = stacked.pos
        centroid = scatter(pos, batch, dim=0, dim_size=B, reduce='mean')
        vectors = [pos - centroid[batch]]
        for key in self.vector_keys:
            value = getattr(stacked, key, None)
            if value is None:
                raise ValueError(f"The sampler reads the vector attribute '{key}', "
                                 f"which the data does not have")
            vectors.append(value.to(pos.dtype).view(pos.size(0), 3))
        vectors.append(noise)
        vec = torch.stack(vectors, dim=1)
        x = stacked.x.to(pos.dtype).view(pos.size(0), -1) if self.in_channels > 0 \
            else pos.new_ones(pos.size(0), 1)
        edge_attr = stacked.edge_attr.to(pos.dtype) if self.edge_dim > 0 else None
        # the batch was checked by forward: the EGNN does not check it (nor a redrawn
        # subset) again
        with checked_input():
            h, _, vec_out = self.net(x, pos, stacked.edge_index, vec=vec,
                                     edge_attr=edge_attr)
        if not isinstance(vec_out, Tensor) or vec_out.shape != (pos.size(0), 3, 3):
            shape = tuple(vec_out.shape) if isinstance(vec_out, Tensor) else \
                type(vec_out).__name__
            raise ValueError(f"The sampler's network must return three vectors per "
                             f"node, shape ({pos.size(0)}, 3, 3) (got {shape})")
        return h, vec_out, centroid

    def frame(self, stacked: Data, noise: Tensor) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        r"""Frames :math:`Q` :math:`(kB, 3, 3)`, centres :math:`(kB, 3)` (or
        :obj:`None`) and node scalars :math:`h` for the given noise (no redraws)."""
        frame, center, h, _ = self._frame(stacked, noise)
        return frame, center, h

    def _frame(self, stacked: Data, noise: Tensor
               ) -> Tuple[Tensor, Optional[Tensor], Tensor, Tensor]:
        h, vec_out, centroid = self.encode(stacked, noise)
        batch, B = stacked.batch, stacked.num_graphs
        vectors = scatter(vec_out, batch, dim=0, dim_size=B, reduce='sum')  # (B, 3, 3)
        finite = torch.isfinite(vectors).flatten(1).all(dim=1)    # (B,)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise FloatingPointError(
                f'{self.__class__.__name__}: the frame network returned non-finite '
                f'vectors for {bad} of {B} graphs (its activations overflowed); a '
                f'fallback frame would not be equivariant. Use norm=True (normalised '
                f'EGNN layers), a lower learning rate or inputs of a smaller scale')
        frame, conditioning = polar_frame(vectors, special=self.special,
                                          return_conditioning=True)
        with torch.no_grad():  # cancellation in the pooling sum: nu = |M| / |(V_i)_i|
            spread = scatter(vec_out.detach().pow(2).sum(dim=(1, 2)), batch, dim=0,
                             dim_size=B, reduce='sum').sqrt()
            pooled = vectors.detach().flatten(1).norm(dim=1)
            nu = torch.where(spread > 0, pooled / torch.where(spread > 0, spread,
                                                               torch.ones_like(spread)),
                             torch.zeros_like(spread)).clamp(max=1)
            conditioning = conditioning * nu.to(conditioning.dtype)
        if self.translation == 'none':
            center = None
        elif self.translation == 'centroid':
            center = centroid
        else:
            weight = softmax(self.center_head(h).squeeze(-1), batch, num_nodes=B)
            center = scatter(weight.unsqueeze(-1) * stacked.pos, batch, dim=0,
                             dim_size=B, reduce='sum')
        return frame, center, h, conditioning

    def threshold(self, dtype: torch.dtype) -> float:
        r"""The conditioning below which a copy's noise is redrawn."""
        if self.min_conditioning is not None:
            return self.min_conditioning
        return MIN_CONDITIONING.get(dtype, MIN_CONDITIONING[torch.float32])

    def _redraw(self, noise: Tensor, batch: Tensor, num_graphs: int, given: bool,
                generator: Optional[torch.Generator]) -> Tensor:
        if not given:
            return torch.randn(noise.shape, generator=generator, device=noise.device,
                               dtype=noise.dtype) * self.noise_scale
        # reflect every graph's noise across the plane orthogonal to (1, ..., 1)
        # (orthogonal on the node axis: i.i.d. Gaussian rows stay i.i.d. Gaussian),
        # then give each row a new radius
        mean = scatter(noise, batch, dim=0, dim_size=num_graphs, reduce='mean')
        return requantile_radii(noise - 2 * mean[batch], self.noise_scale)

    def _subset(self, stacked: Data, keep: Tensor) -> Tuple[Data, Tensor, Tensor]:
        r"""The graphs ``keep`` :math:`(kB,)` of a stacked batch as a batch of their
        own (the attributes :meth:`encode` reads), with their graph and node
        indices."""
        batch = stacked.batch
        node_keep = keep[batch]
        graphs = keep.nonzero().view(-1)
        nodes = node_keep.nonzero().view(-1)
        new_graph = torch.full_like(keep, -1, dtype=torch.long)
        new_graph[graphs] = torch.arange(graphs.numel(), device=keep.device)
        new_node = torch.full_like(batch, -1)
        new_node[nodes] = torch.arange(nodes.numel(), device=batch.device)
        edge_index = stacked.edge_index
        edges = node_keep[edge_index[0]].nonzero().view(-1)
        sub = Data(pos=stacked.pos[nodes], edge_index=new_node[edge_index[:, edges]],
                   num_nodes=nodes.numel())
        sub.batch = new_graph[batch[nodes]]
        sub.num_graphs = graphs.numel()
        if self.in_channels > 0:
            sub.x = stacked.x[nodes]
        if self.edge_dim > 0:
            sub.edge_attr = stacked.edge_attr[edges]
        for key in self.vector_keys:
            sub[key] = stacked[key][nodes]
        return sub, graphs, nodes

    def conditioned_frame(self, stacked: Data, noise: Tensor, given: bool = True,
                          generator: Optional[torch.Generator] = None):
        r"""Frames, centres and node scalars as :meth:`frame`, with the noise of
        ill-conditioned copies redrawn (see the class description).

        Returns:
            ``(frame, center, h, noise, conditioning, num_redrawn, num_degenerate)``:
            the frames :math:`(kB, 3, 3)`, centres :math:`(kB, 3)` or :obj:`None`, node
            scalars :math:`(k|V|, C)`, the noise finally used :math:`(k|V|, 3)`, the
            conditioning :math:`\mu` :math:`(kB,)`, the number of copies redrawn and
            of copies still below the threshold.
        """
        frame, center, h, mu = self._frame(stacked, noise)
        threshold = self.threshold(frame.dtype)
        if threshold <= 0:
            return frame, center, h, noise, mu, 0, 0
        bad = mu < threshold
        if not bool(bad.any()):          # the common case: one synchronisation
            return frame, center, h, noise, mu, 0, 0
        redrawn = torch.zeros_like(bad)
        for _ in range(self.max_redraws if self.noise_scale > 0 else 0):
            if not bool(bad.any()):
                break
            redrawn = redrawn | bad
            # rerun the network on the ill-conditioned copies only
            sub, graphs, nodes = self._subset(stacked, bad)
            sub_noise = self._redraw(noise[nodes], sub.batch, sub.num_graphs, given,
                                     generator)
            frame2, center2, h2, mu2 = self._frame(sub, sub_noise)
            frame = frame.index_copy(0, graphs, frame2)
            if center is not None:
                center = center.index_copy(0, graphs, center2)
            h = h.index_copy(0, nodes, h2)
            noise = noise.index_copy(0, nodes, sub_noise)
            mu = mu.index_copy(0, graphs, mu2)
            bad = mu < threshold
        num_degenerate, num_redrawn = torch.stack([bad.sum(), redrawn.sum()]).tolist()
        if num_degenerate:
            warnings.warn(
                f'{self.__class__.__name__}: {num_degenerate} of {bad.numel()} copies '
                f'have an ill-conditioned frame (conditioning below {threshold:.0e} '
                f'after {self.max_redraws} redraws of their noise): their '
                f'equivariance error is the rounding of the pooled vectors divided by '
                f'the conditioning, so it may exceed the tolerance of the dtype, and '
                f'they are not equivariant at all when the pooled vectors are '
                f'rank-deficient (single-node graphs, symmetric clouds without noise); '
                f'see GroupSample.conditioning', RuntimeWarning, stacklevel=3)
        return frame, center, h, noise, mu, num_redrawn, num_degenerate

    def forward(self, data: Data, num_samples: int = 1, *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        num_samples = _check_input(data, num_samples, self._node_channels(),
                                   self.edge_dim if self.edge_dim > 0 else None,
                                   self.vector_keys)
        stacked = replicate_batch(data, num_samples)
        given = noise is not None
        noise = self._noise(stacked, noise, generator)
        frame, center, _, _, mu, redrawn, degenerate = self.conditioned_frame(
            stacked, noise, given, generator)
        element = canonicalizing_transform(frame, center, stacked.batch)
        return GroupSample.from_copies(element, stacked, num_samples,
                                       num_graphs_of(data), conditioning=mu,
                                       num_redrawn=redrawn, num_degenerate=degenerate)

    def _node_channels(self) -> Optional[int]:
        return self.in_channels if self.in_channels > 0 else None

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, group={self.group_name}, '
                f'hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, '
                f'vector_keys={self.vector_keys}, translation={self.translation}, '
                f'noise_scale={self.noise_scale}' + (', norm=True' if self.norm else '')
                + ')')


class ProductSampler(EuclideanFrameSampler):
    r"""Learned probabilistic symmetrization for :math:`S_n \times E(3)` (or
    :math:`S_n \times O(3)`, ...): one :class:`~lps_geometric.nn.EGNN` gives both the
    frame (as in :class:`EuclideanFrameSampler`) and an invariant score per node,
    :math:`s_i = w^\top h_i`, whose per-graph argsort is the permutation part (as in
    :class:`~lps_geometric.samplers.PermutationSampler`). Since :math:`h_i` depends on the
    Gaussian noise vectors through invariants, the scores are random and tie-free; the
    straight-through banded soft rank carries the gradient of the permutation part, the
    polar factor that of the frame. Ill-conditioned copies are redrawn as in
    :class:`EuclideanFrameSampler` (their scores with them).

    Extra arguments (besides :class:`EuclideanFrameSampler`'s): ``tau``, ``band`` and
    ``sinkhorn_iters`` of the soft rank (see
    :func:`~lps_geometric.samplers.banded_soft_rank`). The default temperature is
    :obj:`0.1`, ten times :class:`~lps_geometric.samplers.PermutationSampler`'s: the
    n-body example trains with it, and its recorded results were measured with it.
    """
    def __init__(self, in_channels: int, hidden_channels: int = 64, num_layers: int = 3,
                 vector_keys: Sequence[str] = (), edge_dim: int = 0, special: bool = False,
                 translation: str = 'centroid', noise_scale: float = 1.0, tau: float = 0.1,
                 band: int = 2, sinkhorn_iters: int = 0, norm: bool = False,
                 min_conditioning: Optional[float] = None, max_redraws: int = 4,
                 network: Optional[nn.Module] = None):
        super().__init__(in_channels, hidden_channels, num_layers, vector_keys, edge_dim,
                         special, translation, noise_scale, norm, min_conditioning,
                         max_redraws, network)
        check_relaxation(tau, band, sinkhorn_iters)
        self.tau = tau
        self.band = band
        self.sinkhorn_iters = sinkhorn_iters
        self.score = nn.Linear(hidden_channels, 1)

    def reset_parameters(self):
        super().reset_parameters()
        self.score.reset_parameters()

    @property
    def group_name(self) -> str:
        return f'S_n x {super().group_name}'

    def forward(self, data: Data, num_samples: int = 1, *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        num_samples = _check_input(data, num_samples, self._node_channels(),
                                   self.edge_dim if self.edge_dim > 0 else None,
                                   self.vector_keys)
        stacked = replicate_batch(data, num_samples)
        given = noise is not None
        noise = self._noise(stacked, noise, generator)
        frame, center, h, noise, mu, redrawn, degenerate = self.conditioned_frame(
            stacked, noise, given, generator)
        score = self.score(h).squeeze(-1)
        # Exactly equal scores are ordered by the length of the node's noise vector
        # (invariant, and it moves with the node), not by node index.
        perm = Permutation.from_scores(score.detach(), stacked.batch, stacked.ptr,
                                       tie_break=noise.detach().norm(dim=-1))
        band = entropy = None
        if torch.is_grad_enabled() and score.requires_grad:
            soft = banded_soft_rank(score, perm, self.band, self.tau, self.sinkhorn_iters)
            band = straight_through(soft, self.band)
            entropy = band_entropy(soft)
        element = ProductElement(perm, canonicalizing_transform(frame, center,
                                                                stacked.batch))
        return GroupSample.from_copies(element, stacked, num_samples,
                                       num_graphs_of(data), band=band, entropy=entropy,
                                       conditioning=mu, num_redrawn=redrawn,
                                       num_degenerate=degenerate)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', tau={self.tau}, band={self.band})'


class UniformRotationSampler(Sampler):
    r"""Group averaging over :math:`O(3)`/:math:`SO(3)` with Haar-uniform samples
    (:func:`~lps_geometric.groups.haar_orthogonal`), composed with centring for
    :math:`E(3)`/:math:`SE(3)` (the translation part is non-compact and has no uniform
    measure; centring at the centroid is its canonicalization).

    Args:
        special (bool, optional): Sample :math:`SO(3)`. (default: :obj:`False`)
        center (bool, optional): Subtract the centroid (:math:`E(3)`/:math:`SE(3)`).
            (default: :obj:`True`)
    """
    requires_pos = True

    def __init__(self, special: bool = False, center: bool = True):
        super().__init__()
        self.special = special
        self.center = center

    def _transform(self, stacked: Data, generator: Optional[torch.Generator]
                   ) -> EuclideanTransform:
        pos = stacked.pos
        rot = haar_orthogonal(stacked.num_graphs, 3, self.special, generator, pos.device,
                              pos.dtype)
        center = scatter(pos, stacked.batch, dim=0, dim_size=stacked.num_graphs,
                         reduce='mean') if self.center else None
        # h = (R^T, -R^T c) with R Haar is again Haar-distributed: use R as the frame.
        return canonicalizing_transform(rot, center, stacked.batch)

    def forward(self, data: Data, num_samples: int = 1, *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        num_samples = _check_input(data, num_samples)
        stacked = replicate_batch(data, num_samples)
        return GroupSample.from_copies(self._transform(stacked, generator), stacked,
                                       num_samples, num_graphs_of(data))

    def reset_parameters(self):
        pass

    def __repr__(self) -> str:
        group = ('S' if self.special else '') + ('E(3)' if self.center else 'O(3)')
        return f'{self.__class__.__name__}({group})'


class UniformProductSampler(UniformRotationSampler):
    r"""Group averaging over :math:`S_n \times O(3)` (and centring for
    :math:`S_n \times E(3)`): a uniform permutation and a Haar rotation per sample."""
    def forward(self, data: Data, num_samples: int = 1, *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        num_samples = _check_input(data, num_samples)
        stacked = replicate_batch(data, num_samples)
        perm = Permutation.random(stacked.batch, stacked.ptr, generator)
        element = ProductElement(perm, self._transform(stacked, generator))
        return GroupSample.from_copies(element, stacked, num_samples,
                                       num_graphs_of(data))

    def __repr__(self) -> str:
        return 'UniformProductSampler(S_n x ' + super().__repr__().split('(', 1)[1]
