r"""Exactness of the S_n sampler on graphs built to break it: LPS with its noise moved
along, and learned canonicalization (no noise) on graphs with large automorphism groups,
in float32 and float64."""
import sys

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.utils import to_dense_adj, to_dense_batch

from lps_geometric import PermutationSampler, Symmetrize
from lps_geometric.groups import SymmetricGroup
from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.samplers.permutation import invariant_sum
from lps_geometric.testing import random_batch
from lps_geometric.testing.graphs import (adversarial_graphs, circulant_graph,
                                          complete_graph, cycle_graph,
                                          nearly_tied_features, petersen_graph)
from lps_geometric.utils import replicate_batch
from lps_geometric.utils.validation import GraphInputError

pytest.importorskip('pynauty')

DTYPES = [torch.float32, torch.float64]


class AdjacencyMLP(nn.Module):
    r"""Reads the dense adjacency and ``x`` in node order: not equivariant at all, so
    every bit of symmetry comes from the sampler."""
    def __init__(self, in_channels: int, max_nodes: int, level: str):
        super().__init__()
        self.n, self.level = max_nodes, level
        width = 2 * (max_nodes if level == 'node' else 1)
        self.mlp = nn.Sequential(nn.Linear(max_nodes * (max_nodes + in_channels), 16),
                                 nn.Tanh(), nn.Linear(16, width))

    def forward(self, data):
        B, dtype = data.num_graphs, self.mlp[0].weight.dtype
        adj = to_dense_adj(data.edge_index, data.batch, max_num_nodes=self.n,
                           batch_size=B)
        x, mask = to_dense_batch(data.x.to(dtype), data.batch, max_num_nodes=self.n,
                                 batch_size=B)
        out = self.mlp(torch.cat([adj.to(dtype).flatten(1), x.flatten(1)], dim=1))
        return out if self.level == 'graph' else out.view(B, self.n, 2)[mask]


def as_batch(data, dtype=torch.float32):
    batch = data if isinstance(data, Batch) else Batch.from_data_list([data])
    batch = batch.clone()
    batch.x = batch.x.to(dtype)
    return batch


def model(batch, level, dtype, noise_scale=1.0, k=2, **kwargs):
    torch.manual_seed(0)
    n = int(batch.ptr.diff().max())
    sampler = PermutationSampler(batch.x.size(1), hidden_channels=16, dropout=0.0,
                                 noise_scale=noise_scale, **kwargs)
    k = k if noise_scale > 0 else 1
    return Symmetrize(AdjacencyMLP(batch.x.size(1), n, level), sampler, num_samples=k,
                      level=level).to(dtype).eval()


GRAPHS = adversarial_graphs()
INPUTS = {**GRAPHS,
          'CSL batch': Batch.from_data_list([circulant_graph(41, (1, s))
                                             for s in (2, 5, 9)]),
          'random': random_batch((5, 8, 11), node_channels=1, edge_channels=0, seed=0),
          'nearly tied': nearly_tied_features(
              petersen_graph(), 1e-7, torch.Generator().manual_seed(0))}


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('name', list(INPUTS))
def test_lps_is_exact_with_the_noise_moved_along(name, dtype):
    batch = as_batch(INPUTS[name], dtype)
    for level in ('graph', 'node'):
        report = assert_equivariant(model(batch, level, dtype), batch, 'S_n',
                                    level=level, noise='transport', num_trials=4,
                                    generator=torch.Generator().manual_seed(1))
        assert report.max_abs == 0.0  # bitwise, not only within the tolerance


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('name', list(INPUTS))
def test_canonicalization_graph_outputs_are_exact(name, dtype):
    batch = as_batch(INPUTS[name], dtype)
    report = assert_equivariant(model(batch, 'graph', dtype, noise_scale=0.0), batch,
                                'S_n', level='graph', num_trials=4,
                                generator=torch.Generator().manual_seed(1))
    assert report.max_abs == 0.0


