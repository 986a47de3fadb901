r"""The learned permutation sampler (:mod:`lps_geometric.samplers.permutation`): ranks
that follow the input and the noise, ties, the GIN scores, reproducibility, gradients,
the relaxation only in training, and its settings and input checks."""
import pytest
import torch

from lps_geometric import PermutationSampler, Symmetrize
from lps_geometric.groups import SymmetricGroup
from lps_geometric.groups import segment_argsort
from lps_geometric.nn import AdjacencyPatchTransformer
from lps_geometric.utils import replicate_batch


def make_sampler(**kwargs):
    kwargs.setdefault('dropout', 0.0)
    kwargs.setdefault('edge_dim', 4)
    return PermutationSampler(3, hidden_channels=16, **kwargs).eval()


@pytest.mark.parametrize('edge_dim', [0, 4])  # GIN (CSR neighbour sums) and GINE
@pytest.mark.parametrize('num_samples', [1, 3])
def test_ranks_follow_a_permutation_of_input_and_noise(batch, num_samples, edge_dim):
    sampler = make_sampler(edge_dim=edge_dim)
    group = SymmetricGroup()
    g = group.random_element(batch)
    noise = torch.rand(num_samples * batch.num_nodes, 1)
    stacked_g = replicate_batch(batch, num_samples)
    # The same relabelling for every copy, and the noise moved along with the nodes.
    g_stacked = group.random_element(stacked_g)
    g_stacked.rank = g.rank.repeat(num_samples)
    with torch.no_grad():
        rank = sampler(batch, num_samples, noise=noise).element.rank
        rank_g = sampler(group.act(g, batch), num_samples,
                         noise=g_stacked.permute_nodes(noise)).element.rank
        score = sampler.scores(replicate_batch(batch, num_samples), noise)
        score_g = sampler.scores(replicate_batch(group.act(g, batch), num_samples),
                                 g_stacked.permute_nodes(noise))
    # The scores are bitwise equivariant (order-invariant sums over nodes), so node v
    # moved to σ(v) keeps its rank: rank_g[σ(v)] = rank[v].
    assert torch.equal(g_stacked.permute_nodes(score), score_g)
    assert torch.equal(g_stacked.permute_nodes(rank), rank_g)


@pytest.mark.parametrize('edge_dim', [0, 4])
def test_exact_ties_are_ordered_by_the_noise(batch, edge_dim):
    # Saturated ReLUs give several nodes exactly the same score; they are ordered by
    # their noise (equivariant), not by node index (which depends on the input order).
    sampler = make_sampler(edge_dim=edge_dim)
    torch.nn.init.zeros_(sampler.score.weight)  # every score equals the bias
    group = SymmetricGroup()
    g = group.random_element(batch)
    noise = torch.rand(batch.num_nodes, 1)
    with torch.no_grad():
        rank = sampler(batch, 1, noise=noise).element.rank
        rank_g = sampler(group.act(g, batch), 1, noise=g.permute_nodes(noise)).element.rank
    assert torch.equal(rank, segment_argsort(noise.view(-1), batch.batch, batch.ptr))
    assert torch.equal(g.permute_nodes(rank), rank_g)


def test_gin_scores_equal_message_passing(batch):
    # The GIN sampler sums neighbours with CSR products; the same parameters through
    # PyG's GINConv on the edge list give the same scores, and the same gradients.
    sampler = make_sampler(edge_dim=0).double().train()
    sampler.dropout = 0.0
    for conv in sampler.convs:
        torch.nn.init.uniform_(conv.eps, -0.5, 0.5)
    data = batch.clone()
    data.x = data.x.double()
    noise = torch.rand(data.num_nodes, 1, dtype=torch.double)

    def reference():
        h = sampler.encoder(torch.cat([data.x, noise], dim=1))
        vn = None
        for layer, conv in enumerate(sampler.convs):
            if vn is not None:
                h = h + vn[data.batch]
            h = torch.relu(conv(h, data.edge_index))
            if layer < sampler.num_layers - 1:
                pooled = torch.zeros(data.num_graphs, h.size(1), dtype=h.dtype)
                pooled = pooled.index_add(0, data.batch, h)
                vn = sampler.virtual_mlps[layer](pooled if vn is None else pooled + vn)
        return sampler.score(h).squeeze(-1)

    weights = torch.randn(data.num_nodes, dtype=torch.double)
    ours = sampler.scores(data, noise)
    grads = torch.autograd.grad((ours * weights).sum(), list(sampler.parameters()))
    expected = reference()
    grads_ref = torch.autograd.grad((expected * weights).sum(),
                                    list(sampler.parameters()))
    assert torch.allclose(ours, expected, atol=1e-12)
    for a, b in zip(grads, grads_ref):
        assert torch.allclose(a, b, atol=1e-10)


