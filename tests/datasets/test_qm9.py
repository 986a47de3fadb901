import importlib.util
import json
import math
import os
from pathlib import Path

import pytest
import torch

import lps_geometric.datasets.qm9 as qm9
from lps_geometric.datasets import TARGETS, QM9Pack
from lps_geometric.datasets.qm9 import ATOMREF, HAR2EV, target_index

HEADER = ('XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,'
          'Harmonic_Freq_cmi,RotA_GHz,RotB_GHz,RotC_GHz,Dipole_debye,Polarizability_bohr3,'
          'HOMO_au,LUMO_au,HOMO_LUMO_gap_au,R2_bohr2,ZPVE_au,InternalEnergy_0K_au,'
          'InternalEnergy_298K_au,Enthalphy_298K_au,GibbsFreeEnergy_298K_au,'
          'Heatcapacity_Cv_cal_mol_K')

# The real rows 1 (methane) and 3 (water) of qm9_part1.csv.
METHANE = (
    '"dsgdb9nsd_000001.xyz",1,"C","InChI=1S/CH4/h1H4",5,"[4,1,0,0,0]",'
    '"[\'C\',\'H\',\'H\',\'H\',\'H\']",'
    '"[[-0.0126981359,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,0.0019761204],'
    '[1.0117308433,1.4637511618,0.0002765748],[-0.540815069,1.4475266138,-0.8766437152],'
    '[-0.5238136345,1.4379326443,0.9063972942]]",'
    '"[-0.535689,0.133921,0.133922,0.133923,0.133923]",'
    '"[1341.307,1341.3284,1341.365,1562.6731,1562.7453,3038.3205,3151.6034,3151.6788,'
    '3151.7078]",157.7118,157.70997,157.70699,0.,13.21,-0.3877,0.1171,0.5048,35.3641,'
    '0.044749,-40.47893,-40.476062,-40.475117,-40.498597,6.469')
# Chloromethane-like: 'Cl' is not a QM9 element, so the row is skipped.
CHLORO = (
    '"dsgdb9nsd_000002.xyz",2,"CCl","InChI=1S/CH3Cl/c1-2/h1H3",5,"[3,1,0,0,0]",'
    '"[\'C\',\'Cl\',\'H\',\'H\',\'H\']",'
    '"[[0.0,0.0,0.0],[0.0,0.0,1.78],[1.03,0.0,-0.36],[-0.51,0.89,-0.36],[-0.51,-0.89,-0.36]]",'
    '"[0.,0.,0.,0.,0.]","[1.,2.,3.]",156.,13.3,13.3,1.9,30.,-0.28,0.0,0.28,100.,0.04,'
    '-500.,-500.,-500.,-500.,9.')
WATER = (
    '"dsgdb9nsd_000003.xyz",3,"O","InChI=1S/H2O/h1H2",3,"[2,0,0,1,0]","[\'O\',\'H\',\'H\']",'
    '"[[-0.0343604951,0.9775395708,0.0076015923],[0.0647664923,0.0205721989,0.0015346341],'
    '[0.8717903737,1.3007924048,0.0006931336]]","[-0.589706,0.294853,0.294853]",'
    '"[1671.4222,3803.6305,3907.698]",799.58812,437.90386,282.94545,1.8511,6.31,-0.2928,'
    '0.0687,0.3615,19.0002,0.021375,-76.404702,-76.401867,-76.400922,-76.422349,6.002')

METHANE_POS = [[-0.0126981359, 1.0858041578, 0.0080009958],
               [0.002150416, -0.0060313176, 0.0019761204],
               [1.0117308433, 1.4637511618, 0.0002765748],
               [-0.540815069, 1.4475266138, -0.8766437152],
               [-0.5238136345, 1.4379326443, 0.9063972942]]


