"""Shared fixtures: paths to the bundled examples and the shared real data set."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture
def cookie_cats() -> bytes:
    path = SHARED_DATA / "cookie_cats.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared Cookie Cats data set ships beside the repo")
    return path.read_bytes()
