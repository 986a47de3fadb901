r"""Exactness of every method that claims it, on adversarial inputs, in float32 and
float64.

For each (method, group, input, output level, dtype) this applies ``--trials`` random
group elements :math:`g` and records the relative error

.. math::
    e(g) = \|f(g \cdot x) - g \cdot f(x)\|_\infty / \|f(x)\|_\infty

of a symmetrized **order- and orientation-dependent** backbone
(:class:`~lps_geometric.testing.OrderedMLP`, so every bit of symmetry comes from the
method), with the sampler's noise moved along with :math:`g` for the learned samplers
(LPS). It reports the largest :math:`e(g)`, how many trials exceed the tolerance of the
dtype (:obj:`lps_geometric.diagnostics.TOLERANCE`: 1e-3 for float32, 1e-9 for float64)
and whether the method was deterministic on that input: a frame that samples inside
ties (FA with tied keys, MFA over its budget) is equivariant in distribution only, and
such rows are marked ``sampled`` rather than counted against an exactness claim.

Inputs: random graphs and point clouds, and ones built to break methods: graphs with
large automorphism groups (cycles, complete graphs, the Petersen graph, a star, two
triangles, the 3-cube, a circular-skip-link graph) and regular or nearly degenerate
point clouds (tetrahedron, cube, octahedron, icosahedron, a hexagon, a nearly collinear
and a nearly planar cloud).

Examples::

    python benchmarks/exactness.py                   # the recorded table, 200 trials
    python benchmarks/exactness.py --trials 20 --groups S_n
"""
import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import networkx as nx
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import from_networkx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lps_geometric import Symmetrize  # noqa: E402
from lps_geometric.diagnostics import TOLERANCE, equivariance_error  # noqa: E402
from lps_geometric.samplers import build_sampler  # noqa: E402
from lps_geometric.testing import OrderedMLP, cube, regular_polygon, tetrahedron  # noqa: E402

GROUPS = ('S_n', 'E(3)', 'S_n x E(3)')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--trials', type=int, default=200, help='random group elements')
    p.add_argument('--groups', nargs='+', default=list(GROUPS), choices=GROUPS)
    p.add_argument('--samples', type=int, default=4, help='k of LPS')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', type=Path, default=REPO / 'results' / 'exactness.json')
    args = p.parse_args(argv)
    if args.trials < 1 or args.samples < 1 or args.threads < 1:
        p.error('--trials, --samples and --threads must be positive')
    return args


# ---------------------------------------------------------------- inputs

def _graph(g: nx.Graph, generator: torch.Generator, features: bool = False) -> Data:
    data = from_networkx(nx.convert_node_labels_to_integers(g))
    n = data.num_nodes
    x = torch.randn(n, 1, generator=generator) if features else torch.ones(n, 1)
    return Data(x=x, edge_index=data.edge_index, num_nodes=n)


def graph_inputs(generator: torch.Generator) -> Dict[str, Data]:
    csl = nx.circulant_graph(41, [1, 9])
    return {
        'random graphs (5, 6, 7 nodes, features)': Batch.from_data_list([
            _graph(nx.gnp_random_graph(n, 0.5, seed=n), generator, True) for n in (5, 6, 7)]),
        'cycle C6': _graph(nx.cycle_graph(6), generator),
        'complete K6': _graph(nx.complete_graph(6), generator),
        'star, 7 nodes': _graph(nx.star_graph(6), generator),
        'two triangles': _graph(nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3)),
                                generator),
        'Petersen graph': _graph(nx.petersen_graph(), generator),
        '3-cube Q3': _graph(nx.hypercube_graph(3), generator),
        'CSL(41, 9)': _graph(csl, generator),
    }


def _cloud(pos: torch.Tensor) -> Data:
    n = pos.size(0)
    row, col = torch.meshgrid(torch.arange(n), torch.arange(n), indexing='ij')
    mask = row != col
    edge_index = torch.stack([row[mask], col[mask]])
    return Data(x=torch.ones(n, 1), pos=pos.float(), edge_index=edge_index, num_nodes=n)


def _octahedron() -> torch.Tensor:
    eye = torch.eye(3, dtype=torch.float64)
    return torch.cat([eye, -eye])


def _icosahedron() -> torch.Tensor:
    phi = (1 + math.sqrt(5)) / 2
    rows = []
    for a in (-1.0, 1.0):
        for b in (-phi, phi):
            rows += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    return torch.tensor(rows, dtype=torch.float64)


def cloud_inputs(generator: torch.Generator) -> Dict[str, Data]:
    line = torch.zeros(7, 3, dtype=torch.float64)
    line[:, 0] = torch.linspace(-1, 1, 7, dtype=torch.float64)
    line = line + 1e-3 * torch.randn(7, 3, generator=generator, dtype=torch.float64)
    plane = torch.randn(8, 3, generator=generator, dtype=torch.float64)
    plane[:, 2] *= 1e-3
    return {
        'random cloud (8 points)': _cloud(torch.randn(8, 3, generator=generator,
                                                      dtype=torch.float64)),
        'tetrahedron': _cloud(tetrahedron()),
        'cube': _cloud(cube()),
        'octahedron': _cloud(_octahedron()),
        'icosahedron': _cloud(_icosahedron()),
        'regular hexagon': _cloud(regular_polygon(6)),
        'nearly collinear (1e-3)': _cloud(line),
        'nearly planar (1e-3)': _cloud(plane),
    }


