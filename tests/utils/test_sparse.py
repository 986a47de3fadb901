import pytest
import torch

from lps_geometric.utils import NeighborSum


def scatter_reference(x, edge_index):
    src, dst = edge_index
    return torch.zeros_like(x).index_add(0, dst, x[src])


def directed_edges(num_nodes=9, num_edges=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    # a multi-edge, a self-loop, and node num_nodes - 1 isolated
    edge_index = edge_index % (num_nodes - 1)
    extra = torch.tensor([[0, 0, 3], [1, 1, 3]])
    return torch.cat([edge_index, extra], dim=1)


@pytest.mark.parametrize('dtype', [torch.float, torch.double])
def test_neighbor_sum_equals_scatter(dtype):
    edge_index = directed_edges()
    x = torch.randn(9, 5, dtype=dtype)
    out = NeighborSum(edge_index, 9, dtype)(x)
    assert out.dtype == dtype and out.shape == (9, 5)
    assert torch.allclose(out, scatter_reference(x, edge_index), atol=1e-6)
    assert torch.equal(out[8], torch.zeros(5, dtype=dtype))  # isolated node
    # the multi-edge 0 -> 1 counts twice
    assert torch.allclose(NeighborSum(torch.tensor([[0, 0], [1, 1]]), 2)(torch.eye(2)),
                          torch.tensor([[0., 0.], [2., 0.]]))


def test_neighbor_sum_gradient():
    edge_index = directed_edges(seed=1)
    op = NeighborSum(edge_index, 9, torch.double)
    x = torch.randn(9, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(op, (x,))
    g = torch.randn(9, 3, dtype=torch.double)
    (grad,) = torch.autograd.grad((op(x) * g).sum(), x)
    (expected,) = torch.autograd.grad((scatter_reference(x, edge_index) * g).sum(), x)
    assert torch.allclose(grad, expected)


def test_neighbor_sum_in_half_precision_falls_back_to_scatter():
    edge_index = directed_edges(seed=2)
    x = torch.randn(9, 4).to(torch.bfloat16)
    op = NeighborSum(edge_index, 9, torch.bfloat16)
    assert op.matrix is None
    assert torch.equal(op(x), scatter_reference(x, edge_index))


def test_neighbor_sum_without_edges():
    op = NeighborSum(torch.zeros(2, 0, dtype=torch.long), 4)
    x = torch.randn(4, 2, requires_grad=True)
    out = op(x)
    assert torch.equal(out, torch.zeros(4, 2))
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros(4, 2))


def test_neighbor_sum_checks_its_input():
    op = NeighborSum(directed_edges(), 9)
    with pytest.raises(ValueError, match=r'shape \(9, F\)'):
        op(torch.randn(8, 2))
    with pytest.raises(ValueError, match='float64'):
        op(torch.randn(9, 2, dtype=torch.double))
    assert 'num_nodes=9' in repr(op)
    with pytest.raises(ValueError, match=r'outside \[0, 9\)'):
        NeighborSum(torch.tensor([[0, 9], [1, 2]]), 9)
    with pytest.raises(ValueError, match=r'outside'):
        NeighborSum(torch.tensor([[0, -1], [1, 2]]), 9)
    with pytest.raises(ValueError, match=r'shape \(2, \|E\|\)'):
        NeighborSum(torch.tensor([0, 1]), 9)


def test_argsort_keys_sorts_in_int32_and_int64():
    from lps_geometric.utils.sparse import argsort_keys
    gen = torch.Generator().manual_seed(0)
    small = torch.randint(0, 1000, (5000,), generator=gen)
    large = torch.randint(0, 1 << 40, (5000,), generator=gen)
    for key, bound in ((small, 1000), (large, 1 << 40)):
        order = argsort_keys(key, bound)
        assert order.dtype == torch.long
        assert torch.equal(key[order], torch.sort(key).values)


def test_deterministic_mode_takes_the_scatter_route_on_cuda():
    from lps_geometric.utils.determinism import deterministic
    from lps_geometric.utils.sparse import uses_csr
    assert uses_csr(torch.device('cpu'), torch.float32)
    assert uses_csr(torch.device('cuda'), torch.float32)
    assert not uses_csr(torch.device('cpu'), torch.float16)
    with deterministic():
        assert uses_csr(torch.device('cpu'), torch.float32)
        assert not uses_csr(torch.device('cuda'), torch.float32)
    assert uses_csr(torch.device('cuda'), torch.float64)
