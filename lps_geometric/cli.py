r"""Command line: ``lps-geometric train ...`` and ``lps-geometric evaluate ...``.

Examples::

    lps-geometric train --dataset freesolv --model lps --epochs 100 --seeds 0 1 2
    lps-geometric train --dataset freesolv --model gin --epochs 100 --seeds 0 1 2
    lps-geometric train --dataset qm9 --target gap --max-molecules 5000 --model lps
    lps-geometric train --dataset ogbg-molhiv --model mfa --devices 4 --strategy ddp
    lps-geometric evaluate --run runs/freesolv-lps-seed0

A run folder holds ``config.json``, ``checkpoints/`` (``last.ckpt`` to resume: running
the same command again continues where it stopped; ``best.pt``), ``logs/metrics.csv``,
``curves.png`` and ``results.json``.
"""
import argparse
import functools
import json
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch

__all__ = ['main', 'build_parser', 'entry_point']

SYMMETRIZED = ('lps', 'ga', 'fa', 'mfa', 'canonical', 'none')
BASELINES = ('gin', 'schnet')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='lps-geometric', description='Train and evaluate symmetrized models and '
        'GNN baselines on molecular benchmarks.',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    t = sub.add_parser('train', help='train a model (resumes an existing run folder)',
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument('--dataset', required=True,
                   help="'freesolv', 'b3db' (offline, OGB format), 'qm9' (qm9pack, 3D) "
                        "or an OGB name such as 'ogbg-molhiv' (online)")
    t.add_argument('--root', default='datasets', help='data root')
    t.add_argument('--model', default='lps', choices=SYMMETRIZED + BASELINES,
                   help="a symmetrization method around the transformer ('none': the "
                        "transformer alone), or a baseline GNN")
    t.add_argument('--backbone', default='transformer',
                   choices=['transformer', 'mlp', 'gin'],
                   help='the network that is symmetrized (graph datasets): a transformer '
                        'with one token per atom, an MLP on the adjacency image, or '
                        'PositionalGIN (sparse message passing that reads positions)')
    t.add_argument('--gin-norm', default='post', choices=['post', 'pre', 'batch'],
                   help='PositionalGIN layers: layer norm after (post) or before (pre), '
                        'or batch norm after (batch)')
    t.add_argument('--epochs', type=int, default=100)
    t.add_argument('--batch-size', type=int, default=32, help='global batch size')
    t.add_argument('--eval-batch-size', type=int, default=256)
    t.add_argument('--lr', type=float, default=1e-3)
    t.add_argument('--weight-decay', type=float, default=0.0)
    t.add_argument('--warmup', type=float, default=0.05)
    t.add_argument('--schedule', default='cosine', choices=['cosine', 'linear', 'constant'],
                   help='learning rate after the linear warm-up')
    t.add_argument('--clip', type=float, default=1.0)
    t.add_argument('--ema', type=float, default=0.0,
                   help='decay of an exponential moving average of the weights, used for '
                        'evaluation and best.pt (e.g. 0.999; 0: off)')
    t.add_argument('--embed-dim', type=int, default=64, help='transformer width')
    t.add_argument('--depth', type=int, default=4, help='transformer layers')
    t.add_argument('--heads', type=int, default=4)
    t.add_argument('--dropout', type=float, default=0.1)
    t.add_argument('--samples', type=int, default=1, help='k in training (LPS, GA)')
    t.add_argument('--eval-samples', type=int, default=10, help='k in evaluation')
    t.add_argument('--entropy-weight', type=float, default=0.1)
    t.add_argument('--hidden', type=int, default=300, help='baseline GNN width')
    t.add_argument('--layers', type=int, default=5, help='baseline GNN layers')
    t.add_argument('--target', default='gap', help='QM9 target (name or index)')
    t.add_argument('--max-molecules', type=int, default=None,
                   help='QM9: use the first N molecules (CPU-sized subsets)')
    t.add_argument('--vit-checkpoint', type=Path, default=None,
                   help='initialise the transformer blocks from a timm ViT state dict '
                        'on disk (.safetensors/.pth; nothing is downloaded)')
    t.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='one run per seed; mean and std are reported')
    t.add_argument('--out', type=Path, default=Path('runs'), help='parent of run folders')
    t.add_argument('--name', default=None, help='run folder name (default: derived)')
    t.add_argument('--accelerator', default='auto')
    t.add_argument('--devices', default='1', help="number of devices, or 'auto'")
    t.add_argument('--strategy', default='auto', help="e.g. 'ddp' for several devices")
    t.add_argument('--num-nodes', type=int, default=1)
    t.add_argument('--precision', default='auto',
                   help="'32-true', '16-mixed', 'bf16-mixed' or 'auto'")
    t.add_argument('--eval-every', type=int, default=1)
    t.add_argument('--checkpoint-every', type=int, default=0,
                   help='also checkpoint every N steps (0: at epoch ends)')
    t.add_argument('--no-progress', action='store_true')
    t.add_argument('--tensorboard', action='store_true')
    e = sub.add_parser('evaluate', help='evaluate the best checkpoint of a run folder')
    e.add_argument('--run', type=Path, required=True)
    e.add_argument('--split', default='test', choices=['train', 'valid', 'test'])
    e.add_argument('--seed', type=int, default=0,
                   help='seed of the samples of stochastic methods (LPS, GA): their '
                        'metrics are Monte Carlo estimates and vary with it')
    return parser


