r"""Deterministic mode: the settings under which a seeded computation repeats bit for bit.

A seed fixes the random numbers; it does not fix the order in which parallel kernels add
floating-point numbers. :func:`deterministic` sets what PyTorch and PyTorch Geometric
offer to fix that order as well:

* :func:`torch.use_deterministic_algorithms`: ``scatter_add_``, ``index_add_``,
  ``index_put_(accumulate=True)`` and the backward passes of ``gather`` and
  ``index_select`` take deterministic kernels on CUDA. That covers the sums of this
  library's hot paths: :func:`torch_geometric.utils.scatter` (``"sum"``, ``"mean"``:
  ``scatter_add_``) in the averages of :class:`~lps_geometric.nn.Symmetrize`, the
  frames, the Euclidean samplers and :class:`~lps_geometric.nn.EGNNConv`; the
  ``index_add_`` of the patch embedding's backward pass; the ``index_put_`` of the
  relaxed adjacency. An operation that has no deterministic kernel raises a
  :class:`RuntimeError` naming it (or warns, with ``warn_only=True``). The CSR
  products of :class:`~lps_geometric.utils.NeighborSum` (cuSPARSE on CUDA) are not
  on PyTorch's list, so inside the mode it gathers and scatters with ``index_add_``
  on CUDA instead (:func:`~lps_geometric.utils.sparse.uses_csr`).
* ``torch.backends.cudnn.deterministic = True`` and ``benchmark = False``.
* ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS matrix products). PyTorch reads it at
  the process's first cuBLAS call: set it in the environment before starting Python
  when CUDA matrix products run before :func:`deterministic` is entered.
* :func:`torch_geometric.utils.scatter` with ``"min"``/``"max"`` uses PyTorch's
  ``scatter_reduce_`` rather than ``torch-scatter`` (whose CUDA arg-max picks among
  ties in no fixed order), and PyG aggregation modules built inside the mode reduce
  with segments when they are given ``ptr``.

On the CPU PyTorch's kernels repeat for a fixed number of threads; the mode makes the
accumulating ``index_put_`` and the backward of advanced indexing sort first. Results
still depend on the number of threads, the hardware and the library versions.
"""
import contextlib
import os
from typing import Any, Dict, Iterator

import torch

__all__ = ['deterministic', 'set_deterministic', 'restore_determinism',
           'CUBLAS_WORKSPACE_CONFIG']

#: The cuBLAS workspace setting that makes cuBLAS deterministic (``:16:8`` also does,
#: with less memory and speed).
CUBLAS_WORKSPACE_CONFIG = ':4096:8'


def set_deterministic(warn_only: bool = False) -> Dict[str, Any]:
    r"""Turns the deterministic mode on for the whole process and returns the settings
    it replaced, for :func:`restore_determinism`. Prefer the scoped
    :func:`deterministic`.

    Args:
        warn_only (bool, optional): Warn, instead of raising, when an operation has no
            deterministic implementation. (default: :obj:`False`)
    """
    import torch_geometric.typing
    previous = dict(
        algorithms=torch.are_deterministic_algorithms_enabled(),
        warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
        cudnn_deterministic=torch.backends.cudnn.deterministic,
        cudnn_benchmark=torch.backends.cudnn.benchmark,
        cublas=os.environ.get('CUBLAS_WORKSPACE_CONFIG'),
        torch_scatter=torch_geometric.typing.WITH_TORCH_SCATTER)
    if previous['cublas'] not in (':4096:8', ':16:8'):
        os.environ['CUBLAS_WORKSPACE_CONFIG'] = CUBLAS_WORKSPACE_CONFIG
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch_geometric.typing.WITH_TORCH_SCATTER = False
    return previous


def restore_determinism(previous: Dict[str, Any]):
    r"""Puts back the settings that :func:`set_deterministic` returned."""
    import torch_geometric.typing
    torch.use_deterministic_algorithms(previous['algorithms'],
                                       warn_only=previous['warn_only'])
    torch.backends.cudnn.deterministic = previous['cudnn_deterministic']
    torch.backends.cudnn.benchmark = previous['cudnn_benchmark']
    if previous['cublas'] is None:
        os.environ.pop('CUBLAS_WORKSPACE_CONFIG', None)
    else:
        os.environ['CUBLAS_WORKSPACE_CONFIG'] = previous['cublas']
    torch_geometric.typing.WITH_TORCH_SCATTER = previous['torch_scatter']


@contextlib.contextmanager
def deterministic(enabled: bool = True, warn_only: bool = False) -> Iterator[None]:
    r"""The deterministic mode (see the module's description) inside a ``with`` block;
    the previous settings come back on leaving it. With ``enabled=False`` nothing is
    changed, so ``with deterministic(config.deterministic):`` leaves a process's own
    settings alone when the mode is off.

    Example::

        with deterministic():
            loss = model(data).sum()
            loss.backward()          # the same gradients in every run of this seed

    Args:
        enabled (bool, optional): Whether to turn the mode on. (default: :obj:`True`)
        warn_only (bool, optional): Warn, instead of raising, when an operation has no
            deterministic implementation. (default: :obj:`False`)
    """
    if not enabled:
        yield
        return
    previous = set_deterministic(warn_only)
    try:
        yield
    finally:
        restore_determinism(previous)
