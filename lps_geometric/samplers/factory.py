r"""Every symmetrization method by name: ``build_sampler("mfa", "S_n x E(3)")``.

The methods are entries of the table of :mod:`lps_geometric.samplers.registry`, one per
``(method, group kind)``; this module registers the built-in ones:

=============  =====================  =================================================
``method``     group kind             sampler (:mod:`~lps_geometric.frames` for frames)
=============  =====================  =================================================
``lps``        ``permutation``        ``PermutationSampler``
``lps``        ``euclidean`` (d = 3)  ``EuclideanFrameSampler``
``lps``        ``product`` (d = 3)    ``ProductSampler``
``canonical``  the same three         the same samplers with ``noise_scale=0``
``ga``         ``permutation``        ``UniformPermutationSampler``
``ga``         ``euclidean`` (d = 3)  ``UniformRotationSampler``
``ga``         ``product`` (d = 3)    ``UniformProductSampler``
``fa``         ``permutation``        ``LaplacianFrameSampler``
``fa``         ``euclidean``          ``PCAFrameSampler``
``fa``         ``product``            ``SortedProductFrameSampler`` around a PCA frame
``mfa``        ``permutation``        ``GraphMinimalFrameSampler``
``mfa``        ``sets``               ``SetMinimalFrameSampler``
``mfa``        ``euclidean``          ``OrthogonalMinimalFrameSampler``
``mfa``        ``product``            ``ProductMinimalFrameSampler``
``mfa``        ``lorentz``            ``LorentzMinimalFrameSampler``
``mfa``        ``unitary``            ``UnitaryMinimalFrameSampler``
``exhaustive`` ``permutation``        ``ExhaustivePermutationSampler``
=============  =====================  =================================================
"""
from typing import Optional

from torch import nn

import lps_geometric.frames as frames
from lps_geometric.groups.euclidean import EuclideanGroup, ProductGroup
from lps_geometric.samplers.euclidean import (EuclideanFrameSampler, ProductSampler,
                                              UniformProductSampler, UniformRotationSampler)
from lps_geometric.samplers.permutation import PermutationSampler
from lps_geometric.samplers.registry import lookup_sampler, register_sampler
from lps_geometric.samplers.uniform import (ExhaustivePermutationSampler,
                                            UniformPermutationSampler)

__all__ = ['build_sampler', 'METHODS']

#: The built-in method names (:func:`~lps_geometric.samplers.available_methods` also
#: lists those registered later).
METHODS = ('lps', 'ga', 'fa', 'mfa', 'canonical', 'exhaustive')


def build_sampler(method: str, group='S_n', in_channels: Optional[int] = None,
                  **kwargs) -> nn.Module:
    r"""The sampler of a symmetrization method for a group.

    =============  ===========================================================
    ``method``     Meaning
    =============  ===========================================================
    ``"lps"``      learned probabilistic symmetrization (Kim et al., 2023)
    ``"ga"``       group averaging with uniform (Haar) Monte Carlo samples
    ``"fa"``       frame averaging (Puny et al., 2022): Laplacian frames for
                   :math:`S_n`, PCA frames for Euclidean groups
    ``"mfa"``      minimal frame averaging (Lin et al., 2024)
    ``"canonical"`` learned canonicalization (Kaba et al., 2023): the LPS sampler
                   without noise; use it with one sample
    ``"exhaustive"`` averaging over all of :math:`S_n` (tiny graphs)
    =============  ===========================================================

    ``group`` is a group object or a name: :obj:`"S_n"` (graphs), :obj:`"S_n (sets)"`
    (MFA by sorting), :obj:`"O(d)"`, :obj:`"SO(d)"`, :obj:`"E(d)"`, :obj:`"SE(d)"`,
    :obj:`"S_n x O(d)"` and the other products, :obj:`"O(1,d-1)"`/:obj:`"SO(1,d-1)"`
    (Lorentz) and :obj:`"U(d)"`/:obj:`"SU(d)"`. The learned methods need
    ``in_channels``; other keyword arguments go to the sampler's constructor (for
    ``"fa"`` on a product group, ``tie_tol``, ``tie_samples`` and ``key`` go to the PCA
    frame, the rest to the node sorting).

    The sampler comes from the registry of :mod:`lps_geometric.samplers.registry`
    (:func:`~lps_geometric.samplers.register_sampler` adds a method or replaces one,
    :func:`~lps_geometric.samplers.available_methods` lists them). A method the group
    is not served by, a dimension the method does not support and a learned method
    without ``in_channels`` raise a :class:`ValueError` that names the alternatives.
    """
    entry, resolved = lookup_sampler(method, group)
    return entry.build(resolved, in_channels, **kwargs)


