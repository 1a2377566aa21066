"""A bug in the command line is one line and exit code 70, not a traceback; the traceback is
shown on request."""

from __future__ import annotations

import argparse

import pytest

from experimentos.cli import commands


def _broken(_: argparse.Namespace) -> int:
    raise KeyError("promotion")


def test_an_unexpected_error_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(commands.sources, "analyse_source", lambda *a, **k: _broken(a[0]))
    monkeypatch.delenv("EXPERIMENTOS_TRACEBACK", raising=False)
    code = commands.main(["analyze", "--source", "duckdb:///x.db", "--query", "SELECT 1"])
    err = capsys.readouterr().err
    assert code == commands.EXIT_UNEXPECTED == 70
    [line] = err.strip().splitlines()
    assert line.startswith("experimentos: unexpected error (KeyError: 'promotion')")
    assert "EXPERIMENTOS_TRACEBACK=1" in line and "Traceback" not in err


def test_the_traceback_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands.sources, "analyse_source", lambda *a, **k: _broken(a[0]))
    monkeypatch.setenv("EXPERIMENTOS_TRACEBACK", "1")
    with pytest.raises(KeyError, match="promotion"):
        commands.main(["analyze", "--source", "duckdb:///x.db", "--query", "SELECT 1"])
