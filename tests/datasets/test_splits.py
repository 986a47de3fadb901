r"""Stratified k-fold indices (:mod:`lps_geometric.datasets.splits`): disjoint test
folds that cover every example, classes spread evenly, repeatable for a seed."""
import numpy as np
import pytest
import torch

from lps_geometric.datasets import CSL, stratified_kfold


@pytest.fixture(scope='module')
def dataset():
    return CSL()


def _check_folds(y, folds, num_folds):
    y = torch.as_tensor(y)
    assert len(folds) == num_folds
    tests = [test for _, test in folds]
    assert torch.equal(torch.sort(torch.cat(tests)).values, torch.arange(y.numel()))
    for train, test in folds:
        assert train.dtype == torch.long and test.dtype == torch.long
        assert torch.equal(train, train.sort().values) and torch.equal(test, test.sort().values)
        assert torch.equal(torch.sort(torch.cat([train, test])).values, torch.arange(y.numel()))
        assert not set(train.tolist()) & set(test.tolist())
    sizes = torch.tensor([t.numel() for t in tests])
    assert sizes.max() - sizes.min() <= 1
    for label in y.unique():
        per_fold = torch.tensor([int((y[t] == label).sum()) for t in tests])
        assert per_fold.max() - per_fold.min() <= 1


def test_stratified_kfold_csl(dataset):
    y = dataset._data.y
    folds = stratified_kfold(y, num_folds=5, seed=0)
    _check_folds(y, folds, 5)
    for _, test in folds:
        assert torch.equal(torch.bincount(y[test], minlength=10), torch.full((10, ), 3))
    again = stratified_kfold(y, num_folds=5, seed=0)
    other = stratified_kfold(y, num_folds=5, seed=1)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(folds, again))
    assert any(not torch.equal(a[1], b[1]) for a, b in zip(folds, other))


def test_stratified_kfold_uneven():
    y = [0] * 7 + [1] * 3 + [2] * 11 + [5] * 2
    for num_folds in (2, 3, 4, 7):
        _check_folds(y, stratified_kfold(y, num_folds=num_folds, seed=4), num_folds)
    y_column = torch.tensor(y).view(-1, 1)
    assert all(torch.equal(a[1], b[1]) for a, b in
               zip(stratified_kfold(y_column, 3), stratified_kfold(y, 3)))


def test_stratified_kfold_errors():
    with pytest.raises(ValueError):
        stratified_kfold([0, 1, 0], num_folds=1)
    with pytest.raises(ValueError):
        stratified_kfold([0, 1, 0], num_folds=4)
    with pytest.raises(ValueError):
        stratified_kfold(torch.zeros(3, 2), num_folds=2)


def test_stratified_kfold_reads_lists_arrays_and_tensors_alike():
    y = [3, 1, 1, 0, 3, 3, 0, 1, 2, 2]
    want = stratified_kfold(torch.tensor(y), num_folds=3, seed=5)
    for labels in (y, np.array(y), torch.tensor(y).view(-1, 1)):
        got = stratified_kfold(labels, num_folds=3, seed=5)
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
                   for a, b in zip(got, want))


def test_stratified_kfold_single_class_deals_round_robin():
    folds = stratified_kfold([4] * 9, num_folds=3, seed=0)
    _check_folds([4] * 9, folds, 3)
    assert [test.numel() for _, test in folds] == [3, 3, 3]
