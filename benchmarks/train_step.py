r"""Training-step benchmark: sparse LPS (``Symmetrize``) against the dense oracle.

Follows the graph S_n protocol (PATTERN-style node classification) of the public LPS
reference implementation (jw9730/lps): batches of 32 Erdos-Renyi graphs, a GIN
permutation sampler and a ViT-tiny adjacency-patch transformer, AdamW, median time of a
full training step (forward, backward, optimizer step) after warm-up, sampler-only
timings and the peak RSS.

Every (N, k, path) configuration runs in a fresh subprocess (``--worker``) so that the
peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that configuration alone.

Examples::

    python benchmarks/train_step.py --quick
    python benchmarks/train_step.py                       # the full default grid
    python benchmarks/train_step.py --nodes 444 --samples 1 --paths sparse --profile

See ``benchmarks/README.md`` for the meaning of every column.
"""
import argparse
import datetime
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Figures of the public LPS reference implementation (jw9730/lps, k = 1) in this protocol,
# the baseline of the reference columns: step time s, peak RSS GB, sampler fwd s,
# sampler fwd+bwd s.
REFERENCE = {
    64: dict(step_s=0.714, rss_gb=1.0, sampler_fwd_s=0.046, sampler_fwd_bwd_s=0.073),
    188: dict(step_s=1.129, rss_gb=1.6, sampler_fwd_s=0.233, sampler_fwd_bwd_s=0.499),
    444: dict(step_s=6.069, rss_gb=3.7, sampler_fwd_s=3.54, sampler_fwd_bwd_s=6.73),
}

IMAGE_CHANNELS = 5  # adjacency channel + 4 edge feature channels
GB = 1e9


