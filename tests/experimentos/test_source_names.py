"""The name an experiment gets from its data's source when no name is given."""

from __future__ import annotations

import pytest

from experimentos.analysis.look_plan import default_name, source_stem
from experimentos.model import Options


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("checkout.csv", "checkout"),
        ("exports/checkout.CSV", "checkout"),
        ("exports/checkout.parquet", "checkout"),
        ("exports/checkout/*.parquet", "checkout"),
        ("exports/checkout/*/part-*.parquet", "checkout"),
        ("C:\\exports\\checkout.csv", "checkout"),
        ("weekly_pull.sql", "weekly_pull"),
        ("query on postgresql://analyst:***@db.internal:5432/analytics", "analytics"),
        ("query on postgresql://db.internal/analytics?sslmode=require", "analytics"),
        ("results.tsv", "results.tsv"),
    ],
)
def test_the_name_comes_from_the_file_its_folder_or_its_database(source: str, name: str) -> None:
    assert source_stem(source) == name


def test_a_given_name_wins_and_an_empty_source_is_untitled() -> None:
    assert default_name(Options(name="Checkout v2"), "exports/*.parquet") == "Checkout v2"
    assert default_name(Options(), "*.parquet") == "*.parquet"
    assert default_name(Options(), ".csv") == "Untitled experiment"
