r"""The metrics and losses of the graph benchmarks: the class-weighted accuracy of
PATTERN/CLUSTER, multi-label AP, multi-target MAE, and link prediction with the three
MRR variants against a direct per-graph computation."""
import math

import pytest
import torch
from sklearn.metrics import balanced_accuracy_score
from torch_geometric.data import Batch, Data

from lps_geometric.training.tasks import (MRR_VARIANTS, Task, link_ranks,
                                          weighted_accuracy)


def test_weighted_accuracy_is_balanced_accuracy():
    gen = torch.Generator().manual_seed(0)
    for classes in (2, 6):
        y = torch.randint(classes, (500,), generator=gen)
        logits = torch.randn(500, classes, generator=gen) + 2 * torch.eye(classes)[y]
        expected = balanced_accuracy_score(y.numpy(), logits.argmax(1).numpy())
        assert math.isclose(weighted_accuracy(y, logits), expected, rel_tol=1e-12)
        assert math.isclose(weighted_accuracy(y, logits.argmax(1)), expected,
                            rel_tol=1e-12)


def test_weighted_accuracy_differs_from_accuracy_on_imbalanced_labels():
    y = torch.tensor([0] * 9 + [1])
    pred = torch.zeros(10, dtype=torch.long)     # always the majority class
    task = Task('multiclass', metric='weighted_acc')
    scores = task.score(torch.eye(2)[pred], y)
    assert scores['acc'] == pytest.approx(0.9) and scores['weighted_acc'] == 0.5
    assert task.higher_is_better


def test_balanced_class_weights_are_the_benchmarks():
    y = torch.tensor([0, 0, 0, 1, 2, 2])
    logits = torch.randn(6, 4)
    task = Task('multiclass', metric='weighted_acc', class_weight='balanced')
    count = torch.tensor([3.0, 1.0, 2.0, 0.0])
    weight = (6 - count) / 6 * (count > 0)
    expected = torch.nn.functional.cross_entropy(logits, y, weight=weight)
    assert torch.allclose(task.loss(logits, y), expected)


def _brute_force_mrr(h, graphs):
    r"""Per graph, per positive (i, j): rank against row i with ties counted half."""
    values = {k: [] for k in MRR_VARIANTS}
    start = 0
    for graph in graphs:
        n = graph.num_nodes
        hg = h[start:start + n]
        scores = hg @ hg.T
        pairs, label = graph.edge_label_index, graph.edge_label
        positives = [(int(a), int(b)) for (a, b), l in zip(pairs.T, label) if l == 1]
        if positives:
            per = {k: [] for k in MRR_VARIANTS}
            for i, j in positives:
                for variant in MRR_VARIANTS:
                    greater = equal = 0
                    for k in range(n):
                        if k == j:
                            continue
                        if variant != 'mrr' and (i, k) in positives:
                            continue
                        if variant == 'mrr_filtered_self' and k == i:
                            continue
                        if scores[i, k] > scores[i, j]:
                            greater += 1
                        elif scores[i, k] == scores[i, j]:
                            equal += 1
                    per[variant].append(1 / (1 + greater + equal / 2))
            for variant in MRR_VARIANTS:
                values[variant].append(sum(per[variant]) / len(per[variant]))
        start += n
    return {k: sum(v) / len(v) for k, v in values.items()}


def _link_graphs(seed=0, count=6, ties=False):
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for g in range(count):
        n = int(torch.randint(3, 9, (1,), generator=gen))
        pairs = torch.randint(n, (2, 7), generator=gen)
        pairs = pairs[:, pairs[0] != pairs[1]]
        label = torch.randint(2, (pairs.size(1),), generator=gen)
        if g == 0:
            label[:] = 0               # a graph without positives is left out
        graphs.append(Data(edge_index=torch.empty(2, 0, dtype=torch.long),
                           edge_label_index=pairs, edge_label=label, num_nodes=n))
    total = sum(g.num_nodes for g in graphs)
    if ties:      # integer embeddings: many equal scores
        h = torch.randint(0, 2, (total, 3), generator=gen).double()
    else:
        h = torch.randn(total, 4, generator=gen, dtype=torch.float64)
    return graphs, h


