r"""Shared layout of the package's datasets."""
import os.path as osp

from torch_geometric.data import InMemoryDataset

__all__ = ['NamedInMemoryDataset']


class NamedInMemoryDataset(InMemoryDataset):
    r"""An :class:`~torch_geometric.data.InMemoryDataset` that keeps its files in
    :obj:`root/NAME/raw` and :obj:`root/NAME/processed` (PyG's layout for named
    datasets), so that several datasets can share one :obj:`root`. Subclasses set the
    class attribute :obj:`name`."""
    name: str = ''

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.name, 'raw')

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.name, 'processed')
