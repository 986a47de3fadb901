import importlib.util
import pickle
import sys

import pytest
import torch
import torch.nn.functional as F

from lps_geometric.nn import (AdjacencyPatchTransformer, LoadReport, TransformerEncoder,
                              init_from_vit, load_vit_state_dict)
from lps_geometric.testing import random_batch

D, HEADS, DEPTH, GRID = 32, 4, 3, 14
HAS_SAFETENSORS = importlib.util.find_spec('safetensors') is not None


def vit_state_dict(dim=D, depth=DEPTH, grid=GRID, mlp_ratio=4, variant='plain'):
    r"""Random tensors named and shaped like timm's VisionTransformer (patch 16, RGB)."""
    hidden = dim * mlp_ratio
    sd = {
        'cls_token': torch.randn(1, 1, dim),
        'pos_embed': torch.randn(1, 1 + grid * grid, dim),
        'patch_embed.proj.weight': torch.randn(dim, 3, 16, 16),
        'patch_embed.proj.bias': torch.randn(dim),
        'norm.weight': torch.randn(dim),
        'norm.bias': torch.randn(dim),
        'head.weight': torch.randn(10, dim),
        'head.bias': torch.randn(10),
    }
    for i in range(depth):
        b = f'blocks.{i}.'
        sd.update({
            b + 'norm1.weight': torch.randn(dim), b + 'norm1.bias': torch.randn(dim),
            b + 'attn.qkv.weight': torch.randn(3 * dim, dim) / dim**0.5,
            b + 'attn.qkv.bias': torch.randn(3 * dim),
            b + 'attn.proj.weight': torch.randn(dim, dim) / dim**0.5,
            b + 'attn.proj.bias': torch.randn(dim),
            b + 'norm2.weight': torch.randn(dim), b + 'norm2.bias': torch.randn(dim),
            b + 'mlp.fc1.weight': torch.randn(hidden, dim) / dim**0.5,
            b + 'mlp.fc1.bias': torch.randn(hidden),
            b + 'mlp.fc2.weight': torch.randn(dim, hidden) / hidden**0.5,
            b + 'mlp.fc2.bias': torch.randn(dim),
        })
        if variant == 'layer_scale':
            sd[b + 'ls1.gamma'] = torch.rand(dim)
            sd[b + 'ls2.gamma'] = torch.rand(dim)
        elif variant == 'no_qkv_bias':
            del sd[b + 'attn.qkv.bias']
        elif variant == 'qv_bias':
            del sd[b + 'attn.qkv.bias']
            sd[b + 'attn.q_bias'] = torch.randn(dim)
            sd[b + 'attn.v_bias'] = torch.randn(dim)
    return sd


