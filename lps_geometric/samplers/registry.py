r"""The table behind :func:`~lps_geometric.samplers.build_sampler`: one sampler
constructor per ``(method, group kind)`` pair.

A *group kind* is a family of groups that one constructor serves for every member (the
constructor reads the dimension and the other parameters from the group it is given):

===============  ==================================================================
kind             groups
===============  ==================================================================
``permutation``  :math:`S_n` acting on graphs (``SymmetricGroup``, :obj:`"S_n"`)
``sets``         :math:`S_n` acting on sets (the names :obj:`"S_n (sets)"`, :obj:`"sets"`)
``euclidean``    :math:`O(d)`, :math:`SO(d)`, :math:`E(d)`, :math:`SE(d)`
``product``      :math:`S_n \times G` for :math:`G` one of the above
``lorentz``      :math:`O(1, d-1)`, :math:`SO(1, d-1)`
``unitary``      :math:`U(d)`, :math:`SU(d)`
===============  ==================================================================

The built-in methods are registered by :mod:`lps_geometric.samplers.factory`; a program
adds its own (or replaces one) with :func:`register_sampler`::

    @register_sampler('ga', 'lorentz')
    def uniform_lorentz(group, **kwargs):
        return MyLorentzSampler(group.dim, group.special, **kwargs)

    sampler = build_sampler('ga', 'SO(1,3)')

A constructor is called as ``constructor(group, **kwargs)``, with the group object and the
keyword arguments given to :func:`build_sampler`; one registered with ``learned=True`` is
called as ``constructor(group, in_channels, **kwargs)`` and refuses to build without
``in_channels``.
"""
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Dict, Iterable, Mapping, Optional, Tuple

from torch import nn

from lps_geometric.groups.euclidean import OrthogonalGroup, ProductGroup
from lps_geometric.groups.linear import LorentzGroup, UnitaryGroup
from lps_geometric.groups.names import normalize_group_name, resolve_group
from lps_geometric.groups.symmetric import SymmetricGroup
from lps_geometric.utils.validation import check_positive_int

__all__ = ['GROUP_KINDS', 'SamplerEntry', 'register_sampler', 'unregister_sampler',
           'available_methods', 'registered_samplers', 'group_kind', 'lookup_sampler']

#: The group kinds (read-only), each with the groups it holds as written in messages.
GROUP_KINDS: Mapping[str, str] = MappingProxyType({
    'permutation': 'S_n',
    'sets': 'S_n (sets)',
    'euclidean': 'O(d)/SO(d)/E(d)/SE(d)',
    'product': 'S_n x O(d)/SO(d)/E(d)/SE(d)',
    'lorentz': 'O(1,d-1)/SO(1,d-1)',
    'unitary': 'U(d)/SU(d)',
})
#: Kinds whose groups have a dimension :math:`d` (the only ones ``dims`` may restrict).
_DIMENSIONED = ('euclidean', 'product', 'lorentz', 'unitary')
#: What a refusal adds for a kind served by few methods.
_HINTS = {'sets': "for other methods use 'S_n'"}
#: Normalized names of :math:`S_n` acting on sets.
_SET_GROUP_NAMES = ('sets', 'snsets', 'snset', 'set')


@dataclass(frozen=True)
class SamplerEntry:
    r"""One registered sampler: ``constructor`` builds the sampler of ``method`` for a
    group of ``kind``.

    Args:
        method (str): The method name (lower case).
        kind (str): The group kind (a key of :data:`GROUP_KINDS`).
        constructor (callable): ``constructor(group, **kwargs)``, or
            ``constructor(group, in_channels, **kwargs)`` when ``learned``.
        learned (bool): Whether the sampler has weights reading ``in_channels`` node
            features.
        dims (tuple of int, optional): The dimensions :math:`d` the constructor
            supports; :obj:`None` for any.
        num_samples (int, optional): The samples :math:`k` that
            :meth:`~lps_geometric.nn.Symmetrize.from_method` uses by default in
            training and evaluation (one for canonicalization, whose copies would all
            be the same); :obj:`None` keeps the layer's defaults.
    """
    method: str
    kind: str
    constructor: Callable[..., nn.Module]
    learned: bool = False
    dims: Optional[Tuple[int, ...]] = None
    num_samples: Optional[int] = None

    def build(self, group, in_channels: Optional[int] = None, **kwargs) -> nn.Module:
        r"""The sampler for ``group`` (a group object of this entry's kind)."""
        if self.dims is not None:
            dim = _dimension(self.kind, group)
            if dim not in self.dims:
                others = [e.method for e in _TABLE.values()
                          if e.kind == self.kind and e.dims is None]
                tail = ''
                if others:
                    verb = 'works' if len(others) == 1 else 'work'
                    tail = f'; {_and(others)} {verb} for any d'
                where = (f'd = {self.dims[0]}' if len(self.dims) == 1 else
                         f'd in {self.dims}')
                raise ValueError(f"Method '{self.method}' is implemented for {where} "
                                 f"(got d = {dim}){tail}")
        if self.learned:
            if in_channels is None:
                raise ValueError(f"Method '{self.method}' learns a sampler: pass "
                                 f"'in_channels'")
            return self.constructor(group, in_channels, **kwargs)
        return self.constructor(group, **kwargs)


