r"""Bad inputs at every public entry point, and what each answers.

Every case calls one public callable (a symmetrized model, a sampler or frame called
directly, a diagnostic, a dataset constructor, a task, a backbone) with one malformed
input and records the answer: the exception type and message, or ``accepted: ...``
with a summary of the output. Each case states what it should answer: an error of a
given type whose message names the problem, or an accepted call with a finite output.

    python benchmarks/bad_inputs.py                    # Markdown table on stdout
    python benchmarks/bad_inputs.py --out results/bad_inputs.json

``tests/utils/test_entry_points.py`` runs the same table as a test.
"""
import argparse
import json
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import torch
from torch_geometric.data import Batch, Data

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lps_geometric.utils.validation import GraphInputError  # noqa: E402


@dataclass
class Case:
    r"""One bad input: the entry point, what is wrong, the expected answer and the
    call. ``expect`` is ``'GraphInputError'`` (bad data), ``'ValueError'`` (a bad
    argument value; :class:`GraphInputError` is a subclass), ``'FileNotFoundError'``
    or ``'ok'`` (accepted, finite output); ``match`` must appear in the error
    message."""
    entry: str
    bad: str
    expect: str
    call: Callable[[], Any]
    match: str = ''


# --------------------------------------------------------------------------- inputs

def _ring(n: int, chord: bool = False) -> torch.Tensor:
    r"""An undirected :math:`n`-cycle (with the chord (0, 2) if ``chord``): the edges
    one way, then the same edges reversed."""
    src = torch.arange(n)
    dst = (src + 1) % n
    if chord:
        src, dst = torch.cat([src, torch.tensor([0])]), torch.cat([dst, torch.tensor([2])])
    return torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])


