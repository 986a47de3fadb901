import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric import equivariance_error
from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.groups import EuclideanGroup, ProductGroup
from lps_geometric.nn import (EGNN, MPNN, AdjacencyPatchTransformer, ConcatEdgeGeometry,
                              ConcatNodeFeatures, Symmetrize)
from lps_geometric.samplers import (EuclideanFrameSampler, ProductSampler,
                                    UniformProductSampler, UniformRotationSampler)
from lps_geometric.testing import random_point_cloud_batch, transport_noise
from lps_geometric.utils import GraphInputError

DT = torch.float64


def clouds(sizes=(5, 5, 4)):
    torch.manual_seed(0)
    return random_point_cloud_batch(sizes, dtype=DT)


def transformer(level='node', out=3):
    # particle-pair tokens: p = 1 patches of the complete graph (the n-body backbone)
    return ConcatNodeFeatures(
        AdjacencyPatchTransformer(7, out, max_nodes=5, edge_dim=1, tokens='patches',
                                  patch_size=1, embed_dim=16, depth=2, num_heads=2,
                                  level=level), keys=('pos', 'vel'), in_channels=1)


def geometric_transformer(level='node', out=3, inner_products=False):
    # the same, with each pair token also reading its relative position and velocity
    # (and, with inner_products, <pos_i - pos_j, vel_i - vel_j>)
    inner = AdjacencyPatchTransformer(7, out, max_nodes=5, edge_dim=9 + inner_products,
                                      tokens='patches', patch_size=1, embed_dim=16,
                                      depth=2, num_heads=2, level=level)
    return ConcatNodeFeatures(ConcatEdgeGeometry(inner, keys=('pos', 'vel'),
                                                 in_channels=1,
                                                 inner_products=inner_products),
                              keys=('pos', 'vel'), in_channels=1)


def geometric_mpnn(level='node', out=3):
    # a message-passing network reading coordinates and pair geometry as plain features:
    # permutation-equivariant itself, so a Euclidean sampler alone makes the symmetrized
    # model S_n x E(3)-equivariant
    inner = MPNN(7, out, hidden_channels=16, num_layers=2, edge_dim=10, level=level)
    return ConcatNodeFeatures(ConcatEdgeGeometry(inner, keys=('pos', 'vel'),
                                                 in_channels=1, inner_products=True),
                              keys=('pos', 'vel'), in_channels=1)


class PointMLP(nn.Module):
    r"""A per-node MLP on raw coordinates (not equivariant), node or graph level."""
    def __init__(self, level='node', out=3):
        super().__init__()
        self.level = level
        self.mlp = nn.Sequential(nn.Linear(7, 32), nn.Tanh(), nn.Linear(32, out))

    def forward(self, data):
        h = self.mlp(torch.cat([data.x, data.pos, data.vel], dim=-1))
        if self.level == 'graph':
            return scatter(h, data.batch, dim=0, dim_size=data.num_graphs, reduce='sum')
        return h


def frame_sampler(**kw):
    return EuclideanFrameSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1, **kw)


CASES = [  # (group, sampler, backbone, level, output)
    ('E(3)', frame_sampler, PointMLP, 'node', 'vector'),
    ('E(3)', frame_sampler, PointMLP, 'node', 'position'),
    ('E(3)', frame_sampler, PointMLP, 'graph', 'scalar'),
    ('E(3)', frame_sampler, PointMLP, 'graph', 'vector'),
    ('SE(3)', lambda: frame_sampler(special=True), PointMLP, 'node', 'vector'),
    ('O(3)', lambda: frame_sampler(translation='none'), PointMLP, 'node', 'position'),
    ('S_n x E(3)', lambda: ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1),
     transformer, 'node', 'vector'),
    ('S_n x E(3)', lambda: ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1),
     transformer, 'graph', 'scalar'),
    ('S_n x E(3)', lambda: ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1),
     geometric_transformer, 'node', 'vector'),
    ('S_n x E(3)', lambda: ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1),
     geometric_transformer, 'graph', 'scalar'),
    ('S_n x E(3)', lambda: ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1),
     lambda level: geometric_transformer(level, inner_products=True), 'node', 'vector'),
    ('S_n x E(3)', frame_sampler, geometric_mpnn, 'node', 'vector'),
    ('S_n x E(3)', frame_sampler, geometric_mpnn, 'node', 'position'),
    ('S_n x E(3)', frame_sampler, geometric_mpnn, 'graph', 'scalar'),
]


