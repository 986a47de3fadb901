from pathlib import Path

import pytest
import torch

from lps_geometric.datasets import NBodyCharged, simulate_charged_particles
from lps_geometric.datasets.nbody import (complete_edge_index, orientation_rotations,
                                          principal_axes_rotation)

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


# field and orientations ----------------------------------------------------------------

def _random_rotation(seed):
    q, r = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(seed)))
    q = q * torch.sign(torch.diagonal(r))
    return q * torch.linalg.det(q)


def test_principal_axes_rotation_is_a_canonical_proper_rotation():
    pos = torch.randn(20, 5, 3, dtype=torch.float64,
                      generator=torch.Generator().manual_seed(0))
    rot = principal_axes_rotation(pos)
    assert torch.allclose(rot @ rot.transpose(-1, -2), torch.eye(3, dtype=torch.float64),
                          atol=1e-12)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(20, dtype=torch.float64))
    q = _random_rotation(1)
    # the same canonical pose for every rotated copy of a system
    canonical = (pos - pos.mean(1, keepdim=True)) @ rot.transpose(-1, -2)
    turned = pos @ q.T
    again = (turned - turned.mean(1, keepdim=True)) @ principal_axes_rotation(
        turned).transpose(-1, -2)
    assert torch.allclose(canonical, again, atol=1e-10)
    # principal axes along x, y, z: a diagonal covariance with falling variances
    cov = canonical.transpose(-1, -2) @ canonical
    off = cov - torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
    assert off.abs().max() < 1e-10
    var = torch.diagonal(cov, dim1=-2, dim2=-1)
    assert (var[:, 0] >= var[:, 1]).all() and (var[:, 1] >= var[:, 2]).all()


@pytest.mark.parametrize('kind', ['principal', 'about_z', 'uniform'])
def test_orientation_rotations(kind):
    pos = torch.randn(400, 5, 3, dtype=torch.float64,
                      generator=torch.Generator().manual_seed(2))
    rot = orientation_rotations(kind, pos, torch.Generator().manual_seed(3))
    assert torch.allclose(torch.linalg.det(rot), torch.ones(400, dtype=torch.float64))
    turn = rot @ principal_axes_rotation(pos).transpose(-1, -2)    # R R_c^T
    z = torch.tensor([0., 0., 1.], dtype=torch.float64)
    if kind == 'principal':
        assert torch.allclose(turn, torch.eye(3, dtype=torch.float64).expand_as(turn),
                              atol=1e-12)
    elif kind == 'about_z':      # the z axis stays fixed, the angle covers the circle
        assert torch.allclose(turn @ z, z.expand(400, 3), atol=1e-12)
        angle = torch.atan2(turn[:, 1, 0], turn[:, 0, 0])
        assert angle.min() < -2.8 and angle.max() > 2.8
    else:                        # Haar: the image of z is spread over the sphere
        image = turn @ z
        assert image.mean(0).abs().max() < 0.1
        assert (image[:, 2] < -0.5).any() and (image[:, 2] > 0.5).any()
    with pytest.raises(ValueError, match='orientation_rotations takes'):
        orientation_rotations('simulated', pos, torch.Generator())


def test_dataset_field_and_orientation(tmp_path):
    plain = NBodyCharged(str(tmp_path), split='val', **SMALL)
    field = NBodyCharged(str(tmp_path), split='val', field=(0, 0, 0.5), **SMALL)
    assert repr(field) == 'NBodyCharged(4, split=val, frames=2->3, field=(0.0, 0.0, 0.5))'
    sim = simulate_charged_particles(4, num_steps=400, seed=field.split_seed('val'),
                                     field=(0, 0, 0.5))
    assert torch.equal(field._data.y.view(4, 5, 3), sim['pos'][:, 3].float())
    assert not torch.equal(field._data.y, plain._data.y)
    for kind in ('principal', 'about_z', 'uniform'):
        ds = NBodyCharged(str(tmp_path), split='val', orientation=kind, **SMALL)
        assert kind in repr(ds)
        for a, b in zip(plain, ds):   # one rigid motion about the input's centroid
            centre = a.pos.double().mean(0)
            rot = torch.linalg.lstsq(a.vel.double(), b.vel.double()).solution.T
            assert torch.allclose(rot @ rot.T, torch.eye(3, dtype=torch.float64),
                                  atol=1e-4)
            for x, y in ((a.pos, b.pos), (a.y, b.y)):
                assert torch.allclose((x.double() - centre) @ rot.T + centre, y.double(),
                                      atol=1e-4)
            assert torch.equal(a.charge, b.charge)
    # the files differ by configuration; bad values are refused
    names = {NBodyCharged(str(tmp_path), orientation=k, **SMALL).processed_file_names[0]
             for k in ('simulated', 'about_z')}
    assert len(names) == 2
    with pytest.raises(ValueError, match='Invalid orientation'):
        NBodyCharged(str(tmp_path), orientation='sideways', **SMALL)
    with pytest.raises(ValueError, match='field must be three'):
        NBodyCharged(str(tmp_path), field=(1.0,), **SMALL)
    with pytest.raises(ValueError, match='cannot be combined'):
        NBodyCharged(str(tmp_path), field=(0, 0, 1.0), orientation='about_z', **SMALL)
