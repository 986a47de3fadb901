r"""Benchmark datasets for symmetrized models: expressivity tests (GRAPH8c, EXP, CSL)."""
from .graph8c import GRAPH8c
from .exp import EXP, EXPClassify
from .csl import CSL
from .splits import stratified_kfold
from .nbody import NBodyCharged, simulate_charged_particles, integrate_charged_particles

__all__ = [
    'GRAPH8c',
    'EXP',
    'EXPClassify',
    'CSL',
    'stratified_kfold',
    'NBodyCharged',
    'simulate_charged_particles',
    'integrate_charged_particles',
]
