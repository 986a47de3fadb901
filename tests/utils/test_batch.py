import pytest
import torch

from lps_geometric.utils import graph_ptr, replicate_batch


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


def test_replicate_graphs_is_ragged_and_keeps_attributes():
    from lps_geometric.utils import replicate_graphs
    from lps_geometric.testing import random_batch
    data = random_batch((3, 1, 4), seed=0)
    data.y = torch.tensor([10.0, 11.0, 12.0])
    counts = torch.tensor([2, 1, 3])
    out, graph_index, node_index = replicate_graphs(data, counts)
    assert graph_index.tolist() == [0, 0, 1, 2, 2, 2]
    assert out.num_graphs == 6 and out.num_nodes == 2 * 3 + 1 + 3 * 4
    assert torch.equal(out.x, data.x[node_index])
    assert torch.equal(out.y, data.y[graph_index])
    # every copy holds its graph's edges with their attributes, renumbered
    for g in range(6):
        b = int(graph_index[g])
        lo, hi = int(out.ptr[g]), int(out.ptr[g + 1])
        mask = (out.edge_index[0] >= lo) & (out.edge_index[0] < hi)
        assert bool(((out.edge_index[1][mask] >= lo) & (out.edge_index[1][mask] < hi)).all())
        orig = (data.batch[data.edge_index[0]] == b)
        got = sorted(zip((out.edge_index[:, mask] - lo).t().tolist(),
                         out.edge_attr[mask].tolist()))
        want = sorted(zip((data.edge_index[:, orig] - int(data.ptr[b])).t().tolist(),
                          data.edge_attr[orig].tolist()))
        assert got == want
    with pytest.raises(ValueError, match='positive'):
        replicate_graphs(data, torch.tensor([1, 0, 1]))


def test_single_graphs_and_batches_read_alike():
    from torch_geometric.data import Batch, Data

    from lps_geometric.utils.batch import (batch_vector, local_index, max_graph_size,
                                           num_graphs_of, to_ptr_batch)
    single = Data(x=torch.randn(4, 1), edge_index=torch.tensor([[0, 1], [1, 0]]))
    assert num_graphs_of(single) == 1
    assert batch_vector(single).tolist() == [0, 0, 0, 0]
    batch, ptr, B = to_ptr_batch(single)
    assert B == 1 and ptr.tolist() == [0, 4] and batch.tolist() == [0] * 4
    graphs = Batch.from_data_list([single, Data(x=torch.randn(2, 1),
                                                edge_index=torch.zeros(2, 0, dtype=torch.long))])
    batch, ptr, B = to_ptr_batch(graphs)
    assert B == 2 and ptr.tolist() == [0, 4, 6]
    assert local_index(batch, ptr).tolist() == [0, 1, 2, 3, 0, 1]
    assert max_graph_size(ptr) == 4 and max_graph_size(torch.tensor([0])) == 0
    # a batch vector without num_graphs counts up to its largest graph index
    loose = Data(x=torch.randn(3, 1), batch=torch.tensor([0, 2, 2]))
    assert num_graphs_of(loose) == 3
    assert num_graphs_of(Data(x=torch.zeros(0, 1), batch=torch.zeros(0, dtype=torch.long))) == 0
