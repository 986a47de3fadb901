r"""The training engine: Lightning Fabric for devices, DDP and mixed precision; an
explicit loop for exact resumption.

The same code runs on the CPU, one GPU, several GPUs and several nodes
(``TrainConfig.devices``/``strategy``/``num_nodes``). Shuffling is a function of
``(seed, epoch)`` and the global batch of a step is split across processes, so a DDP step
equals a single-process step on the same global batch; a checkpoint stores the epoch,
the step inside it, every random state and the running sums of the epoch, so a run
killed mid-epoch and resumed ends with exactly the parameters and metrics of an
uninterrupted run, logged in one CSV log (and one TensorBoard folder).
"""
import copy
import csv
import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from lps_geometric.diagnostics.moved_noise import MovedNoise
from lps_geometric.diagnostics.penalties import (group_difference_penalty,
                                                 lie_derivative_penalty, output_level)
from lps_geometric.groups.euclidean import EuclideanGroup, OrthogonalGroup
from lps_geometric.groups.names import resolve_group
from lps_geometric.nn.relaxation import relax, relaxed_layers
from lps_geometric.training.config import SCHEDULES, RunFolderError, TrainConfig
from lps_geometric.training.ema import ExponentialMovingAverage
from lps_geometric.training.relaxation import RelaxationSchedule
from lps_geometric.training.tasks import Task
from lps_geometric.utils.determinism import deterministic

__all__ = ['train', 'evaluate', 'make_fabric', 'epoch_batches', 'read_checkpoint',
           'CheckpointError', 'RunLog']


class CheckpointError(RuntimeError):
    r"""A checkpoint file is missing, empty or cannot be read (truncated, corrupted,
    or not written by :func:`torch.save`)."""


def read_checkpoint(path: Union[str, Path], map_location: Any = 'cpu') -> Any:
    r"""``torch.load(path, weights_only=True)`` with one clear error for a file that
    cannot be used.

    Raises:
        CheckpointError: ``path`` is missing, empty, truncated or corrupted.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'the checkpoint {path} does not exist')
    if path.stat().st_size == 0:
        raise CheckpointError(f'the checkpoint {path} is empty (0 bytes)')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:    # any failure to decode the file means it is unusable
        reason = str(error).strip().splitlines()[0].split('. ')[0] \
            if str(error).strip() else ''
        reason = f'{type(error).__name__}: {reason}' if reason else type(error).__name__
        raise CheckpointError(f'the checkpoint {path} is truncated or corrupted '
                              f'({reason[:160]})') from error


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return iterable
    return tqdm(iterable, **kwargs)


try:
    from lightning.fabric.loggers import Logger as _Logger
except ImportError:  # pragma: no cover - lightning is needed to train, not to import
    _Logger = object


class RunLog(_Logger):
    r"""The CSV log of a run, ``out_dir/logs/metrics.csv``: one row per epoch, kept
    across resumptions in the same file (a Lightning Fabric logger).

    Every row is written at once (the whole file, beside and renamed, so a kill never
    leaves a partial row). A resumed run first calls :meth:`truncate` with the epochs
    its checkpoint completed: the rows that a killed run wrote after its last checkpoint
    go, and the resumed run writes them again, so the file equals the log of an
    uninterrupted run. Columns are sorted by name, as in Lightning's ``CSVLogger``;
    a column that appears later is added to the earlier rows, empty.

    Args:
        root_dir (str): The run folder; the log is ``root_dir/name/metrics.csv``.
        name (str, optional): The log's folder. (default: ``"logs"``)
    """
    FILE = 'metrics.csv'

    def __init__(self, root_dir: Union[str, Path], name: str = 'logs'):
        super().__init__()
        self._root_dir, self._name = str(root_dir), name

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return ''

    @property
    def root_dir(self) -> str:
        return self._root_dir

    @property
    def log_dir(self) -> str:
        return str(Path(self._root_dir) / self._name)

    @property
    def path(self) -> Path:
        return Path(self.log_dir) / self.FILE

    def rows(self) -> List[Dict[str, str]]:
        r"""The rows written so far, as text (an empty list without a file)."""
        if not self.path.is_file():
            return []
        with open(self.path, newline='') as f:
            return list(csv.DictReader(f))

    def _write(self, rows: List[Dict[str, Any]]):
        keys = sorted({key for row in rows for key in row})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.FILE + '.partial')
        with open(partial, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(partial, self.path)

    def truncate(self, epochs: int):
        r"""Keeps the rows of the first ``epochs`` epochs (column ``epoch``), drops
        the rest."""
        from lightning.fabric.utilities.rank_zero import rank_zero_only
        if rank_zero_only.rank != 0 or not self.path.is_file():
            return
        rows = self.rows()
        kept = [row for row in rows if _epoch_of(row) is not None and
                _epoch_of(row) <= epochs]
        if len(kept) != len(rows):
            self._write(kept)

    def log_metrics(self, metrics: Dict[str, Any], step: Optional[int] = None):
        from lightning.fabric.utilities.rank_zero import rank_zero_only
        if rank_zero_only.rank != 0:
            return
        row = {k: v.item() if isinstance(v, Tensor) else v for k, v in metrics.items()}
        rows = self.rows()
        row['step'] = len(rows) if step is None else step
        self._write(rows + [row])

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any):
        r"""Nothing: the run's settings are in ``out_dir/config.json``."""


