r"""Measuring how far a model is from equivariance (Edixhoven et al., "Using and Abusing
Equivariance", 2023): apply random group elements and report the error, rather than
assuming it."""
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.groups.euclidean import EuclideanGroup, OrthogonalGroup, ProductGroup
from lps_geometric.groups.linear import UnitaryGroup
from lps_geometric.groups.names import resolve_group
from lps_geometric.groups.symmetric import SymmetricGroup
from lps_geometric.groups.transport import transport_noise
from lps_geometric.nn.symmetrize import Symmetrize
from lps_geometric.samplers.euclidean import EuclideanFrameSampler
from lps_geometric.samplers.permutation import PermutationSampler, sample_noise
from lps_geometric.samplers.uniform import UniformPermutationSampler
from lps_geometric.utils.batch import num_graphs_of, to_ptr_batch
from lps_geometric.utils.validation import check_positive_int, validate_graph_batch

__all__ = ['equivariance_error', 'EquivarianceReport', 'resolve_group', 'TOLERANCE',
           'SPREAD_RATIO']

#: Relative tolerance of an exact equivariance test, by the output's dtype.
TOLERANCE = {torch.float16: 5e-2, torch.bfloat16: 1e-1, torch.float32: 1e-3,
             torch.float64: 1e-9}
#: With fresh noise, the largest ratio of the mean error to the mean Monte Carlo spread
#: that an equivariant model passes (it gives about 1).
SPREAD_RATIO = 2.0

