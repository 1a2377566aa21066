"""Shared fixtures: paths to the bundled examples and the shared real data set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw fresh examples on every local run, to keep finding new cases. CI
# (HYPOTHESIS_PROFILE=ci, set by .ci/run) draws a fixed set per test, derived from the test's
# source, so a run passes or fails on the change under test and not on the draw; a failure
# found locally goes into the test as an @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

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