def graphs(**change) -> Batch:
    r"""Two graphs (a 4-ring with a chord, a 5-ring) with ``x`` (|V|, 3),
    ``edge_attr`` (|E|, 2), ``pos`` and ``vel`` (|V|, 3); ``change`` replaces or
    (with :obj:`None`) removes attributes of the batch."""
    gen = torch.Generator().manual_seed(0)
    data = []
    for n in (4, 5):
        ei = _ring(n, chord=n == 4)
        attr = torch.rand(ei.size(1) // 2, 2, generator=gen)
        data.append(Data(x=torch.randn(n, 3, generator=gen), edge_index=ei,
                         edge_attr=torch.cat([attr, attr]),   # equal both ways
                         pos=torch.randn(n, 3, generator=gen),
                         vel=torch.randn(n, 3, generator=gen)))
    batch = Batch.from_data_list(data)
    for key, value in change.items():
        if value is None:
            delattr(batch, key)
        else:
            batch[key] = value
    return batch


def _n() -> int:
    return graphs().num_nodes


def _e() -> int:
    return graphs().edge_index.size(1)


def _with_edge(src: int, dst: int, **change) -> Batch:
    data = graphs(**change)
    extra = torch.tensor([[src], [dst]])
    data.edge_index = torch.cat([data.edge_index, extra], dim=1)
    data.edge_attr = torch.cat([data.edge_attr, data.edge_attr[:1]])
    return data


def _nan(shape, index=0) -> torch.Tensor:
    value = torch.randn(*shape)
    value.view(-1)[index] = float('nan')
    return value


def _inf(shape) -> torch.Tensor:
    value = torch.randn(*shape)
    value.view(-1)[-1] = float('inf')
    return value


def _duplicate(data: Batch) -> Batch:
    half = data.edge_index.size(1) // 2      # (0, 1) twice, both ways
    twice = torch.tensor([0, half])
    data.edge_index = torch.cat([data.edge_index, data.edge_index[:, twice]], dim=1)
    data.edge_attr = torch.cat([data.edge_attr, data.edge_attr[twice]])
    return data


def _self_loop(data: Batch) -> Batch:
    data.edge_index = torch.cat([data.edge_index, torch.tensor([[1], [1]])], dim=1)
    data.edge_attr = torch.cat([data.edge_attr, torch.zeros(1, 2)])
    return data


# --------------------------------------------------------------------------- models

def _gin(**kw):
    from lps_geometric.nn import PositionalGIN
    return PositionalGIN(3, 2, max_nodes=8, hidden_channels=8, num_layers=2, **kw)


def _mpnn(edge_dim: int = 0):
    from lps_geometric.nn import MPNN
    return MPNN(3, 2, hidden_channels=8, num_layers=2, edge_dim=edge_dim)


def _symmetrize(method: str, group: str = 'S_n', **kw):
    from lps_geometric.nn import Symmetrize
    torch.manual_seed(0)
    backbone = _gin() if group == 'S_n' else _mpnn()
    sampler_kwargs = {'hidden_channels': 8, 'num_layers': 1} if method == 'lps' else {}
    model = Symmetrize.from_method(backbone, method, group, in_channels=3,
                                   sampler_kwargs=sampler_kwargs, **kw)
    return model.eval()


def _frame(name: str, **kw):
    from lps_geometric import frames
    cls = getattr(frames, name)
    return cls(**kw)


def _sampler(name: str, *args, **kw):
    from lps_geometric import samplers
    torch.manual_seed(0)
    return getattr(samplers, name)(*args, **kw)


def _call_sampler(sampler, data, k=2, **kw):
    with torch.no_grad():
        return sampler(data, k, **kw)


def _eq(model, data, **kw):
    from lps_geometric.diagnostics import equivariance_error
    return equivariance_error(model, data, seed=0, **kw)


def _layerwise(model, data, **kw):
    from lps_geometric.diagnostics import layerwise_equivariance_error
    return layerwise_equivariance_error(model, data, **kw)


def _spread(sampler, data, **kw):
    from lps_geometric.diagnostics import sample_spread
    return sample_spread(sampler, data, **kw)


def _task(kind: str = 'regression', **kw):
    from lps_geometric.training.tasks import Task
    return Task(kind, **kw)


def _tmp() -> str:
    return tempfile.mkdtemp(prefix='lps-bad-inputs-')


def _a_file() -> str:
    fd, path = tempfile.mkstemp(prefix='lps-bad-inputs-', suffix='.txt')
    os.write(fd, b'not a directory')
    os.close(fd)
    return path


def _egnn(**kw):
    from lps_geometric.nn import EGNN
    torch.manual_seed(0)
    return EGNN(3, hidden_channels=8, num_layers=2, **kw)


def _pyg_backbone():
    from torch_geometric.nn.models import GIN
    from lps_geometric.nn import PyGBackbone
    torch.manual_seed(0)
    return PyGBackbone(GIN(8, 8, num_layers=2), in_channels=3, out_channels=2,
                       max_nodes=8)


# --------------------------------------------------------------------------- cases

def cases() -> List[Case]:
    G, V, A = 'GraphInputError', 'ValueError', 'ok'
    N, E = _n(), _e()
    out: List[Case] = []

    def add(entry, bad, expect, call, match=''):
        out.append(Case(entry, bad, expect, call, match))

    # Symmetrize, one model per method family --------------------------------------
    for method in ('lps', 'ga', 'fa', 'mfa', 'canonical'):
        entry = f"Symmetrize('{method}', S_n)"
        add(entry, 'edge_index with an index >= |V|', G,
            lambda m=method: _symmetrize(m)(_with_edge(0, N)), 'outside')
        add(entry, 'NaN in x', G,
            lambda m=method: _symmetrize(m)(graphs(x=_nan((N, 3)))), 'NaN')
        add(entry, 'duplicate edges', A,
            lambda m=method: _symmetrize(m)(_duplicate(graphs())))
        add(entry, 'a self-loop', A,
            lambda m=method: _symmetrize(m)(_self_loop(graphs())))
    entry = "Symmetrize('lps', S_n)"
    add(entry, 'negative node index in edge_index', G,
        lambda: _symmetrize('lps')(_with_edge(-1, 0)), 'outside')
    add(entry, "x with |V| - 1 rows", G,
        lambda: _symmetrize('lps')(graphs(x=torch.randn(N - 1, 3))), 'rows')
    add(entry, 'x of width 2 (model reads 3)', G,
        lambda: _symmetrize('lps')(graphs(x=torch.randn(N, 2))), 'channels')
    add(entry, 'integer x (small counts)', A,
        lambda: _symmetrize('lps')(graphs(x=torch.randint(0, 3, (N, 3)))))
    add(entry, 'integer x beyond 2^24 (not exact in float32)', G,
        lambda: _symmetrize('lps')(graphs(x=torch.full((N, 3), 2 ** 40))), '2^24')
    add(entry, 'complex x', G,
        lambda: _symmetrize('lps')(graphs(x=torch.randn(N, 3, dtype=torch.cfloat))),
        'dtype')
    add(entry, 'edge_index of dtype int32', G,
        lambda: _symmetrize('lps')(graphs(edge_index=graphs().edge_index.int())),
        'torch.long')
    add(entry, 'edge_index of shape (3, |E|)', G,
        lambda: _symmetrize('lps')(graphs(edge_index=torch.zeros(3, E, dtype=torch.long))),
        'shape')
    add(entry, 'edge_index missing', G,
        lambda: _symmetrize('lps')(Data(x=torch.randn(4, 3))), 'edge_index')
    add(entry, 'no nodes at all', G,
        lambda: _symmetrize('lps')(Data(x=torch.zeros(0, 3),
                                        edge_index=torch.zeros(2, 0, dtype=torch.long))),
        'empty')
    add(entry, 'unsorted batch vector', G,
        lambda: _symmetrize('lps')(graphs(batch=graphs().batch.flip(0))), 'batch')
    add(entry, 'batch of float dtype', G,
        lambda: _symmetrize('lps')(graphs(batch=graphs().batch.float())), 'batch')
    add(entry, 'batch with |V| + 1 entries', G,
        lambda: _symmetrize('lps')(graphs(batch=torch.cat([graphs().batch,
                                                           torch.tensor([1])]))), 'rows')
    add(entry, 'a graph larger than max_nodes', G,
        lambda: _symmetrize('lps')(Batch.from_data_list([Data(
            x=torch.randn(9, 3), edge_index=_ring(9))])), 'max_nodes')
    add(entry, 'num_samples=0 in forward', V,
        lambda: _symmetrize('lps')(graphs(), num_samples=0), 'num_samples')
    add(entry, 'num_samples=2.5 in forward', V,
        lambda: _symmetrize('lps')(graphs(), num_samples=2.5), 'num_samples')
    add(entry, "Symmetrize(num_samples='4')", V,
        lambda: _symmetrize('lps', num_samples='4'), 'num_samples')
    add(entry, 'a list instead of a Data', G,
        lambda: _symmetrize('lps')([1, 2, 3]), 'Data')
    entry = "Symmetrize('fa', E(3))"
    add(entry, "data without 'pos'", G,
        lambda: _symmetrize('fa', 'E(3)')(graphs(pos=None)), 'pos')
    add(entry, "integer 'pos'", G,
        lambda: _symmetrize('fa', 'E(3)')(graphs(pos=torch.randint(0, 3, (N, 3)))),
        'floating')
    add(entry, "'pos' of width 2", G,
        lambda: _symmetrize('fa', 'E(3)')(graphs(pos=torch.randn(N, 2))), 'pos')
    add(entry, "inf in 'pos'", G,
        lambda: _symmetrize('fa', 'E(3)')(graphs(pos=_inf((N, 3)))), 'pos')
    add(entry, "'vel' with |V| - 1 rows", G,
        lambda: _symmetrize('fa', 'E(3)')(graphs(vel=torch.randn(N - 1, 3))), 'vel')
    add(entry, "NaN in 'vel'", G,
        lambda: _symmetrize('fa', 'E(3)')(graphs(vel=_nan((N, 3)))), 'vel')
    add(entry, "'pos' with |V| + 1 rows", G,
        lambda: _symmetrize('fa', 'E(3)')(graphs(pos=torch.randn(N + 1, 3))), 'pos')
    add("Symmetrize('lps', E(3))", "data without 'pos'", G,
        lambda: _symmetrize('lps', 'E(3)')(graphs(pos=None)), 'pos')
    add("Symmetrize('ga', E(3))", "data without 'pos'", G,
        lambda: _symmetrize('ga', 'E(3)')(graphs(pos=None)), 'pos')
    add("Symmetrize('mfa', S_n x E(3))", "integer 'pos'", G,
        lambda: _symmetrize('mfa', 'S_n x E(3)')(graphs(pos=torch.randint(0, 3, (N, 3)))),
        'floating')

    # frames called directly -------------------------------------------------------
    for name, kw, needs_pos in (
            ('LaplacianFrameSampler', {}, False),
            ('GraphMinimalFrameSampler', {}, False),
            ('SetMinimalFrameSampler', {}, False),
            ('PCAFrameSampler', {}, True),
            ('OrthogonalMinimalFrameSampler', {}, True),
            ('ProductMinimalFrameSampler', {}, True)):
        entry = f'{name}()(data)'
        add(entry, 'edge_index with an index >= |V|', G,
            lambda n=name, k=kw: _frame(n, **k)(_with_edge(0, N + 3)), 'outside')
        add(entry, 'NaN in x', G,
            lambda n=name, k=kw: _frame(n, **k)(graphs(x=_nan((N, 3)))), 'NaN')
        if needs_pos:
            add(entry, "data without 'pos'", G,
                lambda n=name, k=kw: _frame(n, **k)(graphs(pos=None)), 'pos')
            add(entry, "'pos' with |V| - 1 rows", G,
                lambda n=name, k=kw: _frame(n, **k)(graphs(pos=torch.randn(N - 1, 3))),
                'rows')
        else:
            add(entry, 'duplicate edges', A,
                lambda n=name, k=kw: _frame(n, **k)(_duplicate(graphs())))
            add(entry, 'a self-loop', A,
                lambda n=name, k=kw: _frame(n, **k)(_self_loop(graphs())))
    add('GraphMinimalFrameSampler()(data)', 'a directed edge (no reverse)', G,
        lambda: _frame('GraphMinimalFrameSampler')(_with_edge(1, 3)), 'undirected')
    add('GraphMinimalFrameSampler(budget=0)', 'budget=0', V,
        lambda: _frame('GraphMinimalFrameSampler', budget=0), 'budget')
    add('SetMinimalFrameSampler()(data)', "data without 'x'", G,
        lambda: _frame('SetMinimalFrameSampler')(graphs(x=None)), "'x'")
    add('LaplacianFrameSampler(num_blocks=0)', 'num_blocks=0', V,
        lambda: _frame('LaplacianFrameSampler', num_blocks=0), 'num_blocks')
    add('PCAFrameSampler(tie_samples=0)', 'tie_samples=0', V,
        lambda: _frame('PCAFrameSampler', tie_samples=0), 'tie_samples')
    add('OrthogonalMinimalFrameSampler(budget=-1)', 'budget=-1', V,
        lambda: _frame('OrthogonalMinimalFrameSampler', budget=-1), 'budget')
    add('SortedProductFrameSampler(PCA)(data)', "data without 'pos'", G,
        lambda: _frame('SortedProductFrameSampler',
                       euclidean=_frame('PCAFrameSampler'))(graphs(pos=None)), 'pos')
    add('SortedProductFrameSampler(PCA, tie_samples=0)', 'tie_samples=0', V,
        lambda: _frame('SortedProductFrameSampler', euclidean=_frame('PCAFrameSampler'),
                       tie_samples=0), 'tie_samples')
    add('LorentzMinimalFrameSampler()(data)', "'pos' of width 3 (needs 4)", G,
        lambda: _frame('LorentzMinimalFrameSampler')(graphs()), 'pos')
    add('UnitaryMinimalFrameSampler()(data)', "real 'pos' (needs complex)", G,
        lambda: _frame('UnitaryMinimalFrameSampler')(graphs(pos=torch.randn(N, 2))),
        'complex')
    add('UnitaryMinimalFrameSampler()(data)', "NaN in complex 'pos'", G,
        lambda: _frame('UnitaryMinimalFrameSampler')(graphs(
            pos=torch.full((N, 2), complex(float('nan'), 0.0)), vel=None)), 'pos')

    # samplers called directly -----------------------------------------------------
    entry = 'PermutationSampler(3)(data, k)'
    add(entry, 'edge_index with an index >= |V|', G,
        lambda: _call_sampler(_sampler('PermutationSampler', 3, hidden_channels=8),
                              _with_edge(0, N)), 'outside')
    add(entry, 'x of width 2', G,
        lambda: _call_sampler(_sampler('PermutationSampler', 3, hidden_channels=8),
                              graphs(x=torch.randn(N, 2))), 'channels')
    add(entry, 'NaN in x', G,
        lambda: _call_sampler(_sampler('PermutationSampler', 3, hidden_channels=8),
                              graphs(x=_nan((N, 3)))), 'NaN')
    add(entry, 'k = 0 samples', V,
        lambda: _call_sampler(_sampler('PermutationSampler', 3, hidden_channels=8),
                              graphs(), k=0), 'num_samples')
    entry = 'UniformPermutationSampler()(data, k)'
    add(entry, 'edge_index with an index >= |V|', G,
        lambda: _call_sampler(_sampler('UniformPermutationSampler'), _with_edge(0, N)),
        'outside')
    add(entry, 'k = -1 samples', V,
        lambda: _call_sampler(_sampler('UniformPermutationSampler'), graphs(), k=-1),
        'num_samples')
    add('ExhaustivePermutationSampler()(data)', 'a graph larger than max_nodes', G,
        lambda: _call_sampler(_sampler('ExhaustivePermutationSampler', 3), graphs()),
        'max_nodes')
    entry = 'EuclideanFrameSampler(3)(data, k)'
    add(entry, "data without 'pos'", G,
        lambda: _call_sampler(_sampler('EuclideanFrameSampler', 3, hidden_channels=8),
                              graphs(pos=None)), 'pos')
    add(entry, "NaN in 'pos'", G,
        lambda: _call_sampler(_sampler('EuclideanFrameSampler', 3, hidden_channels=8),
                              graphs(pos=_nan((N, 3)))), 'pos')
    add(entry, "integer 'pos'", G,
        lambda: _call_sampler(_sampler('EuclideanFrameSampler', 3, hidden_channels=8),
                              graphs(pos=torch.randint(0, 3, (N, 3)))), 'floating')
    add('ProductSampler(3)(data, k)', "data without 'pos'", G,
        lambda: _call_sampler(_sampler('ProductSampler', 3, hidden_channels=8),
                              graphs(pos=None)), 'pos')
    add('UniformRotationSampler()(data, k)', "data without 'pos'", G,
        lambda: _call_sampler(_sampler('UniformRotationSampler'), graphs(pos=None)),
        'pos')

    # diagnostics ------------------------------------------------------------------
    entry = 'equivariance_error'
    add(entry, 'num_trials=0', V,
        lambda: _eq(_symmetrize('fa'), graphs(), num_trials=0), 'num_trials')
    add(entry, 'num_trials=1.5', V,
        lambda: _eq(_symmetrize('fa'), graphs(), num_trials=1.5), 'num_trials')
    add(entry, "unknown group 'Q(3)'", V,
        lambda: _eq(_symmetrize('fa'), graphs(), group='Q(3)'), 'group')
    add(entry, "E(3) on data without 'pos'", G,
        lambda: _eq(_symmetrize('fa', 'E(3)'), graphs(pos=None), group='E(3)'), 'pos')
    add(entry, 'edge_index with an index >= |V|', G,
        lambda: _eq(_symmetrize('fa'), _with_edge(0, N)), 'outside')
    add(entry, 'a model returning NaN', A,
        lambda: _eq(lambda d: torch.full((d.num_graphs, 1), float('nan')), graphs()))
    entry = 'layerwise_equivariance_error'
    add(entry, 'num_trials=0', V,
        lambda: _layerwise(_gin(), graphs(), num_trials=0), 'num_trials')
    add(entry, 'a module name the model lacks', V,
        lambda: _layerwise(_gin(), graphs(), modules=['nope']), 'nope')
    add(entry, "E(3) on data without 'pos'", G,
        lambda: _layerwise(_mpnn(), graphs(pos=None), group='E(3)'), 'pos')
    add(entry, 'NaN in x', G,
        lambda: _layerwise(_mpnn(), graphs(x=_nan((N, 3)))), 'NaN')
    entry = 'sample_spread'
    add(entry, 'num_samples=1', V,
        lambda: _spread(_sampler('UniformPermutationSampler'), graphs(), num_samples=1),
        'num_samples')
    add(entry, 'num_samples=2.5', V,
        lambda: _spread(_sampler('UniformPermutationSampler'), graphs(),
                        num_samples=2.5), 'num_samples')
    add(entry, 'edge_index with an index >= |V|', G,
        lambda: _spread(_sampler('UniformPermutationSampler'), _with_edge(0, N)),
        'outside')
    add(entry, "a rotation sampler on data without 'pos'", G,
        lambda: _spread(_sampler('UniformRotationSampler'), graphs(pos=None)), 'pos')

    # datasets ---------------------------------------------------------------------
    from lps_geometric import datasets as ds
    add('CSL', 'num_nodes=3', V, lambda: ds.CSL(num_nodes=3), 'nodes')
    add('CSL', 'graphs_per_class=0', V, lambda: ds.CSL(graphs_per_class=0),
        'graphs_per_class')
    add('CSL', 'graphs_per_class=2.5', V, lambda: ds.CSL(graphs_per_class=2.5),
        'graphs_per_class')
    add('CSL', 'root is a file', V, lambda: ds.CSL(root=_a_file()), 'root')
    add('EXP', 'root is a file', V, lambda: ds.EXP(root=_a_file()), 'root')
    add('EXPClassify', "split='bogus'", V,
        lambda: ds.EXPClassify(root=_tmp(), split='bogus'), 'split')
    add('GRAPH8c', 'root is a file', V, lambda: ds.GRAPH8c(root=_a_file()), 'root')
    add('NBodyCharged', "split='bogus'", V,
        lambda: ds.NBodyCharged(root=_tmp(), split='bogus'), 'split')
    add('NBodyCharged', 'num_train=0', V,
        lambda: ds.NBodyCharged(root=_tmp(), num_train=0), 'positive')
    add('NBodyCharged', 'frame_target <= frame_input', V,
        lambda: ds.NBodyCharged(root=_tmp(), frame_input=30, frame_target=30),
        'frame_input')
    add('NBodyCharged', 'root is a file', V,
        lambda: ds.NBodyCharged(root=_a_file(), num_train=2, num_val=2, num_test=2),
        'root')
    add('QM9Pack', 'max_molecules=0', V,
        lambda: ds.QM9Pack(root=_tmp(), max_molecules=0), 'max_molecules')
    add('QM9Pack', 'root is a file', V,
        lambda: ds.QM9Pack(root=_a_file(), max_molecules=2), 'root')
    add('MoleculeTable', 'a path that does not exist', 'FileNotFoundError',
        lambda: ds.MoleculeTable(_tmp(), '/nonexistent/table.csv', 'y'), 'No such file')
    add('MoleculeTable', 'frac_train=1.5', V,
        lambda: _molecule_table(frac_train=1.5), 'frac_train')
    add('MoleculeTable', 'a target column the table lacks', V,
        lambda: _molecule_table(target_columns='missing'), 'missing')

    # tasks ------------------------------------------------------------------------
    entry = 'Task.loss'
    add(entry, 'regression: predictions (4, 2) for labels (4, 1)', V,
        lambda: _task().loss(torch.randn(4, 2), torch.randn(4, 1)), 'shape')
    add(entry, 'regression: 3 predictions for 4 labels', V,
        lambda: _task().loss(torch.randn(3, 1), torch.randn(4, 1)), 'shape')
    add(entry, 'multiclass: class index 5 for 3 logits', V,
        lambda: _task('multiclass').loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 5])),
        'class')
    add(entry, 'multiclass: 1-D predictions', V,
        lambda: _task('multiclass').loss(torch.randn(4), torch.tensor([0, 1, 0, 1])),
        'shape')
    add(entry, 'target=3 on labels with 2 columns', V,
        lambda: _task(target=3).loss(torch.randn(4, 1), torch.randn(4, 2)), 'target')
    add(entry, 'regression: labels with a missing value (NaN)', A,
        lambda: _task().loss(torch.randn(4, 1),
                             torch.tensor([[1.0], [float('nan')], [0.0], [2.0]])))
    entry = 'Task.score'
    add(entry, 'regression: 3 predictions for 4 labels', V,
        lambda: _task().score(torch.randn(3, 1), torch.randn(4, 1)), 'shape')
    add(entry, 'multiclass: predictions (4, 3) for 5 labels', V,
        lambda: _task('multiclass').score(torch.randn(4, 3), torch.tensor([0, 1, 2, 0, 1])),
        'shape')
    add(entry, 'classification: a NaN prediction', V,
        lambda: _task('classification').score(_nan((4, 1)), torch.ones(4, 1)), 'NaN')
    add('Task.check_labels', 'classification: label 2', V,
        lambda: _task('classification').check_labels(torch.tensor([[0.], [1.], [2.]])),
        '0, 1')
    add('Task', "target=-1", V, lambda: _task(target=-1), 'target')
    add('Task', "std=0", V, lambda: _task(std=0.0), 'std')

    # backbones called directly ----------------------------------------------------
    entry = 'PositionalGIN(data)'
    add(entry, 'edge_index with an index >= |V|', G,
        lambda: _gin()(_with_edge(0, N)), 'outside')
    add(entry, 'x of width 2', G,
        lambda: _gin()(graphs(x=torch.randn(N, 2))), 'channels')
    add(entry, 'NaN in x', G, lambda: _gin()(graphs(x=_nan((N, 3)))), 'NaN')
    add(entry, 'integer x', A,
        lambda: _gin()(graphs(x=torch.randint(0, 3, (N, 3)))))
    entry = 'MPNN(data)'
    add(entry, 'edge_index with an index >= |V|', G,
        lambda: _mpnn()(_with_edge(0, N)), 'outside')
    add(entry, 'x with |V| - 1 rows', G,
        lambda: _mpnn()(graphs(x=torch.randn(N - 1, 3))), 'rows')
    add(entry, 'edge_attr of width 1 (model reads 2)', G,
        lambda: _mpnn(edge_dim=2)(graphs(edge_attr=torch.randn(E, 1))), 'edge')
    add(entry, 'integer x', A,
        lambda: _mpnn()(graphs(x=torch.randint(0, 3, (N, 3)))))
    entry = 'PyGBackbone(GIN)(data)'
    add(entry, 'edge_index with an index >= |V|', G,
        lambda: _pyg_backbone()(_with_edge(0, N)), 'outside')
    add(entry, 'x of width 2', G,
        lambda: _pyg_backbone()(graphs(x=torch.randn(N, 2))), 'channels')
    add(entry, 'NaN in x', G, lambda: _pyg_backbone()(graphs(x=_nan((N, 3)))), 'NaN')
    entry = 'EGNN(x, pos, edge_index)'
    add(entry, 'pos with |V| - 1 rows', G,
        lambda: _egnn()(torch.randn(N, 3), torch.randn(N - 1, 3), graphs().edge_index),
        'pos')
    add(entry, 'pos of width 2', G,
        lambda: _egnn()(torch.randn(N, 3), torch.randn(N, 2), graphs().edge_index),
        'pos')
    add(entry, 'x of width 2', G,
        lambda: _egnn()(torch.randn(N, 2), torch.randn(N, 3), graphs().edge_index),
        'channels')
    add(entry, 'edge_index with an index >= |V|', G,
        lambda: _egnn()(torch.randn(N, 3), torch.randn(N, 3),
                        _with_edge(0, N).edge_index), 'outside')
    add(entry, 'NaN in pos', G,
        lambda: _egnn()(torch.randn(N, 3), _nan((N, 3)), graphs().edge_index), 'pos')
    add(entry, 'integer pos', G,
        lambda: _egnn()(torch.randn(N, 3), torch.randint(0, 3, (N, 3)),
                        graphs().edge_index), 'floating')
    add(entry, 'vec of shape (|V|, 3) (needs (|V|, V, 3))', G,
        lambda: _egnn()(torch.randn(N, 3), torch.randn(N, 3), graphs().edge_index,
                        vec=torch.randn(N, 3)), 'vec')
    add(entry, 'edge_attr given to a model without edge_dim', G,
        lambda: _egnn()(torch.randn(N, 3), torch.randn(N, 3), graphs().edge_index,
                        edge_attr=torch.randn(E, 2)), 'edge_attr')
    add(entry, 'integer x', A,
        lambda: _egnn()(torch.randint(0, 3, (N, 3)), torch.randn(N, 3),
                        graphs().edge_index))
    add('EGNNConv(h, pos, vec, edge_index)', 'h with |V| - 1 rows', G,
        lambda: _egnn().convs[0](torch.randn(N - 1, 8), torch.randn(N, 3),
                                 torch.zeros(N, 1, 3), graphs().edge_index), 'rows')
    return out


