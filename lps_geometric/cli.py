r"""Command line: ``lps-geometric train ...`` and ``lps-geometric evaluate ...``.

Examples::

    lps-geometric train --dataset freesolv --model lps --epochs 100 --seeds 0 1 2
    lps-geometric train --dataset freesolv --model gin --epochs 100 --seeds 0 1 2
    lps-geometric train --dataset qm9 --target gap --max-molecules 5000 --model lps
    lps-geometric train --dataset ogbg-molhiv --model mfa --devices 4 --strategy ddp
    lps-geometric train --dataset pattern --model lps --backbone gin --max-train 1500
    lps-geometric train --dataset peptides-func --model gps --pe rwse
    lps-geometric evaluate --run runs/freesolv-lps-seed0

A run folder (``OUT/NAME-seedS``) holds ``config.json``, ``checkpoints/`` (``last.ckpt``
to resume, ``best.pt``), ``logs/metrics.csv``, ``curves.png`` and ``results.json``;
``OUT/NAME-summary.json`` gathers the seeds. Running the same command again continues
an unfinished run from its last checkpoint and shows the results of a finished one; a
command whose settings differ from a folder's ``config.json`` is refused, naming the
options, unless ``--resume`` (continue with the stored settings) or ``--overwrite``
(delete the folders and start again) is given.

Errors are one line on stderr with exit status 1 (2 for invalid arguments);
``--debug`` also prints the traceback.
"""
import argparse
import dataclasses
import functools
import json
import math
import shutil
import statistics
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

__all__ = ['main', 'build_parser', 'entry_point', 'CLIError']

SYMMETRIZED = ('lps', 'ga', 'fa', 'mfa', 'canonical', 'none')
BASELINES = ('gin', 'gps', 'schnet')
#: Datasets known by name besides the OGB molecule datasets (``ogbg-mol*``).
NAMED_DATASETS = ('freesolv', 'b3db', 'qm9', 'pattern', 'cluster', 'peptides-func',
                  'peptides-struct', 'pcqm-contact')
#: The graph benchmarks among them (node, link and long-range graph tasks).
GRAPH_BENCHMARKS = ('pattern', 'cluster', 'peptides-func', 'peptides-struct',
                    'pcqm-contact')
#: Suffixes of the user's own molecule files (a table of SMILES or an SDF file).
FILE_SUFFIXES = ('.csv', '.tsv', '.sdf')
#: The OGB molecule datasets, used when ``ogb`` is not installed to list them.
OGB_MOLECULES = ('ogbg-molbace', 'ogbg-molbbbp', 'ogbg-molclintox', 'ogbg-molmuv',
                 'ogbg-molpcba', 'ogbg-molsider', 'ogbg-moltox21', 'ogbg-moltoxcast',
                 'ogbg-molhiv', 'ogbg-molesol', 'ogbg-molfreesolv', 'ogbg-mollipo',
                 'ogbg-molchembl')
#: Options that name, place or show a run, or say where and how often it is computed
#: and saved, not what it computes: a run folder is resumed whatever their values.
NOT_SETTINGS = ('command', 'debug', 'resume', 'overwrite', 'seeds', 'out', 'name',
                'no_progress', 'tensorboard', 'accelerator', 'devices', 'strategy',
                'num_nodes', 'checkpoint_every')


class CLIError(Exception):
    r"""An error of the user's command or environment (a bad value, a missing or
    corrupted file, a dataset that cannot be had): :func:`entry_point` prints its
    message as one line and exits with :attr:`exit_status`."""
    exit_status = 1


class _Parser(argparse.ArgumentParser):
    r"""An argument parser whose errors are one line: ``PROG: error: MESSAGE``."""
    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message}\n')


class _Formatter(argparse.RawDescriptionHelpFormatter,
                 argparse.ArgumentDefaultsHelpFormatter):
    r"""Help that keeps the layout of the description and shows every default."""


class _OptionFormatter(argparse.ArgumentDefaultsHelpFormatter):
    r"""Help that shows the default of every option that has one (not of the required
    ones)."""
    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ''
        if action.required or '(default' in text:
            return text
        if action.default is argparse.SUPPRESS:  # flags repeated on the sub-commands
            return text + (' (default: off)' if action.nargs == 0 else '')
        return super()._get_help_string(action)


