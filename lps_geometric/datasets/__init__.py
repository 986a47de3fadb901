r"""Benchmark datasets for symmetrized models: expressivity tests (GRAPH8c, EXP, CSL),
n-body, QM9 with 3D coordinates (qm9pack), and OGB-format molecules (FreeSolv, B3DB,
the ``ogbg-mol*`` datasets, and a user's own CSV/TSV/SDF file with
:class:`MoleculeTable`), PATTERN and CLUSTER generated offline (:class:`SBMPattern`,
:class:`SBMCluster`) or from their released files, and the Long Range Graph Benchmark's
Peptides and PCQM-Contact files (:func:`lrgb_dataset`), read weights-only."""
from .graph8c import GRAPH8c
from .exp import EXP, EXPClassify
from .csl import CSL
from .splits import stratified_kfold
from .nbody import NBodyCharged, simulate_charged_particles, integrate_charged_particles
from .qm9 import QM9Pack, TARGETS
from .molecules import (B3DB, FreeSolv, MoleculeCSV, evaluator_for, ogb_dataset,
                        ogb_molecule_names, scaffold_split, smiles_to_data)
from .table import MoleculeTable, random_split
from .sbm import (CLUSTER_CONFIG, PATTERN_CONFIG, SBMCluster, SBMConfig, SBMPattern,
                  generate_cluster, generate_pattern, sbm_statistics)
from .pyg_benchmarks import (SafeGNNBenchmarkDataset, SafeLRGBDataset, SplitDataset,
                             gnn_benchmark_sbm, lrgb_dataset)

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
    'SBMPattern',
    'SBMCluster',
    'SBMConfig',
    'PATTERN_CONFIG',
    'CLUSTER_CONFIG',
    'generate_pattern',
    'generate_cluster',
    'sbm_statistics',
    'SplitDataset',
    'SafeGNNBenchmarkDataset',
    'SafeLRGBDataset',
    'gnn_benchmark_sbm',
    'lrgb_dataset',
]
