r"""Losses and metrics of graph property prediction: regression (RMSE, MAE) and binary
classification (ROC-AUC, accuracy), through OGB's evaluator when the dataset has one."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['Task', 'roc_auc']


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


class Task:
    r"""What is learned and how it is scored.

    Args:
        kind (str): :obj:`"regression"`, :obj:`"classification"` (binary, one logit
            per task) or :obj:`"multiclass"` (one logit per class, ``y`` the class
            index; cross-entropy, accuracy).
        metric (str, optional): :obj:`"rmse"`, :obj:`"mse"`, :obj:`"mae"`,
            :obj:`"rocauc"` or :obj:`"acc"`. (default: RMSE for regression, ROC-AUC for classification)
        evaluator (optional): An :class:`ogb.graphproppred.Evaluator`; when given it
            computes ``metric`` (the issue's "OGB evaluator's metric").
        target (int, optional): Column of ``y`` to learn (regression on one of several
            targets, e.g. a QM9 property). (default: all columns)
        loss (str, optional): :obj:`"mse"` or :obj:`"l1"` for regression.
            (default: :obj:`"mse"`)
        mean, std (float, optional): Standardisation of regression labels: the model
            learns :math:`(y - \mu) / \sigma` and predictions are mapped back before
            scoring (see :meth:`standardize`). (default: none)
    """
    def __init__(self, kind: str, metric: Optional[str] = None, evaluator=None,
                 target: Optional[int] = None, loss: str = 'mse',
                 mean: float = 0.0, std: float = 1.0):
        if kind not in ('regression', 'classification', 'multiclass'):
            raise ValueError(f"'kind' must be 'regression', 'classification' or "
                             f"'multiclass' (got {kind})")
        self.kind = kind
        self.metric = metric or {'regression': 'rmse', 'classification': 'rocauc',
                                 'multiclass': 'acc'}[kind]
        self.evaluator = evaluator
        self.target = target
        self.loss_name = loss
        self.higher_is_better = self.metric in ('rocauc', 'acc')
        self.mean, self.std = float(mean), float(std)

    def standardize(self, y: Tensor) -> 'Task':
        r"""Sets ``mean``/``std`` from training labels ``y`` (regression only)."""
        if self.kind == 'regression':
            y = self.labels(y)
            y = y[~torch.isnan(y)]
            self.mean, self.std = float(y.mean()), float(y.std().clamp_min(1e-12))
        return self

    def labels(self, y: Tensor) -> Tensor:
        y = y.view(y.size(0), -1).float()
        return y[:, self.target:self.target + 1] if self.target is not None else y

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        if self.kind == 'multiclass':
            return F.cross_entropy(pred, y.view(-1).long())
        y = self.labels(y)
        mask = ~torch.isnan(y)                 # OGB marks missing labels with NaN
        pred, y = pred.view_as(y)[mask], y[mask]
        if self.kind == 'classification':
            return F.binary_cross_entropy_with_logits(pred, y)
        y = (y - self.mean) / self.std
        return F.l1_loss(pred, y) if self.loss_name == 'l1' else F.mse_loss(pred, y)

    def score(self, pred: Tensor, y: Tensor) -> Dict[str, float]:
        r"""The metric (and, for regression, also MAE) over a whole split."""
        if self.kind == 'multiclass':
            return {'acc': float((pred.argmax(-1).cpu() == y.view(-1).cpu()).float().mean())}
        y = self.labels(y).cpu()
        pred = pred.view_as(y).float().cpu()
        if self.kind == 'regression':
            pred = pred * self.std + self.mean
        if self.evaluator is not None and self.metric == self.evaluator.eval_metric:
            result = self.evaluator.eval({'y_true': y.numpy(), 'y_pred': pred.numpy()})
            out = {self.metric: float(result[self.metric])}
        elif self.metric == 'rmse':
            out = {'rmse': float(((pred - y) ** 2).mean().sqrt())}
        elif self.metric == 'mae':
            out = {'mae': float((pred - y).abs().mean())}
        elif self.metric == 'mse':
            out = {'mse': float(((pred - y) ** 2).mean())}
        elif self.metric == 'rocauc':
            out = {'rocauc': roc_auc(y, pred)}
        else:
            out = {'acc': float(((pred > 0).float() == y).float().mean())}
        if self.kind == 'regression' and 'mae' not in out:
            out['mae'] = float((pred - y).abs().mean())
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.kind}, metric={self.metric}, '
                f'target={self.target})')
