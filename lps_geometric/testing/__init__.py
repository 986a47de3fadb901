r"""Testing helpers shipped with the package: the dense oracle and equivariance checks."""
from .dense import (DenseSymmetrize, dense_adjacency_image, dense_assignment,
                    dense_patch_transformer, dense_soft_assignment)

__all__ = [
    'DenseSymmetrize', 'dense_assignment', 'dense_soft_assignment',
    'dense_adjacency_image', 'dense_patch_transformer'
]
