import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric import (AdjacencyPatchTransformer, GraphInputError, PermutationSampler,
                           Symmetrize, equivariance_error)
from lps_geometric.groups import SymmetricGroup
from lps_geometric.samplers import ExhaustivePermutationSampler, UniformPermutationSampler
from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.testing import DenseSymmetrize, random_batch
from lps_geometric.nn import _band_gradient
from lps_geometric.utils import replicate_batch


def backbone(level='graph', tokens='patches', patch_size=3, max_nodes=12, **kw):
    return AdjacencyPatchTransformer(3, 2, max_nodes=max_nodes, edge_dim=4,
                                     tokens=tokens,
                                     patch_size=None if tokens == 'rows' else patch_size,
                                     embed_dim=16, depth=2, num_heads=2, level=level,
                                     **kw)


def lps(level='graph', k=3, **kw):
    sampler = PermutationSampler(3, hidden_channels=16, edge_dim=4, dropout=0.0,
                                 tau=0.3, **kw)
    return Symmetrize(backbone(level), sampler, num_samples=k, eval_num_samples=k)


@pytest.mark.parametrize('level', ['graph', 'node'])
def test_exhaustive_group_averaging_is_exact(level):
    data = random_batch(sizes=(4, 5, 1, 3))
    model = Symmetrize(backbone(level), ExhaustivePermutationSampler()).eval()
    assert_equivariant(model, data, 'permutation', num_trials=3, level=level, rtol=1e-5)
    # The backbone alone is not invariant: the symmetrization does the work.
    raw = equivariance_error(model.backbone, data, num_trials=3, level=level)
    assert raw.max_abs > 1e-3


@pytest.mark.parametrize('level', ['graph', 'node'])
def test_lps_is_exact_when_the_noise_moves_along(batch, level):
    model = lps(level).eval()
    group = SymmetricGroup()
    k = model.eval_num_samples
    g = group.random_element(batch)
    g_stacked = group.random_element(replicate_batch(batch, k))
    g_stacked.rank = g.rank.repeat(k)
    noise = torch.rand(k * batch.num_nodes, 1)
    with torch.no_grad():
        out = model(batch, noise=noise)
        out_g = model(group.act(g, batch), noise=g_stacked.permute_nodes(noise))
    expected = group.act_on_output(g, out, level)
    assert torch.allclose(out_g, expected, atol=1e-5)


def test_lps_is_invariant_in_distribution():
    data = random_batch(sizes=(5, ))
    model = lps('graph', k=1).eval()
    group = SymmetricGroup()
    moved = group.act(group.random_element(data), data)
    k = 4000
    with torch.no_grad():
        a = model(data, num_samples=k)
        b = model(moved, num_samples=k)
        spread = model(replicate_batch(data, 1), num_samples=1)
        samples = torch.stack([model(data, num_samples=1) for _ in range(200)])
    std = samples.std(0)
    # Means of k samples agree within 5 standard errors.
    assert bool(((a - b).abs() < 5 * std * (2 / k) ** 0.5 + 1e-6).all()), (a, b, std)
    assert spread.shape == a.shape


def test_monte_carlo_group_averaging_converges():
    data = random_batch(sizes=(4, ))
    exact = Symmetrize(backbone(), ExhaustivePermutationSampler()).eval()
    mc = Symmetrize(exact.backbone, UniformPermutationSampler(), num_samples=6000).eval()
    with torch.no_grad():
        assert torch.allclose(exact(data), mc(data), atol=5e-3)


@pytest.mark.parametrize('tokens,patch_size', [('patches', 3), ('patches', 5),
                                               ('rows', None)])
@pytest.mark.parametrize('level', ['graph', 'node'])
@pytest.mark.parametrize('sinkhorn_iters', [0, 3])
@pytest.mark.parametrize('block_budget', [None, 1])
def test_sparse_path_equals_dense_oracle(tokens, patch_size, level, sinkhorn_iters,
                                         block_budget, monkeypatch):
    if block_budget is not None:  # band gradient in GEMM blocks of one graph each
        monkeypatch.setattr(_band_gradient, 'GEMM_BLOCK_BUDGET', block_budget)
    data = random_batch(sizes=(9, 7, 3, 1, 12))
    bb = backbone(level, tokens, patch_size)
    sampler = PermutationSampler(3, hidden_channels=16, edge_dim=4, dropout=0.0,
                                 tau=0.3, band=2, sinkhorn_iters=sinkhorn_iters)
    sparse = Symmetrize(bb, sampler, num_samples=3)
    dense = DenseSymmetrize(bb, sampler, num_samples=3, band=2)
    noise = torch.rand(3 * data.num_nodes, 1)
    params = list(sampler.parameters()) + list(bb.parameters())
    out_s = sparse(data, noise=noise)
    grad_s = torch.autograd.grad(out_s.square().sum(), params)
    out_d = dense(data, noise=noise)
    grad_d = torch.autograd.grad(out_d.square().sum(), params)
    assert torch.allclose(out_s, out_d, atol=1e-5)
    for a, b in zip(grad_s, grad_d):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    # The relaxation does carry a gradient to the sampler.
    assert sum(float(g.abs().sum()) for g in grad_s[:len(list(sampler.parameters()))]) > 0