# ---------------------------------------------------------------------------------------
def load_data(args) -> tuple:
    r"""``(dataset, split, task)`` for the CLI arguments."""
    from lps_geometric.training import Task
    name = args.dataset.lower()
    if name == 'qm9':
        from lps_geometric.datasets.qm9 import QM9Pack, target_index
        from lps_geometric.training.models import complete_graph
        dataset = QM9Pack(str(Path(args.root)), max_molecules=args.max_molecules,
                          transform=complete_graph)
        target = int(args.target) if str(args.target).isdigit() else \
            target_index(args.target)
        perm = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))
        n_train, n_val = int(0.8 * len(perm)), int(0.1 * len(perm))
        split = dict(train=perm[:n_train], valid=perm[n_train:n_train + n_val],
                     test=perm[n_train + n_val:])
        task = Task('regression', metric='mae', target=target, loss='l1')
    else:
        from lps_geometric.datasets.molecules import evaluator_for, ogb_dataset
        dataset = ogb_dataset(args.dataset, str(Path(args.root)))
        split = dataset.get_idx_split()
        evaluator = evaluator_for(dataset)
        kind = 'classification' if 'classification' in dataset.task_type else 'regression'
        task = Task(kind, metric=evaluator.eval_metric, evaluator=evaluator)
    if task.kind == 'regression':
        task.standardize(torch.cat([dataset[int(i)].y.view(1, -1) for i in split['train']]))
    return dataset, split, task


def model_factory(args, dataset, task):
    r"""A picklable zero-argument constructor of the model the arguments ask for."""
    from lps_geometric.training import models
    out_channels = 1 if task.target is not None else dataset[0].y.view(1, -1).size(1)
    qm9 = args.dataset.lower() == 'qm9'
    max_nodes = max(int(dataset[int(i)].num_nodes) for i in range(len(dataset)))
    if args.model == 'gin':
        if qm9:
            raise SystemExit("The GIN baseline reads OGB features; use --model schnet "
                             "for QM9")
        return functools.partial(models.OGBGIN, out_channels, args.hidden, args.layers,
                                 args.dropout)
    if args.model == 'schnet':
        return functools.partial(models.SchNetBaseline, args.hidden, args.layers)
    if qm9:
        if args.model == 'none':
            raise SystemExit("--model none is for graph datasets")
        return functools.partial(
            models.E3SymmetrizedMolecule, dataset[0].x.size(-1), out_channels, args.model,
            max_nodes, args.embed_dim, args.depth, args.heads, args.dropout, args.samples,
            args.eval_samples, args.entropy_weight)
    return functools.partial(
        _with_vit, args.vit_checkpoint, models.SymmetrizedMolecule, out_channels,
        args.model, max_nodes, args.embed_dim, args.depth, args.heads, args.dropout, 16,
        args.samples, args.eval_samples, args.entropy_weight,
        getattr(args, 'backbone', 'transformer'), getattr(args, 'gin_norm', 'post'))


