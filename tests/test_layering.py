r"""The import layers of the package, as a test: pure group math at the bottom, the layer
and the diagnostics on top, no package importing one above it.

Every module is given the rank of the longest prefix in :data:`RANKS`. A module may
import a module of a lower rank, or one of its own sub-package of a rank not above its
own (package ``__init__`` files, which gather their package, are not checked as
importers). Imports of another sub-package inside functions are refused too (they hide
cycles), except in the modules that load lazily on purpose (:data:`LAZY`). :data:`KNOWN`
would list violations allowed for a while; a new one fails the suite.
"""
import ast
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

PACKAGE = Path(__file__).resolve().parents[1] / 'lps_geometric'

#: The layers, bottom up.
RANKS: Dict[str, int] = {
    'lps_geometric.utils': 0,
    'lps_geometric.groups': 1,
    'lps_geometric.nn.conv': 2,            # networks that samplers and backbones use
    'lps_geometric.nn.models': 2,
    'lps_geometric.nn.capabilities': 2,    # what a backbone declares (read by the layer)
    'lps_geometric.samplers.base': 2,      # the sampler contract, which frames implement
    'lps_geometric.samplers.relaxation': 2,
    'lps_geometric.datasets': 2,
    'lps_geometric.frames': 3,
    'lps_geometric.samplers': 3,
    'lps_geometric.nn': 4,                 # backbones, patch embedding, transformer
    'lps_geometric.samplers.factory': 4,   # every method by name, over frames and samplers
    'lps_geometric.samplers.registry': 4,  # the (method, group kind) table of the factory
    'lps_geometric.nn.symmetrize': 5,      # the layer
    'lps_geometric.nn.relaxation': 5,      # relaxes layers and the layer as a whole
    'lps_geometric.diagnostics': 6,
    'lps_geometric.testing': 7,
    'lps_geometric.training': 8,
    'lps_geometric.cli': 9,
    'lps_geometric': 10,                   # the package face
}
#: Pairs (importer prefix, imported prefix) refused whatever the ranks say.
FORBIDDEN = (('lps_geometric.nn.backbones', 'lps_geometric.samplers'),)
#: Modules that import parts of the package inside functions on purpose: the command
#: line starts without torch, the package face loads names on first use (PEP 562).
LAZY = ('lps_geometric.cli', 'lps_geometric')
#: Violations allowed for now, as (importer, imported) pairs with the reason in a comment
#: (none at present: add one only with its reason, and remove it when it is fixed).
KNOWN: Set[Tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def rank(module: str) -> int:
    best = max((p for p in RANKS if module == p or module.startswith(p + '.')),
               key=len, default=None)
    assert best is not None, f'{module} has no layer in RANKS'
    return RANKS[best]


def imports(path: Path) -> Iterator[Tuple[str, bool]]:
    r"""``(imported module, at module level)`` for every import of the package."""
    module = module_name(path)
    tree = ast.parse(path.read_text())
    top = set()
    for node in tree.body:
        for child in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
            top.add(id(child))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split('.')
                if path.name != '__init__.py':
                    base = base[:-1]
                base = base[:len(base) - node.level + 1]
                name = '.'.join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ''
            names = [name]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name == 'lps_geometric' or name.startswith('lps_geometric.'):
                yield name, id(node) in top


def violations() -> Set[Tuple[str, str]]:
    found = set()
    for path in sorted(PACKAGE.rglob('*.py')):
        module = module_name(path)
        package = '.'.join(module.split('.')[:2])
        for name, at_top in imports(path):
            own = name.startswith(package + '.') or name == package
            if own:
                if path.name == '__init__.py':
                    continue                  # a package gathering its own modules
                wrong = rank(name) > rank(module)
            else:
                wrong = rank(name) >= rank(module)
            wrong |= any(module.startswith(a) and name.startswith(b) for a, b in FORBIDDEN)
            # another package's module imported inside a function hides a cycle (inside
            # its own package, a lazy import serves an optional dependency)
            wrong |= not at_top and not own and module not in LAZY
            if wrong:
                found.add((module, name))
    return found


def test_every_module_has_a_layer():
    for path in PACKAGE.rglob('*.py'):
        rank(module_name(path))


def test_imports_follow_the_layers():
    found = violations()
    new = sorted(found - KNOWN)
    assert not new, ('imports against the layers (lower packages must not import higher '
                     'ones; no package imports inside functions):\n'
                     + '\n'.join(f'  {a} -> {b}' for a, b in new))
    gone = sorted(KNOWN - found)
    assert not gone, ('fixed, remove from KNOWN:\n'
                      + '\n'.join(f'  {a} -> {b}' for a, b in gone))


def test_groups_import_nothing_above_utils():
    for path in (PACKAGE / 'groups').rglob('*.py'):
        for name, _ in imports(path):
            assert name.startswith(('lps_geometric.groups', 'lps_geometric.utils')), \
                (module_name(path), name)


ENTRY_POINTS = ('lps_geometric.utils', 'lps_geometric.groups', 'lps_geometric.nn.models',
                'lps_geometric.samplers', 'lps_geometric.frames', 'lps_geometric.nn',
                'lps_geometric.diagnostics', 'lps_geometric.testing',
                'lps_geometric.datasets', 'lps_geometric.training')


def test_every_sub_package_imports_first():
    r"""A cycle shows only when its first module is imported first: import each
    sub-package alone in a fresh interpreter (one process for all, via ``-c``
    scripts that each start from an empty module cache)."""
    import subprocess
    import sys
    script = ('import importlib, sys\n'
              'for name in sys.argv[1:]:\n'
              '    for key in [k for k in sys.modules if k.startswith("lps_geometric")]:\n'
              '        del sys.modules[key]\n'
              '    importlib.import_module(name)\n')
    result = subprocess.run([sys.executable, '-c', script, *ENTRY_POINTS],
                            capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr[-2000:]
