r"""The configuration of a training run (JSON round trip, so a run can be resumed and
evaluated from its folder)."""
import json
import math
import numbers
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

__all__ = ['TrainConfig', 'RunFolderError', 'RUNTIME_FIELDS']

#: Learning-rate schedules after the warm-up.
SCHEDULES = ('cosine', 'linear', 'constant')
#: Schedules of the relaxation coefficient (``"none"``: no relaxation).
RELAX_SCHEDULES = ('none', 'constant', 'linear', 'cosine', 'exponential')
#: Precisions Lightning Fabric accepts here.
PRECISIONS = ('auto', '32-true', '32', '16-mixed', 'bf16-mixed', '16-true', 'bf16-true',
              '64-true')

#: Fields of :class:`TrainConfig` that say where a run is computed, how often it is
#: saved and how it is shown, not what it computes (a DDP step equals a single-process
#: step): a run folder may be resumed with other values of these.
RUNTIME_FIELDS = ('out_dir', 'progress', 'tensorboard', 'stop_after_steps', 'accelerator',
                  'devices', 'strategy', 'num_nodes', 'checkpoint_every')


class RunFolderError(ValueError):
    r"""A run folder cannot be used as asked: it holds a run with other settings, or
    its ``config.json`` is missing or unreadable."""


@dataclass
class TrainConfig:
    r"""Everything that defines a training run besides the model and the data.

    Attributes:
        epochs (int): Passes over the training split.
        batch_size (int): *Global* batch size: with :math:`P` processes each takes
            ``batch_size / P`` graphs of the same global batch, so a DDP step equals a
            single-process step on that batch.
        eval_batch_size (int): Batch size for evaluation.
        lr (float): Peak learning rate (AdamW).
        weight_decay (float): AdamW weight decay.
        warmup (float): Fraction of the steps with linear warm-up.
        schedule (str): After the warm-up: ``"cosine"`` decay, ``"linear"`` decay to
            zero, or ``"constant"``.
        clip (float): Gradient norm clipping (0: off).
        ema (float): Decay of an exponential moving average of the weights
            (:class:`~lps_geometric.training.ExponentialMovingAverage`, e.g. ``0.999``;
            0: off). When on, every evaluation, the selection and ``best.pt`` use the
            averaged weights; ``last.ckpt`` holds both, so resuming stays exact.
        seed (int): Seed of parameters, shuffling and sampling.
        accelerator, devices, strategy, num_nodes: Passed to Lightning Fabric
            (``"cpu"``/``"gpu"``/``"auto"``; ``devices=2, strategy="ddp"`` for two
            processes; multi-node with ``num_nodes``).
        precision (str): ``"32-true"``, ``"16-mixed"``, ``"bf16-mixed"`` or ``"auto"``
            (bf16 mixed precision on a GPU that supports it, else 32-bit).
        eval_every (int): Evaluate every this many epochs.
        select (str): ``"valid"``: keep the epoch with the best validation metric;
            ``"last"``: keep the last epoch (for protocols without a validation set,
            where the ``valid`` split only monitors).
        eval_test (bool): Also evaluate the test split at every evaluation (for
            learning curves; never used for selection).
        checkpoint_every (int): Also checkpoint every this many steps (0: at epoch ends
            only). A run resumes exactly from any checkpoint, mid-epoch included.
        out_dir (str): Run folder (config, checkpoints, CSV log, curves).
        progress (bool): Progress bars on rank 0.
        tensorboard (bool): Also log to TensorBoard (needs ``tensorboard``).
        deterministic (bool): Train in the deterministic mode
            (:func:`~lps_geometric.utils.determinism.deterministic`): deterministic
            kernels (an operation without one raises), cuDNN without benchmarking and
            ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, so that a seed repeats bit for bit on
            the same hardware and number of threads. A setting of the run: a folder is
            resumed with its stored value only.
        stop_after_steps (int, optional): Stop (as if killed) after this many steps of
            this invocation, right after saving a checkpoint; for tests and preemption.
        relax (str): Constraint relaxation: ``"none"`` or the schedule of the
            coefficient (:class:`~lps_geometric.training.RelaxationSchedule`:
            ``"constant"``, ``"linear"``, ``"cosine"``, ``"exponential"``). The model's
            default layers are relaxed (:func:`~lps_geometric.nn.relax`) unless it has
            relaxed layers already; the coefficient follows the schedule step by step
            (from the optimizer step count, so a resumed run follows it exactly) and
            only epochs whose coefficient is zero can be selected, so the selected
            model is the equivariant one.
        relax_start (float): The coefficient at the start (non-negative).
        relax_end (float, optional): The epoch from which the coefficient is zero, in
            :math:`(0,` ``epochs`` :math:`]`; :obj:`None`: ``epochs`` (only the last
            epoch can then be selected). Set it when a run may be extended.
        relax_penalty (float): Weight of a penalty on the relaxed model's equivariance
            added to the loss while the coefficient is positive: the squared Lie
            derivative (:func:`~lps_geometric.diagnostics.lie_derivative_penalty`) for
            O(3) and E(3), the sampled group difference
            (:func:`~lps_geometric.diagnostics.group_difference_penalty`) for the
            other groups; the outputs act as ``relax_output`` says. (0: none)
        relax_group (str): The group of that penalty and of the relative equivariance
            error logged at every evaluation of a relaxed run (``val_equivariance_error``)
            (a name such as ``"S_n"``, ``"O(3)"``, ``"E(3)"``).
        relax_output (str): How the group acts on the model's outputs there:
            ``"scalar"`` (invariant; node rows follow a permutation), ``"vector"``
            (rotate) or ``"position"`` (rotate and translate).
        extra (dict): Free-form settings of the model and data (recorded in the run).

    Values are checked on construction (a :class:`ValueError` naming the field): counts
    are integers (``epochs``, ``batch_size``, ``eval_batch_size``, ``eval_every``,
    ``num_nodes`` at least 1; ``seed``, ``checkpoint_every`` at least 0), ``lr``,
    ``weight_decay`` and ``clip`` non-negative, ``warmup`` and ``ema`` in
    :math:`[0, 1)`, ``relax_start`` non-negative and ``relax_end`` in
    :math:`(0,` ``epochs`` :math:`]`, and ``schedule``, ``precision``, ``select`` and
    ``relax`` known names.
    """
    epochs: int = 100
    batch_size: int = 32
    eval_batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup: float = 0.05
    schedule: str = 'cosine'
    clip: float = 1.0
    ema: float = 0.0
    seed: int = 0
    accelerator: str = 'auto'
    devices: Union[int, str] = 1
    strategy: str = 'auto'
    num_nodes: int = 1
    precision: str = 'auto'
    eval_every: int = 1
    select: str = 'valid'
    eval_test: bool = False
    checkpoint_every: int = 0
    out_dir: str = 'runs/run'
    progress: bool = True
    tensorboard: bool = False
    deterministic: bool = False
    stop_after_steps: Optional[int] = None
    relax: str = 'none'
    relax_start: float = 1.0
    relax_end: Optional[float] = None
    relax_penalty: float = 0.0
    relax_group: str = 'S_n'
    relax_output: str = 'scalar'
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    def validate(self):
        r"""Checks every field's value (see the class docstring); a
        :class:`ValueError` naming the field."""
        def integer(name: str, minimum: int, optional: bool = False):
            value = getattr(self, name)
            if optional and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"TrainConfig: '{name}' must be an integer "
                                 f"(got {value!r})")
            if value < minimum:
                raise ValueError(f"TrainConfig: '{name}' must be >= {minimum} "
                                 f"(got {value})")

        def real(name: str, low: float, high: float = math.inf,
                 high_open: bool = False, low_open: bool = False):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not math.isfinite(value):
                raise ValueError(f"TrainConfig: '{name}' must be a finite number "
                                 f"(got {value!r})")
            if value < low or (low_open and value == low) or value > high or \
                    (high_open and value == high):
                span = (('(' if low_open else '[') + f'{low:g}, {high:g}'
                        + (')' if high_open or high == math.inf else ']'))
                raise ValueError(f"TrainConfig: '{name}' must lie in {span} "
                                 f"(got {value})")

        for name in ('epochs', 'batch_size', 'eval_batch_size', 'eval_every',
                     'num_nodes'):
            integer(name, 1)
        integer('seed', 0)
        integer('checkpoint_every', 0)
        integer('stop_after_steps', 1, optional=True)
        real('lr', 0.0)
        real('weight_decay', 0.0)
        real('warmup', 0.0, 1.0, high_open=True)
        real('clip', 0.0)
        real('ema', 0.0, 1.0, high_open=True)
        real('relax_start', 0.0)
        real('relax_penalty', 0.0)
        if not isinstance(self.relax_group, str) or not self.relax_group.strip():
            raise ValueError(f"TrainConfig: 'relax_group' must name a group (got "
                             f"{self.relax_group!r})")
        if self.relax_end is not None:
            real('relax_end', 0.0, float(self.epochs), low_open=True)
        for name, allowed in (('schedule', SCHEDULES), ('precision', PRECISIONS),
                              ('select', ('valid', 'last')),
                              ('relax', RELAX_SCHEDULES),
                              ('relax_output', ('scalar', 'vector', 'position'))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"TrainConfig: '{name}' must be one of {allowed} "
                                 f"(got {getattr(self, name)!r})")
        if not isinstance(self.extra, dict):
            raise ValueError(f"TrainConfig: 'extra' must be a dict (got "
                             f"{type(self.extra).__name__})")

    def save(self, path: Union[str, Path]):
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    def to_json_dict(self) -> Dict[str, Any]:
        r"""The fields as :meth:`load` reads them back from JSON (lists, not tuples)."""
        return json.loads(json.dumps(asdict(self)))

    def differences(self, other: 'TrainConfig', ignore: Tuple[str, ...] = RUNTIME_FIELDS
                    ) -> Dict[str, Tuple[Any, Any]]:
        r"""The settings whose values differ, as ``{name: (value here, value in
        other)}`` in field order; keys of :attr:`extra` are named ``"extra.KEY"`` (a
        key missing on one side has the value :obj:`None` there). Fields in ``ignore``
        are not compared (default: :data:`RUNTIME_FIELDS`)."""
        mine, theirs = self.to_json_dict(), other.to_json_dict()
        out: Dict[str, Tuple[Any, Any]] = {}
        for name in mine:
            if name in ignore:
                continue
            if name == 'extra':
                a, b = mine['extra'], theirs['extra']
                for key in list(a) + [k for k in b if k not in a]:
                    if f'extra.{key}' not in ignore and a.get(key) != b.get(key):
                        out[f'extra.{key}'] = (a.get(key), b.get(key))
            elif mine[name] != theirs[name]:
                out[name] = (mine[name], theirs[name])
        return out

    @classmethod
    def load(cls, path: Union[str, Path]) -> 'TrainConfig':
        r"""Reads a config written by :meth:`save`.

        Raises:
            RunFolderError: The file is missing, is not JSON or holds unknown
                settings.
        """
        path = Path(path)
        if not path.is_file():
            raise RunFolderError(f'{path} does not exist')
        try:
            raw = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise RunFolderError(f'{path} is not a readable configuration ({error})') \
                from None
        if not isinstance(raw, dict):
            raise RunFolderError(f'{path} is not a readable configuration (a JSON '
                                 f'object was expected)')
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise RunFolderError(f'Unknown settings in {path}: {sorted(unknown)}')
        try:
            return cls(**raw)
        except ValueError as error:
            raise RunFolderError(f'{path} holds an invalid setting: {error}') from None
