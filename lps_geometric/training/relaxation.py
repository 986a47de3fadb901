r"""Schedules of the relaxation coefficient: :math:`\alpha(t)` from a starting value to
exactly zero at a chosen epoch (constraint relaxation, Pertigkiozoglou et al., 2024)."""
import math
from dataclasses import dataclass

from torch import nn

from lps_geometric.nn.relaxation import set_relaxation
from lps_geometric.training.config import RELAX_SCHEDULES

__all__ = ['RelaxationSchedule', 'SCHEDULE_KINDS']

#: The shapes of :class:`RelaxationSchedule` (``TrainConfig.relax`` without ``"none"``).
SCHEDULE_KINDS = RELAX_SCHEDULES[1:]


@dataclass(frozen=True)
class RelaxationSchedule:
    r"""The coefficient :math:`\alpha(t)` at (fractional) epoch :math:`t`, for
    :math:`0 \le t < T` (``end_epoch``), and exactly :math:`0` from :math:`T` on:

    - :obj:`"constant"`: :math:`\alpha_0`;
    - :obj:`"linear"`: :math:`\alpha_0 (1 - t / T)`;
    - :obj:`"cosine"`: :math:`\alpha_0 \frac{1}{2} (1 + \cos(\pi t / T))`;
    - :obj:`"exponential"`: :math:`\alpha_0\, r^{t / T}` with the final ratio
      :math:`r` = ``final_ratio`` (then zero at :math:`T`).

    Args:
        kind (str): One of :data:`SCHEDULE_KINDS`.
        start (float): :math:`\alpha_0 \ge 0`.
        end_epoch (float): :math:`T > 0`.
        final_ratio (float, optional): :math:`r \in (0, 1)` of the exponential decay.
            (default: :obj:`0.01`)
    """
    kind: str = 'linear'
    start: float = 1.0
    end_epoch: float = 1.0
    final_ratio: float = 0.01

    def __post_init__(self):
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f"'kind' must be one of {SCHEDULE_KINDS} (got '{self.kind}')")
        if not (self.start >= 0 and math.isfinite(self.start)):
            raise ValueError(f"'start' must be a non-negative finite number (got "
                             f"{self.start!r})")
        if not (self.end_epoch > 0 and math.isfinite(self.end_epoch)):
            raise ValueError(f"'end_epoch' must be a positive finite number (got "
                             f"{self.end_epoch!r})")
        if not 0 < self.final_ratio < 1:
            raise ValueError(f"'final_ratio' must lie in (0, 1) (got "
                             f"{self.final_ratio!r})")

    def value(self, epoch: float) -> float:
        r""":math:`\alpha` at ``epoch`` (epochs before 0 read as 0)."""
        t = max(float(epoch), 0.0) / self.end_epoch
        if t >= 1.0:
            return 0.0
        if self.kind == 'constant':
            return self.start
        if self.kind == 'linear':
            return self.start * (1.0 - t)
        if self.kind == 'cosine':
            return self.start * 0.5 * (1.0 + math.cos(math.pi * t))
        return self.start * self.final_ratio ** t

    def apply(self, model: nn.Module, epoch: float) -> float:
        r"""Sets every relaxed layer of ``model`` to :meth:`value` of ``epoch``;
        returns the value."""
        alpha = self.value(epoch)
        set_relaxation(model, alpha)
        return alpha
