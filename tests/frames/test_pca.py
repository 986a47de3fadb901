r"""PCA frame averaging (:mod:`lps_geometric.frames.pca`): exact equivariance, frame sizes
and ties, the sign table and the block-Haar draws."""
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import OrthogonalMinimalFrameSampler, PCAFrameSampler
from lps_geometric.frames.pca import block_haar, sign_table
from lps_geometric.testing import cube, regular_polygon

from .clouds import GROUPS, cloud_batch, frame_and_plain_outputs, group_of, model


@pytest.mark.parametrize('special,translation', GROUPS)
@pytest.mark.parametrize('output', ['scalar', 'vector', 'position'])
def test_exact_equivariance_float64(special, translation, output):
    torch.manual_seed(0)
    if output == 'position' and not translation:
        output = 'vector'
    net = model(PCAFrameSampler(3, special, translation), 3, output, max_nodes=8)
    group = group_of(3, special, translation)
    assert_equivariant(net, cloud_batch(), group, num_trials=3, output=output, rtol=1e-10)


def test_exact_equivariance_float32():
    torch.manual_seed(0)
    net = model(PCAFrameSampler(3, False, True), 3, 'position', dtype=torch.float32)
    data = cloud_batch(dtype=torch.float32)
    assert_equivariant(net, data, 'E(3)', num_trials=3, output='position', rtol=1e-5)


def test_pca_frame_sizes_and_ties():
    torch.manual_seed(0)
    data = Batch.from_data_list([Data(pos=p) for p in (
        torch.randn(6, 3, dtype=torch.float64), cube(), regular_polygon(5))])
    fa = PCAFrameSampler(3, tie_samples=3)(data)
    assert fa.frame_size.tolist() == [8.0, math.inf, math.inf]
    assert int(fa.counts.max()) == 8 * 3
    so3 = PCAFrameSampler(3, special=True)(data)
    assert torch.allclose(torch.linalg.det(so3.element.rotation),
                          torch.ones(so3.element.rotation.size(0), dtype=torch.float64))
    # no NaN for a single point or coincident points
    degenerate = Batch.from_data_list([Data(pos=torch.zeros(1, 3)),
                                       Data(pos=torch.ones(4, 3))])
    for cls in (PCAFrameSampler, OrthogonalMinimalFrameSampler):
        sample = cls(3)(degenerate)
        assert torch.isfinite(sample.element.rotation).all()
        assert torch.isfinite(sample.element.apply(sample.stacked).pos).all()


def test_fa_and_mfa_agree_with_an_equivariant_backbone():
    plain, out = frame_and_plain_outputs(PCAFrameSampler(3))
    assert torch.allclose(out, plain, atol=1e-4)


@pytest.mark.parametrize('dim', [1, 2, 3, 4])
def test_sign_table_lists_every_sign_vector_the_even_ones_first(dim):
    table = sign_table(dim)
    assert table.shape == (2 ** dim, dim) and table.dtype == torch.float64
    assert len({tuple(row) for row in table.tolist()}) == 2 ** dim
    assert set(table.unique().tolist()) == {-1.0, 1.0}
    parity = table.prod(dim=-1)
    half = 2 ** (dim - 1)
    assert (parity[:half] == 1).all() and (parity[half:] == -1).all()
    assert table[0].tolist() == [1.0] * dim


@pytest.mark.parametrize('complex_', [False, True])
def test_block_haar_is_orthogonal_on_its_blocks_and_the_identity_elsewhere(complex_):
    gen = torch.Generator().manual_seed(0)
    # graph 0: one block of three coordinates and a single one; graph 1: two singles and
    # a block of two
    block = torch.tensor([[0, 0, 0, 3], [0, 1, 2, 2]])
    q = block_haar(block, 5, gen, complex=complex_)
    assert q.shape == (5, 2, 4, 4)
    assert q.is_complex() == complex_
    eye = torch.eye(4, dtype=q.dtype).expand_as(q)
    assert torch.allclose(q @ q.conj().transpose(-1, -2), eye, atol=1e-12)
    same = block.unsqueeze(-1) == block.unsqueeze(-2)
    assert (q[:, ~same] == 0).all()                       # block diagonal
    assert (q[:, 0, 3, 3] == 1).all()                     # a single coordinate is 1
    assert (q[:, 1, 0, 0] == 1).all() and (q[:, 1, 1, 1] == 1).all()
    # the draws differ: random on every block of two or more coordinates
    assert not torch.allclose(q[0, 0, :3, :3], q[1, 0, :3, :3])
    assert not torch.allclose(q[0, 1, 2:, 2:], q[1, 1, 2:, 2:])
    # same generator state, same draws
    again = block_haar(block, 5, torch.Generator().manual_seed(0), complex=complex_)
    assert torch.equal(q, again)


def test_block_haar_is_haar_on_a_block():
    r"""The first column of a Haar rotation of :math:`O(3)` is uniform on the sphere:
    its coordinates have mean 0 and second moment 1/3; both signs of the determinant
    appear about equally often."""
    gen = torch.Generator().manual_seed(1)
    q = block_haar(torch.zeros(1, 3, dtype=torch.long), 4000, gen)[:, 0]
    first = q[:, :, 0]
    assert first.mean(0).abs().max() < 0.05
    assert (first.pow(2).mean(0) - 1 / 3).abs().max() < 0.03
    positive = (torch.linalg.det(q) > 0).double().mean()
    assert abs(float(positive) - 0.5) < 0.05
