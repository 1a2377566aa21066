"""Fixtures of the domain's tests."""

from __future__ import annotations

import pytest

from experimentos.ingest import userlevel_queries as sql


@pytest.fixture
def keyed_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the files that took the keyed path (one row per user in a DuckDB table)."""
    calls: list[int] = []
    original = sql.per_user_table

    def counting(*args: object, **kwargs: object) -> tuple[int, int, int | None]:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sql, "per_user_table", counting)
    return calls
