r"""The shared dataset layout of :mod:`lps_geometric.datasets.base`: files in
``root/NAME/{raw,processed}``, processed files and markers read with weights-only
loading, a warning when the stored pre-transform differs, and a clear error for a root
that is a file."""
import os.path as osp
import pickle
import warnings

import pytest
import torch
from torch_geometric.data import Data

from lps_geometric.datasets.base import NamedInMemoryDataset, check_root, describe


class Tiny(NamedInMemoryDataset):
    r"""Three small graphs, counted each time they are processed."""
    name = 'tiny'
    processed_count = 0

    def __init__(self, root, transform=None, pre_transform=None, pre_filter=None,
                 force_reload=False):
        super().__init__(root, transform, pre_transform, pre_filter,
                         force_reload=force_reload)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self):
        return []

    @property
    def processed_file_names(self):
        return ['data.pt']

    def download(self):
        pass

    def process(self):
        type(self).processed_count += 1
        data_list = [Data(x=torch.full((i + 1, 1), float(i)),
                          edge_index=torch.zeros(2, 0, dtype=torch.long), y=torch.tensor([i]))
                     for i in range(3)]
        if self.pre_filter is not None:
            data_list = [d for d in data_list if self.pre_filter(d)]
        if self.pre_transform is not None:
            data_list = [self.pre_transform(d) for d in data_list]
        self.save(data_list, self.processed_paths[0])


class Double:
    def __call__(self, data):
        data.x = 2 * data.x
        return data

    def __repr__(self):
        return 'Double()'


def test_describe_drops_memory_addresses():
    assert describe(None) == 'None'
    assert describe(Double()) == 'Double()'

    class Plain:
        pass
    text = describe(Plain())
    assert ' at 0x' in str(Plain()) and ' at 0x' not in text
    assert text.endswith('Plain object>')
    assert describe(Plain()) == text      # the same for every instance


def test_check_root_accepts_directories_and_refuses_files(tmp_path):
    assert check_root(None) is None
    assert check_root(str(tmp_path)) == str(tmp_path)
    assert check_root(str(tmp_path / 'not' / 'yet')) == str(tmp_path / 'not' / 'yet')
    blocker = tmp_path / 'file'
    blocker.write_text('')
    for root in (blocker, blocker / 'below'):
        with pytest.raises(ValueError, match='is a file') as info:
            check_root(str(root))
        assert str(blocker) in str(info.value)


def test_files_live_under_root_name(tmp_path):
    ds = Tiny(str(tmp_path))
    assert ds.raw_dir == osp.join(str(tmp_path), 'tiny', 'raw')
    assert ds.processed_dir == osp.join(str(tmp_path), 'tiny', 'processed')
    assert sorted(p.name for p in (tmp_path / 'tiny' / 'processed').iterdir()) == \
        ['data.pt', 'pre_filter.pt', 'pre_transform.pt']
    assert len(ds) == 3 and [int(d.y) for d in ds] == [0, 1, 2]
    assert [d.num_nodes for d in ds] == [1, 2, 3]


def test_processing_runs_once_then_loads(tmp_path):
    before = Tiny.processed_count
    Tiny(str(tmp_path))
    again = Tiny(str(tmp_path))
    assert Tiny.processed_count == before + 1
    assert len(again) == 3
    Tiny(str(tmp_path), force_reload=True)
    assert Tiny.processed_count == before + 2


def test_pre_transform_marker_is_stored_and_compared(tmp_path):
    ds = Tiny(str(tmp_path), pre_transform=Double())
    assert torch.equal(ds[2].x, torch.full((3, 1), 4.0))
    marker = tmp_path / 'tiny' / 'processed' / 'pre_transform.pt'
    assert torch.load(marker, weights_only=True) == 'Double()'
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        Tiny(str(tmp_path), pre_transform=Double())        # the same: no warning
    with pytest.warns(UserWarning, match='pre_transform'):
        Tiny(str(tmp_path))                                # differs from the stored one


def test_pre_filter_is_applied(tmp_path):
    ds = Tiny(str(tmp_path), pre_filter=lambda d: int(d.y) != 1)
    assert [int(d.y) for d in ds] == [0, 2]


class Payload:
    r"""Unpickling this object would run code; weights-only loading refuses it."""
    def __reduce__(self):
        return (print, ('ran',))


def test_load_never_unpickles_code(tmp_path, capsys):
    ds = Tiny(str(tmp_path))
    path = ds.processed_paths[0]
    with open(path, 'wb') as f:
        pickle.dump(Payload(), f, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        Tiny(str(tmp_path))
    assert 'ran' not in capsys.readouterr().out


def test_load_refuses_unexpected_content(tmp_path):
    ds = Tiny(str(tmp_path))
    torch.save([torch.zeros(2)], ds.processed_paths[0])
    with pytest.raises(ValueError, match='Unexpected content'):
        Tiny(str(tmp_path))


def test_a_root_that_is_a_file_is_named(tmp_path):
    blocker = tmp_path / 'data'
    blocker.write_text('')
    with pytest.raises(ValueError, match="'root'"):
        Tiny(str(blocker / 'inside'))
