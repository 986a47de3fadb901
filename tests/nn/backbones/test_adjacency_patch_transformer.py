r"""The adjacency patch transformer backbone
(:mod:`lps_geometric.nn.backbones.adjacency_patch_transformer`): shapes, the patch
grid, padding, order dependence, errors and parameter names."""
import math

import pytest
import torch

from lps_geometric.nn import (AdjacencyPatchEmbedding, AdjacencyPatchTransformer,
                              TransformerEncoder)
from lps_geometric.testing import random_batch


@pytest.mark.parametrize('tokens', ['patches', 'rows'])
@pytest.mark.parametrize('level', ['graph', 'node'])
def test_output_shapes(batch, tokens, level):
    model = AdjacencyPatchTransformer(3, 5, max_nodes=9, edge_dim=4, tokens=tokens,
                                      embed_dim=16, depth=1, num_heads=2, level=level)
    out = model(batch)
    assert out.shape == ((batch.num_graphs if level == 'graph' else batch.num_nodes), 5)


def test_default_patch_grid_is_14_by_14():
    model = AdjacencyPatchTransformer(3, 2, max_nodes=444, embed_dim=16, depth=1,
                                      num_heads=2)
    assert model.patch_size == (math.ceil(444 / 14), ) * 2
    assert model.grid_size == (14, 14)
    assert model.pos_embed.shape == (1, 1 + 196, 16)


def test_rows_variant_has_one_token_per_node():
    model = AdjacencyPatchTransformer(3, 2, max_nodes=10, tokens='rows', embed_dim=16,
                                      depth=1, num_heads=2)
    assert model.patch_size == (1, 10) and model.grid_size == (10, 1)


def test_without_node_or_edge_features():
    data = random_batch(node_channels=0, edge_channels=0)
    model = AdjacencyPatchTransformer(0, 2, max_nodes=9, embed_dim=16, depth=1,
                                      num_heads=2)
    assert model(data).shape == (data.num_graphs, 2)


def test_padding_tokens_do_not_leak(batch):
    model = AdjacencyPatchTransformer(3, 2, max_nodes=12, edge_dim=4, patch_size=2,
                                      embed_dim=16, depth=2, num_heads=2).eval()
    alone = model(batch.get_example(0).__class__(**batch.get_example(0).to_dict()))
    together = model(batch)
    assert torch.allclose(alone[0], together[0], atol=1e-5)


def test_depends_on_node_order(batch):
    from lps_geometric.groups import SymmetricGroup
    model = AdjacencyPatchTransformer(3, 2, max_nodes=9, edge_dim=4, patch_size=2,
                                      embed_dim=16, depth=1, num_heads=2)
    group = SymmetricGroup()
    moved = group.act(group.random_element(batch), batch)
    assert not torch.allclose(model(batch), model(moved), atol=1e-4)


def test_errors():
    with pytest.raises(ValueError, match='max_nodes'):
        AdjacencyPatchTransformer(3, 2, max_nodes=0)
    with pytest.raises(ValueError, match='level'):
        AdjacencyPatchTransformer(3, 2, max_nodes=4, level='edge')
    with pytest.raises(ValueError, match='tokens'):
        AdjacencyPatchTransformer(3, 2, max_nodes=4, tokens='pixels')
    with pytest.raises(ValueError, match='patch_size'):
        AdjacencyPatchTransformer(3, 2, max_nodes=4, tokens='rows', patch_size=2)
    with pytest.raises(ValueError, match='patch_size'):
        AdjacencyPatchEmbedding(3, 0, 16, (2, 3))
    with pytest.raises(ValueError, match='divisible'):
        TransformerEncoder(10, 1, 3)
    model = AdjacencyPatchTransformer(3, 2, max_nodes=4, edge_dim=4, embed_dim=16,
                                      depth=1, num_heads=2)
    with pytest.raises(ValueError, match='exceeds'):
        model(random_batch(sizes=(5, )))


def test_repr_and_reset():
    model = AdjacencyPatchTransformer(3, 2, max_nodes=8, embed_dim=16, depth=1,
                                      num_heads=2)
    assert repr(model).startswith('AdjacencyPatchTransformer(3, 2, max_nodes=8')
    assert 'patch_size' in repr(model.patch_embed)
    before = model.head.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.head.weight)


def test_timm_style_parameter_names():
    model = AdjacencyPatchTransformer(3, 2, max_nodes=8, embed_dim=16, depth=2,
                                      num_heads=2)
    names = set(dict(model.named_parameters()))
    for name in ('encoder.blocks.1.attn.qkv.weight', 'encoder.blocks.0.mlp.fc2.bias',
                 'encoder.blocks.0.norm1.weight', 'encoder.norm.weight', 'pos_embed',
                 'cls_token'):
        assert name in names
