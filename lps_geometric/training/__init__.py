r"""Training: a Lightning-Fabric engine (CPU, GPU, DDP, mixed precision, exact resume),
tasks with OGB's evaluator, and the molecular models used by the CLI."""
from .config import TrainConfig
from .ema import ExponentialMovingAverage
from .relaxation import RelaxationSchedule
from .tasks import Task, roc_auc
from .engine import RunLog, epoch_batches, evaluate, make_fabric, plot_curves, train
from .models import (ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS, CategoricalEncoder,
                     E3SymmetrizedMolecule, OGBGIN, SchNetBaseline, SymmetrizedMolecule,
                     complete_graph)

# make_fabric, epoch_batches, plot_curves, RunLog and models.complete_graph are steps of
# train() and of the command line (importable from their modules)
__all__ = [
    'TrainConfig', 'ExponentialMovingAverage', 'Task', 'roc_auc', 'train', 'evaluate',
    'CategoricalEncoder', 'OGBGIN',
    'SymmetrizedMolecule', 'E3SymmetrizedMolecule', 'SchNetBaseline',
    'ATOM_FEATURE_DIMS', 'BOND_FEATURE_DIMS', 'RelaxationSchedule'
]
