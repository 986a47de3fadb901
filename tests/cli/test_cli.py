import json

import pytest

pytest.importorskip('rdkit')
pytest.importorskip('lightning')

from lps_geometric.cli import build_parser, main  # noqa: E402
from tests.datasets.test_molecules import write_freesolv  # noqa: E402


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(['--help'])
    assert 'train' in capsys.readouterr().out


def test_train_resume_and_evaluate(tmp_path, capsys):
    write_freesolv(tmp_path / 'data', copies=3)
    common = ['train', '--dataset', 'freesolv', '--root', str(tmp_path / 'data'),
              '--epochs', '2', '--batch-size', '8', '--embed-dim', '16', '--depth', '1',
              '--heads', '2', '--eval-samples', '2', '--accelerator', 'cpu',
              '--precision', '32-true', '--out', str(tmp_path / 'runs'), '--no-progress']
    results = main(common + ['--model', 'lps', '--seeds', '0', '1'])
    assert len(results) == 2 and all('rmse' in r['test'] for r in results)
    summary = json.loads((tmp_path / 'runs' / 'freesolv-lps-summary.json').read_text())
    assert summary['metric'] == 'rmse' and len(summary['test']) == 2
    mlp = main(common + ['--model', 'fa', '--backbone', 'mlp', '--name', 'fa-mlp'])
    assert 'rmse' in mlp[0]['test']
    positional = main(common + ['--model', 'lps', '--backbone', 'gin', '--name', 'lps-gin'])
    assert 'rmse' in positional[0]['test']
    batch_norm = main(common + ['--model', 'lps', '--backbone', 'gin', '--gin-norm', 'batch',
                                '--name', 'lps-gin-bn'])
    assert 'rmse' in batch_norm[0]['test']
    # The strict load of best.pt (batch-norm running statistics) only succeeds if
    # evaluate rebuilds the model with the saved --gin-norm.
    rerun = main(['evaluate', '--run', str(tmp_path / 'runs' / 'lps-gin-bn-seed0')])
    assert 'rmse' in rerun
    gin = main(common + ['--model', 'gin', '--hidden', '16', '--layers', '2'])
    assert 'rmse' in gin[0]['test']
    metrics = main(['evaluate', '--run', str(tmp_path / 'runs' / 'freesolv-gin-seed0')])
    assert abs(metrics['rmse'] - gin[0]['test']['rmse']) < 1e-5


def test_train_from_a_vit_checkpoint(tmp_path, capsys):
    import torch
    from tests.nn.test_pretrained import vit_state_dict
    write_freesolv(tmp_path / 'data', copies=3)
    ckpt = tmp_path / 'vit.pth'
    torch.save(vit_state_dict(dim=16, depth=2), ckpt)
    main(['train', '--dataset', 'freesolv', '--root', str(tmp_path / 'data'), '--epochs',
          '1', '--batch-size', '8', '--embed-dim', '16', '--depth', '1', '--heads', '2',
          '--eval-samples', '2', '--accelerator', 'cpu', '--precision', '32-true',
          '--out', str(tmp_path / 'runs'), '--no-progress', '--model', 'mfa',
          '--vit-checkpoint', str(ckpt)])
    out = capsys.readouterr().out
    assert 'encoder.blocks.0' in out or 'blocks.0' in out


@pytest.mark.parametrize('model', ['lps', 'mfa', 'schnet'])
def test_train_qm9_from_raw_files(tmp_path, model):
    from tests.datasets.test_qm9 import METHANE, WATER, write_raw
    write_raw(tmp_path / 'data', [METHANE, WATER] * 10)   # 20 molecules: 16 / 2 / 2
    results = main(['train', '--dataset', 'qm9', '--root', str(tmp_path / 'data'),
                    '--target', 'gap', '--model', model, '--epochs', '1', '--batch-size',
                    '8', '--embed-dim', '16', '--depth', '1', '--heads', '2',
                    '--eval-samples', '2', '--hidden', '16', '--layers', '1',
                    '--accelerator', 'cpu', '--precision', '32-true', '--out',
                    str(tmp_path / 'runs'), '--no-progress'])
    assert results[0]['metric'] == 'mae' and results[0]['test']['mae'] >= 0


def test_bad_arguments_give_clear_errors(tmp_path):
    from tests.datasets.test_qm9 import METHANE, WATER, write_raw
    write_raw(tmp_path / 'data', [METHANE, WATER] * 10)
    base = ['train', '--dataset', 'qm9', '--root', str(tmp_path / 'data'), '--epochs', '1',
            '--accelerator', 'cpu', '--out', str(tmp_path / 'runs'), '--no-progress']
    with pytest.raises(SystemExit, match='schnet'):
        main(base + ['--model', 'gin'])           # GIN reads OGB features, not 3D atoms
    with pytest.raises(SystemExit, match='graph datasets'):
        main(base + ['--model', 'none'])
    with pytest.raises(ValueError, match="'ema' must be in"):
        main(base + ['--model', 'schnet', '--ema', '1.5'])
    write_freesolv(tmp_path / 'mols', copies=3)
    with pytest.raises(SystemExit, match='--backbone transformer'):
        main(['train', '--dataset', 'freesolv', '--root', str(tmp_path / 'mols'),
              '--model', 'mfa', '--backbone', 'mlp', '--vit-checkpoint',
              str(tmp_path / 'missing.pth'), '--epochs', '1', '--accelerator', 'cpu',
              '--out', str(tmp_path / 'runs'), '--no-progress'])
    with pytest.raises(SystemExit):
        main(['train', '--dataset', 'freesolv', '--model', 'magic'])


def test_categorical_encoder_checks_its_columns():
    import torch
    from lps_geometric.training import ATOM_FEATURE_DIMS, CategoricalEncoder
    encoder = CategoricalEncoder(ATOM_FEATURE_DIMS, 8)
    assert encoder(torch.zeros(3, 9, dtype=torch.long)).shape == (3, 8)
    with pytest.raises(ValueError, match='9 categorical columns'):
        encoder(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="'backbone'"):
        from lps_geometric.training import SymmetrizedMolecule
        SymmetrizedMolecule(1, backbone='cnn')


def test_gin_norm_choices_follow_positional_gin():
    # The CLI keeps its own list (it imports no model code before parsing).
    from lps_geometric import PositionalGIN
    from lps_geometric.cli import build_parser
    train = build_parser()._subparsers._group_actions[0].choices['train']
    action, = [a for a in train._actions if a.dest == 'gin_norm']
    assert tuple(action.choices) == PositionalGIN.NORMS
