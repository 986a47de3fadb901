import pytest
import torch

from lps_geometric import (GraphInputError, PermutationSampler, PositionalGIN, Symmetrize,
                           equivariance_error)
from lps_geometric.groups import SymmetricGroup
from lps_geometric.samplers import ExhaustivePermutationSampler
from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.groups import Permutation
from lps_geometric.nn.backbones.positional_gin import position_table
from lps_geometric.samplers.relaxation import banded_soft_rank, straight_through
from lps_geometric.testing import random_batch
from lps_geometric.utils.batch import local_index
from lps_geometric.utils import replicate_batch


def gin(level='graph', positions='learned', edge_dim=4, **kw):
    return PositionalGIN(3, 2, max_nodes=6, hidden_channels=16, num_layers=2,
                         edge_dim=edge_dim, positions=positions, level=level, **kw)


@pytest.mark.parametrize('edge_dim', [0, 4])  # GIN (CSR neighbour sums) and GINE
@pytest.mark.parametrize('level', ['graph', 'node'])
@pytest.mark.parametrize('positions,norm', [('learned', 'post'), ('random', 'post'),
                                            ('sinusoidal', 'post'), ('learned', 'pre'),
                                            ('learned', 'batch')])
def test_exhaustive_group_averaging_is_exact(level, positions, norm, edge_dim):
    data = random_batch(sizes=(4, 5, 1, 3))
    model = Symmetrize(gin(level, positions, edge_dim, norm=norm),
                       ExhaustivePermutationSampler(), level=level)
    if norm == 'batch':
        # Batch statistics are sums over all nodes: invariant in training mode too.
        assert_equivariant(model, data, 'permutation', num_trials=3,
                                  level=level, rtol=1e-5)
        warm_up_running_statistics(model.backbone, data)
    model.eval()
    assert_equivariant(model, data, 'permutation', num_trials=3, level=level, rtol=1e-5)
    # The backbone reads positions, so on its own it is not invariant.
    raw = equivariance_error(model.backbone, data, num_trials=3, level=level)
    assert raw.max_abs > 1e-3


@pytest.mark.parametrize('norm', ['post', 'pre'])
def test_csr_neighbour_sums_equal_message_passing(norm, monkeypatch):
    # Without edge features the GIN layers sum neighbours with CSR products; PyG's
    # GINConv on the edge list, with the same parameters, gives the same output and
    # gradients.
    from lps_geometric.nn.backbones import positional_gin
    data = random_batch(sizes=(4, 5, 1, 3))
    model = gin('node', edge_dim=0, norm=norm).double()
    for conv in model.convs:
        torch.nn.init.uniform_(conv.eps, -0.5, 0.5)
    data.x = data.x.double()

    def run():
        out = model(data)
        return out, torch.autograd.grad(out.square().sum(), list(model.parameters()))

    out, grads = run()

    def message_passing(conv, x, neighbor_sum):
        return conv(x, data.edge_index)

    monkeypatch.setattr(positional_gin, 'gin_update', message_passing)
    expected, expected_grads = run()
    assert torch.allclose(out, expected, atol=1e-12)
    for a, b in zip(grads, expected_grads):
        assert torch.allclose(a, b, atol=1e-10)


def warm_up_running_statistics(model, data):
    # Fresh batch-norm statistics (mean 0, variance 1) would make evaluation mode trivial.
    with torch.no_grad():
        for _ in range(3):
            model.train()(data)
    assert any(not torch.allclose(m.running_var, torch.ones_like(m.running_var))
               for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))


@pytest.mark.parametrize('norm', ['post', 'pre', 'batch'])
def test_without_position_codes_it_would_be_a_plain_gin(norm):
    # With a constant position table the backbone is an ordinary (equivariant) GIN:
    # this pins the order dependence on the position term alone.
    data = random_batch(sizes=(5, 4))
    for level in ('graph', 'node'):
        model = gin(level, norm=norm)
        if norm == 'batch':
            warm_up_running_statistics(model, data)
        model.eval()
        with torch.no_grad():
            model.position.copy_(model.position[:1].expand_as(model.position))
        assert_equivariant(model, data, num_trials=3,
                                  level=level, rtol=1e-5)
    assert f'norm={norm}' in repr(model)
    with pytest.raises(ValueError, match="'norm'"):
        gin(norm='sandwich')


