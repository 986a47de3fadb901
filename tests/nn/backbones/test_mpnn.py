import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric import MPNN, GraphInputError
from lps_geometric.nn.backbones import MPNNLayer
from lps_geometric.testing import random_point_cloud_batch

DT = torch.float64


def features(sizes=(5, 4, 1), edge_dim=2, seed=0):
    r"""Random graphs (complete within each graph, so the 1-node graph is isolated)
    with 3 node features and ``edge_dim`` edge features."""
    torch.manual_seed(seed)
    data = random_point_cloud_batch(sizes, dtype=DT)
    data.x = torch.randn(data.num_nodes, 3, dtype=DT)
    data.edge_attr = torch.randn(data.edge_index.size(1), edge_dim, dtype=DT)
    return data


def dense_mpnn(model: MPNN, data: Data) -> torch.Tensor:
    r"""Reference: every message computed on its own, summed (or averaged) per target
    node with explicit loops; graph pooling per graph."""
    h = model.embed(data.x)
    src, dst = data.edge_index.tolist()
    for layer in model.layers:
        agg = torch.zeros_like(h)
        count = [0] * h.size(0)
        for e, (j, i) in enumerate(zip(src, dst)):
            parts = [h[i], h[j]]
            if model.edge_dim > 0:
                parts.append(data.edge_attr[e])
            agg[i] = agg[i] + layer.message_mlp(torch.cat(parts).unsqueeze(0))[0]
            count[i] += 1
        if model.aggr == 'mean':
            agg = agg / torch.tensor(count, dtype=h.dtype).clamp(min=1).unsqueeze(1)
        h = h + layer.update_mlp(torch.cat([h, agg], dim=-1))
    if model.level == 'graph':
        pooled = [h[data.batch == b] for b in range(data.num_graphs)]
        h = torch.stack([p.sum(0) if model.aggr == 'add' else p.mean(0) for p in pooled])
    return model.head(h)


@pytest.mark.parametrize('aggr', ['add', 'mean'])
@pytest.mark.parametrize('level', ['node', 'graph'])
@pytest.mark.parametrize('edge_dim', [0, 2])
@pytest.mark.parametrize('norm', [False, True])
def test_matches_dense_reference(aggr, level, edge_dim, norm):
    data = features(edge_dim=max(edge_dim, 1))
    if edge_dim == 0:
        del data.edge_attr
    model = MPNN(3, 2, hidden_channels=8, num_layers=3, edge_dim=edge_dim, aggr=aggr,
                 level=level, norm=norm, dropout=0.3).double().eval()
    out = model(data)
    assert out.shape == ((data.num_nodes, 2) if level == 'node' else (data.num_graphs, 2))
    assert torch.allclose(out, dense_mpnn(model, data), atol=1e-12)


def test_isolated_node_gets_zero_message():
    data = features(sizes=(1,))
    assert data.edge_index.numel() == 0
    model = MPNN(3, 2, hidden_channels=8, num_layers=2, edge_dim=2).double()
    h = model.embed(data.x)
    for layer in model.layers:
        h = h + layer.update_mlp(torch.cat([h, torch.zeros_like(h)], dim=-1))
    assert torch.allclose(model(data), model.head(h), atol=1e-12)


@pytest.mark.parametrize('level', ['node', 'graph'])
def test_permutation_equivariant(level):
    data = features(sizes=(6,))
    model = MPNN(3, 2, hidden_channels=8, num_layers=3, edge_dim=2, level=level).double()
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(6)
    permuted = Data(x=data.x[perm], edge_index=inverse[data.edge_index],
                    edge_attr=data.edge_attr, num_nodes=6)
    out, out_p = model(data), model(permuted)
    expected = out[perm] if level == 'node' else out
    assert torch.allclose(out_p, expected, atol=1e-12)


