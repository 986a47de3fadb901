r"""Frame sizes and time per batch of FA, MFA, canonicalization, GA and LPS on n-body
systems, QM9 molecules and GRAPH8c graphs.

For every workload and method this measures, over ``--batches`` distinct batches of
``--batch-size`` graphs (after one warm-up batch, so nauty's cache is cold on every timed
batch):

- copies: graphs the backbone sees per input graph (mean over the batch, and the
  largest; frames are stacked ragged, so a graph costs its own frame size),
- the mean and largest frame size over the graphs (:math:`|F(x)|`; ``inf`` marks a
  continuous frame, sampled), and the share of graphs with a nontrivial frame,
- the sampler's time per batch and the time of the whole symmetrized forward pass,
  sampler included (eval mode, no gradients), with the same small transformer (2 layers,
  width 64, one token per node) for every method.

Workloads: ``nbody`` (five charged particles with velocities, S_n x E(3)), ``qm9`` (the
first molecules of the ``qm9pack`` files with element types and 3D coordinates,
S_n x E(3); install ``pip install --no-deps qm9pack``), ``graph8c`` (all connected
8-node graphs, S_n; the graph6 file under ``--graph8c-root``).

Examples::

    python benchmarks/frames.py                                  # every workload and method
    python benchmarks/frames.py --workloads graph8c --batches 3
"""
import argparse
import ast
import csv
import importlib.util
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch_geometric.data import Batch, Data

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lps_geometric import Symmetrize  # noqa: E402
from lps_geometric.nn import AdjacencyPatchTransformer, ConcatNodeFeatures  # noqa: E402
from lps_geometric.samplers import build_sampler  # noqa: E402
from lps_geometric.testing import random_point_cloud  # noqa: E402

