r"""Every symmetrization method by name: ``build_sampler("mfa", "S_n x E(3)")``."""
from typing import Optional

from torch import nn

import lps_geometric.frames as frames
from lps_geometric.groups.euclidean import EuclideanGroup, OrthogonalGroup, ProductGroup
from lps_geometric.groups.linear import LorentzGroup, UnitaryGroup
from lps_geometric.groups.names import normalize_group_name, resolve_group
from lps_geometric.groups.symmetric import SymmetricGroup
from lps_geometric.samplers.euclidean import (EuclideanFrameSampler, ProductSampler,
                                              UniformProductSampler, UniformRotationSampler)
from lps_geometric.samplers.permutation import PermutationSampler
from lps_geometric.samplers.uniform import (ExhaustivePermutationSampler,
                                            UniformPermutationSampler)

__all__ = ['build_sampler', 'METHODS']

#: Method names understood by :func:`build_sampler`.
METHODS = ('lps', 'ga', 'fa', 'mfa', 'canonical', 'exhaustive')

_SET_GROUPS = ('sets', 'snsets', 'snset', 'set')


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
    ``in_channels``; other keyword arguments go to the sampler's constructor.
    """
    method = method.lower()
    if method not in METHODS:
        raise ValueError(f"Unknown method '{method}' (known: {METHODS})")
    if isinstance(group, str):
        name = normalize_group_name(group)
        if name in _SET_GROUPS:
            if method != 'mfa':
                raise ValueError(f"Group '{group}' is served by method 'mfa' only; for "
                                 f"other methods use 'S_n'")
            return frames.SetMinimalFrameSampler(**kwargs)
    group = resolve_group(group)
    if isinstance(group, (LorentzGroup, UnitaryGroup)):
        if method != 'mfa':
            raise ValueError(f"Group {group.name} is served by method 'mfa' only "
                             f"(got '{method}')")
        cls = frames.LorentzMinimalFrameSampler if isinstance(group, LorentzGroup) \
            else frames.UnitaryMinimalFrameSampler
        return cls(group.dim, group.special, **kwargs)

    def learned(cls, **extra):
        if in_channels is None:
            raise ValueError(f"Method '{method}' learns a sampler: pass 'in_channels'")
        return cls(in_channels, **{**extra, **kwargs})

    if isinstance(group, SymmetricGroup):
        table = {
            'lps': lambda: learned(PermutationSampler),
            'canonical': lambda: learned(PermutationSampler, noise_scale=0.0),
            'ga': lambda: UniformPermutationSampler(**kwargs),
            'exhaustive': lambda: ExhaustivePermutationSampler(**kwargs),
            'fa': lambda: frames.LaplacianFrameSampler(**kwargs),
            'mfa': lambda: frames.GraphMinimalFrameSampler(**kwargs),
        }
        return table[method]()

    product = isinstance(group, ProductGroup)
    euclid = group.euclidean if product else group
    if not isinstance(euclid, OrthogonalGroup):
        raise ValueError(f'No sampler for group {group}')
    dim, special = euclid.dim, euclid.special
    translated = isinstance(euclid, EuclideanGroup)
    if method in ('lps', 'canonical', 'ga') and dim != 3:
        raise ValueError(f"Method '{method}' is implemented for d = 3 (got d = {dim}); "
                         f"'fa' and 'mfa' work for any d")
    translation = 'centroid' if translated else 'none'
    if method == 'exhaustive':
        raise ValueError("'exhaustive' averaging is for S_n only")
    if method == 'lps':
        cls = ProductSampler if product else EuclideanFrameSampler
        return learned(cls, special=special, translation=translation)
    if method == 'canonical':
        cls = ProductSampler if product else EuclideanFrameSampler
        return learned(cls, special=special, translation=translation, noise_scale=0.0)
    if method == 'ga':
        cls = UniformProductSampler if product else UniformRotationSampler
        return cls(special=special, center=translated, **kwargs)
    if method == 'fa':
        if product:
            pca_keys = ('tie_tol', 'tie_samples', 'key')
            pca = frames.PCAFrameSampler(dim, special, translated,
                                         **{k: v for k, v in kwargs.items()
                                            if k in pca_keys})
            rest = {k: v for k, v in kwargs.items() if k not in pca_keys}
            return frames.SortedProductFrameSampler(pca, **rest)
        return frames.PCAFrameSampler(dim, special, translated, **kwargs)
    cls = frames.ProductMinimalFrameSampler if product \
        else frames.OrthogonalMinimalFrameSampler
    return cls(dim, special, translated, **kwargs)
