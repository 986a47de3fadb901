r"""The EGNN layer (:mod:`lps_geometric.nn.conv.egnn_conv`): E(3) and permutation
equivariance, a dense reference, edge cases, gradients and construction."""
import pytest
import torch

from lps_geometric.nn import EGNNConv
from lps_geometric.testing import random_batch

from ..rotations import TOL, orthogonal

CONFIGS = {
    'mix': dict(in_channels=4, out_channels=4, vector_channels=2, out_vector_channels=3,
                edge_dim=3),
    'mean-norm-tanh': dict(in_channels=4, out_channels=6, vector_channels=1,
                           aggr='mean', normalize=True, tanh=True, edge_dim=3),
    'no-input-vectors': dict(in_channels=4, out_channels=4, vector_channels=0,
                             out_vector_channels=2),
    'no-output-vectors': dict(in_channels=4, out_channels=5, vector_channels=2,
                              out_vector_channels=0, edge_dim=3),
    'fixed-pos-plain': dict(in_channels=4, out_channels=4, vector_channels=3,
                            update_pos=False, gate=False, residual=False),
    'layer-norm': dict(in_channels=4, out_channels=4, vector_channels=2,
                       out_vector_channels=3, edge_dim=3, norm=True),
}


def make_conv(name, randomize=True, **kw):
    conv = EGNNConv(hidden_channels=8, **{**CONFIGS[name], **kw}).double()
    if randomize:  # O(1) weights everywhere, so that every term matters
        with torch.no_grad():
            for p in conv.parameters():
                p.normal_(0.0, 0.5)
    return conv


def inputs(conv, sizes=(5, 4, 1, 6)):
    data = random_batch(sizes=sizes, node_channels=conv.in_channels,
                        edge_channels=max(conv.edge_dim, 1))
    N = data.num_nodes
    x = data.x.double()
    pos = 2 * torch.randn(N, 3, dtype=torch.double)
    vec = torch.randn(N, conv.vector_channels, 3, dtype=torch.double)
    edge_attr = data.edge_attr.double() if conv.edge_dim > 0 else None
    return x, pos, vec, data.edge_index, edge_attr


def dense_reference(conv, x, pos, vec, edge_index, edge_attr=None):
    r"""The layer's math on all :math:`N \times N` pairs, masked by the adjacency
    :math:`A_{ij} = 1` iff :math:`j \to i`, reusing the layer's submodules."""
    N, V, V_out = x.size(0), conv.vector_channels, conv.out_vector_channels
    A = torch.zeros(N, N, dtype=x.dtype)
    A[edge_index[1], edge_index[0]] = 1.0
    assert int(A.sum()) == edge_index.size(1), 'no duplicate edges'
    deg = A.sum(1).clamp(min=1)[:, None]
    bound = torch.tanh if conv.tanh else (lambda t: t)

    r = pos[:, None, :] - pos[None, :, :]                     # r[i, j] = x_i - x_j
    d = (r ** 2).sum(-1, keepdim=True)
    u = r / (d.sqrt() + conv.eps) if conv.normalize else r
    feats = [x[:, None].expand(N, N, -1), x[None].expand(N, N, -1), d]
    if edge_attr is not None:
        dense_attr = torch.zeros(N, N, edge_attr.size(1), dtype=x.dtype)
        dense_attr[edge_index[1], edge_index[0]] = edge_attr
        feats.append(dense_attr)
    if V > 0:
        feats += [torch.einsum('icd,ijd->ijc', vec, u),
                  torch.einsum('jcd,ijd->ijc', vec, u),
                  torch.einsum('icd,jcd->ijc', vec, vec)]
    m = conv.edge_mlp(torch.cat(feats, dim=-1)) * A[..., None]  # (N, N, H)

    m_agg = m.sum(1)
    if conv.node_aggr == 'mean':
        m_agg = m_agg / deg
    h = conv.node_mlp(torch.cat([x, m_agg], dim=-1))
    if conv.residual and conv.in_channels == conv.out_channels:
        h = h + x

    vec_out = torch.zeros(N, V_out, 3, dtype=x.dtype)
    if V_out > 0:
        coef = bound(conv.radial_mlp(m)) * A[..., None]        # (N, N, V')
        vec_out = vec_out + torch.einsum('ijc,ijd->icd', coef, u) / deg[..., None]
        if V > 0:
            mix = bound(conv.mix_mlp(m)).view(N, N, V_out, V) * A[..., None, None]
            vec_out = vec_out + torch.einsum('ijab,jbd->iad', mix, vec) / deg[..., None]
            own = torch.einsum('ab,nbd->nad', conv.vec_lin.weight, vec)
            if conv.gate:
                own = conv.gate_mlp(x)[..., None] * own
            vec_out = vec_out + own
    if conv.residual and V == V_out:
        vec_out = vec_out + vec
    if conv.norm:
        h = torch.nn.functional.layer_norm(h, (h.size(-1),), conv.h_norm.weight,
                                           conv.h_norm.bias, conv.h_norm.eps)
        if V_out > 0:
            rms = torch.sqrt((vec_out ** 2).sum(-1).mean(-1) + conv.eps)   # (N,)
            vec_out = vec_out / rms[:, None, None] * conv.vec_scale[None, :, None]

    pos_out = pos
    if conv.update_pos:
        coef = bound(conv.pos_mlp(m)) * A[..., None]           # (N, N, 1)
        pos_out = pos + (coef * u).sum(1) / deg
        if V_out > 0:
            pos_out = pos_out + torch.einsum('nc,ncd->nd', conv.scale_mlp(x), vec_out)
    return h, pos_out, vec_out


