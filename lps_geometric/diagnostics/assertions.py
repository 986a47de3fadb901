r"""Equivariance as an assertion: :func:`assert_equivariant` for test suites, with the
tolerance of the output's dtype (:obj:`~lps_geometric.diagnostics.TOLERANCE`)."""
from typing import Callable, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.diagnostics.equivariance import EquivarianceReport, equivariance_error

__all__ = ['assert_equivariant']


def _describe(model: Callable, data: Data) -> str:
    name = type(model).__name__
    graphs = getattr(data, 'num_graphs', 1)
    return f'{name} on {graphs} graph(s) with {data.num_nodes} nodes'


def assert_equivariant(model: Callable[..., Tensor], data: Data,
                       group: Union[str, object, None] = 'permutation', *,
                       output: str = 'scalar', level: Optional[str] = None,
                       num_trials: int = 20, noise: str = 'auto', exact: bool = True,
                       rtol: Optional[float] = None, max_fraction: float = 0.0,
                       num_samples: Optional[int] = None,
                       generator: Optional[torch.Generator] = None,
                       seed: Optional[int] = None) -> EquivarianceReport:
    r"""Asserts that ``model`` is equivariant on ``data``; returns the
    :class:`~lps_geometric.diagnostics.EquivarianceReport`.

    Runs :func:`~lps_geometric.diagnostics.equivariance_error` over ``num_trials``
    random elements :math:`g` of ``group`` and raises :class:`AssertionError` with the
    report's table when

    - the relative error :math:`\max_t \|f(g_t x) - g_t f(x)\|_\infty /
      \|f(x)\|_\infty` exceeds ``rtol`` (default: the tolerance of the output's dtype,
      :obj:`~lps_geometric.diagnostics.TOLERANCE`) in more than a fraction
      ``max_fraction`` of the output rows (graphs or nodes over all trials; default
      :obj:`0`: in none), or
    - the output is not finite, or
    - ``exact=True`` (the default) and the check could not be exact: the model is
      stochastic and its noise could not be moved along with :math:`g` (then only
      equality in distribution can be tested; pass ``exact=False`` to accept the
      Monte Carlo verdict of a stochastic model with fresh noise).

    Args:
        model (callable): The model, called as ``model(data)``.
        data (Data): Input batch.
        group (str or group, optional): A group name (see
            :func:`~lps_geometric.diagnostics.resolve_group`) or object.
            (default: :obj:`"permutation"`)
        output (str, optional): :obj:`"scalar"`, :obj:`"vector"` or
            :obj:`"position"`. (default: :obj:`"scalar"`)
        level (str, optional): :obj:`"graph"` or :obj:`"node"` (inferred if omitted).
        num_trials (int, optional): Random group elements. (default: :obj:`20`)
        noise (str, optional): :obj:`"auto"`, :obj:`"transport"` or :obj:`"fresh"`,
            as in :func:`~lps_geometric.diagnostics.equivariance_error`.
            (default: :obj:`"auto"`)
        exact (bool, optional): Require an exact test. (default: :obj:`True`)
        rtol (float, optional): Relative tolerance. (default: by dtype)
        max_fraction (float, optional): Largest fraction of output rows allowed above
            the tolerance, in :math:`[0, 1)`, for methods whose exactness holds up to
            rare rounding events. (default: :obj:`0.0`)
        num_samples (int, optional): :math:`k` of a symmetrized model.
        generator (torch.Generator, optional): Random source for :math:`g` and the
            noise.
        seed (int, optional): Reseed torch's RNG before each model call.

    Example:
        >>> assert_equivariant(model.eval(), batch, 'S_n x E(3)', output='vector')
    """
    if not 0.0 <= max_fraction < 1.0:
        raise ValueError(f"'max_fraction' must lie in [0, 1) (got {max_fraction})")
    report = equivariance_error(model, data, group, num_trials=num_trials, level=level,
                                output=output, seed=seed, generator=generator,
                                noise=noise, num_samples=num_samples,
                                spread=not exact or noise != 'transport', rtol=rtol)
    problems = []
    if report.relative != report.relative or report.max_abs == float('inf'):
        problems.append('the output or its error is not finite')
    if exact and not report.exact_test:
        problems.append('the test is not exact: the model is stochastic and its noise '
                        "was not moved along (pass exact=False to accept equality in "
                        "distribution, or noise='transport')")
    if report.exact_test and report.relative > report.tolerance:
        allowed = int(max_fraction * report.num_rows)
        if report.rows_above > allowed:
            problems.append(f'{report.rows_above} of {report.num_rows} output rows exceed '
                            f'the relative tolerance {report.tolerance:.0e} (allowed: '
                            f'{allowed})')
    elif not report.exact_test and not report.ok:
        problems.append(report.verdict)
    if problems:
        raise AssertionError(f'Not equivariant under {report.group or group}: '
                             f'{_describe(model, data)}: ' + '; '.join(problems)
                             + '\n' + str(report))
    return report
