"""A charter may name only the variables the operator lists as data sources."""

from __future__ import annotations

import re
from pathlib import Path

from bot.source_access import allowed_sources, refusal

README = Path(__file__).resolve().parents[2] / "README.md"


def test_only_listed_variables_are_sources() -> None:
    environ = {"EXPERIMENTOS_SOURCES": "WAREHOUSE_URL,  ANALYTICS_URL\nLAKE_URL"}
    assert allowed_sources(environ) == {"WAREHOUSE_URL", "ANALYTICS_URL", "LAKE_URL"}
    assert refusal("ANALYTICS_URL", environ) is None
    line = refusal("DATABASE_URL", environ)
    assert line is not None and line.startswith("DATABASE_URL is not a data source")


def test_nothing_is_a_source_until_the_operator_lists_it() -> None:
    assert allowed_sources({}) == frozenset()
    assert refusal("WAREHOUSE_URL", {"WAREHOUSE_URL": "postgresql://h/db"}) is not None


def test_the_readme_section_the_refusal_points_to_exists() -> None:
    [section] = re.findall(r"README: ([^)]+)\)", str(refusal("X", {})))
    headings = {line.lstrip("#").strip() for line in README.read_text().splitlines()}
    assert section in headings


def test_a_platform_is_connected_by_its_key_variable() -> None:
    from bot.source_access import platform_refusal

    assert platform_refusal("statsig", {"STATSIG_CONSOLE_KEY": "console-1"}) is None
    line = platform_refusal("growthbook", {"STATSIG_CONSOLE_KEY": "console-1"})
    assert line == (
        "GrowthBook is not connected: set `GROWTHBOOK_API_KEY` in the bot's environment."
    )