def _integer(minimum: int, maximum: Optional[int] = None) -> Callable[[str], int]:
    r"""An argparse ``type``: an integer in ``[minimum, maximum]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'must be an integer (got {text!r})') from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f'>= {minimum}' if maximum is None else f'in [{minimum}, {maximum}]'
            raise argparse.ArgumentTypeError(f'must be {bound} (got {text})')
        return value
    return parse


def _group_name(text: str) -> str:
    r"""An argparse ``type``: a group name that :func:`~lps_geometric.groups.resolve_group`
    reads (imported only when the option is given)."""
    from lps_geometric.groups.names import resolve_group
    try:
        resolve_group(text)
    except (ValueError, TypeError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _real(low: float, high: Optional[float] = None, low_open: bool = False,
          high_open: bool = True) -> Callable[[str], float]:
    r"""An argparse ``type``: a finite float above ``low`` (and below ``high``);
    ``low_open``/``high_open`` exclude the bound itself."""
    if high is None:
        bound = f'> {low:g}' if low_open else f'>= {low:g}'
    else:
        bound = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'must be a number (got {text!r})') from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f'must be a finite number (got {text})')
        if value < low or (low_open and value == low) or (high is not None and (
                value > high or (high_open and value == high))):
            raise argparse.ArgumentTypeError(f'must be {bound} (got {text})')
        return value
    return parse


def _devices(text: str) -> str:
    r"""An argparse ``type`` for ``--devices``: a count >= 1, ``-1`` (all), ``auto``,
    or device indices such as ``0,1`` (kept as text, as Lightning reads it)."""
    parts = text.strip(',').split(',')
    if text in ('auto', '-1') or (',' in text and all(p.isdigit() for p in parts)) or \
            (text.isdigit() and int(text) >= 1):
        return text
    raise argparse.ArgumentTypeError(
        f"must be a number of devices >= 1, -1 (all), 'auto' or device indices such "
        f"as 0,1 (got {text!r})")


def build_parser() -> argparse.ArgumentParser:
    r"""The ``lps-geometric`` parser (``train`` and ``evaluate``); imports nothing
    heavy, so ``--help`` is immediate."""
    parser = _Parser(
        prog='lps-geometric', description='Train and evaluate symmetrized models and '
        'GNN baselines on molecular benchmarks.', formatter_class=_Formatter,
        epilog=__doc__)
    debug = 'print the traceback of an error, not only its one-line message'
    parser.add_argument('--debug', action='store_true', help=debug)
    sub = parser.add_subparsers(dest='command', required=True)
    t = sub.add_parser('train', help='train a model (continues a run folder with the '
                                     'same settings)',
                       formatter_class=_OptionFormatter,
                       description='Train one run per seed in OUT/NAME-seedS. Running the '
                       'same command again continues an unfinished run from its last '
                       'checkpoint and shows the results of a finished one; a run folder '
                       'whose config.json holds other settings is refused (naming the '
                       'options) unless --resume or --overwrite is given.')
    t.add_argument('--debug', action='store_true', default=argparse.SUPPRESS, help=debug)
    reuse = t.add_mutually_exclusive_group()
    reuse.add_argument('--resume', action='store_true',
                       help="continue this command's run folders with the settings in "
                            "their config.json: options left out take the stored values, "
                            "options given must agree with them (new seeds train with "
                            "them too)")
    reuse.add_argument('--overwrite', action='store_true',
                       help="delete this command's run folders and summary first, then "
                            "train from scratch")
    t.add_argument('--dataset', required=True,
                   help="'freesolv', 'b3db' (offline, OGB format), 'qm9' (qm9pack, 3D), "
                        "an OGB name such as 'ogbg-molhiv' (downloaded, or read from "
                        "ROOT/ogbg_molhiv in OGB's layout), a CSV/TSV/SDF file of "
                        "one's own molecules (see --target, --smiles-column, --task, "
                        "--split), or a graph benchmark: 'pattern', 'cluster' (node "
                        "classification, generated offline; see --source), "
                        "'peptides-func', 'peptides-struct', 'pcqm-contact' (LRGB, "
                        "downloaded, or read from ROOT/NAME/raw in PyG's layout)")
    t.add_argument('--source', default='generated', choices=['generated', 'original'],
                   help='pattern/cluster: generated here from the published stochastic '
                        'block models (offline), or the released files through PyG\'s '
                        'GNNBenchmarkDataset (downloaded on first use)')
    t.add_argument('--max-train', type=_integer(1), default=None,
                   help='graph benchmarks: train on a random subset of this many '
                        'training graphs (seeded; CPU-sized runs)')
    t.add_argument('--max-eval', type=_integer(1), default=None,
                   help='graph benchmarks: validate and test on random subsets of this '
                        'many graphs each')
    t.add_argument('--pe', default='none', choices=['none', 'rwse', 'lappe'],
                   help='graph benchmarks, --model gin/gps: a positional encoding read '
                        'by the baseline (random-walk return probabilities, or '
                        'Laplacian eigenvectors with random signs in training)')
    t.add_argument('--pe-dim', type=_integer(1), default=16,
                   help='channels of --pe (walk length, or eigenvectors)')
    t.add_argument('--tokens', default='rows', choices=['rows', 'patches'],
                   help='graph benchmarks, --backbone transformer: one token per node '
                        '(its adjacency row), or square patches of the adjacency image '
                        '(a 14 x 14 grid, as a ViT-B/16 sees a 224 x 224 image)')
    t.add_argument('--root', default='datasets',
                   help='data root: the datasets, and the processed copies of table '
                        'files, are kept in ROOT/NAME')
    t.add_argument('--model', default='lps', choices=SYMMETRIZED + BASELINES,
                   help="a symmetrization method around the transformer ('none': the "
                        "transformer alone), or a baseline GNN (gps: graph benchmarks "
                        "only)")
    t.add_argument('--backbone', default='transformer',
                   choices=['transformer', 'mlp', 'gin'],
                   help='the network that is symmetrized (graph datasets): a transformer '
                        'with one token per atom, an MLP on the adjacency image, or '
                        'PositionalGIN (sparse message passing that reads positions)')
    t.add_argument('--gin-norm', default='post', choices=['post', 'pre', 'batch'],
                   help='PositionalGIN layers: layer norm after (post) or before (pre), '
                        'or batch norm after (batch)')
    t.add_argument('--epochs', type=_integer(1), default=100,
                   help='passes over the training split')
    t.add_argument('--batch-size', type=_integer(1), default=32,
                   help='global batch size (split across devices)')
    t.add_argument('--eval-batch-size', type=_integer(1), default=256,
                   help='batch size of evaluation')
    t.add_argument('--lr', type=_real(0.0, low_open=True), default=1e-3,
                   help='peak learning rate (AdamW)')
    t.add_argument('--weight-decay', type=_real(0.0), default=0.0,
                   help='AdamW weight decay')
    t.add_argument('--warmup', type=_real(0.0, 1.0), default=0.05,
                   help='fraction of the steps with a linear learning-rate warm-up, '
                        'in [0, 1)')
    t.add_argument('--schedule', default='cosine', choices=['cosine', 'linear', 'constant'],
                   help='learning rate after the linear warm-up')
    t.add_argument('--clip', type=_real(0.0), default=1.0,
                   help='maximum gradient norm (0: no clipping)')
    t.add_argument('--ema', type=_real(0.0, 1.0), default=0.0,
                   help='decay of an exponential moving average of the weights, used for '
                        'evaluation and best.pt, in [0, 1) (e.g. 0.999; 0: off)')
    t.add_argument('--relax', default='none',
                   choices=['none', 'constant', 'linear', 'cosine', 'exponential'],
                   help="constraint relaxation: the symmetrized model (or the model's "
                        "EGNN and message-passing layers) gets a non-equivariant term "
                        "times a coefficient that follows this schedule and is zero from "
                        "--relax-end on; only epochs with coefficient zero are selected")
    t.add_argument('--relax-start', type=_real(0.0), default=1.0,
                   help='the relaxation coefficient at the start')
    t.add_argument('--relax-end', type=_real(0.0, low_open=True), default=None,
                   help='the epoch from which the relaxation coefficient is zero, at most '
                        '--epochs (default: --epochs)')
    t.add_argument('--relax-penalty', type=_real(0.0), default=0.0,
                   help='weight of a penalty on the relaxed model\'s equivariance while '
                        'the coefficient is positive (Lie derivative for O(3)/E(3), '
                        'sampled group difference otherwise; 0: none)')
    t.add_argument('--relax-group', type=_group_name, default='S_n',
                   help='the group of --relax-penalty (e.g. S_n, O(3), E(3))')
    t.add_argument('--embed-dim', type=_integer(1), default=64,
                   help='transformer width (a multiple of --heads); width of the '
                        'PositionalGIN and MLP backbones')
    t.add_argument('--depth', type=_integer(1), default=4,
                   help='transformer (or PositionalGIN) layers')
    t.add_argument('--heads', type=_integer(1), default=4,
                   help='attention heads of the transformer')
    t.add_argument('--dropout', type=_real(0.0, 1.0), default=0.1,
                   help='dropout probability, in [0, 1)')
    t.add_argument('--samples', type=_integer(1), default=1,
                   help='k in training (LPS, GA)')
    t.add_argument('--eval-samples', type=_integer(1), default=10,
                   help='k in evaluation')
    t.add_argument('--entropy-weight', type=_real(0.0), default=0.1,
                   help='weight of the entropy penalty of the LPS sampler (0: off)')
    t.add_argument('--hidden', type=_integer(1), default=300, help='baseline GNN width')
    t.add_argument('--layers', type=_integer(1), default=5, help='baseline GNN layers')
    t.add_argument('--target', nargs='+', default=None, metavar='TARGET',
                   help="QM9: the target (name or index; unset: gap). A table file: "
                        "its target column(s) (SDF: properties), one task each; empty "
                        "cells are missing labels")
    t.add_argument('--max-molecules', type=int, default=None,
                   help='QM9: use the first N molecules (CPU-sized subsets)')
    t.add_argument('--smiles-column', default='smiles',
                   help='a CSV/TSV table file: the column of SMILES strings')
    t.add_argument('--task', default='regression', choices=['regression', 'classification'],
                   help='a table file: regression, or binary classification (targets 0/1)')
    t.add_argument('--split', default='scaffold', metavar='SPLIT',
                   help="a table file: 'scaffold' (80/10/10 by Bemis-Murcko scaffold, as "
                        "OGB), 'random' (80/10/10, seed 0) or a column whose values are "
                        "train, valid and test")
    t.add_argument('--metric', default=None, choices=['rmse', 'mae', 'rocauc', 'ap'],
                   help='a table file: the metric, averaged over targets as OGB does '
                        '(unset: rmse for regression, rocauc for classification)')
    t.add_argument('--skip-invalid', action='store_true',
                   help='a table file: leave out molecules with invalid SMILES (listed '
                        'with their line numbers in a warning) instead of stopping')
    t.add_argument('--vit-checkpoint', type=Path, default=None,
                   help='initialise the transformer blocks from a timm ViT state dict '
                        'on disk (.safetensors/.pth; nothing is downloaded)')
    t.add_argument('--seeds', type=_integer(0, 2 ** 32 - 1), nargs='+', default=[0],
                   help='one run per seed (each once); their mean, and the std over '
                        'two or more, are reported')
    t.add_argument('--out', type=Path, default=Path('runs'), help='parent of run folders')
    t.add_argument('--name', default=None,
                   help='run folder name before -seedS (default: DATASET-MODEL)')
    t.add_argument('--accelerator', default='auto',
                   choices=['auto', 'cpu', 'gpu', 'cuda', 'mps', 'tpu'],
                   help='the device kind (Lightning Fabric)')
    t.add_argument('--devices', type=_devices, default='1',
                   help="number of devices, -1 (all), 'auto', or indices such as 0,1")
    t.add_argument('--strategy', default='auto',
                   help="Lightning strategy, e.g. 'ddp' for several devices")
    t.add_argument('--num-nodes', type=_integer(1), default=1,
                   help='machines of a multi-node run')
    t.add_argument('--precision', default='auto',
                   choices=['auto', '32-true', '16-mixed', 'bf16-mixed', '16-true',
                            'bf16-true', '64-true'], metavar='PRECISION',
                   help="%(choices)s; 'auto': bf16 mixed precision on a GPU that "
                        "supports it, else 32-bit")
    t.add_argument('--eval-every', type=_integer(1), default=1,
                   help='evaluate (and select the best model) every N epochs')
    t.add_argument('--checkpoint-every', type=_integer(0), default=0,
                   help='also checkpoint every N steps (0: at epoch ends only)')
    t.add_argument('--deterministic', action='store_true',
                   help='deterministic mode: deterministic kernels (an operation '
                        'without one stops the run), cuDNN without benchmarking and '
                        'CUBLAS_WORKSPACE_CONFIG=:4096:8, so a seed repeats bit for bit '
                        'on the same hardware and number of threads; a setting of the '
                        'run, stored in config.json')
    t.add_argument('--no-progress', action='store_true', help='no progress bars')
    t.add_argument('--tensorboard', action='store_true',
                   help='also log to TensorBoard (needs tensorboard)')
    e = sub.add_parser('evaluate', help='evaluate the best checkpoint of a run folder',
                       formatter_class=_OptionFormatter,
                       description='Evaluate checkpoints/best.pt of a run folder with the '
                                   'settings of its config.json.')
    e.add_argument('--debug', action='store_true', default=argparse.SUPPRESS, help=debug)
    e.add_argument('--run', type=Path, required=True,
                   help='a run folder written by train (OUT/NAME-seedS)')
    e.add_argument('--split', default='test', choices=['train', 'valid', 'test'],
                   help='the split to evaluate')
    e.add_argument('--seed', type=_integer(0), default=0,
                   help='seed of the samples of stochastic methods (LPS, GA): their '
                        'metrics are Monte Carlo estimates and vary with it')
    return parser


def _command_parser(parser: argparse.ArgumentParser, command: str
                    ) -> argparse.ArgumentParser:
    r"""The parser of one command (``train`` or ``evaluate``)."""
    action, = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[command]


def _train_defaults() -> Dict[str, Any]:
    r"""The default of every ``train`` option, by destination."""
    train = _command_parser(build_parser(), 'train')
    return {a.dest: a.default for a in train._actions
            if a.dest != 'help' and a.default is not argparse.SUPPRESS}


def _explicit_options(argv: Sequence[str]) -> Set[str]:
    r"""The destinations of the ``train`` options given on the command line (parsed
    again with every default suppressed, so abbreviations count too)."""
    parser = build_parser()
    for action in _command_parser(parser, 'train')._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(list(argv)))) - {'command', 'debug'}


def _check_train_args(parser: argparse.ArgumentParser, args: argparse.Namespace):
    r"""Checks that involve several options (or options of the data); exits like an
    argparse error."""
    train = _command_parser(parser, 'train')
    transformer = args.model in SYMMETRIZED and (
        args.backbone == 'transformer' or str(args.dataset).lower() == 'qm9')
    if transformer and args.embed_dim % args.heads:
        train.error(f'argument --embed-dim: must be a multiple of --heads '
                    f'(got {args.embed_dim} and {args.heads} heads)')
    if args.model == 'gps' and args.hidden % args.heads:
        train.error(f'argument --hidden: GPS needs a multiple of --heads (got '
                    f'{args.hidden} and {args.heads} heads)')
    max_molecules = getattr(args, 'max_molecules', None)
    if max_molecules is not None and max_molecules < 1:
        train.error(f'argument --max-molecules: must be >= 1 (got {max_molecules})')
    repeated = sorted({s for s in args.seeds if args.seeds.count(s) > 1})
    if repeated:
        train.error(f'argument --seeds: each seed once (repeated: '
                    f'{", ".join(map(str, repeated))})')


def _check_dataset(name: str):
    r"""Refuses a dataset the CLI cannot load, listing the ones it can."""
    lower = name.lower()
    ogb = _ogb_molecule_names()
    if lower in NAMED_DATASETS or lower in ogb:
        return
    path = Path(name)
    if path.is_file():
        return
    if is_table_file(name) or len(path.parts) > 1:
        raise CLIError(f"the dataset file {name} does not exist")
    molecules = [n for n in NAMED_DATASETS if n not in GRAPH_BENCHMARKS]
    raise CLIError(f"unknown dataset '{name}': use {', '.join(molecules)}, a graph "
                   f"benchmark ({', '.join(GRAPH_BENCHMARKS)}), an OGB "
                   f"molecule dataset ({', '.join(ogb)}) or a "
                   f"{'/'.join(s[1:].upper() for s in FILE_SUFFIXES)} file of molecules")


def _ogb_molecule_names() -> Tuple[str, ...]:
    r"""The ``ogbg-mol*`` names of the installed ``ogb`` (read from its table of
    datasets without importing it), else :data:`OGB_MOLECULES`."""
    import csv
    import importlib.util
    spec = importlib.util.find_spec('ogb')
    for folder in (spec.submodule_search_locations or []) if spec else []:
        table = Path(folder) / 'graphproppred' / 'master.csv'
        if table.is_file():
            with open(table, newline='') as f:
                header = next(csv.reader(f), [])
            names = tuple(n for n in header if n.startswith('ogbg-mol'))
            if names:
                return names
    return OGB_MOLECULES


# ---------------------------------------------------------------------------------------
#: Options of the graph benchmarks, with their defaults.
BENCHMARK_OPTIONS = {'source': 'generated', 'max_train': None, 'max_eval': None,
                     'pe': 'none', 'pe_dim': 16, 'tokens': 'rows'}
#: Options of a table file of one's own molecules, with their defaults.
TABLE_OPTIONS = {'smiles_column': 'smiles', 'task': 'regression', 'split': 'scaffold',
                 'metric': None, 'skip_invalid': False}


def is_table_file(dataset: str) -> bool:
    r"""Whether ``--dataset`` names a file of one's own molecules (an existing file, or
    a name with a table suffix) rather than a dataset known by name."""
    lower = str(dataset).lower()
    if lower in NAMED_DATASETS or lower.startswith('ogbg-'):
        return False
    path = Path(dataset)
    return path.suffix.lower() in FILE_SUFFIXES + ('.tab', '.txt', '.sd') or path.is_file()


def dataset_label(dataset: str) -> str:
    r"""The dataset's part of run folder names: a known name in lower case, or a table
    file's name without folder and suffix."""
    if is_table_file(dataset):
        import re
        return re.sub(r'[^\w.-]+', '_', Path(dataset).stem).lower()
    return str(dataset).lower()


