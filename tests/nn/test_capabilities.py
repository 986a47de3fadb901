r"""Backbones declare what they need and support; Symmetrize reads the declaration."""
import pytest
import torch
from torch import nn

from lps_geometric.nn import (MPNN, AdjacencyPatchTransformer, BackboneCapabilities,
                              ConcatEdgeGeometry, ConcatNodeFeatures, PositionalGIN,
                              Symmetrize, capabilities_of)
from lps_geometric.samplers import PermutationSampler
from lps_geometric.testing import random_batch
from lps_geometric.utils import GraphInputError


def test_library_backbones_declare_their_capabilities():
    apt = AdjacencyPatchTransformer(3, 2, max_nodes=16, edge_dim=4, level='node',
                                    embed_dim=16, depth=1, num_heads=2)
    assert capabilities_of(apt) == BackboneCapabilities(
        level='node', max_nodes=16, in_channels=3, edge_dim=4, reads_band=True)
    gin = PositionalGIN(3, 2, max_nodes=10)
    assert capabilities_of(gin).reads_band and capabilities_of(gin).max_nodes == 10
    mpnn = MPNN(3, 2, level='node')
    assert capabilities_of(mpnn) == BackboneCapabilities(level='node', in_channels=3)


def test_wrappers_declare_what_their_input_must_hold():
    inner = MPNN(3 + 6, 2, edge_dim=5, level='node')
    wrapped = ConcatNodeFeatures(inner, keys=('pos', 'vel'), in_channels=3)
    assert capabilities_of(wrapped) == BackboneCapabilities(level='node', in_channels=3,
                                                            edge_dim=5)
    geometry = ConcatEdgeGeometry(MPNN(3, 2, edge_dim=4), keys=('pos',), in_channels=0)
    assert capabilities_of(geometry).edge_dim is None


def test_an_undeclared_module_is_read_from_its_conventional_attributes():
    class Plain(nn.Module):
        level, max_nodes, in_channels = 'node', 12, 3

    caps = capabilities_of(Plain())
    assert caps == BackboneCapabilities(level='node', max_nodes=12, in_channels=3)
    assert capabilities_of(nn.Linear(2, 2)) == BackboneCapabilities(in_channels=None)


def test_bad_declarations_are_clear_errors():
    with pytest.raises(ValueError, match="'level'"):
        BackboneCapabilities(level='edge')
    with pytest.raises(ValueError, match="'max_nodes'"):
        BackboneCapabilities(max_nodes=0)

    class Wrong(nn.Module):
        capabilities = {'level': 'graph'}

    with pytest.raises(TypeError, match='BackboneCapabilities'):
        capabilities_of(Wrong())


def test_symmetrize_validates_against_the_declaration_and_passes_the_band():
    data = random_batch(sizes=(5, 4), seed=0)
    calls = []

    class Reader(nn.Module):
        capabilities = BackboneCapabilities(max_nodes=4, reads_band=True)

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 2)

        def forward(self, data, band=None):
            calls.append(band)
            return self.lin(torch.ones(data.num_graphs, 1))

    model = Symmetrize(Reader(), PermutationSampler(3, edge_dim=4), num_samples=2)
    with pytest.raises(GraphInputError, match='max_nodes'):
        model(data)
    small = random_batch(sizes=(4, 3), seed=0)
    model(small)
    assert calls[-1] is not None and calls[-1].shape[0] == 2 * small.num_nodes
