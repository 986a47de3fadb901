r"""The base of backbone wrappers (:mod:`lps_geometric.nn.backbones.wrapper`): declared
capabilities, passing the band on only to backbones that read it, reading attributes and
concatenating feature blocks."""
import pytest
import torch
from torch import nn
from torch_geometric.data import Data

from lps_geometric.nn import BackboneCapabilities
from lps_geometric.nn.backbones.wrapper import BackboneWrapper
from lps_geometric.utils import GraphInputError


class Recorder(nn.Module):
    r"""Records what it was called with; declares ``reads_band`` as asked."""
    def __init__(self, reads_band):
        super().__init__()
        self.reads_band = reads_band
        self.calls = []
        self.lin = nn.Linear(2, 2)

    @property
    def capabilities(self):
        return BackboneCapabilities(level='node', max_nodes=7, in_channels=2,
                                    reads_band=self.reads_band)

    def forward(self, data, **kwargs):
        self.calls.append(kwargs)
        return data.x


class Pass(BackboneWrapper):
    def forward(self, data, band=None):
        return self.call_backbone(data, band)


class Narrow(Pass):
    def wrapped_capabilities(self, inner):
        return inner.with_changes(in_channels=1)


def test_a_wrapper_declares_its_backbones_capabilities_unless_it_changes_them():
    inner = Recorder(reads_band=True)
    assert Pass(inner).capabilities == inner.capabilities
    narrowed = Narrow(inner).capabilities
    assert narrowed.in_channels == 1
    assert (narrowed.level, narrowed.max_nodes, narrowed.reads_band) == ('node', 7, True)
    # a backbone without a declaration: its conventional attributes
    plain = Pass(nn.Linear(2, 2)).capabilities
    assert plain == BackboneCapabilities()


@pytest.mark.parametrize('reads_band', [False, True])
def test_the_band_reaches_only_backbones_that_read_it(reads_band):
    inner = Recorder(reads_band)
    wrapper = Pass(inner)
    data = Data(x=torch.randn(3, 2), edge_index=torch.empty(2, 0, dtype=torch.long))
    band = torch.rand(3, 5)
    assert torch.equal(wrapper(data, band), data.x)
    assert torch.equal(wrapper(data), data.x)
    first, second = inner.calls
    if reads_band:
        assert set(first) == {'band'} and first['band'] is band
    else:
        assert first == {}
    assert second == {}


def test_reset_parameters_reaches_the_backbone_if_it_has_them():
    torch.manual_seed(0)
    inner = Recorder(False)
    before = inner.lin.weight.detach().clone()
    inner.reset_parameters = inner.lin.reset_parameters
    Pass(inner).reset_parameters()
    assert not torch.equal(before, inner.lin.weight)
    Pass(nn.ReLU()).reset_parameters()          # nothing to reset: no error


def test_read_and_concat():
    data = Data(x=torch.ones(2, 1), vel=torch.zeros(2, 3))
    assert BackboneWrapper.read(data, 'vel') is data.vel
    with pytest.raises(GraphInputError, match="edge attribute 'dist'"):
        BackboneWrapper.read(data, 'dist', what='edge attribute')
    with pytest.raises(GraphInputError, match="node attribute 'pos'"):
        BackboneWrapper.read(data, 'pos')
    atoms = torch.tensor([[1], [2]])
    pos = torch.randn(2, 3, dtype=torch.double)
    out = BackboneWrapper.concat([atoms, pos])
    assert out.dtype == torch.double and out.shape == (2, 4)
    assert out[:, 0].tolist() == [1.0, 2.0] and torch.equal(out[:, 1:], pos)
    # only integer blocks: float32
    assert BackboneWrapper.concat([atoms, atoms]).dtype == torch.float32
