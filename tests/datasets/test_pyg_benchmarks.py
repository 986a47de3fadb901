r"""The released PATTERN/CLUSTER and LRGB files, read weights-only from files in their
on-disk layout that the tests write."""
import os
from pathlib import Path

import pytest
import torch

from lps_geometric.datasets.pyg_benchmarks import (LRGB_NAMES, SafeGNNBenchmarkDataset,
                                                   SafeLRGBDataset, SplitDataset,
                                                   categorical_nodes, gnn_benchmark_sbm,
                                                   lrgb_dataset, read_weights_only)
from tests.datasets.released_files import write_gnn_benchmark, write_lrgb


class _Payload:
    r"""Unpickling this runs code (writes a marker file)."""
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.mark.parametrize('name', LRGB_NAMES)
def test_lrgb_layout_and_split(tmp_path, name):
    write_lrgb(tmp_path, name, graphs_per_split=5)
    dataset = lrgb_dataset(name, str(tmp_path))
    assert isinstance(dataset, SplitDataset) and len(dataset) == 15
    split = dataset.get_idx_split()
    assert [split[k].tolist() for k in ('train', 'valid', 'test')] == \
        [list(range(5)), list(range(5, 10)), list(range(10, 15))]
    raw = torch.load(tmp_path / name / 'raw' / 'val.pt', weights_only=True)
    graph = dataset[6]
    assert torch.equal(graph.x, raw[1][0]) and torch.equal(graph.edge_index, raw[1][2])
    assert torch.equal(graph.edge_attr, raw[1][1])
    if name == 'pcqm-contact':
        assert torch.equal(graph.edge_label_index, raw[1][3])
        assert torch.equal(graph.edge_label, raw[1][4])
    else:
        assert torch.equal(graph.y, raw[1][3])
        assert graph.y.shape == (1, 10 if name == 'peptides-func' else 11)
    processed = sorted(p.name for p in (tmp_path / name / 'processed').iterdir())
    assert processed == ['pre_filter.pt', 'pre_transform.pt', 'test.pt', 'train.pt',
                         'val.pt']
    assert len(lrgb_dataset(name, str(tmp_path))) == 15


def test_lrgb_pre_transform(tmp_path):
    write_lrgb(tmp_path, 'peptides-func', graphs_per_split=2)

    def mark(data):
        data.marked = torch.ones(1)
        return data
    dataset = SafeLRGBDataset(str(tmp_path), 'peptides-func', 'test', pre_transform=mark)
    assert dataset[0].marked.item() == 1


def test_a_raw_file_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'executed'
    raw = tmp_path / 'peptides-func' / 'raw'
    raw.mkdir(parents=True)
    for split in ('train', 'val', 'test'):
        torch.save([_Payload(str(marker))], raw / f'{split}.pt')
    with pytest.raises(ValueError, match='weights_only=True'):
        lrgb_dataset('peptides-func', str(tmp_path))
    assert not marker.exists()


def test_a_processed_file_that_runs_code_is_refused(tmp_path):
    write_lrgb(tmp_path, 'peptides-struct', graphs_per_split=2)
    lrgb_dataset('peptides-struct', str(tmp_path))
    marker = tmp_path / 'executed'
    torch.save((_Payload(str(marker)), {}), tmp_path / 'peptides-struct' / 'processed'
               / 'val.pt')
    with pytest.raises(Exception):
        SafeLRGBDataset(str(tmp_path), 'peptides-struct', 'val')
    assert not marker.exists()
    torch.save(_Payload(str(marker)), tmp_path / 'peptides-struct' / 'processed'
               / 'pre_transform.pt')
    with pytest.raises(Exception):
        SafeLRGBDataset(str(tmp_path), 'peptides-struct', 'train')
    assert not marker.exists()


def test_malformed_raw_entries_say_what_is_expected(tmp_path):
    raw = tmp_path / 'pcqm-contact' / 'raw'
    raw.mkdir(parents=True)
    for split in ('train', 'val', 'test'):
        torch.save([(torch.zeros(2, 9), torch.zeros(1, 3))], raw / f'{split}.pt')
    with pytest.raises(ValueError, match='tuple of 5 tensors'):
        lrgb_dataset('pcqm-contact', str(tmp_path))