def _targets(args) -> List[str]:
    target = getattr(args, 'target', None)
    if target is None:
        return []
    return [str(target)] if isinstance(target, (str, int)) else [str(t) for t in target]


def load_data(args) -> tuple:
    r"""``(dataset, split, task)`` for the CLI arguments: QM9, a dataset in OGB's format
    known by name (``freesolv``, ``b3db``, ``ogbg-mol*``), a table file of one's own
    molecules (:class:`~lps_geometric.datasets.MoleculeTable`), or a graph benchmark
    (:func:`~lps_geometric.training.graph_benchmarks.load_graph_benchmark`). A problem with the data
    (a missing column, invalid SMILES, a failed download) raises :class:`CLIError`."""
    import torch
    from lps_geometric.training import Task
    name = args.dataset.lower()
    targets = _targets(args)
    table = is_table_file(args.dataset)
    if not table:
        given = ['--' + k.replace('_', '-') for k, default in TABLE_OPTIONS.items()
                 if getattr(args, k, default) != default]
        if given:
            raise CLIError(f"{', '.join(given)}: for a table file of one's own "
                           f"molecules, not for '{args.dataset}'")
    benchmark_options = [('--' + k.replace('_', '-')) for k, default in
                         BENCHMARK_OPTIONS.items() if getattr(args, k, default) != default]
    if name in GRAPH_BENCHMARKS:
        if targets:
            raise CLIError(f"--target: '{args.dataset}' has its own targets")
        from lps_geometric.training.graph_benchmarks import load_graph_benchmark
        if args.source != 'generated' and name not in ('pattern', 'cluster'):
            raise CLIError(f"--source: for pattern and cluster; {name} is read from its "
                           f"released files")
        if args.pe != 'none' and args.model not in ('gin', 'gps'):
            raise CLIError('--pe: read by the baselines (--model gin or gps)')
        try:
            dataset, split, task, _ = load_graph_benchmark(
                name, str(Path(args.root)), source=args.source,
                max_train=args.max_train, max_eval=args.max_eval, pe=args.pe,
                pe_dim=args.pe_dim)
        except ValueError as error:
            raise CLIError(str(error)) from error
        return dataset, split, task
    if benchmark_options:
        raise CLIError(f"{', '.join(benchmark_options)}: for the graph benchmarks "
                       f"({', '.join(GRAPH_BENCHMARKS)}), not for '{args.dataset}'")
    if args.model == 'gps':
        raise CLIError(f"--model gps: for the graph benchmarks "
                       f"({', '.join(GRAPH_BENCHMARKS)})")
    if name == 'qm9':
        from lps_geometric.datasets.qm9 import QM9Pack, target_index
        from lps_geometric.training.models import complete_graph
        if len(targets) > 1:
            raise CLIError(f'--target: QM9 trains one target at a time (got '
                           f'{" ".join(targets)})')
        target = targets[0] if targets else 'gap'
        dataset = QM9Pack(str(Path(args.root)), max_molecules=args.max_molecules,
                          transform=complete_graph)
        target = int(target) if target.isdigit() else target_index(target)
        perm = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))
        n_train, n_val = int(0.8 * len(perm)), int(0.1 * len(perm))
        split = dict(train=perm[:n_train], valid=perm[n_train:n_train + n_val],
                     test=perm[n_train + n_val:])
        task = Task('regression', metric='mae', target=target, loss='l1')
    else:
        from lps_geometric.datasets.molecules import evaluator_for, ogb_dataset
        if targets and not table:
            raise CLIError(f"--target: for qm9 and table files; '{args.dataset}' has "
                           f"its own targets")
        try:
            if table:
                from lps_geometric.datasets.table import MoleculeTable
                if not targets:
                    raise CLIError(f'--target: name the target column(s) of '
                                   f'{args.dataset}')
                dataset = MoleculeTable(
                    str(Path(args.root)), args.dataset, targets,
                    smiles_column=args.smiles_column, task_type=args.task,
                    split=args.split, metric=args.metric,
                    on_invalid='skip' if args.skip_invalid else 'raise')
            else:
                dataset = ogb_dataset(args.dataset, str(Path(args.root)))
        except (ValueError, RuntimeError) as error:   # the data, or its download
            raise CLIError(str(error)) from error
        split = dataset.get_idx_split()
        kind = 'classification' if 'classification' in dataset.task_type else 'regression'
        task = Task(kind, metric=dataset.eval_metric, evaluator=evaluator_for(dataset))
    if task.kind == 'regression':
        task.standardize(torch.cat([dataset[int(i)].y.view(1, -1) for i in split['train']]))
    return dataset, split, task


