import os

import pytest
import torch
import torch_geometric.typing
from torch_geometric.utils import scatter

from lps_geometric.utils.determinism import deterministic


def settings():
    return (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
            os.environ.get('CUBLAS_WORKSPACE_CONFIG'),
            torch_geometric.typing.WITH_TORCH_SCATTER)


def test_the_mode_is_scoped_and_restored():
    before = settings()
    try:
        with deterministic():
            assert torch.are_deterministic_algorithms_enabled()
            assert not torch.is_deterministic_algorithms_warn_only_enabled()
            assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
            assert os.environ['CUBLAS_WORKSPACE_CONFIG'] in (':4096:8', ':16:8')
            assert not torch_geometric.typing.WITH_TORCH_SCATTER
            with deterministic(warn_only=True):          # nested: restored in order
                assert torch.is_deterministic_algorithms_warn_only_enabled()
            assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert settings() == before
        with pytest.raises(KeyError):                    # restored on an error too
            with deterministic():
                raise KeyError
        assert settings() == before
        with deterministic(False):                       # off: nothing is touched
            assert settings() == before
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_scatter_sums_repeat_on_the_cpu():
    gen = torch.Generator().manual_seed(0)
    src = torch.randn(20000, 16, generator=gen, requires_grad=True)
    index = torch.randint(0, 7, (20000,), generator=gen)
    with deterministic():
        outs = [scatter(src, index, dim=0, dim_size=7, reduce='sum') for _ in range(3)]
        grads = [torch.autograd.grad(out.square().sum(), src)[0] for out in outs]
    assert all(torch.equal(outs[0], o) for o in outs)
    assert all(torch.equal(grads[0], g) for g in grads)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_scatter_and_index_add_repeat_bitwise():
    gen = torch.Generator(device='cuda').manual_seed(0)
    src = torch.randn(200000, 8, device='cuda', generator=gen, requires_grad=True)
    index = torch.randint(0, 5, (200000,), device='cuda', generator=gen)  # many collisions
    with deterministic():
        sums = [scatter(src, index, dim=0, dim_size=5, reduce='sum') for _ in range(5)]
        added = [src.new_zeros(5, 8).index_add_(0, index, src.detach()) for _ in range(5)]
        grads = [torch.autograd.grad(src[index].sum() + s.sum(), src)[0] for s in sums]
    for group in (sums, added, grads):
        assert all(torch.equal(group[0], other) for other in group[1:])
