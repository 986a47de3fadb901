r"""Equivariance error of every layer of a model, by forward hooks (Edixhoven et al.,
"Using and Abusing Equivariance", 2023: measure where equivariance is lost instead of
assuming it)."""
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.diagnostics.equivariance import resolve_group, validate_for_group
from lps_geometric.utils.batch import num_graphs_of
from lps_geometric.utils.validation import check_positive_int

__all__ = ['LayerError', 'LayerwiseReport', 'layerwise_equivariance_error']


@dataclass
class LayerError:
    r"""The equivariance error of one layer output.

    Attributes:
        name (str): Module name (``#i`` marks the i-th call of a module called several
            times, ``[j]`` the j-th tensor of a tuple output).
        shape (tuple): Output shape.
        rows (str): What the rows are: :obj:`"node"`, :obj:`"graph"`, :obj:`"edge"` or
            :obj:`"other"` (compared as invariant).
        action (str): The action that fits best: :obj:`"scalar"` (graph rows
            invariant, node rows permuted with their nodes), :obj:`"vector"`,
            :obj:`"position"`, or :obj:`"fixed"` (node rows that stay in place and are
            invariant, as a backbone's output in canonical order).
        max_abs (float): Largest absolute error over the trials.
        relative (float): ``max_abs`` over the largest absolute output.
    """
    name: str
    shape: tuple
    rows: str
    action: str
    max_abs: float
    relative: float


