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


pytest.importorskip('lightning')


def _molecules(num, seed=0):
    import torch
    from torch_geometric.data import Data
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        n = int(torch.randint(3, 8, (1,), generator=gen))
        x = torch.randn(n, 3, generator=gen)
        src = torch.arange(n - 1)
        edge_index = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
        out.append(Data(x=x, edge_index=edge_index, y=x[:, :1].sum().view(1, 1)))
    return out


def _mpnn():
    from lps_geometric.nn import MPNN
    return MPNN(3, 1, hidden_channels=8, num_layers=2, level='graph')


def _run(tmp_path, name, **kwargs):
    import torch
    from lps_geometric.training import Task, TrainConfig, train
    data = _molecules(48)
    idx = torch.arange(48)
    split = dict(train=idx[:32], valid=idx[32:40], test=idx[40:])
    task = Task('regression').standardize(torch.cat([data[i].y for i in split['train']]))
    base = dict(epochs=3, batch_size=8, eval_batch_size=16, accelerator='cpu', devices=1,
                precision='32-true', out_dir=str(tmp_path / name), progress=False, seed=1,
                relax='linear', relax_start=0.5, relax_end=2)
    base.update(kwargs)
    return train(TrainConfig(**base), _mpnn, data, split, task)


def test_training_follows_the_schedule_and_selects_an_equivariant_epoch(tmp_path):
    import csv
    import torch
    result = _run(tmp_path, 'relaxed')
    rows = list(csv.DictReader(open(tmp_path / 'relaxed' / 'logs' / 'metrics.csv')))
    assert [float(r['relax_coefficient']) for r in rows] == [0.25, 0.0, 0.0]
    assert result['best_epoch'] in (2, 3)            # epoch 1 had a positive coefficient
    best = torch.load(tmp_path / 'relaxed' / 'checkpoints' / 'best.pt', weights_only=True)
    states = [v for k, v in best.items() if k.endswith('_extra_state')]
    assert states and all(s['coefficient'] == 0.0 for s in states)


def test_a_relaxed_run_resumes_mid_schedule_exactly(tmp_path):
    import torch
    full = _run(tmp_path, 'full')
    stopped = _run(tmp_path, 'resumed', stop_after_steps=3)   # mid epoch 1 of 4 steps
    assert stopped['stopped']
    resumed = _run(tmp_path, 'resumed')
    assert resumed['test'] == full['test'] and resumed['valid'] == full['valid']
    a = torch.load(tmp_path / 'full' / 'checkpoints' / 'last.ckpt', weights_only=True)
    b = torch.load(tmp_path / 'resumed' / 'checkpoints' / 'last.ckpt', weights_only=True)
    for key, value in a['model'].items():
        assert (torch.equal(value, b['model'][key]) if torch.is_tensor(value)
                else value == b['model'][key]), key


def test_relaxation_settings_are_checked():
    from lps_geometric.training import TrainConfig
    with pytest.raises(ValueError, match="'relax'"):
        TrainConfig(relax='step')
    with pytest.raises(ValueError, match="'relax_end'"):
        TrainConfig(epochs=3, relax='linear', relax_end=4)
    with pytest.raises(ValueError, match="'relax_start'"):
        TrainConfig(relax='linear', relax_start=-1.0)


def test_the_equivariance_penalty_trains_and_resumes_exactly(tmp_path):
    import torch
    plain = _run(tmp_path, 'plain')
    full = _run(tmp_path, 'full', relax_penalty=0.5)
    assert full['valid'] != plain['valid']              # the penalty changes training
    _run(tmp_path, 'resumed', relax_penalty=0.5, stop_after_steps=3)
    resumed = _run(tmp_path, 'resumed', relax_penalty=0.5)
    assert resumed['test'] == full['test'] and resumed['valid'] == full['valid']
    with pytest.raises(ValueError):
        _run(tmp_path, 'bad', relax_penalty=0.5, relax_group='G_2')
    with pytest.raises(ValueError, match="'relax_penalty'"):
        _run(tmp_path, 'negative', relax_penalty=-1.0)


def test_a_relaxed_run_logs_its_equivariance_error_closing(tmp_path):
    import csv
    _run(tmp_path, 'logged', relax_end=2)
    rows = list(csv.DictReader(open(tmp_path / 'logged' / 'logs' / 'metrics.csv')))
    errors = [float(r['val_equivariance_error']) for r in rows]
    assert errors[0] > 1e-4                  # coefficient 0.25 after epoch 1
    assert errors[1] < 1e-5 and errors[2] < 1e-5   # zero from epoch 2: exact again
    assert errors[0] > 100 * max(errors[1:])


def _lps():
    from lps_geometric.nn import Symmetrize
    from lps_geometric.testing import OrderedMLP
    return Symmetrize.from_method(OrderedMLP(3, 1, max_nodes=8, keys=('x',)), 'lps', 'S_n',
                                  in_channels=3, num_samples=2, eval_num_samples=2)


def test_a_stochastic_model_logs_its_error_with_the_noise_moved_along(tmp_path):
    import csv
    import torch
    from lps_geometric.training import Task, TrainConfig, train
    data = _molecules(48)
    idx = torch.arange(48)
    split = dict(train=idx[:32], valid=idx[32:40], test=idx[40:])
    task = Task('regression').standardize(torch.cat([data[i].y for i in split['train']]))
    config = TrainConfig(epochs=3, batch_size=8, eval_batch_size=16, accelerator='cpu',
                         devices=1, precision='32-true', out_dir=str(tmp_path / 'lps'),
                         progress=False, seed=1, relax='linear', relax_start=0.5,
                         relax_end=2)
    train(config, _lps, data, split, task)
    rows = list(csv.DictReader(open(tmp_path / 'lps' / 'logs' / 'metrics.csv')))
    errors = [float(r['val_equivariance_error']) for r in rows]
    # the relaxed Symmetrize (its backbone on the input order) is not equivariant; once
    # the coefficient is zero the sampled orders move with the nodes: rounding only
    assert errors[0] > 1e-3
    assert errors[1] < 1e-5 and errors[2] < 1e-5