# ----------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description='Time a full LPS training step (sparse Symmetrize vs the dense '
        'DenseSymmetrize oracle) on batches of Erdos-Renyi graphs, PATTERN-style node '
        'classification. Each (N, k, path) configuration runs in its own subprocess.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group('configurations')
    g.add_argument('--nodes', type=int, nargs='+', default=[64, 188, 444, 1000, 2000],
                   help='largest graph size N of each configuration (also the model\'s '
                   'max_nodes; patch size ceil(N / 14))')
    g.add_argument('--samples', type=int, nargs='+', default=[1, 10],
                   help='numbers of samples k per graph in training')
    g.add_argument('--paths', nargs='+', default=['sparse', 'dense'],
                   choices=['sparse', 'dense'], help='implementations to time')
    g.add_argument('--backbone', default='transformer', choices=['transformer', 'gin'],
                   help='transformer: the protocol\'s ViT over adjacency patches; gin: '
                   'PositionalGIN (width 192, 4 layers, edge features), sparse path '
                   'only (it reads positions, not an image, so the dense oracle does '
                   'not apply)')
    g.add_argument('--quick', action='store_true',
                   help='smoke run: --nodes 64 188 --samples 1 --steps 3')

    g = p.add_argument_group('data')
    g.add_argument('--batch-size', type=int, default=32)
    g.add_argument('--edge-prob', type=float, default=0.1,
                   help='Erdos-Renyi edge probability for N below --avg-degree-from')
    g.add_argument('--avg-degree', type=float, default=10.0,
                   help='for N >= --avg-degree-from the edge probability is '
                   'avg_degree / N (sparse graphs of average degree ~10)')
    g.add_argument('--avg-degree-from', type=int, default=1000,
                   help='smallest N that uses --avg-degree instead of --edge-prob')
    g.add_argument('--min-frac', type=float, default=0.8,
                   help='graph sizes are uniform in [ceil(min_frac N), N], the first '
                   'graph has exactly N nodes')
    g.add_argument('--edge-features', choices=['onehot', 'float'], default='onehot',
                   help='4-channel edge features: a random one-hot or U(0, 1) floats '
                   '(the same for both directions of an edge)')
    g.add_argument('--seed', type=int, default=0)

    g = p.add_argument_group('timing')
    g.add_argument('--steps', type=int, default=20,
                   help='timed training steps (median reported), unless --max-seconds '
                   'stops earlier')
    g.add_argument('--warmup', type=int, default=3, help='untimed warm-up steps')
    g.add_argument('--min-steps', type=int, default=2,
                   help='timed steps always run, whatever --max-seconds says')
    g.add_argument('--max-seconds', type=float, default=30.0,
                   help='time budget of the timed training steps of one configuration '
                   '(at least --min-steps run); warm-up stops early once it used half of '
                   'this, and the sampler-only repetitions stop after half of this')
    g.add_argument('--sampler-steps', type=int, default=5,
                   help='repetitions of each sampler-only measurement (median), fewer '
                   'when they exceed half of --max-seconds')
    g.add_argument('--threads', type=int, default=2, help='torch.set_num_threads')
    g.add_argument('--wait-idle', type=float, default=30.0,
                   help='before each configuration, wait up to this many seconds for '
                   'other processes to use less than --idle-cores cores (timings on a '
                   'shared machine are distorted; the load seen during the timed steps '
                   'is recorded either way)')
    g.add_argument('--idle-cores', type=float, default=0.25,
                   help='"idle" threshold of --wait-idle, in cores used by others')
    g.add_argument('--retries', type=int, default=1,
                   help='rerun a configuration (after --wait-idle) when other processes '
                   'used more than 2 x --idle-cores cores during its timed steps')
    g.add_argument('--worker-max-gb', type=float, default=None,
                   help='address-space cap (RLIMIT_AS) of each worker, so that a '
                   'configuration that needs too much memory fails cleanly; 0 = none '
                   '(default: 75%% of the machine\'s memory)')
    g.add_argument('--timeout', type=float, default=900.0,
                   help='kill a worker after this many seconds (recorded as failed)')

    g = p.add_argument_group('dense path limits')
    g.add_argument('--dense-max-gb', type=float, default=16.0,
                   help='skip a dense configuration whose estimated memory '
                   '(4 bytes x B k N^2 x (6 x 5 channels + 2.5 x Sinkhorn iterations)) '
                   'exceeds this')
    g.add_argument('--dense-max-step-seconds', type=float, default=60.0,
                   help='skip a dense configuration whose estimated step time (the '
                   'O(B k N^3) einsums at the measured matmul throughput plus the '
                   'O(S B k N^2) SoftSort/Sinkhorn) exceeds this')
    g.add_argument('--sinkhorn-iters', type=int, default=20,
                   help='Sinkhorn iterations of the relaxation on both paths (the '
                   'reference implementation runs 20 on its dense (B, N, N) matrix; the '
                   'sparse path runs them on its band)')
    g.add_argument('--sampler-edge-dim', type=int, default=0, choices=[0, 4],
                   help='0: plain GIN sampler (the protocol); 4: GINE with the edge '
                   'features')
    g.add_argument('--dense-band', type=int, default=None,
                   help='band of the dense SoftSort (default: None = full N x N, '
                   'like the reference implementation)')

    g = p.add_argument_group('output')
    g.add_argument('--out', default='results/train_step.json', help='JSON output file')
    g.add_argument('--resume', action='store_true',
                   help='keep the configurations already in --out (from an interrupted '
                   'run) and only run the missing ones')
    g.add_argument('--profile', action='store_true',
                   help='also run torch.profiler over 2 training steps of each sparse '
                   'configuration and print the top operators and phase timers')

    # Internal: one configuration in this process.
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--n', type=int, help=argparse.SUPPRESS)
    p.add_argument('--k', type=int, help=argparse.SUPPRESS)
    p.add_argument('--path', choices=['sparse', 'dense'], help=argparse.SUPPRESS)
    return p


def edge_prob_for(args, N: int) -> float:
    if N >= args.avg_degree_from:
        return min(1.0, args.avg_degree / N)
    return args.edge_prob


