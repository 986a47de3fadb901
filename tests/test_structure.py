r"""The tests mirror the package, file by file, for the sub-packages in :data:`MIRRORED`.

A module ``lps_geometric/<package>/<path>/<module>.py`` has its tests in
``tests/<package>/<path>/test_<module>.py``; a private module (``_ogb.py``) may drop its
leading underscore (``test_ogb.py``). Package ``__init__`` files are not modules to
mirror. Further test files (tests that cut across modules) are allowed.
"""
import ast
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / 'lps_geometric'
TESTS = REPO / 'tests'

#: The sub-packages (dotted, below ``lps_geometric``) whose modules each have a test file.
MIRRORED = ('datasets', 'diagnostics', 'utils', 'testing', 'frames', 'nn', 'samplers',
            'groups', 'training')


def modules(package: str) -> List[Path]:
    r"""The modules of ``package``, its sub-packages included, relative to the package
    root."""
    root = PACKAGE.joinpath(*package.split('.'))
    return sorted(p.relative_to(PACKAGE) for p in root.rglob('*.py')
                  if p.name != '__init__.py')


def expected_test_files(module: Path) -> List[Path]:
    r"""The accepted test files of ``module`` (a path relative to the package root)."""
    folder = TESTS / module.parent
    names = [f'test_{module.stem}.py']
    if module.stem.startswith('_'):
        names.append(f'test_{module.stem.lstrip("_")}.py')
    return [folder / name for name in names]


def has_a_test(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
               and node.name.startswith('test') for node in ast.walk(tree))


@pytest.mark.parametrize('package', MIRRORED)
def test_the_mirrored_packages_exist(package):
    assert (PACKAGE.joinpath(*package.split('.')) / '__init__.py').is_file(), package
    assert modules(package), f'lps_geometric.{package} has no modules'


@pytest.mark.parametrize('package', MIRRORED)
def test_every_module_has_its_test_file(package):
    missing, empty = [], []
    for module in modules(package):
        found = [p for p in expected_test_files(module) if p.is_file()]
        if not found:
            missing.append(f'  lps_geometric/{module} -> '
                           f'{expected_test_files(module)[-1].relative_to(REPO)}')
        elif not any(has_a_test(p) for p in found):
            empty.append(f'  {found[0].relative_to(REPO)}')
    assert not missing, 'modules without a test file:\n' + '\n'.join(missing)
    assert not empty, 'test files without a test function:\n' + '\n'.join(empty)


def test_the_rule_maps_paths_as_documented():
    expect = expected_test_files
    assert expect(Path('datasets/csl.py')) == [TESTS / 'datasets' / 'test_csl.py']
    assert expect(Path('datasets/_ogb.py')) == [TESTS / 'datasets' / 'test__ogb.py',
                                                TESTS / 'datasets' / 'test_ogb.py']
    assert expect(Path('nn/backbones/mpnn.py')) == [
        TESTS / 'nn' / 'backbones' / 'test_mpnn.py']