#: ``(method, kind) -> entry``, in registration order.
_TABLE: Dict[Tuple[str, str], SamplerEntry] = {}


def _check_kind(kind: str) -> str:
    if kind not in GROUP_KINDS:
        raise ValueError(f"Unknown group kind '{kind}' (known: {tuple(GROUP_KINDS)})")
    return kind


def _check_method(method: str) -> str:
    if not isinstance(method, str) or not method.strip():
        raise ValueError(f"A method is named by a non-empty string (got {method!r})")
    return method.lower()


def register_sampler(method: str, kind: str,
                     constructor: Optional[Callable[..., nn.Module]] = None, *,
                     learned: bool = False, dims: Optional[Iterable[int]] = None,
                     num_samples: Optional[int] = None, replace: bool = False):
    r"""Registers ``constructor`` as the sampler of ``method`` for the groups of
    ``kind``, so that :func:`~lps_geometric.samplers.build_sampler` (and
    :meth:`~lps_geometric.nn.Symmetrize.from_method`) build it by name. Used as a
    function, or as a decorator when ``constructor`` is left out; returns the
    constructor.

    Args:
        method (str): The method name (case is ignored). A new name adds a method.
        kind (str): The group kind, a key of :data:`GROUP_KINDS`.
        constructor (callable, optional): ``constructor(group, **kwargs)`` returning the
            sampler (a :class:`torch.nn.Module`); with ``learned=True`` it is called as
            ``constructor(group, in_channels, **kwargs)``.
        learned (bool, optional): The sampler needs ``in_channels``; building without it
            is refused. (default: :obj:`False`)
        dims (iterable of int, optional): The dimensions :math:`d` it supports, for the
            kinds whose groups have one; others are refused. (default: any)
        num_samples (int, optional): The default :math:`k` of
            :meth:`~lps_geometric.nn.Symmetrize.from_method` for this method (e.g.
            :obj:`1` for a noise-free sampler). (default: :obj:`None`: the layer's)
        replace (bool, optional): Replace an entry already registered for the pair;
            without it a second registration is refused. (default: :obj:`False`)
    """
    method = _check_method(method)
    _check_kind(kind)
    if num_samples is not None:
        num_samples = check_positive_int('num_samples', num_samples)
    if dims is not None:
        if kind not in _DIMENSIONED:
            raise ValueError(f"'dims' restricts a dimension, which groups of kind "
                             f"'{kind}' do not have")
        dims = tuple(int(d) for d in dims)
        if not dims:
            raise ValueError("'dims' must name at least one dimension (or be None)")

    def add(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if not callable(fn):
            raise TypeError(f'A sampler constructor must be callable (got {fn!r})')
        key = (method, kind)
        if key in _TABLE and not replace:
            raise ValueError(f"Method '{method}' already has a sampler for "
                             f"{GROUP_KINDS[kind]} ({_TABLE[key].constructor!r}); pass "
                             f"replace=True to replace it")
        _TABLE[key] = SamplerEntry(method, kind, fn, bool(learned), dims, num_samples)
        return fn

    return add if constructor is None else add(constructor)


def unregister_sampler(method: str, kind: str) -> SamplerEntry:
    r"""Removes the sampler of ``method`` for ``kind`` and returns its entry."""
    method = _check_method(method)
    _check_kind(kind)
    try:
        return _TABLE.pop((method, kind))
    except KeyError:
        raise ValueError(f"Method '{method}' has no sampler for "
                         f"{GROUP_KINDS[kind]}") from None


def registered_samplers(kind: Optional[str] = None) -> Dict[Tuple[str, str],
                                                             SamplerEntry]:
    r"""A copy of the table, ``{(method, kind): entry}`` in registration order (only
    ``kind``'s entries if given)."""
    if kind is not None:
        _check_kind(kind)
    return {key: entry for key, entry in _TABLE.items()
            if kind is None or entry.kind == kind}


def _classify(group) -> Tuple[Optional[str], object]:
    r"""``(kind, group object)``; the kind is :obj:`None` for an object of no kind."""
    if isinstance(group, str) and normalize_group_name(group) in _SET_GROUP_NAMES:
        return 'sets', SymmetricGroup()
    group = resolve_group(group)
    # the matrix groups first: they subclass OrthogonalGroup
    if isinstance(group, LorentzGroup):
        return 'lorentz', group
    if isinstance(group, UnitaryGroup):
        return 'unitary', group
    if isinstance(group, SymmetricGroup):
        return 'permutation', group
    if isinstance(group, ProductGroup):
        kind = 'product' if isinstance(group.euclidean, OrthogonalGroup) else None
        return kind, group
    if isinstance(group, OrthogonalGroup):
        return 'euclidean', group
    return None, group


def group_kind(group) -> str:
    r"""The kind (a key of :data:`GROUP_KINDS`) of a group object or name:
    ``group_kind("S_n x E(3)") == "product"``."""
    kind, resolved = _classify(group)
    if kind is None:
        raise ValueError(f'No sampler for group {resolved}')
    return kind


def _dimension(kind: str, group) -> int:
    return group.euclidean.dim if kind == 'product' else group.dim


def _and(items, quote: bool = True) -> str:
    items = [f"'{item}'" if quote else str(item) for item in items]
    return items[0] if len(items) == 1 else ', '.join(items[:-1]) + ' and ' + items[-1]


def _methods(kind: Optional[str] = None) -> Tuple[str, ...]:
    out = []
    for entry in _TABLE.values():
        if (kind is None or entry.kind == kind) and entry.method not in out:
            out.append(entry.method)
    return tuple(out)


def available_methods(group=None) -> Tuple[str, ...]:
    r"""The registered method names, in registration order: all of them, or those with a
    sampler for ``group`` (a group object or name) if given."""
    if group is None:
        return _methods()
    return _methods(group_kind(group))


def _kinds_of(method: str) -> Tuple[str, ...]:
    return tuple(e.kind for e in _TABLE.values() if e.method == method)


def _serves(method: str) -> str:
    return _and([GROUP_KINDS[kind] for kind in _kinds_of(method)], quote=False)


def lookup_sampler(method: str, group='S_n') -> Tuple[SamplerEntry, object]:
    r"""``(entry, group object)`` for ``method`` and ``group`` (an object or a name), or
    a :class:`ValueError` naming the known methods, or the methods that serve the group
    and the groups the method serves."""
    method = _check_method(method)
    known = _methods()
    if method not in known:
        kinds = ', '.join(f"{m}: {'/'.join(_kinds_of(m))}" for m in known)
        raise ValueError(f"Unknown method '{method}' (known: {known}; the group kinds "
                         f"each serves: {kinds})")
    kind, resolved = _classify(group)
    if kind is None:
        raise ValueError(f'No sampler for group {resolved}')
    entry = _TABLE.get((method, kind))
    if entry is None:
        label = f"'{group}'" if kind == 'sets' else getattr(resolved, 'name', resolved)
        served = _methods(kind)
        if not served:
            raise ValueError(f'No sampler for group {label} (no method is registered '
                             f'for {GROUP_KINDS[kind]})')
        noun = 'method' if len(served) == 1 else 'methods'
        message = (f"Group {label} is served by {noun} {_and(served)} only (got "
                   f"'{method}'); method '{method}' is for {_serves(method)} only")
        if kind in _HINTS:
            message += f'; {_HINTS[kind]}'
        raise ValueError(message)
    return entry, resolved
