"""A warehouse this build does not run is refused in one line that points to a README section
that exists (how to reach BigQuery, Snowflake or Trino)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experimentos.config import load_thresholds
from experimentos.errors import ExperimentError
from experimentos.ingest.sql_source import read_query
from experimentos.model import Options

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    "url",
    [
        "snowflake://reader:pw-123@account/db/schema?warehouse=WH",
        "bigquery://project/dataset",
        "trino://reader@host:443/hive/web",
    ],
)
def test_other_warehouses_are_one_line_pointing_to_the_readme(url: str) -> None:
    with pytest.raises(ExperimentError) as refused:
        read_query(url, "SELECT 1", options=Options(), thresholds=load_thresholds())
    line = refused.value.message
    backend = url.split(":", 1)[0]
    assert f"{backend} sources are not supported in this build" in line
    assert "pw-123" not in line and "\n" not in line
    [section] = re.findall(r"README: ([^)]+)\)", line)
    headings = {h.lstrip("#").strip() for h in README.read_text().splitlines()}
    assert section in headings