@dataclass(repr=False)
class EquivarianceReport:
    r"""Result of :func:`equivariance_error`: the error of :math:`f(g \cdot x)` against
    :math:`g \cdot f(x)`, the model's own Monte Carlo spread, and a verdict.

    ``str(report)`` reads as a short table (what was measured, with which noise, absolute
    and relative, and the verdict); ``repr(report)`` is one line.

    Attributes:
        max_abs (float): Largest absolute error over all trials and entries.
        mean_abs (float): Mean absolute error (averaged over the trials).
        relative (float): ``max_abs`` over the largest absolute output
            :math:`\|f(x)\|_\infty`.
        level (str): :obj:`"graph"` (invariance) or :obj:`"node"` (equivariance).
        per_trial (list): ``max_abs`` of every trial.
        group (str): Name of the group, e.g. :obj:`"S_n"` or :obj:`"S_n x E(3)"`.
        noise (str): How the model's randomness was handled: :obj:`"transported"` (the
            sampler's noise moved along with :math:`g`), :obj:`"fresh"` (independent
            randomness in every call) or :obj:`"seeded"` (torch's RNG reseeded before
            every call).
        note (str): Why the noise was not moved along, or another caveat (empty if
            none).
        num_samples (int, optional): :math:`k` of a symmetrized model.
        spread_max_abs (float, optional): Largest absolute difference between two
            independent evaluations on the same input (:obj:`None`: not measured).
        spread_mean_abs (float, optional): Their mean absolute difference.
        spread_relative (float, optional): ``spread_max_abs`` over
            :math:`\|f(x)\|_\infty`.
        dtype (str): The output's dtype, which fixes the tolerance.
        tolerance (float): Relative tolerance of the verdict.
        rows_above (int): Output rows (graphs or nodes, counted in every trial) whose
            error exceeds ``tolerance`` times :math:`\|f(x)\|_\infty`: a few out of
            many point to isolated events (e.g. a sampler's nearly tied scores that
            rounding orders differently), all of them to a systematic violation.
        num_rows (int): Output rows over all trials.
    """
    max_abs: float
    mean_abs: float
    relative: float
    level: str
    per_trial: List[float] = field(default_factory=list)
    group: str = ''
    noise: str = 'fresh'
    note: str = ''
    num_samples: Optional[int] = None
    spread_max_abs: Optional[float] = None
    spread_mean_abs: Optional[float] = None
    spread_relative: Optional[float] = None
    dtype: str = 'float32'
    tolerance: float = 1e-3
    rows_above: int = 0
    num_rows: int = 0

    @property
    def deterministic(self) -> bool:
        r"""Whether two independent evaluations agreed within the tolerance."""
        return self.spread_relative is not None and self.spread_relative <= self.tolerance

    @property
    def spread_ratio(self) -> Optional[float]:
        r"""``mean_abs`` over ``spread_mean_abs`` (:obj:`None` if the spread is zero or
        was not measured)."""
        if not self.spread_mean_abs:
            return None
        return self.mean_abs / self.spread_mean_abs

    @property
    def exact_test(self) -> bool:
        r"""Whether the error must vanish for an equivariant model: the noise was
        moved along or replayed, or the model is deterministic."""
        return self.noise != 'fresh' or self.spread_relative is None or self.deterministic

    @property
    def ok(self) -> bool:
        r"""The verdict: the relative error is within ``tolerance`` (exact tests), or
        the error is at most :obj:`SPREAD_RATIO` times the spread (fresh noise on a
        stochastic model)."""
        if self.exact_test:
            return self.relative <= self.tolerance
        return self.spread_ratio is not None and self.spread_ratio <= SPREAD_RATIO

    @property
    def verdict(self) -> str:
        r"""The verdict in words."""
        if self.exact_test:
            if self.ok:
                return (f'ok: exact within {self.dtype} tolerance (relative error '
                        f'{self.relative:.1e} <= {self.tolerance:.0e})')
            text = (f'FAIL: relative error {self.relative:.1e} exceeds the {self.dtype} '
                    f'tolerance {self.tolerance:.0e}')
            if self.spread_ratio is not None:
                text += f' ({self.spread_ratio:.3g}x the Monte Carlo spread)'
            return text
        if self.ok:
            return (f'ok: error is {self.spread_ratio:.3g}x the Monte Carlo spread, as '
                    f'expected of an equivariant model with fresh noise (about 1x; '
                    f'exactness is not tested with fresh noise)')
        return (f'FAIL: error is {self.spread_ratio:.3g}x the Monte Carlo spread (an '
                f'equivariant model gives about 1x with fresh noise)')

    def _noise_text(self) -> str:
        k = '' if self.num_samples is None else f', k={self.num_samples}'
        if self.noise == 'transported':
            return f"sampler's noise moved along with g{k}"
        if self.noise == 'seeded':
            return f"torch's RNG reseeded before every call{k}"
        if self.deterministic:
            return f'deterministic model{k}'
        return f'fresh randomness in every call{k}'

    def __str__(self) -> str:
        kind = 'invariance' if self.level == 'graph' else 'equivariance'
        group = f' under {self.group}' if self.group else ''
        error = (f'  error   max {self.max_abs:.3e}  mean {self.mean_abs:.3e}  '
                 f'relative {self.relative:.3e}')
        if self.rows_above and self.exact_test:
            rows = 'graph' if self.level == 'graph' else 'node'
            error += (f'  (above tolerance in {self.rows_above} of {self.num_rows} '
                      f'{rows} outputs over all trials)')
        lines = [f'{kind} error{group}, {len(self.per_trial)} trials, '
                 f'{self._noise_text()}:', error]
        if self.spread_max_abs is not None:
            k = '' if self.num_samples is None else f' of k={self.num_samples}'
            what = ('deterministic: two evaluations agree' if self.deterministic
                    else f'two independent draws{k} on the same input')
            lines.append(f'  spread  max {self.spread_max_abs:.3e}  mean '
                         f'{self.spread_mean_abs:.3e}  relative '
                         f'{self.spread_relative:.3e}  ({what})')
        if self.note:
            lines.append(f'  note    {self.note}')
        lines.append(f'  verdict {self.verdict}')
        return '\n'.join(lines)

    def __repr__(self) -> str:
        spread = ('None' if self.spread_relative is None
                  else f'{self.spread_relative:.3e}')
        return (f'{self.__class__.__name__}(level={self.level!r}, group={self.group!r}, '
                f'noise={self.noise!r}, num_samples={self.num_samples}, '
                f'max_abs={self.max_abs:.3e}, relative={self.relative:.3e}, '
                f'spread_relative={spread}, dtype={self.dtype!r}, ok={self.ok})')


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


def _real_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype.is_complex:
        return torch.empty(0, dtype=dtype).real.dtype
    return dtype


def _default_tolerance(dtype: torch.dtype) -> float:
    dtype = _real_dtype(dtype)
    if not dtype.is_floating_point:
        return 0.0
    return TOLERANCE.get(dtype, TOLERANCE[torch.float32])


NoiseDrawer = Callable[[Data, int, Optional[torch.Generator]], Tensor]


