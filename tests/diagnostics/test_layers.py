import json

import pytest
import torch
from torch_geometric.nn import GIN

from lps_geometric import AdjacencyPatchTransformer, Symmetrize
from lps_geometric.diagnostics import layerwise_equivariance_error
from lps_geometric.nn import EGNN
from lps_geometric.frames import GraphMinimalFrameSampler
from lps_geometric.testing import random_batch, random_point_cloud_batch

pytest.importorskip('pynauty')


def test_pyg_gnn_is_equivariant_in_every_layer():
    torch.manual_seed(0)
    data = random_batch((6, 5, 7), seed=0, edge_channels=0)
    gin = GIN(3, 16, 2, out_channels=4).eval()
    report = layerwise_equivariance_error(gin, data, 'S_n',
                                          forward=lambda d: gin(d.x, d.edge_index))
    assert len(report.layers) > 5
    assert all(layer.relative < 1e-5 for layer in report.layers), report
    assert all(layer.rows == 'node' for layer in report.layers)
    assert 'convs.0' in report.table()
    assert json.loads(report.to_json())['group'] == 'S_n'


def test_transformer_loses_and_symmetrization_restores_equivariance():
    torch.manual_seed(0)
    data = random_batch((6, 5, 7), seed=0, edge_channels=0)
    backbone = AdjacencyPatchTransformer(3, 4, max_nodes=8, tokens='rows', embed_dim=16,
                                         depth=2, num_heads=2, level='node')
    plain = layerwise_equivariance_error(backbone, data, 'S_n', modules=[''])
    assert plain.layers[-1].relative > 1e-2
    model = Symmetrize(backbone, GraphMinimalFrameSampler()).eval()
    report = layerwise_equivariance_error(model, data, 'S_n', modules=['backbone', ''])
    by_name = {layer.name: layer for layer in report.layers}
    assert by_name['(model)'].relative < 1e-5
    # inside, the backbone sees canonical graphs: its output does not move at all
    assert by_name['backbone'].action == 'fixed' and by_name['backbone'].max_abs < 1e-5


def test_euclidean_layers_get_their_action():
    torch.manual_seed(0)
    data = random_point_cloud_batch((5, 6), velocities=False)
    egnn = EGNN(data.x.size(-1), hidden_channels=8, num_layers=2, out_channels=3).eval()
    report = layerwise_equivariance_error(
        egnn, data, 'E(3)', forward=lambda d: egnn(d.x, d.pos, d.edge_index))
    model_rows = [layer for layer in report.layers if layer.name.startswith('(model)')]
    actions = {layer.name: layer.action for layer in model_rows}
    assert actions['(model)[0]'] == 'scalar'        # invariant features
    assert actions['(model)[1]'] == 'position'      # updated coordinates
    assert all(layer.relative < 1e-4 for layer in model_rows), report


def test_unknown_module_name():
    data = random_batch((4,), seed=0)
    gin = GIN(3, 8, 1)
    with pytest.raises(ValueError, match='No modules'):
        layerwise_equivariance_error(gin, data, modules=['nope'],
                                     forward=lambda d: gin(d.x, d.edge_index))
