r"""Initialise the transformer backbones from a timm ViT checkpoint already on disk.

The encoder of :class:`~lps_geometric.nn.AdjacencyPatchTransformer`
(:class:`~lps_geometric.nn.TransformerEncoder`) names its parameters like timm's
``VisionTransformer``, so the pretrained blocks map on one-to-one:

=====================  ===================================================================
timm                   ours
=====================  ===================================================================
``blocks.{i}.*``       ``encoder.blocks.{i}.*`` (the first ``depth`` checkpoint blocks)
``norm.*``             ``encoder.norm.*`` (``fc_norm.*`` if there is no ``norm``)
``cls_token``          ``cls_token``
``pos_embed``          ``pos_embed``: class row kept, grid resized (bicubic, antialiased
                       like timm's ``resample_abs_pos_embed``) to ``backbone.grid_size``
``patch_embed.*``      not mapped (image convolution vs. adjacency patches)
``head.*``             not mapped (different output)
=====================  ===================================================================

A few timm variants are folded in exactly: LayerScale (``ls1.gamma``/``ls2.gamma`` are
multiplied into ``attn.proj`` and ``mlp.fc2``), layers saved without a bias (the bias is
set to zero) and BEiT-style ``q_bias``/``v_bias`` (``qkv.bias = [q_bias; 0; v_bias]``).
Checkpoints are read with ``torch.load(..., weights_only=True)`` or ``safetensors``: no
arbitrary code is unpickled, and neither timm nor torchvision is needed.

The number of attention heads is not stored in a state dict: build the backbone with the
checkpoint's ``num_heads`` (and ``mlp_ratio``; a different MLP width is reported as a
shape mismatch). The defaults ``embed_dim=192, num_heads=3`` are ViT-Ti's.

Example::

    from lps_geometric.nn import AdjacencyPatchTransformer, init_from_vit

    # e.g. model.safetensors of timm/vit_tiny_patch16_224.augreg_in21k (on disk)
    backbone = AdjacencyPatchTransformer(in_channels=9, out_channels=1, max_nodes=64,
                                         embed_dim=192, depth=12, num_heads=3)
    report = init_from_vit(backbone, 'vit_tiny/model.safetensors')
    print(report)   # what was loaded, skipped (and why), and what kept its init
"""
import math
import os
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps_geometric.nn.transformer import TransformerEncoder

__all__ = ['LoadReport', 'load_vit_state_dict', 'init_from_vit']

_TORCH_SUFFIXES = ('.pth', '.pt', '.bin', '.pth.tar', '.tar', '.ckpt')
# Containers that training scripts wrap a state dict in (timm's: 'state_dict').
_CONTAINER_KEYS = ('state_dict', 'model_state_dict', 'model', 'module')
# Prefixes from DataParallel/DDP ('module.'), torch.compile ('_orig_mod.'), wrappers.
_STRIP_PREFIXES = ('module.', '_orig_mod.', 'model.')

_SKIP_REASONS = (
    ('patch_embed.', 'patch embedding: image convolution, the backbone embeds adjacency '
     'patches'),
    ('head.', 'classifier head: different output'),
    ('norm_pre.', 'pre-blocks LayerNorm (CLIP-style): no counterpart'),
    ('reg_token', 'register tokens: not supported by the backbone'),
    ('fc_norm.', 'pooled-feature norm: the checkpoint also has norm.*, which is used'),
)


