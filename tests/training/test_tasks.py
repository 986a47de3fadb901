import math

import pytest
import torch

from lps_geometric.training.tasks import (Task, average_precision, multitask_metric,
                                          roc_auc)

NAN = float('nan')


def labels_with_gaps(n: int = 40, tasks: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, tasks, generator=gen) > 0.5).float()
    y[torch.rand(n, tasks, generator=gen) < 0.3] = NAN
    score = torch.randn(n, tasks, generator=gen) + 0.8 * torch.nan_to_num(y)
    return y, score


def test_average_precision_matches_sklearn():
    sklearn = pytest.importorskip('sklearn.metrics')
    y, score = labels_with_gaps(60, 1)
    keep = ~torch.isnan(y[:, 0])
    y, score = y[keep, 0], score[keep, 0].round(decimals=1)       # with ties
    assert average_precision(y, score) == pytest.approx(
        sklearn.average_precision_score(y.numpy(), score.numpy()))
    assert math.isnan(average_precision(torch.ones(4), torch.rand(4)))


@pytest.mark.parametrize('metric,name', [('rocauc', 'ogbg-moltox21'),
                                         ('ap', 'ogbg-molpcba'),
                                         ('rmse', 'ogbg-molesol')])
def test_multitask_metrics_match_ogb_with_missing_labels(metric, name):
    ogb = pytest.importorskip('ogb.graphproppred')
    y, score = labels_with_gaps()
    if metric == 'rmse':
        y = torch.where(torch.isnan(y), y, y + torch.randn_like(y))
    evaluator = ogb.Evaluator(name)
    evaluator.num_tasks = y.size(1)
    expected = evaluator.eval({'y_true': y.numpy(), 'y_pred': score.numpy()})[metric]
    assert multitask_metric(metric, y, score) == pytest.approx(expected)
    task = Task('regression' if metric == 'rmse' else 'classification', metric=metric)
    assert task.score(score, y)[metric] == pytest.approx(expected)
    with_evaluator = Task(task.kind, metric=metric, evaluator=evaluator)
    assert with_evaluator.score(score, y)[metric] == pytest.approx(expected)


def test_undefined_tasks_are_left_out():
    y = torch.tensor([[1., NAN], [0., NAN], [1., 1.]])
    score = torch.tensor([[0.9, 0.1], [0.1, 0.2], [0.8, 0.3]])
    assert multitask_metric('rocauc', y, score) == 1.0        # task 2 has one class
    assert math.isnan(multitask_metric('rocauc', y[:, 1:], score[:, 1:]))
    assert math.isnan(Task('classification').score(score[:, 1:], y[:, 1:])['rocauc'])
    with pytest.raises(ValueError, match='Unknown metric'):
        multitask_metric('f1', y, score)
    assert roc_auc(torch.tensor([0, 1]), torch.tensor([0.2, 0.7])) == 1.0


def test_loss_masks_missing_labels_and_all_missing_batches():
    task = Task('classification')
    y = torch.tensor([[1., NAN], [NAN, 0.]])
    pred = torch.zeros(2, 2, requires_grad=True)
    loss = task.loss(pred, y)
    assert loss.item() == pytest.approx(math.log(2))
    loss.backward()
    assert pred.grad[0, 1] == 0 and pred.grad[1, 0] == 0 and pred.grad[0, 0] != 0
    empty = task.loss(pred, torch.full((2, 2), NAN))
    assert empty.item() == 0.0 and empty.requires_grad


def test_regression_is_standardised_per_task():
    y = torch.tensor([[1., 100.], [3., NAN], [NAN, 300.], [2., 200.]])
    task = Task('regression').standardize(y)
    assert task.mean.tolist() == pytest.approx([2., 200.])
    assert task.std.tolist() == pytest.approx([1., 100.])
    standard = (y - task.mean) / task.std
    perfect = task.score(torch.nan_to_num(standard), y)
    assert perfect['rmse'] == pytest.approx(0.0, abs=1e-5)
    assert perfect['mae'] == pytest.approx(0.0, abs=1e-5)
    assert task.loss(torch.nan_to_num(standard), y).item() == pytest.approx(0.0, abs=1e-8)
    single = Task('regression').standardize(torch.tensor([[1.], [3.]]))
    assert isinstance(single.mean, float) and single.mean == 2.0


def test_bad_arguments():
    with pytest.raises(ValueError, match='kind'):
        Task('ranking')
    with pytest.raises(ValueError, match='Unknown metric'):
        Task('regression', metric='r2')
    with pytest.raises(ValueError, match='loss'):
        Task('regression', loss='huber')
    assert Task('classification', metric='ap').higher_is_better


def test_roc_auc_matches_sklearn_and_keeps_large_logits_apart():
    sklearn = pytest.importorskip('sklearn.metrics')
    y, score = labels_with_gaps(80, 1, seed=3)
    keep = ~torch.isnan(y[:, 0])
    y, score = y[keep, 0], score[keep, 0].double()
    for s in (score, score.round(decimals=1), 30 * score):        # ties, saturating logits
        assert roc_auc(y, s) == pytest.approx(sklearn.roc_auc_score(y.numpy(), s.numpy()),
                                              rel=1e-14)
    # logits far out are ranked as they are (no sigmoid that would tie them)
    assert roc_auc(torch.tensor([0., 1., 0.]), torch.tensor([40., 41., -3.])) == 1.0
    assert math.isnan(roc_auc(torch.zeros(5), torch.rand(5)))


def test_multitask_rocauc_skips_single_class_and_missing_columns():
    sklearn = pytest.importorskip('sklearn.metrics')
    y, score = labels_with_gaps(50, 4, seed=5)
    y[:, 1] = torch.where(torch.isnan(y[:, 1]), y[:, 1], torch.ones_like(y[:, 1]))
    y[:, 3] = NAN
    expected = []
    for t in (0, 2):
        keep = ~torch.isnan(y[:, t])
        expected.append(sklearn.roc_auc_score(y[keep, t].numpy(), score[keep, t].numpy()))
    assert multitask_metric('rocauc', y, score) == pytest.approx(sum(expected) / 2,
                                                                 rel=1e-12)


def test_roc_auc_of_small_examples_with_ties():
    assert roc_auc(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert roc_auc(torch.tensor([0, 1, 1]), torch.tensor([0.5, 0.5, 0.9])) == 0.75
