r"""Losses and metrics of graph property prediction: regression (RMSE, MAE) and binary
classification (ROC-AUC, average precision, accuracy), one or several tasks with missing
labels (NaN), through OGB's evaluator when the dataset has one."""
import math
from typing import Callable, Dict, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from lps_geometric.utils.validation import check_positive_int

__all__ = ['Task', 'roc_auc', 'average_precision', 'multitask_metric', 'METRICS']


# The binary metrics stay hand-written (measured against torchmetrics 1.9): its
# ``binary_auroc`` and ``binary_average_precision`` return float32 (5e-8 from sklearn's
# and OGB's float64 values, which these match to rounding), apply a sigmoid to scores
# outside [0, 1] (logits 40 and 41 then tie: an AUROC of 0.75 for 1.0), count a task
# with one class as 0 rather than undefined, and at 1,000 examples take 1.6x (AUROC)
# and 2.6x (AP) as long; its accuracy takes 10x as long. RMSE and MAE are one reduction.
def roc_auc(target: Tensor, score: Tensor) -> float:
    r"""ROC-AUC of one binary task by the rank statistic (ties get average ranks);
    :obj:`nan` if only one class is present."""
    target = target.view(-1).double()
    score = score.view(-1).double()
    pos, neg = int(target.sum()), int((1 - target).sum())
    if pos == 0 or neg == 0:
        return float('nan')
    order = torch.argsort(score)
    ranks = torch.empty_like(score)
    ranks[order] = torch.arange(1, score.numel() + 1, dtype=torch.float64)
    # average the ranks of tied scores
    uniq, inverse = torch.unique(score, return_inverse=True)
    sums = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(0, inverse, ranks)
    counts = torch.bincount(inverse, minlength=uniq.numel()).double()
    ranks = (sums / counts)[inverse]
    return float((ranks[target == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def average_precision(target: Tensor, score: Tensor) -> float:
    r"""Average precision of one binary task, :math:`\sum_k (R_k - R_{k-1}) P_k` over
    the distinct score thresholds (as :func:`sklearn.metrics.average_precision_score`);
    :obj:`nan` if only one class is present."""
    target = target.view(-1).double()
    score = score.view(-1).double()
    pos = int(target.sum())
    if pos == 0 or pos == target.numel():
        return float('nan')
    uniq, inverse = torch.unique(-score, return_inverse=True)   # descending thresholds
    tp = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(0, inverse, target)
    count = torch.bincount(inverse, minlength=uniq.numel()).double()
    tp, seen = tp.cumsum(0), count.cumsum(0)
    recall = tp / pos
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * tp / seen).sum())


def _rmse(y: Tensor, pred: Tensor) -> float:
    return float(((pred - y) ** 2).mean().sqrt())


def _mse(y: Tensor, pred: Tensor) -> float:
    return float(((pred - y) ** 2).mean())


def _mae(y: Tensor, pred: Tensor) -> float:
    return float((pred - y).abs().mean())


def _acc(y: Tensor, pred: Tensor) -> float:
    return float(((pred > 0).to(y.dtype) == y).double().mean())


METRICS: Dict[str, Callable[[Tensor, Tensor], float]] = {
    'rmse': _rmse, 'mse': _mse, 'mae': _mae, 'rocauc': roc_auc,
    'ap': average_precision, 'acc': _acc}
r"""The metrics of one task, :obj:`fn(target, prediction) -> float` (ROC-AUC and
average precision read the prediction as a score, accuracy as a logit)."""


def multitask_metric(metric: str, y: Tensor, pred: Tensor) -> float:
    r"""A metric averaged over tasks the way OGB's evaluator averages it: every column
    of :obj:`y` is one task, its missing labels (:obj:`nan`) are ignored, and tasks
    whose metric is undefined (no label, or one class only for :obj:`"rocauc"` and
    :obj:`"ap"`) are left out of the mean. :obj:`nan` if no task is defined.

    Args:
        metric (str): A key of :data:`METRICS`.
        y (torch.Tensor): Labels :math:`(N, T)`, :obj:`nan` where missing.
        pred (torch.Tensor): Predictions :math:`(N, T)`.
    """
    if metric not in METRICS:
        raise ValueError(f"Unknown metric '{metric}' (expected one of {sorted(METRICS)})")
    y = y.view(y.size(0), -1).double()
    pred = pred.reshape(y.shape).double()
    values = []
    for t in range(y.size(1)):
        labeled = ~torch.isnan(y[:, t])
        if labeled.any():
            value = METRICS[metric](y[labeled, t], pred[labeled, t])
            if not math.isnan(value):
                values.append(value)
    return sum(values) / len(values) if values else float('nan')


def _check_scale(name: str, value, positive: bool):
    values = torch.as_tensor(value, dtype=torch.float64)
    if not bool(torch.isfinite(values).all()) or (positive and bool((values <= 0).any())):
        raise ValueError(f"'{name}' must be {'positive and ' if positive else ''}finite "
                         f"(got {value})")


class Task:
    r"""What is learned and how it is scored.

    Labels are :obj:`y` of shape :math:`(N, T)`, one column per task; :obj:`nan` marks a
    missing label (as in OGB's multi-task datasets) and is left out of the loss and of
    the metric, which is averaged over tasks as OGB's evaluator averages it
    (:func:`multitask_metric`).

    Args:
        kind (str): :obj:`"regression"`, :obj:`"classification"` (binary, one logit
            per task) or :obj:`"multiclass"` (one logit per class, ``y`` the class
            index; cross-entropy, accuracy).
        metric (str, optional): :obj:`"rmse"`, :obj:`"mse"`, :obj:`"mae"`,
            :obj:`"rocauc"`, :obj:`"ap"` or :obj:`"acc"`. (default: :obj:`"rmse"` for
            regression, :obj:`"rocauc"` for classification, :obj:`"acc"` for multiclass)
        evaluator (optional): An :class:`ogb.graphproppred.Evaluator`; when its
            ``eval_metric`` is ``metric`` it computes the metric. A metric it cannot
            compute (no task with both classes) is :obj:`nan`. (default: :obj:`None`)
        target (int, optional): Column of ``y`` to learn (regression on one of several
            targets, e.g. a QM9 property). (default: all columns)
        loss (str, optional): :obj:`"mse"` or :obj:`"l1"` for regression.
            (default: :obj:`"mse"`)
        mean, std (float or torch.Tensor, optional): Standardisation of regression
            labels, one value or one per task: the model learns
            :math:`(y - \mu) / \sigma` and predictions are mapped back before scoring
            (see :meth:`standardize`). (default: :obj:`0.0`, :obj:`1.0`)
    """
    def __init__(self, kind: str, metric: Optional[str] = None, evaluator=None,
                 target: Optional[int] = None, loss: str = 'mse',
                 mean: Union[float, Tensor] = 0.0, std: Union[float, Tensor] = 1.0):
        if kind not in ('regression', 'classification', 'multiclass'):
            raise ValueError(f"'kind' must be 'regression', 'classification' or "
                             f"'multiclass' (got {kind})")
        if metric is not None and metric not in METRICS:
            raise ValueError(f"Unknown metric '{metric}' (expected one of "
                             f"{sorted(METRICS)})")
        if loss not in ('mse', 'l1'):
            raise ValueError(f"'loss' must be 'mse' or 'l1' (got {loss})")
        if target is not None:
            target = check_positive_int('target', target, minimum=0)
        _check_scale('mean', mean, positive=False)
        _check_scale('std', std, positive=True)
        self.kind = kind
        self.metric = metric or {'regression': 'rmse', 'classification': 'rocauc',
                                 'multiclass': 'acc'}[kind]
        self.evaluator = evaluator
        self.target = target
        self.loss_name = loss
        self.higher_is_better = self.metric in ('rocauc', 'ap', 'acc')
        self.mean, self.std = self._scalar_or_tensor(mean), self._scalar_or_tensor(std)

    @staticmethod
    def _scalar_or_tensor(value: Union[float, Tensor]) -> Union[float, Tensor]:
        if isinstance(value, Tensor) and value.numel() > 1:
            return value.detach().float().view(-1).cpu()
        return float(value)

    def standardize(self, y: Tensor) -> 'Task':
        r"""Sets ``mean``/``std`` from training labels ``y`` (regression only), per task,
        ignoring missing labels."""
        if self.kind == 'regression':
            y = self.labels(y)
            mean, std = torch.zeros(y.size(1)), torch.ones(y.size(1))
            for t in range(y.size(1)):
                column = y[:, t][~torch.isnan(y[:, t])]
                if column.numel() > 0:
                    mean[t] = column.mean()
                if column.numel() > 1:
                    std[t] = column.std().clamp_min(1e-12)
            self.mean, self.std = self._scalar_or_tensor(mean), \
                self._scalar_or_tensor(std)
        return self

    def _scale(self, like: Tensor):
        if isinstance(self.mean, Tensor) or isinstance(self.std, Tensor):
            return (torch.as_tensor(self.mean).to(like), torch.as_tensor(self.std).to(like))
        return self.mean, self.std

    def labels(self, y: Tensor) -> Tensor:
        r"""The learned columns of ``y`` as a float :math:`(N, T)` tensor."""
        if not isinstance(y, Tensor) or y.dim() == 0:
            got = 'a scalar' if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f'Labels must be a tensor with one row per example '
                             f'(got {got})')
        y = y.reshape(y.size(0), -1).float()
        if self.target is not None:
            if self.target >= y.size(1):
                raise ValueError(f'target={self.target} selects a column of labels with '
                                 f'{y.size(1)} columns')
            return y[:, self.target:self.target + 1]
        return y

    def _predictions(self, pred: Tensor, y: Tensor) -> Tensor:
        r"""``pred`` reshaped to the labels ``y`` :math:`(N, T)`, or a
        :class:`ValueError` if it has another number of rows or entries."""
        if not isinstance(pred, Tensor):
            raise ValueError(f'Predictions must be a tensor (got {type(pred).__name__})')
        if pred.dim() == 0 or pred.size(0) != y.size(0) or pred.numel() != y.numel():
            raise ValueError(f'Predictions of shape {tuple(pred.shape)} do not match the '
                             f'labels of shape {tuple(y.shape)} (one row per example, '
                             f'one column per task)')
        return pred.reshape(y.shape)

    def _classes(self, pred: Tensor, y: Tensor, check_values: bool) -> Tensor:
        r"""Class indices :math:`(N,)` for logits ``pred`` :math:`(N, C)`, checked."""
        if not isinstance(pred, Tensor) or pred.dim() != 2:
            raise ValueError(f'Multiclass predictions must have shape (N, classes) (got '
                             f'{tuple(pred.shape) if isinstance(pred, Tensor) else pred})')
        y = y.reshape(-1)
        if y.numel() != pred.size(0):
            raise ValueError(f'Predictions of shape {tuple(pred.shape)} do not match '
                             f'{y.numel()} labels')
        if check_values and y.numel() > 0:
            lo, hi = float(y.min()), float(y.max())
            if lo < 0 or hi >= pred.size(1) or bool((y != y.round()).any()):
                bad = lo if lo < 0 else hi
                raise ValueError(f'Multiclass labels must be class indices in [0, '
                                 f'{pred.size(1)}) (got class {bad:g})')
        return y.long()

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        r"""The training loss of predictions ``pred`` for labels ``y``. Shapes are
        checked without a device synchronisation (class indices too, on the CPU);
        :meth:`check_labels` checks a dataset's labels once."""
        if self.kind == 'multiclass':
            classes = self._classes(pred, y, check_values=y.device.type == 'cpu')
            return F.cross_entropy(pred, classes)
        y = self.labels(y)
        pred = self._predictions(pred, y)
        if self.kind == 'regression':
            mean, std = self._scale(y)
            y = (y - mean) / std
        mask = ~torch.isnan(y)                 # missing labels are NaN
        if not bool(mask.any()):               # a batch without any label
            return pred.sum() * 0.0
        pred, y = pred[mask], y[mask]
        if self.kind == 'classification':
            return F.binary_cross_entropy_with_logits(pred, y)
        return F.l1_loss(pred, y) if self.loss_name == 'l1' else F.mse_loss(pred, y)

    def score(self, pred: Tensor, y: Tensor) -> Dict[str, float]:
        r"""The metric (and, for regression, also MAE) over a whole split; predictions
        must be finite."""
        if isinstance(pred, Tensor) and pred.is_floating_point() and \
                not bool(torch.isfinite(pred).all()):
            raise ValueError(f'The predictions contain NaN or infinite values '
                             f'({int((~torch.isfinite(pred)).sum())} of {pred.numel()})')
        if self.kind == 'multiclass':
            classes = self._classes(pred, y, check_values=True)
            return {'acc': float((pred.argmax(-1).cpu() == classes.cpu()).float().mean())}
        y = self.labels(y).cpu()
        pred = self._predictions(pred, y).float().cpu()
        if self.kind == 'regression':
            mean, std = self._scale(pred)
            pred = pred * std + mean
        if self.evaluator is not None and self.metric == self.evaluator.eval_metric:
            try:
                result = self.evaluator.eval({'y_true': y.numpy(), 'y_pred': pred.numpy()})
                out = {self.metric: float(result[self.metric])}
            except RuntimeError:               # e.g. no task with both classes
                out = {self.metric: float('nan')}
        else:
            out = {self.metric: multitask_metric(self.metric, y, pred)}
        if self.kind == 'regression' and 'mae' not in out:
            out['mae'] = multitask_metric('mae', y, pred)
        return out

    def check_labels(self, y: Tensor) -> 'Task':
        r"""Checks a dataset's labels once (a :class:`ValueError` naming the problem):
        finite or :obj:`nan` (missing) values, :obj:`0`/:obj:`1` for binary
        classification, class indices :math:`\ge 0` for multiclass, and a ``target``
        column that exists."""
        if self.kind == 'multiclass':
            y = y.reshape(-1)
            if y.numel() and (bool((y < 0).any()) or bool((y != y.round()).any())
                              or not bool(torch.isfinite(y.float()).all())):
                raise ValueError('Multiclass labels must be non-negative class indices')
            return self
        y = self.labels(y)
        known = y[~torch.isnan(y)]
        if not bool(torch.isfinite(known).all()):
            raise ValueError('The labels contain infinite values')
        if self.kind == 'classification' and bool(((known != 0) & (known != 1)).any()):
            raise ValueError('Binary classification labels must be 0, 1 or nan (missing)')
        return self

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.kind}, metric={self.metric}, '
                f'target={self.target})')
