r"""Input checks with clear errors: bad graphs fail loudly, never as NaN or a wrong shape.

Two kinds of error, both :class:`ValueError`:

* :class:`GraphInputError` for data a model cannot read (a malformed ``edge_index``,
  features of the wrong size or dtype, NaN, a missing ``pos``);
* a plain :class:`ValueError` for an argument value out of range (``num_samples=0``,
  ``budget=-1``), raised by :func:`check_positive_int` and the constructors.
"""
import contextlib
import numbers
import threading
from typing import Callable, Iterator, List, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

__all__ = ['validate_graph_batch', 'check_graph_size', 'check_positive_int',
           'check_integer', 'check_node_tensor', 'check_edge_index', 'node_count',
           'GraphInputError', 'VECTOR_KEYS', 'checked_input', 'input_is_checked']

#: Node attributes checked as vectors (rows, floating dtype, width of ``pos``,
#: finiteness) whenever a batch carries them.
VECTOR_KEYS = ('vel', 'velocity', 'force', 'vec')


class GraphInputError(ValueError):
    r"""Raised for a graph batch a model cannot process."""


_STATE = threading.local()
#: Read the value checks back together on the CPU too (as on accelerators); tests set it.
_DEFER_ON_CPU = False


@contextlib.contextmanager
def checked_input() -> Iterator[None]:
    r"""A scope for data that an entry point has already checked: inside it,
    :func:`validate_graph_batch` (and the checks of the backbones, frames and
    samplers it calls) return at once, so a
    :class:`~lps_geometric.nn.Symmetrize` model checks its input once, not again in
    its sampler and backbone on the stacked batch."""
    before = getattr(_STATE, 'checked', False)
    _STATE.checked = True
    try:
        yield
    finally:
        _STATE.checked = before


def input_is_checked() -> bool:
    r"""Whether the caller runs inside :func:`checked_input`."""
    return getattr(_STATE, 'checked', False)


def check_integer(name: str, value) -> int:
    r"""``value`` as an :obj:`int` if it is an integer (a :obj:`bool` is not; a
    one-element integer tensor is), else a :class:`ValueError` naming ``name``."""
    if isinstance(value, Tensor) and value.numel() == 1 and \
            not (value.is_floating_point() or value.is_complex()
                 or value.dtype == torch.bool):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"'{name}' must be an integer (got {value!r})")
    return int(value)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    r"""``value`` as an :obj:`int` if it is an integer (see :func:`check_integer`) of
    at least ``minimum``, else a :class:`ValueError` naming ``name``."""
    value = check_integer(name, value)
    if value < minimum:
        bound = {0: 'non-negative', 1: 'positive'}.get(minimum, f'at least {minimum}')
        raise ValueError(f"'{name}' must be {bound} (got {value!r})")
    return int(value)


def _first_bad(mask: Tensor) -> list:
    return mask.nonzero()[0].tolist()


def _require(defer: Optional[List[Tensor]], ok: Tensor, fail: Callable[[], None]):
    r"""Checks the 0-dim boolean ``ok``: now (``fail()`` raises if it is false) or,
    with a list ``defer``, later, all flags at once (one device synchronisation)."""
    if defer is not None:
        defer.append(ok.reshape(()))
    elif not bool(ok):
        fail()


def _check_finite(name: str, value: Optional[Tensor],
                  defer: Optional[List[Tensor]] = None):
    if value is None or not (torch.is_floating_point(value) or value.is_complex()):
        return
    if defer is not None:
        defer.append(torch.isfinite(value).all())
        return
    finite = torch.isfinite(value)
    if not bool(finite.all()):
        raise GraphInputError(f"'{name}' contains NaN or infinite values "
                              f"(first at index {_first_bad(~finite)})")