@dataclass
class LoadReport:
    r"""What :func:`init_from_vit` did.

    Attributes:
        loaded: ``(our parameter, checkpoint source)`` pairs; the source names the
            checkpoint tensor(s) and any transformation (resize, LayerScale fold, ...).
        skipped: ``(checkpoint key, reason)`` pairs for checkpoint tensors not used.
        missing: our parameters that were not set (they keep their initialisation).
        notes: anything else worth knowing (blocks used, position grid resizing, ...).
    """
    loaded: List[Tuple[str, str]] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def loaded_names(self) -> List[str]:
        return [ours for ours, _ in self.loaded]

    @property
    def skipped_keys(self) -> List[str]:
        return [key for key, _ in self.skipped]

    def __str__(self) -> str:
        rows: List[Tuple[str, str, str]] = []
        # Plain one-to-one copies are grouped per module (one row per block).
        plain: 'OrderedDict[Tuple[str, str], int]' = OrderedDict()
        for ours, src in self.loaded:
            if ours.endswith(src) and '.' in src:
                group = _module_group(src)
                key = (ours[:len(ours) - len(src)] + group, group)
                plain[key] = plain.get(key, 0) + 1
            else:
                rows.append(('loaded', ours, src))
        rows = [('loaded', f'{o}*', f'<- {s}* ({n} tensors)')
                for (o, s), n in plain.items()] + [(k, o, f'<- {s}') for k, o, s in rows]
        by_reason: 'OrderedDict[str, List[str]]' = OrderedDict()
        for key, reason in self.skipped:
            by_reason.setdefault(reason, []).append(key)
        for reason, keys in by_reason.items():
            rows.append(('skipped', _compress(keys), reason))
        by_group: 'OrderedDict[str, List[str]]' = OrderedDict()
        for name in self.missing:
            by_group.setdefault(_module_group(name), []).append(name)
        for group, names in by_group.items():
            rows.append(('missing', _compress(names), 'keeps its initialisation'))
        width = max([len(r[1]) for r in rows] + [10])
        lines = [f'LoadReport: {len(self.loaded)} loaded, {len(self.skipped)} skipped, '
                 f'{len(self.missing)} missing']
        lines += [f'  {kind:<8} {name:<{width}}  {what}' for kind, name, what in rows]
        lines += [f'  note     {note}' for note in self.notes]
        return '\n'.join(lines)


def _module_group(name: str) -> str:
    parts = name.split('.')
    if 'blocks' in parts:
        i = parts.index('blocks')
        return '.'.join(parts[:i + 2]) + '.'
    return '.'.join(parts[:-1]) + '.' if len(parts) > 1 else name


def _span(start: int, stop: int) -> str:
    return (f'block {start}' if stop - start == 1 else f'blocks {start}-{stop - 1}')


def _compress(names: List[str]) -> str:
    if len(names) <= 2:
        return ', '.join(names)
    prefix = os.path.commonprefix(names)
    prefix = prefix[:prefix.rfind('.') + 1]
    return f'{prefix}* ({len(names)} tensors)'


# ------------------------------------------------------------------------- loading


def _unwrap(obj: Mapping) -> Dict[str, Tensor]:
    r"""Descend into training containers, keep the tensors, strip wrapper prefixes."""
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in _CONTAINER_KEYS
                      if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise ValueError(f'expected a state dict (a mapping of names to tensors), got '
                         f'{type(obj).__name__}')
    state = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if not state:
        raise ValueError('the checkpoint holds no tensors (keys: '
                         f'{list(obj.keys())[:10]})')
    stripped = True
    while stripped:
        stripped = False
        for prefix in _STRIP_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                stripped = True
    return state


def load_vit_state_dict(path: Union[str, os.PathLike]) -> Dict[str, Tensor]:
    r"""Reads a (timm) ViT state dict from disk, on the CPU, without unpickling code.

    ``.safetensors`` files are read with :func:`safetensors.torch.load_file` (needs the
    ``safetensors`` package); ``.pth``, ``.pt``, ``.bin``, ``.pth.tar``, ``.ckpt`` with
    ``torch.load(path, map_location='cpu', weights_only=True)``, which refuses pickled
    objects other than tensors and plain containers. Training containers are unwrapped
    (``state_dict``, ``model_state_dict``, ``model``, ``module``: the first present, so a
    timm training checkpoint gives its non-EMA weights), non-tensor entries dropped, and
    ``module.``/``_orig_mod.``/``model.`` prefixes shared by every key removed.

    Args:
        path (str or os.PathLike): The checkpoint file.

    Returns:
        Dict[str, Tensor]: Names in timm's convention (``blocks.0.attn.qkv.weight``, ...).
    """
    path = os.fspath(path)
    name = path.lower()
    if name.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as err:
            raise ImportError(
                f"reading '{path}' needs the 'safetensors' package (pip install "
                "safetensors), or convert the checkpoint to a .pth state dict") from err
        return _unwrap(load_file(path, device='cpu'))
    if not name.endswith(_TORCH_SUFFIXES):
        raise ValueError(f"unknown checkpoint format '{path}' (expected .safetensors or "
                         f"one of {', '.join(_TORCH_SUFFIXES)})")
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f"'{path}' holds pickled objects other than tensors, which are not loaded "
            "(weights_only=True: unpickling can run arbitrary code). Re-save only the "
            f"model's state_dict from a trusted environment. ({err})") from err
    return _unwrap(obj)