WORKLOADS = ('nbody', 'qm9', 'graph8c')
METHODS = ('fa', 'mfa', 'canonical', 'ga', 'lps')
ELEMENTS = ('H', 'C', 'N', 'O', 'F')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--workloads', nargs='+', default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    p.add_argument('--batch-size', type=int, default=100)
    p.add_argument('--batches', type=int, default=5, help='timed batches')
    p.add_argument('--samples', type=int, default=10, help='k of GA and LPS')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--graph8c-root', type=Path,
                   default=REPO.parent / 'shared' / 'data' / 'graph8c',
                   help="folder holding raw/graph8c.g6 (or the dataset's root)")
    p.add_argument('--out', type=Path, default=REPO / 'results' / 'frames.json')
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def nbody_graphs(count: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return [random_point_cloud(5, generator=gen) for _ in range(count)]


def qm9_graphs(count: int):
    spec = importlib.util.find_spec('qm9pack')
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("The qm9 workload reads the files of 'qm9pack': "
                         "pip install --no-deps qm9pack (or leave out --workloads qm9)")
    path = Path(list(spec.submodule_search_locations)[0]) / 'data' / 'qm9_part1.csv'
    csv.field_size_limit(1 << 30)
    graphs = []
    with open(path, newline='') as handle:
        for row in csv.DictReader(handle):
            elements = ast.literal_eval(row['Elements'])
            pos = torch.tensor(ast.literal_eval(row['XYZ_Ang']), dtype=torch.float32)
            z = torch.tensor([ELEMENTS.index(e) for e in elements])
            n = len(elements)
            idx = torch.arange(n)
            row_, col = idx.repeat_interleave(n), idx.repeat(n)
            keep = row_ != col
            graphs.append(Data(x=torch.nn.functional.one_hot(z, len(ELEMENTS)).float(),
                               pos=pos, edge_index=torch.stack([row_[keep], col[keep]])))
            if len(graphs) == count:
                break
    return graphs


def graph8c_graphs(count: int, root: Path, seed: int):
    import shutil
    import tempfile

    from lps_geometric.datasets import GRAPH8c
    raw = root / 'raw' if (root / 'raw').exists() else root
    tmp = Path(tempfile.mkdtemp())
    target = tmp / GRAPH8c.name / 'raw'
    target.mkdir(parents=True)
    for name in GRAPH8c.raw_file_names.fget(None):
        if not (raw / name).exists():
            raise SystemExit(f'GRAPH8c needs {raw / name} (--graph8c-root)')
        shutil.copy(raw / name, target / name)
    dataset = GRAPH8c(str(tmp))
    perm = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    graphs = [dataset[int(i)] for i in perm[:count]]
    shutil.rmtree(tmp, ignore_errors=True)
    return graphs


# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------
def build(workload: str, method: str, args, node_channels: int, max_nodes: int):
    group = 'S_n' if workload == 'graph8c' else 'S_n x E(3)'
    kwargs = {}
    if workload != 'graph8c' and method in ('lps', 'canonical'):
        kwargs = dict(vector_keys=('vel',) if workload == 'nbody' else ())
    sampler = build_sampler(method, group, in_channels=node_channels, **kwargs)
    extra = 0 if workload == 'graph8c' else (6 if workload == 'nbody' else 3)
    transformer = AdjacencyPatchTransformer(
        node_channels + extra, 3, max_nodes=max_nodes, tokens='rows', embed_dim=64,
        depth=2, num_heads=4, level='graph')
    backbone = transformer if workload == 'graph8c' else ConcatNodeFeatures(
        transformer, keys=('pos', 'vel') if workload == 'nbody' else ('pos',),
        in_channels=node_channels)
    k = args.samples if method in ('ga', 'lps') else 1
    return Symmetrize(backbone, sampler, num_samples=k, eval_num_samples=k).eval()


@torch.no_grad()
def measure(workload: str, method: str, graphs, args) -> dict:
    torch.manual_seed(args.seed)
    node_channels = graphs[0].x.size(-1)
    max_nodes = max(g.num_nodes for g in graphs)
    model = build(workload, method, args, node_channels, max_nodes)
    batches = [Batch.from_data_list(graphs[i * args.batch_size:(i + 1) * args.batch_size])
               for i in range(args.batches + 1)]
    sampler_s, forward_s, ks, k_max, sizes = [], [], [], [], []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        sample = model.sampler(batch, model.eval_num_samples)
        t1 = time.perf_counter()
        model(batch)
        t2 = time.perf_counter()
        if i == 0:
            continue   # warm-up
        sampler_s.append(t1 - t0)
        forward_s.append(t2 - t1)
        ks.append(sample.num_copies)
        k_max.append(int(sample.counts.max()))
        if sample.frame_size is not None:
            sizes.extend(sample.frame_size.tolist())
    finite = [s for s in sizes if math.isfinite(s)]
    row = dict(workload=workload, method=method, k_mean=statistics.mean(ks),
               k_max=max(k_max), sampler_ms=1000 * statistics.median(sampler_s),
               forward_ms=1000 * statistics.median(forward_s),
               frame_size_mean=statistics.mean(finite) if finite else None,
               frame_size_max=max(sizes) if sizes else None,
               nontrivial=(sum(s > 1 for s in sizes) / len(sizes)) if sizes else None,
               continuous=(sum(not math.isfinite(s) for s in sizes) / len(sizes))
               if sizes else None)
    return row


def fmt(value, spec='.1f'):
    if value is None:
        return '—'
    if isinstance(value, float) and math.isinf(value):
        return 'inf'
    return format(value, spec)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    needed = (args.batches + 1) * args.batch_size
    rows = []
    for workload in args.workloads:
        if workload == 'nbody':
            graphs = nbody_graphs(needed, args.seed)
        elif workload == 'qm9':
            graphs = qm9_graphs(needed)
        else:
            graphs = graph8c_graphs(needed, args.graph8c_root, args.seed)
        for method in args.methods:
            row = measure(workload, method, graphs, args)
            rows.append(row)
            print(f"  {workload:8s} {method:10s} copies={fmt(row['k_mean'])} "
                  f"forward {row['forward_ms']:.1f} ms", flush=True)
    header = ('| workload | method | copies per graph (mean / max) | frame size (mean '
              'finite / max) | nontrivial | continuous | sampler ms | forward ms |')
    print('\n' + header + '\n|' + '---|' * 8)
    for r in rows:
        print(f"| {r['workload']} | {r['method']} | {fmt(r['k_mean'])} / {r['k_max']} | "
              f"{fmt(r['frame_size_mean'], '.2f')} / {fmt(r['frame_size_max'], '.0f')} | "
              f"{fmt(r['nontrivial'], '.2f')} | {fmt(r['continuous'], '.3f')} | "
              f"{r['sampler_ms']:.1f} | {r['forward_ms']:.1f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(batch_size=args.batch_size, batches=args.batches, samples=args.samples,
                threads=args.threads, torch=torch.__version__)
    args.out.write_text(json.dumps(dict(meta=meta, rows=rows), indent=2,
                                   default=lambda v: None))
    print(f'\nJSON: {args.out}')


if __name__ == '__main__':
    main()
