from pathlib import Path

import pytest
import torch

from lps_geometric.datasets import NBodyCharged, simulate_charged_particles
from lps_geometric.datasets.nbody import complete_edge_index

SMALL = dict(num_train=6, num_val=4, num_test=3, frame_input=2, frame_target=3)


# dataset -------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('nbody'))


def test_dataset_items(root):
    ds = NBodyCharged(root, split='train', **SMALL)
    assert len(ds) == 6
    assert repr(ds) == 'NBodyCharged(6, split=train, frames=2->3)'
    edge_index = complete_edge_index(5)
    assert edge_index.shape == (2, 20)
    assert (edge_index[0] != edge_index[1]).all()
    assert len(set(map(tuple, edge_index.t().tolist()))) == 20
    sim = simulate_charged_particles(6, num_steps=400, seed=ds.split_seed('train'))
    for i, data in enumerate(ds):
        assert data.num_nodes == 5
        for key in ('pos', 'vel', 'y'):
            assert data[key].shape == (5, 3) and data[key].dtype == torch.float32
        for key in ('x', 'charge'):
            assert data[key].shape == (5, 1) and data[key].dtype == torch.float32
        assert torch.equal(data.x, data.charge)
        assert torch.equal(data.edge_index, edge_index)
        assert data.edge_attr.shape == (20, 1) and data.edge_attr.dtype == torch.float32
        src, dst = data.edge_index
        assert torch.equal(data.edge_attr, data.charge[src] * data.charge[dst])
        assert torch.equal(data.charge.view(-1), sim['charge'][i].float())
        assert torch.equal(data.pos, sim['pos'][i, 2].float())
        assert torch.equal(data.vel, sim['vel'][i, 2].float())
        assert torch.equal(data.y, sim['pos'][i, 3].float())  # the later frame
        assert not torch.equal(data.y, data.pos)


def test_dataset_splits_and_reload(root, monkeypatch):
    sizes = {split: len(NBodyCharged(root, split=split, **SMALL))
             for split in ('train', 'val', 'test')}
    assert sizes == {'train': 6, 'val': 4, 'test': 3}
    train = NBodyCharged(root, split='train', **SMALL)
    val = NBodyCharged(root, split='val', **SMALL)
    assert [train.split_seed(s) for s in train.splits] == [126, 127, 128]
    assert not torch.equal(train[0].pos, val[0].pos)

    files = sorted(p.name for p in Path(train.processed_dir).glob('nbody_charged_*.pt'))
    assert files == sorted(f'nbody_charged_{s}_n5_sizes6-4-3_frames2-3_seed42.pt'
                           for s in ('train', 'val', 'test'))

    # Reloading reads the processed files (no simulation) with weights_only=True.
    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', recording_load)
    monkeypatch.setattr(NBodyCharged, 'process',
                        lambda self: pytest.fail('processed files were not reused'))
    again = NBodyCharged(root, split='train', **SMALL)
    assert calls and all(w is True for w in calls)
    for key in ('x', 'pos', 'vel', 'charge', 'edge_index', 'edge_attr', 'y'):
        assert torch.equal(again._data[key], train._data[key])


def test_dataset_configurations(root):
    base = NBodyCharged(root, split='test', **SMALL)
    other_seed = NBodyCharged(root, split='test', **{**SMALL, 'seed': 7})
    assert len(other_seed) == 3
    assert not torch.equal(base._data.pos, other_seed._data.pos)
    # The test split depends on neither the other sizes nor the target frame.
    other = NBodyCharged(root, split='test', num_train=2, num_val=2, num_test=3,
                         frame_input=2, frame_target=4)
    assert torch.equal(other._data.pos, base._data.pos)
    assert not torch.equal(other._data.y, base._data.y)
    later = NBodyCharged(root, split='test', num_train=2, num_val=2, num_test=3,
                         frame_input=3, frame_target=4)
    assert torch.equal(later._data.pos, base._data.y)
    assert torch.equal(later._data.y, other._data.y)


@pytest.mark.parametrize('kwargs', [
    dict(split='valid'),
    dict(split='training'),
    dict(num_train=0),
    dict(frame_input=3, frame_target=3),
    dict(frame_input=-1),
    dict(seed=-1),
])
def test_dataset_invalid_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        NBodyCharged(str(tmp_path), **{**SMALL, **kwargs})
    assert not (tmp_path / 'nbody_charged').exists()


def test_dataset_transforms(tmp_path):
    def center(data):
        data.pos = data.pos - data.pos.mean(dim=0)
        return data

    plain = NBodyCharged(str(tmp_path / 'a'), split='val', **SMALL)
    ds = NBodyCharged(str(tmp_path / 'b'), split='val', pre_transform=center,
                      transform=lambda d: d.update({'x': 2 * d.x}), **SMALL)
    assert torch.allclose(ds._data.pos.view(4, 5, 3).mean(dim=1), torch.zeros(4, 3),
                          atol=1e-6)
    assert torch.equal(ds._data.y, plain._data.y)
    assert torch.equal(ds[0].x, 2 * plain[0].x)
    with pytest.warns(UserWarning, match='pre_transform'):
        NBodyCharged(str(tmp_path / 'b'), split='val', **SMALL)