# ----------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------
def erdos_renyi_edges(n: int, p: float, generator):
    r"""Undirected G(n, p) as a directed ``(2, 2|E|)`` edge index (both directions) and
    the pair index of every undirected edge.

    Geometric skip sampling over the n(n-1)/2 pairs (Batagelj & Brandes), vectorised: the
    gaps between chosen pairs are i.i.d. Geometric(p), so O(|E|) time and memory."""
    import torch
    num_pairs = n * (n - 1) // 2
    if num_pairs == 0 or p <= 0:
        return torch.empty(2, 0, dtype=torch.long)
    if p >= 1:
        pair = torch.arange(num_pairs, dtype=torch.float64)
    else:
        mean = num_pairs * p
        draws = int(mean + 6 * math.sqrt(mean) + 16)
        pair = None
        while pair is None or pair[-1] < num_pairs:
            u = torch.rand(draws, generator=generator, dtype=torch.float64)
            # Geometric(p) on {1, 2, ...}: floor(log(u) / log(1 - p)) + 1
            gaps = torch.floor(torch.log1p(-u) / math.log1p(-p)) + 1
            chunk = torch.cumsum(gaps, 0) - 1 + (0 if pair is None else pair[-1] + 1)
            pair = chunk if pair is None else torch.cat([pair, chunk])
        pair = pair[pair < num_pairs]
    # Pair index -> (i, j), i > j, in row-major order of the strict lower triangle.
    pair = pair.to(torch.long)
    i = torch.floor((1 + torch.sqrt(1 + 8 * pair.to(torch.float64))) / 2).to(torch.long)
    i = i - (i * (i - 1) // 2 > pair).long()
    i = i + ((i + 1) * i // 2 <= pair).long()
    j = pair - i * (i - 1) // 2
    return torch.stack([i, j])


def make_batch(args, N: int):
    r"""One batch of B Erdos-Renyi graphs (first exactly N nodes), 3-way one-hot node
    features, 4 edge feature channels, binary node labels."""
    import torch
    from torch_geometric.data import Batch, Data
    gen = torch.Generator().manual_seed(args.seed * 1000003 + N)
    lo = math.ceil(args.min_frac * N)
    sizes = torch.randint(lo, N + 1, (args.batch_size,), generator=gen)
    sizes[0] = N
    p = edge_prob_for(args, N)
    graphs = []
    for n in sizes.tolist():
        und = erdos_renyi_edges(n, p, gen)  # (2, |E|) with i > j
        m = und.size(1)
        if args.edge_features == 'onehot':
            attr = torch.nn.functional.one_hot(
                torch.randint(0, 4, (m,), generator=gen), 4).float()
        else:
            attr = torch.rand(m, 4, generator=gen)
        edge_index = torch.cat([und, und.flip(0)], dim=1)
        edge_attr = torch.cat([attr, attr], dim=0)
        x = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=gen),
                                        3).float()
        y = torch.randint(0, 2, (n,), generator=gen)
        graphs.append(Data(x=x, edge_index=edge_index, edge_attr=edge_attr, y=y,
                           num_nodes=n))
    return Batch.from_data_list(graphs), p


# ----------------------------------------------------------------------------------
# Worker: one configuration
# ----------------------------------------------------------------------------------
def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB


def _cpu_busy_seconds() -> float:
    r"""CPU seconds all processes of the machine have been busy (``/proc/stat``)."""
    with open('/proc/stat') as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf('SC_CLK_TCK')


class OtherLoad:
    r"""Average number of cores used by *other* processes over a window: machine busy
    time minus this process's CPU time, over the wall time (0 on an idle machine)."""
    def __init__(self):
        self.start()

    def start(self):
        self.t, self.busy, self.own = (time.perf_counter(), _cpu_busy_seconds(),
                                       time.process_time())

    def cores(self) -> float:
        wall = time.perf_counter() - self.t
        other = (_cpu_busy_seconds() - self.busy) - (time.process_time() - self.own)
        return max(0.0, other / wall) if wall > 0 else 0.0


def _mem_total_gb() -> float:
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal'):
                    return int(line.split()[1]) * 1024 / GB
    except (OSError, ValueError):
        pass
    return 0.0


def loadavg():
    r"""1-, 5- and 15-minute load averages (other processes on the machine distort the
    timings: compare with the number of cores)."""
    try:
        with open('/proc/loadavg') as f:
            return [float(v) for v in f.read().split()[:3]]
    except (OSError, ValueError):
        return None


