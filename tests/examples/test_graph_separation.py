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
