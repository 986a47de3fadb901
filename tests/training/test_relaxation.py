r"""Relaxation schedules reach exactly zero at their end epoch."""
import math

import pytest

from lps_geometric.nn import EGNN, relax
from lps_geometric.nn.relaxation import relaxation_coefficient
from lps_geometric.training.relaxation import SCHEDULE_KINDS, RelaxationSchedule


@pytest.mark.parametrize('kind', SCHEDULE_KINDS)
def test_every_schedule_starts_decays_and_ends_at_exactly_zero(kind):
    schedule = RelaxationSchedule(kind, start=0.5, end_epoch=10)
    values = [schedule.value(t / 4) for t in range(0, 60)]
    assert values[0] == 0.5
    assert all(a >= b for a, b in zip(values, values[1:]))       # never increases
    assert schedule.value(10) == 0.0 and schedule.value(10.0001) == 0.0
    assert schedule.value(9.99) > 0.0
    assert schedule.value(-3) == 0.5


def test_schedule_shapes():
    assert RelaxationSchedule('linear', 2.0, 4).value(1) == 1.5
    assert math.isclose(RelaxationSchedule('cosine', 2.0, 4).value(2), 1.0)
    assert math.isclose(RelaxationSchedule('exponential', 1.0, 4, 0.01).value(2), 0.1)
    assert RelaxationSchedule('constant', 0.3, 4).value(3.9) == 0.3


def test_a_schedule_sets_the_model():
    model = relax(EGNN(1, 8, 1), coefficient=1.0)
    schedule = RelaxationSchedule('linear', 1.0, 2)
    assert schedule.apply(model, 1) == 0.5 and relaxation_coefficient(model) == 0.5
    schedule.apply(model, 2)
    assert relaxation_coefficient(model) == 0.0


@pytest.mark.parametrize('kwargs,match', [
    (dict(kind='step'), "'kind'"), (dict(start=-1.0), "'start'"),
    (dict(end_epoch=0), "'end_epoch'"), (dict(final_ratio=1.0), "'final_ratio'")])
def test_bad_schedules_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RelaxationSchedule(**kwargs)
