r"""Message passing layers."""
from .egnn_conv import EGNNConv

__all__ = ['EGNNConv']
