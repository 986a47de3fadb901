r"""Differentiable penalties on a model's equivariance, for training relaxed models
(constraint relaxation, Pertigkiozoglou et al., 2024).

- :func:`lie_derivative_penalty` for the continuous groups :math:`O(3)` / :math:`E(3)`:
  the squared Lie derivative of the model along the group's generators,
  :math:`(L_A f)(x) = \frac{d}{dt}\big[e^{-tA} \cdot f(e^{tA} \cdot x)\big]_{t=0}`,
  computed with a Jacobian-vector product (one per generator, no finite differences);
  zero for an equivariant model.
- :func:`group_difference_penalty` for any group, :math:`S_n` included: the mean
  squared difference :math:`\lVert f(g \cdot x) - g \cdot f(x) \rVert^2` over sampled
  elements :math:`g`.
"""
import copy
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch.autograd.functional import jvp
from torch_geometric.data import Data

from lps_geometric.groups.euclidean import VECTOR_KEYS
from lps_geometric.groups.names import resolve_group

__all__ = ['lie_derivative_penalty', 'lie_derivatives', 'group_difference_penalty',
           'rotation_generators']

_OUTPUTS = ('scalar', 'vector', 'position')


def rotation_generators(dtype: torch.dtype = torch.float32,
                        device: Optional[torch.device] = None) -> Tensor:
    r"""The basis :math:`A_x, A_y, A_z` of :math:`\mathfrak{so}(3)` (infinitesimal
    rotations about the axes), shape :obj:`(3, 3, 3)`."""
    basis = torch.zeros(3, 3, 3, dtype=dtype, device=device)
    for k, (i, j) in enumerate(((1, 2), (2, 0), (0, 1))):
        basis[k, j, i], basis[k, i, j] = 1.0, -1.0
    return basis


def _moved(data: Data, t: Tensor, rotation: Optional[Tensor],
           translation: Optional[Tensor], vector_keys: Sequence[str]) -> Data:
    r"""``data`` moved to first order by :math:`t` along a generator."""
    out = copy.copy(data)
    pos = data.pos
    if rotation is not None:
        out.pos = pos + t * (pos @ rotation.T)
        for key in vector_keys:
            value = getattr(data, key, None)
            if isinstance(value, Tensor) and value.size(-1) == 3:
                setattr(out, key, value + t * (value @ rotation.T))
    else:
        out.pos = pos + t * translation
    return out


def lie_derivatives(model: nn.Module, data: Data, output: str = 'scalar',
                    translations: bool = True,
                    vector_keys: Sequence[str] = VECTOR_KEYS,
                    create_graph: bool = True) -> Tensor:
    r"""The Lie derivatives :math:`L_A f(x)` of ``model`` at ``data`` along the three
    rotation generators and, with ``translations``, the three translations,
    stacked into :obj:`(3 or 6, *out.shape)`.

    The input's ``pos`` moves as a point and the attributes in ``vector_keys`` (of last
    dimension 3) as vectors; the output acts as ``output`` says (:obj:`"scalar"`:
    invariant, :obj:`"vector"`: rotates, :obj:`"position"`: rotates and translates).
    With ``create_graph`` the result is differentiable in the model's parameters. The
    product is computed by differentiating the backward pass, so every operation of the
    model needs a double backward (the patch embedding of
    :class:`~lps_geometric.nn.AdjacencyPatchTransformer` has none: a
    :class:`RuntimeError` says so).
    """
    if output not in _OUTPUTS:
        raise ValueError(f"'output' must be one of {_OUTPUTS} (got '{output}')")
    pos = getattr(data, 'pos', None)
    if not isinstance(pos, Tensor) or pos.dim() != 2 or pos.size(-1) != 3:
        raise ValueError("The Lie derivative moves 'pos' of shape (|V|, 3), which the "
                         "data does not have")
    if not pos.is_floating_point():
        raise ValueError(f"'pos' must be floating point (got {pos.dtype})")
    zero = torch.zeros((), dtype=pos.dtype, device=pos.device)
    one = torch.ones((), dtype=pos.dtype, device=pos.device)
    moves = [(A, None) for A in rotation_generators(pos.dtype, pos.device)]
    if translations:
        moves += [(None, e) for e in torch.eye(3, dtype=pos.dtype, device=pos.device)]
    derivatives = []
    for rotation, translation in moves:
        def f(t, rotation=rotation, translation=translation):
            return model(_moved(data, t, rotation, translation, vector_keys))

        try:
            out, d_out = jvp(f, zero, one, create_graph=create_graph, strict=False)
        except (RuntimeError, NotImplementedError) as error:
            raise RuntimeError(
                f'The Lie derivative of {type(model).__name__} needs the derivative of '
                f'its backward pass, which one of its operations lacks ({error}); use '
                f'group_difference_penalty instead') from error
        if output != 'scalar' and out.size(-1) != 3:
            raise ValueError(f"output='{output}' needs outputs whose last dimension is "
                             f"3 (got {tuple(out.shape)})")
        if rotation is not None and output != 'scalar':
            d_out = d_out - out @ rotation.T
        elif translation is not None and output == 'position':
            d_out = d_out - translation
        derivatives.append(d_out)
    return torch.stack(derivatives)


def lie_derivative_penalty(model: nn.Module, data: Data, output: str = 'scalar',
                           translations: bool = True,
                           vector_keys: Sequence[str] = VECTOR_KEYS) -> Tensor:
    r"""The mean squared Lie derivative of ``model`` at ``data`` over the generators of
    :math:`O(3)`'s rotations (and :math:`E(3)`'s translations with ``translations``),
    a differentiable scalar to add to the training loss (see
    :func:`lie_derivatives`)."""
    return lie_derivatives(model, data, output, translations, vector_keys).pow(2).mean()


def output_level(out: Tensor, data: Data) -> str:
    r""":obj:`"node"` when ``out`` has one row per node of ``data`` (and the batch is
    not one node per graph), :obj:`"graph"` otherwise."""
    return 'node' if out.size(0) == data.num_nodes and \
        getattr(data, 'num_graphs', 1) != data.num_nodes else 'graph'


def group_difference_penalty(model: nn.Module, data: Data, group='S_n',
                             num_samples: int = 1, level: Optional[str] = None,
                             output: str = 'scalar',
                             generator: Optional[torch.Generator] = None) -> Tensor:
    r"""The mean over ``num_samples`` elements :math:`g` drawn from ``group`` (a group or
    its name, e.g. :obj:`"S_n"`, :obj:`"E(3)"`) of the mean squared difference
    :math:`\lVert f(g \cdot x) - g \cdot f(x) \rVert^2`: a differentiable scalar, zero
    for an equivariant model. ``level`` (:obj:`"graph"` or :obj:`"node"`) defaults to
    :obj:`"node"` when the output has one row per node."""
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) \
            or num_samples < 1:
        raise ValueError(f"'num_samples' must be a positive integer (got {num_samples!r})")
    if output not in _OUTPUTS:
        raise ValueError(f"'output' must be one of {_OUTPUTS} (got '{output}')")
    group = resolve_group(group)
    out = model(data)
    if level is None:
        level = output_level(out, data)
    total = out.new_zeros(())
    for _ in range(num_samples):
        g = group.random_element(data, generator)
        expected = group.act_on_output(g, out, level, output)
        total = total + (model(group.act(g, data)) - expected).pow(2).mean()
    return total / num_samples