def _noise_drawer(sampler: Any) -> Tuple[Optional[NoiseDrawer], bool, str]:
    r"""A function drawing the noise of ``sampler`` for :math:`k` stacked copies of a
    batch exactly as the sampler draws it (or :obj:`None`), whether the noise is made
    of vectors, and why there is no such function."""
    name = type(sampler).__name__
    if isinstance(sampler, PermutationSampler):
        def draw(data, k, generator):
            device, dtype = sampler.noise_reference(data)
            return sample_noise(k * data.num_nodes, sampler.noise_scale, sampler.noise,
                                device, dtype, generator)
        return draw, False, ''
    if isinstance(sampler, UniformPermutationSampler):
        def draw(data, k, generator):
            return torch.rand(k * data.num_nodes, 1, generator=generator,
                              device=to_ptr_batch(data)[0].device)
        return draw, False, ''
    if isinstance(sampler, EuclideanFrameSampler):
        def draw(data, k, generator):
            pos = data.pos
            return torch.randn((k * pos.size(0), pos.size(-1)), generator=generator,
                               device=pos.device, dtype=pos.dtype) * sampler.noise_scale
        return draw, True, ''
    return None, False, f'{name} takes no noise that can be moved along with g'


def _transport_obstacle(group: Any, vector_noise: bool) -> str:
    r"""Why the sampler's noise cannot be moved along with elements of ``group`` (empty
    if it can): a permutation moves i.i.d. node noise to i.i.d. node noise, an
    orthogonal map moves isotropic Gaussian vectors to isotropic Gaussian vectors; other
    maps change the noise distribution."""
    if isinstance(group, SymmetricGroup):
        return ''
    euclidean = group.euclidean if isinstance(group, ProductGroup) else group
    if type(euclidean) not in (OrthogonalGroup, EuclideanGroup):
        name = getattr(group, 'name', type(group).__name__)
        return (f"elements of {name} do not leave the sampler's noise distribution "
                f'invariant')
    if vector_noise and euclidean.dim != 3:
        return f'3-d noise vectors cannot be moved along with elements of {group.name}'
    return ''


def validate_for_group(data: Data, group: Any) -> None:
    r"""Checks ``data`` (:func:`~lps_geometric.utils.validate_graph_batch`) for a
    diagnostic under ``group``: groups that act on coordinates (Euclidean, Lorentz,
    unitary and their products with :math:`S_n`) need ``pos`` of their dimension
    (complex for the unitary groups); raises
    :class:`~lps_geometric.utils.GraphInputError`."""
    coordinates = getattr(group, 'euclidean', group)
    dim = getattr(coordinates, 'dim', None)
    complex_pos = isinstance(coordinates, UnitaryGroup)
    validate_graph_batch(data, require_pos=dim is not None, pos_dim=dim,
                         complex_pos=complex_pos, require_edges=False)


def _is_symmetrize(model: Any) -> bool:
    return isinstance(model, Symmetrize)


def _abs_stats(diff: Tensor) -> Tuple[float, float]:
    if diff.numel() == 0:
        return 0.0, 0.0
    diff = diff.abs()
    return float(diff.max()), float(diff.mean())


