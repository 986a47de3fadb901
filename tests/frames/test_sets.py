r"""Minimal frames of :math:`S_n` on sets (:mod:`lps_geometric.frames.sets`): the sorting
permutations of the node features, their number and exactness."""
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import SetMinimalFrameSampler
from lps_geometric.frames.sets import tie_stabilizer_size
from lps_geometric.nn import Symmetrize
from lps_geometric.testing import OrderedMLP


def test_set_mfa():
    x = torch.tensor([[1.0, 0], [0, 1], [1, 0], [2, 2], [0, 1], [1, 0]])
    data = Batch.from_data_list([Data(x=x, edge_index=torch.empty(2, 0, dtype=torch.long)),
                                 Data(x=torch.randn(4, 2),
                                      edge_index=torch.empty(2, 0, dtype=torch.long))])
    sample = SetMinimalFrameSampler()(data)
    assert sample.frame_size.tolist() == [12.0, 1.0]      # 3! * 2!
    assert torch.bincount(sample.graph_index).tolist() == [12, 1]
    first = sample.stacked.ptr[:12]                     # the 12 copies of graph 0
    canon = sample.element.apply(sample.stacked).x[:72].view(12, 6, 2)
    assert torch.unique(canon, dim=0).size(0) == 1
    assert torch.unique(sample.element.rank[:72].view(12, 6), dim=0).size(0) == 12
    assert first.tolist() == list(range(0, 72, 6))
    backbone = OrderedMLP(2, 2, max_nodes=6, keys=('x',), level='node')
    net = Symmetrize(backbone, SetMinimalFrameSampler(), level='node').eval()
    assert_equivariant(net, data, 'S_n', rtol=1e-5)
    # over budget: uniform draws (random order inside ties)
    sampled = SetMinimalFrameSampler(budget=5)(data)
    assert torch.bincount(sampled.graph_index).tolist() == [5, 1]
    canon = sampled.element.apply(sampled.stacked).x[:30].view(5, 6, 2)
    assert torch.unique(canon, dim=0).size(0) == 1


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_set_mfa_and_laplacian_fa_precision(dtype, tol):
    torch.manual_seed(0)
    x = torch.tensor([[1.0, 0], [0, 1], [1, 0], [2, 2], [0, 1]], dtype=dtype)
    sets = Batch.from_data_list([
        Data(x=x, edge_index=torch.empty(2, 0, dtype=torch.long)),
        Data(x=torch.randn(4, 2, dtype=dtype), edge_index=torch.empty(2, 0,
                                                                    dtype=torch.long))])
    backbone = OrderedMLP(2, 2, max_nodes=5, keys=('x',), level='node').to(dtype)
    net = Symmetrize(backbone, SetMinimalFrameSampler(), level='node').eval()
    assert_equivariant(net, sets, 'S_n', num_trials=4, rtol=tol)


def test_tie_stabilizer_size_is_the_product_of_factorials():
    key = torch.tensor([0, 0, 0, 1, 1, 2, 4, 4, 4, 4, 7])
    batch = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    size = tie_stabilizer_size(key, batch, 3)
    assert size.dtype == torch.float64
    assert size.tolist() == [math.factorial(3) * 2, math.factorial(4), 1.0]
    # equal keys in different graphs are not a tie
    apart = tie_stabilizer_size(torch.tensor([5, 5]), torch.tensor([0, 1]), 2)
    assert apart.tolist() == [1.0, 1.0]
    big = tie_stabilizer_size(torch.zeros(200, dtype=torch.long),
                              torch.zeros(200, dtype=torch.long), 1)
    assert math.isinf(big.item())
