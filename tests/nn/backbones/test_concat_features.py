r"""Coordinates onto ``x`` for backbones that read only ``x``
(:mod:`lps_geometric.nn.backbones.concat_features`): the concatenated features, the
declared capabilities, the band passed on, and clear errors."""
import pytest
import torch
from torch import nn
from torch_geometric.data import Data

from lps_geometric.nn import (MPNN, BackboneCapabilities, ConcatNodeFeatures,
                              capabilities_of)
from lps_geometric.utils import GraphInputError


class Features(nn.Module):
    r"""Returns the ``x`` it reads (and records the band)."""
    level = 'node'
    max_nodes = 9

    def __init__(self, reads_band=False):
        super().__init__()
        self.band = None
        self.reads_band = reads_band

    @property
    def capabilities(self):
        return BackboneCapabilities(level='node', max_nodes=9, in_channels=12,
                                    reads_band=self.reads_band)

    def forward(self, data, band=None):
        self.band = band
        return data.x


def cloud(n=4, vectors=1):
    gen = torch.Generator().manual_seed(0)
    return Data(x=torch.randn(n, 2, generator=gen), pos=torch.randn(n, 3, generator=gen),
                vel=torch.randn(n, vectors, 3, generator=gen) if vectors > 1
                else torch.randn(n, 3, generator=gen),
                edge_index=torch.tensor([[0, 1], [1, 0]]))


def test_features_are_x_then_the_keys_in_order():
    data = cloud()
    out = ConcatNodeFeatures(Features(), keys=('pos', 'vel'), in_channels=2)(data)
    assert torch.equal(out, torch.cat([data.x, data.pos, data.vel], dim=-1))
    # without x, and with multichannel vectors flattened to 3C columns
    data = cloud(vectors=2)
    out = ConcatNodeFeatures(Features(), keys=('vel', 'pos'))(data)
    assert torch.equal(out, torch.cat([data.vel.reshape(4, 6), data.pos], dim=-1))
    # the input is not modified
    assert data.x.shape == (4, 2)


def test_capabilities_are_the_backbones_with_the_wrappers_in_channels():
    wrapped = ConcatNodeFeatures(Features(), in_channels=2)
    caps = capabilities_of(wrapped)
    assert (caps.level, caps.max_nodes, caps.in_channels) == ('node', 9, 2)
    assert ConcatNodeFeatures(Features()).capabilities.in_channels is None


@pytest.mark.parametrize('reads_band', [False, True])
def test_the_band_is_passed_on_where_the_backbone_reads_it(reads_band):
    inner = Features(reads_band)
    band = torch.rand(4, 3)
    ConcatNodeFeatures(inner, in_channels=2)(cloud(), band)
    assert (inner.band is band) == reads_band


def test_a_real_backbone_reads_the_coordinates():
    torch.manual_seed(0)
    data = cloud()
    inner = MPNN(2 + 6, 3, hidden_channels=8, num_layers=1, level='node')
    model = ConcatNodeFeatures(inner, keys=('pos', 'vel'), in_channels=2)
    out = model(data)
    assert out.shape == (4, 3)
    moved = data.clone()
    moved.pos = moved.pos + 1.0
    assert not torch.allclose(model(moved), out)


def test_clear_errors_and_repr():
    data = cloud()
    with pytest.raises(GraphInputError, match="'vel'"):
        ConcatNodeFeatures(Features(), keys=('pos', 'vel'))(
            Data(pos=data.pos, edge_index=data.edge_index))
    with pytest.raises(GraphInputError):
        ConcatNodeFeatures(Features(), keys=('vel',), in_channels=2)(
            Data(vel=data.vel, edge_index=data.edge_index, num_nodes=4))
    with pytest.raises(GraphInputError):
        ConcatNodeFeatures(Features(), in_channels=5)(data)          # x is 2 wide
    text = repr(ConcatNodeFeatures(Features(), keys=('pos',), in_channels=2))
    assert text.startswith('ConcatNodeFeatures(Features(') and "keys=('pos',)" in text
    assert 'in_channels=2' in text