def _molecule_table(**kw):
    from lps_geometric.datasets import MoleculeTable
    root = _tmp()
    path = os.path.join(root, 'table.csv')
    with open(path, 'w') as f:
        f.write('smiles,y\nCCO,1.0\nCCC,2.0\nc1ccccc1,3.0\nCC(=O)O,0.5\nCCN,1.5\n')
    args = dict(target_columns='y', split='random')
    args.update(kw)
    return MoleculeTable(os.path.join(root, 'data'), path, **args)


# --------------------------------------------------------------------------- running

def _finite(value: Any) -> Tuple[bool, str]:
    r"""Whether the tensors of an accepted output are finite, and a short summary."""
    from lps_geometric.samplers.base import GroupSample
    if isinstance(value, torch.Tensor):
        finite = bool(torch.isfinite(value).all()) if value.is_floating_point() or \
            value.is_complex() else True
        return finite, f'{tuple(value.shape)} {str(value.dtype).replace("torch.", "")}'
    if isinstance(value, tuple):
        parts = [_finite(v) for v in value if isinstance(v, torch.Tensor)]
        return all(p[0] for p in parts), 'tuple of ' + ', '.join(p[1] for p in parts)
    if isinstance(value, GroupSample):
        ok = bool(torch.isfinite(value.weight).all())
        return ok, f'{value.num_stacked} copies of {value.num_graphs} graphs'
    if hasattr(value, 'verdict'):
        return True, f'report: {value.verdict}'
    return True, type(value).__name__