def model_factory(args, dataset, task) -> Callable[[], Any]:
    r"""A picklable zero-argument constructor of the model the arguments ask for: the
    model class with every setting as a keyword (:func:`functools.partial`), wrapped in
    :func:`_with_vit` when ``--vit-checkpoint`` initialises the transformer."""
    from lps_geometric.training import models
    if args.dataset.lower() in GRAPH_BENCHMARKS:
        return _benchmark_model(args, dataset, dataset.get_idx_split())
    out_channels = 1 if task.target is not None else dataset[0].y.view(1, -1).size(1)
    qm9 = args.dataset.lower() == 'qm9'
    max_nodes = max(int(dataset[int(i)].num_nodes) for i in range(len(dataset)))
    if args.model == 'gin':
        if qm9:
            raise CLIError("the GIN baseline reads OGB features: use --model schnet "
                           "for QM9")
        return functools.partial(models.OGBGIN, out_channels=out_channels,
                                 hidden_channels=args.hidden, num_layers=args.layers,
                                 dropout=args.dropout)
    if args.model == 'schnet':
        return functools.partial(models.SchNetBaseline, hidden_channels=args.hidden,
                                 num_interactions=args.layers)
    transformer = dict(method=args.model, max_nodes=max_nodes, embed_dim=args.embed_dim,
                       depth=args.depth, num_heads=args.heads, dropout=args.dropout,
                       num_samples=args.samples, eval_num_samples=args.eval_samples,
                       entropy_weight=args.entropy_weight)
    if qm9:
        if args.model == 'none':
            raise CLIError("--model none is for graph datasets")
        return functools.partial(models.E3SymmetrizedMolecule,
                                 in_channels=dataset[0].x.size(-1),
                                 out_channels=out_channels, **transformer)
    make = functools.partial(models.SymmetrizedMolecule, out_channels=out_channels,
                             feature_dim=16,
                             backbone=getattr(args, 'backbone', 'transformer'),
                             gin_norm=getattr(args, 'gin_norm', 'post'), **transformer)
    if args.vit_checkpoint is None:
        return make
    return functools.partial(_with_vit, make=make, checkpoint=args.vit_checkpoint)