# ---------------------------------------------------------------------------------------
# The built-in methods. The group kinds of each method are registered in the order of
# METHODS (so that available_methods() lists them in that order).
# ---------------------------------------------------------------------------------------
def _coordinates(group):
    r"""``(d, special, translated)`` of an orthogonal or Euclidean group, or of the
    coordinate part of a product."""
    euclid = group.euclidean if isinstance(group, ProductGroup) else group
    return euclid.dim, euclid.special, isinstance(euclid, EuclideanGroup)


def _learned_frame(cls, noise_scale: Optional[float] = None):
    def build(group, in_channels, **kwargs):
        _, special, translated = _coordinates(group)
        extra = dict(special=special, translation='centroid' if translated else 'none')
        if noise_scale is not None:
            extra['noise_scale'] = noise_scale
        return cls(in_channels, **{**extra, **kwargs})
    build.__qualname__ = build.__name__ = f'{cls.__name__}_builder'
    return build


def _uniform_frame(cls):
    def build(group, **kwargs):
        _, special, translated = _coordinates(group)
        return cls(special=special, center=translated, **kwargs)
    build.__qualname__ = build.__name__ = f'{cls.__name__}_builder'
    return build


def _permutation_lps(group, in_channels, **kwargs):
    return PermutationSampler(in_channels, **kwargs)


def _permutation_canonical(group, in_channels, **kwargs):
    return PermutationSampler(in_channels, **{'noise_scale': 0.0, **kwargs})


def _permutation_ga(group, **kwargs):
    return UniformPermutationSampler(**kwargs)


def _permutation_fa(group, **kwargs):
    return frames.LaplacianFrameSampler(**kwargs)


def _permutation_mfa(group, **kwargs):
    return frames.GraphMinimalFrameSampler(**kwargs)


def _permutation_exhaustive(group, **kwargs):
    return ExhaustivePermutationSampler(**kwargs)


def _set_mfa(group, **kwargs):
    return frames.SetMinimalFrameSampler(**kwargs)


#: Keyword arguments of ``"fa"`` on a product group that go to the PCA frame.
_PCA_KEYS = ('tie_tol', 'tie_samples', 'key')


def _euclidean_fa(group, **kwargs):
    return frames.PCAFrameSampler(*_coordinates(group), **kwargs)


def _product_fa(group, **kwargs):
    pca = frames.PCAFrameSampler(*_coordinates(group),
                                 **{k: v for k, v in kwargs.items() if k in _PCA_KEYS})
    rest = {k: v for k, v in kwargs.items() if k not in _PCA_KEYS}
    return frames.SortedProductFrameSampler(pca, **rest)


def _euclidean_mfa(group, **kwargs):
    return frames.OrthogonalMinimalFrameSampler(*_coordinates(group), **kwargs)


def _product_mfa(group, **kwargs):
    return frames.ProductMinimalFrameSampler(*_coordinates(group), **kwargs)


def _lorentz_mfa(group, **kwargs):
    return frames.LorentzMinimalFrameSampler(group.dim, group.special, **kwargs)


def _unitary_mfa(group, **kwargs):
    return frames.UnitaryMinimalFrameSampler(group.dim, group.special, **kwargs)


register_sampler('lps', 'permutation', _permutation_lps, learned=True)
register_sampler('lps', 'euclidean', _learned_frame(EuclideanFrameSampler), learned=True,
                 dims=(3,))
register_sampler('lps', 'product', _learned_frame(ProductSampler), learned=True,
                 dims=(3,))
register_sampler('ga', 'permutation', _permutation_ga)
register_sampler('ga', 'euclidean', _uniform_frame(UniformRotationSampler), dims=(3,))
register_sampler('ga', 'product', _uniform_frame(UniformProductSampler), dims=(3,))
register_sampler('fa', 'permutation', _permutation_fa)
register_sampler('fa', 'euclidean', _euclidean_fa)
register_sampler('fa', 'product', _product_fa)
register_sampler('mfa', 'permutation', _permutation_mfa)
register_sampler('mfa', 'sets', _set_mfa)
register_sampler('mfa', 'euclidean', _euclidean_mfa)
register_sampler('mfa', 'product', _product_mfa)
register_sampler('mfa', 'lorentz', _lorentz_mfa)
register_sampler('mfa', 'unitary', _unitary_mfa)
register_sampler('canonical', 'permutation', _permutation_canonical, learned=True,
                 num_samples=1)
register_sampler('canonical', 'euclidean',
                 _learned_frame(EuclideanFrameSampler, noise_scale=0.0), learned=True,
                 dims=(3,), num_samples=1)
register_sampler('canonical', 'product',
                 _learned_frame(ProductSampler, noise_scale=0.0), learned=True, dims=(3,),
                 num_samples=1)
register_sampler('exhaustive', 'permutation', _permutation_exhaustive)
