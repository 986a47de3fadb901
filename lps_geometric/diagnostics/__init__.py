r"""Diagnostics: measure a model's distance from equivariance instead of assuming it,
overall (:func:`equivariance_error`) and layer by layer
(:func:`layerwise_equivariance_error`)."""
from .equivariance import EquivarianceReport, equivariance_error, resolve_group
from .layers import LayerError, LayerwiseReport, layerwise_equivariance_error

__all__ = ['equivariance_error', 'EquivarianceReport', 'resolve_group',
           'layerwise_equivariance_error', 'LayerwiseReport', 'LayerError']
