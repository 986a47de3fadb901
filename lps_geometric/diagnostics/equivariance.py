r"""Measuring how far a model is from equivariance (Edixhoven et al., "Using and Abusing
Equivariance", 2023): apply random group elements and report the error, rather than
assuming it."""
import re
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.groups.euclidean import EuclideanGroup, OrthogonalGroup, ProductGroup
from lps_geometric.groups.linear import LorentzGroup, UnitaryGroup
from lps_geometric.groups.symmetric import SymmetricGroup
from lps_geometric.utils.batch import num_graphs_of

__all__ = ['equivariance_error', 'EquivarianceReport', 'resolve_group']

_GROUPS = {
    'permutation': SymmetricGroup,
    's_n': SymmetricGroup,
    'sn': SymmetricGroup,
    'symmetric': SymmetricGroup,
    'o3': lambda: OrthogonalGroup(3),
    'so3': lambda: OrthogonalGroup(3, special=True),
    'e3': lambda: EuclideanGroup(3),
    'se3': lambda: EuclideanGroup(3, special=True),
    'snxo3': lambda: ProductGroup(OrthogonalGroup(3)),
    'snxso3': lambda: ProductGroup(OrthogonalGroup(3, special=True)),
    'snxe3': lambda: ProductGroup(EuclideanGroup(3)),
    'snxse3': lambda: ProductGroup(EuclideanGroup(3, special=True)),
}


def _normalize_name(name: str) -> str:
    return ''.join(c for c in name.lower() if c.isalnum())


_EUCLIDEAN_NAME = re.compile(r'^(snx)?(s?)([oe])(\d+)$')
_LORENTZ_NAME = re.compile(r'^\s*(s?)o\(\s*1\s*,\s*(\d+)\s*\)\s*$')
_UNITARY_NAME = re.compile(r'^\s*(s?)u\(\s*(\d+)\s*\)\s*$')


def _parse_matrix_group(name: str):
    lowered = name.lower()
    if lowered == 'lorentz':
        return LorentzGroup(4)
    match = _LORENTZ_NAME.match(lowered)
    if match:
        return LorentzGroup(int(match.group(2)) + 1, special=bool(match.group(1)))
    match = _UNITARY_NAME.match(lowered)
    if match:
        return UnitaryGroup(int(match.group(2)), special=bool(match.group(1)))
    return None


def _parse_euclidean(key: str):
    match = _EUCLIDEAN_NAME.match(key)
    if match is None:
        return None
    product, special, kind, dim = match.groups()
    cls = EuclideanGroup if kind == 'e' else OrthogonalGroup
    group = cls(int(dim), special=bool(special))
    return ProductGroup(group) if product else group


def resolve_group(group: Union[str, object, None]):
    r"""A group object from a name or the object itself. Names (case, spaces, brackets
    and underscores ignored): :obj:`"permutation"`/:obj:`"S_n"`, :obj:`"O(3)"`,
    :obj:`"SO(3)"`, :obj:`"E(3)"`, :obj:`"SE(3)"`, :obj:`"S_n x O(3)"`,
    :obj:`"S_n x E(3)"`, :obj:`"S_n x SO(3)"`, :obj:`"S_n x SE(3)"`, and the same with
    any dimension :math:`d` (:obj:`"O(5)"`, :obj:`"S_n x E(2)"`); the Lorentz groups
    :obj:`"O(1,3)"`, :obj:`"SO(1,3)"` (:obj:`"Lorentz"` is :math:`O(1, 3)`) and the
    unitary groups :obj:`"U(2)"`, :obj:`"SU(3)"`."""
    if group is None:
        return SymmetricGroup()
    if isinstance(group, str):
        matrix_group = _parse_matrix_group(group)
        if matrix_group is not None:
            return matrix_group
        key = group.lower() if group.lower() in _GROUPS else _normalize_name(group)
        if key in _GROUPS:
            return _GROUPS[key]()
        parsed = _parse_euclidean(key)
        if parsed is None:
            raise ValueError(f"Unknown group '{group}' (known: {sorted(_GROUPS)}, and "
                             f"'O(d)', 'SO(d)', 'E(d)', 'SE(d)', 'S_n x O(d)', ... for "
                             f"any d)")
        return parsed
    return group


