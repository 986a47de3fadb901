r"""The benchmarks' data, task and model assembly, and a short training of a node task
through the engine."""
from dataclasses import replace

import pytest
import torch

from lps_geometric.datasets.sbm import CLUSTER_CONFIG, SBMCluster
from lps_geometric.training import TrainConfig, train
from lps_geometric.training.graph_benchmarks import (GRAPH_BENCHMARKS, CachedEncoding,
                                                     graph_benchmark_model,
                                                     load_graph_benchmark, max_nodes_of,
                                                     subset_split)
from lps_geometric.training.graph_models import GNNBaseline, SymmetrizedGraph
from tests.datasets.released_files import write_lrgb


@pytest.fixture
def small_cluster(monkeypatch):
    monkeypatch.setattr(SBMCluster, 'config', replace(CLUSTER_CONFIG, splits=(24, 8, 8)))


def test_the_benchmarks_tasks():
    kinds = {name: (b.level, b.task().kind, b.task().metric)
             for name, b in GRAPH_BENCHMARKS.items()}
    assert kinds == {
        'pattern': ('node', 'multiclass', 'weighted_acc'),
        'cluster': ('node', 'multiclass', 'weighted_acc'),
        'peptides-func': ('graph', 'classification', 'ap'),
        'peptides-struct': ('graph', 'regression', 'mae'),
        'pcqm-contact': ('node', 'link', 'mrr')}
    assert GRAPH_BENCHMARKS['pattern'].task().class_weight == 'balanced'
    assert GRAPH_BENCHMARKS['peptides-struct'].task().loss_name == 'l1'


def test_subset_split_is_seeded_and_sorted():
    split = dict(train=torch.arange(100), valid=torch.arange(100, 150),
                 test=torch.arange(150, 200))
    a = subset_split(split, max_train=10, max_eval=5)
    assert [len(a[k]) for k in ('train', 'valid', 'test')] == [10, 5, 5]
    assert torch.equal(a['train'], a['train'].sort()[0])
    assert torch.equal(a['train'], subset_split(split, 10, 5)['train'])
    assert set(a['valid'].tolist()) <= set(range(100, 150))
    assert subset_split(split)['train'].numel() == 100


def test_generated_benchmark_with_encoding(tmp_path, small_cluster):
    dataset, split, task, benchmark = load_graph_benchmark(
        'cluster', str(tmp_path), max_train=10, max_eval=4, pe='rwse', pe_dim=5)
    assert isinstance(dataset, CachedEncoding) and task.metric == 'weighted_acc'
    graph = dataset[int(split['train'][0])]
    assert graph.random_walk_pe.shape == (graph.num_nodes, 5)
    # cached: the same tensor the second time, the graph itself not kept
    again = dataset[int(split['train'][0])]
    assert again.random_walk_pe is graph.random_walk_pe
    assert len(dataset._cache) == 1
    assert max_nodes_of(dataset, split) == max(int(dataset.dataset[i].num_nodes)
                                               for i in range(len(dataset)))


def test_laplacian_encoding_of_small_graphs(tmp_path):
    write_lrgb(tmp_path, 'peptides-func', graphs_per_split=3)
    dataset, split, _, _ = load_graph_benchmark('peptides-func', str(tmp_path),
                                                pe='lappe', pe_dim=8)
    for i in range(len(dataset)):
        graph = dataset[i]
        pe = graph.laplacian_eigenvector_pe
        assert pe.shape == (graph.num_nodes, 8) and torch.isfinite(pe).all()


def test_lrgb_regression_is_standardized(tmp_path):
    write_lrgb(tmp_path, 'peptides-struct', graphs_per_split=6)
    _, _, task, _ = load_graph_benchmark('peptides-struct', str(tmp_path))
    assert isinstance(task.mean, torch.Tensor) and task.mean.numel() == 11


@pytest.mark.parametrize('kwargs,match', [
    (dict(name='zinc'), 'Unknown graph benchmark'),
    (dict(name='pattern', source='web'), 'source'),
    (dict(name='peptides-func', source='original'), 'released files'),
    (dict(name='pattern', pe='spe'), 'pe'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_graph_benchmark(root=str(tmp_path), **kwargs)


def test_models_by_name():
    pattern, contact = GRAPH_BENCHMARKS['pattern'], GRAPH_BENCHMARKS['pcqm-contact']
    gin = graph_benchmark_model(pattern, 'gin', 50, hidden=16)()
    assert isinstance(gin, GNNBaseline) and gin.conv == 'gin' and gin.level == 'node'
    lps = graph_benchmark_model(contact, 'lps', 50, backbone='gin', embed_dim=24)()
    assert isinstance(lps, SymmetrizedGraph) and lps.level == 'node'
    assert lps.edge_encoder is not None
    gps = graph_benchmark_model(contact, 'gps', 50, hidden=32)()
    assert gps.head.channel_list[-1] == 32     # link prediction: node embeddings


def test_training_a_node_task_through_the_engine(tmp_path, small_cluster):
    dataset, split, task, benchmark = load_graph_benchmark('cluster', str(tmp_path / 'd'))
    make = graph_benchmark_model(benchmark, 'lps', max_nodes_of(dataset, split),
                                 backbone='gin', embed_dim=16, depth=2, eval_samples=2)
    config = TrainConfig(epochs=3, batch_size=8, eval_batch_size=8, lr=3e-3,
                         out_dir=str(tmp_path / 'run'), progress=False,
                         accelerator='cpu', precision='32-true')
    result = train(config, make, dataset, split, task)
    assert result['metric'] == 'weighted_acc'
    assert set(result['test']) == {'acc', 'weighted_acc'}
    first = result['history']['train'][0][1]
    last = result['history']['train'][-1][1]
    assert last < first      # the weighted cross-entropy falls
