r"""Samplers: ``sampler(data, num_samples) -> GroupSample``, one group element per copy of
every graph. Learned (LPS), uniform (group averaging) and exhaustive."""
from .base import GroupSample
from .permutation import PermutationSampler, sample_noise
from .relaxation import band_entropy, banded_soft_rank, straight_through
from .uniform import ExhaustivePermutationSampler, UniformPermutationSampler

__all__ = [
    'GroupSample', 'PermutationSampler', 'UniformPermutationSampler',
    'ExhaustivePermutationSampler', 'banded_soft_rank', 'straight_through',
    'band_entropy', 'sample_noise'
]