def build_model(args, N: int, k: int, path: str):
    from lps_geometric.nn import AdjacencyPatchTransformer, PositionalGIN, Symmetrize
    from lps_geometric.samplers import PermutationSampler
    from lps_geometric.testing.dense import DenseSymmetrize
    if args.backbone == 'gin':
        backbone = PositionalGIN(3, 2, max_nodes=N, hidden_channels=192, num_layers=4,
                                 edge_dim=4, level='node')
    else:
        backbone = AdjacencyPatchTransformer(
            in_channels=3, out_channels=2, max_nodes=N, edge_dim=4,
            patch_size=math.ceil(N / 14), embed_dim=192, depth=4, num_heads=3,
            level='node')
    sampler = PermutationSampler(3, hidden_channels=64, num_layers=3,
                                 edge_dim=args.sampler_edge_dim, dropout=0.1,
                                 noise_scale=1.0, tau=0.01,
                                 sinkhorn_iters=args.sinkhorn_iters)
    if path == 'sparse':
        return Symmetrize(backbone, sampler, num_samples=k, entropy_weight=0.1)
    return DenseSymmetrize(backbone, sampler, num_samples=k, band=args.dense_band)


def dense_sampler_forward(model, data, k: int):
    r"""The sampler part of :class:`DenseSymmetrize` (scores, argsort, dense SoftSort,
    straight-through): what the dense path pays for sampling."""
    from lps_geometric.groups.symmetric import Permutation
    from lps_geometric.samplers.permutation import sample_noise
    from lps_geometric.testing.dense import dense_assignment, dense_soft_assignment
    from lps_geometric.utils.batch import (max_graph_size, replicate_batch,
                                           to_ptr_batch)
    sampler = model.sampler
    stacked = replicate_batch(data, k)
    batch, ptr, _ = to_ptr_batch(stacked)
    n = max_graph_size(ptr)
    noise = sample_noise(stacked.num_nodes, sampler.noise_scale, sampler.noise,
                         batch.device)
    score = sampler.scores(stacked, noise)
    perm = Permutation.from_scores(score.detach(), batch, ptr, tie_break=noise.view(-1))
    hard = dense_assignment(perm, n)
    soft = dense_soft_assignment(score, perm, n, sampler.tau, model.band,
                                 sampler.sinkhorn_iters)
    return hard + (soft - soft.detach())


