import json

import pytest

pytest.importorskip('rdkit')
pytest.importorskip('lightning')

from lps_geometric.cli import CLIError, build_parser, entry_point, main  # noqa: E402
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
    with pytest.raises(CLIError, match='schnet'):
        main(base + ['--model', 'gin'])           # GIN reads OGB features, not 3D atoms
    with pytest.raises(CLIError, match='graph datasets'):
        main(base + ['--model', 'none'])
    with pytest.raises(SystemExit):
        main(base + ['--model', 'schnet', '--ema', '1.5'])
    write_freesolv(tmp_path / 'mols', copies=3)
    with pytest.raises(CLIError, match='--backbone transformer'):
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


# ---------------------------------------------------------------------------------------
# Robustness: option ranges, one-line errors, run folders, logs
def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in err, err
    return lines[0]


def test_help_is_fast_and_imports_nothing_heavy():
    import subprocess
    import sys
    import time
    code = ("import sys, lps_geometric, lps_geometric.cli as cli; "
            "cli.build_parser().format_help(); "
            "print(sorted({'torch', 'torch_geometric', 'lightning'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == '[]'
    for argv in (['--help'], ['train', '--help'], ['evaluate', '--help']):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, '-m', 'lps_geometric.cli', *argv],
                              capture_output=True, text=True)
        assert time.perf_counter() - start < 2.0
        assert done.returncode == 0 and 'usage: lps-geometric' in done.stdout


def test_console_errors_end_to_end(tmp_path):
    import subprocess
    import sys
    for argv, status, expected in (
            (['evaluate', '--run', str(tmp_path / 'nonexistent')], 1,
             f'lps-geometric evaluate: error: there is no run folder '
             f'{tmp_path / "nonexistent"}'),
            (['train', '--dataset', 'freesolv', '--epochs', '0'], 2,
             'lps-geometric train: error: argument --epochs: must be >= 1 (got 0)')):
        done = subprocess.run([sys.executable, '-m', 'lps_geometric.cli', *argv],
                              capture_output=True, text=True)
        assert done.returncode == status
        assert done.stderr.splitlines() == [expected] and done.stdout == ''


def test_package_face_is_lazy_but_complete():
    import lps_geometric
    assert set(lps_geometric.__all__) <= set(dir(lps_geometric))
    from lps_geometric import Symmetrize
    assert lps_geometric.nn.Symmetrize is Symmetrize
    assert all(getattr(lps_geometric, name) is not None for name in lps_geometric.__all__)
    with pytest.raises(AttributeError, match='no attribute'):
        lps_geometric.not_a_name


def test_every_option_has_help_and_its_default():
    import argparse
    parser = build_parser()
    sub, = [a for a in parser._actions if a.dest == 'command']
    for command, child in sub.choices.items():
        formatter = child._get_formatter()
        assert isinstance(formatter, argparse.ArgumentDefaultsHelpFormatter), command
        for action in child._actions:
            assert action.help, (command, action.option_strings)
            if action.default not in (None, argparse.SUPPRESS):
                assert '%(default)' in formatter._get_help_string(action), action.dest
    assert '(default: 100)' in sub.choices['train'].format_help()