# ------------------------------------------------------------------------- mapping


def _lookup(ckpt: Mapping[str, Tensor], name: str, prefix: str,
            used: set) -> Optional[Tuple[Tensor, str]]:
    r"""The checkpoint value for parameter ``name`` of a module whose checkpoint keys are
    ``prefix + ...`` (``ckpt`` is keyed without the prefix)."""
    if name in ckpt:
        used.add(prefix + name)
        return ckpt[name], prefix + name
    if name.endswith('.bias'):
        base = name[:-len('bias')]
        if name == 'attn.qkv.bias' and 'attn.q_bias' in ckpt and 'attn.v_bias' in ckpt:
            q, v = ckpt['attn.q_bias'], ckpt['attn.v_bias']
            used.update({prefix + 'attn.q_bias', prefix + 'attn.v_bias'})
            return (torch.cat([q, torch.zeros_like(q), v]),
                    f'[{prefix}attn.q_bias; 0; {prefix}attn.v_bias]')
        if base + 'weight' in ckpt:  # the checkpoint's layer has no bias
            w = ckpt[base + 'weight']
            return (torch.zeros(w.shape[0], dtype=w.dtype),
                    f'zeros ({prefix}{base[:-1]} has no bias)')
    return None


def _fold_layer_scale(name: str, value: Tensor, src: str, ckpt: Mapping[str, Tensor],
                      prefix: str, used: set) -> Tuple[Tensor, str]:
    r"""LayerScale ``gamma * (W x + b)`` folded into ``W`` and ``b``."""
    for linear, gamma_key in (('attn.proj.', 'ls1.gamma'), ('mlp.fc2.', 'ls2.gamma')):
        if name.startswith(linear) and gamma_key in ckpt:
            gamma = ckpt[gamma_key]
            if value.dim() == 2 and gamma.shape == value.shape[:1]:
                value = gamma[:, None] * value
            elif value.dim() == 1 and gamma.shape == value.shape:
                value = gamma * value
            else:
                continue
            used.add(prefix + gamma_key)
            src = f'{src} * {prefix}{gamma_key}'
    return value, src