def write_raw(root: Path, part1_rows, part2: str = HEADER + '\n') -> Path:
    raw = Path(root) / 'qm9pack' / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    (raw / 'qm9_part1.csv').write_text('\n'.join([HEADER, *part1_rows]) + '\n')
    (raw / 'qm9_part2.csv').write_text(part2)
    (raw / 'qm9_part3.csv').write_text(HEADER + '\n')
    return Path(root)


@pytest.fixture
def fake_root(tmp_path):
    return write_raw(tmp_path, [METHANE, CHLORO, WATER])


@pytest.fixture
def dataset(fake_root):
    with pytest.warns(UserWarning, match='skipped 1 of 3 rows'):
        return QM9Pack(fake_root, log=False)


def test_targets_and_target_index():
    assert len(TARGETS) == 19
    assert TARGETS[4] == ('gap', 'eV') and TARGETS[7] == ('U0', 'eV')
    assert TARGETS[11] == ('cv', 'cal/mol K') and TARGETS[18] == ('C', 'GHz')
    assert target_index('gap') == 4 and target_index('homo') == 2
    assert target_index('U0') == 7 and target_index('u0') == 7
    assert target_index('H') == 9 and target_index('U0_atom') == 12
    assert target_index('G_atom') == 15 and target_index('A') == 16
    assert target_index(3) == 3
    with pytest.raises(ValueError, match='Unknown QM9 target'):
        target_index('energy')
    with pytest.raises(ValueError, match='out of range'):
        target_index(19)


def test_shapes_and_dtypes(dataset):
    assert len(dataset) == 2
    assert repr(dataset) == 'QM9Pack(2, max_molecules=None)'
    methane, water = dataset[0], dataset[1]
    for data, z in ((methane, [6, 1, 1, 1, 1]), (water, [8, 1, 1])):
        n = len(z)
        assert data.z.dtype == torch.long and data.z.tolist() == z
        assert data.x.dtype == torch.float and data.x.shape == (n, 5)
        assert torch.equal(data.x.sum(dim=1), torch.ones(n))
        assert data.x.argmax(dim=1).tolist() == [[1, 6, 7, 8, 9].index(a) for a in z]
        assert data.pos.dtype == torch.float32 and data.pos.shape == (n, 3)
        assert data.y.dtype == torch.float32 and data.y.shape == (1, 19)
        assert data.edge_index.dtype == torch.long and data.edge_index.shape == (2, 0)
        assert data.idx.dtype == torch.long
        assert data.num_nodes == n
    assert methane.smiles == 'C' and water.smiles == 'O'
    assert methane.idx.tolist() == [1] and water.idx.tolist() == [3]
    assert torch.allclose(methane.pos, torch.tensor(METHANE_POS), atol=0, rtol=1e-7)


def test_unit_conversions(dataset):
    y = dataset[0].y[0].double()
    expected = {
        'mu': 0.0, 'alpha': 13.21, 'homo': -0.3877 * HAR2EV, 'lumo': 0.1171 * HAR2EV,
        'gap': 0.5048 * HAR2EV, 'r2': 35.3641, 'zpve': 0.044749 * HAR2EV,
        'U0': -40.47893 * HAR2EV, 'U': -40.476062 * HAR2EV, 'H': -40.475117 * HAR2EV,
        'G': -40.498597 * HAR2EV, 'cv': 6.469,
        'A': 157.7118, 'B': 157.70997, 'C': 157.70699,
    }
    for k, (column, energy) in enumerate(zip(('U0_atom', 'U_atom', 'H_atom', 'G_atom'),
                                             (-40.47893, -40.476062, -40.475117,
                                              -40.498597))):
        reference = ATOMREF['C'][k] + 4 * ATOMREF['H'][k]
        expected[column] = (energy - reference) * HAR2EV
    for name, value in expected.items():
        assert y[target_index(name)].item() == pytest.approx(value, rel=1e-6, abs=1e-6), name
    assert y[4].item() == pytest.approx(13.736, abs=1e-3)
    u0_atom = (-40.47893 - (-37.846772 + 4 * -0.500273)) * 27.211386246
    assert y[12].item() == pytest.approx(u0_atom, rel=1e-6)
    assert u0_atom == pytest.approx(-17.1722, abs=1e-4)
    # water: O + 2 H
    y = dataset[1].y[0].double()
    assert y[12].item() == pytest.approx(
        (-76.404702 - (-75.064579 + 2 * -0.500273)) * HAR2EV, rel=1e-6)
    assert y[16].item() == pytest.approx(799.58812, rel=1e-6)