def check_node_tensor(name: str, value, num_rows: int, *, floating: bool = False,
                      width: Optional[int] = None, dims: Sequence[int] = (),
                      complex_ok: bool = False, what: str = 'nodes',
                      defer: Optional[List[Tensor]] = None) -> Tensor:
    r"""Checks one node (or edge) attribute: a tensor with ``num_rows`` rows, of a
    numeric dtype (floating, or complex with ``complex_ok``, if ``floating``; else
    also bool or integer, which models cast, so integers must lie within
    :math:`\pm 2^{24}`, where float32 holds them exactly), with ``dims`` dimensions
    and last dimension ``width`` if given, and finite. Raises
    :class:`GraphInputError`.
    With a list ``defer``, the finiteness flag is appended to it instead of checked
    (see :func:`validate_graph_batch`)."""
    if not isinstance(value, Tensor):
        raise GraphInputError(f"'{name}' must be a tensor (got {type(value).__name__})")
    if value.dim() == 0:
        raise GraphInputError(f"'{name}' must have one row per {what[:-1]} "
                              f"(got a scalar)")
    if value.size(0) != num_rows:
        raise GraphInputError(f"'{name}' has {value.size(0)} rows for {num_rows} {what}")
    if dims and value.dim() not in dims:
        rows = '|E|' if what == 'edges' else '|V|'
        shapes = ' or '.join([f'({rows},)' if d == 1 else f'({rows}, ' + ', '.join(
            ['C'] * (d - 2) + ['d']) + ')' for d in dims])
        raise GraphInputError(f"'{name}' must have shape {shapes} "
                              f"(got {tuple(value.shape)})")
    if width is not None and (value.dim() < 2 or value.size(-1) != width):
        rows = '|E|' if what == 'edges' else '|V|'
        raise GraphInputError(f"'{name}' must have shape ({rows}, {width}) "
                              f"(got {tuple(value.shape)})")
    if value.is_complex():
        if not complex_ok:
            raise GraphInputError(f"'{name}' must be real (got dtype {value.dtype})")
    elif floating and not value.is_floating_point():
        raise GraphInputError(f"'{name}' must have a floating dtype (got {value.dtype}; "
                              f"cast it, e.g. '{name}.float()')")
    elif not value.is_floating_point() and value.dtype != torch.bool and value.numel():
        largest = value.abs().max()

        def too_large():
            raise GraphInputError(f"'{name}' holds the integer {int(largest)}, beyond "
                                  f"2^24: the models cast integer features to float, "
                                  f"which would change it (cast or rescale it yourself)")
        _require(defer, largest <= 2 ** 24, too_large)
    _check_finite(name, value, defer)
    return value


def check_edge_index(edge_index, num_nodes: int,
                     defer: Optional[List[Tensor]] = None) -> Tensor:
    r"""Checks that ``edge_index`` is a :obj:`torch.long` tensor of shape
    :math:`(2, |E|)` whose entries lie in :math:`[0, |V|)`. Duplicate edges and
    self-loops are valid. Raises :class:`GraphInputError`."""
    if edge_index is None:
        raise GraphInputError("'edge_index' is missing (use an empty (2, 0) tensor "
                              "for graphs without edges)")
    if not isinstance(edge_index, Tensor):
        raise GraphInputError(f"'edge_index' must be a tensor (got "
                              f"{type(edge_index).__name__})")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise GraphInputError(f"'edge_index' must have shape (2, |E|) "
                              f"(got {tuple(edge_index.shape)})")
    if edge_index.dtype != torch.long:
        raise GraphInputError(f"'edge_index' must be of dtype torch.long "
                              f"(got {edge_index.dtype})")
    if edge_index.numel() > 0:
        lo, hi = torch.aminmax(edge_index)

        def fail():
            bad = int(lo) if int(lo) < 0 else int(hi)
            raise GraphInputError(f"'edge_index' holds node index {bad} outside "
                                  f"[0, {num_nodes})")
        _require(defer, (lo >= 0) & (hi < num_nodes), fail)
    return edge_index


def check_graph_size(ptr: Tensor, max_nodes: int) -> int:
    r"""Returns the size of the largest graph of a batch (offsets ``ptr``) and raises
    :class:`GraphInputError` if it exceeds ``max_nodes``."""
    n = int((ptr[1:] - ptr[:-1]).max()) if ptr.numel() > 1 else 0
    if n > max_nodes:
        raise GraphInputError(f"A graph with {n} nodes exceeds the model's limit of "
                              f"{max_nodes} nodes ('max_nodes')")
    return n


def node_count(data: Data) -> int:
    r"""The number of nodes of a batch as the checks count them: the length of
    ``batch`` if there is one, else ``num_nodes`` if set, else the rows of ``x`` or
    ``pos``, else what PyG infers."""
    batch = getattr(data, 'batch', None)
    if isinstance(batch, Tensor) and batch.dim() == 1:
        return batch.numel()
    if 'num_nodes' in data and isinstance(data.num_nodes, int):
        return data.num_nodes
    for key in ('x', 'pos'):
        value = getattr(data, key, None)
        if isinstance(value, Tensor) and value.dim() > 0:
            return value.size(0)
    num_nodes = data.num_nodes
    return 0 if num_nodes is None else int(num_nodes)


