r"""Testing helpers shipped with the package: the dense oracle, random graphs and point
clouds, adversarial inputs (graphs with large automorphism groups, regular polyhedra and
nearly degenerate clouds) and a non-equivariant backbone."""
from .dense import (DenseSymmetrize, dense_adjacency_image, dense_assignment,
                    dense_patch_transformer, dense_soft_assignment)
from .graphs import (adversarial_graphs, circulant_graph, complete_bipartite_graph,
                     complete_graph, cycle_graph, disjoint_cliques, hypercube_graph,
                     nearly_tied_features, petersen_graph, random_batch, random_graph)
from .point_clouds import (point_cloud_graph, random_point_cloud, random_point_cloud_batch,
                           transport_noise)
from .backbones import OrderedMLP
from .shapes import (cube, icosahedron, nearly_collinear, nearly_planar, octahedron,
                     regular_polygon, symmetric_graph, tetrahedron)

__all__ = [
    'DenseSymmetrize', 'dense_assignment', 'dense_soft_assignment',
    'dense_adjacency_image', 'dense_patch_transformer', 'random_graph', 'random_batch',
    'complete_graph', 'cycle_graph', 'petersen_graph', 'hypercube_graph',
    'complete_bipartite_graph', 'disjoint_cliques', 'circulant_graph',
    'nearly_tied_features', 'adversarial_graphs', 'random_point_cloud',
    'random_point_cloud_batch', 'point_cloud_graph', 'transport_noise', 'OrderedMLP',
    'regular_polygon', 'tetrahedron', 'cube', 'octahedron', 'icosahedron',
    'nearly_collinear', 'nearly_planar', 'symmetric_graph'
]
