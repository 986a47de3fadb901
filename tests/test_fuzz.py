r"""Property-based tests of every public entry point on random graphs, point clouds and
malformed inputs: the answer is a finite output of the right shape or a
:class:`ValueError` (:class:`~lps_geometric.utils.GraphInputError` for bad data) with
a message, never NaN and never an exception from deep inside torch.

Deterministic (``derandomize=True``) and bounded, so the file runs in seconds.
"""
import math
import warnings
from typing import Callable, Dict, List

import pytest
import torch
from torch_geometric.data import Batch, Data

pytest.importorskip('hypothesis')
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lps_geometric.utils.validation import GraphInputError  # noqa: E402

FUZZ = settings(derandomize=True, deadline=None, max_examples=12, database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])

VALUES = st.floats(-10.0, 10.0, allow_nan=False, width=32)

#: Malformations applied to a valid batch; the first ones keep it valid.
VALID = ('none', 'duplicate edges', 'self-loops', 'integer x', 'isolated nodes')
BAD = ('edge index >= |V|', 'negative edge index', 'NaN in x', 'inf in pos',
       'x rows', 'x width', 'integer pos', 'no pos', 'int32 edge_index',
       'unsorted batch', 'vel rows', 'NaN in vel', 'edge_attr rows', 'complex x',
       'empty graph', 'float batch')


@st.composite
def batches(draw, malformations=VALID + BAD, max_graphs: int = 3):
    r"""A batch of 1-3 undirected graphs of 1-6 nodes with ``x`` (|V|, 3),
    ``edge_attr`` (|E|, 2), ``pos`` and ``vel`` (|V|, 3), and one malformation."""
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=max_graphs))
    graphs = []
    for n in sizes:
        pairs = [(u, v) for u in range(n) for v in range(u + 1, n)]
        chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) \
            if pairs else []
        src = torch.tensor([u for u, _ in chosen], dtype=torch.long)
        dst = torch.tensor([v for _, v in chosen], dtype=torch.long)
        edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
        attr = torch.tensor(draw(st.lists(VALUES, min_size=2 * len(chosen),
                                          max_size=2 * len(chosen)))).view(-1, 2)

        def nodes(width):
            return torch.tensor(draw(st.lists(VALUES, min_size=n * width,
                                              max_size=n * width))).view(n, width)
        graphs.append(Data(x=nodes(3), pos=nodes(3), vel=nodes(3),
                           edge_index=edge_index, edge_attr=torch.cat([attr, attr])))
    data = Batch.from_data_list(graphs)
    kind = draw(st.sampled_from(malformations))
    return _malform(data, kind), kind


def _malform(data: Batch, kind: str) -> Batch:
    N, E = data.num_nodes, data.edge_index.size(1)

    def add_edges(edges):
        extra = torch.tensor(edges, dtype=torch.long).view(-1, 2).t()
        data.edge_index = torch.cat([data.edge_index, extra], dim=1)
        data.edge_attr = torch.cat([data.edge_attr, torch.zeros(extra.size(1), 2)])

    if kind == 'duplicate edges' and E:
        data.edge_index = torch.cat([data.edge_index, data.edge_index], dim=1)
        data.edge_attr = torch.cat([data.edge_attr, data.edge_attr])
    elif kind == 'self-loops':
        add_edges([(v, v) for v in range(0, N, 2)])
    elif kind == 'integer x':
        data.x = data.x.round().long()
    elif kind == 'isolated nodes':
        data.edge_index = data.edge_index[:, :0]
        data.edge_attr = data.edge_attr[:0]
    elif kind == 'edge index >= |V|':
        add_edges([(0, N)])
    elif kind == 'negative edge index':
        add_edges([(-1, 0)])
    elif kind == 'NaN in x':
        data.x[-1, 0] = float('nan')
    elif kind == 'inf in pos':
        data.pos[0, -1] = float('inf')
    elif kind == 'x rows':
        data.x = torch.cat([data.x, data.x[:1]])
    elif kind == 'x width':
        data.x = data.x[:, :2]
    elif kind == 'integer pos':
        data.pos = data.pos.round().long()
    elif kind == 'no pos':
        del data.pos
    elif kind == 'int32 edge_index':
        data.edge_index = data.edge_index.int()
    elif kind == 'unsorted batch' and data.num_graphs > 1:
        data.batch = data.batch.flip(0)
    elif kind == 'vel rows':
        data.vel = data.vel[1:]
    elif kind == 'NaN in vel':
        data.vel[0, 0] = float('nan')
    elif kind == 'edge_attr rows':
        data.edge_attr = torch.cat([data.edge_attr, torch.zeros(1, 2)])
    elif kind == 'complex x':
        data.x = data.x.to(torch.complex64)
    elif kind == 'empty graph':
        data = Data(x=torch.zeros(0, 3), pos=torch.zeros(0, 3),
                    edge_index=torch.zeros(2, 0, dtype=torch.long))
    elif kind == 'float batch':
        data.batch = data.batch.float()
    return data


