r"""Diagnostics: measure a model's distance from equivariance instead of assuming it,
overall (:func:`equivariance_error`; :func:`assert_equivariant` in a test suite) and
layer by layer (:func:`layerwise_equivariance_error`), and how random a sampler still is
(:func:`sample_spread`: one for the uniform distribution, zero for a canonicalization),
compare a stochastic model draw by draw (:class:`MovedNoise`), and penalise it in
training (:func:`lie_derivative_penalty`,
:func:`group_difference_penalty`)."""
from .assertions import assert_equivariant
from .equivariance import (SPREAD_RATIO, TOLERANCE, EquivarianceReport, equivariance_error,
                          resolve_group)
from .layers import LayerError, LayerwiseReport, layerwise_equivariance_error
from .moved_noise import MovedNoise
from .penalties import group_difference_penalty, lie_derivative_penalty, lie_derivatives
from .spread import SampleSpread, permutation_spread, rotation_spread, sample_spread

# resolve_group, rotation_spread and permutation_spread stay importable from here; their
# home is lps_geometric.groups
__all__ = ['equivariance_error', 'assert_equivariant', 'EquivarianceReport',
           'TOLERANCE', 'SPREAD_RATIO',
           'layerwise_equivariance_error', 'LayerwiseReport', 'LayerError',
           'sample_spread', 'SampleSpread', 'lie_derivative_penalty', 'lie_derivatives',
           'group_difference_penalty', 'MovedNoise']