def group_of(name):
    from lps_geometric.diagnostics.equivariance import resolve_group
    return resolve_group(name)


@pytest.mark.parametrize('name,make_sampler,make_backbone,level,output', CASES)
def test_exact_equivariance_for_transported_noise(name, make_sampler, make_backbone,
                                                  level, output):
    data = clouds()
    torch.manual_seed(1)
    model = Symmetrize(make_backbone(level=level), make_sampler(), num_samples=3,
                       level=level, output=output).double().eval()
    group = group_of(name)
    k = 3
    noise = torch.randn(k * data.num_nodes, 3, dtype=DT)
    out = model(data, noise=noise)
    worst_raw = 0.0
    for seed in range(3):
        g = group.random_element(data, torch.Generator().manual_seed(seed))
        out_g = model(group.act(g, data), noise=transport_noise(g, noise, data, k))
        expected = group.act_on_output(g, out, level, output)
        assert torch.allclose(out_g, expected, atol=1e-9), name
        with torch.no_grad():
            raw = model.backbone(data)
            raw_g = model.backbone(group.act(g, data))
        worst_raw = max(worst_raw, float(
            (raw_g - group.act_on_output(g, raw, level, output)).abs().max()))
    assert worst_raw > 1e-3  # the backbone alone is not equivariant


def test_invariant_in_distribution_with_fresh_noise():
    data = clouds((5, 4))
    torch.manual_seed(0)
    cases = [(frame_sampler(), PointMLP('graph', 1)),
             (UniformRotationSampler(), PointMLP('graph', 1)),
             (UniformRotationSampler(), geometric_mpnn('graph', 1))]
    for sampler, backbone in cases:
        model = Symmetrize(backbone, sampler, eval_num_samples=4000,
                           output='scalar').double().eval()
        g = EuclideanGroup().random_element(data, torch.Generator().manual_seed(3))
        a = model(data)
        samples = model.backbone(model.last_sample.element.apply(model.last_sample.stacked))
        se = samples.view(4000, -1).std(0) / 4000 ** 0.5
        b = model(EuclideanGroup().act(g, data))
        assert ((a - b).abs().view(-1) < 5 * 2 ** 0.5 * se + 1e-12).all()


def test_batched_path_matches_per_graph_reference():
    r"""Dense reference: each stacked graph canonicalized on its own, with an explicit
    frame, backbone called per graph, output rotated back and averaged."""
    data = clouds((5, 3, 4))
    torch.manual_seed(2)
    model = Symmetrize(PointMLP('node'), frame_sampler(), num_samples=2,
                       output='position').double().eval()
    k = 2
    noise = torch.randn(k * data.num_nodes, 3, dtype=DT)
    out = model(data, noise=noise)
    stacked = model.last_sample.stacked
    Q, c, _ = model.sampler.frame(stacked, noise)
    expected = torch.zeros_like(out)
    graphs = data.to_data_list()
    for r in range(k):
        for b, graph in enumerate(graphs):
            gi = r * len(graphs) + b
            q, centre = Q[gi], c[gi]
            canon = Data(x=graph.x, pos=(graph.pos - centre) @ q, vel=graph.vel @ q,
                         batch=torch.zeros(graph.num_nodes, dtype=torch.long))
            y = model.backbone(canon) @ q.T + centre
            expected[data.ptr[b]:data.ptr[b + 1]] += y / k
    assert torch.allclose(out, expected, atol=1e-10)


def test_gradients_reach_both_parts_of_the_sampler():
    data = clouds()
    sampler = ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1).double()
    model = Symmetrize(transformer('node'), sampler, num_samples=2, output='vector',
                       entropy_weight=0.1).double()
    loss = model(data).pow(2).sum() + model.regularization_loss()
    loss.backward()
    assert sampler.score.weight.grad is not None and sampler.score.weight.grad.abs().sum() > 0
    frame_grads = [p.grad for p in sampler.net.parameters() if p.grad is not None]
    assert frame_grads and sum(float(g.abs().sum()) for g in frame_grads) > 0