@torch.no_grad()
def equivariance_error(model: Callable[..., Tensor], data: Data,
                       group: Union[str, object, None] = 'permutation',
                       num_trials: int = 3, level: Optional[str] = None,
                       output: str = 'scalar',
                       seed: Optional[int] = None,
                       generator: Optional[torch.Generator] = None, *,
                       noise: str = 'auto', num_samples: Optional[int] = None,
                       spread: bool = True, rtol: Optional[float] = None
                       ) -> EquivarianceReport:
    r"""Error of :math:`f(g \cdot x)` against :math:`g \cdot f(x)` for random
    :math:`g`, next to the model's own Monte Carlo spread, with a verdict.

    Works for any callable that maps a ``Data``/``Batch`` to a tensor: a symmetrized
    model, a plain PyG model wrapped as ``lambda d: gnn(d.x, d.edge_index, d.batch)``,
    or a single layer. Over ``num_trials`` random elements :math:`g_t` it reports

    .. math::
        e_t = \max_i \big| f(g_t \cdot x; \epsilon_t')_i - (g_t \cdot f(x; \epsilon))_i
        \big|, \qquad \mathrm{relative} = \frac{\max_t e_t}{\|f(x; \epsilon)\|_\infty},

    where :math:`\epsilon` is the model's randomness (the sampler's noise of a
    :class:`~lps_geometric.nn.Symmetrize` model) and :math:`\epsilon_t'` is

    - :math:`g_t \cdot \epsilon` (``noise="transported"``), for a
      :class:`~lps_geometric.nn.Symmetrize` model whose sampler takes noise that can be
      moved along (:class:`~lps_geometric.samplers.PermutationSampler`,
      :class:`~lps_geometric.samplers.UniformPermutationSampler`,
      :class:`~lps_geometric.samplers.EuclideanFrameSampler`,
      :class:`~lps_geometric.samplers.ProductSampler`) under :math:`S_n`,
      :math:`O(3)`, :math:`SO(3)`, :math:`E(3)`, :math:`SE(3)` or their products with
      :math:`S_n`: node rows move with their nodes and noise vectors rotate,
      :math:`\epsilon_i \mapsto R\,\epsilon_{\sigma^{-1}(i)}`
      (:func:`~lps_geometric.groups.transport_noise`). An equivariant sampler then
      gives exactly the transformed sample, so a correct model has :math:`e_t` at the
      level of floating-point error and the verdict compares ``relative`` with the
      tolerance of the output's dtype (:obj:`TOLERANCE`: ``1e-3`` for float32,
      ``1e-9`` for float64);
    - independent randomness (``noise="fresh"``) otherwise: Haar samplers, frames,
      plain callables, or other groups (the Lorentz and unitary groups do not leave the
      noise distribution invariant). Then an equivariant model has
      :math:`f(g \cdot x; \epsilon') \overset{d}{=} g \cdot f(x; \epsilon'')`, so
      :math:`e_t` is as large as the **Monte Carlo spread**

    .. math::
        s_t = \max_i \big| f(x; \epsilon_t'')_i - f(x; \epsilon)_i \big|,

    the difference of two independent evaluations on the same input with the same
    :math:`k`, which the report gives as well (``spread=True``). With fresh noise the
    verdict is ``ok`` if the mean error is at most :obj:`SPREAD_RATIO` times the mean
    spread: a correct model gives about :math:`1\times`, a broken one many times more
    (a violation well below the spread is not detectable with fresh noise; move the
    noise along to see it). A deterministic model has spread :math:`0` and is tested
    against the tolerance. The report says which noise was used and why, and in how
    many output rows the error exceeds the tolerance; an exact test that fails by less
    than the spread is noted as such (some samples changed with :math:`g`, as when a
    sampler's scores tie up to rounding and the node labels, not the noise, order them).

    With ``seed``, torch's RNG is reseeded (inside a forked RNG state) before each model
    call, so :math:`f(x)` and :math:`f(g \cdot x)` replay the same random stream (it
    does not transform the noise along with the input; the spread uses the seeds
    ``seed + t + 1``).

    Call ``model.eval()`` first: training-time randomness such as dropout is not moved
    along (the report notes it).

    Args:
        model (callable): The model, called as ``model(data)`` (a
            :class:`~lps_geometric.nn.Symmetrize` model also with ``noise=``,
            ``num_samples=`` and ``generator=``).
        data (Data): Input batch.
        group (str or group, optional): A name (see :func:`resolve_group`) or a group
            object with ``random_element``, ``act`` and ``act_on_output``. (default:
            :obj:`"permutation"`)
        num_trials (int, optional): Number of random elements. (default: :obj:`3`)
        level (str, optional): :obj:`"graph"` or :obj:`"node"`; inferred from the output
            shape if omitted.
        output (str, optional): How a Euclidean group acts on the output:
            :obj:`"scalar"` (invariant), :obj:`"vector"` (rotates) or :obj:`"position"`
            (rotates and translates). (default: :obj:`"scalar"`)
        seed (int, optional): Reseed torch's RNG (inside a forked RNG state) before each
            model call.
        generator (torch.Generator, optional): Random source for the group elements and
            the noise.
        noise (str, optional): :obj:`"auto"` (move the noise along where possible, else
            fresh noise), :obj:`"transport"` (move it along; a :class:`ValueError` if it
            cannot be) or :obj:`"fresh"`. (default: :obj:`"auto"`)
        num_samples (int, optional): :math:`k` of a
            :class:`~lps_geometric.nn.Symmetrize` model. (default: the model's own,
            ``eval_num_samples`` in evaluation mode)
        spread (bool, optional): Also measure the Monte Carlo spread (``num_trials``
            more model calls). (default: :obj:`True`)
        rtol (float, optional): Relative tolerance of the verdict. (default: by the
            output's dtype, :obj:`TOLERANCE`)

    Returns:
        :class:`EquivarianceReport`

    Example:
        >>> report = equivariance_error(model.eval(), batch, 'S_n')
        >>> print(report)       # error ~1e-7 with the noise moved along, spread ~0.1
        >>> assert report.ok
    """
    group = resolve_group(group)
    if noise not in ('auto', 'transport', 'fresh'):
        raise ValueError(f"'noise' must be 'auto', 'transport' or 'fresh' "
                         f"(got '{noise}')")
    num_trials = check_positive_int('num_trials', num_trials)
    if rtol is not None and not rtol >= 0:
        raise ValueError(f"'rtol' must be non-negative (got {rtol})")
    symmetrized = _is_symmetrize(model)
    if num_samples is not None:
        if not symmetrized:
            raise ValueError("'num_samples' applies to a Symmetrize model only (got a "
                             f'{type(model).__name__})')
        num_samples = check_positive_int('num_samples', num_samples)
    validate_for_group(data, group)

    k = num_samples
    drawer, obstacle = None, 'not a Symmetrize model (its randomness is not reachable)'
    if symmetrized:
        if k is None:
            k = model.num_samples if model.training else model.eval_num_samples
        drawer, vector_noise, obstacle = _noise_drawer(model.sampler)
    if drawer is not None:
        obstacle = _transport_obstacle(group, vector_noise)
        if obstacle:
            drawer = None
    if noise == 'transport' and drawer is None:
        raise ValueError(f"noise='transport' is not possible: {obstacle}")
    transport = drawer is not None and noise != 'fresh'

    def call(inp: Data, eps: Optional[Tensor] = None,
             call_seed: Optional[int] = seed) -> Tensor:
        kwargs = {}
        if symmetrized:
            kwargs['num_samples'] = k
            if eps is not None:
                kwargs['noise'] = eps
            elif generator is not None:
                kwargs['generator'] = generator
        if call_seed is None:
            return model(inp, **kwargs)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(call_seed)
            return model(inp, **kwargs)

    def draw() -> Optional[Tensor]:
        return drawer(data, k, generator) if transport else None

    eps = draw()
    out = call(data, eps)
    if symmetrized and getattr(model, 'last_sample', None) is not None:
        last = model.last_sample
        k = last.copies if last.copies is not None else int(last.counts.max())
    if level is None:
        level = _infer_level(out, data)

    scale = float(out.abs().max()) if out.numel() else 0.0
    dtype = _real_dtype(out.dtype)
    tolerance = rtol if rtol is not None else _default_tolerance(dtype)
    threshold = tolerance * scale if scale > 0 else tolerance
    errors, means, spreads, spread_means = [], [], [], []
    rows_above = 0
    for t in range(num_trials):
        g = group.random_element(data, generator)
        moved = group.act(g, data)
        if transport:
            out_g = call(moved, transport_noise(g, eps, data, k))
        else:
            out_g = call(moved)
        expected = group.act_on_output(g, out, level, output)
        diff = out_g - expected
        err_max, err_mean = _abs_stats(diff)
        if diff.numel():
            rows_above += int((diff.abs().reshape(diff.size(0), -1).amax(dim=1)
                               > threshold).sum())
        errors.append(err_max)
        means.append(err_mean)
        if spread:
            again = call(data, draw(), None if seed is None else seed + t + 1)
            s_max, s_mean = _abs_stats(again - out)
            spreads.append(s_max)
            spread_means.append(s_mean)

    def rel(value: float) -> float:
        return value / scale if scale > 0 else value

    max_abs = max(errors)
    report = EquivarianceReport(
        max_abs=max_abs, mean_abs=sum(means) / len(means), relative=rel(max_abs),
        level=level, per_trial=errors,
        group=getattr(group, 'name', type(group).__name__),
        noise='transported' if transport else ('seeded' if seed is not None else 'fresh'),
        num_samples=k if symmetrized else None, dtype=str(dtype).replace('torch.', ''),
        tolerance=tolerance, rows_above=rows_above, num_rows=out.size(0) * num_trials)
    if spread:
        report.spread_max_abs = max(spreads)
        report.spread_mean_abs = sum(spread_means) / len(spread_means)
        report.spread_relative = rel(report.spread_max_abs)
    notes = []
    if not transport and not report.deterministic:
        if noise == 'fresh':
            notes.append("noise='fresh' was asked for")
        else:
            notes.append(f'noise not moved along: {obstacle}')
    if (transport and not report.ok and report.spread_ratio is not None
            and report.spread_ratio <= SPREAD_RATIO):
        notes.append('the error is within the Monte Carlo spread: some samples changed '
                     'with g (e.g. a sampler\'s scores tied up to rounding, whose order '
                     'then follows the node labels instead of the noise)')
    if isinstance(model, nn.Module) and model.training:
        notes.append('the model is in training mode (dropout and other training-time '
                     'randomness are not moved along); call model.eval()')
    report.note = '; '.join(notes)
    return report
