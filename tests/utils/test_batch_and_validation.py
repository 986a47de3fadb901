import pytest
import torch
from torch_geometric.data import Data

from lps_geometric.utils import (GraphInputError, graph_ptr, replicate_batch,
                                 validate_graph_batch)


def test_replicate_batch_layout(batch):
    k = 3
    stacked = replicate_batch(batch, k)
    N, B = batch.num_nodes, batch.num_graphs
    assert stacked.num_nodes == k * N and stacked.num_graphs == k * B
    assert torch.equal(stacked.x.view(k, N, -1)[2], batch.x)
    assert torch.equal(stacked.edge_index.view(2, k, -1)[:, 1], batch.edge_index + N)
    assert torch.equal(stacked.batch.view(k, N)[1], batch.batch + B)
    assert torch.equal(stacked.ptr, graph_ptr(stacked.batch, k * B))
    assert torch.equal(stacked.edge_attr.view(k, -1, 4)[1], batch.edge_attr)


def test_graph_ptr():
    batch = torch.tensor([0, 0, 1, 3, 3])
    assert graph_ptr(batch, 4).tolist() == [0, 2, 3, 3, 5]


def test_validation_requires_pos_when_asked(batch):
    validate_graph_batch(batch)
    with pytest.raises(GraphInputError, match='pos'):
        validate_graph_batch(batch, require_pos=True)
    batch.pos = torch.randn(batch.num_nodes, 3)
    validate_graph_batch(batch, require_pos=True)
    batch.pos[0, 1] = float('nan')
    with pytest.raises(GraphInputError, match="'pos'"):
        validate_graph_batch(batch, require_pos=True)


def test_validation_missing_edge_index():
    with pytest.raises(GraphInputError, match='edge_index'):
        validate_graph_batch(Data(x=torch.randn(3, 2)))


def test_graph_input_error_is_a_value_error():
    assert issubclass(GraphInputError, ValueError)