def _sub(state: Mapping[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _split_pos_embed(pos: Tensor, expected_prefix: int) -> Optional[Tuple[int, int]]:
    r"""``(number of prefix rows, grid side)`` of a ``(1, P + s * s, D)`` table."""
    n = pos.shape[1]
    for prefix in dict.fromkeys((expected_prefix, 1, 0)):
        side = math.isqrt(max(n - prefix, 0))
        if side > 0 and side * side == n - prefix:
            return prefix, side
    return None


def _resize_grid(grid: Tensor, size: Tuple[int, int]) -> Tensor:
    r"""``(1, h, w, D)`` -> ``(1, H, W, D)`` by 2-D bicubic interpolation."""
    if tuple(grid.shape[1:3]) == tuple(size):
        return grid
    out = F.interpolate(grid.permute(0, 3, 1, 2).float(), size=size, mode='bicubic',
                        align_corners=False, antialias=True)
    return out.permute(0, 2, 3, 1).to(grid.dtype)


class _Plan:
    r"""The copies :func:`init_from_vit` will make, collected before any is made: our
    parameter -> ``(value, source)``, the checkpoint keys used so far, and the report."""
    def __init__(self, ours: Dict[str, Tensor]):
        self.ours = ours
        self.values: 'OrderedDict[str, Tuple[Tensor, str]]' = OrderedDict()
        self.used: set = set()
        self.report = LoadReport()

    def add(self, our_name: str, value: Tensor, src: str):
        r"""Plans ``our_name <- value``, or reports the source skipped on a shape
        mismatch (a class token of the right size is reshaped)."""
        param = self.ours[our_name]
        if value.shape != param.shape:
            if value.numel() == param.numel() and our_name in ('cls_token', ):
                value = value.reshape(param.shape)
            else:
                key = src.split(' ')[0]
                via = '' if key == src else f' (as {src})'
                self.report.skipped.append((key, f'shape {tuple(value.shape)}{via} != '
                                                 f'{our_name} {tuple(param.shape)}'))
                return
        self.values[our_name] = (value, src)


def _find_encoder(backbone: nn.Module) -> Tuple[TransformerEncoder, str]:
    r"""The backbone's :class:`TransformerEncoder` and the prefix of its parameter
    names (``""`` for a bare encoder, ``"encoder."`` otherwise)."""
    if isinstance(backbone, TransformerEncoder):
        return backbone, ''
    if isinstance(getattr(backbone, 'encoder', None), TransformerEncoder):
        return backbone.encoder, 'encoder.'
    raise TypeError(f'expected an AdjacencyPatchTransformer-like backbone or a '
                    f'TransformerEncoder, got {type(backbone).__name__}')


def _checkpoint_depth(state: Mapping[str, Tensor], dim: int) -> int:
    r"""The number of blocks of a timm ViT state dict, after checking that it is one
    and that its embedding width is ``dim`` (a :class:`ValueError` otherwise)."""
    for key, axis in (('cls_token', -1), ('pos_embed', -1), ('blocks.0.norm1.weight', 0),
                      ('norm.weight', 0)):
        if key in state:
            ckpt_dim = state[key].shape[axis]
            break
    else:
        raise ValueError('this does not look like a timm ViT state dict (no cls_token, '
                         f'pos_embed, blocks.0.norm1.weight or norm.weight; keys: '
                         f'{sorted(state)[:10]})')
    if ckpt_dim != dim:
        raise ValueError(f'embedding width mismatch: the checkpoint has width {ckpt_dim} '
                         f"(from '{key}'), the backbone has embed_dim {dim}")
    block_ids = {int(k.split('.')[1]) for k in state
                 if k.startswith('blocks.') and k.split('.')[1].isdigit()}
    if not block_ids:
        raise ValueError(f"the checkpoint has no 'blocks.N.*' tensors (keys: "
                         f'{sorted(state)[:10]})')
    return max(block_ids) + 1


def _map_blocks(plan: _Plan, state: Mapping[str, Tensor], encoder: TransformerEncoder,
                enc: str, ckpt_depth: int):
    r"""Checkpoint block ``i`` -> our block ``i`` for the blocks both have (bias
    variants and LayerScale folded in), with a note when the depths differ."""
    depth = len(encoder.blocks)
    for i in range(min(depth, ckpt_depth)):
        prefix = f'blocks.{i}.'
        ckpt = _sub(state, prefix)
        for name, _ in encoder.blocks[i].named_parameters():
            found = _lookup(ckpt, name, prefix, plan.used)
            if found is None:
                continue
            value, src = _fold_layer_scale(name, *found, ckpt, prefix, plan.used)
            plan.add(f'{enc}{prefix}{name}', value, src)
    if ckpt_depth > depth:
        plan.report.notes.append(f'used checkpoint {_span(0, depth)} of {ckpt_depth}; '
                                 f'{_span(depth, ckpt_depth)} unused')
    elif ckpt_depth < depth:
        plan.report.notes.append(f'the checkpoint has only {ckpt_depth} blocks: our '
                                 f'{_span(ckpt_depth, depth)} kept the initialisation')


def _map_final_norm(plan: _Plan, state: Mapping[str, Tensor],
                    encoder: TransformerEncoder, enc: str):
    r"""``norm.*`` -> the encoder's final norm (``fc_norm.*`` when timm's global-pool
    models replaced ``norm`` by an identity)."""
    norm_src = 'norm.' if any(k.startswith('norm.') for k in state) else 'fc_norm.'
    for name, _ in encoder.norm.named_parameters():
        found = _lookup(_sub(state, norm_src), name, norm_src, plan.used)
        if found is not None:
            plan.add(f'{enc}norm.{name}', *found)
    if norm_src == 'fc_norm.' and any(k.startswith('fc_norm.') for k in state):
        plan.report.notes.append('the checkpoint has no norm.*: fc_norm.* (its norm of '
                                 f'the pooled feature) was loaded into {enc}norm')


def _map_cls_token(plan: _Plan, state: Mapping[str, Tensor], load: bool):
    r"""``cls_token`` -> ours (reshaped if only its shape differs), unless not asked."""
    if 'cls_token' not in state:
        return
    if load:
        plan.used.add('cls_token')
        plan.add('cls_token', state['cls_token'], 'cls_token')
    else:
        plan.report.skipped.append(('cls_token', 'load_cls_token=False'))


def _resample_pos_embed(pos: Tensor, num_prefix: int, side: int,
                        size: Tuple[int, int]) -> Tensor:
    r"""A ``(1, num_prefix + side * side, D)`` table as ours, ``(1, 1 + h * w, D)``: the
    class row (zero without one), then the square grid resized to ``size``."""
    h, w = size
    cls_row = pos[:, :1] if num_prefix > 0 else torch.zeros_like(pos[:, :1])
    grid = pos[:, num_prefix:].reshape(1, side, side, pos.shape[-1])
    grid = _resize_grid(grid, (h, w)).reshape(1, h * w, pos.shape[-1])
    return torch.cat([cls_row, grid], dim=1)


def _map_pos_embed(plan: _Plan, state: Mapping[str, Tensor], backbone: nn.Module,
                   load: bool):
    r"""``pos_embed`` -> ours, its grid resampled to ``backbone.grid_size`` (register
    rows dropped), with notes on what changed; skipped if not asked or not a square
    grid."""
    if 'pos_embed' not in state:
        return
    if not load:
        plan.report.skipped.append(('pos_embed', 'load_pos_embed=False'))
        return
    pos = state['pos_embed']
    num_reg = state['reg_token'].shape[1] if 'reg_token' in state else 0
    expected = int('cls_token' in state) + num_reg
    split = _split_pos_embed(pos, expected) if pos.dim() == 3 else None
    if split is None:
        plan.report.skipped.append(('pos_embed', f'shape {tuple(pos.shape)}: not a '
                                    '(1, prefix + s * s, D) square-grid table'))
        return
    num_prefix, side = split
    h, w = backbone.grid_size
    plan.used.add('pos_embed')
    plan.add('pos_embed', _resample_pos_embed(pos, num_prefix, side, (h, w)),
             f'pos_embed (class row + grid {side}x{side} -> {h}x{w}, bicubic)')
    notes = plan.report.notes
    if num_prefix == 0:
        notes.append('the checkpoint has no class position: the class '
                     'row of pos_embed was set to zero')
    elif num_prefix > 1:
        notes.append(f'pos_embed rows 1-{num_prefix - 1} (register '
                     'tokens) were dropped')
    if getattr(backbone, 'tokens', None) == 'rows':
        notes.append("tokens='rows': the position grid is (max_nodes, 1): the "
                     'checkpoint grid was resampled along rows and (antialiased) '
                     'averaged over columns')


def _skip_unused(plan: _Plan, state: Mapping[str, Tensor], depth: int,
                 has_tokens: bool):
    r"""Every checkpoint tensor not used, reported with the reason."""
    for key in state:
        if key in plan.used:
            continue
        if key.startswith('blocks.') and key.split('.')[1].isdigit():
            i = int(key.split('.')[1])
            reason = (f'unused block: the backbone has {depth} blocks' if i >= depth
                      else 'no counterpart in TransformerBlock')
        elif key in ('cls_token', 'pos_embed') and not has_tokens:
            reason = 'the backbone is a bare TransformerEncoder'
        else:
            reason = next((r for p, r in _SKIP_REASONS if key.startswith(p)),
                          'no counterpart in the backbone')
        plan.report.skipped.append((key, reason))


def _check_strict(plan: _Plan, enc: str):
    r"""``strict_blocks``: a :class:`ValueError` unless every block and final-norm
    parameter is planned."""
    unset = [n for n in plan.ours if n.startswith(f'{enc}blocks.') or
             n.startswith(f'{enc}norm.')]
    unset = [n for n in unset if n not in plan.values]
    if unset:
        raise ValueError(f'strict_blocks: {len(unset)} encoder parameters would not '
                         f'be set from the checkpoint: {unset[:8]}'
                         + (' ...' if len(unset) > 8 else ''))


def _apply(plan: _Plan) -> LoadReport:
    r"""Makes the planned copies (in our parameters' dtypes) and completes the
    report."""
    report = plan.report
    with torch.no_grad():
        for name, (value, src) in plan.values.items():
            plan.ours[name].copy_(value.to(dtype=plan.ours[name].dtype))
            report.loaded.append((name, src))
    report.missing = [n for n in plan.ours if n not in plan.values]
    return report


def init_from_vit(backbone: nn.Module,
                  state_dict_or_path: Union[str, os.PathLike, Mapping[str, Tensor]],
                  strict_blocks: bool = False, load_pos_embed: bool = True,
                  load_cls_token: bool = True) -> LoadReport:
    r"""Copies the parameters of a timm Vision Transformer checkpoint onto a backbone.

    Args:
        backbone (torch.nn.Module): An
            :class:`~lps_geometric.nn.AdjacencyPatchTransformer` (or any module with
            ``encoder``, ``cls_token``, ``pos_embed`` and ``grid_size``), or a bare
            :class:`~lps_geometric.nn.TransformerEncoder` (blocks and final norm only).
        state_dict_or_path (str, os.PathLike or Mapping): A checkpoint file (read with
            :func:`load_vit_state_dict`) or a state dict in timm's naming.
        strict_blocks (bool, optional): Raise :class:`ValueError` (before changing
            anything) unless every encoder parameter is set from the checkpoint with a
            matching shape. Unused extra checkpoint blocks are allowed.
            (default: :obj:`False`)
        load_pos_embed (bool, optional): Load the position embedding: the class row is
            copied, the checkpoint's square grid is resized to ``backbone.grid_size``
            (bicubic; for ``tokens='rows'`` that grid is ``(max_nodes, 1)``, so the
            row position is resampled and the columns are averaged). A checkpoint
            without a class position (timm ``no_embed_class``) gives a zero class row,
            which reproduces it. (default: :obj:`True`)
        load_cls_token (bool, optional): Load the class token. (default: :obj:`True`)

    Returns:
        LoadReport: What was loaded, skipped (with the reasons) and left at its init.

    Raises:
        ValueError: If the checkpoint's embedding width differs from the backbone's, it
            has no ``blocks.N.*`` tensors, or ``strict_blocks`` is violated.
    """
    if isinstance(state_dict_or_path, (str, os.PathLike)):
        state = load_vit_state_dict(state_dict_or_path)
    else:
        state = _unwrap(state_dict_or_path)
    encoder, enc = _find_encoder(backbone)
    ckpt_depth = _checkpoint_depth(state, encoder.norm.normalized_shape[0])
    plan = _Plan(dict(backbone.named_parameters()))
    _map_blocks(plan, state, encoder, enc, ckpt_depth)
    _map_final_norm(plan, state, encoder, enc)
    has_tokens = bool(enc) and 'cls_token' in plan.ours and 'pos_embed' in plan.ours
    if has_tokens:
        _map_cls_token(plan, state, load_cls_token)
        _map_pos_embed(plan, state, backbone, load_pos_embed)
    _skip_unused(plan, state, len(encoder.blocks), has_tokens)
    if strict_blocks:
        _check_strict(plan, enc)
    return _apply(plan)