def test_not_euclidean_equivariant_on_coordinates():
    # it reads coordinates as plain features: rotating them does not rotate the output
    data = features(sizes=(5,))
    data.x = data.pos
    model = MPNN(3, 3, hidden_channels=8, num_layers=2, edge_dim=2).double()
    rot = torch.linalg.qr(torch.randn(3, 3, dtype=DT))[0]
    rotated = Data(x=data.x @ rot.T, edge_index=data.edge_index,
                   edge_attr=data.edge_attr, num_nodes=5)
    assert (model(rotated) - model(data) @ rot.T).abs().max() > 1e-3


def test_gradients_reach_every_parameter():
    data = features()
    model = MPNN(3, 2, hidden_channels=8, num_layers=2, edge_dim=2).double()
    model(data).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_reset_parameters_and_repr():
    model = MPNN(3, 2, hidden_channels=8, num_layers=2, edge_dim=2)
    before = [p.clone() for p in model.parameters()]
    model.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert repr(model) == ('MPNN(3, 2, hidden_channels=8, num_layers=2, edge_dim=2, '
                           'aggr=add, level=node)')
    assert repr(model.layers[0]) == 'MPNNLayer(8, edge_dim=2, aggr=add)'
    assert isinstance(model.layers[0], MPNNLayer)


def test_bad_input_gives_clear_errors():
    model = MPNN(3, 2, edge_dim=2)
    data = features()
    with pytest.raises(ValueError, match=r'node features x of shape \(\|V\|, 3\)'):
        model.double()(Data(x=data.x[:, :2], edge_index=data.edge_index,
                            edge_attr=data.edge_attr))
    with pytest.raises(ValueError, match='edge features edge_attr'):
        model(Data(x=data.x, edge_index=data.edge_index))
    with pytest.raises(ValueError, match='edge features edge_attr'):
        model(Data(x=data.x, edge_index=data.edge_index, edge_attr=data.edge_attr[:, :1]))
    with pytest.raises(GraphInputError, match='edge_index'):
        MPNN(3, 2)(Data(x=torch.randn(3, 3), edge_index=torch.tensor([[0, 5], [1, 2]])))
    with pytest.raises(ValueError, match="'aggr'"):
        MPNN(3, 2, aggr='max')
    with pytest.raises(ValueError, match='positive'):
        MPNN(3, 2, num_layers=0)
    with pytest.raises(ValueError, match='edge_dim'):
        MPNN(3, 2, edge_dim=-1)
    with pytest.raises(ValueError, match='output level'):
        MPNN(3, 2, level='edge')


@pytest.mark.parametrize('norm', [False, True])
def test_batched_equals_per_graph(norm):
    # graphs of a batch do not interact (the layer norm is per row, not per batch)
    data = features()
    model = MPNN(3, 2, hidden_channels=8, num_layers=2, edge_dim=2, level='graph',
                 norm=norm).double()
    per_graph = torch.cat([model(Batch.from_data_list([g])) for g in data.to_data_list()])
    assert torch.allclose(model(data), per_graph, atol=1e-12)


def test_dropout_acts_in_training_only():
    data = features()
    model = MPNN(3, 2, hidden_channels=16, num_layers=2, edge_dim=2, dropout=0.5,
                 norm=True).double()
    assert not torch.allclose(model(data), model(data))   # training: random masks
    model.eval()
    assert torch.equal(model(data), model(data))
    plain = MPNN(3, 2, hidden_channels=16, num_layers=2, edge_dim=2, norm=True).double()
    plain.load_state_dict(model.state_dict())              # same parameters
    assert torch.allclose(plain(data), model(data), atol=1e-12)
    assert repr(model).endswith('level=node, norm=True, dropout=0.5)')
    assert repr(model.layers[0]) == 'MPNNLayer(16, edge_dim=2, aggr=add, norm=True, ' \
        'dropout=0.5)'
    with pytest.raises(ValueError, match="'dropout'"):
        MPNN(3, 2, dropout=1.0)