def timm_reference(sd, x, depth, num_heads):
    r"""timm's VisionTransformer blocks + norm, written out from its source."""
    B, N, C = x.shape
    for i in range(depth):
        b = f'blocks.{i}.'
        h = F.layer_norm(x, (C, ), sd[b + 'norm1.weight'], sd[b + 'norm1.bias'], 1e-6)
        if b + 'attn.qkv.bias' in sd:
            qkv_bias = sd[b + 'attn.qkv.bias']
        elif b + 'attn.q_bias' in sd:  # BEiT
            qkv_bias = torch.cat([sd[b + 'attn.q_bias'],
                                  torch.zeros_like(sd[b + 'attn.v_bias']),
                                  sd[b + 'attn.v_bias']])
        else:
            qkv_bias = None
        qkv = F.linear(h, sd[b + 'attn.qkv.weight'], qkv_bias)
        q, k, v = qkv.reshape(B, N, 3, num_heads, C // num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * (C // num_heads)**-0.5) @ k.transpose(-2, -1)
        h = (attn.softmax(-1) @ v).transpose(1, 2).reshape(B, N, C)
        h = F.linear(h, sd[b + 'attn.proj.weight'], sd[b + 'attn.proj.bias'])
        x = x + h * sd.get(b + 'ls1.gamma', 1.0)
        h = F.layer_norm(x, (C, ), sd[b + 'norm2.weight'], sd[b + 'norm2.bias'], 1e-6)
        h = F.gelu(F.linear(h, sd[b + 'mlp.fc1.weight'], sd[b + 'mlp.fc1.bias']))
        h = F.linear(h, sd[b + 'mlp.fc2.weight'], sd[b + 'mlp.fc2.bias'])
        x = x + h * sd.get(b + 'ls2.gamma', 1.0)
    return F.layer_norm(x, (C, ), sd['norm.weight'], sd['norm.bias'], 1e-6)


def make_backbone(**kwargs):
    args = dict(in_channels=2, out_channels=3, max_nodes=16, patch_size=4, embed_dim=D,
                depth=2, num_heads=HEADS)
    args.update(kwargs)
    return AdjacencyPatchTransformer(**args)


class _Custom:
    pass


_UNPICKLED = []


def _record_unpickle():
    _UNPICKLED.append(True)
    return None


class _Malicious:
    def __reduce__(self):
        return (_record_unpickle, ())


def check_loaded(backbone, sd, report):
    assert isinstance(report, LoadReport)
    for i in range(2):
        for name, param in backbone.encoder.blocks[i].named_parameters():
            assert torch.equal(param, sd[f'blocks.{i}.{name}']), name
            assert f'encoder.blocks.{i}.{name}' in report.loaded_names
    assert torch.equal(backbone.encoder.norm.weight, sd['norm.weight'])
    assert torch.equal(backbone.encoder.norm.bias, sd['norm.bias'])
    assert torch.equal(backbone.cls_token, sd['cls_token'])
    assert backbone.pos_embed.shape == (1, 1 + 4 * 4, D)
    assert torch.equal(backbone.pos_embed[:, 0], sd['pos_embed'][:, 0])

    skipped = dict(report.skipped)
    for key in ('patch_embed.proj.weight', 'patch_embed.proj.bias', 'head.weight',
                'head.bias'):
        assert key in skipped
    assert 'patch embedding' in skipped['patch_embed.proj.weight']
    block2 = [k for k in sd if k.startswith('blocks.2.')]
    assert len(block2) == 12 and all('unused block' in skipped[k] for k in block2)
    assert any('blocks 0-1 of 3' in note for note in report.notes)
    assert set(report.missing) == {n for n, _ in backbone.named_parameters()
                                   if n.startswith(('patch_embed.', 'head.'))}
    text = str(report)
    assert 'blocks.2.* (12 tensors)' in text and 'head.' in text


def test_init_from_state_dict_and_forward():
    sd = vit_state_dict()
    backbone = make_backbone()
    report = init_from_vit(backbone, sd)
    check_loaded(backbone, sd, report)
    data = random_batch(sizes=(6, 16, 1, 9), node_channels=2, edge_channels=0)
    out = backbone(data)
    assert out.shape == (4, 3) and torch.isfinite(out).all()


def test_init_from_pt_file(tmp_path):
    sd = vit_state_dict()
    path = tmp_path / 'vit.pt'
    torch.save(sd, path)
    loaded = load_vit_state_dict(path)
    assert loaded.keys() == sd.keys()
    backbone = make_backbone()
    check_loaded(backbone, sd, init_from_vit(backbone, str(path)))


@pytest.mark.skipif(not HAS_SAFETENSORS, reason='safetensors is not installed')
def test_init_from_safetensors_file(tmp_path):
    from safetensors.torch import save_file
    sd = vit_state_dict()
    path = tmp_path / 'model.safetensors'
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    backbone = make_backbone()
    check_loaded(backbone, sd, init_from_vit(backbone, path))


def test_safetensors_without_package_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'safetensors', None)
    monkeypatch.setitem(sys.modules, 'safetensors.torch', None)
    with pytest.raises(ImportError, match='pip install safetensors'):
        load_vit_state_dict(tmp_path / 'model.safetensors')


def test_containers_and_prefixes_are_unwrapped(tmp_path):
    sd = vit_state_dict()
    path = tmp_path / 'checkpoint.pth.tar'
    torch.save({'epoch': 3, 'arch': 'vit_tiny',
                'state_dict': {f'module.{k}': v for k, v in sd.items()}}, path)
    assert load_vit_state_dict(path).keys() == sd.keys()
    backbone = make_backbone()
    check_loaded(backbone, sd, init_from_vit(backbone, {'model': sd}))