def test_canonical_graph_is_invariant(batch):
    sampler = make_sampler()
    group = SymmetricGroup()
    g = group.random_element(batch)
    noise = torch.rand(batch.num_nodes, 1)
    with torch.no_grad():
        p = sampler(batch, 1, noise=noise).element
        p_g = sampler(group.act(g, batch), 1, noise=g.permute_nodes(noise)).element
    a, b = p.apply(batch), p_g.apply(group.act(g, batch))
    assert torch.equal(a.x, b.x)
    key = lambda d: sorted(map(tuple, d.edge_index.t().tolist()))
    assert key(a) == key(b)


def test_zero_noise_is_deterministic(batch):
    sampler = make_sampler(noise_scale=0.0)
    with torch.no_grad():
        r1 = sampler(batch, 2).element.rank
        r2 = sampler(batch, 2).element.rank
    assert torch.equal(r1, r2)


def test_noise_makes_samples_differ(batch):
    sampler = make_sampler()
    with torch.no_grad():
        rank = sampler(batch, 8).element.rank.view(8, -1)
    assert len({tuple(r.tolist()) for r in rank}) > 1


def test_noise_shape_is_checked(batch):
    with pytest.raises(ValueError, match='noise'):
        make_sampler()(batch, 2, noise=torch.rand(batch.num_nodes, 1))


def test_generator_makes_samples_reproducible(batch):
    sampler = make_sampler()
    with torch.no_grad():
        r1 = sampler(batch, 2, generator=torch.Generator().manual_seed(3)).element.rank
        r2 = sampler(batch, 2, generator=torch.Generator().manual_seed(3)).element.rank
    assert torch.equal(r1, r2)


def test_gradients_reach_the_sampler(batch):
    backbone = AdjacencyPatchTransformer(3, 2, max_nodes=9, edge_dim=4, patch_size=3,
                                         embed_dim=16, depth=1, num_heads=2)
    sampler = PermutationSampler(3, hidden_channels=16, edge_dim=4, tau=0.5)
    model = Symmetrize(backbone, sampler, num_samples=2, entropy_weight=0.1)
    out = model(batch)
    (out.square().sum() + model.regularization_loss()).backward()
    grads = [p.grad for p in sampler.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_no_relaxation_in_eval(batch):
    sampler = make_sampler()
    with torch.no_grad():
        sample = sampler(batch, 2)
    assert sample.band is None and sample.entropy is None


def test_invalid_arguments():
    with pytest.raises(ValueError, match='tau'):
        PermutationSampler(3, tau=0.0)
    with pytest.raises(ValueError, match='noise'):
        PermutationSampler(3, noise='cauchy')
    with pytest.raises(ValueError, match='band'):
        PermutationSampler(3, band=-1)


def test_repr_and_reset():
    sampler = PermutationSampler(3)
    assert 'PermutationSampler(3' in repr(sampler)
    sampler.reset_parameters()


def test_one_dimensional_edge_attr_is_one_edge_channel(batch):
    # validate_graph_batch reads an (|E|,) edge_attr as one channel; the GINE layers too
    sampler = make_sampler(edge_dim=1)
    data = batch.clone()
    data.edge_attr = torch.rand(data.edge_index.size(1))
    column = data.clone()
    column.edge_attr = data.edge_attr.unsqueeze(-1)
    noise = torch.rand(2 * data.num_nodes, 1)
    with torch.no_grad():
        rank = sampler(data, 2, noise=noise).element.rank
        rank_column = sampler(column, 2, noise=noise).element.rank
    assert torch.equal(rank, rank_column)


def test_one_dimensional_x_is_one_node_channel():
    from torch_geometric.data import Batch, Data
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    x = torch.rand(4)
    flat = Batch.from_data_list([Data(x=x, edge_index=edge_index)])
    column = Batch.from_data_list([Data(x=x.unsqueeze(-1), edge_index=edge_index)])
    sampler = PermutationSampler(1, hidden_channels=8, dropout=0.0).eval()
    noise = torch.rand(8, 1)
    with torch.no_grad():
        assert torch.equal(sampler(flat, 2, noise=noise).element.rank,
                           sampler(column, 2, noise=noise).element.rank)
