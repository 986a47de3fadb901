r"""Testing helpers shipped with the package: the dense oracle, random graphs and point
clouds, inputs with known symmetries and a non-equivariant backbone."""
from .dense import (DenseSymmetrize, dense_adjacency_image, dense_assignment,
                    dense_patch_transformer, dense_soft_assignment)
from .graphs import random_batch, random_graph
from .point_clouds import random_point_cloud, random_point_cloud_batch, transport_noise
from .backbones import OrderedMLP
from .shapes import cube, regular_polygon, symmetric_graph, tetrahedron

__all__ = [
    'DenseSymmetrize', 'dense_assignment', 'dense_soft_assignment',
    'dense_adjacency_image', 'dense_patch_transformer', 'random_graph', 'random_batch',
    'random_point_cloud', 'random_point_cloud_batch', 'transport_noise', 'OrderedMLP',
    'regular_polygon', 'tetrahedron', 'cube', 'symmetric_graph'
]
