r"""Every public entry point answers a bad input with the expected error (the table of
``benchmarks/bad_inputs.py``), and the frames on graphs treat duplicate edges and
self-loops the same way."""
import importlib.util
import warnings
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

from lps_geometric.frames import GraphMinimalFrameSampler, LaplacianFrameSampler
from lps_geometric.nn import Symmetrize

REPO = Path(__file__).resolve().parents[2]


def _load_table():
    spec = importlib.util.spec_from_file_location(
        'bad_inputs', REPO / 'benchmarks' / 'bad_inputs.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TABLE = _load_table()
CASES = TABLE.cases()


def test_the_table_is_large_enough():
    assert len(CASES) >= 60
    assert len({(c.entry, c.bad) for c in CASES}) == len(CASES)


#: Samplers whose own checks are being moved to :func:`validate_graph_batch`; the
#: cases run and report, and a pass is welcome (drop an entry once it passes).
def _param(case):
    return pytest.param(case, id=f'{case.entry} | {case.bad}')


@pytest.mark.parametrize('case', [_param(c) for c in CASES])
def test_bad_input_is_answered_as_expected(case):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        result = TABLE.run_case(case)
    assert result['passed'], f"expected {case.expect} ('{case.match}'), " \
                             f"got {result['answer']}"


@pytest.mark.parametrize('case', [_param(c) for c in CASES if c.expect != 'ValueError'])
def test_one_readback_path_gives_the_same_answers(case, monkeypatch):
    r"""On an accelerator the value checks are read back together, once; forced on
    the CPU, that path answers every case of the table as the step-by-step one."""
    from lps_geometric.utils import validation
    monkeypatch.setattr(validation, '_DEFER_ON_CPU', True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        result = TABLE.run_case(case)
    assert result['passed'], result['answer']


def _cycle(n: int, x=None) -> Data:
    src = torch.arange(n)
    dst = (src + 1) % n
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    return Data(x=torch.zeros(n, 1) if x is None else x, edge_index=edge_index)


def _frame(sampler, data):
    sample = sampler(data, generator=torch.Generator().manual_seed(0))
    return sample.element.rank, sample.weight, sample.frame_size


FRAMES = [pytest.param(LaplacianFrameSampler, id='laplacian-fa'),
          pytest.param(GraphMinimalFrameSampler, id='nauty-mfa')]


@pytest.mark.parametrize('cls', FRAMES)
def test_duplicate_edges_count_once(cls):
    data = _cycle(7, torch.randn(7, 2).round())
    doubled = data.clone()
    doubled.edge_index = torch.cat([data.edge_index, data.edge_index[:, [0, 7, 3, 10]]],
                                   dim=1)
    for a, b in zip(_frame(cls(), data), _frame(cls(), doubled)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('cls', FRAMES)
def test_a_self_loop_is_a_node_colour(cls):
    data = _cycle(6)
    looped = data.clone()
    looped.edge_index = torch.cat([data.edge_index, torch.tensor([[2, 2], [2, 2]])], dim=1)
    marked = data.clone()
    marked.x = torch.cat([data.x, (torch.arange(6) == 2).float().view(-1, 1)], dim=1)
    for a, b in zip(_frame(cls(), looped), _frame(cls(), marked)):
        assert torch.equal(a, b)
    # the loop breaks the cycle's symmetry down to the reflection through node 2
    assert float(_frame(cls(), looped)[2][0]) < float(_frame(cls(), data)[2][0])


@pytest.mark.parametrize('cls', FRAMES)
def test_symmetrized_model_is_invariant_on_a_multigraph_with_loops(cls):
    from lps_geometric.nn import PositionalGIN
    torch.manual_seed(0)
    data = _cycle(6, torch.randn(6, 2))
    data.edge_index = torch.cat([data.edge_index, torch.tensor([[0, 1, 4], [1, 0, 4]])],
                                dim=1)
    model = Symmetrize(PositionalGIN(2, 3, max_nodes=8, hidden_channels=8,
                                     num_layers=2), cls()).eval()
    perm = torch.randperm(6)
    moved = Data(x=data.x[perm], edge_index=torch.argsort(perm)[data.edge_index])
    with torch.no_grad():
        assert torch.allclose(model(data), model(moved), atol=1e-5)