def _epoch_of(row: Dict[str, str]) -> Optional[int]:
    try:
        return int(float(row['epoch']))
    except (KeyError, TypeError, ValueError):
        return None


def _purge_step(out_dir: Path) -> Optional[int]:
    r"""The first step a run logs anew: events at or after it that a killed run wrote
    go (TensorBoard's ``purge_step``); 0 without ``last.ckpt`` (a start from scratch),
    :obj:`None` for an unusable one (its error is raised when the run loads it)."""
    last = out_dir / 'checkpoints' / 'last.ckpt'
    if not last.is_file():
        return 0
    try:
        ckpt = torch.load(last, map_location='cpu', weights_only=True, mmap=True)
        # an epoch-end checkpoint comes after its epoch's row; a mid-epoch one before
        return int(ckpt['global_step']) + (0 if ckpt['step'] else 1)
    except Exception:    # unusable: read_checkpoint says why when the run loads it
        return None


def make_fabric(config: TrainConfig):
    r"""A :class:`lightning.fabric.Fabric` for the config (``precision="auto"``: bf16
    mixed precision on a GPU that supports it, 32-bit otherwise) with the run's CSV log
    :class:`RunLog` in ``out_dir/logs`` (and TensorBoard in ``out_dir/tensorboard`` if
    asked). A resumed run logs to the same files as the run it continues."""
    from lightning.fabric import Fabric
    precision = config.precision
    if precision == 'auto':
        gpu = config.accelerator in ('gpu', 'cuda') or (
            config.accelerator == 'auto' and torch.cuda.is_available())
        precision = 'bf16-mixed' if gpu and torch.cuda.is_available() and \
            torch.cuda.is_bf16_supported() else '32-true'
    loggers = [RunLog(Path(config.out_dir))]
    if config.tensorboard:
        from lightning.fabric.loggers import TensorBoardLogger
        purge = _purge_step(Path(config.out_dir))
        loggers.append(TensorBoardLogger(str(Path(config.out_dir)), name='tensorboard',
                                         version='', **({} if purge is None else
                                                        dict(purge_step=purge))))
    return Fabric(accelerator=config.accelerator, devices=config.devices,
                  strategy=config.strategy, num_nodes=config.num_nodes,
                  precision=precision, loggers=loggers)


def epoch_batches(num_train: int, batch_size: int, seed: int, epoch: int) -> List[Tensor]:
    r"""The global batches of one epoch: a permutation of the training positions that
    depends only on ``(seed, epoch)``, cut into ``batch_size`` pieces. A last piece of a
    single graph joins the one before (batch norm cannot train on one value)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(num_train, generator=gen)
    batches = list(perm.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _schedule(optimizer, total_steps: int, warmup: float, kind: str = 'cosine'):
    if kind not in SCHEDULES:
        raise ValueError(f"Unknown schedule '{kind}' (cosine, linear or constant)")
    warm = max(1, int(warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min((step - warm) / max(1, total_steps - warm), 1.0)
        if kind == 'cosine':
            return 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0 - progress if kind == 'linear' else 1.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def evaluate(model: nn.Module, dataset, index: Tensor, task: Task, batch_size: int,
             device) -> Dict[str, float]:
    r"""The task's metrics of ``model`` on ``dataset[index]`` (eval mode)."""
    model.eval()
    preds, ys = [], []
    for data in DataLoader([dataset[int(i)] for i in index], batch_size=batch_size):
        data = data.to(device)
        pred, y = task.outputs(model(data), data, scoring=True)
        preds.append(pred.float().cpu())
        ys.append(y.cpu())
    return task.score(torch.cat(preds), torch.cat(ys))