def _relabelled(sampler, batch, g=None):
    data = batch if g is None else SymmetricGroup().act(g, batch)
    with torch.no_grad():
        perm = sampler(data, 1).element
    return perm, perm.apply(data)


@pytest.mark.parametrize('name', ['K6', 'Petersen', 'Q4', '3 x K4', 'CSL(41, 9)'])
def test_canonical_orders_differ_by_an_automorphism(name):
    # sigma(gG) and sigma(G) g^-1 may differ, but only by an automorphism of G: both
    # relabel G to the same graph (what node-level outputs can tell apart is which of
    # two automorphic nodes sits where).
    batch = as_batch(GRAPHS[name])
    sampler = PermutationSampler(1, hidden_channels=16, noise_scale=0.0).eval()
    _, canonical = _relabelled(sampler, batch)
    key = lambda d: sorted(map(tuple, d.edge_index.t().tolist()))  # noqa: E731
    for seed in range(5):
        g = SymmetricGroup().random_element(batch, torch.Generator().manual_seed(seed))
        _, canonical_g = _relabelled(sampler, batch, g)
        assert key(canonical_g) == key(canonical)
        assert torch.equal(canonical_g.x, canonical.x)


@pytest.mark.parametrize('edge_dim', [0, 3])
@pytest.mark.parametrize('dtype', DTYPES)
def test_scores_are_bitwise_equivariant(edge_dim, dtype):
    batch = random_batch((7, 12, 30), node_channels=2, edge_channels=edge_dim, seed=1)
    batch.x = batch.x.to(dtype)
    sampler = PermutationSampler(2, hidden_channels=32, edge_dim=edge_dim).to(dtype).eval()
    noise = torch.rand(batch.num_nodes, 1, dtype=dtype)
    group = SymmetricGroup()
    with torch.no_grad():
        score = sampler.scores(replicate_batch(batch, 1), noise)
        for seed in range(5):
            g = group.random_element(batch, torch.Generator().manual_seed(seed))
            moved = replicate_batch(group.act(g, batch), 1)
            score_g = sampler.scores(moved, g.permute_nodes(noise))
            assert torch.equal(g.permute_nodes(score), score_g)


@pytest.mark.parametrize('name', ['K6', 'Petersen', 'Q4', 'CSL(41, 9)'])
def test_automorphic_nodes_tie_exactly(name):
    # Vertex-transitive graphs: without noise every node gets the very same score.
    batch = as_batch(GRAPHS[name])
    sampler = PermutationSampler(1, hidden_channels=16, noise_scale=0.0).eval()
    with torch.no_grad():
        score = sampler.scores(batch, torch.zeros(batch.num_nodes, 1))
    assert score.unique().numel() == 1


def test_invariant_sum_is_order_free_and_has_the_plain_gradient():
    torch.manual_seed(0)
    value = (torch.randn(50, 4) * torch.logspace(-6, 3, 50).unsqueeze(1)).requires_grad_()
    index = torch.randint(0, 6, (50,))
    group = torch.tensor([0, 0, 0, 1, 1, 1])
    count = torch.tensor([50, 50])
    out = invariant_sum(value, index, 6, group, 2, count)
    plain = torch.zeros(6, 4).index_add(0, index, value)
    assert torch.allclose(out, plain, rtol=1e-6, atol=1e-5)
    for _ in range(5):
        p = torch.randperm(50)
        assert torch.equal(invariant_sum(value[p], index[p], 6, group, 2, count), out)
    weight = torch.randn(6, 4)
    grad, = torch.autograd.grad((out * weight).sum(), value)
    assert torch.equal(grad, weight[index])


@pytest.mark.parametrize('dtype,scale', [(torch.float32, 1e-32), (torch.float32, 1e36),
                                         (torch.float64, 1e-280), (torch.float64, 1e300)])
