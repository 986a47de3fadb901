r"""Losses and metrics of graph learning tasks: regression (RMSE, MAE) and binary
classification (ROC-AUC, average precision, accuracy), one or several tasks with missing
labels (NaN), through OGB's evaluator when the dataset has one; multiclass graph or node
classification (accuracy, the class-weighted accuracy of PATTERN/CLUSTER); and link
prediction within graphs (mean reciprocal rank, the original LRGB and the filtered
variants)."""
import math
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from lps_geometric.utils.validation import check_positive_int

__all__ = ['Task', 'roc_auc', 'average_precision', 'weighted_accuracy', 'link_ranks',
           'multitask_metric', 'METRICS', 'MRR_VARIANTS']


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


def weighted_accuracy(target: Tensor, pred: Tensor) -> float:
    r"""The class-weighted accuracy of "Benchmarking Graph Neural Networks" (PATTERN,
    CLUSTER): the recall of every class present in ``target`` (node labels
    :math:`(N,)`), averaged over those classes, i.e. the balanced accuracy
    :math:`\frac{1}{|C|} \sum_c |\{i : y_i = c = \hat y_i\}| / |\{i : y_i = c\}|`.
    ``pred`` holds logits :math:`(N, C)` or predicted classes :math:`(N,)`.

    Computed over the whole split. The benchmark's own scripts average it over
    evaluation batches of 128 graphs instead, which can differ in the third digit."""
    target = target.reshape(-1).long()
    if pred.dim() == 2:
        pred = pred.argmax(-1)
    pred = pred.reshape(-1).long()
    if target.numel() == 0:
        return float('nan')
    classes = int(max(int(target.max()), int(pred.max())) + 1)
    count = torch.bincount(target, minlength=classes).double()
    hit = torch.bincount(target[pred == target], minlength=classes).double()
    present = count > 0
    return float((hit[present] / count[present]).mean())


#: The mean-reciprocal-rank variants of link prediction within graphs, by the
#: candidates a positive pair :math:`(i, j)` is ranked against (all nodes :math:`k` of
#: the graph of :math:`i`, scores :math:`s_{ik}`): ``"mrr"`` every :math:`k \ne j`
#: (the original LRGB metric, also counting :math:`k = i` and the other true contacts
#: of :math:`i`); ``"mrr_filtered"`` without the other true contacts; and
#: ``"mrr_filtered_self"`` without them and without :math:`k = i` (the corrected metric
#: of Tönshoff et al., 2023).
MRR_VARIANTS = ('mrr', 'mrr_filtered', 'mrr_filtered_self')


def link_ranks(h: Tensor, data) -> Tuple[Tensor, Tensor]:
    r"""The reciprocal ranks of every positive labelled pair for the three
    :data:`MRR_VARIANTS`, with dot-product scores :math:`s_{ik} = h_i \cdot h_k`.

    A tie with the positive's score counts half (the mean of the optimistic and the
    pessimistic rank: :math:`1 + |\{k : s_{ik} > s_{ij}\}| + \frac12 |\{k \ne j :
    s_{ik} = s_{ij}\}|`), so symmetric atoms with equal embeddings are neither
    rewarded nor punished by the sort order. Memory is :math:`O(P \cdot n_{max})` for
    :math:`P` positives and the largest graph: no :math:`|V| \times |V|` matrix.

    Args:
        h (torch.Tensor): Node embeddings :math:`(|V|, D)` of a batch.
        data: The batch, with ``edge_label_index`` :math:`(2, L)` (pairs inside one
            graph), ``edge_label`` :math:`(L,)` (1: contact) and ``batch``.

    Returns:
        ``(reciprocal_ranks, weights)``: :math:`(P, 3)` and :math:`(P,)`, the weight of
        a positive being one over its graph's positives (so that summing weighted
        values averages per graph, then over graphs with a positive).
    """
    from torch_geometric.utils import to_dense_batch
    pairs, label = data.edge_label_index, data.edge_label.reshape(-1)
    batch = data.batch if getattr(data, 'batch', None) is not None else \
        torch.zeros(h.size(0), dtype=torch.long, device=h.device)
    dense, mask = to_dense_batch(h, batch)                # (B, n_max, D)
    sizes = torch.bincount(batch, minlength=dense.size(0))
    ptr = torch.cumsum(sizes, 0) - sizes
    positive = label > 0.5
    src, dst = pairs[0][positive], pairs[1][positive]
    graph = batch[src]
    scores = torch.einsum('pd,pnd->pn', h[src], dense[graph])   # (P, n_max)
    scores = scores.masked_fill(~mask[graph], float('-inf'))
    local_dst, local_src = dst - ptr[graph], src - ptr[graph]
    target = scores.gather(1, local_dst.view(-1, 1))
    column = torch.arange(scores.size(1), device=h.device).view(1, -1)
    candidate = mask[graph] & (column != local_dst.view(-1, 1))
    # the other true contacts of the same source node: pairs (src, k) labelled 1
    contacts = src * h.size(0) + dst
    contact = torch.isin(src.view(-1, 1) * h.size(0) + column + ptr[graph].view(-1, 1),
                         contacts)
    out = []
    for exclude_contacts, exclude_self in ((False, False), (True, False), (True, True)):
        keep = candidate
        if exclude_contacts:
            keep = keep & ~contact
        if exclude_self:
            keep = keep & (column != local_src.view(-1, 1))
        greater = ((scores > target) & keep).sum(1).double()
        equal = ((scores == target) & keep).sum(1).double()
        out.append(1.0 / (1.0 + greater + 0.5 * equal))
    count = torch.bincount(graph, minlength=dense.size(0)).double()
    return torch.stack(out, dim=1), 1.0 / count[graph]


