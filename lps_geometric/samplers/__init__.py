r"""Samplers: ``sampler(data, num_samples) -> GroupSample``, one group element per copy of
every graph. Learned (LPS), uniform (group averaging) and exhaustive, for S_n, the
Euclidean groups O(3)/SO(3)/E(3)/SE(3) and S_n x E(3); :func:`build_sampler` gives
every method (also the frames of :mod:`lps_geometric.frames`) by name."""
from .base import GroupSample, Sampler, sampler_requirements
from .permutation import PermutationSampler, sample_noise
from .relaxation import band_entropy, banded_soft_rank, straight_through
from .uniform import ExhaustivePermutationSampler, UniformPermutationSampler
from .euclidean import (EuclideanFrameSampler, ProductSampler, UniformProductSampler,
                        UniformRotationSampler, canonicalizing_transform)
from .factory import METHODS, build_sampler
from .registry import (GROUP_KINDS, SamplerEntry, available_methods, group_kind,
                       register_sampler, registered_samplers, unregister_sampler)

# The relaxation and noise internals imported above (``sample_noise``,
# ``banded_soft_rank``, ``straight_through``, ``band_entropy``,
# ``canonicalizing_transform``) stay importable from here but are not part of the
# public list.
__all__ = [
    'Sampler', 'GroupSample', 'sampler_requirements', 'PermutationSampler',
    'UniformPermutationSampler',
    'ExhaustivePermutationSampler', 'EuclideanFrameSampler', 'ProductSampler',
    'UniformRotationSampler', 'UniformProductSampler', 'build_sampler', 'METHODS'
]
__all__ += ['register_sampler', 'unregister_sampler', 'available_methods',
            'registered_samplers', 'group_kind', 'GROUP_KINDS', 'SamplerEntry']