def validate_graph_batch(data: Data, max_nodes: Optional[int] = None,
                         require_pos: bool = False, node_channels: Optional[int] = None,
                         edge_channels: Optional[int] = None, *,
                         pos_dim: Optional[int] = None,
                         vector_keys: Sequence[str] = (),
                         complex_pos: bool = False, require_edges: bool = True) -> None:
    r"""Checks a :class:`~torch_geometric.data.Data`/``Batch`` before a model reads it.

    Raises :class:`GraphInputError` (a :class:`ValueError`) for: an object that is not
    a ``Data``, an empty batch, a graph without nodes, a malformed or out-of-range
    ``edge_index``, edges between different graphs, an unsorted, non-integer or
    inconsistent ``batch`` vector; for ``x``, ``edge_attr``, ``pos`` and the vector
    attributes (``vel``, ``velocity``, ``force``, ``vec`` and ``vector_keys``) a
    number of rows other than :math:`|V|` (:math:`|E|` for ``edge_attr``), NaN or
    infinite values, or an unusable dtype (complex features; ``pos`` and vectors must
    be floating, or complex with ``complex_pos``); a graph larger than ``max_nodes``,
    feature widths that do not match the model (``node_channels``,
    ``edge_channels``, ``pos_dim`` for the last dimension of ``pos`` and vectors), and
    a missing ``pos`` when ``require_pos`` is set or a vector attribute named in
    ``vector_keys`` that the data lacks. A missing ``edge_index`` is an error unless
    ``require_edges`` is :obj:`False` (point clouds read by models without edges).

    Valid: single nodes, isolated nodes, duplicate edges and self-loops (every method
    accepts them), integer or boolean ``x`` and ``edge_attr`` (models cast them).
    The shape and dtype checks run on the host; the value checks (finiteness,
    index ranges, the ``batch`` layout) are vectorised and read back from the device
    together, once; only a failing batch is examined again for the message. Inside
    :func:`checked_input` all checks are skipped.
    """
    if input_is_checked():
        return
    args = (data, max_nodes, require_pos, node_channels, edge_channels, pos_dim,
            tuple(vector_keys), complex_pos, require_edges)
    edge_index = getattr(data, 'edge_index', None) if isinstance(data, Data) else None
    if not isinstance(edge_index, Tensor) or (edge_index.device.type == 'cpu'
                                              and not _DEFER_ON_CPU):
        _validate(*args, defer=None)     # reading a CPU value costs no synchronisation
        return
    flags: List[Tensor] = []
    _validate(*args, defer=flags)
    if flags and not bool(torch.stack([f.to(flags[0].device) for f in flags]).all()):
        _validate(*args, defer=None)     # raises the error that names the problem


