r"""Index splits for graph classification benchmarks."""
from typing import List, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ['stratified_kfold']


def stratified_kfold(
    y: Union[Tensor, np.ndarray, Sequence[int]],
    num_folds: int = 5,
    seed: int = 0,
) -> List[Tuple[Tensor, Tensor]]:
    r"""Stratified :math:`k`-fold cross-validation indices.

    The members of every class are shuffled (with a :class:`torch.Generator` seeded by
    :obj:`seed`) and dealt to the folds in turn, continuing where the previous class
    stopped. Hence every class is spread over the folds as evenly as possible (per-fold
    counts differ by at most one) and so are the fold sizes. The result only depends on
    :obj:`y`, :obj:`num_folds` and :obj:`seed`.

    Returns a list of :obj:`num_folds` pairs :obj:`(train_idx, test_idx)` of sorted
    :obj:`torch.long` tensors; the test folds are disjoint and cover all examples, and
    every :obj:`train_idx` is the complement of its :obj:`test_idx`.

    Args:
        y (torch.Tensor or array-like): Class label of every example, shape :obj:`[N]`
            (a trailing dimension of size one is accepted).
        num_folds (int, optional): Number of folds :math:`k \geq 2`. (default: :obj:`5`)
        seed (int, optional): Seed of the shuffle. (default: :obj:`0`)
    """
    y = torch.as_tensor(y)
    if y.dim() == 2 and y.size(1) == 1:
        y = y.view(-1)
    if y.dim() != 1:
        raise ValueError(f'Expected labels of shape [N], got {tuple(y.shape)}')
    num_examples = y.numel()
    if num_folds < 2:
        raise ValueError(f'num_folds must be at least 2, got {num_folds}')
    if num_folds > num_examples:
        raise ValueError(f'Cannot split {num_examples} examples into {num_folds} folds')

    generator = torch.Generator().manual_seed(seed)
    fold = torch.empty(num_examples, dtype=torch.long)
    offset = 0
    for label in torch.unique(y):  # sorted, so the order does not depend on y's order
        members = (y == label).nonzero().view(-1)
        members = members[torch.randperm(members.numel(), generator=generator)]
        fold[members] = (torch.arange(members.numel()) + offset) % num_folds
        offset += members.numel()

    splits = []
    for k in range(num_folds):
        test_mask = fold == k
        splits.append(((~test_mask).nonzero().view(-1), test_mask.nonzero().view(-1)))
    return splits
