r"""OGB's graph property prediction datasets with weights-only loading (imports ``ogb``;
reached through :func:`lps_geometric.datasets.ogb_dataset`)."""
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from ogb.graphproppred import PygGraphPropPredDataset

from lps_geometric.datasets.base import NamedInMemoryDataset
from lps_geometric.datasets.molecules import OGB_PROCESSED_CLASSES

__all__ = ['OGBGraphPropPredDataset', 'allowed_globals']


@contextmanager
def allowed_globals(classes: Sequence[type]) -> Iterator[None]:
    r"""Allows :obj:`classes` in weights-only loads inside the block, and afterwards
    only those that were allowed before (PyG allows some of them itself)."""
    allowed = set(map(id, torch.serialization.get_safe_globals()))
    with torch.serialization.safe_globals([c for c in classes if id(c) not in allowed]):
        yield


def _holds_files(folder: str) -> bool:
    return any(files for _, _, files in os.walk(folder))


class OGBGraphPropPredDataset(PygGraphPropPredDataset):
    r""":class:`ogb.graphproppred.PygGraphPropPredDataset` whose files are read with
    :obj:`torch.load(weights_only=True)` only.

    OGB stores its processed file as a pickled :class:`~torch_geometric.data.Data`,
    which the weights-only unpickler refuses unless PyG's data classes are allowed.
    Exactly those classes (:data:`~lps_geometric.datasets.molecules.OGB_PROCESSED_CLASSES`)
    are allowed, and only while the dataset is built; the
    :obj:`pre_transform.pt`/:obj:`pre_filter.pt` markers are read weights-only as well.
    A download that fails (e.g. offline) raises an error that says where to put a local
    copy, and leaves no empty folder behind.

    Args:
        name (str): The OGB name, e.g. :obj:`"ogbg-molhiv"`.
        root (str, optional): Parent of the dataset's folder (``root/ogbg_molhiv``).
            (default: :obj:`"datasets"`)
        transform (callable, optional): Applied on every access. (default: :obj:`None`)
        pre_transform (callable, optional): Applied once before saving.
            (default: :obj:`None`)
        meta_dict (dict, optional): OGB's meta information, for datasets not in its
            master table. (default: :obj:`None`)
    """
    _process = NamedInMemoryDataset._process

    def __init__(self, name: str, root: str = 'datasets', transform=None,
                 pre_transform=None, meta_dict=None):
        with allowed_globals(OGB_PROCESSED_CLASSES):
            super().__init__(name, root, transform, pre_transform, meta_dict)

    def download(self):
        try:
            super().download()
        except OSError as e:  # urllib's URLError and socket errors
            if osp.isdir(self.root) and not _holds_files(self.root):
                import shutil
                shutil.rmtree(self.root)
            version = self.meta_info['version']
            raise RuntimeError(
                f"Could not download {self.name} from {self.meta_info['url']} ({e}). "
                f"Without a network, unpack OGB's archive of it so that "
                f"{self.root} holds raw/, split/ and RELEASE_v{version}.txt.") from e
