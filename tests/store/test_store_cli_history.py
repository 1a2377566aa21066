"""``experimentos history``: run(args) over a SQLite history file."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest
from store_helpers import analysis_fields

from experimentos.cli.history_listing import add_parser, main, run
from experimentos.store import Charter, HistoryStore, create_engine_from_url, upgrade


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="experimentos")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["history", *argv])


@pytest.fixture
def history_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"

    async def seed() -> None:
        async with await HistoryStore.open(url) as store:
            old = await store.record_analysis(
                team_id="T1",
                channel_id="C1",
                thread_ts="1.1",
                **analysis_fields("Checkout v2", verdict="hold"),
            )
            await store.record_analysis(
                team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields("Checkout v2")
            )
            await store.record_decision(
                "T1", old.experiment_id, "rolled-back", user_id="U9", reason="Legal\nasked"
            )
            await store.record_analysis(
                team_id="T1", channel_id="C2", thread_ts="2.1", **analysis_fields("Pricing page")
            )
            await store.create_experiment(
                team_id="T1", channel_id="C1", charter=Charter(name="Onboarding quiz")
            )
            await store.record_analysis(
                team_id="T2", channel_id="C1", thread_ts="1.1", **analysis_fields("Other team")
            )

    asyncio.run(seed())
    return url


def test_text_lists_newest_first_with_verdict_looks_and_decision(
    history_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(parse("--database-url", history_url, "--team", "T1")) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("EXP-3") and "Onboarding quiz" in lines[0] and "0 looks" in lines[0]
    assert "proposed" in lines[0]
    pricing = lines.index(next(line for line in lines if "Pricing page" in line))
    checkout = lines.index(next(line for line in lines if "Checkout v2" in line))
    assert pricing < checkout
    assert "Launch" in lines[checkout] and "2 looks" in lines[checkout]
    assert "completed" in lines[checkout]
    assert "Conversion rose by 1.2 pp" in lines[checkout + 1]
    assert lines[checkout + 2].strip().startswith("Decision: rolled-back by U9 on ")
    assert "against the verdict (Launch): Legal asked" in lines[checkout + 2]
    assert "Other team" not in out


def test_json_format_and_filters(history_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("--database-url", history_url, "--team", "T1", "--format", "json")) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["experiment"]["ref"] for r in rows] == ["EXP-3", "EXP-2", "EXP-1"]
    checkout = rows[2]
    assert checkout["latest"]["verdict_kind"] == "launch" and checkout["latest"]["look"] == 2
    assert checkout["experiment"]["look_count"] == 2
    assert checkout["decision"]["decision"] == "rolled-back"
    assert checkout["experiment"]["charter"]["name"] == "Checkout v2"

    run(parse("--database-url", history_url, "--team", "T1", "--channel", "C2", "--format", "json"))
    assert [r["experiment"]["name"] for r in json.loads(capsys.readouterr().out)] == [
        "Pricing page"
    ]
    run(parse("--database-url", history_url, "--search", "checkout", "--format", "json"))
    assert [r["experiment"]["ref"] for r in json.loads(capsys.readouterr().out)] == ["EXP-1"]
    run(parse("--database-url", history_url, "--team", "T1", "--limit", "1", "--format", "json"))
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_without_team_every_team_is_listed(
    history_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", history_url]) == 0
    out = capsys.readouterr().out
    assert "Team T1" in out and "Team T2" in out and "Other team" in out


def test_missing_sqlite_file_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "none.db"
    assert run(parse("--database-url", f"sqlite:///{path}")) == 0
    assert "No history yet" in capsys.readouterr().out
    assert run(parse("--database-url", f"sqlite:///{path}", "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert not path.exists()


def test_empty_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    asyncio.run(_upgrade(url, "head"))
    assert run(parse("--database-url", url)) == 0
    assert capsys.readouterr().out.strip() == "No experiments recorded yet."


def test_outdated_schema_says_how_to_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    asyncio.run(_upgrade(url, "0001"))
    assert run(parse("--database-url", url)) == 1
    err = capsys.readouterr().err
    assert "revision 0001" in err and "python -m experimentos.store upgrade" in err


def test_bad_or_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("--database-url", "mysql://u@h/db")) == 2
    assert "sqlite+aiosqlite" in capsys.readouterr().err
    assert run(parse("--database-url", "postgres://u:secret@127.0.0.1:1/db")) == 1
    err = capsys.readouterr().err
    assert "cannot read postgresql+asyncpg://u:***@127.0.0.1:1/db" in err
    assert "secret" not in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_limit_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        parse("--limit", "0")


async def _upgrade(url: str, revision: str) -> None:
    engine = create_engine_from_url(url)
    try:
        await upgrade(engine, revision)
    finally:
        await engine.dispose()
