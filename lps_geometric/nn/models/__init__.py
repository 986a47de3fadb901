r"""Complete models built from the layers in :mod:`lps_geometric.nn.conv`."""
from .egnn import EGNN

__all__ = ['EGNN']
