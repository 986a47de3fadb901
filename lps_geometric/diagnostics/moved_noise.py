r"""Moving the sampling noise of the symmetrized layers inside any model along with a
group element, so that :math:`f(g \cdot x)` and :math:`g \cdot f(x)` of a stochastic
model can be compared draw by draw.

A :class:`~lps_geometric.nn.Symmetrize` layer with an equivariant sampler is exactly
equivariant when its noise :math:`\epsilon` is moved along with the input
(:math:`\epsilon \mapsto g \cdot \epsilon`, :func:`~lps_geometric.groups.transport_noise`),
and only equivariant in distribution otherwise. :func:`equivariance_error` moves the
noise of a :class:`~lps_geometric.nn.Symmetrize` it is given; :class:`MovedNoise` does it
for the symmetrized layers anywhere inside a larger model (a predictor that adds the
input positions, a relaxed model, a model with a symmetrized layer among others), by
forward pre-hooks that hand each layer its recorded or moved noise.
"""
from typing import Any, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.diagnostics.equivariance import _noise_drawer, _transport_obstacle
from lps_geometric.groups.names import resolve_group
from lps_geometric.groups.transport import transport_noise
from lps_geometric.nn.symmetrize import Symmetrize

__all__ = ['MovedNoise']


def _outermost_symmetrize(model: nn.Module) -> Tuple[List[Symmetrize], bool]:
    r"""The :class:`Symmetrize` modules of ``model`` that are not inside another one,
    and whether some are (a nested layer sees canonicalized copies, not
    :math:`g \cdot x`)."""
    found = [m for m in model.modules() if isinstance(m, Symmetrize)]
    inner = {id(m) for outer in found for m in outer.modules()
             if isinstance(m, Symmetrize) and m is not outer}
    return [m for m in found if id(m) not in inner], bool(inner)


class MovedNoise:
    r"""Within its ``with`` block, the first calls of ``model`` record the noise that
    every symmetrized layer inside it draws (from ``generator``); after
    :meth:`move` with an element :math:`g` of the input batch, the same layers are
    called in the same order with that noise moved along, :math:`g \cdot \epsilon`.
    An exactly equivariant model then gives :math:`f(g \cdot x) = g \cdot f(x)` up to
    rounding, however it wraps its symmetrized layers::

        g = group.random_element(data, generator)
        with MovedNoise(model, group, generator) as noise:
            out = model(data)
            noise.move(g)
            out_g = model(group.act(g, data))

    The noise can be moved when every symmetrized layer that draws samples has a
    sampler whose noise moves with the elements of ``group`` (see
    :func:`~lps_geometric.diagnostics.equivariance_error`) and no symmetrized layer is
    nested in another. Otherwise :attr:`active` is :obj:`False`, :attr:`obstacle` says
    why, and every call draws fresh noise: the comparison then includes the model's
    Monte Carlo spread. A model without symmetrized layers has nothing to move
    (:attr:`active` is :obj:`False`, :attr:`obstacle` empty). Noise given explicitly
    in a call (``noise=``) is left alone.

    Args:
        model (torch.nn.Module): The model, with or without symmetrized layers.
        group (str or group): The group of the elements (a name or a group object).
        generator (torch.Generator, optional): Random source of the recorded noise.
    """
    def __init__(self, model: nn.Module, group: Any,
                 generator: Optional[torch.Generator] = None):
        self.group = resolve_group(group)
        self.generator = generator
        self.obstacle = ''
        self._drawers = {}
        layers, nested = _outermost_symmetrize(model)
        if nested:
            self.obstacle = ('a symmetrized layer is nested in another one (it sees '
                             'canonicalized copies, not g . x)')
        for layer in layers:
            if not getattr(layer.sampler, 'draws_samples', True):
                continue                      # frames: nothing random to move
            drawer, vector_noise, why = _noise_drawer(layer.sampler)
            if drawer is not None:
                why = _transport_obstacle(self.group, vector_noise)
            if why:
                self.obstacle = self.obstacle or why
            self._drawers[id(layer)] = (layer, drawer)
        self.active = bool(self._drawers) and not self.obstacle
        self._element = None
        self._recorded: List[Tuple[Tensor, Data, int]] = []
        self._replayed = 0
        self._handles = []

    def move(self, element) -> None:
        r"""From now on, hand the layers the recorded noise moved by ``element`` (an
        element of the batch the recording calls saw)."""
        if self.active and not self._recorded:
            raise RuntimeError('MovedNoise.move: no noise was recorded (call the model '
                               'on the untransformed input first)')
        self._element, self._replayed = element, 0

    def _hook(self, layer: Symmetrize, args, kwargs):
        if kwargs.get('noise') is not None:
            return None
        graph_keys = ('data', 'edge_index', 'edge_attr', 'batch')
        data = layer.check_input(*args, **{key: kwargs[key] for key in graph_keys
                                           if key in kwargs})
        k = kwargs.get('num_samples')
        if k is None:
            k = layer.num_samples if layer.training else layer.eval_num_samples
        if self._element is None:
            eps = self._drawers[id(layer)][1](data, k, self.generator)
            self._recorded.append((eps, data, k))
        else:
            if self._replayed >= len(self._recorded):
                raise RuntimeError('MovedNoise: the model called its symmetrized layers '
                                   'more often after move() than before')
            eps, recorded, k = self._recorded[self._replayed]
            self._replayed += 1
            eps = transport_noise(self._element, eps, recorded, k)
        return (data,), {**{key: v for key, v in kwargs.items()
                            if key not in graph_keys},
                         'noise': eps, 'num_samples': k}

    def __enter__(self) -> 'MovedNoise':
        # every block records afresh
        self._element, self._recorded, self._replayed = None, [], 0
        if self.active:
            for layer, _ in self._drawers.values():
                self._handles.append(layer.register_forward_pre_hook(
                    lambda module, args, kwargs: self._hook(module, args, kwargs),
                    with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __repr__(self) -> str:
        state = 'active' if self.active else (f'inactive: {self.obstacle}'
                                              if self.obstacle else 'nothing to move')
        return f'{self.__class__.__name__}({len(self._drawers)} layers, {state})'
