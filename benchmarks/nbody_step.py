r"""n-body training-step benchmark: symmetrized transformer (LPS, GA, canonicalization)
and EGNN on batches of 100 five-particle systems.

Follows the n-body S_n x O(3) protocol of the public LPS reference implementation
(jw9730/lps): batch 100, a transformer of 8 layers, width 64 and 4 heads over the 5 x 5
particle-pair tokens, Adam (lr 1e-3), MSE + 0.1 x entropy; k = 20 samples per training
step for LPS and GA (the reference's setting) and an LPS evaluation pass with k = 200. Every configuration runs in
its own subprocess, so its peak RSS is its own; the time is the median of the timed steps
after warm-up steps.

Examples::

    python benchmarks/nbody_step.py                      # all methods
    python benchmarks/nbody_step.py --methods lps --samples 20 --steps 10
    python benchmarks/nbody_step.py --methods lps ga --no-pair-geometry
    python benchmarks/nbody_step.py --backbone mpnn      # the message-passing backbone
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Figures of the public LPS reference implementation (jw9730/lps) in this protocol, the
# baseline of the reference columns: step time s, peak RSS GB.
REFERENCE = {
    'lps': dict(step_s=2.593, rss_gb=2.3),
    'ga': dict(step_s=1.619, rss_gb=1.8),
    'lps-eval': dict(step_s=13.20, rss_gb=1.6),
}
WORKLOADS = ('lps', 'ga', 'canonical', 'egnn', 'lps-eval')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--methods', nargs='+', default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument('--samples', type=int, default=20, help='k per training step')
    p.add_argument('--eval-samples', type=int, default=200, help='k of lps-eval')
    p.add_argument('--batch-size', type=int, default=100)
    p.add_argument('--steps', type=int, default=10, help='timed steps')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--pair-geometry', action=argparse.BooleanOptionalAction, default=True,
                   help="the example's default backbone, whose pair tokens read relative "
                   "positions, velocities and their lengths; --no-pair-geometry: charges "
                   "only, like the reference")
    p.add_argument('--backbone', choices=('transformer', 'mpnn'), default='transformer',
                   help="the example's --backbone: the pair-token transformer (8 layers) "
                   "or the MPNN (4 layers, symmetrized over E(3) only)")
    p.add_argument('--out', type=Path, default=REPO / 'results' / 'nbody_step.json')
    p.add_argument('--worker', choices=WORKLOADS, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def geometry_flag(args) -> str:
    return '--pair-geometry' if args.pair_geometry else '--no-pair-geometry'


def run_worker(args) -> dict:
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / 'examples'))
    from nbody import build_model, parse_args as example_args
    from lps_geometric.testing import random_point_cloud_batch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    workload = args.worker
    method = 'lps' if workload == 'lps-eval' else workload
    ex = example_args(['--samples', str(args.samples),
                       '--eval-samples', str(args.eval_samples), geometry_flag(args),
                       '--backbone', args.backbone])
    model = build_model(method, ex)
    data = random_point_cloud_batch([5] * args.batch_size)
    data.y = data.pos + 0.1 * torch.randn_like(data.pos)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-12)

    def train_step():
        opt.zero_grad()
        loss = F.mse_loss(model(data), data.y) + model.regularization_loss()
        loss.backward()
        opt.step()

    @torch.no_grad()
    def eval_step():
        model(data)

    step = eval_step if workload == 'lps-eval' else train_step
    model.train(workload != 'lps-eval')
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    k = None
    if method != 'egnn':
        k = model.model.eval_num_samples if workload == 'lps-eval' \
            else model.model.num_samples
    return dict(workload=workload, k=k, step_s=statistics.median(times),
                min_s=min(times), rss_gb=resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
                parameters=sum(p.numel() for p in model.parameters()),
                threads=torch.get_num_threads(), torch=torch.__version__)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    results = []
    for workload in args.methods:
        cmd = [sys.executable, __file__, '--worker', workload,
               '--samples', str(args.samples), '--eval-samples', str(args.eval_samples),
               '--batch-size', str(args.batch_size), '--steps', str(args.steps),
               '--warmup', str(args.warmup), '--threads', str(args.threads),
               '--seed', str(args.seed), geometry_flag(args), '--backbone', args.backbone]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            results.append(dict(workload=workload, status='failed'))
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res['reference'] = REFERENCE.get(workload)
        results.append(res)
        print(f'  {workload:9s} done: {res["step_s"]:.3f} s', flush=True)
    print(f'\nn-body step benchmark ({args.backbone} backbone, batch {args.batch_size}, '
          f'{args.threads} threads, '
          f'median of {args.steps} steps'
          f'{", pair geometry" if args.pair_geometry else ", no pair geometry"})\n')
    print('| workload | k | step | reference step | speed-up | peak RSS | reference RSS |')
    print('|---|---|---|---|---|---|---|')
    for r in results:
        if r.get('status') == 'failed':
            print(f'| {r["workload"]} | failed | | | | | |')
            continue
        ref = r['reference'] or {}
        speed = f'{ref["step_s"] / r["step_s"]:.1f}x' if ref else '—'
        print(f'| {r["workload"]} | {r["k"] or "—"} | {r["step_s"]:.3f} s | '
              f'{ref.get("step_s", "—")} | {speed} | {r["rss_gb"]:.2f} GB | '
              f'{ref.get("rss_gb", "—")} |')
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(dict(args={k: str(v) for k, v in vars(args).items()},
                                        results=results), indent=1))
    print(f'\nJSON: {args.out}')


if __name__ == '__main__':
    main()