BAD_VALUES = [
    (['--epochs', '0'], 'argument --epochs: must be >= 1 (got 0)'),
    (['--epochs', 'ten'], "argument --epochs: must be an integer (got 'ten')"),
    (['--batch-size', '0'], 'argument --batch-size: must be >= 1 (got 0)'),
    (['--eval-batch-size', '-4'], 'argument --eval-batch-size: must be >= 1 (got -4)'),
    (['--depth', '0'], 'argument --depth: must be >= 1 (got 0)'),
    (['--heads', '0'], 'argument --heads: must be >= 1 (got 0)'),
    (['--layers', '0'], 'argument --layers: must be >= 1 (got 0)'),
    (['--hidden', '0'], 'argument --hidden: must be >= 1 (got 0)'),
    (['--embed-dim', '30', '--heads', '4'],
     'argument --embed-dim: must be a multiple of --heads (got 30 and 4 heads)'),
    (['--eval-every', '0'], 'argument --eval-every: must be >= 1 (got 0)'),
    (['--samples', '0'], 'argument --samples: must be >= 1 (got 0)'),
    (['--eval-samples', '0'], 'argument --eval-samples: must be >= 1 (got 0)'),
    (['--lr', '0'], 'argument --lr: must be > 0 (got 0)'),
    (['--lr', 'inf'], 'argument --lr: must be a finite number (got inf)'),
    (['--lr', 'nan'], 'argument --lr: must be a finite number (got nan)'),
    (['--weight-decay', '-0.1'], 'argument --weight-decay: must be >= 0 (got -0.1)'),
    (['--warmup', '1'], 'argument --warmup: must be in [0, 1) (got 1)'),
    (['--clip', '-1'], 'argument --clip: must be >= 0 (got -1)'),
    (['--dropout', '1'], 'argument --dropout: must be in [0, 1) (got 1)'),
    (['--ema', '1.5'], 'argument --ema: must be in [0, 1) (got 1.5)'),
    (['--entropy-weight', '-1'], 'argument --entropy-weight: must be >= 0 (got -1)'),
    (['--checkpoint-every', '-1'], 'argument --checkpoint-every: must be >= 0 (got -1)'),
    (['--num-nodes', '0'], 'argument --num-nodes: must be >= 1 (got 0)'),
    (['--devices', '0'], "argument --devices: must be a number of devices >= 1, -1 "
                         "(all), 'auto' or device indices such as 0,1 (got '0')"),
    (['--max-molecules', '0'], 'argument --max-molecules: must be >= 1 (got 0)'),
    (['--seeds', '-1'], 'argument --seeds: must be in [0, 4294967295] (got -1)'),
    (['--seeds', '1', '1'], 'argument --seeds: each seed once (repeated: 1)'),
    (['--resume', '--overwrite'],
     'argument --overwrite: not allowed with argument --resume'),
]


@pytest.mark.parametrize('extra,message', BAD_VALUES, ids=[v[0][0] + ' ' + v[0][1]
                                                          for v in BAD_VALUES])
