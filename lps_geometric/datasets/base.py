r"""Shared layout and safe loading of the package's datasets."""
import os
import os.path as osp
import re
import sys
import warnings

import torch
from torch_geometric.data import Data, InMemoryDataset

__all__ = ['NamedInMemoryDataset', 'describe', 'check_root']


def describe(obj: object) -> str:
    r"""A description of :obj:`obj` without memory addresses (for the
    :obj:`pre_transform.pt` and :obj:`pre_filter.pt` markers)."""
    return 'None' if obj is None else re.sub(r' at 0x[0-9a-fA-F]+', '', str(obj))


def check_root(root: str) -> str:
    r"""``root`` if it is a directory or can be created as one, else a
    :class:`ValueError` naming the file in the way."""
    if root is None:
        return root
    path = osp.abspath(osp.expanduser(str(root)))
    probe = path
    while not osp.exists(probe):
        parent = osp.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if osp.exists(probe) and not osp.isdir(probe):
        raise ValueError(f"The dataset 'root' {root!r} must be a directory, but "
                         f"{probe!r} is a file")
    return root


class NamedInMemoryDataset(InMemoryDataset):
    r"""An :class:`~torch_geometric.data.InMemoryDataset` that keeps its files in
    :obj:`root/NAME/raw` and :obj:`root/NAME/processed` (PyG's layout for named
    datasets), so that several datasets can share one :obj:`root`. Subclasses set the
    class attribute :obj:`name`.

    Loading never executes code from a file: processed files and the
    :obj:`pre_transform.pt`/:obj:`pre_filter.pt` markers are read with
    :obj:`torch.load(weights_only=True)` only (PyG falls back to unrestricted
    unpickling for the former and reads the latter with :obj:`weights_only=False`).
    """
    name: str = ''

    def _download(self) -> None:
        check_root(self.root)
        super()._download()

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.name, 'raw')

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.name, 'processed')

    def load(self, path: str, data_cls: type = Data) -> None:
        r"""Loads a processed file with :obj:`torch.load(weights_only=True)`."""
        out = torch.load(path, map_location='cpu', weights_only=True)
        if not (isinstance(out, tuple) and len(out) in (2, 3) and isinstance(out[0], dict)):
            raise ValueError(f'Unexpected content in processed file {path}')
        self.data = data_cls.from_dict(out[0])
        self.slices = out[1]

    def _process(self) -> None:
        r"""PyG's :meth:`Dataset._process` with the markers read safely."""
        check_root(self.root)
        markers = {'pre_transform': self.pre_transform, 'pre_filter': self.pre_filter}
        for key, value in markers.items():
            marker = osp.join(self.processed_dir, f'{key}.pt')
            if not self.force_reload and osp.exists(marker):
                stored = torch.load(marker, weights_only=True)
                if stored != describe(value):
                    warnings.warn(
                        f'The `{key}` argument differs from the one used in the '
                        f'pre-processed version of this dataset ({stored}). Pass '
                        f'`force_reload=True` to process the dataset again.', stacklevel=2)
        if not self.force_reload and all(osp.exists(p) for p in self.processed_paths):
            return
        if getattr(self, 'log', True) and 'PYTEST_CURRENT_TEST' not in os.environ:
            print('Processing...', file=sys.stderr)
        os.makedirs(self.processed_dir, exist_ok=True)
        self.process()
        for key, value in markers.items():
            torch.save(describe(value), osp.join(self.processed_dir, f'{key}.pt'))
