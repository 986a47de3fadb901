r"""Diagnostics: measure a model's distance from equivariance instead of assuming it."""
from .equivariance import EquivarianceReport, equivariance_error, resolve_group

__all__ = ['equivariance_error', 'EquivarianceReport', 'resolve_group']