@pytest.mark.parametrize('name', list(CONFIGS))
@pytest.mark.parametrize('det', [1, -1])
def test_e3_equivariance(name, det):
    conv = make_conv(name)
    x, pos, vec, edge_index, edge_attr = inputs(conv)
    Q, t = orthogonal(det), 5 * torch.randn(3, dtype=torch.double)
    h, pos_out, vec_out = conv(x, pos, vec, edge_index, edge_attr)
    h2, pos_out2, vec_out2 = conv(x, pos @ Q.T + t, vec @ Q.T, edge_index, edge_attr)
    torch.testing.assert_close(h2, h, **TOL)
    torch.testing.assert_close(pos_out2, pos_out @ Q.T + t, **TOL)
    torch.testing.assert_close(vec_out2, vec_out @ Q.T, **TOL)
    assert vec_out.shape == (x.size(0), conv.out_vector_channels, 3)
    assert h.shape == (x.size(0), conv.out_channels)
    if conv.update_pos:
        assert (pos_out - pos).abs().max() > 1e-3
    else:
        assert torch.equal(pos_out, pos)
    # Translation alone leaves h and vec unchanged.
    h3, pos_out3, vec_out3 = conv(x, pos + t, vec, edge_index, edge_attr)
    torch.testing.assert_close(h3, h, **TOL)
    torch.testing.assert_close(pos_out3, pos_out + t, **TOL)
    torch.testing.assert_close(vec_out3, vec_out, **TOL)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_permutation_equivariance(name):
    conv = make_conv(name)
    x, pos, vec, edge_index, edge_attr = inputs(conv)
    N = x.size(0)
    perm = torch.randperm(N)                  # new node k is old node perm[k]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(N)
    outs = conv(x, pos, vec, edge_index, edge_attr)
    outs_perm = conv(x[perm], pos[perm], vec[perm], inv[edge_index], edge_attr)
    for out, out_perm in zip(outs, outs_perm):
        torch.testing.assert_close(out_perm, out[perm], **TOL)
    # The edge order does not matter either.
    e = torch.randperm(edge_index.size(1))
    outs_e = conv(x, pos, vec, edge_index[:, e],
                  None if edge_attr is None else edge_attr[e])
    for out, out_e in zip(outs, outs_e):
        torch.testing.assert_close(out_e, out, **TOL)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_matches_dense_reference(name):
    conv = make_conv(name)
    # Directed edges j -> i (checks the flow direction) and an isolated node 5.
    edge_index = torch.tensor([[0, 2, 3, 1, 4, 2, 0],
                               [1, 1, 1, 0, 2, 4, 3]])
    N = 6
    x = torch.randn(N, conv.in_channels, dtype=torch.double)
    pos = torch.randn(N, 3, dtype=torch.double)
    vec = torch.randn(N, conv.vector_channels, 3, dtype=torch.double)
    edge_attr = (torch.randn(edge_index.size(1), conv.edge_dim, dtype=torch.double)
                 if conv.edge_dim > 0 else None)
    outs = conv(x, pos, vec, edge_index, edge_attr)
    refs = dense_reference(conv, x, pos, vec, edge_index, edge_attr)
    for out, ref in zip(outs, refs):
        torch.testing.assert_close(out, ref, **TOL)


