r"""Fixtures that locate the read-only offline copies of the raw dataset files.

The shared data directory is ``$LPS_SHARED_DATA`` if set, else ``<repo>/../shared/data``.
It holds ``<name>/raw/<file>`` (PyG layout). Tests copy a raw file into a temporary root and
build the dataset there, so nothing is ever downloaded and the shared copy is never written.
"""
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='session')
def shared_data_dir() -> Path:
    env = os.environ.get('LPS_SHARED_DATA')
    path = Path(env) if env else REPO_ROOT.parent / 'shared' / 'data'
    if not path.is_dir():
        pytest.skip(f'offline dataset copies not found at {path} (set LPS_SHARED_DATA)')
    return path


@pytest.fixture(scope='session')
def copy_raw(shared_data_dir: Path) -> Callable[[str, str, Path], Path]:
    r"""``copy_raw(name, filename, root)`` copies ``<shared>/<name>/raw/<filename>`` to
    ``root/<name>/raw/<filename>`` (skipping the test if the shared copy is missing) and
    returns ``root``."""
    def copy(name: str, filename: str, root: Path) -> Path:
        src = shared_data_dir / name / 'raw' / filename
        if not src.is_file():
            pytest.skip(f'offline copy {src} not found')
        dst = Path(root) / name / 'raw' / filename
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)  # contents only: the shared copy is read-only
        return Path(root)

    return copy
