r"""The package's top level: exactly the names in :data:`PUBLIC`, each resolving to the
object of its sub-package, loaded on first use so that ``import lps_geometric`` does not
import torch, and names that used to be there pointing to their new place."""
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lps_geometric

REPO = Path(__file__).resolve().parents[1]

#: The top-level names and the sub-package that defines each.
PUBLIC = {
    'Symmetrize': 'nn',
    'build_sampler': 'samplers',
    'PermutationSampler': 'samplers',
    'EuclideanFrameSampler': 'samplers',
    'ProductSampler': 'samplers',
    'AdjacencyPatchTransformer': 'nn',
    'PositionalGIN': 'nn',
    'PyGBackbone': 'nn',
    'MPNN': 'nn',
    'equivariance_error': 'diagnostics',
    'assert_equivariant': 'diagnostics',
    'GraphInputError': 'utils',
}
SUBPACKAGES = ('datasets', 'diagnostics', 'frames', 'groups', 'nn', 'samplers', 'testing',
               'training', 'utils')
#: Names the top level exported before it was reduced, with their sub-package now.
MOVED = {
    'EuclideanGroup': 'groups', 'LorentzGroup': 'groups', 'OrthogonalGroup': 'groups',
    'Permutation': 'groups', 'ProductGroup': 'groups', 'SymmetricGroup': 'groups',
    'UnitaryGroup': 'groups',
    'EGNN': 'nn', 'AdjacencyMLP': 'nn', 'ConcatEdgeGeometry': 'nn',
    'ConcatNodeFeatures': 'nn', 'EGNNConv': 'nn', 'PositionEncoding': 'nn',
    'ExhaustivePermutationSampler': 'samplers', 'GroupSample': 'samplers',
    'UniformPermutationSampler': 'samplers', 'UniformProductSampler': 'samplers',
    'UniformRotationSampler': 'samplers',
    'GraphMinimalFrameSampler': 'frames', 'LaplacianFrameSampler': 'frames',
    'LorentzMinimalFrameSampler': 'frames', 'OrthogonalMinimalFrameSampler': 'frames',
    'PCAFrameSampler': 'frames', 'ProductMinimalFrameSampler': 'frames',
    'SetMinimalFrameSampler': 'frames', 'SortedProductFrameSampler': 'frames',
    'UnitaryMinimalFrameSampler': 'frames',
    'EquivarianceReport': 'diagnostics', 'LayerwiseReport': 'diagnostics',
    'SampleSpread': 'diagnostics', 'layerwise_equivariance_error': 'diagnostics',
    'sample_spread': 'diagnostics',
    'validate_graph_batch': 'utils',
}


def test_all_is_pinned():
    assert lps_geometric.__all__ == [*PUBLIC, '__version__']
    assert len(set(lps_geometric.__all__)) == len(lps_geometric.__all__)


def test_version_matches_the_package_metadata():
    setup = (REPO / 'setup.cfg').read_text()
    assert f'version = {lps_geometric.__version__}\n' in setup


@pytest.mark.parametrize('name', list(PUBLIC))
def test_every_name_resolves_to_its_sub_package_object(name):
    value = getattr(lps_geometric, name)
    module = importlib.import_module(f'lps_geometric.{PUBLIC[name]}')
    assert value is getattr(module, name)
    assert name in module.__all__
    namespace = {}
    exec(f'from lps_geometric import {name}', namespace)
    assert namespace[name] is value


def test_star_import_gives_exactly_all():
    namespace = {}
    exec('from lps_geometric import *', namespace)
    assert set(namespace) - {'__builtins__'} == set(lps_geometric.__all__)


def test_sub_packages_are_attributes():
    for name in SUBPACKAGES:
        assert getattr(lps_geometric, name) is importlib.import_module(
            f'lps_geometric.{name}')


def test_dir_lists_the_public_names_and_sub_packages_only():
    listed = dir(lps_geometric)
    assert listed == sorted(listed)
    assert set(lps_geometric.__all__) | set(SUBPACKAGES) <= set(listed)
    extra = {n for n in listed if not n.startswith('__')} - set(PUBLIC) - set(SUBPACKAGES)
    assert not extra, f'dir() lists names outside the public face: {sorted(extra)}'
    assert not set(MOVED) & set(listed)


@pytest.mark.parametrize('name', sorted(MOVED))
def test_a_moved_name_says_where_it_is(name):
    with pytest.raises(AttributeError) as info:
        getattr(lps_geometric, name)
    assert str(info.value) == (f'lps_geometric.{name} moved: use '
                               f'lps_geometric.{MOVED[name]}.{name}')
    assert not hasattr(lps_geometric, name)
    # ... and it is there
    assert name in importlib.import_module(f'lps_geometric.{MOVED[name]}').__all__
    with pytest.raises(ImportError):
        exec(f'from lps_geometric import {name}', {})


def test_an_unknown_name_is_a_plain_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'not_a_name'"):
        lps_geometric.not_a_name   # noqa: B018
    assert getattr(lps_geometric, 'not_a_name', None) is None


def test_the_public_and_moved_names_are_disjoint():
    assert not set(PUBLIC) & set(MOVED)


def test_import_does_not_import_torch():
    script = ('import sys\n'
              'import lps_geometric\n'
              'assert lps_geometric.__version__\n'
              'assert sorted(dir(lps_geometric))\n'
              'loaded = sorted(m for m in sys.modules if m == "torch" or '
              'm.startswith(("torch.", "torch_geometric")))\n'
              'assert not loaded, loaded\n'
              'assert not [m for m in sys.modules if m.startswith("lps_geometric.")]\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True,
                            text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize('package', SUBPACKAGES)
def test_every_sub_package_name_resolves(package):
    module = importlib.import_module(f'lps_geometric.{package}')
    names = module.__all__
    assert len(set(names)) == len(names), f'{package}.__all__ repeats a name'
    assert not [n for n in names if n.startswith('_')]
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f'lps_geometric.{package}.__all__ names missing objects: {missing}'