# ---------------------------------------------------------------- claims

def _methods(group: str) -> List[str]:
    if group == 'S_n':
        return ['exhaustive', 'fa', 'mfa', 'lps', 'canonical']
    return ['fa', 'mfa', 'lps', 'canonical']


def _model(method: str, group: str, level: str, output: str, max_nodes: int,
           samples: int):
    kwargs = {'in_channels': 1} if method in ('lps', 'canonical') else {}
    if method == 'exhaustive':
        kwargs['max_nodes'] = max_nodes
    sampler = build_sampler(method, group, **kwargs)
    if group == 'S_n':
        backbone = OrderedMLP(1, 2, max_nodes, keys=('x',), level=level)
    else:
        backbone = OrderedMLP(3, 3 if level == 'node' else 2, max_nodes, keys=('pos',),
                              level=level)
    k = samples if method == 'lps' else 1
    return Symmetrize(backbone, sampler, num_samples=k, eval_num_samples=k, level=level,
                      output=output).eval()


def _to(data: Data, dtype: torch.dtype) -> Data:
    data = data.clone()
    for key in ('x', 'pos'):
        if getattr(data, key, None) is not None:
            data[key] = data[key].to(dtype)
    return data


def measure(model: Callable, data: Data, group: str, level: str, output: str,
            trials: int, generator: torch.Generator) -> Dict:
    r"""Largest relative error over ``trials`` elements, trials above tolerance, and
    whether two evaluations on the same input agree (a deterministic method)."""
    report = equivariance_error(model, data, group, num_trials=trials, level=level,
                                output=output, generator=generator, spread=False)
    again = equivariance_error(model, data, group, num_trials=2, level=level,
                               output=output, generator=generator, spread=True)
    scale = report.max_abs / report.relative if report.relative > 0 else 1.0
    relative = [e / scale for e in report.per_trial]
    above = sum(r > report.tolerance for r in relative)
    return dict(max_relative=report.relative, trials=trials, above=above,
                tolerance=report.tolerance, noise=report.noise,
                sampled=not again.deterministic and report.noise != 'transported')


def run(args) -> List[Dict]:
    torch.set_num_threads(args.threads)
    rows = []
    for group in args.groups:
        generator = torch.Generator().manual_seed(args.seed)
        inputs = graph_inputs(generator) if group == 'S_n' else cloud_inputs(generator)
        for name, data in inputs.items():
            batch = data if isinstance(data, Batch) else Batch.from_data_list([data])
            max_nodes = int((batch.ptr[1:] - batch.ptr[:-1]).max())
            for method in _methods(group):
                if method == 'exhaustive' and max_nodes > 7:
                    continue
                for level, output in ([('graph', 'scalar'), ('node', 'scalar')]
                                      if group == 'S_n' else
                                      [('graph', 'scalar'), ('node', 'vector')]):
                    for dtype in (torch.float32, torch.float64):
                        torch.manual_seed(args.seed)
                        model = _model(method, group, level, output, max_nodes,
                                       args.samples).to(dtype)
                        start = time.perf_counter()
                        gen = torch.Generator().manual_seed(args.seed + 1)
                        row = dict(method=method, group=group, input=name, level=level,
                                   output=output, dtype=str(dtype).replace('torch.', ''))
                        row.update(measure(model, _to(batch, dtype), group, level,
                                           output, args.trials, gen))
                        row['seconds'] = time.perf_counter() - start
                        rows.append(row)
                        print(format_row(row), flush=True)
    return rows


HEADER = ('| method | group | input | output | dtype | max rel. error | trials above '
          'tol. | note |\n|---|---|---|---|---|---|---|---|')


def format_row(row: Dict) -> str:
    if row['sampled']:
        note = 'sampled (in distribution)'
    elif row['method'] == 'canonical':
        note = 'deterministic (no noise)'
    else:
        note = 'noise moved along' if row['noise'] == 'transported' else 'deterministic'
    return (f"| {row['method']} | {row['group']} | {row['input']} | {row['level']} "
            f"{row['output']} | {row['dtype']} | {row['max_relative']:.1e} | "
            f"{row['above']}/{row['trials']} | {note} |")


def main(argv=None):
    args = parse_args(argv)
    print(HEADER)
    rows = run(args)
    meta = dict(torch=torch.__version__, python=platform.python_version(),
                machine=platform.machine(), threads=args.threads, trials=args.trials,
                samples=args.samples, seed=args.seed,
                tolerance={str(k).replace('torch.', ''): v for k, v in TOLERANCE.items()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(dict(meta=meta, rows=rows), indent=2))
    exact = [r for r in rows if not r['sampled']]
    failing = [r for r in exact if r['above']]
    print(f'\n{len(exact)} exact rows, {len(failing)} with trials above tolerance; '
          f'{len(rows) - len(exact)} sampled rows. JSON: {args.out}')


if __name__ == '__main__':
    main()