def _benchmark_model(args, dataset, split) -> Callable[[], Any]:
    r"""The model of a graph benchmark (see :func:`model_factory`)."""
    from lps_geometric.training.graph_benchmarks import (GRAPH_BENCHMARKS as TABLE,
                                                         graph_benchmark_model,
                                                         max_nodes_of)
    if args.model == 'schnet':
        raise CLIError('--model schnet is for QM9 (3D molecules)')
    benchmark = TABLE[args.dataset.lower()]
    make = graph_benchmark_model(
        benchmark, args.model, max_nodes_of(dataset, split), backbone=args.backbone,
        embed_dim=args.embed_dim, depth=args.depth, heads=args.heads,
        dropout=args.dropout, samples=args.samples, eval_samples=args.eval_samples,
        entropy_weight=args.entropy_weight, hidden=args.hidden, layers=args.layers,
        pe=args.pe, pe_dim=args.pe_dim, gin_norm=getattr(args, 'gin_norm', 'post'),
        tokens=args.tokens)
    if args.vit_checkpoint is None:
        return make
    if args.model in ('gin', 'gps'):
        raise CLIError('--vit-checkpoint initialises the transformer of a symmetrized '
                       'model, not a baseline GNN')
    return functools.partial(_with_vit, make=make, checkpoint=args.vit_checkpoint)