def _validate(data, max_nodes, require_pos, node_channels, edge_channels, pos_dim,
              vector_keys, complex_pos, require_edges,
              defer: Optional[List[Tensor]]) -> None:
    if not isinstance(data, Data):
        raise GraphInputError(f'Expected a torch_geometric Data or Batch object '
                              f'(got {type(data).__name__})')
    num_nodes = node_count(data)
    if num_nodes == 0:
        raise GraphInputError('The graph batch is empty (no nodes)')

    batch = getattr(data, 'batch', None)
    if batch is not None:
        if not isinstance(batch, Tensor) or batch.dim() != 1:
            raise GraphInputError("'batch' must be a 1-D tensor with one graph index "
                                  "per node")
        if batch.dtype != torch.long:
            raise GraphInputError(f"'batch' must be of dtype torch.long "
                                  f"(got {batch.dtype})")

    x = getattr(data, 'x', None)
    if x is not None:
        check_node_tensor('x', x, num_nodes, defer=defer)
    if node_channels is not None and node_channels > 0:
        if x is None:
            raise GraphInputError(f"The model expects node features with "
                                  f"{node_channels} channels, the data has no 'x'")
        width = 1 if x.dim() == 1 else x.size(-1)
        if width != node_channels:
            raise GraphInputError(f'The model expects {node_channels} node feature '
                                  f'channels, x has {width}')
    pos = getattr(data, 'pos', None)
    if pos is None:
        if require_pos:
            raise GraphInputError("This model acts on positions but the data has no "
                                  "'pos'")
    else:
        check_node_tensor('pos', pos, num_nodes, floating=True, width=pos_dim, dims=(2,),
                          complex_ok=complex_pos, defer=defer)
        if complex_pos and not pos.is_complex():
            raise GraphInputError(f"This model needs complex 'pos' (got {pos.dtype})")
    width = pos.size(-1) if pos is not None else pos_dim
    for key in dict.fromkeys(tuple(VECTOR_KEYS) + tuple(vector_keys)):
        value = getattr(data, key, None)
        if value is None:
            if key in vector_keys:
                raise GraphInputError(f"The model reads the vector attribute '{key}', "
                                      f"which the data does not have")
            continue
        if not isinstance(value, Tensor):
            continue
        if width is not None and value.dim() in (2, 3) and value.size(-1) != width:
            where = "'pos' has" if pos is not None else 'the model reads'
            raise GraphInputError(f"'{key}' has vectors of dimension {value.size(-1)} "
                                  f"but {where} dimension {width} (shape "
                                  f"{tuple(value.shape)})")
        check_node_tensor(key, value, num_nodes, floating=True, dims=(2, 3),
                          complex_ok=complex_pos, defer=defer)

    edge_index = getattr(data, 'edge_index', None)
    if edge_index is None and not require_edges:
        edge_index = torch.zeros(2, 0, dtype=torch.long)
    edge_index = check_edge_index(edge_index, num_nodes, defer)
    edge_attr = getattr(data, 'edge_attr', None)
    if edge_attr is not None:
        check_node_tensor('edge_attr', edge_attr, edge_index.size(1), what='edges',
                          defer=defer)
    if edge_channels is not None and edge_channels > 0:
        if edge_attr is None:
            raise GraphInputError(f"The model expects edge features with "
                                  f"{edge_channels} channels, the data has no "
                                  f"'edge_attr'")
        width = 1 if edge_attr.dim() == 1 else edge_attr.size(-1)
        if width != edge_channels:
            raise GraphInputError(f'The model expects {edge_channels} edge feature '
                                  f'channels, edge_attr has {width}')

    if batch is not None:
        if batch.numel() != num_nodes:
            raise GraphInputError(f"'batch' has {batch.numel()} entries for "
                                  f"{num_nodes} nodes")
        _check_batch(batch, getattr(data, 'num_graphs', None), edge_index, max_nodes,
                     defer)
    elif max_nodes is not None and num_nodes > max_nodes:
        raise GraphInputError(f"A graph with {num_nodes} nodes exceeds the model's "
                              f"limit of {max_nodes} nodes ('max_nodes')")


def _check_batch(batch: Tensor, num_graphs, edge_index: Tensor, max_nodes: Optional[int],
                 defer: Optional[List[Tensor]]):
    r"""The ``batch`` vector: sorted, graph indices in :math:`[0, B)`, no empty graph,
    no edge between graphs, no graph above ``max_nodes``."""
    def fail(message):
        def raise_():
            raise GraphInputError(message() if callable(message) else message)
        return raise_

    if batch.numel() > 1:
        _require(defer, (batch[1:] >= batch[:-1]).all(),
                 fail("'batch' must be sorted (nodes grouped by graph, as PyG's Batch "
                      "builds it)"))
    _require(defer, batch[0] >= 0, fail("'batch' holds a negative graph index"))
    B = num_graphs if isinstance(num_graphs, int) else int(batch[-1]) + 1
    _require(defer, batch[-1] < B,
             fail(lambda: f"'batch' refers to {int(batch[-1]) + 1} graphs but the batch "
                          f"has num_graphs={B}"))
    counts = torch.zeros(max(B, 1), dtype=torch.long, device=batch.device)
    counts.index_add_(0, batch.clamp(0, max(B, 1) - 1), torch.ones_like(batch))

    def empty():
        missing = (counts[:B] == 0).nonzero().view(-1)
        return (f'Graph {int(missing[0])} of the batch has no nodes ({missing.numel()} '
                f'empty graphs in all)')
    _require(defer, (counts[:B] > 0).all(), fail(empty))
    if edge_index.numel() > 0:
        ends = edge_index.clamp(0, batch.numel() - 1)
        _require(defer, (batch[ends[0]] == batch[ends[1]]).all(),
                 fail("'edge_index' connects nodes of different graphs"))
    if max_nodes is not None:
        _require(defer, counts.max() <= max_nodes,
                 fail(lambda: f"A graph with {int(counts.max())} nodes exceeds the "
                              f"model's limit of {max_nodes} nodes ('max_nodes')"))
