r"""Every Python code block of the user documents runs, and every command line they show
parses.

* `````python`` blocks of ``README.md``, ``docs/*.md``, ``datasets/README.md`` and
  ``benchmarks/README.md`` are executed in order, one namespace per document (a later
  block may use the names of an earlier one), in a fresh working directory, offline.
* ``lps-geometric ...``, ``python examples/NAME.py ...`` and ``python benchmarks/NAME.py
  ...`` lines of `````bash`` blocks and inline code are parsed with the real argument
  parsers, so a renamed or removed option in a document fails the suite.
"""
import contextlib
import importlib.util
import io
import re
import shlex
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([REPO / 'README.md', REPO / 'datasets' / 'README.md',
                    REPO / 'benchmarks' / 'README.md', *(REPO / 'docs').glob('*.md')])
# an argument that stands for a value the reader chooses: `...`, `a|b`, `<path>`, `SEED`
PLACEHOLDER = re.compile(r'\.\.\.|…|.*[|<>].*|[A-Z][A-Z_]{0,11}')
FENCE = re.compile(r'^```(\w*)[^\n]*\n(.*?)^```', re.S | re.M)


def code_blocks(path: Path, language: str) -> List[Tuple[int, str]]:
    r"""``(line number, code)`` of every fenced block of ``language`` in ``path``."""
    text = path.read_text()
    return [(text.count('\n', 0, m.start()) + 1, m.group(2))
            for m in FENCE.finditer(text) if m.group(1) == language]


def documents_with(language: str) -> List[Path]:
    return [p for p in DOCUMENTS if p.exists() and code_blocks(p, language)]


def test_the_documents_exist():
    assert (REPO / 'README.md').exists() and (REPO / 'docs' / 'README.md').exists()
    assert documents_with('python'), 'no Python code block found in the documents'


@pytest.mark.parametrize('path', documents_with('python'),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_python_blocks_run(path: Path, tmp_path, monkeypatch):
    import torch
    monkeypatch.chdir(tmp_path)
    # the blocks run many small operations, which one thread runs fastest on a shared CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace = {'__name__': '__docs__'}
    try:
        for line, code in code_blocks(path, 'python'):
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(code, f'{path.name}:{line}', 'exec'), namespace)
            except Exception as error:  # name the block that failed
                raise AssertionError(f'{path.relative_to(REPO)}, the block at line {line} '
                                     f'failed: {error!r}\n{code}') from error
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------
# command lines
# ---------------------------------------------------------------------------------------
def command_lines(path: Path) -> Iterator[Tuple[int, List[str]]]:
    r"""``(line, argv)`` of every ``lps-geometric``, ``python examples/...`` and
    ``python benchmarks/...`` command in the bash blocks and inline code of ``path``
    (shell chains split at ``&&``, leading environment assignments dropped)."""
    text = path.read_text()
    snippets = [(line, code) for line, code in code_blocks(path, 'bash')]
    snippets += [(text.count('\n', 0, m.start()) + 1, m.group(1))
                 for m in re.finditer(r'(?<!`)`([^`\n]+)`(?!`)', text)]
    for line, code in snippets:
        code = code.replace('\\\n', ' ')
        for row in code.splitlines():
            for part in row.split('&&'):
                part = part.split('#')[0].strip()
                part = re.sub(r'^(?:[A-Z_]+=\S*\s+)+', '', part)  # PYTHONPATH=. ...
                if part.startswith('lps-geometric ') or re.match(
                        r'python3? (examples|benchmarks)/\w+\.py', part):
                    try:
                        argv = shlex.split(part)
                    except ValueError:  # a fragment such as `--dataset a|b`
                        continue
                    if not any(PLACEHOLDER.fullmatch(a) for a in argv):
                        yield line, argv


def all_commands():
    return [pytest.param(argv, id=f'{p.relative_to(REPO)}:{line}')
            for p in DOCUMENTS if p.exists() for line, argv in command_lines(p)]


def load_example(name: str, folder: str = 'examples'):
    spec = importlib.util.spec_from_file_location(name, REPO / folder / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('argv', all_commands())
def test_documented_commands_parse(argv: List[str], capsys):
    try:
        if argv[0] == 'lps-geometric':
            from lps_geometric.cli import build_parser
            build_parser().parse_args(argv[1:])
        else:
            script = Path(argv[1])
            module = load_example(script.stem, script.parent.name)
            if hasattr(module, 'parse_args'):
                module.parse_args(argv[2:])
            else:   # benchmarks/train_step.py
                module.build_parser().parse_args(argv[2:])
    except SystemExit as stop:  # --help exits with 0, a bad option with 2
        assert stop.code == 0, capsys.readouterr().err