def test_batch_norm_needs_two_nodes_in_training():
    single = random_batch(sizes=(1,))
    model = gin(norm='batch')
    with pytest.raises(ValueError, match='at least two nodes'):
        model(single)
    assert model.eval()(single).shape == (1, 2)    # running statistics: fine
    assert gin(norm='post')(single).shape == (1, 2)


def test_band_positions_match_a_dense_relaxed_assignment():
    data = random_batch(sizes=(5, 3, 6))
    score = torch.randn(data.num_nodes, requires_grad=True)
    perm = Permutation.from_scores(score.detach(), data.batch, data.ptr)
    band = straight_through(banded_soft_rank(score, perm, band=2, tau=0.5), 2)
    canonical = perm.apply(data)
    canonical_band = perm.permute_nodes(band)
    model = gin()
    codes = model.position_codes(canonical.batch, canonical.ptr, canonical_band)
    weight = torch.randn_like(codes)
    grad, = torch.autograd.grad((codes * weight).sum(), score, retain_graph=True)

    # Dense reference: node v of the ordered graph reads sum_j M[v, j] E[j] over the
    # positions j of its graph, with M the relaxed band written out in full.
    index = local_index(canonical.batch, canonical.ptr)
    size = (canonical.ptr[1:] - canonical.ptr[:-1])[canonical.batch]
    dense = torch.zeros(data.num_nodes, 6)
    for m in range(5):
        j = index + m - 2
        ok = (j >= 0) & (j < size)
        dense = dense.index_put((torch.arange(data.num_nodes)[ok], j[ok]),
                                canonical_band[ok, m], accumulate=True)
    reference = dense @ model.position
    grad_ref, = torch.autograd.grad((reference * weight).sum(), score)
    assert torch.allclose(codes, reference, atol=1e-6)
    assert torch.allclose(codes, model.position[index], atol=1e-6)  # forward is hard
    assert torch.allclose(grad, grad_ref, atol=1e-6)
    assert grad.abs().sum() > 0


def test_gradients_reach_the_sampler_and_lps_is_exact_with_moved_noise():
    data = random_batch(sizes=(5, 4, 6))
    sampler = PermutationSampler(3, hidden_channels=16, edge_dim=4, dropout=0.0, tau=0.5)
    model = Symmetrize(gin(), sampler, num_samples=3)
    model(data).sum().backward()
    assert all(p.grad is not None for p in sampler.parameters() if p.requires_grad)
    assert sum(float(p.grad.abs().sum()) for p in sampler.parameters()) > 0

    model.eval()
    group = SymmetricGroup()
    g = group.random_element(data)
    g_stacked = group.random_element(replicate_batch(data, 3))
    g_stacked.rank = g.rank.repeat(3)
    noise = torch.rand(3 * data.num_nodes, 1)
    with torch.no_grad():
        out = model(data, noise=noise)
        out_g = model(group.act(g, data), noise=g_stacked.permute_nodes(noise))
    assert torch.allclose(out, out_g, atol=1e-5)


def test_bad_input_and_settings():
    with pytest.raises(GraphInputError, match='max_nodes'):
        gin()(random_batch(sizes=(7, )))
    with pytest.raises(ValueError, match='level'):
        gin(level='edge')
    with pytest.raises(ValueError, match='position code'):
        position_table(4, 8, 'onehot')
    table = position_table(10, 8, 'sinusoidal')
    assert table.shape == (10, 8) and torch.allclose(table[0, 1::2], torch.ones(4))
    assert 'positions=learned' in repr(gin())


def test_bad_construction_and_missing_attributes():
    with pytest.raises(ValueError, match='position code'):
        gin(positions='onehot')
    with pytest.raises(ValueError, match='positive'):
        PositionalGIN(3, 2, max_nodes=0)
    data = random_batch(sizes=(4, 3))
    without_edges = data.clone()
    without_edges.edge_attr = None
    with pytest.raises(ValueError, match="'edge_attr'"):
        gin()(without_edges)
    without_x = data.clone()
    without_x.x = None
    with pytest.raises(ValueError, match="'x'"):
        gin()(without_x)