@pytest.mark.parametrize('ties', [False, True])
def test_link_ranks_match_the_per_graph_definition(ties):
    graphs, h = _link_graphs(ties=ties)
    batch = Batch.from_data_list(graphs)
    task = Task('link')
    rr, weight = task.outputs(h, batch, scoring=True)
    scores = task.score(rr, weight)
    expected = _brute_force_mrr(h, graphs)
    for variant in MRR_VARIANTS:
        assert scores[variant] == pytest.approx(expected[variant], rel=1e-6)
    # filtering only removes candidates: the ranks can only improve
    assert scores['mrr'] <= scores['mrr_filtered'] <= scores['mrr_filtered_self']


def test_link_scores_are_independent_of_batching():
    graphs, h = _link_graphs(seed=3, count=8)
    task = Task('link')
    whole = task.score(*task.outputs(h.float(), Batch.from_data_list(graphs),
                                     scoring=True))
    parts, start, values = [graphs[:3], graphs[3:]], 0, []
    rrs, weights = [], []
    for part in parts:
        n = sum(g.num_nodes for g in part)
        rr, w = task.outputs(h[start:start + n].float(), Batch.from_data_list(part),
                             scoring=True)
        rrs.append(rr)
        weights.append(w)
        start += n
    split = task.score(torch.cat(rrs), torch.cat(weights))
    assert split == pytest.approx(whole)


def test_link_loss_is_binary_cross_entropy_of_dot_products():
    graphs, h = _link_graphs(seed=1)
    batch = Batch.from_data_list(graphs)
    h = h.float().requires_grad_()
    task = Task('link')
    logits, y = task.outputs(h, batch)
    src, dst = batch.edge_label_index
    assert torch.allclose(logits, (h[src] * h[dst]).sum(-1))
    loss = task.loss(logits, y)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        (h[src] * h[dst]).sum(-1), batch.edge_label.float())
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.isfinite(h.grad).all()


def test_link_task_errors():
    task = Task('link')
    graph = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=3)
    with pytest.raises(ValueError, match='edge_label_index'):
        task.outputs(torch.zeros(3, 2), graph)
    graph.edge_label_index = torch.tensor([[0], [1]])
    graph.edge_label = torch.tensor([1])
    with pytest.raises(ValueError, match='node embeddings'):
        task.outputs(torch.zeros(2, 2), graph)
    with pytest.raises(ValueError, match='0 or 1'):
        task.check_labels(torch.tensor([0, 2]))
    assert task.label_key == 'edge_label' and Task('regression').label_key == 'y'


def test_link_ranks_use_no_dense_node_matrix():
    # 200 graphs of 30 nodes: the scores are (positives, 30), not (6000, 6000)
    graphs, _ = _link_graphs(seed=2, count=200)
    h = torch.randn(sum(g.num_nodes for g in graphs), 8)
    rr, weight = link_ranks(h, Batch.from_data_list(graphs))
    positives = sum(int(g.edge_label.sum()) for g in graphs)
    assert rr.shape == (positives, 3) and weight.shape == (positives,)


@pytest.mark.parametrize('kwargs,match', [
    (dict(kind='multiclass', metric='mrr'), 'multiclass tasks'),
    (dict(kind='link', metric='acc'), 'link tasks'),
    (dict(kind='regression', metric='weighted_acc'), 'multiclass'),
    (dict(kind='classification', metric='mrr_filtered'), 'link'),
    (dict(kind='multiclass', class_weight='inverse'), 'class_weight'),
    (dict(kind='regression', class_weight='balanced'), 'multiclass'),
    (dict(kind='node'), 'kind'),
])
def test_mismatched_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Task(**kwargs)


def test_multilabel_ap_and_multitarget_mae():
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    score = torch.tensor([[0.9, 0.2], [0.1, 0.8], [0.8, 0.3], [0.3, 0.1]])
    ap = Task('classification', metric='ap').score(score, y)['ap']
    from sklearn.metrics import average_precision_score
    expected = sum(average_precision_score(y[:, t], score[:, t]) for t in range(2)) / 2
    assert ap == pytest.approx(expected)
    target = torch.randn(5, 11)
    pred = target + 0.5
    assert Task('regression', metric='mae', loss='l1').score(pred, target)['mae'] == \
        pytest.approx(0.5)