def test_tensor_call_equals_data_call(batch):
    model = lps().eval()
    noise = torch.rand(3 * batch.num_nodes, 1)
    with torch.no_grad():
        a = model(batch, noise=noise)
        b = model(batch.x, batch.edge_index, batch.edge_attr, batch.batch, noise=noise)
    assert torch.equal(a, b)


def test_single_graph_without_batch_vector():
    data = random_batch(sizes=(6, ))
    single = Data(x=data.x, edge_index=data.edge_index, edge_attr=data.edge_attr)
    model = lps().eval()
    with torch.no_grad():
        assert model(single).shape == (1, 2)


def test_train_and_eval_num_samples(batch):
    model = Symmetrize(backbone(), PermutationSampler(3, edge_dim=4), num_samples=2,
                       eval_num_samples=5)
    model(batch)
    assert model.last_sample.num_samples == 2
    model.eval()
    with torch.no_grad():
        model(batch)
    assert model.last_sample.num_samples == 5


def test_regularization_loss(batch):
    model = lps()
    model.entropy_weight = 0.5
    model.train()
    model(batch)
    loss = model.regularization_loss()
    assert loss.ndim == 0 and float(loss.detach()) > 0
    model.eval()
    with torch.no_grad():
        model(batch)
    assert float(model.regularization_loss()) == 0.0


def test_single_and_isolated_nodes():
    graphs = [Data(x=torch.randn(1, 3), edge_index=torch.empty(2, 0, dtype=torch.long),
                   edge_attr=torch.empty(0, 4)),
              Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1], [1, 0]]),
                   edge_attr=torch.randn(2, 4))]
    data = Batch.from_data_list(graphs)
    for level in ('graph', 'node'):
        model = lps(level)
        out = model(data)
        assert torch.isfinite(out).all()
        out.sum().backward()


def test_constructor_errors():
    with pytest.raises(ValueError, match='num_samples'):
        Symmetrize(backbone(), UniformPermutationSampler(), num_samples=0)
    with pytest.raises(ValueError, match='level'):
        Symmetrize(backbone(), UniformPermutationSampler(), level='edge')


def test_repr_and_reset():
    model = lps()
    text = repr(model)
    assert 'AdjacencyPatchTransformer' in text and 'PermutationSampler' in text
    model.reset_parameters()


def _graph(**kw):
    base = dict(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
                edge_attr=torch.randn(3, 4))
    base.update(kw)
    return Data(**base)


@pytest.mark.parametrize('data,match', [
    (Data(x=torch.empty(0, 3), edge_index=torch.empty(2, 0, dtype=torch.long)),
     'empty'),
    (_graph(edge_index=torch.tensor([[0, 1], [1, 7]]), edge_attr=torch.randn(2, 4)),
     'outside'),
    (_graph(edge_index=torch.tensor([[0, -1], [1, 2]]), edge_attr=torch.randn(2, 4)),
     'outside'),
    (_graph(edge_index=torch.tensor([0, 1, 2])), 'shape'),
    (_graph(edge_index=torch.tensor([[0., 1.], [1., 2.]])), 'dtype'),
    (_graph(x=torch.tensor([[0., float('nan'), 1.]] * 4)), 'NaN'),
    (_graph(edge_attr=torch.full((3, 4), float('inf'))), 'NaN or infinite'),
    (_graph(x=torch.randn(4, 5)), 'node feature'),
    (_graph(edge_attr=None), 'edge feature'),
    (_graph(x=torch.randn(3, 3), num_nodes=4), 'rows'),
    (Data(x=torch.randn(20, 3), edge_index=torch.empty(2, 0, dtype=torch.long),
          edge_attr=torch.empty(0, 4)), 'exceeds'),
])
def test_bad_input_gets_a_clear_error(data, match):
    with pytest.raises(GraphInputError, match=match):
        lps()(data)


def test_bad_batches():
    data = random_batch(sizes=(3, 4))
    bad = data.clone()
    bad.edge_index = torch.cat([bad.edge_index, torch.tensor([[0], [5]])], 1)
    bad.edge_attr = torch.cat([bad.edge_attr, torch.randn(1, 4)])
    with pytest.raises(GraphInputError, match='different graphs'):
        lps()(bad)
    bad = data.clone()
    bad.batch = bad.batch.flip(0)
    with pytest.raises(GraphInputError, match='sorted'):
        lps()(bad)
    empty = Batch.from_data_list([
        data.get_example(0),
        Data(x=torch.empty(0, 3), edge_index=torch.empty(2, 0, dtype=torch.long),
             edge_attr=torch.empty(0, 4), num_nodes=0),
        data.get_example(1)
    ])
    with pytest.raises(GraphInputError, match='no nodes'):
        lps()(empty)