def _is_still_valid(data, kind: str) -> bool:
    r"""Some malformations are no-ops on some batches (one graph, no edges)."""
    if kind in VALID:
        return True
    if kind == 'unsorted batch':
        return data.num_graphs == 1
    return False


# ------------------------------------------------------------------ entry points

def _gin():
    from lps_geometric.nn import PositionalGIN
    return PositionalGIN(3, 2, max_nodes=6, hidden_channels=8, num_layers=2)


def _symmetrize(method: str, group: str = 'S_n'):
    from lps_geometric.nn import MPNN, Symmetrize
    backbone = _gin() if group == 'S_n' else MPNN(3, 2, hidden_channels=8, num_layers=1)
    kwargs = {'hidden_channels': 8, 'num_layers': 1} if method == 'lps' else {}
    return Symmetrize.from_method(backbone, method, group, in_channels=3,
                                  sampler_kwargs=kwargs, num_samples=2).eval()


def _frame(name: str, *args, **kwargs):
    from lps_geometric import frames
    return getattr(frames, name)(*args, **kwargs)


def _builders() -> Dict[str, Callable[[], Callable]]:
    from lps_geometric.diagnostics import equivariance_error, sample_spread
    from lps_geometric.nn import EGNN, MPNN
    from lps_geometric.samplers import UniformPermutationSampler

    def graph_out(model):
        return lambda data: model(data)

    def egnn():
        model = EGNN(3, hidden_channels=8, num_layers=1)
        return lambda data: model(data.x, data.pos, data.edge_index)

    def equivariance():
        model = _symmetrize('fa')
        return lambda data: equivariance_error(model, data, num_trials=1, seed=0)

    def spread():
        sampler = UniformPermutationSampler()
        return lambda data: sample_spread(sampler, data, num_samples=2)

    return {
        "Symmetrize('lps')": lambda: graph_out(_symmetrize('lps')),
        "Symmetrize('ga')": lambda: graph_out(_symmetrize('ga')),
        "Symmetrize('fa')": lambda: graph_out(_symmetrize('fa')),
        "Symmetrize('mfa')": lambda: graph_out(_symmetrize('mfa')),
        "Symmetrize('canonical')": lambda: graph_out(_symmetrize('canonical')),
        "Symmetrize('fa', E(3))": lambda: graph_out(_symmetrize('fa', 'E(3)')),
        "Symmetrize('mfa', E(3))": lambda: graph_out(_symmetrize('mfa', 'E(3)')),
        "Symmetrize('mfa', S_n x E(3))": lambda: graph_out(_symmetrize('mfa', 'S_n x E(3)')),
        'LaplacianFrameSampler': lambda: _frame('LaplacianFrameSampler'),
        'GraphMinimalFrameSampler': lambda: _frame('GraphMinimalFrameSampler'),
        'SetMinimalFrameSampler': lambda: _frame('SetMinimalFrameSampler'),
        'PCAFrameSampler': lambda: _frame('PCAFrameSampler'),
        'OrthogonalMinimalFrameSampler': lambda: _frame('OrthogonalMinimalFrameSampler'),
        'ProductMinimalFrameSampler': lambda: _frame('ProductMinimalFrameSampler'),
        'SortedProductFrameSampler': lambda: _frame('SortedProductFrameSampler',
                                                    _frame('PCAFrameSampler')),
        'PositionalGIN': lambda: graph_out(_gin()),
        'MPNN': lambda: graph_out(MPNN(3, 2, hidden_channels=8, num_layers=2,
                                       edge_dim=2)),
        'EGNN': egnn,
        'equivariance_error': equivariance,
        'sample_spread': spread,
    }