def run_worker(args, res: dict) -> dict:
    r"""Measures one configuration, filling ``res`` as it goes (so a configuration that
    runs out of memory half-way still reports what it measured)."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    N, k, path = args.n, args.k, args.path
    res.update(N=N, k=k, path=path, status='ok', loadavg_start=loadavg())
    res['rss_start_gb'] = rss_gb()

    import torch_geometric.data  # noqa: F401  (import time is not generation time)
    t0 = time.perf_counter()
    data, p = make_batch(args, N)
    res['data_seconds'] = time.perf_counter() - t0
    res['edge_prob'] = p
    res['num_nodes'] = int(data.num_nodes)
    res['num_edges'] = int(data.edge_index.size(1))
    res['mean_degree'] = res['num_edges'] / res['num_nodes']
    res['rss_after_data_gb'] = rss_gb()

    model = build_model(args, N, k, path)
    model.train()
    res['num_parameters'] = sum(q.numel() for q in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    res['rss_after_model_gb'] = rss_gb()

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(data)
        loss = F.cross_entropy(out, data.y)
        if path == 'sparse':
            loss = loss + model.regularization_loss()
        loss.backward()
        opt.step()
        return float(loss)

    # Warm-up: --warmup steps, or fewer when they eat half the time budget.
    t_start = time.perf_counter()
    warm_times, losses = [], []
    for _ in range(args.warmup):
        t = time.perf_counter()
        losses.append(step())
        warm_times.append(time.perf_counter() - t)
        if time.perf_counter() - t_start > args.max_seconds / 2:
            break
    times, cpu_times = [], []
    other = OtherLoad()
    t_start = time.perf_counter()
    while len(times) < args.steps:
        if len(times) >= args.min_steps and \
                time.perf_counter() - t_start + statistics.median(times) > args.max_seconds:
            break
        t, c = time.perf_counter(), time.process_time()
        losses.append(step())
        times.append(time.perf_counter() - t)
        cpu_times.append(time.process_time() - c)
    res.update(warmup_steps=len(warm_times), warmup_times=warm_times,
               timed_steps=len(times), step_times=times,
               step_s=statistics.median(times), step_min_s=min(times),
               step_cpu_s=statistics.median(cpu_times),
               other_load_cores=other.cores(),
               loss_first=losses[0], loss_last=losses[-1])
    res['peak_rss_gb'] = rss_gb()  # peak of data + model + training steps

    # Sampler only (train mode, gradients on: the band / soft assignment is built), as
    # inside Symmetrize, which validates the batch once before (not timed here).
    from lps_geometric.utils.validation import checked_input

    def sampler_fwd():
        with checked_input():
            if path == 'sparse':
                return model.sampler(data, k).band
            return dense_sampler_forward(model, data, k)

    fwd, fwd_bwd = [], []
    other.start()
    t_start = time.perf_counter()
    for _ in range(args.sampler_steps):
        if fwd and time.perf_counter() - t_start > args.max_seconds / 2:
            break
        model.zero_grad(set_to_none=True)
        t = time.perf_counter()
        band = sampler_fwd()
        fwd.append(time.perf_counter() - t)
        del band
        t = time.perf_counter()
        band = sampler_fwd()
        band.sum().backward()
        fwd_bwd.append(time.perf_counter() - t)
        del band
    res.update(sampler_fwd_s=statistics.median(fwd),
               sampler_fwd_bwd_s=statistics.median(fwd_bwd),
               sampler_fwd_times=fwd, sampler_fwd_bwd_times=fwd_bwd,
               sampler_other_load_cores=other.cores())
    res['peak_rss_end_gb'] = rss_gb()
    res['loadavg_end'] = loadavg()

    if args.profile and path == 'sparse':
        res['profile'] = profile_sparse(model, data, opt, step)
    return res


def profile_sparse(model, data, opt, step) -> dict:
    r"""Phase timers over one step plus the top operators of torch.profiler."""
    import torch
    import torch.nn.functional as F
    from lps_geometric.utils.batch import replicate_batch
    k = model.num_samples
    phases = {}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
        return out

    # Phase timers: the steps of Symmetrize.forward, called one by one, then backward.
    opt.zero_grad(set_to_none=True)
    from lps_geometric.utils.validation import checked_input
    bb = model.backbone
    data = timed('validate', lambda: model.check_input(data))
    with checked_input():          # validated once above, as Symmetrize does
        sample = timed('sample', lambda: model.sample(data, k))
        canonical = timed('canonicalize', lambda: model.canonicalize(sample))
        band = timed('permute_band', lambda: sample.element.permute_nodes(sample.band))
        out = timed('backbone_forward', lambda: bb(canonical, band=band))
    out = timed('invert_and_average',
                lambda: model.average(model.invert(out, sample), sample))
    loss = F.cross_entropy(out, data.y) + model.entropy_weight * sample.entropy
    timed('backward', loss.backward)
    timed('optimizer_step', opt.step)

    # Inside the backbone forward: patch embedding vs transformer encoder.
    from torch_geometric.utils import to_dense_batch
    from lps_geometric.utils.batch import to_ptr_batch
    with torch.no_grad():
        batch, ptr, B = to_ptr_batch(canonical)
        t = time.perf_counter()
        tokens, grid = bb.patch_embed(canonical.x, canonical.edge_index,
                                      canonical.edge_attr, batch, ptr, band)
        phases['[no_grad] patch_embed'] = time.perf_counter() - t
        tokens, mask = to_dense_batch(tokens + bb.pos_embed[0, 1 + grid.grid_position(
            bb.grid_size[1])], grid.token_batch, batch_size=B)
        t = time.perf_counter()
        bb.encoder(tokens, mask)  # without the class token: close enough for a timer
        phases['[no_grad] transformer_encoder'] = time.perf_counter() - t
        t = time.perf_counter()
        model.sampler.scores(replicate_batch(data, k), torch.rand(k * data.num_nodes, 1))
        phases['[no_grad] sampler GIN scores'] = time.perf_counter() - t

    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        for _ in range(2):
            step()
    table = prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=25)
    top = []
    for ev in sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total,
                     reverse=True)[:25]:
        top.append(dict(name=ev.key, self_cpu_s=ev.self_cpu_time_total / 1e6 / 2,
                        cpu_total_s=ev.cpu_time_total / 1e6 / 2, calls=ev.count // 2))
    return dict(phases_s=phases, top_ops_per_step=top, table=table)


# ----------------------------------------------------------------------------------
# Orchestrator
# ----------------------------------------------------------------------------------
def machine_info(args) -> dict:
    import torch
    import torch_geometric
    info = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        python=platform.python_version(), platform=platform.platform(),
        torch=torch.__version__, torch_geometric=torch_geometric.__version__,
        threads=args.threads, cpu_count=os.cpu_count())
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    info['cpu_model'] = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info['mem_total_gb'] = _mem_total_gb()
    try:
        info['git_commit'] = subprocess.run(
            ['git', 'rev-parse', 'HEAD'], cwd=REPO_ROOT, capture_output=True,
            text=True, timeout=10).stdout.strip()
        info['git_dirty'] = bool(subprocess.run(
            ['git', 'status', '--porcelain', '--untracked-files=no'], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    info['loadavg'] = loadavg()
    info['matmul_gflops'] = measure_gflops(args.threads)
    return info


def measure_gflops(threads: int) -> float:
    r"""fp32 batched-matmul throughput, shaped like the dense path's einsums."""
    import torch
    torch.set_num_threads(threads)
    a = torch.randn(8, 256, 256)
    b = torch.randn(8, 256, 1280)
    for _ in range(2):
        torch.bmm(a, b)
    reps, t = 0, time.perf_counter()
    while time.perf_counter() - t < 1.0:
        torch.bmm(a, b)
        reps += 1
    return reps * 2 * 8 * 256 * 256 * 1280 / (time.perf_counter() - t) / 1e9