@dataclass
class EquivarianceReport:
    r"""Result of :func:`equivariance_error`.

    Attributes:
        max_abs (float): Largest absolute error over all trials and entries.
        mean_abs (float): Mean absolute error.
        relative (float): ``max_abs`` over the largest absolute output.
        level (str): :obj:`"graph"` (invariance) or :obj:`"node"` (equivariance).
        per_trial (list): ``max_abs`` of every trial.
    """
    max_abs: float
    mean_abs: float
    relative: float
    level: str
    per_trial: List[float] = field(default_factory=list)

    def __str__(self) -> str:
        kind = 'invariance' if self.level == 'graph' else 'equivariance'
        return (f'{kind} error: max {self.max_abs:.3e}, mean {self.mean_abs:.3e}, '
                f'relative {self.relative:.3e} over {len(self.per_trial)} trials')


def _infer_level(out: Tensor, data: Data) -> str:
    if out.size(0) == num_graphs_of(data) and out.size(0) != data.num_nodes:
        return 'graph'
    if out.size(0) == data.num_nodes and out.size(0) != num_graphs_of(data):
        return 'node'
    if out.size(0) == data.num_nodes:
        return 'graph'
    raise ValueError(f'Cannot tell whether an output with {out.size(0)} rows is per '
                     f'graph ({num_graphs_of(data)}) or per node ({data.num_nodes}); '
                     f"pass level='graph' or level='node'")


@torch.no_grad()
def equivariance_error(model: Callable[[Data], Tensor], data: Data,
                       group: Union[str, object, None] = 'permutation',
                       num_trials: int = 3, level: Optional[str] = None,
                       output: str = 'scalar',
                       seed: Optional[int] = None,
                       generator: Optional[torch.Generator] = None
                       ) -> EquivarianceReport:
    r"""Error of :math:`f(g \cdot x)` against :math:`g \cdot f(x)` for random
    :math:`g`.

    Works for any callable that maps a ``Data``/``Batch`` to a tensor: a symmetrized model,
    a plain PyG model wrapped as ``lambda d: gnn(d.x, d.edge_index, d.batch)``, or a
    single layer.

    For a stochastic model (LPS, Monte Carlo group averaging) the error also contains the
    sampling spread; pass ``seed`` to replay the same random stream for :math:`f(x)` and
    :math:`f(g \cdot x)` (it does not transform the noise along with the input), or use
    many samples to measure invariance in distribution.

    Args:
        model (callable): The model.
        data (Data): Input batch.
        group (str or group, optional): :obj:`"permutation"` or a group object with
            ``random_element``, ``act`` and ``act_on_output``. (default:
            :obj:`"permutation"`)
        num_trials (int, optional): Number of random elements. (default: :obj:`3`)
        level (str, optional): :obj:`"graph"` or :obj:`"node"`; inferred from the output
            shape if omitted.
        output (str, optional): How a Euclidean group acts on the output:
            :obj:`"scalar"` (invariant), :obj:`"vector"` (rotates) or :obj:`"position"`
            (rotates and translates). (default: :obj:`"scalar"`)
        seed (int, optional): Reseed torch's RNG (inside a forked RNG state) before each
            model call.
        generator (torch.Generator, optional): Random source for the group elements.
    """
    group = resolve_group(group)

    def run(inp: Data) -> Tensor:
        if seed is None:
            return model(inp)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return model(inp)

    out = run(data)
    if level is None:
        level = _infer_level(out, data)
    errors, means = [], []
    for _ in range(num_trials):
        g = group.random_element(data, generator)
        out_g = run(group.act(g, data))
        expected = group.act_on_output(g, out, level, output)
        diff = (out_g - expected).abs()
        errors.append(float(diff.max()) if diff.numel() else 0.0)
        means.append(float(diff.mean()) if diff.numel() else 0.0)
    scale = float(out.abs().max()) if out.numel() else 0.0
    max_abs = max(errors)
    return EquivarianceReport(max_abs=max_abs, mean_abs=sum(means) / len(means),
                              relative=max_abs / scale if scale > 0 else max_abs,
                              level=level, per_trial=errors)