ENTRIES = _builders()
#: Entry points that read ``pos`` (so a batch without it is bad input for them).
READS_POS = {"Symmetrize('fa', E(3))", "Symmetrize('mfa', E(3))",
             "Symmetrize('mfa', S_n x E(3))", 'PCAFrameSampler',
             'OrthogonalMinimalFrameSampler', 'ProductMinimalFrameSampler',
             'SortedProductFrameSampler', 'EGNN'}
_MODELS: Dict[str, Callable] = {}


def _entry(name: str) -> Callable:
    if name not in _MODELS:
        torch.manual_seed(0)
        _MODELS[name] = ENTRIES[name]()
    return _MODELS[name]


def _tensors(value) -> List[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    weight = getattr(value, 'weight', None)
    if isinstance(weight, torch.Tensor):
        return [weight]
    return []


def _answer(name: str, data, kind: str):
    fn = _entry(name)
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')
        try:
            out = fn(data)
        except ValueError as error:
            assert str(error).strip(), f'{name}: an empty message for {kind}'
            return error
    return out


#: Malformations of an attribute an entry point does not read, which it may accept.
MAY_ACCEPT = {name: {'no pos'} for name in ENTRIES if name not in READS_POS}
for _name in ('LaplacianFrameSampler', 'GraphMinimalFrameSampler',
              'SetMinimalFrameSampler', 'PCAFrameSampler', 'OrthogonalMinimalFrameSampler',
              'ProductMinimalFrameSampler', 'SortedProductFrameSampler', 'sample_spread'):
    MAY_ACCEPT.setdefault(_name, set()).add('x width')
MAY_ACCEPT['EGNN'] = {'vel rows', 'NaN in vel', 'edge_attr rows', 'unsorted batch',
                      'float batch', 'empty graph'}


@pytest.mark.parametrize('kind', VALID + BAD)
@pytest.mark.parametrize('name', list(ENTRIES))
@settings(FUZZ, max_examples=3)
@given(data=st.data())
def test_entry_point_answers_or_refuses_clearly(name, kind, data):
    r"""Valid input (duplicate edges, self-loops, integer ``x`` and isolated nodes
    included) gives a finite output, one row per graph or node for the models;
    malformed input a :class:`GraphInputError` with a message, unless the entry point
    does not read the malformed attribute."""
    data, kind = data.draw(batches(malformations=(kind,)))
    answer = _answer(name, data, kind)
    valid = _is_still_valid(data, kind)
    if isinstance(answer, ValueError):
        assert isinstance(answer, GraphInputError), \
            f'{name}: {kind} raised a plain ValueError: {answer}'
        assert not valid, f'{name} refused valid input ({kind}): {answer}'
        return
    assert valid or kind in MAY_ACCEPT.get(name, ()), f'{name} accepted {kind}'
    for t in _tensors(answer):
        if t.is_floating_point() or t.is_complex():
            assert bool(torch.isfinite(t).all()), f'{name}: non-finite output for {kind}'
    if name.startswith('Symmetrize') or name in ('PositionalGIN', 'MPNN'):
        assert answer.shape[0] in (data.num_graphs, data.num_nodes)
    error = getattr(answer, 'error', None)
    if isinstance(error, float):
        assert math.isfinite(error), f'{name}: a NaN equivariance error for {kind}'


ARGUMENTS = st.one_of(st.integers(-3, 4), st.floats(-2, 4), st.booleans(),
                      st.text(max_size=2), st.none())


def _argument_ok(value, minimum: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


@FUZZ
@given(value=ARGUMENTS)
def test_argument_values_are_range_checked(value):
    r"""Sample counts, budgets and trial counts: an integer in range is used, anything
    else is a :class:`ValueError` naming the argument."""
    from lps_geometric.diagnostics import equivariance_error, sample_spread
    from lps_geometric.samplers import UniformPermutationSampler
    data = Batch.from_data_list([Data(x=torch.randn(4, 3), pos=torch.randn(4, 3),
                                      edge_index=torch.tensor([[0, 1], [1, 0]]))])
    torch.manual_seed(0)
    model = _symmetrize('fa')
    calls = [   # (argument, smallest value, None means the default, call)
        ('num_samples', 1, True, lambda v: model(data, num_samples=v)),
        ('budget', 1, False, lambda v: _frame('GraphMinimalFrameSampler', budget=v)),
        ('tie_samples', 1, False, lambda v: _frame('PCAFrameSampler', tie_samples=v)),
        ('num_trials', 1, False,
         lambda v: equivariance_error(model, data, num_trials=v, seed=0)),
        ('samples', 2, False,
         lambda v: sample_spread(UniformPermutationSampler(), data, num_samples=v)),
    ]
    for name, minimum, default, call in calls:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter('ignore')
            if _argument_ok(value, minimum) or (value is None and default):
                call(value)
            else:
                with pytest.raises(ValueError, match=name):
                    call(value)


@FUZZ
@given(rows=st.integers(1, 6), cols=st.integers(1, 3), shift=st.integers(-1, 1),
       bad=st.sampled_from(['none', 'nan', 'rows', 'class']))
def test_task_loss_and_score(rows, cols, shift, bad):
    r""":class:`~lps_geometric.training.tasks.Task` answers mismatched shapes, NaN
    predictions and bad class indices with a :class:`ValueError`."""
    from lps_geometric.training.tasks import Task
    y = torch.randn(rows, cols)
    pred = torch.randn(rows + (shift if bad == 'rows' else 0), cols)
    if bad == 'nan':
        pred[0, 0] = float('nan')
    task = Task('regression')
    if bad == 'rows' and shift != 0:
        with pytest.raises(ValueError, match='shape'):
            task.loss(pred, y)
        with pytest.raises(ValueError, match='shape'):
            task.score(pred, y)
    elif bad == 'nan':
        with pytest.raises(ValueError, match='NaN'):
            task.score(pred, y)
    else:
        assert math.isfinite(float(task.loss(pred, y)))
        assert all(math.isfinite(v) for v in task.score(pred, y).values())
    labels = torch.randint(0, cols + 1, (rows,))
    if bad == 'class':
        labels[0] = cols + 1 + shift
    logits = torch.randn(rows, cols + 1)
    multiclass = Task('multiclass')
    if bad == 'class':
        with pytest.raises(ValueError, match='class'):
            multiclass.loss(logits, labels)
    else:
        assert math.isfinite(float(multiclass.loss(logits, labels)))


@pytest.mark.parametrize('method', ['mfa'])
@settings(FUZZ, max_examples=15)
@given(case=batches(malformations=VALID, max_graphs=1), seed=st.integers(0, 2 ** 16))
def test_exact_frames_are_invariant_on_valid_graphs(method, case, seed):
    r"""On valid graphs (duplicate edges and self-loops included) minimal frame
    averaging over a whole frame is exactly invariant to relabelling the nodes."""
    from hypothesis import assume
    graph, _ = case
    if method not in _MODELS:
        torch.manual_seed(0)
        _MODELS[method] = _symmetrize(method)
    model = _MODELS[method]
    perm = torch.randperm(graph.num_nodes, generator=torch.Generator().manual_seed(seed))
    moved = graph.clone()
    for key in ('x', 'pos', 'vel'):
        moved[key] = graph[key][perm]
    moved.edge_index = torch.argsort(perm)[graph.edge_index]
    with torch.no_grad():
        out = model(graph)
        sample = model.last_sample
        assume(bool((sample.frame_size <= 64).all()))     # the whole frame
        out_moved = model(moved)
    assert torch.allclose(out, out_moved, atol=1e-4)