def dense_estimate(args, N: int, k: int, gflops: float) -> dict:
    r"""Rough cost of a dense configuration, to skip hopeless ones before running them.

    Memory: six :obj:`(B k, N, N, 5)` fp32 tensors (the image, the two einsum results and
    their gradients) plus about 2.5 :obj:`(B k, N, N)` tensors per Sinkhorn iteration kept
    for the backward (an empirical constant of the dense path's peak memory). Time: the
    two :math:`N \times N` by :math:`N \times 5N` contractions, :math:`2 B k N^3 5` flops
    each, three times over with the backward, at the matmul throughput measured by
    :func:`measure_gflops`, plus 30 ns per entry of :obj:`(B k, N, N)` and SoftSort or
    Sinkhorn pass (an empirical constant: these passes are memory bound)."""
    Bk = args.batch_size * k
    entries = Bk * N * N
    iters = getattr(args, 'sinkhorn_iters', 0)
    mem = 4 * entries * (6 * IMAGE_CHANNELS + 2.5 * iters)
    flops = 3 * 2 * 2 * Bk * N ** 3 * IMAGE_CHANNELS
    sinkhorn_s = 3e-8 * entries * (iters + 1)
    return dict(est_mem_gb=mem / GB, est_einsum_tflop=flops / 1e12,
                est_step_s=flops / (gflops * 1e9) + sinkhorn_s)


def wait_for_idle(args) -> dict:
    r"""Waits (up to ``--wait-idle`` seconds) until other processes use at most
    ``--idle-cores`` cores over a 3-second window."""
    t0 = time.perf_counter()
    told = False
    while True:
        probe = OtherLoad()
        time.sleep(3.0)
        load = probe.cores()
        waited = time.perf_counter() - t0
        if load <= args.idle_cores or waited >= args.wait_idle:
            if told:
                print(f'(waited {waited:.0f} s for an idle machine, other load now '
                      f'{load:.2f} cores)', flush=True)
            return dict(other_load_before=load, waited_idle_s=waited)
        if not told:
            print(f'(other processes use {load:.1f} cores: waiting up to '
                  f'{args.wait_idle:.0f} s)', flush=True)
            told = True


