import pytest
import torch

from lps_geometric import AdjacencyPatchTransformer, PermutationSampler, Symmetrize
from lps_geometric.testing import random_batch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device'),
]


@pytest.mark.parametrize('level', ['graph', 'node'])
def test_cuda_matches_cpu(level):
    data = random_batch(sizes=(9, 4, 1, 12))
    backbone = AdjacencyPatchTransformer(3, 2, max_nodes=12, edge_dim=4, patch_size=3,
                                         embed_dim=16, depth=2, num_heads=2, level=level)
    sampler = PermutationSampler(3, hidden_channels=16, edge_dim=4, dropout=0.0,
                                 tau=0.3, sinkhorn_iters=3)
    model = Symmetrize(backbone, sampler, num_samples=3, entropy_weight=0.1)
    noise = torch.rand(3 * data.num_nodes, 1)
    out = model(data, noise=noise)
    grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
    model_gpu = model.cuda()
    out_gpu = model_gpu(data.cuda(), noise=noise.cuda())
    grads_gpu = torch.autograd.grad(out_gpu.square().sum(), list(model_gpu.parameters()))
    assert torch.allclose(out, out_gpu.cpu(), atol=1e-4)
    for a, b in zip(grads, grads_gpu):
        assert torch.allclose(a, b.cpu(), atol=1e-4, rtol=1e-3)