def _with_vit(make: Callable[[], Any], checkpoint: Path):
    r"""``make()`` with its transformer initialised from a ViT ``checkpoint``."""
    model = make()
    from lps_geometric.nn.backbones.adjacency_patch_transformer import \
        AdjacencyPatchTransformer
    from lps_geometric.nn.pretrained import init_from_vit
    backbone = getattr(model.model, 'backbone', model.model)
    if not isinstance(backbone, AdjacencyPatchTransformer):
        raise CLIError('--vit-checkpoint initialises a transformer: use '
                       '--backbone transformer')
    print(init_from_vit(backbone, checkpoint))
    return model


#: What a run folder holds (a folder with none of these is not a run folder).
_RUN_FILES = ('config.json', 'checkpoints', 'results.json', 'logs', 'curves.png')


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _show(value: Any) -> str:
    if value is None:
        return '(unset)'
    if isinstance(value, (list, tuple)):
        return ' '.join(map(str, value))
    return str(value)


def _listing(changes: Dict[str, Tuple[Any, Any]]) -> str:
    return ', '.join(f'{option} {_show(old)} -> {_show(new)}'
                     for option, (old, new) in changes.items())


def _record(args: argparse.Namespace) -> Dict[str, Any]:
    r"""The options of a run as its ``config.json`` stores them (``extra``)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
            if k not in ('func', 'debug', 'resume', 'overwrite')}


def _changed(stored: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Tuple[Any, Any]]:
    r"""The settings (options outside :data:`NOT_SETTINGS`) whose stored value differs
    from the new one, ``{'--option': (stored, new)}``. An option the stored run
    predates counts as unchanged at its default; one the CLI no longer has is
    skipped."""
    defaults = _train_defaults()
    out = {}
    for key, value in new.items():
        if key in NOT_SETTINGS:
            continue
        if key not in stored:
            if _jsonable(value) != _jsonable(defaults.get(key)):
                out['--' + key.replace('_', '-')] = (None, value)
        elif _jsonable(stored[key]) != _jsonable(value):
            out['--' + key.replace('_', '-')] = (stored[key], value)
    return out


def _train_config(args: argparse.Namespace, seed: int, folder: Path):
    from lps_geometric.training import TrainConfig
    try:
        return _make_train_config(TrainConfig, args, seed, folder)
    except ValueError as error:          # a combination of options out of range
        raise CLIError(str(error).replace('TrainConfig: ', '')) from error


def _make_train_config(TrainConfig, args: argparse.Namespace, seed: int, folder: Path):
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size, lr=args.lr,
        weight_decay=args.weight_decay, warmup=args.warmup, schedule=args.schedule,
        clip=args.clip, ema=args.ema, seed=seed,
        accelerator=args.accelerator,
        devices=int(args.devices) if str(args.devices).isdigit() else args.devices,
        strategy=args.strategy, num_nodes=args.num_nodes, precision=args.precision,
        eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
        out_dir=str(folder), progress=not args.no_progress,
        tensorboard=args.tensorboard, deterministic=args.deterministic,
        relax=args.relax, relax_start=args.relax_start, relax_end=args.relax_end,
        relax_penalty=args.relax_penalty, relax_group=args.relax_group,
        extra=_record(args))


def _inspect(folder: Path) -> Tuple[Any, Optional[Dict]]:
    r"""``(stored TrainConfig, results)`` of a run folder, each :obj:`None` when
    absent (results: the run has not finished)."""
    from lps_geometric.training.config import RunFolderError, TrainConfig
    if folder.exists() and not folder.is_dir():
        raise CLIError(f'{folder} is a file, not a run folder: choose another --name '
                       f'or --out')
    if not (folder / 'config.json').exists():
        if any((folder / name).exists() for name in _RUN_FILES[1:]):
            raise CLIError(f'{folder} holds a run without its config.json, so its '
                           f'settings are unknown: add --overwrite to start it again')
        return None, None
    try:
        stored = TrainConfig.load(folder / 'config.json')
    except RunFolderError as error:
        raise CLIError(f'{error}: add --overwrite to start the run again') from error
    try:
        results = json.loads((folder / 'results.json').read_text())
    except (OSError, ValueError):    # unfinished; unreadable results are written again
        results = None
    if not (isinstance(results, dict) and isinstance(results.get('test'), dict)):
        results = None
    return stored, results


def _clear(folder: Path):
    r"""Deletes a run folder (``--overwrite``); refuses anything else."""
    if not folder.exists():
        return
    if folder.is_dir() and any((folder / name).exists() for name in _RUN_FILES):
        shutil.rmtree(folder)
    elif not folder.is_dir() or any(folder.iterdir()):
        raise CLIError(f'{folder} is not a run folder, so --overwrite leaves it alone: '
                       f'choose another --name or --out')


def _restore(args: argparse.Namespace, stored: Dict[int, Tuple[Any, Any]],
             folders: Dict[int, Path], explicit: Set[str]) -> argparse.Namespace:
    r"""``--resume``: the arguments with the settings of the first stored run; an
    option given on the command line must agree with them."""
    found = [(seed, config) for seed, (config, _) in stored.items() if config is not None]
    if not found:
        raise CLIError(f"--resume: there is no run to continue "
                       f"({', '.join(map(str, folders.values()))} not found)")
    seed, config = found[0]
    defaults = _train_defaults()
    values = {**defaults, **{k: v for k, v in config.extra.items() if k in defaults}}
    # what names the runs comes from this command; runtime options when given
    values.update({k: v for k, v in vars(args).items() if k in NOT_SETTINGS and (
        k in explicit or k in ('command', 'seeds', 'out', 'name', 'resume', 'overwrite',
                               'debug'))})
    restored = argparse.Namespace(**values)
    if restored.vit_checkpoint is not None:
        restored.vit_checkpoint = Path(restored.vit_checkpoint)
    conflicts = {'--' + k.replace('_', '-'): (getattr(restored, k), v)
                 for k, v in vars(args).items()
                 if k in explicit and k not in NOT_SETTINGS and
                 _jsonable(getattr(restored, k)) != _jsonable(v)}
    if conflicts:
        raise CLIError(f'--resume continues {folders[seed]} with its stored settings, '
                       f'which these options contradict: {_listing(conflicts)} (stored '
                       f'-> given); drop them, or use --overwrite to start again with '
                       f'them')
    return restored


def _seed_line(seed: int, result: Dict, metric: str) -> str:
    return (f"seed {seed}: test {metric} {result['test'][metric]:.4f} (valid "
            f"{result['valid'][metric]:.4f}, best epoch {result['best_epoch']}, "
            f"{result['seconds']:.0f}s)")


def _load_data(args: argparse.Namespace) -> tuple:
    r""":func:`load_data`, with the failures of the user's environment (no network, a
    missing or unreadable file, a missing optional package) as :class:`CLIError`."""
    import urllib.error
    try:
        return load_data(args)
    except urllib.error.URLError as error:
        raise CLIError(f"cannot download the dataset '{args.dataset}' ({error.reason}): "
                       f"it is downloaded on first use, so connect to the network once, "
                       f"or put its raw files under --root {args.root}") from error
    except OSError as error:
        raise CLIError(f"cannot load the dataset '{args.dataset}' from --root "
                       f"{args.root}: {error}") from error
    except ImportError as error:
        if 'pip install' not in str(error):      # not a missing optional package
            raise
        raise CLIError(str(error)) from error


def run_train(args: argparse.Namespace, explicit: Optional[Set[str]] = None
              ) -> List[Dict]:
    r"""``lps-geometric train``: one run per seed (see the module's description of
    how existing run folders are treated); ``explicit`` holds the options given on the
    command line (for ``--resume``). Returns the per-seed results."""
    from lps_geometric.training import train
    from lps_geometric.training.config import RUNTIME_FIELDS, RunFolderError
    from lps_geometric.nn.relaxation import NothingToRelaxError
    from lps_geometric.training.engine import CheckpointError
    _check_dataset(args.dataset)
    name = args.name or f'{dataset_label(args.dataset)}-{args.model}'
    folders = {seed: args.out / f'{name}-seed{seed}' for seed in args.seeds}
    summary_path = args.out / f'{name}-summary.json'
    if args.overwrite:
        for folder in folders.values():
            _clear(folder)
        if summary_path.is_file():
            summary_path.unlink()
    stored = {seed: _inspect(folder) for seed, folder in folders.items()}
    if args.resume:
        args = _restore(args, stored, folders, explicit or set())
    configs = {}
    for seed, folder in folders.items():
        config = _train_config(args, seed, folder)
        old = stored[seed][0]
        if old is not None:
            changes = {('--seeds' if k == 'seed' else '--' + k.replace('_', '-')): v
                       for k, v in old.differences(config, RUNTIME_FIELDS + ('extra',)
                                                   ).items()}
            for option, change in _changed(old.extra, config.extra).items():
                changes.setdefault(option, change)
            if changes:
                raise CLIError(f'{folder} holds a run with other settings: '
                               f'{_listing(changes)} (stored -> given); add --resume to '
                               f'continue it with its stored settings, or --overwrite to '
                               f'delete it and start again')
            # resumed as stored; where and how it computes may change
            config = dataclasses.replace(
                old, **{field: getattr(config, field) for field in RUNTIME_FIELDS})
        configs[seed] = config
    if summary_path.is_file():
        try:
            previous = json.loads(summary_path.read_text()).get('config')
        except (ValueError, AttributeError):
            previous = None                     # unreadable: written again below
        changes = _changed(previous, _record(args)) if isinstance(previous, dict) else {}
        if changes:
            raise CLIError(f'{summary_path} summarises runs with other settings: '
                           f'{_listing(changes)} (stored -> given); add --overwrite to '
                           f'replace them, or choose another --name')
    results = {}
    for seed, (_, finished) in stored.items():
        if finished is not None:
            results[seed] = finished
            print(f'{_seed_line(seed, finished, finished["metric"])} [complete in '
                  f'{folders[seed]}]', flush=True)
    todo = [seed for seed in args.seeds if seed not in results]
    if todo:
        dataset, split, task = _load_data(args)
        make_model = model_factory(args, dataset, task)
        for seed in todo:
            try:
                results[seed] = train(configs[seed], make_model, dataset, split, task)
            except CheckpointError as error:
                raise CLIError(f'{error}: delete it to start this run again from its '
                               f'beginning, or add --overwrite') from error
            except (RunFolderError, FloatingPointError, NothingToRelaxError) as error:
                raise CLIError(str(error)) from error
            print(_seed_line(seed, results[seed], task.metric), flush=True)
    ordered = [results[seed] for seed in args.seeds]
    metric = ordered[0]['metric']
    scores = [r['test'][metric] for r in ordered]
    mean = statistics.mean(scores)
    std = statistics.stdev(scores) if len(scores) > 1 else None
    spread = f' ± {std:.4f} (std over {len(scores)} seeds)' if std is not None else \
        f' (seed {args.seeds[0]})'
    print(f"\n{args.dataset} {args.model}: test {metric} {mean:.4f}{spread}")
    summary = dict(dataset=args.dataset, model=args.model, metric=metric,
                   seeds=args.seeds, test=scores, mean=mean, std=std,
                   runs=[folder.name for folder in folders.values()],
                   config={k: v for k, v in _record(args).items()
                           if k not in NOT_SETTINGS})
    args.out.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2))
    return ordered


def run_evaluate(args: argparse.Namespace) -> Dict:
    r"""``lps-geometric evaluate``: the metrics of a run folder's ``best.pt`` on a
    split, with the settings of its ``config.json``."""
    run = args.run
    if not run.is_dir():
        raise CLIError(f'{run} is a file, not a run folder' if run.exists() else
                       f'there is no run folder {run}')
    import torch
    from lps_geometric.training import evaluate
    from lps_geometric.training.config import RunFolderError, TrainConfig
    from lps_geometric.training.engine import CheckpointError, read_checkpoint
    try:
        config = TrainConfig.load(run / 'config.json')
    except RunFolderError as error:
        raise CLIError(f'{run} is not a usable run folder: {error}') from error
    best = run / 'checkpoints' / 'best.pt'
    if not best.exists():
        raise CLIError(f'{run} has no checkpoints/best.pt: the run has not evaluated a '
                       f'model yet (continue it with lps-geometric train)')
    try:
        state = read_checkpoint(best)
    except CheckpointError as error:
        raise CLIError(f'{error}: train the run again (its train command with '
                       f'--overwrite)') from error
    saved = argparse.Namespace(**{**_train_defaults(), **config.extra})
    saved.out = Path(saved.out)
    saved.vit_checkpoint = None
    dataset, split, task = _load_data(saved)
    model = model_factory(saved, dataset, task)()
    try:
        if not isinstance(state, dict):
            raise TypeError(f'it holds a {type(state).__name__}, not a state dict')
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as error:
        reason = str(error).strip().splitlines()[0]
        raise CLIError(f'{best} does not fit the model of {run / "config.json"} '
                       f'({reason[:160]})') from error
    torch.manual_seed(args.seed)
    metrics = evaluate(model, dataset, split[args.split], task, config.eval_batch_size,
                       'cpu')
    print(json.dumps({args.split: metrics}, indent=2))
    return metrics


def main(argv: Optional[Sequence[str]] = None):
    r"""Runs a command; returns its results (the per-seed result dicts of ``train``,
    the metrics of ``evaluate``).

    Raises:
        CLIError: An error of the command or its environment (one-line message).
        SystemExit: Invalid arguments (status 2, one line) or ``--help`` (status 0).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == 'train':
        _check_train_args(parser, args)
        return run_train(args, _explicit_options(argv))
    return run_evaluate(args)


def entry_point(argv: Optional[Sequence[str]] = None) -> int:
    r"""The ``lps-geometric`` console script; returns the exit status: 0 on success,
    1 for an error of the command or its environment (one line on stderr; ``--debug``
    adds the traceback), 130 when interrupted (invalid arguments exit with 2)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = '--debug' in argv
    command = next((a for a in argv if a in ('train', 'evaluate')), None)
    prog = 'lps-geometric' + (f' {command}' if command else '')
    try:
        main(argv)
    except CLIError as error:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        hint = ('; run the same command to continue from the last checkpoint'
                if command == 'train' else '')
        print(f'{prog}: interrupted{hint}', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':  # pragma: no cover
    sys.exit(entry_point())