@pytest.mark.parametrize('name', ['pascalvoc-sp', 'coco-sp', 'zinc'])
def test_other_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match='reads'):
        SafeLRGBDataset(str(tmp_path), name)


def test_bad_split_names(tmp_path):
    with pytest.raises(ValueError, match="'split'"):
        SafeLRGBDataset(str(tmp_path), 'peptides-func', 'valid')
    with pytest.raises(ValueError, match="'split'"):
        SafeGNNBenchmarkDataset(str(tmp_path), 'PATTERN', 'valid')
    with pytest.raises(ValueError, match='PATTERN'):
        SafeGNNBenchmarkDataset(str(tmp_path), 'MNIST')


@pytest.mark.parametrize('name,width', [('PATTERN', 3), ('CLUSTER', 7)])
def test_gnn_benchmark_route(tmp_path, name, width):
    write_gnn_benchmark(tmp_path, name, graphs_per_split=4)
    dataset = gnn_benchmark_sbm(name.lower(), str(tmp_path))
    raw = torch.load(tmp_path / name / 'raw' / f'{name}_v2.pt', weights_only=True)
    counts = [len(part) for part in raw]
    assert len(dataset) == sum(counts)
    split = dataset.get_idx_split()
    assert [len(split[k]) for k in ('train', 'valid', 'test')] == counts
    first_test = dataset[int(split['test'][0])]
    # one-hot rows become category indices, as in the generated datasets
    assert first_test.x.dtype == torch.long and first_test.x.dim() == 1
    assert torch.equal(first_test.x, raw[2][0]['x'].argmax(1))
    assert torch.equal(first_test.y, raw[2][0]['y'])
    assert int(first_test.x.max()) < width


def test_gnn_benchmark_refuses_code(tmp_path):
    marker = tmp_path / 'executed'
    raw = tmp_path / 'CLUSTER' / 'raw'
    raw.mkdir(parents=True)
    torch.save([[_Payload(str(marker))], [], []], raw / 'CLUSTER_v2.pt')
    with pytest.raises(ValueError, match='weights_only=True'):
        gnn_benchmark_sbm('cluster', str(tmp_path))
    assert not marker.exists()


def test_gnn_benchmark_layout_is_checked(tmp_path):
    raw = tmp_path / 'PATTERN' / 'raw'
    raw.mkdir(parents=True)
    torch.save([[], []], raw / 'PATTERN_v2.pt')
    with pytest.raises(ValueError, match='three splits'):
        gnn_benchmark_sbm('pattern', str(tmp_path))


def test_split_dataset_indexing():
    parts = dict(train=[1, 2], valid=[3], test=[4, 5, 6])
    dataset = SplitDataset(parts, 'numbers')
    assert [dataset[i] for i in range(len(dataset))] == [1, 2, 3, 4, 5, 6]
    assert dataset[-1] == 6
    with pytest.raises(IndexError):
        dataset[6]
    with pytest.raises(ValueError, match='splits'):
        SplitDataset(dict(train=[1]))
    assert 'train=2' in repr(dataset)


def test_categorical_nodes():
    from torch_geometric.data import Data
    one_hot = Data(x=torch.eye(3)[torch.tensor([2, 0, 1])], num_nodes=3)
    assert categorical_nodes(one_hot).x.tolist() == [2, 0, 1]
    column = Data(x=torch.tensor([[1.0], [0.0]]))
    assert categorical_nodes(column).x.tolist() == [1, 0]
    with pytest.raises(ValueError, match='no node features'):
        categorical_nodes(Data(num_nodes=2))


def test_read_weights_only_names_the_file(tmp_path):
    path = tmp_path / 'bad.pt'
    path.write_bytes(b'not a torch file')
    with pytest.raises(ValueError, match='bad.pt'):
        read_weights_only(str(path))