def run_case(case: Case) -> dict:
    r"""Runs one case: ``{'answer', 'kind', 'passed'}``; ``passed`` says whether the
    answer is the expected one (the right error type with a message naming the
    problem, or a finite accepted output)."""
    torch.manual_seed(0)
    try:
        value = case.call()
    except Exception as error:   # the table records any answer
        message = ' '.join(str(error).split())
        kind = type(error).__name__
        answer = f'{kind}: {message}'
        expected = {'GraphInputError': GraphInputError, 'ValueError': ValueError,
                    'FileNotFoundError': FileNotFoundError}.get(case.expect)
        passed = expected is not None and isinstance(error, expected)
        passed = passed and bool(message) and case.match.lower() in message.lower()
        return {'answer': answer, 'kind': kind, 'passed': passed}
    finite, summary = _finite(value)
    return {'answer': f'accepted: {summary}' + ('' if finite else ' (NOT finite)'),
            'kind': 'accepted', 'passed': case.expect == 'ok' and finite}


def _cell(text: str, width: int = 160) -> str:
    text = re.sub(re.escape(tempfile.gettempdir()) + r'/lps-bad-inputs-[^\s/\'",)]+',
                  '<tmp>', text).replace('|', '\\|')
    return text if len(text) <= width else text[:width - 3] + '...'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='results/bad_inputs.json',
                        help='where to write the JSON (default: results/bad_inputs.json)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default: 1)')
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f'argument --threads: must be >= 1 (got {args.threads})')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    import warnings
    warnings.filterwarnings('ignore')
    rows = []
    for case in cases():
        result = run_case(case)
        rows.append({'entry': case.entry, 'bad': case.bad, 'expect': case.expect,
                     **result})
    print('| entry point | bad input | answer |')
    print('|---|---|---|')
    for row in rows:
        mark = '' if row['passed'] else ' **(unexpected)**'
        print(f"| `{row['entry']}` | {_cell(row['bad'])} | {_cell(row['answer'])}{mark} |")
    passed = sum(r['passed'] for r in rows)
    print(f'\n{passed} of {len(rows)} cases answer as expected')
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0 if passed == len(rows) else 1


if __name__ == '__main__':
    sys.exit(main())