@pytest.mark.parametrize('normalize', [False, True])
def test_isolated_and_single_nodes_are_finite(normalize):
    conv = make_conv('mix', normalize=normalize)
    x = torch.randn(4, 4, dtype=torch.double)
    pos = torch.randn(4, 3, dtype=torch.double)
    pos[1] = pos[0]                           # coincident neighbours
    vec = torch.randn(4, 2, 3, dtype=torch.double)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    edge_attr = torch.randn(2, 3, dtype=torch.double)
    pos.requires_grad_()
    outs = conv(x, pos, vec, edge_index, edge_attr)
    assert all(torch.isfinite(out).all() for out in outs)
    sum(out.sum() for out in outs).backward()
    assert torch.isfinite(pos.grad).all()
    # An isolated node only sees itself (the messages vanish).
    h, pos_out, vec_out = outs
    zero = torch.zeros(1, conv.hidden_channels, dtype=torch.double)
    torch.testing.assert_close(h[2:3], x[2:3] + conv.node_mlp(torch.cat([x[2:3], zero],
                                                                          -1)), **TOL)
    # A single-node graph without edges.
    outs = conv(x[:1], pos[:1].detach(), vec[:1], torch.empty(2, 0, dtype=torch.long),
                torch.empty(0, 3, dtype=torch.double))
    assert [tuple(o.shape) for o in outs] == [(1, 4), (1, 3), (1, 3, 3)]
    assert all(torch.isfinite(out).all() for out in outs)


def test_vec_none_means_zeros():
    conv = make_conv('mix')
    x, pos, vec, edge_index, edge_attr = inputs(conv)
    outs = conv(x, pos, None, edge_index, edge_attr)
    refs = conv(x, pos, torch.zeros_like(vec), edge_index, edge_attr)
    for out, ref in zip(outs, refs):
        torch.testing.assert_close(out, ref, **TOL)


def test_edge_attr_is_used_and_checked():
    conv = make_conv('mix')
    x, pos, vec, edge_index, edge_attr = inputs(conv)
    h, _, _ = conv(x, pos, vec, edge_index, edge_attr)
    h2, _, _ = conv(x, pos, vec, edge_index, edge_attr + 1)
    assert (h - h2).abs().max() > 1e-3
    with pytest.raises(ValueError, match='edge_attr'):
        conv(x, pos, vec, edge_index)
    with pytest.raises(ValueError, match='edge_attr'):
        make_conv('fixed-pos-plain')(x, pos, torch.zeros(x.size(0), 3, 3,
                                                         dtype=torch.double),
                                     edge_index, edge_attr)
    with pytest.raises(ValueError, match='vec'):
        conv(x, pos, vec[:, :1], edge_index, edge_attr)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_gradients_reach_all_parameters(name):
    conv = make_conv(name, randomize=False).float()
    x, pos, vec, edge_index, edge_attr = inputs(conv)
    x, pos, vec = x.float(), pos.float(), vec.float()
    edge_attr = None if edge_attr is None else edge_attr.float()
    h, pos_out, vec_out = conv(x, pos, vec, edge_index, edge_attr)
    loss = (h ** 2).sum() + ((pos_out - 1) ** 2).sum() + ((vec_out - 1) ** 2).sum()
    loss.backward()
    for name_, p in conv.named_parameters():
        assert p.grad is not None, name_
        assert torch.isfinite(p.grad).all(), name_
        assert p.grad.abs().sum() > 0, name_


def test_reset_parameters_and_repr():
    conv = EGNNConv(16, 32, vector_channels=2, out_vector_channels=3, edge_dim=2)
    assert repr(conv) == 'EGNNConv(16, 32, vector_channels=2->3)'
    assert repr(EGNNConv(4, 4)) == 'EGNNConv(4, 4, vector_channels=1->1)'
    before = {k: v.clone() for k, v in conv.state_dict().items()}
    conv.reset_parameters()
    for k, v in conv.state_dict().items():
        assert not torch.equal(v, before[k]), k
    # phi_x starts small, so the positions start close to unchanged.
    assert conv.pos_mlp[-1].weight.abs().max() < 1e-2
    with pytest.raises(ValueError):
        EGNNConv(4, 4, aggr='max')