def test_skipped_reporting(dataset, fake_root):
    assert len(dataset.skipped) == 1
    row, reason = dataset.skipped[0]
    assert row == 1
    assert 'Cl' in reason and 'qm9_part1.csv line 3' in reason
    assert 'dsgdb9nsd_000002.xyz' in reason
    path = fake_root / 'qm9pack' / 'processed' / 'skipped_all.json'
    assert json.loads(path.read_text()) == [[row, reason]]


def test_other_bad_rows_are_skipped(tmp_path):
    mismatch = WATER.replace('"[\'O\',\'H\',\'H\']"', '"[\'O\',\'H\']"')
    unparsable = WATER.replace('"[[-0.0343604951', '"[[-0.0343604951,(')
    not_numeric = WATER.replace(',6.002', ',abc')
    too_short = '"dsgdb9nsd_000009.xyz",9,"C"'
    root = write_raw(tmp_path, [mismatch, METHANE, unparsable, not_numeric, too_short])
    with pytest.warns(UserWarning, match='skipped 4 of 5 rows'):
        dataset = QM9Pack(root, log=False)
    assert len(dataset) == 1 and dataset[0].smiles == 'C'
    rows = [row for row, _ in dataset.skipped]
    reasons = [reason for _, reason in dataset.skipped]
    assert rows == [0, 2, 3, 4]
    assert '2 elements but 3 coordinates' in reasons[0]
    assert 'unparsable' in reasons[1]
    assert 'non-numeric' in reasons[2]
    assert 'fields' in reasons[3]


def test_max_molecules(fake_root):
    with pytest.warns(UserWarning, match='skipped 1 of 3 rows'):
        full = QM9Pack(fake_root, log=False)
    one = QM9Pack(fake_root, max_molecules=1, log=False)
    with pytest.warns(UserWarning, match='skipped 1 of 3 rows'):
        two = QM9Pack(fake_root, max_molecules=2, log=False)  # the bad row does not count
    processed = fake_root / 'qm9pack' / 'processed'
    for tag in ('all', '1', '2'):
        assert (processed / f'data_{tag}.pt').is_file()
        assert (processed / f'skipped_{tag}.json').is_file()
    assert len(full) == 2 and len(one) == 1 and len(two) == 2
    assert repr(one) == 'QM9Pack(1, max_molecules=1)'
    assert one.skipped == []  # stopped before the bad row
    assert [d.smiles for d in two] == ['C', 'O']
    assert torch.equal(one[0].y, full[0].y) and torch.equal(two[1].pos, full[1].pos)
    for bad in (0, -3, 1.5, True):
        with pytest.raises(ValueError, match='max_molecules'):
            QM9Pack(fake_root, max_molecules=bad, log=False)


def test_max_molecules_stops_reading_early(tmp_path):
    # part 2 is not a qm9pack table: reading it would fail
    root = write_raw(tmp_path, [METHANE, WATER], part2='not,a,table\n1,2,3\n')
    dataset = QM9Pack(root, max_molecules=2, log=False)
    assert len(dataset) == 2
    with pytest.raises(ValueError, match='not a qm9pack table'):
        QM9Pack(root, log=False)


def test_reload_from_cache(dataset, fake_root, monkeypatch):
    def fail(self):
        raise AssertionError('processed again')

    monkeypatch.setattr(QM9Pack, 'process', fail)
    again = QM9Pack(fake_root, log=False)
    assert len(again) == 2
    assert again.skipped == dataset.skipped
    for a, b in zip(dataset, again):
        for key in ('x', 'z', 'pos', 'y', 'idx', 'edge_index'):
            assert torch.equal(a[key], b[key])
        assert a.smiles == b.smiles


