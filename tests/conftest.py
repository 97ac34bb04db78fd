"""Shared test fixtures.

Real-data tests read the datasets in ``../shared/data`` (next to the repository; override
with WEAKLABEL_SHARED_DATA). They are skipped, with the reason shown, where it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WEAKLABEL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set WEAKLABEL_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding the WRENCH datasets and raw corpora."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def wrench_dir(shared_data: Path):
    """``wrench_dir("youtube")`` -> path of that WRENCH dataset folder."""
    return lambda name: _require(shared_data / name)
