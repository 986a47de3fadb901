import functools
import json

import pytest
import torch
from torch_geometric.data import Data

pytest.importorskip('lightning')

from lps_geometric.training import (ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS,  # noqa: E402
                                    OGBGIN, SymmetrizedMolecule, Task, TrainConfig,
                                    epoch_batches, train)
from lps_geometric.training.engine import RunLog  # noqa: E402


def fake_molecules(num: int, seed: int = 0, classification: bool = False):
    r"""Random graphs with OGB-style categorical features and a label that depends on
    the graph (number of atoms of type 0 and bonds of type 1)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        n = int(torch.randint(3, 9, (1,), generator=gen))
        x = torch.stack([torch.randint(0, min(d, 3), (n,), generator=gen)
                         for d in ATOM_FEATURE_DIMS], dim=1)
        src = torch.arange(n - 1)
        ei = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
        bond = torch.stack([torch.randint(0, min(d, 2), (n - 1,), generator=gen)
                            for d in BOND_FEATURE_DIMS], dim=1).repeat(2, 1)
        y = float((x[:, 0] == 0).sum()) + 0.5 * float((bond[:, 0] == 1).sum())
        if classification:
            y = float(y > 3)
        out.append(Data(x=x, edge_index=ei, edge_attr=bond, y=torch.tensor([[y]])))
    return out


def split_of(n_train, n_val, n_test):
    idx = torch.arange(n_train + n_val + n_test)
    return dict(train=idx[:n_train], valid=idx[n_train:n_train + n_val],
                test=idx[n_train + n_val:])


def small_lps():
    return SymmetrizedMolecule(1, 'lps', max_nodes=8, embed_dim=16, depth=1, num_heads=2,
                               dropout=0.1, feature_dim=8, num_samples=2,
                               eval_num_samples=2)


def small_mfa():
    return SymmetrizedMolecule(1, 'mfa', max_nodes=8, embed_dim=16, depth=1, num_heads=2,
                               dropout=0.0, feature_dim=8)


def config(tmp_path, name, **kwargs):
    base = dict(epochs=2, batch_size=8, eval_batch_size=16, lr=1e-3, accelerator='cpu',
                devices=1, precision='32-true', out_dir=str(tmp_path / name),
                progress=False, seed=3)
    base.update(kwargs)
    return TrainConfig(**base)


class Killed(Exception):
    r"""Stands for the process being killed."""


def _kill_at(training_calls: int, module, inputs):
    _kill_at.calls = getattr(_kill_at, 'calls', 0) + module.training
    if module.training and _kill_at.calls == training_calls:
        raise Killed


def killed_lps(after_steps: int):
    r"""``small_lps()`` whose forward raises :class:`Killed` at training step
    ``after_steps + 1`` of this process (counted from its construction)."""
    model = small_lps()
    _kill_at.calls = 0
    model.register_forward_pre_hook(functools.partial(_kill_at, after_steps + 1))
    return model


def run_files(folder):
    return ((folder / 'logs' / 'metrics.csv').read_text(),
            json.loads((folder / 'results.json').read_text())['history'])


def test_resume_mid_epoch_is_exact(tmp_path):
    data = fake_molecules(60)
    split = split_of(40, 10, 10)
    task = Task('regression').standardize(torch.cat([data[i].y for i in split['train']]))
    full = train(config(tmp_path, 'full'), small_lps, data, split, task)
    # "kill" after 7 steps (mid epoch 2 of 5 steps each), then resume from the folder
    stopped = train(config(tmp_path, 'resumed', stop_after_steps=7), small_lps, data,
                    split, task)
    assert stopped['stopped'] and stopped['step'] == 2
    resumed = train(config(tmp_path, 'resumed'), small_lps, data, split, task)
    assert resumed['test'] == full['test']
    assert resumed['valid'] == full['valid']
    a = torch.load(tmp_path / 'full' / 'checkpoints' / 'last.ckpt', weights_only=True)
    b = torch.load(tmp_path / 'resumed' / 'checkpoints' / 'last.ckpt', weights_only=True)
    for key, value in a['model'].items():
        assert torch.equal(value, b['model'][key]), key
    assert (tmp_path / 'full' / 'results.json').exists()
    assert (tmp_path / 'full' / 'curves.png').exists()
    # one log, equal to the uninterrupted run's (the epoch-2 loss covers all 5 steps)
    assert run_files(tmp_path / 'resumed') == run_files(tmp_path / 'full')
    assert [p.name for p in (tmp_path / 'resumed' / 'logs').iterdir()] == ['metrics.csv']


def test_killed_run_resumes_with_the_log_of_an_uninterrupted_one(tmp_path):
    data = fake_molecules(60)
    split = split_of(40, 10, 10)                  # 5 steps per epoch, 3 epochs
    task = Task('regression').standardize(torch.cat([data[i].y for i in split['train']]))
    cfg = functools.partial(config, tmp_path, epochs=3, checkpoint_every=3)
    train(cfg('full'), small_lps, data, split, task)
    folder = tmp_path / 'killed'
    # killed in step 8: the last checkpoint is at step 6, one step into epoch 2
    with pytest.raises(Killed):
        train(cfg('killed'), functools.partial(killed_lps, 7), data, split, task)
    early = (folder / 'checkpoints' / 'last.ckpt').read_bytes()
    # resumed at step 6, killed in step 15: epoch 2 is logged, the checkpoint is at 12
    with pytest.raises(Killed):
        train(cfg('killed'), functools.partial(killed_lps, 8), data, split, task)
    assert [r['epoch'] for r in RunLog(folder).rows()] == ['1', '2']
    train(cfg('killed'), small_lps, data, split, task)
    assert run_files(folder) == run_files(tmp_path / 'full')
    # a checkpoint older than the log (the killed run logged epochs 2 and 3 after it):
    # their rows are dropped and written again, not repeated
    (folder / 'checkpoints' / 'last.ckpt').write_bytes(early)
    (folder / 'results.json').unlink()
    train(cfg('killed'), small_lps, data, split, task)
    assert run_files(folder) == run_files(tmp_path / 'full')
    assert sorted(p.name for p in folder.iterdir()) == [
        'checkpoints', 'config.json', 'curves.png', 'logs', 'results.json']
    assert [p.name for p in (folder / 'logs').iterdir()] == ['metrics.csv']
    a = torch.load(tmp_path / 'full' / 'checkpoints' / 'last.ckpt', weights_only=True)
    b = torch.load(folder / 'checkpoints' / 'last.ckpt', weights_only=True)
    for key, value in a['model'].items():
        assert torch.equal(value, b['model'][key]), key


def test_checkpoint_without_running_sums_still_resumes(tmp_path):
    data = fake_molecules(24, seed=6)
    split = split_of(16, 4, 4)                    # 2 steps per epoch
    train(config(tmp_path, 'old', stop_after_steps=3), small_mfa, data, split,
          Task('regression'))
    last = tmp_path / 'old' / 'checkpoints' / 'last.ckpt'
    ckpt = torch.load(last, weights_only=True)
    del ckpt['running']                           # as written before they were saved
    torch.save(ckpt, last)
    result = train(config(tmp_path, 'old'), small_mfa, data, split, Task('regression'))
    assert [epoch for epoch, _ in result['history']['train']] == [1, 2]


def test_tensorboard_of_a_resumed_run_is_one_folder(tmp_path):
    pytest.importorskip('tensorboard')
    data = fake_molecules(24, seed=6)
    split = split_of(16, 4, 4)
    train(config(tmp_path, 'tb', tensorboard=True, stop_after_steps=3), small_mfa, data,
          split, Task('regression'))
    train(config(tmp_path, 'tb', tensorboard=True), small_mfa, data, split,
          Task('regression'))
    assert sorted(p.name for p in (tmp_path / 'tb').iterdir() if p.is_dir()) == [
        'checkpoints', 'logs', 'tensorboard']
    assert not [p for p in (tmp_path / 'tb' / 'tensorboard').iterdir() if p.is_dir()]


def test_ema_weights_are_evaluated_saved_and_resumed(tmp_path):
    data = fake_molecules(60)
    split = split_of(40, 10, 10)
    task = Task('regression').standardize(torch.cat([data[i].y for i in split['train']]))
    full = train(config(tmp_path, 'full', ema=0.9, select='last'), small_lps, data, split,
                 task)
    assert full['ema'] == 0.9
    last = torch.load(tmp_path / 'full' / 'checkpoints' / 'last.ckpt', weights_only=True)
    best = torch.load(tmp_path / 'full' / 'checkpoints' / 'best.pt', weights_only=True)
    assert last['ema']['num_updates'] == 10                 # 2 epochs of 5 steps
    differs = 0
    for name, value in best.items():                        # best.pt: the averaged weights
        if name in last['ema']['shadow']:
            assert torch.equal(value, last['ema']['shadow'][name]), name
            differs += not torch.equal(value, last['model'][name])
    assert differs > 0                                      # ... not the raw ones
    stopped = train(config(tmp_path, 'resumed', ema=0.9, select='last',
                           stop_after_steps=7), small_lps, data, split, task)
    assert stopped['stopped']
    resumed = train(config(tmp_path, 'resumed', ema=0.9, select='last'), small_lps, data,
                    split, task)
    assert resumed['test'] == full['test'] and resumed['valid'] == full['valid']
    again = torch.load(tmp_path / 'resumed' / 'checkpoints' / 'last.ckpt',
                       weights_only=True)
    for name, value in last['ema']['shadow'].items():
        assert torch.equal(value, again['ema']['shadow'][name]), name
    with pytest.raises(ValueError, match="'ema'"):
        train(config(tmp_path, 'bad', ema=1.0), small_lps, data, split, task)


def test_ddp_two_processes_equal_one(tmp_path):
    data = fake_molecules(24, seed=1)
    split = split_of(8, 8, 8)               # one global batch of 8: one step
    task = Task('regression')
    single = config(tmp_path, 'single', epochs=1, batch_size=8, warmup=0.0)
    train(single, small_mfa, data, split, task)
    ddp = config(tmp_path, 'ddp', epochs=1, batch_size=8, warmup=0.0, devices=2,
                 strategy='ddp_spawn')
    train(ddp, small_mfa, data, split, task)
    a = torch.load(tmp_path / 'single' / 'checkpoints' / 'last.ckpt', weights_only=True)
    b = torch.load(tmp_path / 'ddp' / 'checkpoints' / 'last.ckpt', weights_only=True)
    changed = 0
    for key, value in a['model'].items():
        assert torch.allclose(value, b['model'][key], atol=1e-6), key
        changed += 1
    assert changed > 0


def test_classification_task_and_metrics(tmp_path):
    data = fake_molecules(48, seed=2, classification=True)
    split = split_of(32, 8, 8)
    result = train(config(tmp_path, 'gin', epochs=2),
                   functools.partial(OGBGIN, 1, 16, 2, 0.0), data, split,
                   Task('classification'))
    assert result['metric'] == 'rocauc'
    assert 0.0 <= result['test']['rocauc'] <= 1.0 or result['test']['rocauc'] != \
        result['test']['rocauc']


def test_epoch_batches():
    first = epoch_batches(10, 4, seed=0, epoch=0)
    assert [len(b) for b in first] == [4, 4, 2]
    assert [len(b) for b in epoch_batches(9, 4, 0, 0)] == [4, 5]   # no batch of one
    assert torch.equal(torch.cat(first).sort().values, torch.arange(10))
    assert torch.equal(torch.cat(first), torch.cat(epoch_batches(10, 4, 0, 0)))
    assert not torch.equal(torch.cat(first), torch.cat(epoch_batches(10, 4, 0, 1)))


def test_empty_split_is_refused(tmp_path):
    data = fake_molecules(10)
    split = dict(train=torch.arange(8), valid=torch.arange(8, 10),
                 test=torch.empty(0, dtype=torch.long))
    with pytest.raises(ValueError, match="'test'"):
        train(config(tmp_path, 'empty'), small_mfa, data, split, Task('regression'))


@pytest.mark.parametrize('split,message', [
    (dict(train=torch.arange(8), valid=torch.arange(8, 10), test=torch.tensor([10])),
     "'test' holds index 10 outside the dataset's 10 graphs"),
    (dict(train=torch.arange(8.0), valid=torch.arange(8, 10), test=torch.arange(2)),
     "'train' must be a 1-D tensor of graph indices"),
    (dict(train=torch.arange(8), valid=torch.tensor([-1]), test=torch.arange(2)),
     "'valid' holds index -1"),
])
def test_split_indices_are_checked(tmp_path, split, message):
    with pytest.raises(ValueError, match=message):
        train(config(tmp_path, 'split'), small_mfa, fake_molecules(10), split,
              Task('regression'))
    assert not (tmp_path / 'split').exists()       # refused before anything is written


def test_labels_are_checked_before_training(tmp_path):
    data = fake_molecules(10)
    data[3].y = torch.tensor([[2.0]])
    split = dict(train=torch.arange(8), valid=torch.arange(8, 10), test=torch.arange(2))
    with pytest.raises(ValueError, match='Binary classification labels must be 0, 1'):
        train(config(tmp_path, 'labels'), small_mfa, data, split,
              Task('classification'))
    data[3].y = torch.tensor([[float('inf')]])
    with pytest.raises(ValueError, match='infinite'):
        train(config(tmp_path, 'labels'), small_mfa, data, split, Task('regression'))


def test_models_accept_molecules_without_bonds():
    from torch_geometric.data import Batch
    single = Data(x=torch.zeros(1, 9, dtype=torch.long),
                  edge_index=torch.empty(2, 0, dtype=torch.long),
                  edge_attr=torch.empty(0, 3, dtype=torch.long), y=torch.zeros(1, 1))
    for batch in (Batch.from_data_list([single, fake_molecules(1)[0]]),
                  Batch.from_data_list([single, single])):     # no bond in the batch
        for model in (OGBGIN(1, 8, 2, 0.0), small_lps(), small_mfa()):
            for train_mode in (True, False):
                out = model.train(train_mode)(batch)
                assert out.shape == (2, 1) and torch.isfinite(out).all()


def test_multiclass_task_and_schedules(tmp_path):
    from lps_geometric.training.engine import _schedule
    task = Task('multiclass')
    pred = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    y = torch.tensor([0, 1, 0])
    assert task.metric == 'acc' and abs(task.score(pred, y)['acc'] - 2 / 3) < 1e-6
    assert task.loss(pred, y) > 0
    for kind, last in (('cosine', 0.0), ('linear', 0.0), ('constant', 1.0)):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = _schedule(opt, 10, 0.2, kind)
        lrs = []
        for _ in range(10):
            lrs.append(opt.param_groups[0]['lr'])
            opt.step()
            sched.step()
        assert lrs[0] == 0.5 and lrs[1] == 1.0             # warm-up of 2 steps
        assert abs(sched.lr_lambdas[0](10) - last) < 1e-9
    with pytest.raises(ValueError, match='schedule'):
        _schedule(opt, 10, 0.1, 'step')
    data = fake_molecules(24, seed=3)
    for d in data:
        d.y = torch.tensor([int(d.y.item()) % 3])
    result = train(config(tmp_path, 'multi', epochs=1, schedule='linear'),
                   functools.partial(OGBGIN, 3, 16, 2, 0.0), data, split_of(16, 4, 4),
                   task)
    assert 0.0 <= result['test']['acc'] <= 1.0


def test_select_last_and_test_monitoring(tmp_path):
    data = fake_molecules(30, seed=4)
    result = train(config(tmp_path, 'last', epochs=3, select='last', eval_test=True),
                   small_mfa, data, split_of(20, 5, 5), Task('regression'))
    assert result['best_epoch'] == 3
    assert [e for e, _ in result['history']['test']] == [1, 2, 3]
    with pytest.raises(ValueError, match='select'):
        train(config(tmp_path, 'bad', select='best'), small_mfa, data, split_of(20, 5, 5),
              Task('regression'))


def test_bf16_mixed_precision_runs(tmp_path):
    r"""The mixed-precision path (autocast) on the CPU; on a GPU ``precision='auto'``
    picks bf16-mixed where supported."""
    data = fake_molecules(24, seed=5)
    result = train(config(tmp_path, 'bf16', epochs=1, precision='bf16-mixed'), small_mfa,
                   data, split_of(16, 4, 4), Task('regression'))
    assert result['test']['rmse'] == result['test']['rmse']      # finite, not NaN


class _Diverging(torch.nn.Module):
    r"""Predicts 0 until its weight has been stepped once, then inf."""
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, data):
        scale = torch.where(self.weight.detach() == 0, 0.0, float('inf'))
        return (self.weight + scale).expand(data.num_graphs, 1)


def test_diverged_training_stops_with_a_clear_error(tmp_path):
    data = fake_molecules(24)
    cfg = config(tmp_path, 'nan', epochs=3, clip=0.0)  # with clipping Lightning refuses first
    with pytest.raises(FloatingPointError, match='diverged.*epoch 1|epoch 1.*diverged'):
        train(cfg, _Diverging, data, split_of(16, 4, 4), Task('regression'))


def test_csv_log_step_column_counts_optimizer_steps(tmp_path):
    import csv
    data = fake_molecules(24, seed=6)
    train(config(tmp_path, 'log', epochs=3), small_mfa, data, split_of(16, 4, 4),
          Task('regression'))                 # 16 graphs, batch 8: 2 steps per epoch
    with open(tmp_path / 'log' / 'logs' / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['step']) for r in rows] == [2, 4, 6]
    assert [int(float(r['epoch'])) for r in rows] == [1, 2, 3]


def test_run_folder_with_other_settings_is_refused(tmp_path):
    from lps_geometric.training.config import RunFolderError
    data = fake_molecules(24, seed=7)
    split = split_of(16, 4, 4)
    first = train(config(tmp_path, 'run', epochs=1), small_mfa, data, split,
                  Task('regression'))
    with pytest.raises(RunFolderError, match=r"lr 0.001 -> 0.01.*extra.width None -> 8"):
        train(config(tmp_path, 'run', epochs=1, lr=1e-2, extra=dict(width=8)), small_mfa,
              data, split, Task('regression'))
    # where and how it runs may change: the finished run is only evaluated again
    again = train(config(tmp_path, 'run', epochs=1, progress=True, checkpoint_every=5),
                  small_mfa, data, split, Task('regression'))
    assert again['test'] == first['test']
    (tmp_path / 'run' / 'config.json').write_text('{"epochs": ')
    with pytest.raises(RunFolderError, match='not a readable configuration'):
        train(config(tmp_path, 'run', epochs=1), small_mfa, data, split,
              Task('regression'))


def test_extend_continues_a_run_for_more_epochs_only(tmp_path):
    from lps_geometric.training.config import RunFolderError
    data = fake_molecules(24, seed=7)
    cfg = functools.partial(config, tmp_path, schedule='constant', warmup=0.0)
    split = split_of(16, 4, 4)
    train(cfg('run', epochs=1), small_mfa, data, split, Task('regression'))
    with pytest.raises(RunFolderError, match='epochs 1 -> 2'):
        train(cfg('run', epochs=2), small_mfa, data, split, Task('regression'))
    longer = train(cfg('run', epochs=2), small_mfa, data, split,
                   Task('regression'), extend=True)
    straight = train(cfg('straight', epochs=2), small_mfa, data, split,
                     Task('regression'))
    assert longer['history']['train'] == straight['history']['train']  # constant schedule
    with pytest.raises(RunFolderError, match='lr 0.001 -> 0.01'):  # only epochs may change
        train(cfg('run', epochs=3, lr=1e-2), small_mfa, data, split,
              Task('regression'), extend=True)
    with pytest.raises(RunFolderError, match='epochs 2 -> 1'):      # and only grow
        train(cfg('run', epochs=1), small_mfa, data, split,
              Task('regression'), extend=True)


@pytest.mark.parametrize('damage', ['empty', 'truncated', 'garbage'])
def test_unusable_checkpoint_gives_one_clear_error(tmp_path, damage):
    from lps_geometric.training.engine import CheckpointError, read_checkpoint
    data = fake_molecules(24, seed=8)
    split = split_of(16, 4, 4)
    train(config(tmp_path, 'run', epochs=2, stop_after_steps=3), small_mfa, data, split,
          Task('regression'))
    last = tmp_path / 'run' / 'checkpoints' / 'last.ckpt'
    assert not list(last.parent.glob('*.partial'))        # saved whole, then renamed
    content = last.read_bytes()
    last.write_bytes({'empty': b'', 'truncated': content[:len(content) // 2],
                      'garbage': b'not a checkpoint'}[damage])
    expected = 'is empty' if damage == 'empty' else 'is truncated or corrupted'
    with pytest.raises(CheckpointError, match=expected):
        train(config(tmp_path, 'run', epochs=2), small_mfa, data, split,
              Task('regression'))
    with pytest.raises(CheckpointError, match='does not exist'):
        read_checkpoint(tmp_path / 'missing.pt')


def _deterministic_pair(tmp_path, accelerator: str, threads: int):
    r"""Two runs of one seed in the deterministic mode: their logs and final
    parameters."""
    data = fake_molecules(40, seed=9)
    split = split_of(24, 8, 8)
    task = Task('regression').standardize(torch.cat([data[i].y for i in split['train']]))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    out = []
    try:
        for name in ('first', 'second'):
            train(config(tmp_path, f'{accelerator}-{name}', deterministic=True,
                         accelerator=accelerator), small_lps, data, split, task)
            assert not torch.are_deterministic_algorithms_enabled()   # scoped to the run
            folder = tmp_path / f'{accelerator}-{name}'
            out.append(((folder / 'logs' / 'metrics.csv').read_text(), torch.load(
                folder / 'checkpoints' / 'last.ckpt', weights_only=True)['model']))
    finally:
        torch.set_num_threads(before)
    return out


def test_deterministic_mode_repeats_a_seed_bitwise(tmp_path):
    (log_a, model_a), (log_b, model_b) = _deterministic_pair(tmp_path, 'cpu', threads=2)
    assert log_a == log_b
    for key, value in model_a.items():
        assert torch.equal(value, model_b[key]), key
    stored = TrainConfig.load(tmp_path / 'cpu-first' / 'config.json')
    assert stored.deterministic
    from lps_geometric.training.config import RunFolderError
    with pytest.raises(RunFolderError, match='deterministic True -> False'):
        train(config(tmp_path, 'cpu-first'), small_lps, fake_molecules(40, seed=9),
              split_of(24, 8, 8), Task('regression'))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_deterministic_mode_repeats_a_seed_bitwise_on_cuda(tmp_path):
    (log_a, model_a), (log_b, model_b) = _deterministic_pair(tmp_path, 'gpu', threads=2)
    assert log_a == log_b
    for key, value in model_a.items():
        assert torch.equal(value, model_b[key]), key
