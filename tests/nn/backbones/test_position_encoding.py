r"""Position codes (:mod:`lps_geometric.nn.backbones.position_encoding`): the fixed
tables, the codes read at every node's place, the straight-through band and the module."""
import math

import pytest
import torch

from lps_geometric.groups import Permutation
from lps_geometric.nn.backbones.position_encoding import (PositionEncoding,
                                                          position_codes, position_table)
from lps_geometric.samplers.relaxation import banded_soft_rank, straight_through
from lps_geometric.testing import random_batch


def test_position_encoding_reads_each_nodes_place_in_its_graph():
    from lps_geometric.nn import PositionEncoding
    data = random_batch(sizes=(3, 1, 4))
    encoding = PositionEncoding(5, 6)
    codes = encoding(data.batch, data.ptr)
    local = torch.tensor([0, 1, 2, 0, 0, 1, 2, 3])
    assert torch.equal(codes, encoding.weight[local])
    # A one-hot band reads the same codes.
    band = torch.zeros(data.num_nodes, 5)
    band[:, 2] = 1.0
    assert torch.allclose(encoding(data.batch, data.ptr, band), codes)
    fixed = PositionEncoding(5, 6, 'sinusoidal')
    assert 'weight' in dict(fixed.named_buffers()) and not list(fixed.parameters())
    assert repr(fixed) == 'PositionEncoding(5, 6, kind=sinusoidal)'
    with pytest.raises(ValueError, match='position code'):
        PositionEncoding(5, 6, 'onehot')
    with pytest.raises(ValueError, match='positive'):
        PositionEncoding(0, 6)


def test_position_tables():
    sinusoidal = position_table(6, 4, 'sinusoidal')
    i = torch.arange(6.0)
    assert torch.allclose(sinusoidal[:, 0], torch.sin(i))
    assert torch.allclose(sinusoidal[:, 1], torch.cos(i))
    assert torch.allclose(sinusoidal[:, 2], torch.sin(i * 10 ** -2))
    assert torch.allclose(sinusoidal[:, 3], torch.cos(i * 10 ** -2))
    assert position_table(5, 3, 'sinusoidal').shape == (5, 3)        # odd width
    random = position_table(6, 4, 'random', seed=3)
    assert torch.equal(random, position_table(6, 4, 'random', seed=3))
    assert not torch.equal(random, position_table(6, 4, 'random', seed=4))
    with pytest.raises(ValueError, match="'learned', 'random' or 'sinusoidal'"):
        position_table(6, 4, 'learned')
    assert math.isclose(float(position_table(2000, 8, 'random').std()), 1.0, abs_tol=0.05)


def test_position_codes_with_a_band_have_the_hard_value_and_reach_the_scores():
    torch.manual_seed(0)
    data = random_batch(sizes=(5, 3, 6))
    table = torch.randn(6, 4)
    score = torch.randn(data.num_nodes, requires_grad=True)
    perm = Permutation.from_scores(score.detach(), data.batch, data.ptr)
    band = perm.permute_nodes(straight_through(
        banded_soft_rank(score, perm, band=2, tau=0.5), 2))
    hard = position_codes(table, data.batch, data.ptr)
    relaxed = position_codes(table, data.batch, data.ptr, band)
    assert torch.allclose(relaxed, hard, atol=1e-6)
    grad, = torch.autograd.grad((relaxed * torch.randn_like(relaxed)).sum(), score)
    assert grad.abs().sum() > 0
    # a band that puts a node's weight one place later reads the next code
    shifted = torch.zeros(data.num_nodes, 5)
    shifted[:, 3] = 1.0
    codes = position_codes(table, data.batch, data.ptr, shifted)
    local = torch.arange(data.num_nodes) - data.ptr[data.batch]
    last = local == (data.ptr[1:] - data.ptr[:-1])[data.batch] - 1
    assert torch.allclose(codes[~last], table[local[~last] + 1])


def test_learned_codes_are_parameters_and_reset():
    torch.manual_seed(0)
    encoding = PositionEncoding(4, 3)
    assert [name for name, _ in encoding.named_parameters()] == ['weight']
    before = encoding.weight.detach().clone()
    encoding.reset_parameters()
    assert not torch.equal(before, encoding.weight)
    fixed = PositionEncoding(4, 3, 'random', seed=1)
    table = fixed.weight.clone()
    fixed.reset_parameters()
    assert torch.equal(fixed.weight, table)
    assert torch.equal(table, position_table(4, 3, 'random', seed=1))