def test_spread_penalty_is_one_minus_the_sampled_spread_and_widens_a_narrow_sampler():
    from lps_geometric.diagnostics import rotation_spread, sample_spread
    data = clouds((5, 5, 4, 5, 5, 4))
    torch.manual_seed(3)
    sampler = ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1,
                             noise_scale=0.05).double()
    model = Symmetrize(PointMLP('node'), sampler, num_samples=4, output='vector',
                       spread_weight=0.5).double()
    assert 'spread_weight=0.5' in repr(model)
    model(data)
    rotation = model.last_sample.element.transform.rotation
    expected = 0.5 * (1 - rotation_spread(rotation, 4).mean())
    assert torch.allclose(model.regularization_loss(), expected.to(torch.float64))
    # the penalty alone, minimised, makes the frame depend on the noise
    probe = torch.Generator().manual_seed(0)
    before = sample_spread(sampler, data, 8, probe).summary()['rotation']
    optimizer = torch.optim.Adam(sampler.parameters(), lr=2e-2)
    for _ in range(30):
        optimizer.zero_grad()
        model(data)
        model.regularization_loss().backward()
        optimizer.step()
    after = sample_spread(sampler, data, 8, torch.Generator().manual_seed(0)
                          ).summary()['rotation']
    assert after > before + 0.2
    # nothing to penalise: one sample, evaluation (no gradient), group averaging
    model(data, num_samples=1)
    assert float(model.regularization_loss()) == 0.0
    with torch.no_grad():
        model(data)
    assert float(model.regularization_loss()) == 0.0
    ga = Symmetrize(PointMLP('node'), UniformProductSampler(), num_samples=4,
                    output='vector', spread_weight=0.5).double()
    ga(data)
    assert float(ga.regularization_loss()) == 0.0
    with pytest.raises(ValueError, match='spread_weight'):
        Symmetrize(PointMLP('node'), sampler, spread_weight=-1.0)


def test_bad_inputs_are_rejected():
    data = clouds()
    model = Symmetrize(PointMLP('node'), frame_sampler(), output='vector').double()
    no_pos = Data(x=data.x, edge_index=data.edge_index, edge_attr=data.edge_attr,
                  vel=data.vel, batch=data.batch)
    with pytest.raises(GraphInputError, match='pos'):
        model(no_pos)
    for key in ('pos', 'vel'):
        bad = data.clone()
        bad[key][1, 0] = float('nan')
        with pytest.raises(GraphInputError, match=key):
            model(bad)
    with pytest.raises(ValueError, match='output'):
        Symmetrize(PointMLP(), frame_sampler(), output='pseudovector')


def test_equivariance_error_on_euclidean_groups():
    data = clouds()
    torch.manual_seed(0)
    egnn = EGNN(1, 16, 2, vector_channels=1, edge_dim=1).double()

    def predict(d):
        return egnn(d.x, d.pos, d.edge_index, vec=d.vel.unsqueeze(1), edge_attr=d.edge_attr)[1]

    assert_equivariant(predict, data, 'E(3)', level='node', output='position',
                       num_trials=3, rtol=1e-10)
    assert_equivariant(predict, data, 'S_n x E(3)', level='node', output='position',
                       num_trials=3, rtol=1e-10)
    # a coordinate MLP is far from it
    mlp = PointMLP('node').double()
    assert equivariance_error(mlp, data, group='O(3)', level='node',
                              output='vector').max_abs > 1e-3
    assert ProductGroup().name == 'S_n x E(3)'


@pytest.mark.parametrize('special', [False, True])
def test_noise_free_canonicalization_is_exact_without_noise(special):
    data = clouds()
    torch.manual_seed(3)
    sampler = ProductSampler(1, 16, 2, vector_keys=('vel',), edge_dim=1, special=special,
                             noise_scale=0.0)
    model = Symmetrize(transformer('node'), sampler, num_samples=1, output='vector'
                       ).double().eval()
    group = group_of('S_n x SE(3)' if special else 'S_n x E(3)')
    out = model(data)
    for seed in range(3):
        g = group.random_element(data, torch.Generator().manual_seed(seed))
        expected = group.act_on_output(g, out, 'node', 'vector')
        assert torch.allclose(model(group.act(g, data)), expected, atol=1e-8)