def test_unknown_suffix_is_rejected(tmp_path):
    with pytest.raises(ValueError, match='unknown checkpoint format'):
        load_vit_state_dict(tmp_path / 'vit.npz')


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / 'bad.pth'
    torch.save({'x': _Custom(), 'w': torch.zeros(2)}, path)
    with pytest.raises(pickle.UnpicklingError, match='weights_only'):
        load_vit_state_dict(path)

    path = tmp_path / 'evil.pth'
    torch.save({'x': _Malicious()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_vit_state_dict(path)
    assert _UNPICKLED == []


def test_width_mismatch_raises():
    backbone = make_backbone(embed_dim=48)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(ValueError, match='width 32.*embed_dim 48'):
        init_from_vit(backbone, vit_state_dict())
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())


def test_fewer_checkpoint_blocks_and_strict():
    sd = vit_state_dict(depth=1)
    backbone = make_backbone()
    init = backbone.encoder.blocks[1].attn.qkv.weight.clone()
    report = init_from_vit(backbone, sd)
    assert torch.equal(backbone.encoder.blocks[1].attn.qkv.weight, init)
    assert 'encoder.blocks.1.attn.qkv.weight' in report.missing
    assert any('our block 1 kept the initialisation' in n for n in report.notes)

    backbone = make_backbone()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(ValueError, match='strict_blocks'):
        init_from_vit(backbone, sd, strict_blocks=True)
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    init_from_vit(make_backbone(), vit_state_dict(), strict_blocks=True)  # 3 >= 2: ok


def test_mlp_width_mismatch_is_skipped():
    backbone = make_backbone(mlp_ratio=2.0)
    report = init_from_vit(backbone, vit_state_dict())
    assert 'blocks.0.mlp.fc1.weight' in dict(report.skipped)
    assert 'shape (128, 32) != encoder.blocks.0.mlp.fc1.weight (64, 32)' \
        in dict(report.skipped)['blocks.0.mlp.fc1.weight']
    assert 'encoder.blocks.0.mlp.fc1.weight' in report.missing
    assert 'encoder.blocks.0.attn.qkv.weight' in report.loaded_names


@pytest.mark.parametrize('variant', ['plain', 'layer_scale', 'no_qkv_bias', 'qv_bias'])
def test_encoder_matches_timm_forward(variant):
    sd = vit_state_dict(depth=2, variant=variant)
    backbone = make_backbone()
    report = init_from_vit(backbone, sd, strict_blocks=True)
    assert not [k for k, _ in report.skipped if k.startswith('blocks.')]
    x = torch.randn(2, 7, D)
    expected = timm_reference(sd, x, depth=2, num_heads=HEADS)
    torch.testing.assert_close(backbone.encoder(x), expected, atol=1e-5, rtol=1e-5)


def test_bare_encoder():
    sd = vit_state_dict()
    encoder = TransformerEncoder(D, 2, HEADS)
    report = init_from_vit(encoder, sd)
    assert torch.equal(encoder.blocks[1].mlp.fc2.weight, sd['blocks.1.mlp.fc2.weight'])
    assert 'bare TransformerEncoder' in dict(report.skipped)['pos_embed']
    assert report.missing == []


def test_pos_embed_resizing():
    sd = vit_state_dict()
    rows = torch.arange(GRID, dtype=torch.float).view(GRID, 1, 1).expand(GRID, GRID, D)
    sd['pos_embed'][0, 1:] = rows.reshape(-1, D)
    backbone = make_backbone()
    init_from_vit(backbone, sd)
    grid = backbone.pos_embed[0, 1:].view(4, 4, D)
    assert torch.allclose(grid, grid[:, :1])  # constant along columns
    assert (grid[1:, 0] > grid[:-1, 0]).all()  # increasing down the rows

    # the same grid size is copied exactly
    backbone = make_backbone(max_nodes=28, patch_size=2)
    assert backbone.grid_size == (GRID, GRID)
    init_from_vit(backbone, sd)
    assert torch.equal(backbone.pos_embed, sd['pos_embed'])

    backbone = make_backbone()
    init = backbone.pos_embed.clone()
    report = init_from_vit(backbone, sd, load_pos_embed=False, load_cls_token=False)
    assert torch.equal(backbone.pos_embed, init)
    assert {'pos_embed', 'cls_token'} <= set(report.missing)


def test_pos_embed_without_class_position():
    sd = vit_state_dict()
    sd['pos_embed'] = sd['pos_embed'][:, 1:]  # timm no_embed_class
    backbone = make_backbone()
    report = init_from_vit(backbone, sd)
    assert torch.equal(backbone.pos_embed[0, 0], torch.zeros(D))
    assert any('no class position' in n for n in report.notes)


def test_rows_variant():
    sd = vit_state_dict()
    backbone = make_backbone(tokens='rows', patch_size=None)
    assert backbone.grid_size == (16, 1)
    report = init_from_vit(backbone, sd)
    assert backbone.pos_embed.shape == (1, 17, D)
    assert torch.equal(backbone.pos_embed[:, 0], sd['pos_embed'][:, 0])
    assert any("tokens='rows'" in n for n in report.notes)
    data = random_batch(sizes=(6, 16), node_channels=2, edge_channels=0)
    assert backbone(data).shape == (2, 3)


def test_resample_pos_embed_keeps_the_class_row_and_an_equal_grid():
    from lps_geometric.nn.pretrained import _resample_pos_embed
    pos = torch.randn(1, 1 + 4 * 4, 8)
    same = _resample_pos_embed(pos, 1, 4, (4, 4))
    assert torch.equal(same, pos)
    resized = _resample_pos_embed(pos, 1, 4, (6, 1))
    assert resized.shape == (1, 7, 8) and torch.equal(resized[:, :1], pos[:, :1])
    no_class = _resample_pos_embed(pos[:, 1:], 0, 4, (4, 4))
    assert torch.equal(no_class[:, 0], torch.zeros(1, 8))
    assert torch.equal(no_class[:, 1:], pos[:, 1:])