def _with_vit(checkpoint: Optional[Path], cls, *args):
    model = cls(*args)
    if checkpoint is not None:
        from lps_geometric.nn.backbones.adjacency_patch_transformer import \
            AdjacencyPatchTransformer
        from lps_geometric.nn.pretrained import init_from_vit
        backbone = getattr(model.model, 'backbone', model.model)
        if not isinstance(backbone, AdjacencyPatchTransformer):
            raise SystemExit('--vit-checkpoint initialises a transformer: use '
                             '--backbone transformer')
        print(init_from_vit(backbone, checkpoint))
    return model


def run_train(args) -> List[Dict]:
    from lps_geometric.training import TrainConfig, train
    dataset, split, task = load_data(args)
    make_model = model_factory(args, dataset, task)
    results = []
    for seed in args.seeds:
        name = args.name or f'{args.dataset.lower()}-{args.model}'
        config = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size,
            eval_batch_size=args.eval_batch_size, lr=args.lr,
            weight_decay=args.weight_decay, warmup=args.warmup, schedule=args.schedule,
            clip=args.clip, ema=args.ema, seed=seed,
            accelerator=args.accelerator,
            devices=int(args.devices) if str(args.devices).isdigit() else args.devices,
            strategy=args.strategy, num_nodes=args.num_nodes, precision=args.precision,
            eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
            out_dir=str(args.out / f'{name}-seed{seed}'), progress=not args.no_progress,
            tensorboard=args.tensorboard,
            extra={k: (str(v) if isinstance(v, Path) else v)
                   for k, v in vars(args).items() if k != 'func'})
        result = train(config, make_model, dataset, split, task)
        results.append(result)
        print(f"seed {seed}: test {task.metric} {result['test'][task.metric]:.4f} "
              f"(valid {result['valid'][task.metric]:.4f}, best epoch "
              f"{result['best_epoch']}, {result['seconds']:.0f}s)", flush=True)
    scores = [r['test'][task.metric] for r in results]
    mean = statistics.mean(scores)
    std = statistics.stdev(scores) if len(scores) > 1 else 0.0
    print(f"\n{args.dataset} {args.model}: test {task.metric} {mean:.4f} ± {std:.4f} "
          f"over {len(scores)} seed(s)")
    summary = dict(dataset=args.dataset, model=args.model, metric=task.metric,
                   seeds=args.seeds, test=scores, mean=mean, std=std)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name or args.dataset.lower() + '-' + args.model}-summary.json"
     ).write_text(json.dumps(summary, indent=2))
    return results


def run_evaluate(args) -> Dict:
    from lps_geometric.training import TrainConfig, evaluate
    config = TrainConfig.load(args.run / 'config.json')
    saved = argparse.Namespace(**config.extra)
    saved.out = Path(saved.out)
    saved.vit_checkpoint = None
    dataset, split, task = load_data(saved)
    model = model_factory(saved, dataset, task)()
    state = torch.load(args.run / 'checkpoints' / 'best.pt', map_location='cpu',
                       weights_only=True)
    model.load_state_dict(state)
    torch.manual_seed(args.seed)
    metrics = evaluate(model, dataset, split[args.split], task, config.eval_batch_size,
                       'cpu')
    print(json.dumps({args.split: metrics}, indent=2))
    return metrics


def main(argv: Optional[List[str]] = None):
    r"""Runs a command; returns its results (the per-seed result dicts of ``train``,
    the metrics of ``evaluate``)."""
    args = build_parser().parse_args(argv)
    if args.command == 'train':
        return run_train(args)
    return run_evaluate(args)


def entry_point() -> int:
    r"""The ``lps-geometric`` console script (exit status 0 on success)."""
    main()
    return 0


if __name__ == '__main__':  # pragma: no cover
    sys.exit(entry_point())
