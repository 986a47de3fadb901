r"""What a backbone needs and supports, declared once instead of probed attribute by
attribute: :class:`BackboneCapabilities` and :func:`capabilities_of`."""
from dataclasses import dataclass, replace
from typing import Optional

from torch import nn

__all__ = ['BackboneCapabilities', 'capabilities_of']

_LEVELS = ('graph', 'node')


@dataclass(frozen=True)
class BackboneCapabilities:
    r"""A backbone's declaration, read by :class:`~lps_geometric.nn.Symmetrize` when it
    is built (to check every input batch once and to call the backbone right).

    Attributes:
        level (str): :obj:`"graph"` (one output row per graph, :math:`(B, C)`) or
            :obj:`"node"` (one per node, :math:`(|V|, C)`).
        max_nodes (int, optional): The largest graph the backbone accepts
            (:obj:`None`: no limit).
        in_channels (int, optional): The node feature width it reads (:obj:`None` or
            :obj:`0`: it reads no node features, or any width).
        edge_dim (int, optional): The edge feature width it reads (:obj:`None` or
            :obj:`0`: none).
        reads_band (bool): Its ``forward`` takes the relaxed permutation of a learned
            sampler as the keyword argument ``band`` (shape :math:`(|V|, 2w + 1)`, in
            the canonical node order), through which the sampler is trained by
            straight-through gradients.
    """
    level: str = 'graph'
    max_nodes: Optional[int] = None
    in_channels: Optional[int] = None
    edge_dim: Optional[int] = None
    reads_band: bool = False

    def __post_init__(self):
        if self.level not in _LEVELS:
            raise ValueError(f"'level' must be 'graph' or 'node' (got '{self.level}')")
        if self.max_nodes is not None and not (isinstance(self.max_nodes, int)
                                               and self.max_nodes > 0):
            raise ValueError(f"'max_nodes' must be a positive integer or None "
                             f"(got {self.max_nodes!r})")

    def with_changes(self, **changes) -> 'BackboneCapabilities':
        r"""A copy with some fields changed (for wrappers that change what their
        backbone reads)."""
        return replace(self, **changes)


def capabilities_of(backbone: nn.Module) -> BackboneCapabilities:
    r"""The declared :class:`BackboneCapabilities` of ``backbone`` (its
    ``capabilities`` attribute or property).

    Every backbone of this library declares them. A module that declares nothing (a
    user's own network) is described by the attributes such modules conventionally
    carry, ``level`` (:obj:`"graph"` or :obj:`"node"`), ``max_nodes`` (a positive
    integer), ``in_channels`` and ``edge_dim`` (non-negative integers), where present
    with such values; it does not receive ``band``.
    """
    declared = getattr(backbone, 'capabilities', None)
    if isinstance(declared, BackboneCapabilities):
        return declared
    if declared is not None:
        raise TypeError(f"{type(backbone).__name__}.capabilities must be a "
                        f"BackboneCapabilities (got {type(declared).__name__})")

    def count(name, minimum):
        value = getattr(backbone, name, None)
        return value if isinstance(value, int) and not isinstance(value, bool) \
            and value >= minimum else None

    level = getattr(backbone, 'level', None)
    return BackboneCapabilities(level=level if level in _LEVELS else 'graph',
                                max_nodes=count('max_nodes', 1),
                                in_channels=count('in_channels', 0),
                                edge_dim=count('edge_dim', 0))