METRICS: Dict[str, Callable[[Tensor, Tensor], float]] = {
    'rmse': _rmse, 'mse': _mse, 'mae': _mae, 'rocauc': roc_auc,
    'ap': average_precision, 'acc': _acc,
    'weighted_acc': weighted_accuracy}
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
            per task), :obj:`"multiclass"` (one logit per class, ``y`` the class
            index, of a graph or of every node; cross-entropy, accuracy) or
            :obj:`"link"` (the model returns node embeddings :math:`(|V|, D)`; the
            pairs ``edge_label_index`` with labels ``edge_label`` are scored by dot
            products: binary cross-entropy, mean reciprocal rank within each graph,
            see :func:`link_ranks`).
        metric (str, optional): :obj:`"rmse"`, :obj:`"mse"`, :obj:`"mae"`,
            :obj:`"rocauc"`, :obj:`"ap"`, :obj:`"acc"`, :obj:`"weighted_acc"`
            (multiclass: :func:`weighted_accuracy`) or one of :data:`MRR_VARIANTS`
            (link; all three are reported). (default: :obj:`"rmse"` for regression,
            :obj:`"rocauc"` for classification, :obj:`"acc"` for multiclass,
            :obj:`"mrr"` for link)
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
        class_weight (str, optional): Multiclass: :obj:`"balanced"` weighs the
            cross-entropy of class :math:`c` by :math:`(V - n_c) / V` for the
            :math:`n_c` of :math:`V` labels of class :math:`c` in the batch (the
            PATTERN/CLUSTER loss of the benchmark). (default: :obj:`None`)
    """
    def __init__(self, kind: str, metric: Optional[str] = None, evaluator=None,
                 target: Optional[int] = None, loss: str = 'mse',
                 mean: Union[float, Tensor] = 0.0, std: Union[float, Tensor] = 1.0,
                 class_weight: Optional[str] = None):
        if kind not in ('regression', 'classification', 'multiclass', 'link'):
            raise ValueError(f"'kind' must be 'regression', 'classification', "
                             f"'multiclass' or 'link' (got {kind})")
        if metric is not None and metric not in tuple(METRICS) + MRR_VARIANTS:
            raise ValueError(f"Unknown metric '{metric}' (expected one of "
                             f"{sorted(tuple(METRICS) + MRR_VARIANTS)})")
        allowed = {'multiclass': ('acc', 'weighted_acc'), 'link': MRR_VARIANTS}
        if metric is not None and kind in allowed and metric not in allowed[kind]:
            raise ValueError(f"The metric of {kind} tasks is one of {allowed[kind]} "
                             f"(got '{metric}')")
        if (metric in ('weighted_acc',) + MRR_VARIANTS) and kind not in allowed:
            raise ValueError(f"The metric '{metric}' is for "
                             f"{'multiclass' if metric == 'weighted_acc' else 'link'} "
                             f"tasks (got kind '{kind}')")
        if class_weight not in (None, 'balanced'):
            raise ValueError(f"'class_weight' must be None or 'balanced' (got "
                             f"{class_weight!r})")
        if class_weight is not None and kind != 'multiclass':
            raise ValueError("'class_weight' is for multiclass tasks")
        if loss not in ('mse', 'l1'):
            raise ValueError(f"'loss' must be 'mse' or 'l1' (got {loss})")
        if target is not None:
            target = check_positive_int('target', target, minimum=0)
        _check_scale('mean', mean, positive=False)
        _check_scale('std', std, positive=True)
        self.kind = kind
        self.metric = metric or {'regression': 'rmse', 'classification': 'rocauc',
                                 'multiclass': 'acc', 'link': 'mrr'}[kind]
        self.evaluator = evaluator
        self.target = target
        self.loss_name = loss
        self.class_weight = class_weight
        self.higher_is_better = self.metric in ('rocauc', 'ap', 'acc', 'weighted_acc') \
            + MRR_VARIANTS
        self.mean, self.std = self._scalar_or_tensor(mean), self._scalar_or_tensor(std)

    @property
    def label_key(self) -> str:
        r"""The attribute of a graph that holds its labels (``edge_label`` for link
        prediction, else ``y``)."""
        return 'edge_label' if self.kind == 'link' else 'y'

    def outputs(self, out: Tensor, data, scoring: bool = False) -> Tuple[Tensor, Tensor]:
        r"""``(predictions, labels)`` of a model's output ``out`` on a batch ``data``:
        ``(out, data.y)``, except for link prediction, where they are the dot-product
        logits of ``edge_label_index`` and ``edge_label`` (training), or with
        ``scoring=True`` the reciprocal ranks and per-graph weights of
        :func:`link_ranks` that :meth:`score` reads."""
        if self.kind != 'link':
            return out, data.y
        if getattr(data, 'edge_label_index', None) is None or \
                getattr(data, 'edge_label', None) is None:
            raise ValueError("Link prediction needs 'edge_label_index' and "
                             "'edge_label' on every graph")
        if not isinstance(out, Tensor) or out.dim() != 2 or out.size(0) != \
                data.num_nodes:
            raise ValueError(f'Link prediction needs node embeddings of shape '
                             f'({data.num_nodes}, D) (got '
                             f'{tuple(out.shape) if isinstance(out, Tensor) else out})')
        if scoring:
            return link_ranks(out.float(), data)
        src, dst = data.edge_label_index
        return (out[src] * out[dst]).sum(-1), data.edge_label.reshape(-1)

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
            weight = None
            if self.class_weight == 'balanced':     # the benchmark's per-batch weights
                count = torch.bincount(classes, minlength=pred.size(1)).to(pred.dtype)
                weight = (classes.numel() - count) / classes.numel() * (count > 0)
            return F.cross_entropy(pred, classes, weight=weight)
        if self.kind == 'link':
            return F.binary_cross_entropy_with_logits(pred.reshape(-1),
                                                      y.reshape(-1).to(pred.dtype))
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
            classes = self._classes(pred, y, check_values=True).cpu()
            pred = pred.cpu()
            out = {'acc': float((pred.argmax(-1) == classes).float().mean())}
            if self.metric == 'weighted_acc':
                out['weighted_acc'] = weighted_accuracy(classes, pred)
            return out
        if self.kind == 'link':       # pred: reciprocal ranks (P, 3), y: weights (P,)
            if not isinstance(pred, Tensor) or pred.dim() != 2 or \
                    pred.size(1) != len(MRR_VARIANTS) or y.numel() != pred.size(0):
                raise ValueError('Link scores are the reciprocal ranks and weights of '
                                 'Task.outputs(..., scoring=True)')
            weight = y.reshape(-1, 1).double().cpu()
            total = float(weight.sum())
            values = (pred.double().cpu() * weight).sum(0) / total if total > 0 else \
                torch.full((len(MRR_VARIANTS),), float('nan'))
            return {k: float(v) for k, v in zip(MRR_VARIANTS, values)}
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
        if self.kind == 'link':
            y = y.reshape(-1)
            if y.numel() and bool(((y != 0) & (y != 1)).any()):
                raise ValueError("Link labels 'edge_label' must be 0 or 1")
            return self
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
