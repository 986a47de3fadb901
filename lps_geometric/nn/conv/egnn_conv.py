r"""An :math:`E(n)`-equivariant message passing layer with several vector channels."""
from typing import Callable, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.resolver import activation_resolver
from torch_geometric.utils import scatter

from lps_geometric.utils.validation import GraphInputError

__all__ = ['EGNNConv']


def _mlp(in_channels: int, hidden_channels: int, out_channels: int, act: nn.Module,
         final_act: bool = False) -> nn.Sequential:
    r"""A 2-layer MLP :math:`\mathrm{Lin} \to \sigma \to \mathrm{Lin} \,(\to \sigma)`."""
    layers = [nn.Linear(in_channels, hidden_channels), act,
              nn.Linear(hidden_channels, out_channels)]
    if final_act:
        layers.append(act)
    return nn.Sequential(*layers)


def _reset(module: Optional[nn.Module]):
    if module is None:
        return
    for child in module.modules():
        if isinstance(child, nn.Linear):
            child.reset_parameters()


class EGNNConv(MessagePassing):
    r"""The :math:`E(n)`-equivariant graph convolution of Satorras et al.,
    `"E(n) Equivariant Graph Neural Networks" <https://arxiv.org/abs/2102.09844>`_,
    generalised from one velocity to :math:`V` vector channels per node that are mixed
    with each other and exchanged between neighbours.

    Every node :math:`i` carries invariant features :math:`h_i \in \mathbb{R}^F`, a
    position :math:`x_i \in \mathbb{R}^3` and vectors
    :math:`v_i = (v_i^1, \dots, v_i^V) \in \mathbb{R}^{V \times 3}`. Messages flow
    :math:`j \to i` along the edges :math:`(j, i)` of ``edge_index`` (PyG's
    :obj:`"source_to_target"` flow: :math:`j` = ``edge_index[0]`` is the source,
    :math:`i` = ``edge_index[1]`` the target); :math:`\mathcal{N}(i)` are the sources of
    the edges into :math:`i` and :math:`\deg_i = \max(|\mathcal{N}(i)|, 1)` (clamped so
    that isolated nodes get no NaN). Per edge,

    .. math::
        r_{ij} = x_i - x_j, \qquad d_{ij} = \|r_{ij}\|^2, \qquad
        u_{ij} = \begin{cases} r_{ij} / (\sqrt{d_{ij}} + \epsilon)
        & \text{if } \texttt{normalize} \\ r_{ij} & \text{otherwise,} \end{cases}

    and the message is a 2-layer MLP (activation after both layers) of invariants,

    .. math::
        m_{ij} = \phi_e\big(h_i, h_j, d_{ij}, a_{ij},
        (\langle v_i^c, u_{ij} \rangle)_{c}, (\langle v_j^c, u_{ij} \rangle)_{c},
        (\langle v_i^c, v_j^c \rangle)_{c}\big) \in \mathbb{R}^H,

    with the edge features :math:`a_{ij}` (if ``edge_dim > 0``). The node updates are

    .. math::
        h_i' &= h_i + \phi_h\big(h_i, \textstyle\square_{j \in \mathcal{N}(i)}
        m_{ij}\big), \\
        v_i'^{\,c} &= v_i^c + \phi_g(h_i)_c \sum_{c'} W_{c c'} v_i^{c'}
        + \frac{1}{\deg_i} \sum_{j \in \mathcal{N}(i)} \Big( u_{ij} \, \phi_r(m_{ij})_c
        + \sum_{c'} \phi_v(m_{ij})_{c c'} \, v_j^{c'} \Big), \\
        x_i' &= x_i + \frac{1}{\deg_i} \sum_{j \in \mathcal{N}(i)} u_{ij} \,
        \phi_x(m_{ij}) + \sum_{c} \phi_s(h_i)_c \, v_i'^{\,c},

    where :math:`\square` is the sum (:obj:`aggr="add"`) or the mean
    (:obj:`aggr="mean"`) and the coordinate and vector updates always use the mean
    :math:`1/\deg_i` (EGNN's normalisation for stability). The residual :math:`h_i +`
    is used when ``residual`` and :math:`F = F'`, the residual :math:`v_i^c +` when
    ``residual`` and :math:`V = V'`, the gate :math:`\phi_g(h_i)_c` (else :math:`1`)
    when ``gate``. With ``tanh``, the edge coefficients :math:`\phi_x`, :math:`\phi_r`
    and :math:`\phi_v` pass through :math:`\tanh`. The :math:`\phi` are 2-layer MLPs of
    width :math:`H`, :math:`W \in \mathbb{R}^{V' \times V}` a linear map without bias.
    With :math:`V = 1`, :math:`V' = 1` and no neighbour vector terms this is EGNN's
    velocity variant (:math:`v` the velocity, :math:`x_i' = x_i + \ldots +
    \phi_s(h_i) v_i'`).

    The layer is :math:`E(3)`-equivariant (rotations and reflections): for
    :math:`Q \in O(3)`, :math:`t \in \mathbb{R}^3` the input
    :math:`(h, Q x + t, v Q^\top)` gives :math:`(h', Q x' + t, v' Q^\top)`, i.e.
    :math:`h'` is invariant, :math:`x'` equivariant and :math:`v'` rotation equivariant
    and translation invariant. It is permutation equivariant, and all edge work is
    gather/scatter (no dense :math:`N \times N`).

    Args:
        in_channels (int): Node feature size :math:`F`.
        out_channels (int): Output node feature size :math:`F'`.
        vector_channels (int, optional): Input vector channels :math:`V \geq 0`.
            (default: :obj:`1`)
        out_vector_channels (int, optional): Output vector channels :math:`V' \geq 0`.
            (default: ``vector_channels``)
        hidden_channels (int, optional): Width :math:`H` of the MLPs and messages.
            (default: ``out_channels``)
        edge_dim (int, optional): Edge feature size :math:`D` (:obj:`0`: none).
            (default: :obj:`0`)
        update_pos (bool, optional): Update the positions; otherwise :math:`x' = x`.
            (default: :obj:`True`)
        aggr (str, optional): :obj:`"add"` or :obj:`"mean"` aggregation of the messages
            for :math:`h`. (default: :obj:`"add"`)
        act (str or Callable, optional): The activation :math:`\sigma` of the MLPs.
            (default: :obj:`"silu"`)
        tanh (bool, optional): Bound the edge coefficients by :math:`\tanh`.
            (default: :obj:`False`)
        residual (bool, optional): Residual connections (when the sizes match).
            (default: :obj:`True`)
        normalize (bool, optional): Use the unit direction
            :math:`u_{ij} = r_{ij} / (\|r_{ij}\| + \epsilon)` instead of :math:`r_{ij}`
            (EGNN's "norm_diff"): bounded coordinate updates for stability. Coincident
            positions give :math:`u_{ij} = 0` and finite gradients of size
            :math:`\sim 1/\epsilon`. (default: :obj:`False`)
        eps (float, optional): :math:`\epsilon` of ``normalize``. (default: :obj:`1e-8`)
        gate (bool, optional): Gate the self term by :math:`\phi_g(h_i)`.
            (default: :obj:`True`)
        norm (bool, optional): Normalise the layer's outputs: LayerNorm of
            :math:`h_i'`, and each node's vector channels divided by their RMS length,
            :math:`v_i'^{\,c} \gets \gamma_c\, v_i'^{\,c} / (\frac{1}{V'}\sum_{c'}
            \|v_i'^{\,c'}\|^2 + \epsilon)^{1/2}` (an invariant, so equivariance is
            kept). The messages read products of vectors (:math:`\langle v_i^c, v_j^c
            \rangle`) and scale vectors by learned functions of them, so without it the
            magnitudes can grow like a high power of the input's per layer and
            overflow in deep stacks or after long training. (default:
            :obj:`False`)
        **kwargs (optional): Further arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    The last layer of :math:`\phi_x` starts small (Xavier, gain :math:`10^{-3}`), so that
    deep stacks start close to :math:`x' = x` (as in EGNN).

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``pos`` :math:`(N, 3)`, ``vec``
          :math:`(N, V, 3)` or :obj:`None` (zeros), ``edge_index`` :math:`(2, E)`,
          ``edge_attr`` :math:`(E, D)` or :obj:`None`
        - **output:** ``x'`` :math:`(N, F')`, ``pos'`` :math:`(N, 3)`, ``vec'``
          :math:`(N, V', 3)`

    Example:
        >>> conv = EGNNConv(16, 32, vector_channels=2, out_vector_channels=3)
        >>> h, pos, vec = conv(x, pos, vec, edge_index)  # (N, 32), (N, 3), (N, 3, 3)
    """
    def __init__(self, in_channels: int, out_channels: int, vector_channels: int = 1,
                 out_vector_channels: Optional[int] = None,
                 hidden_channels: Optional[int] = None, edge_dim: int = 0,
                 update_pos: bool = True, aggr: str = 'add',
                 act: Union[str, Callable, None] = 'silu', tanh: bool = False,
                 residual: bool = True, normalize: bool = False, eps: float = 1e-8,
                 gate: bool = True, norm: bool = False, **kwargs):
        if aggr == 'sum':
            aggr = 'add'
        if aggr not in ('add', 'mean'):
            raise ValueError(f"'aggr' must be 'add' or 'mean' (got '{aggr}')")
        if out_vector_channels is None:
            out_vector_channels = vector_channels
        if vector_channels < 0 or out_vector_channels < 0:
            raise ValueError(f"Vector channels must be non-negative (got "
                             f"{vector_channels} -> {out_vector_channels})")
        if edge_dim < 0:
            raise ValueError(f"'edge_dim' must be non-negative (got {edge_dim})")
        kwargs.setdefault('node_dim', 0)
        super().__init__(aggr=None, **kwargs)  # aggregation: see `aggregate`
        if self.node_dim != 0:
            raise ValueError(f"'node_dim' must be 0 (got {self.node_dim})")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.vector_channels = vector_channels
        self.out_vector_channels = out_vector_channels
        self.hidden_channels = hidden_channels or out_channels
        self.edge_dim = edge_dim
        self.update_pos = update_pos
        self.node_aggr = aggr
        self.tanh = tanh
        self.residual = residual
        self.normalize = normalize
        self.eps = eps
        self.gate = gate
        self.norm = norm

        V, V_out, H = vector_channels, out_vector_channels, self.hidden_channels
        act = activation_resolver(act) if act is not None else nn.Identity()
        # phi_e: the invariant message m_ij.
        self.edge_mlp = _mlp(2 * in_channels + 1 + edge_dim + 3 * V, H, H, act,
                             final_act=True)
        # phi_h: the node feature update.
        self.node_mlp = _mlp(in_channels + H, H, out_channels, act)
        # W, phi_g: the (gated) mixing of a node's own vector channels.
        self.vec_lin = nn.Linear(V, V_out, bias=False) if V > 0 and V_out > 0 else None
        self.gate_mlp = (_mlp(in_channels, H, V_out, act)
                         if gate and self.vec_lin is not None else None)
        # phi_r, phi_v: the vector messages along r_ij and from the neighbour's vectors.
        self.radial_mlp = _mlp(H, H, V_out, act) if V_out > 0 else None
        self.mix_mlp = _mlp(H, H, V_out * V, act) if V_out > 0 and V > 0 else None
        # phi_x, phi_s: the position update.
        self.pos_mlp = _mlp(H, H, 1, act) if update_pos else None
        self.scale_mlp = _mlp(in_channels, H, V_out, act) if update_pos and V_out > 0 \
            else None
        # norm: LayerNorm of h', RMS norm of each node's vector channels (learned scale)
        self.h_norm = nn.LayerNorm(out_channels) if norm else None
        self.vec_scale = nn.Parameter(torch.ones(V_out)) if norm and V_out > 0 else None
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        for module in (self.edge_mlp, self.node_mlp, self.vec_lin, self.gate_mlp,
                       self.radial_mlp, self.mix_mlp, self.pos_mlp, self.scale_mlp):
            _reset(module)
        if self.pos_mlp is not None:
            nn.init.xavier_uniform_(self.pos_mlp[-1].weight, gain=1e-3)
        if self.h_norm is not None:
            self.h_norm.reset_parameters()
        if self.vec_scale is not None:
            nn.init.ones_(self.vec_scale)

    def forward(self, x: Tensor, pos: Tensor, vec: Optional[Tensor], edge_index: Tensor,
                edge_attr: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        r"""One layer.

        Args:
            x (torch.Tensor): Node features :math:`(N, F)`.
            pos (torch.Tensor): Positions :math:`(N, 3)`.
            vec (torch.Tensor, optional): Vectors :math:`(N, V, 3)`; :obj:`None` means
                zeros.
            edge_index (torch.Tensor): Edges :math:`(2, E)`, messages flow
                ``edge_index[0]`` :math:`\to` ``edge_index[1]``.
            edge_attr (torch.Tensor, optional): Edge features :math:`(E, D)`; required
                if and only if ``edge_dim > 0``.

        Returns:
            ``(x', pos', vec')`` of shapes :math:`(N, F')`, :math:`(N, 3)`,
            :math:`(N, V', 3)`.
        """
        N = x.size(0)
        V, V_out, H = self.vector_channels, self.out_vector_channels, \
            self.hidden_channels
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise GraphInputError(f"Expected 'x' of shape (N, {self.in_channels}) "
                                  f"(got {tuple(x.shape)})")
        if pos.dim() != 2 or pos.size(0) != N:
            raise GraphInputError(f"'x' has {N} rows but 'pos' has shape "
                                  f"{tuple(pos.shape)} (one row per node)")
        if pos.size(1) != 3:
            raise GraphInputError(f"Expected 'pos' of shape ({N}, 3) "
                                  f"(got {tuple(pos.shape)})")
        if vec is None:
            vec = pos.new_zeros(N, V, 3)
        elif vec.shape != (N, V, 3):
            raise GraphInputError(f"Expected 'vec' of shape ({N}, {V}, 3) "
                                  f"(got {tuple(vec.shape)})")
        if self.edge_dim > 0:
            if edge_attr is None:
                raise GraphInputError(f"'edge_attr' of shape (E, {self.edge_dim}) is "
                                      f"required (edge_dim={self.edge_dim})")
            edge_attr = edge_attr.view(-1, 1) if edge_attr.dim() == 1 else edge_attr
            if edge_attr.shape != (edge_index.size(1), self.edge_dim):
                raise GraphInputError(f"Expected 'edge_attr' of shape "
                                      f"({edge_index.size(1)}, {self.edge_dim}) "
                                      f"(got {tuple(edge_attr.shape)})")
        elif edge_attr is not None:
            raise GraphInputError("Got 'edge_attr' but the layer has edge_dim=0")

        out = self.propagate(edge_index, x=x, pos=pos, vec=vec, edge_attr=edge_attr,
                             size=(N, N))
        m_agg, vec_agg = out[:, :H], out[:, H:H + 3 * V_out].view(N, V_out, 3)

        h = self.node_mlp(torch.cat([x, m_agg], dim=-1))
        if self.residual and self.in_channels == self.out_channels:
            h = x + h

        vec_out = vec_agg
        if self.vec_lin is not None:
            own = self.vec_lin(vec.transpose(1, 2)).transpose(1, 2)  # (N, V', 3)
            if self.gate_mlp is not None:
                own = self.gate_mlp(x).unsqueeze(-1) * own
            vec_out = vec_out + own
        if self.residual and V == V_out:
            vec_out = vec_out + vec
        if self.h_norm is not None:
            h = self.h_norm(h)
        if self.vec_scale is not None:
            # divide by the node's RMS vector length (an invariant), so the layer's
            # output has unit scale whatever its input's
            rms = vec_out.pow(2).sum(dim=-1).mean(dim=-1, keepdim=True).add(self.eps).sqrt()
            vec_out = vec_out / rms.unsqueeze(-1) * self.vec_scale.view(1, -1, 1)

        pos_out = pos
        if self.update_pos:
            pos_out = pos + out[:, H + 3 * V_out:]
            if self.scale_mlp is not None:
                scale = self.scale_mlp(x).unsqueeze(-1)  # (N, V', 1)
                pos_out = pos_out + (scale * vec_out).sum(dim=1)
        return h, pos_out, vec_out

    def message(self, x_i: Tensor, x_j: Tensor, pos_i: Tensor, pos_j: Tensor,
                vec_i: Tensor, vec_j: Tensor, edge_attr: Optional[Tensor]) -> Tensor:
        r"""Per edge :math:`[m_{ij} \,\|\, \text{vector message} \,\|\,
        \text{position message}]` of shape :math:`(E, H + 3V' + 3)` (the position part
        only with ``update_pos``)."""
        rel = pos_i - pos_j                                    # r_ij, (E, 3)
        dist = (rel * rel).sum(dim=-1, keepdim=True)           # d_ij, (E, 1)
        if self.normalize:
            rel = rel / (rel.norm(dim=-1, keepdim=True) + self.eps)
        feats = [x_i, x_j, dist]
        if edge_attr is not None:
            feats.append(edge_attr.to(x_i.dtype))
        if self.vector_channels > 0:
            rel_ = rel.unsqueeze(1)                            # (E, 1, 3)
            feats += [(vec_i * rel_).sum(-1), (vec_j * rel_).sum(-1),
                      (vec_i * vec_j).sum(-1)]                 # 3 x (E, V)
        m = self.edge_mlp(torch.cat(feats, dim=-1))            # (E, H)

        outs = [m]
        if self.radial_mlp is not None:
            coef = self._bound(self.radial_mlp(m))             # (E, V')
            msg = coef.unsqueeze(-1) * rel.unsqueeze(1)        # (E, V', 3)
            if self.mix_mlp is not None:
                mix = self._bound(self.mix_mlp(m)).view(
                    -1, self.out_vector_channels, self.vector_channels)
                msg = msg + torch.bmm(mix, vec_j)              # (E, V', 3)
            outs.append(msg.flatten(1))
        if self.pos_mlp is not None:
            outs.append(self._bound(self.pos_mlp(m)) * rel)    # (E, 3)
        return torch.cat(outs, dim=-1)

    def aggregate(self, inputs: Tensor, index: Tensor,
                  dim_size: Optional[int] = None) -> Tensor:
        r"""Sums the edge messages per target; divides the geometric part (and, for
        :obj:`aggr="mean"`, the messages) by :math:`\deg_i = \max(|\mathcal{N}(i)|,
        1)`."""
        out = scatter(inputs, index, dim=0, dim_size=dim_size, reduce='sum')
        deg = scatter(inputs.new_ones(index.numel()), index, dim=0, dim_size=dim_size,
                      reduce='sum').clamp_(min=1).unsqueeze(-1)
        H = self.hidden_channels
        m, geo = out[:, :H], out[:, H:] / deg
        if self.node_aggr == 'mean':
            m = m / deg
        return torch.cat([m, geo], dim=-1)

    def _bound(self, coef: Tensor) -> Tensor:
        return torch.tanh(coef) if self.tanh else coef

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'vector_channels={self.vector_channels}->{self.out_vector_channels}'
                + (', norm=True' if self.norm else '') + ')')