@dataclass
class LayerwiseReport:
    r"""Result of :func:`layerwise_equivariance_error`: one :class:`LayerError` per
    hooked output, in call order."""
    group: str
    layers: List[LayerError] = field(default_factory=list)

    def table(self) -> str:
        r"""The report as a fixed-width table."""
        width = max([len(layer.name) for layer in self.layers] + [5])
        lines = [f"{'layer':<{width}}  {'shape':<18} {'rows':<6} {'action':<8} "
                 f"{'max abs':>10} {'relative':>10}"]
        for layer in self.layers:
            lines.append(f'{layer.name:<{width}}  {str(tuple(layer.shape)):<18} '
                         f'{layer.rows:<6} {layer.action:<8} {layer.max_abs:>10.2e} '
                         f'{layer.relative:>10.2e}')
        return '\n'.join(lines)

    def to_dict(self) -> Dict:
        return {'group': self.group, 'layers': [asdict(layer) for layer in self.layers]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        return f'Equivariance per layer under {self.group}\n{self.table()}'


def _rows(value: Tensor, data: Data) -> str:
    n = value.size(0) if value.dim() > 0 else -1
    if n == data.num_nodes:
        return 'node'
    if n == num_graphs_of(data):
        return 'graph'
    edge_index = getattr(data, 'edge_index', None)
    if edge_index is not None and n == edge_index.size(1):
        return 'edge'
    return 'other'


def _capture(model: nn.Module, names: Optional[Sequence[str]]):
    records: List = []
    handles = []
    selected = dict(model.named_modules())
    if names is not None:
        missing = [n for n in names if n not in selected]
        if missing:
            raise ValueError(f'No modules named {missing} in the model')
        selected = {n: selected[n] for n in names}
    calls: Dict[str, int] = {}

    def hook_for(name):
        def hook(module, inputs, output):
            count = calls.get(name, 0)
            calls[name] = count + 1
            label = (name or '(model)') + (f'#{count}' if count else '')
            outputs = output if isinstance(output, (tuple, list)) else (output,)
            for j, value in enumerate(outputs):
                if isinstance(value, Tensor) and value.is_floating_point() or (
                        isinstance(value, Tensor) and value.is_complex()):
                    suffix = f'[{j}]' if len(outputs) > 1 else ''
                    records.append((label + suffix, value.detach().clone()))
        return hook

    for name, module in selected.items():
        handles.append(module.register_forward_hook(hook_for(name)))
    return records, handles, calls


@torch.no_grad()
def layerwise_equivariance_error(model: nn.Module, data: Data,
                                 group: Union[str, object] = 'S_n',
                                 forward: Optional[Callable[[Data], Tensor]] = None,
                                 modules: Optional[Sequence[str]] = None,
                                 num_trials: int = 2, seed: Optional[int] = 0,
                                 generator: Optional[torch.Generator] = None
                                 ) -> LayerwiseReport:
    r"""The equivariance error of every layer output of ``model``.

    Forward hooks record the output of every module (or of ``modules``, by name) on
    :math:`x` and on :math:`g \cdot x` for random :math:`g`. Outputs with one row per
    node are compared with the action on nodes (rows permuted, and for Euclidean
    groups the best fitting of invariant, rotated and rotated-and-translated), outputs
    with one row per graph or per edge (edges keep their order under relabelling) and
    other shapes as invariant. The table shows where equivariance is lost: a PyG GNN
    has zero error in every layer, a plain transformer loses it in the first layer, a
    symmetrized model regains it at its output.

    Args:
        model (torch.nn.Module): The model whose modules are hooked.
        data (Data): Input batch.
        group (str or group, optional): Any group of
            :func:`~lps_geometric.diagnostics.resolve_group`. (default: :obj:`"S_n"`)
        forward (callable, optional): How to call the model on a batch (e.g.
            ``lambda d: gnn(d.x, d.edge_index, d.batch)``). (default: ``model(data)``)
        modules (sequence of str, optional): Module names to hook. (default: all)
        num_trials (int, optional): Random group elements. (default: :obj:`2`)
        seed (int, optional): Replayed before each call (for stochastic models and
            dropout); :obj:`None` to not reseed. (default: :obj:`0`)
        generator (torch.Generator, optional): Random source of the group elements.
    """
    group = resolve_group(group)
    num_trials = check_positive_int('num_trials', num_trials)
    validate_for_group(data, group)
    forward = forward or model

    def run(inp: Data):
        if seed is None:
            return forward(inp)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return forward(inp)

    records, handles, calls = _capture(model, modules)
    try:
        run(data)
        reference = list(records)
        errors: Dict[str, List] = {}
        for _ in range(num_trials):
            records.clear()
            calls.clear()
            g = group.random_element(data, generator)
            run(group.act(g, data))
            if len(records) != len(reference):
                raise RuntimeError('The model called its modules differently on the '
                                   'transformed input; pass modules=[...]')
            for (name, out), (_, moved) in zip(reference, records):
                errors.setdefault(name, []).append(_compare(group, g, out, moved, data))
    finally:
        for handle in handles:
            handle.remove()
    report = LayerwiseReport(group=getattr(group, 'name', str(group)))
    for name, out in reference:
        trials = errors[name]
        rows, action = trials[0][0], trials[0][1]
        max_abs = max(t[2] for t in trials)
        scale = float(out.abs().max()) if out.numel() else 0.0
        report.layers.append(LayerError(name, tuple(out.shape), rows, action, max_abs,
                                        max_abs / scale if scale > 0 else max_abs))
    return report


def _compare(group, g, out: Tensor, moved: Tensor, data: Data):
    if out.shape != moved.shape:
        return ('other', 'shape', math.inf)
    rows = _rows(out, data)
    if rows in ('edge', 'other'):
        return (rows, 'scalar', _max(moved - out))
    dim = getattr(getattr(group, 'euclidean', group), 'dim', None)
    actions = ['scalar']
    if dim is not None and out.dim() >= 2 and out.size(-1) == dim:
        actions += ['vector', 'position']
    best = None
    for action in actions:
        try:
            expected = group.act_on_output(g, out, rows, action)
        except (RuntimeError, ValueError):
            continue
        err = _max(moved - expected)
        if best is None or err < best[2]:
            best = (rows, action, err)
    if rows == 'node':   # rows that do not move (e.g. a backbone in canonical order)
        err = _max(moved - out)
        if err < best[2]:
            best = (rows, 'fixed', err)
    return best


def _max(diff: Tensor) -> float:
    return float(diff.abs().max()) if diff.numel() else 0.0
