r"""Training: a Lightning-Fabric engine (CPU, GPU, DDP, mixed precision, exact resume),
tasks with OGB's evaluator, node and link tasks, and the molecular and graph-benchmark
models used by the CLI."""
from .config import TrainConfig
from .ema import ExponentialMovingAverage
from .relaxation import RelaxationSchedule
from .tasks import MRR_VARIANTS, Task, link_ranks, roc_auc, weighted_accuracy
from .engine import RunLog, epoch_batches, evaluate, make_fabric, plot_curves, train
from .models import (ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS, CategoricalEncoder,
                     E3SymmetrizedMolecule, OGBGIN, SchNetBaseline, SymmetrizedMolecule,
                     complete_graph)
from .graph_models import GNNBaseline, SymmetrizedGraph
from .graph_benchmarks import GRAPH_BENCHMARKS, graph_benchmark_model, load_graph_benchmark

# make_fabric, epoch_batches, plot_curves, RunLog and models.complete_graph are steps of
# train() and of the command line (importable from their modules)
__all__ = [
    'TrainConfig', 'ExponentialMovingAverage', 'Task', 'roc_auc', 'train', 'evaluate',
    'CategoricalEncoder', 'OGBGIN',
    'SymmetrizedMolecule', 'E3SymmetrizedMolecule', 'SchNetBaseline',
    'ATOM_FEATURE_DIMS', 'BOND_FEATURE_DIMS', 'RelaxationSchedule',
    'weighted_accuracy', 'link_ranks', 'MRR_VARIANTS', 'SymmetrizedGraph', 'GNNBaseline',
    'GRAPH_BENCHMARKS', 'load_graph_benchmark', 'graph_benchmark_model',
]
