import importlib.util
import json
from pathlib import Path

import torch

PATH = Path(__file__).resolve().parents[2] / 'examples' / 'graph_separation.py'


def load_example():
    spec = importlib.util.spec_from_file_location('graph_separation', PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_count_close_pairs_matches_brute_force():
    example = load_example()
    emb = torch.tensor([[0.0, 0.0], [0.0, 0.0005], [1.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    assert example.count_close_pairs(emb, 1e-3, chunk=2) == 2
    assert example.count_close_pairs(emb, 1.01, chunk=3) == 6


def test_csl_training_smoke(tmp_path):
    example = load_example()
    example.main(['--tasks', 'csl', '--epochs', '2', '--folds', '1', '--embed-dim', '16',
                  '--depth', '1', '--heads', '2', '--eval-every', '1', '--out',
                  str(tmp_path), '--root', str(tmp_path / 'data')])
    result = json.loads((tmp_path / 'results_lps_transformer.json').read_text())
    models = {r['model'] for r in result['results']}
    assert models == {'lps-transformer', 'gin'}
    for r in result['results']:
        assert 0.0 <= r['test_accuracy'] <= 1.0


def test_help_lists_tasks(capsys):
    example = load_example()
    try:
        example.parse_args(['--help'])
    except SystemExit:
        pass
    assert 'exp-classify' in capsys.readouterr().out


def test_csl_with_the_positional_gin_backbone_and_relabelled_graphs(tmp_path):
    example = load_example()
    example.main(['--tasks', 'csl', '--backbone', 'gin', '--epochs', '2', '--folds', '1',
                  '--embed-dim', '16', '--depth', '2', '--eval-every', '1',
                  '--no-baseline', '--out', str(tmp_path), '--root',
                  str(tmp_path / 'data')])
    result = json.loads((tmp_path / 'results_lps_gin.json').read_text())
    assert [r['model'] for r in result['results']] == ['lps-gin']


def test_relabelled_graphs_keep_labels_and_isomorphism_class():
    from lps_geometric.datasets import CSL
    example = load_example()
    dataset = CSL(seed=0)
    moved = example.relabelled(dataset, seed=3)
    assert len(moved) == len(dataset)
    changed = 0
    for a, b in zip(dataset, moved):
        assert torch.equal(a.y, b.y) and a.num_nodes == b.num_nodes
        assert a.num_edges == b.num_edges
        # same degree multiset, other node order
        deg_a = torch.bincount(a.edge_index[0], minlength=a.num_nodes)
        deg_b = torch.bincount(b.edge_index[0], minlength=b.num_nodes)
        assert torch.equal(deg_a.sort().values, deg_b.sort().values)
        changed += int(not torch.equal(a.edge_index, b.edge_index))
    assert changed > 0


def test_method_none_trains_the_backbone_alone(tmp_path):
    example = load_example()
    args = example.parse_args(['--method', 'none', '--backbone', 'gin'])
    model = example.build_symmetrized(args, 1, 10, 41)
    assert not isinstance(model, example.Symmetrize)
    example.main(['--tasks', 'csl', '--method', 'none', '--backbone', 'gin', '--epochs',
                  '1', '--folds', '1', '--embed-dim', '8', '--depth', '1',
                  '--no-baseline', '--out', str(tmp_path), '--root', str(tmp_path / 'd')])
    result = json.loads((tmp_path / 'results_none_gin.json').read_text())
    assert [r['model'] for r in result['results']] == ['none-gin']