def run_config(args, N, k, path) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', '--n', str(N),
           '--k', str(k), '--path', path]
    for name in ('batch_size', 'edge_prob', 'avg_degree', 'avg_degree_from',
                 'min_frac', 'edge_features', 'seed', 'steps', 'warmup', 'min_steps',
                 'max_seconds', 'sampler_steps', 'threads', 'worker_max_gb',
                 'sinkhorn_iters', 'sampler_edge_dim', 'backbone'):
        cmd += ['--' + name.replace('_', '-'), str(getattr(args, name))]
    if args.dense_band is not None:
        cmd += ['--dense-band', str(args.dense_band)]
    if args.profile:
        cmd.append('--profile')
    env = dict(os.environ)
    env['PYTHONPATH'] = str(REPO_ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired as e:
        return dict(N=N, k=k, path=path, status='failed',
                    reason=f'timed out after {args.timeout:.0f} s',
                    stderr_tail=(e.stderr or b'')[-2000:].decode(errors='replace')
                    if isinstance(e.stderr, bytes) else (e.stderr or '')[-2000:])
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        rc = proc.returncode
        if rc < 0:
            reason = f'worker killed by signal {-rc}' + (
                ' (SIGKILL: most likely out of memory)' if rc == -9 else '')
        else:
            reason = f'worker exited with status {rc}'
            lines = proc.stderr.strip().splitlines()
            if lines:
                reason += f': {lines[-1]}'
        return dict(N=N, k=k, path=path, status='failed', reason=reason,
                    stderr_tail=proc.stderr[-3000:], wall_s=wall)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res['wall_s'] = wall
    return res


def fmt(value, spec='.3f', missing='-'):
    return missing if value is None else format(value, spec)


def _short(reason: str, width: int = 80) -> str:
    reason = reason.split(': [enforce fail')[0]  # keep torch's allocator message out
    return reason if len(reason) <= width else reason[:width - 3] + '...'


def table_rows(results):
    steps = {(r['N'], r['k'], r['path']): r.get('step_s') for r in results
             if r['status'] == 'ok'}
    header = ['N', 'k', 'path', 'step s', 'sampler fwd s', 'sampler f+b s',
              'peak RSS GB', 'dense/sparse', 'ref/ours time', 'RSS/ref RSS', 'note']
    rows = []
    for r in results:
        N, k, path = r['N'], r['k'], r['path']
        if r['status'] != 'ok':
            rows.append([str(N), str(k), path] + ['-'] * 7 + [
                f"{r['status']}: {_short(r.get('reason', ''))}"])
            continue
        speedup = None
        sparse, dense = steps.get((N, k, 'sparse')), steps.get((N, k, 'dense'))
        if sparse and dense:
            speedup = dense / sparse
        ref = REFERENCE.get(N) if k == 1 else None
        note = f"{r['timed_steps']} steps"
        if r['warmup_steps'] < 3:
            note += f", {r['warmup_steps']} warm-up"
        if r.get('other_load_cores', 0) > 0.25:
            note += f", other load {r['other_load_cores']:.1f} cores"
        rows.append([str(N), str(k), path, fmt(r['step_s']), fmt(r['sampler_fwd_s']),
                     fmt(r['sampler_fwd_bwd_s']), fmt(r['peak_rss_gb'], '.2f'),
                     (fmt(speedup, '.1f') + 'x') if speedup and path == 'dense' else '-',
                     (fmt(ref['step_s'] / r['step_s'], '.1f') + 'x') if ref else '-',
                     fmt(r['peak_rss_gb'] / ref['rss_gb'], '.2f') if ref else '-',
                     note])
    return header, rows


def format_table(results) -> str:
    header, rows = table_rows(results)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    line = lambda cells: ' | '.join(c.rjust(w) if i < 10 else c.ljust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(header), '-+-'.join('-' * w for w in widths)]
    out += [line(r) for r in rows]
    return '\n'.join(out)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.worker_max_gb is None:
        args.worker_max_gb = round(0.75 * _mem_total_gb(), 1)
    if args.worker:
        sys.path.insert(0, str(REPO_ROOT))
        if args.worker_max_gb > 0:
            # An allocation beyond the cap raises in this process instead of waking the
            # machine's OOM killer (which may take the whole job down with it).
            cap = int(args.worker_max_gb * GB)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        res = dict(N=args.n, k=args.k, path=args.path)
        try:
            run_worker(args, res)
        except (MemoryError, RuntimeError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            oom = isinstance(e, MemoryError) or 'memory' in msg.lower() \
                or 'alloc' in msg.lower()
            res['status'] = 'failed'
            res['reason'] = (f'out of memory (address space capped at --worker-max-gb '
                             f'{args.worker_max_gb:g}): ' if oom else '') + msg[:300]
            res['peak_rss_at_failure_gb'] = rss_gb()
        print(json.dumps(res))
        return
    if args.quick:
        args.nodes, args.samples, args.steps = [64, 188], [1], 3

    info = machine_info(args)
    config = {k: v for k, v in vars(args).items() if k not in ('worker', 'n', 'k', 'path')}
    print(f"torch {info['torch']}, PyG {info['torch_geometric']}, "
          f"{info.get('cpu_model', '?')}, {args.threads} threads, "
          f"matmul {info['matmul_gflops']:.0f} GFLOP/s", flush=True)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    results = []
    previous, earlier_runs = {}, []
    if args.resume and out_path.exists():
        old = json.loads(out_path.read_text())
        earlier_runs = old.get('earlier_runs', []) + [dict(
            machine=old.get('machine'), total_seconds=old.get('total_seconds'))]
        previous = {(r['N'], r['k'], r['path']): r for r in old.get('results', [])}
        print(f'resuming: {len(previous)} configurations already in {out_path}')
    t_all = time.perf_counter()

    def save():
        payload = dict(benchmark='train_step', machine=info, config=config,
                       reference=REFERENCE, results=results,
                       total_seconds=time.perf_counter() - t_all)
        if earlier_runs:
            payload['earlier_runs'] = earlier_runs
        out_path.write_text(json.dumps(payload, indent=1))

    for N in args.nodes:
        for k in args.samples:
            for path in args.paths:
                if (N, k, path) in previous:
                    results.append(dict(previous[(N, k, path)], resumed=True))
                    save()
                    continue
                if path == 'dense':
                    est = dense_estimate(args, N, k, info['matmul_gflops'])
                    reason = None
                    if args.backbone == 'gin':
                        reason = 'no dense oracle for the gin backbone'
                    elif est['est_mem_gb'] > args.dense_max_gb:
                        reason = (f"estimated memory {est['est_mem_gb']:.1f} GB > "
                                  f"--dense-max-gb {args.dense_max_gb:g}")
                    elif est['est_step_s'] > args.dense_max_step_seconds:
                        reason = (f"estimated step {est['est_step_s']:.0f} s "
                                  f"({est['est_einsum_tflop']:.1f} TFLOP of einsum "
                                  f"+ SoftSort/Sinkhorn) > "
                                  f"--dense-max-step-seconds "
                                  f"{args.dense_max_step_seconds:g}")
                    if reason:
                        res = dict(N=N, k=k, path=path, status='skipped', reason=reason,
                                   **est)
                        results.append(res)
                        print(f'N={N} k={k} {path}: skipped ({reason})', flush=True)
                        save()
                        continue
                attempts = []
                for attempt in range(args.retries + 1):
                    idle = wait_for_idle(args) if args.wait_idle > 0 else {}
                    print(f"[{time.strftime('%H:%M:%S')}] N={N} k={k} {path}: "
                          f"running ...", end=' ', flush=True)
                    res = run_config(args, N, k, path)
                    res.update(idle)
                    busy = res.get('other_load_cores', 0) > 2 * args.idle_cores
                    if res['status'] != 'ok' or not busy or attempt == args.retries:
                        break
                    print(f"other processes used {res['other_load_cores']:.1f} cores: "
                          f"step {res['step_s']:.3f} s discarded, retrying", flush=True)
                    attempts.append(dict(step_s=res['step_s'],
                                         other_load_cores=res['other_load_cores']))
                if attempts:
                    res['discarded_attempts'] = attempts
                if path == 'dense':
                    res.update(dense_estimate(args, N, k, info['matmul_gflops']))
                results.append(res)
                if res['status'] == 'ok':
                    print(f"step {res['step_s']:.3f} s ({res['timed_steps']} steps), "
                          f"RSS {res['peak_rss_gb']:.2f} GB, wall {res['wall_s']:.0f} s",
                          flush=True)
                    if 'profile' in res:
                        prof = res['profile']
                        print('  phase timers (s):', json.dumps(
                            {k2: round(v, 4) for k2, v in prof['phases_s'].items()}))
                        print(prof['table'])
                else:
                    print(f"{res['status']}: {res['reason']}", flush=True)
                save()
    print()
    print(format_table(results))
    print(f'\nresults written to {out_path} (total {time.perf_counter() - t_all:.0f} s)')


if __name__ == '__main__':
    main()