def test_bad_values_give_one_line_naming_the_option(capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        main(['train', '--dataset', 'freesolv'] + extra)
    assert exit_info.value.code == 2
    assert error_line(capsys) == f'lps-geometric train: error: {message}'


def test_valid_edge_values_are_accepted():
    args = build_parser().parse_args(
        ['train', '--dataset', 'x', '--warmup', '0', '--clip', '0', '--dropout', '0',
         '--ema', '0.999', '--checkpoint-every', '0', '--devices', 'auto', '--lr', '1e-5'])
    assert (args.warmup, args.clip, args.ema, args.devices) == (0.0, 0.0, 0.999, 'auto')
    for devices in ('2', '-1', '0,1'):
        assert build_parser().parse_args(['train', '--dataset', 'x', '--devices',
                                          devices]).devices == devices


def fake_run_folder(path, damage=None):
    from lps_geometric.training import TrainConfig
    (path / 'checkpoints').mkdir(parents=True)
    TrainConfig(out_dir=str(path), extra=dict(dataset='freesolv', model='gin')).save(
        path / 'config.json')
    best = path / 'checkpoints' / 'best.pt'
    best.write_bytes({'empty': b'', 'truncated': b'PK\x03\x04\x14\x00\x00\x08',
                      'garbage': b'not a checkpoint'}[damage])
    return path


def test_runtime_errors_are_one_line_without_traceback(tmp_path, capsys, monkeypatch):
    cases = [
        (['train', '--dataset', 'nonsense'],
         "unknown dataset 'nonsense': use freesolv, b3db, qm9, a graph benchmark (pattern, "
         "cluster, peptides-func, peptides-struct, pcqm-contact), an OGB molecule dataset "
         "(ogbg-molbace, "),
        (['train', '--dataset', str(tmp_path / 'mine.csv')], 'does not exist'),
        (['evaluate', '--run', str(tmp_path / 'nonexistent')],
         f'there is no run folder {tmp_path / "nonexistent"}'),
        (['evaluate', '--run', str(tmp_path)], 'config.json does not exist'),
    ]
    for damage in ('empty', 'truncated', 'garbage'):
        run = fake_run_folder(tmp_path / damage, damage)
        cases.append((['evaluate', '--run', str(run)],
                      'is empty (0 bytes)' if damage == 'empty' else
                      'is truncated or corrupted'))
    bad_config = fake_run_folder(tmp_path / 'bad-config', 'empty')
    (bad_config / 'config.json').write_text('{"epochs": 1,')
    cases.append((['evaluate', '--run', str(bad_config)], 'not a readable configuration'))
    for argv, expected in cases:
        assert entry_point(argv) == 1
        line = error_line(capsys)
        assert line.startswith(f'lps-geometric {argv[0]}: error: ') and expected in line, \
            line
    # --debug adds the traceback to the same line
    assert entry_point(['--debug', 'evaluate', '--run', str(tmp_path / 'nonexistent')]) == 1
    err = capsys.readouterr().err
    assert 'Traceback' in err and err.strip().splitlines()[-1].endswith('nonexistent')
    # Ctrl-C: one line, status 130

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr('lps_geometric.cli.run_evaluate', interrupted)
    assert entry_point(['evaluate', '--run', str(tmp_path)]) == 130
    assert error_line(capsys) == 'lps-geometric evaluate: interrupted'


def test_dataset_that_cannot_be_downloaded_is_one_line(tmp_path, capsys, monkeypatch):
    import urllib.error
    import urllib.request
    pytest.importorskip('ogb')

    def offline(*args, **kwargs):
        raise urllib.error.URLError('network is unreachable')
    monkeypatch.setattr(urllib.request, 'urlopen', offline)
    argv = ['train', '--dataset', 'ogbg-molhiv', '--root', str(tmp_path / 'data'),
            '--model', 'gin', '--out', str(tmp_path / 'runs'), '--no-progress']
    assert entry_point(argv) == 1
    line = error_line(capsys)
    assert line.startswith('lps-geometric train: error: ') and 'ogbg-molhiv' in line
    assert 'download' in line.lower() and 'network' in line


def tiny(tmp_path, *extra):
    return ['train', '--dataset', 'freesolv', '--root', str(tmp_path / 'data'), '--model',
            'gin', '--hidden', '8', '--layers', '1', '--batch-size', '8', '--accelerator',
            'cpu', '--precision', '32-true', '--out', str(tmp_path / 'runs'),
            '--no-progress', *extra]


def test_run_folders_are_resumed_refused_or_overwritten(tmp_path, capsys, monkeypatch):
    import csv
    from lps_geometric.training import engine
    write_freesolv(tmp_path / 'data', copies=3)
    folder = tmp_path / 'runs' / 'freesolv-gin-seed0'
    # an interrupted run (Ctrl-C during the second epoch's evaluation)
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)
    original = engine.evaluate
    monkeypatch.setattr(engine, 'evaluate', interrupted)
    assert entry_point(tiny(tmp_path, '--epochs', '2')) == 130
    assert capsys.readouterr().err.strip().endswith(
        'interrupted; run the same command to continue from the last checkpoint')
    monkeypatch.setattr(engine, 'evaluate', original)
    assert not (folder / 'results.json').exists()
    # another setting: refused, naming the option with its stored and new value
    assert entry_point(tiny(tmp_path, '--epochs', '3', '--hidden', '16')) == 1
    line = error_line(capsys)
    assert f'{folder} holds a run with other settings: --epochs 2 -> 3, --hidden 8 -> 16 ' \
        '(stored -> given); add --resume' in line
    # --resume restores the stored settings (default --epochs 100 does not count) ...
    short = ['train', '--dataset', 'freesolv', '--model', 'gin', '--root',
             str(tmp_path / 'data'), '--out', str(tmp_path / 'runs'), '--resume']
    assert entry_point(short + ['--hidden', '16']) == 1     # ... a given one must agree
    assert '--resume continues' in error_line(capsys)
    assert entry_point(short + ['--no-progress']) == 0
    out = capsys.readouterr().out
    assert 'resuming' in out and 'at epoch 2 of 2' in out and 'seed 0: test rmse' in out
    first = json.loads((folder / 'results.json').read_text())
    # the same command again: complete, shown, not trained again
    assert entry_point(tiny(tmp_path, '--epochs', '2')) == 0
    out = capsys.readouterr().out
    assert f'[complete in {folder}]' in out and 'resuming' not in out
    assert f"test rmse {first['test']['rmse']:.4f} (seed 0)" in out and '±' not in out
    assert json.loads((folder / 'results.json').read_text()) == first
    summary = json.loads((tmp_path / 'runs' / 'freesolv-gin-summary.json').read_text())
    assert summary['std'] is None and summary['config']['epochs'] == 2
    # --overwrite starts again with the new settings
    assert entry_point(tiny(tmp_path, '--epochs', '3', '--overwrite')) == 0
    assert json.loads((folder / 'config.json').read_text())['epochs'] == 3
    assert not list((folder / 'logs').glob('resumed_*'))
    with open(folder / 'logs' / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    steps, epochs = [int(r['step']) for r in rows], [int(r['epoch']) for r in rows]
    assert epochs == [1, 2, 3] and steps[0] > 1 and steps == [steps[0] * e for e in epochs]
    # two seeds: mean ± std; seed 0 is complete, seed 1 trains
    capsys.readouterr()
    assert entry_point(tiny(tmp_path, '--epochs', '3', '--seeds', '0', '1')) == 0
    out = capsys.readouterr().out
    assert '[complete in' in out and '(std over 2 seeds)' in out and ' ± ' in out
    # an unusable last.ckpt, a missing config.json: one line each
    (folder / 'results.json').unlink()
    ckpt = folder / 'checkpoints' / 'last.ckpt'
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    assert entry_point(tiny(tmp_path, '--epochs', '3')) == 1
    assert 'last.ckpt is truncated or corrupted' in error_line(capsys)
    (folder / 'config.json').unlink()
    assert entry_point(tiny(tmp_path, '--epochs', '3')) == 1
    assert 'holds a run without its config.json' in error_line(capsys)
    # the summary of other settings is refused too
    assert entry_point(tiny(tmp_path, '--epochs', '4', '--seeds', '5')) == 1
    assert 'summarises runs with other settings: --epochs 3 -> 4' in error_line(capsys)


def test_deterministic_is_a_stored_setting(tmp_path, capsys):
    import torch
    write_freesolv(tmp_path / 'data', copies=3)
    folder = tmp_path / 'runs' / 'freesolv-gin-seed0'
    assert entry_point(tiny(tmp_path, '--epochs', '1', '--deterministic')) == 0
    assert not torch.are_deterministic_algorithms_enabled()       # scoped to the run
    stored = json.loads((folder / 'config.json').read_text())
    assert stored['deterministic'] is True and stored['extra']['deterministic'] is True
    capsys.readouterr()
    # continuing the folder without the flag is refused, naming it
    assert entry_point(tiny(tmp_path, '--epochs', '2')) == 1
    assert f'{folder} holds a run with other settings: --epochs 1 -> 2, ' \
        '--deterministic True -> False (stored -> given)' in error_line(capsys)
    # --resume keeps the stored mode
    assert entry_point(tiny(tmp_path, '--resume', '--no-progress')) == 0
    assert json.loads((folder / 'config.json').read_text())['deterministic'] is True


def _molecules(qm9: bool, sizes=(4, 6, 5)):
    import torch
    from torch_geometric.data import Data
    return [Data(x=torch.randn(n, 11) if qm9 else torch.zeros(n, 9, dtype=torch.long),
                 y=torch.zeros(1, 2), pos=torch.randn(n, 3), num_nodes=n) for n in sizes]


class _NoTarget:
    target = None


def test_model_factory_gives_keyword_constructors(tmp_path):
    import functools
    import pickle

    from lps_geometric.cli import model_factory
    from lps_geometric.samplers import build_sampler
    from lps_geometric.training import models

    def factory(dataset, *options):
        args = build_parser().parse_args(
            ['train', '--dataset', dataset, '--embed-dim', '16', '--depth', '1',
             '--heads', '2', '--samples', '3', '--eval-samples', '5', '--hidden', '8',
             '--layers', '2', '--dropout', '0.2', *options])
        make = model_factory(args, _molecules(dataset == 'qm9'), _NoTarget())
        assert isinstance(make, functools.partial) and not make.args
        again = pickle.loads(pickle.dumps(make))
        assert repr(again) == repr(make)
        return make

    transformer = dict(max_nodes=6, embed_dim=16, depth=1, num_heads=2, dropout=0.2,
                       num_samples=3, eval_num_samples=5, entropy_weight=0.1)
    make = factory('freesolv', '--model', 'mfa', '--backbone', 'gin', '--gin-norm', 'pre')
    assert make.func is models.SymmetrizedMolecule
    assert make.keywords == dict(out_channels=2, method='mfa', feature_dim=16,
                                 backbone='gin', gin_norm='pre', **transformer)
    model = make()
    assert type(model.model.sampler) is type(build_sampler('mfa', 'S_n'))
    make = factory('qm9', '--model', 'ga', '--entropy-weight', '0.0')
    assert make.func is models.E3SymmetrizedMolecule
    assert make.keywords == dict(in_channels=11, out_channels=2, method='ga',
                                 **{**transformer, 'entropy_weight': 0.0})
    assert type(make().model.sampler) is type(build_sampler('ga', 'S_n x E(3)'))
    make = factory('freesolv', '--model', 'gin')
    assert (make.func, make.keywords) == (models.OGBGIN, dict(
        out_channels=2, hidden_channels=8, num_layers=2, dropout=0.2))
    make = factory('qm9', '--model', 'schnet')
    assert (make.func, make.keywords) == (models.SchNetBaseline, dict(
        hidden_channels=8, num_interactions=2))
    # a ViT checkpoint wraps the constructor, which stays keyword-only and picklable
    make = factory('freesolv', '--model', 'lps', '--vit-checkpoint',
                   str(tmp_path / 'vit.pth'))
    assert make.keywords['make'].func is models.SymmetrizedMolecule
    assert make.keywords['checkpoint'] == tmp_path / 'vit.pth'


def test_relax_trains_through_a_relaxed_model_and_refuses_what_it_cannot_relax(
        tmp_path, capsys):
    import csv
    write_freesolv(tmp_path / 'data', copies=3)
    common = ['train', '--dataset', 'freesolv', '--root', str(tmp_path / 'data'),
              '--epochs', '2', '--batch-size', '8', '--accelerator', 'cpu', '--precision',
              '32-true', '--out', str(tmp_path / 'runs'), '--no-progress']
    results = main(common + ['--model', 'lps', '--backbone', 'gin', '--embed-dim', '16',
                             '--depth', '1', '--eval-samples', '2', '--relax', 'cosine',
                             '--relax-start', '0.5', '--relax-end', '1',
                             '--relax-penalty', '0.1', '--relax-group', 'S_n'])
    assert results[0]['best_epoch'] in (1, 2)
    folder = tmp_path / 'runs' / 'freesolv-lps-seed0'
    rows = list(csv.DictReader(open(folder / 'logs' / 'metrics.csv')))
    assert [float(r['relax_coefficient']) for r in rows] == [0.0, 0.0]
    assert json.loads((folder / 'config.json').read_text())['relax'] == 'cosine'
    capsys.readouterr()
    assert entry_point(tiny(tmp_path, '--epochs', '1', '--relax', 'linear')) == 1
    assert 'No layer of OGBGIN to relax' in error_line(capsys)
    assert entry_point(tiny(tmp_path, '--epochs', '1', '--relax', 'linear',
                            '--relax-end', '3', '--name', 'late')) == 1
    assert "'relax_end' must lie in (0, 1]" in error_line(capsys)
    with pytest.raises(SystemExit):
        entry_point(tiny(tmp_path, '--relax', 'linear', '--relax-group', 'G_2'))
    assert "argument --relax-group: Unknown group 'G_2'" in capsys.readouterr().err