def radius_graph(data, r=1.5):
    # PyG's RadiusGraph needs pyg-lib or torch-cluster; molecules are small enough for cdist
    dist = torch.cdist(data.pos, data.pos)
    data.edge_index = ((dist < r) & ~torch.eye(data.num_nodes, dtype=torch.bool)).nonzero().t()
    return data


def test_transforms_and_pre_filter(fake_root):
    with pytest.warns(UserWarning, match='skipped 1 of 3 rows'):
        dataset = QM9Pack(fake_root, max_molecules=2, transform=radius_graph,
                          pre_filter=lambda data: data.num_nodes > 3, log=False)
    assert len(dataset) == 1 and dataset[0].smiles == 'C'
    edge_index = dataset[0].edge_index
    assert edge_index.shape == (2, 8)  # the four C-H bonds, both directions
    assert set(edge_index[0].tolist()) == {0, 1, 2, 3, 4}


def test_atomref():
    ref = QM9Pack.atomref('U0')
    assert ref.shape == (100, 1)
    assert ref[6, 0].item() == pytest.approx(-37.846772 * HAR2EV)
    assert ref[1, 0].item() == pytest.approx(-0.500273 * HAR2EV)
    assert ref[0, 0].item() == 0 and ref[17, 0].item() == 0
    assert QM9Pack.atomref('G')[9, 0].item() == pytest.approx(-99.733544 * HAR2EV)
    assert torch.equal(QM9Pack.atomref('zpve'), torch.zeros(100, 1))
    assert QM9Pack.atomref('gap') is None


def test_download_copies_from_package(tmp_path, monkeypatch):
    package = write_raw(tmp_path / 'package', [METHANE, WATER]) / 'qm9pack' / 'raw'
    monkeypatch.setattr(qm9, '_package_data_dir', lambda: str(package))
    dataset = QM9Pack(tmp_path / 'root', log=False)
    assert len(dataset) == 2
    raw = tmp_path / 'root' / 'qm9pack' / 'raw'
    for name in QM9Pack.parts:
        assert (raw / name).read_text() == (package / name).read_text()


def test_download_without_package(tmp_path, monkeypatch):
    monkeypatch.setattr(qm9, '_package_data_dir', lambda: None)
    with pytest.raises(RuntimeError, match='pip install --no-deps qm9pack') as info:
        QM9Pack(tmp_path, log=False)
    assert 'torch_geometric.datasets.QM9' in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec('qm9pack') is None,
                    reason='qm9pack is not installed')
def test_real_package_subset(tmp_path):
    source = qm9._package_data_dir()
    raw = tmp_path / 'qm9pack' / 'raw'
    raw.mkdir(parents=True)
    for name in QM9Pack.parts:  # link, do not copy 225 MB: only 50 rows are read
        os.symlink(os.path.join(source, name), raw / name)
    dataset = QM9Pack(tmp_path, max_molecules=50, log=False)
    assert len(dataset) == 50 and dataset.skipped == []
    y = dataset._data.y
    assert y.shape == (50, 19) and torch.isfinite(y).all()
    assert dataset._data.idx.tolist() == list(range(1, 51))  # none of 1-50 is excluded
    assert set(dataset._data.z.tolist()) <= {1, 6, 7, 8, 9}
    methane = dataset[0]
    assert methane.smiles == 'C'
    assert torch.allclose(methane.pos, torch.tensor(METHANE_POS))
    assert methane.y[0, 4].item() == pytest.approx(0.5048 * HAR2EV, rel=1e-6)
    assert math.isclose(methane.y[0, 12].item(),
                        (-40.47893 - (-37.846772 + 4 * -0.500273)) * HAR2EV, rel_tol=1e-6)