def test_invariant_sum_keeps_its_resolution_for_tiny_and_huge_graphs(dtype, scale):
    # the per-graph scale 2^k reaches the whole normal range of the working precision
    torch.manual_seed(0)
    value = (torch.rand(40, 2, dtype=torch.float64) * scale).to(dtype)
    index = torch.zeros(40, dtype=torch.long)
    one = torch.zeros(1, dtype=torch.long)
    out = invariant_sum(value, index, 1, one, 1, torch.tensor([40]))
    exact = value.to(torch.float64).sum(0, keepdim=True)
    rtol = 1e-6 if dtype == torch.float32 else 1e-12
    assert torch.allclose(out.to(torch.float64), exact, rtol=rtol, atol=0)
    p = torch.randperm(40)
    assert torch.equal(invariant_sum(value[p], index, 1, one, 1, torch.tensor([40])), out)


def test_ties_fall_back_to_node_index_without_pynauty(monkeypatch):
    batch = as_batch(cycle_graph(8))
    monkeypatch.setitem(sys.modules, 'pynauty', None)  # import pynauty fails
    with pytest.raises(ImportError, match='pynauty'):
        PermutationSampler(1, noise_scale=0.0, tie_break='canonical')
    sampler = PermutationSampler(1, noise_scale=0.0).eval()
    with pytest.warns(RuntimeWarning, match='node index'):
        with torch.no_grad():
            rank = sampler(batch, 1).element.rank
    assert torch.equal(rank, torch.arange(8))  # every score ties


def test_index_tie_break_orders_ties_by_node_index():
    batch = as_batch(complete_graph(5))
    sampler = PermutationSampler(1, noise_scale=0.0, tie_break='index').eval()
    with torch.no_grad():
        assert torch.equal(sampler(batch, 1).element.rank, torch.arange(5))
    with pytest.raises(ValueError, match='tie_break'):
        PermutationSampler(1, tie_break='random')


def test_ties_on_directed_graphs_with_loops_and_multi_edges():
    # A directed 6-cycle with a loop on every node and a doubled arc: canonical graph
    # outputs stay exact.
    data = cycle_graph(6)
    src = torch.arange(6)
    arcs = torch.stack([src, (src + 1) % 6])
    loops = torch.stack([src, src])
    data.edge_index = torch.cat([arcs, loops, arcs[:, :1]], dim=1)
    batch = as_batch(data)
    m = model(batch, 'graph', torch.float32, noise_scale=0.0)
    report = assert_equivariant(m, batch, 'S_n', level='graph', num_trials=4,
                                generator=torch.Generator().manual_seed(0))
    assert report.max_abs == 0.0


def test_forward_validates_its_input():
    batch = as_batch(cycle_graph(5))
    sampler = PermutationSampler(1)
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match='num_samples'):
            sampler(batch, bad)
    with pytest.raises(GraphInputError):
        PermutationSampler(3)(batch)                         # x has 1 channel
    with pytest.raises(GraphInputError):
        PermutationSampler(1, edge_dim=2)(batch)             # no edge_attr


def test_scores_without_csr_products_are_the_same(monkeypatch):
    # Where NeighborSum gathers and scatters instead of CSR products (half precision,
    # deterministic mode on CUDA), the order-invariant sums give the very same scores.
    batch = random_batch((6, 9), node_channels=2, edge_channels=0, seed=2)
    sampler = PermutationSampler(2, hidden_channels=16).eval()
    noise = torch.rand(batch.num_nodes, 1)
    with torch.no_grad():
        score = sampler.scores(replicate_batch(batch, 1), noise)
    import lps_geometric.utils.sparse as sparse
    monkeypatch.setattr(sparse, 'uses_csr', lambda device, dtype: False)
    stacked = replicate_batch(batch, 1)
    assert sparse.NeighborSum(stacked.edge_index, stacked.num_nodes).matrix is None
    with torch.no_grad():
        assert torch.equal(sampler.scores(stacked, noise), score)
    scores = sampler.train().scores(stacked, noise)
    scores.sum().backward()
    assert all(p.grad is not None for p in sampler.convs.parameters())
