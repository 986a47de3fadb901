import pytest
import torch
from torch import nn

from lps_geometric.training import ExponentialMovingAverage


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_average_follows_the_closed_form():
    model = small_model()
    ema = ExponentialMovingAverage(model, decay=0.9, warmup=False)
    history = [[p.detach().clone() for p in model.parameters()]]
    for _ in range(5):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        history.append([p.detach().clone() for p in model.parameters()])
        ema.update(model)
    # avg_5 = 0.9^5 theta_0 + sum_t 0.1 * 0.9^(5 - t) theta_t
    for i, avg in enumerate(ema.shadow):
        expected = 0.9 ** 5 * history[0][i]
        for t in range(1, 6):
            expected = expected + 0.1 * 0.9 ** (5 - t) * history[t][i]
        assert torch.allclose(avg, expected, atol=1e-6)
    assert ema.num_updates == 5


def test_warmup_ramps_the_decay():
    model = small_model()
    ema = ExponentialMovingAverage(model, decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)        # (1 + 0) / (10 + 0)
    first = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    for avg, p0 in zip(ema.shadow, first):                   # 0.1 * old + 0.9 * new
        assert torch.allclose(avg, p0 + 0.9)
    ema.num_updates = 10 ** 6
    assert ema.current_decay() == 0.999


def test_applied_to_lends_the_average_and_restores():
    model = small_model().eval()
    ema = ExponentialMovingAverage(model, decay=0.5, warmup=False)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    own = [p.detach().clone() for p in model.parameters()]
    ema.update(model)
    x = torch.randn(5, 3)
    with ema.applied_to(model):
        for p, avg in zip(model.parameters(), ema.shadow):
            assert torch.equal(p, avg)
        inside = model(x)
    for p, saved in zip(model.parameters(), own):
        assert torch.equal(p, saved)
    assert not torch.allclose(inside, model(x))
    with pytest.raises(RuntimeError, match='boom'):         # restored on an exception too
        with ema.applied_to(model):
            raise RuntimeError('boom')
    for p, saved in zip(model.parameters(), own):
        assert torch.equal(p, saved)


def test_state_round_trip_and_bad_input():
    model = small_model()
    ema = ExponentialMovingAverage(model, decay=0.99)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    ema.update(model)
    other = ExponentialMovingAverage(small_model(), decay=0.5, warmup=False)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.99 and other.warmup and other.num_updates == 1
    for a, b in zip(ema.shadow, other.shadow):
        assert torch.equal(a, b)
    assert 'decay=0.99' in repr(ema) and 'updates=1' in repr(ema)
    with pytest.raises(ValueError, match='decay'):
        ExponentialMovingAverage(model, decay=1.0)
    with pytest.raises(ValueError, match='parameters'):
        ema.update(nn.Linear(3, 2))
    with pytest.raises(ValueError, match='other parameters'):
        ExponentialMovingAverage(nn.Linear(3, 2), 0.9).load_state_dict(ema.state_dict())


def test_updates_equal_a_per_tensor_lerp_bitwise_and_resume_exactly():
    model = small_model()
    ema = ExponentialMovingAverage(model, decay=0.99)
    reference = [p.detach().clone() for p in model.parameters()]
    gen = torch.Generator().manual_seed(1)
    resumed = None
    for step in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen))
        weight = 1.0 - min(0.99, (1.0 + step) / (10.0 + step))
        for avg, p in zip(reference, model.parameters()):
            avg.lerp_(p.detach(), weight)
        ema.update(model)
        if resumed is not None:
            resumed.update(model)
        if step == 10:         # a checkpoint: a fresh average loads the state
            resumed = ExponentialMovingAverage(small_model(), decay=0.5)
            resumed.load_state_dict(ema.state_dict())
    for avg, ref, again in zip(ema.shadow, reference, resumed.shadow):
        assert torch.equal(avg, ref) and torch.equal(again, ref)
    state = ema.state_dict()
    assert sorted(state) == ['decay', 'num_updates', 'shadow', 'warmup']
    assert list(state['shadow']) == [name for name, _ in model.named_parameters()]
    # buffers are not averaged: the model keeps its own batch-norm statistics
    running = model[1].running_mean.clone()
    with ema.applied_to(model):
        assert torch.equal(model[1].running_mean, running)


def test_a_model_without_parameters_has_nothing_to_average():
    model = torch.nn.ReLU()
    ema = ExponentialMovingAverage(model, 0.9)
    ema.update(model)
    ema.update(model)
    assert ema.num_updates == 2
