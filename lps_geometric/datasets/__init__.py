r"""Benchmark datasets for symmetrized models: expressivity tests (GRAPH8c, EXP, CSL),
n-body, QM9 with 3D coordinates (qm9pack), and OGB-format molecules (FreeSolv, B3DB,
the ``ogbg-mol*`` datasets, and a user's own CSV/TSV/SDF file with
:class:`MoleculeTable`)."""
from .graph8c import GRAPH8c
from .exp import EXP, EXPClassify
from .csl import CSL
from .splits import stratified_kfold
from .nbody import NBodyCharged, simulate_charged_particles, integrate_charged_particles
from .qm9 import QM9Pack, TARGETS
from .molecules import (B3DB, FreeSolv, MoleculeCSV, evaluator_for, ogb_dataset,
                        ogb_molecule_names, scaffold_split, smiles_to_data)
from .table import MoleculeTable, random_split

__all__ = [
    'GRAPH8c',
    'EXP',
    'EXPClassify',
    'CSL',
    'stratified_kfold',
    'NBodyCharged',
    'simulate_charged_particles',
    'integrate_charged_particles',
    'QM9Pack',
    'TARGETS',
    'FreeSolv',
    'B3DB',
    'MoleculeCSV',
    'MoleculeTable',
    'ogb_dataset',
    'ogb_molecule_names',
    'evaluator_for',
    'scaffold_split',
    'random_split',
    'smiles_to_data',
]
