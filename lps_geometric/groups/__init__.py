r"""Groups as pure tensor math: elements, composition, inverses and actions.

Nothing here imports :mod:`lps_geometric.nn`: layers build on the group math, not the other
way round.
"""
from .symmetric import Permutation, SymmetricGroup, segment_argsort

__all__ = ['Permutation', 'SymmetricGroup', 'segment_argsort']