class _WeightedIdentitySampler(torch.nn.Module):
    """Two copies: the identity (weight 0.25) and a fixed permutation (weight 0.75)."""
    def forward(self, data, num_samples=2, noise=None, generator=None):
        from lps_geometric.groups import Permutation
        from lps_geometric.samplers import GroupSample
        stacked = replicate_batch(data, 2)
        rank = torch.arange(data.num_nodes) - data.ptr[data.batch]
        size = (data.ptr[1:] - data.ptr[:-1])[data.batch]
        reverse = size - 1 - rank
        perm = Permutation(torch.cat([rank, reverse]), stacked.batch, stacked.ptr)
        weight = torch.cat([torch.full((data.num_graphs, ), 0.25),
                            torch.full((data.num_graphs, ), 0.75)])
        return GroupSample.from_copies(perm, stacked, 2, data.num_graphs, weight=weight)


@pytest.mark.parametrize('level', ['graph', 'node'])
def test_weighted_samples_are_a_weighted_average(batch, level):
    bb = backbone(level).eval()
    model = Symmetrize(bb, _WeightedIdentitySampler(), level=level).eval()
    sample = model.sampler(batch)
    stacked = replicate_batch(batch, 2)
    with torch.no_grad():
        out = model(batch)
        per_copy = bb(sample.element.apply(stacked))
    if level == 'node':
        per_copy = sample.element.pull_nodes(per_copy)
    per_copy = per_copy.view(2, -1, 2)
    assert torch.allclose(out, 0.25 * per_copy[0] + 0.75 * per_copy[1], atol=1e-6)


@pytest.mark.parametrize('level', ['graph', 'node'])
def test_the_steps_compose_to_forward(level):
    data = random_batch(sizes=(5, 3, 6), seed=3)
    model = Symmetrize(backbone(level), PermutationSampler(3, edge_dim=4),
                       num_samples=3).eval()
    noise = torch.rand(3 * data.num_nodes, 1)
    with torch.no_grad():
        expected = model(data, noise=noise)
        checked = model.check_input(data)
        sample = model.sample(checked, noise=noise)
        assert model.last_sample is sample and sample.copies == 3
        canonical = model.canonicalize(sample)
        out = model.run_backbone(canonical, sample)
        assert out.size(0) == (3 * data.num_graphs if level == 'graph'
                               else 3 * data.num_nodes)
        back = model.invert(out, sample)
        assert torch.equal(model.average(back, sample), expected)
        # the average is the mean over the copies of every graph (or node)
        rows = data.num_graphs if level == 'graph' else data.num_nodes
        mean = back.view(3, rows, -1).mean(dim=0)
        assert torch.allclose(expected, mean, atol=1e-6)
        with pytest.raises(RuntimeError, match='rows for'):
            model.invert(out[:-1], sample)


class _Constant(torch.nn.Module):
    r"""Graph outputs of a constant value and dtype, whatever the input."""
    def __init__(self, value, dtype):
        super().__init__()
        self.value, self.dtype = value, dtype

    def forward(self, data):
        return torch.full((data.num_graphs, 2), self.value, dtype=self.dtype)


def test_the_average_keeps_half_precision_unbiased_and_refuses_integers():
    data = random_batch(sizes=(4, 3), seed=0)
    for dtype in (torch.bfloat16, torch.float16):
        model = Symmetrize(_Constant(100.0, dtype), UniformPermutationSampler(),
                           num_samples=3)
        out = model(data)
        assert out.dtype == dtype and torch.equal(out, torch.full_like(out, 100.0))
    integer = Symmetrize(_Constant(7, torch.long), UniformPermutationSampler(),
                         num_samples=3)
    with pytest.raises(TypeError, match='floating-point'):
        integer(data)


def test_replacing_the_backbone_or_sampler_renews_the_declarations():
    data = random_batch(sizes=(4, 3), seed=0)
    model = Symmetrize(_Constant(1.0, torch.float32), PermutationSampler(3, edge_dim=4),
                       num_samples=2)
    assert not model.backbone_capabilities.reads_band
    model.backbone = backbone()
    assert model.backbone_capabilities.reads_band
    model(data).sum().backward()          # the band reaches the new backbone
    assert any(p.grad is not None for p in model.sampler.parameters())
    from lps_geometric.samplers import UniformRotationSampler
    model.sampler = UniformRotationSampler()
    with pytest.raises(GraphInputError, match='pos'):
        model(data)


def test_a_symmetrized_model_declares_itself_as_a_backbone():
    inner = Symmetrize(backbone('node'), PermutationSampler(3, edge_dim=4),
                       level='node')
    assert inner.capabilities.level == 'node' and not inner.capabilities.reads_band
    assert inner.capabilities.max_nodes == 12


def test_a_backbone_that_declares_the_band_must_take_it():
    from lps_geometric.nn import BackboneCapabilities

    class Forgetful(torch.nn.Module):
        capabilities = BackboneCapabilities(reads_band=True)

        def forward(self, data):
            return torch.zeros(data.num_graphs, 1)

    with pytest.raises(TypeError, match="no 'band' argument"):
        Symmetrize(Forgetful(), UniformPermutationSampler())