def _rng_state() -> Dict[str, Tensor]:
    state = {'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: Dict[str, Tensor]):
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'].cpu())


def _fit(fabric, config: TrainConfig, make_model: Callable[[], nn.Module], dataset,
         split: Dict[str, Tensor], task: Task) -> Dict:
    # in every process (spawned ones too), before the model is built
    with deterministic(config.deterministic):
        return _fit_run(fabric, config, make_model, dataset, split, task)


class _Run:
    r"""What one invocation of a run works on: the set-up model (``model``, and
    ``unwrapped``, the module itself), optimizer, schedule and average, the
    checkpointed ``state`` (what ``last.ckpt`` holds), and what this invocation
    measures (optimizer steps taken and their times)."""
    def __init__(self, model, unwrapped: nn.Module, optimizer, scheduler,
                 ema: Optional[ExponentialMovingAverage], state: Dict[str, Any],
                 steps_per_epoch: int, out_dir: Path):
        self.model, self.unwrapped = model, unwrapped
        self.optimizer, self.scheduler, self.ema = optimizer, scheduler, ema
        self.state = state
        self.steps_per_epoch = steps_per_epoch
        self.out_dir = out_dir
        self.relaxation: Optional[RelaxationSchedule] = None   # TrainConfig.relax
        self.penalty: Optional[Callable] = None    # TrainConfig.relax_penalty
        self.ckpt_dir = out_dir / 'checkpoints'
        self.last = self.ckpt_dir / 'last.ckpt'
        self.steps_done = 0                     # optimizer steps of this invocation
        self.step_times: List[float] = []

    def averaged(self):
        r"""A context in which the model holds the averaged weights (nothing without an
        average): evaluation, selection and ``best.pt`` use them."""
        if self.ema is None:
            return nullcontext()
        return self.ema.applied_to(self.unwrapped)


def _build_run(fabric, config: TrainConfig, make_model: Callable[[], nn.Module],
               split: Dict[str, Tensor]) -> _Run:
    r"""Writes the run folder (``config.json``, ``checkpoints/``), seeds every process,
    builds the model, AdamW, the schedule over all steps and the average (when
    ``config.ema > 0``), sets them up on the devices, and starts the state of a new
    run."""
    out_dir = Path(config.out_dir)
    if fabric.global_rank == 0:
        (out_dir / 'checkpoints').mkdir(parents=True, exist_ok=True)
        config.save(out_dir / 'config.json')
    fabric.seed_everything(config.seed)
    model = make_model()
    relaxation = penalty = None
    if config.relax != 'none':
        if not relaxed_layers(model):
            model = relax(model, coefficient=config.relax_start)
        relaxation = RelaxationSchedule(config.relax, config.relax_start,
                                        config.relax_end or config.epochs)
        relaxation.apply(model, 0)
        if config.relax_penalty > 0:
            penalty = _equivariance_penalty(config.relax_group, config.relax_output)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = len(epoch_batches(len(split['train']), config.batch_size, 0, 0))
    scheduler = _schedule(optimizer, config.epochs * steps_per_epoch, config.warmup,
                          config.schedule)
    model, optimizer = fabric.setup(model, optimizer)
    unwrapped = model.module if hasattr(model, 'module') else model
    ema = ExponentialMovingAverage(unwrapped, config.ema) if config.ema > 0 else None
    # running: the sums of the epoch so far (saved mid-epoch, so a resumed epoch reports
    # the loss of all its steps)
    state = dict(model=model, optimizer=optimizer, scheduler=scheduler, epoch=0, step=0,
                 global_step=0, history=dict(train=[], val=[], test=[]), best=None,
                 best_epoch=None, rng=_rng_state(), running=_zero_running())
    if ema is not None:
        state['ema'] = ema
    run = _Run(model, unwrapped, optimizer, scheduler, ema, state, steps_per_epoch,
               out_dir)
    run.relaxation, run.penalty = relaxation, penalty
    return run


def _relative_equivariance_error(model: nn.Module, dataset, idx: Tensor,
                                 config: TrainConfig, epoch: int, device) -> float:
    r"""The relative equivariance error of ``model`` under ``config.relax_group`` on the
    first ``eval_batch_size`` validation graphs: the root of the mean squared
    :math:`f(g \cdot x) - g \cdot f(x)` over the root mean square of :math:`f(x)`, for
    one element drawn from a generator seeded by the seed and the epoch (the training's
    random stream is left alone). The noise of the symmetrized layers inside the model
    is moved along with the element where it can be (:class:`MovedNoise`), so an
    equivariant model gives rounding; other stochastic models count their sampling
    noise too."""
    group = resolve_group(config.relax_group)
    data = Batch.from_data_list([dataset[int(i)] for i in idx[:config.eval_batch_size]]
                                ).to(device)
    generator = torch.Generator(device=device).manual_seed(config.seed * 100003 + epoch)
    model.eval()
    with torch.no_grad():
        g = group.random_element(data, generator)
        with MovedNoise(model, group, generator) as noise:
            out = model(data)
            noise.move(g)
            out_g = model(group.act(g, data))
        expected = group.act_on_output(g, out, output_level(out, data),
                                       config.relax_output)
        diff = (out_g - expected).double().pow(2).mean()
        scale = out.double().pow(2).mean()
    return float((diff / scale.clamp_min(1e-300)).sqrt())


def _equivariance_penalty(group_name: str, output: str = 'scalar'
                          ) -> Callable[[nn.Module, Any], Tensor]:
    r"""The penalty of ``TrainConfig.relax_penalty`` for the group named
    ``group_name``: the squared Lie derivative for O(3) and E(3) (translations for E),
    the sampled group difference otherwise; ``output`` says how outputs transform."""
    group = resolve_group(group_name)
    if isinstance(group, OrthogonalGroup) and group.dim == 3:
        translations = isinstance(group, EuclideanGroup)
        return lambda model, data: lie_derivative_penalty(model, data, output,
                                                          translations)
    return lambda model, data: group_difference_penalty(model, data, group,
                                                        output=output)


def _restore(fabric, run: _Run, config: TrainConfig):
    r"""Loads ``last.ckpt`` into the run's state when there is one (every random state
    too, so the run continues exactly), says where it resumes, and drops the log rows
    that a killed run wrote after that checkpoint."""
    state = run.state
    if run.last.exists():
        stored = read_checkpoint(run.last)    # a clear error for an unusable file
        if 'running' not in stored:           # written before the running sums were saved
            del state['running']
        fabric.load(str(run.last), state, weights_only=True)
        state.setdefault('running', _zero_running())
        del stored
        _set_rng_state(state['rng'])
        if state['epoch'] >= config.epochs:
            fabric.print(f'{run.out_dir} has completed its {config.epochs} epochs: '
                         f'evaluating its best model')
        else:
            within = f", step {state['step'] + 1} of {run.steps_per_epoch}" \
                if state['step'] else ''
            fabric.print(f"resuming {run.out_dir} (same configuration) at epoch "
                         f"{state['epoch'] + 1} of {config.epochs}{within}")
    for logger in fabric.loggers:         # the rows of epochs after the checkpoint go
        if isinstance(logger, RunLog):
            logger.truncate(state['epoch'])


def _save(fabric, run: _Run, path: Path):
    r"""Saves the run's state (with the random states of now) to ``path``, written
    beside and renamed, so an interruption never leaves a partial file."""
    run.state['rng'] = _rng_state()
    partial = path.with_name(path.name + '.partial')
    fabric.save(str(partial), run.state)
    if fabric.global_rank == 0:
        os.replace(partial, path)
    fabric.barrier()


def _train_epoch(fabric, run: _Run, config: TrainConfig, dataset,
                 train_idx: Tensor, task: Task, epoch: int) -> Optional[Dict]:
    r"""The optimizer steps of ``epoch`` from the state's step on (a resumed epoch
    continues where its checkpoint stopped), each on this process's share of the
    global batch, with the average updated and the loss summed in the state.
    Checkpoints every ``config.checkpoint_every`` steps; returns
    ``dict(stopped=True, ...)`` when ``config.stop_after_steps`` ends the invocation,
    :obj:`None` at the end of the epoch."""
    state, model, optimizer = run.state, run.model, run.optimizer
    world, rank = fabric.world_size, fabric.global_rank
    batches = epoch_batches(len(train_idx), config.batch_size, config.seed, epoch)
    local = [train_idx[b.tensor_split(world)[rank]] for b in batches]
    start = state['step'] if epoch == state['epoch'] else 0
    if start == 0:
        state['running'] = _zero_running()
    total_loss = state['running']['loss'].to(fabric.device)
    model.train()
    for step in range(start, run.steps_per_epoch):
        data = Batch.from_data_list([dataset[int(i)] for i in local[step]]
                                    ).to(fabric.device)
        t_step = time.perf_counter()
        alpha = 0.0
        if run.relaxation is not None:   # the coefficient at this optimizer step
            alpha = run.relaxation.apply(run.unwrapped,
                                         state['global_step'] / run.steps_per_epoch)
        pred, y = task.outputs(model(data), data)
        loss = task.loss(pred, y)
        reg = getattr(run.unwrapped, 'regularization_loss', None)
        if reg is not None:
            loss = loss + reg()
        if run.penalty is not None and alpha > 0:
            loss = loss + config.relax_penalty * run.penalty(model, data)
        fabric.backward(loss)
        if config.clip > 0:
            fabric.clip_gradients(model, optimizer, max_norm=config.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        run.scheduler.step()
        if run.ema is not None:
            run.ema.update(run.unwrapped)
        run.step_times.append(time.perf_counter() - t_step)
        total_loss += loss.detach().double()
        state['running'] = dict(loss=total_loss, steps=state['running']['steps'] + 1)
        state['step'] = step + 1
        state['global_step'] += 1
        run.steps_done += 1
        if config.checkpoint_every and state['global_step'] % config.checkpoint_every == 0:
            _save(fabric, run, run.last)
        if config.stop_after_steps is not None and run.steps_done >= config.stop_after_steps:
            _save(fabric, run, run.last)
            return dict(stopped=True, epoch=epoch, step=state['step'])
    return None


def _end_epoch(run: _Run, epoch: int) -> float:
    r"""Marks ``epoch`` complete in the state and returns its mean training loss,
    recorded in the history; a :class:`FloatingPointError` if it is not finite."""
    state = run.state
    state['epoch'] = epoch + 1
    state['step'] = 0
    train_loss = float(state['running']['loss']) / max(1, state['running']['steps'])
    if not math.isfinite(train_loss):
        # stop rather than train on NaN weights (and report a missing best model later);
        # last.ckpt keeps the end of the previous epoch unless checkpoint_every saved since
        raise FloatingPointError(
            f'the training loss became {train_loss} in epoch {epoch + 1}: the model '
            f'diverged. Lower the learning rate or clip the gradients '
            f'(TrainConfig.clip); the best model so far, if any, is in {run.ckpt_dir}')
    state['history']['train'].append((epoch + 1, train_loss))
    return train_loss


def _validate_epoch(fabric, run: _Run, config: TrainConfig, dataset,
                    split: Dict[str, Tensor], task: Task, epoch: int,
                    metrics: Dict[str, Any]) -> float:
    r"""Scores the (averaged) model on the validation split, and on the test split with
    ``config.eval_test``, into the history and ``metrics``; keeps it as ``best.pt``
    when it is the best so far (the last epoch with ``select="last"``). Returns the
    validation metric."""
    state = run.state
    coefficient = 0.0
    if run.relaxation is not None:       # the coefficient at the end of the epoch
        coefficient = run.relaxation.apply(run.unwrapped, epoch + 1)
    with run.averaged():
        val = evaluate(run.model, dataset, split['valid'], task, config.eval_batch_size,
                       fabric.device)
        state['history']['val'].append((epoch + 1, val))
        metrics.update({f'val_{k}': v for k, v in val.items()})
        if config.eval_test:
            monitored = evaluate(run.model, dataset, split['test'], task,
                                 config.eval_batch_size, fabric.device)
            state['history']['test'].append((epoch + 1, monitored))
            metrics.update({f'test_{k}': v for k, v in monitored.items()})
        if run.relaxation is not None:
            metrics['val_equivariance_error'] = _relative_equivariance_error(
                run.model, dataset, split['valid'], config, epoch, fabric.device)
        score = val[task.metric]
        best = state['best']
        better = best is None or (score > best if task.higher_is_better
                                  else score < best)
        if config.select == 'last':
            better = epoch + 1 == config.epochs
        if coefficient > 0:              # a relaxed model is not the equivariant one
            better = False
        if better and not math.isnan(score):
            state['best'], state['best_epoch'] = score, epoch + 1
            if fabric.global_rank == 0:
                partial = run.ckpt_dir / 'best.pt.partial'
                torch.save(copy.deepcopy(run.unwrapped.state_dict()), partial)
                os.replace(partial, run.ckpt_dir / 'best.pt')
    return score


def _finish(fabric, run: _Run, config: TrainConfig, dataset, split: Dict[str, Tensor],
            task: Task, t0: float) -> Dict:
    r"""Loads ``best.pt``, scores it on the test and validation splits, writes
    ``results.json`` and the curves (rank 0), closes the loggers and returns the
    results (``seconds``: since ``t0``, the final scoring included)."""
    fabric.barrier()
    state, unwrapped = run.state, run.unwrapped
    best_path = run.ckpt_dir / 'best.pt'
    if best_path.exists():
        unwrapped.load_state_dict(read_checkpoint(best_path, fabric.device))
    test = evaluate(run.model, dataset, split['test'], task, config.eval_batch_size,
                    fabric.device)
    val = evaluate(run.model, dataset, split['valid'], task, config.eval_batch_size,
                   fabric.device)
    timed = sorted(run.step_times[3:] or run.step_times)
    result = dict(metric=task.metric, test=test, valid=val, best_epoch=state['best_epoch'],
                  epochs=config.epochs, seconds=round(time.time() - t0, 1),
                  median_step_s=timed[len(timed) // 2] if timed else None,
                  parameters=sum(p.numel() for p in unwrapped.parameters()),
                  history=state['history'], world_size=fabric.world_size, ema=config.ema)
    if fabric.global_rank == 0:
        (run.out_dir / 'results.json').write_text(json.dumps(result, indent=2))
        plot_curves(state['history'], task.metric, run.out_dir / 'curves.png')
    for logger in fabric.loggers:
        logger.finalize('success')
    return result


def _fit_run(fabric, config: TrainConfig, make_model: Callable[[], nn.Module], dataset,
             split: Dict[str, Tensor], task: Task) -> Dict:
    r"""One invocation of a run: build it, restore its checkpoint, train the remaining
    epochs (validating every ``config.eval_every`` and at the last, logging a row and
    checkpointing after each), then score the best model."""
    run = _build_run(fabric, config, make_model, split)
    _restore(fabric, run, config)
    t0 = time.time()
    epochs = _progress(range(run.state['epoch'], config.epochs),
                       config.progress and fabric.global_rank == 0, desc='train',
                       initial=run.state['epoch'], total=config.epochs)
    for epoch in epochs:
        stopped = _train_epoch(fabric, run, config, dataset, split['train'], task, epoch)
        if stopped is not None:
            return stopped
        train_loss = _end_epoch(run, epoch)
        metrics = {'epoch': epoch + 1, 'train_loss': train_loss,
                   'lr': run.scheduler.get_last_lr()[0]}
        if run.relaxation is not None:
            metrics['relax_coefficient'] = run.relaxation.value(epoch + 1)
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            score = _validate_epoch(fabric, run, config, dataset, split, task, epoch,
                                    metrics)
            if hasattr(epochs, 'set_postfix'):
                epochs.set_postfix(loss=f'{train_loss:.4f}',
                                   **{task.metric: f'{score:.4f}'})
        fabric.log_dict(metrics, step=run.state['global_step'])   # optimizer steps so far
        _save(fabric, run, run.last)
    return _finish(fabric, run, config, dataset, split, task, t0)


def _zero_running() -> Dict[str, Any]:
    return dict(loss=torch.zeros((), dtype=torch.float64), steps=0)


def _check_split(split: Dict[str, Tensor], size: int):
    r"""Each of ``train``, ``valid`` and ``test`` is a non-empty 1-D integer index into
    the dataset (a :class:`ValueError` naming the split otherwise)."""
    for key in ('train', 'valid', 'test'):
        if key not in split or len(split[key]) == 0:
            raise ValueError(f"The split '{key}' is missing or empty")
        index = torch.as_tensor(split[key])
        if index.dim() != 1 or index.is_floating_point() or index.dtype == torch.bool:
            raise ValueError(f"The split '{key}' must be a 1-D tensor of graph indices "
                             f"(got dtype {index.dtype}, shape {tuple(index.shape)})")
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= size:
            raise ValueError(f"The split '{key}' holds index {low if low < 0 else high} "
                             f"outside the dataset's {size} graphs")


def _check_labels(dataset, split: Dict[str, Tensor], task: Task):
    r"""The labels of the graphs a run reads, checked once before training
    (:meth:`Task.check_labels`): collated ones at once for an in-memory PyG dataset,
    else graph by graph."""
    collated = getattr(dataset, '_data', None)
    y = getattr(collated, task.label_key, None) if collated is not None else None
    if y is None:
        index = torch.cat([torch.as_tensor(split[key]) for key in ('train', 'valid',
                                                                     'test')])
        labels = [getattr(dataset[int(i)], task.label_key, None) for i in index.tolist()]
        if any(label is None for label in labels):
            raise ValueError(f"Every graph of the split needs labels "
                             f"'{task.label_key}'")
        y = torch.cat([label.reshape(-1, label.size(-1)) if label.dim() >= 2
                       else label.reshape(-1, 1) for label in labels])
    task.check_labels(y)


def train(config: TrainConfig, make_model: Callable[[], nn.Module], dataset,
          split: Dict[str, Tensor], task: Task, *, extend: bool = False) -> Dict:
    r"""Trains ``make_model()`` on ``dataset[split['train']]``, selects the epoch with
    the best validation metric, and returns (and writes to ``out_dir/results.json``)
    the test and validation metrics.

    If ``out_dir/checkpoints/last.ckpt`` exists the run resumes from it, exactly. A
    folder whose ``config.json`` holds other settings (any field but
    :data:`~lps_geometric.training.config.RUNTIME_FIELDS`) is refused, never reused;
    a checkpoint cannot tell a changed model, so ``extra`` should describe it. With
    ``extend=True`` the stored run may be continued for *more* epochs than it was
    started with (nothing else may differ); with the :obj:`"constant"` schedule that
    gives exactly the longer run, with the decaying schedules the learning rate follows
    the longer schedule from the resumed step on.
    ``make_model`` must be picklable for spawned processes (a top-level function or a
    :func:`functools.partial`).

    The CSV log ``out_dir/logs/metrics.csv`` (:class:`RunLog`) has one row per epoch:
    ``step`` is the number of optimizer steps taken so far, ``epoch`` the epochs
    completed. A resumed run continues the same file (and the same TensorBoard folder),
    first dropping what the interrupted run logged after its last checkpoint, so the
    log, like ``results.json``, equals that of an uninterrupted run.

    With ``config.deterministic`` the run trains inside
    :func:`~lps_geometric.utils.determinism.deterministic` (restored on return), so
    that a seed repeats bit for bit on the same hardware and number of threads.

    Returns:
        ``dict(metric, test, valid, best_epoch, history, ...)``, or
        ``dict(stopped=True, ...)`` when ``stop_after_steps`` ended the invocation.

    Raises:
        FloatingPointError: the mean training loss of an epoch is NaN or infinite (the
            model diverged; checked once per epoch, no per-step sync).
        RunFolderError: ``out_dir`` holds a run with other settings, or its
            ``config.json`` cannot be read.
        CheckpointError: ``last.ckpt`` or ``best.pt`` is empty or corrupted.
    """
    config.validate()         # fields may have been changed since construction
    _check_split(split, len(dataset))
    _check_labels(dataset, split, task)
    stored = Path(config.out_dir) / 'config.json'
    if stored.exists():
        old = TrainConfig.load(stored)
        changed = old.differences(config)
        if extend and 'epochs' in changed and config.epochs >= old.epochs:
            del changed['epochs']
        if changed:
            listed = ', '.join(f'{name} {old!r} -> {new!r}'
                               for name, (old, new) in changed.items())
            raise RunFolderError(f'{config.out_dir} holds a run with other settings '
                                 f'({listed}): use another out_dir or delete it')
    # entered here too, so that processes started by the launch inherit the cuBLAS
    # setting before their first CUDA call
    with deterministic(config.deterministic):
        fabric = make_fabric(config)
        return fabric.launch(_fit, config, make_model, dataset, split, task)


def plot_curves(history: Dict, metric: str, path: Path) -> Optional[Path]:
    r"""Training loss and validation metric against the epoch (PNG); nothing if
    matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    if history['train']:
        e, v = zip(*history['train'])
        ax1.plot(e, v)
    ax1.set_xlabel('epoch')
    ax1.set_ylabel('training loss')
    if history['val']:
        e, v = zip(*[(e, m[metric]) for e, m in history['val']])
        ax2.plot(e, v, marker='.')
    ax2.set_xlabel('epoch')
    ax2.set_ylabel(f'validation {metric}')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
