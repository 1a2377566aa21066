"""Races between processes and a store that cannot be used, as `analyze --record` meets them.

Concurrent records of one experiment name make one experiment with looks 1..n, each analysed for
its own look number (the peeking warning survives); concurrent writers of one Slack event store
it once (the unique event key, not only the check before the insert); a corrupt, unwritable or
unreachable store ends in one line naming it and exit code 2, with nothing else printed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from store_helpers import POSTGRES_SKIP, ROOT, TEST_DATABASE_URL, Database, analysis_fields, finish

from experimentos.cli import commands as cli
from experimentos.store import (
    Charter,
    DuplicateEventError,
    HistoryStore,
    LookCountChanged,
    create_engine_from_url,
)
from experimentos.store.tables import AnalysisRow

RACE_WORKER = Path(__file__).resolve().parent / "race_worker.py"
LAUNCH_CSV = ROOT / "examples" / "launch.csv"
WRITERS = 20
CLI_WRITERS = 8
"""Command-line processes raced end to end (each starts a Python; 20 in-process writers above)."""
POSTGRES = [pytest.mark.postgres, pytest.mark.skipif(not TEST_DATABASE_URL, reason=POSTGRES_SKIP)]


# --------------------------------------------------------------------------- helpers


def run_cli(*argv: str) -> subprocess.Popen[str]:
    """The real command line in its own process (``python -m experimentos.cli.commands``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "experimentos.cli.commands", *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_race_worker(database: Database, key: str, experiment_id: int) -> subprocess.Popen[str]:
    """race_worker.py on ``database``: it connects, says ready, and writes on a line of stdin."""
    env = {
        **os.environ,
        "STORE_TEST_URL": database.url,
        "STORE_TEST_SCHEMA": database.schema or "",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, str(RACE_WORKER), key, str(experiment_id)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def record_args(url: str, *extra: str) -> list[str]:
    return ["analyze", str(LAUNCH_CSV), "--record", "--database-url", url, *extra]


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", marks=POSTGRES)]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL the command line can be given as it is: a SQLite file, or a fresh PostgreSQL
    database (a schema cannot be named in the URL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
        return
    name = f"store_races_{uuid.uuid4().hex[:12]}"
    admin = create_engine_from_url(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.dispose()


async def stores(database: Database, count: int) -> list[HistoryStore]:
    """``count`` stores with an engine each, standing for that many bot processes."""
    return [HistoryStore(database.engine(), owns_engine=True) for _ in range(count)]


# --------------------------------------------------------------------------- one name, one experiment


@pytest.mark.slow
async def test_concurrent_cli_records_of_one_name_make_one_experiment(database_url: str) -> None:
    runs = [run_cli(*record_args(database_url, "--name", "same")) for _ in range(CLI_WRITERS)]
    results = [await asyncio.to_thread(finish, run, 240) for run in runs]
    assert [code for code, _, _ in results] == [0] * CLI_WRITERS, [err for _, _, err in results]
    said = sorted(err.strip().splitlines()[-1] for _, _, err in results)
    assert said == sorted(f"recorded as EXP-1, look {k}" for k in range(1, CLI_WRITERS + 1))

    async with await HistoryStore.open(database_url) as store:
        [summary] = await store.list_experiments("local", limit=100)
        assert (summary.experiment.name, summary.experiment.look_count) == ("same", CLI_WRITERS)
        looks = await store.analyses_for("local", summary.experiment.id)
    assert [look.look for look in looks] == list(range(1, CLI_WRITERS + 1))
    # Each look was analysed for its own number: look k > 1 carries the peeking warning for k.
    for look in looks:
        warnings = look.result["warnings"]
        if look.look == 1:
            assert warnings == []
        else:
            assert len(warnings) == 1
            assert warnings[0].startswith(f"Peeking: this is look {look.look} at an experiment")


async def test_concurrent_named_records_share_one_experiment(
    database: Database, store: HistoryStore
) -> None:
    writers = await stores(database, WRITERS)
    try:
        stored = await asyncio.gather(
            *(
                store.record_analysis(
                    team_id="local",
                    channel_id="cli",
                    by_name=True,
                    **analysis_fields("same", user_id=f"U{i}"),
                )
                for i, store in enumerate(writers)
            )
        )
    finally:
        for store in writers:
            await store.close()
    assert len({record.experiment_id for record in stored}) == 1
    assert sorted(record.look for record in stored) == list(range(1, WRITERS + 1))
    [summary] = await store.list_experiments("local")
    assert (summary.experiment.name, summary.experiment.look_count) == ("same", WRITERS)


async def test_named_records_match_the_exact_name(store: HistoryStore) -> None:
    """A number-like name is a name, not EXP-n; another case or a longer name is another
    experiment."""
    names = ["3", "Same", "same", "same but longer", "same"]
    stored = [
        await store.record_analysis(
            team_id="local", channel_id="cli", by_name=True, **analysis_fields(name)
        )
        for name in names
    ]
    assert [record.look for record in stored] == [1, 1, 1, 1, 2]
    assert stored[4].experiment_id == stored[2].experiment_id
    assert len({record.experiment_id for record in stored}) == 4
    found = await store.find_experiment_by_name("local", "cli", "3")
    assert found is not None and (found.name, found.look_count) == ("3", 1)
    assert await store.find_experiment_by_name("local", "cli", "sam") is None


async def test_a_look_analysed_for_a_stale_count_is_not_stored(store: HistoryStore) -> None:
    first = await store.record_analysis(
        team_id="local", channel_id="cli", by_name=True, prior_looks=0, **analysis_fields("same")
    )
    with pytest.raises(LookCountChanged) as raised:
        await store.record_analysis(
            team_id="local",
            channel_id="cli",
            by_name=True,
            prior_looks=0,
            **analysis_fields("same"),
        )
    assert (raised.value.experiment_id, raised.value.look_count) == (first.experiment_id, 1)
    assert [a.look for a in await store.analyses_for("local", first.experiment_id)] == [1]
    experiment = await store.get_experiment_by_id("local", first.experiment_id)
    assert experiment.look_count == 1
    second = await store.record_analysis(
        team_id="local", channel_id="cli", by_name=True, prior_looks=1, **analysis_fields("same")
    )
    assert (second.experiment_id, second.look) == (first.experiment_id, 2)


# --------------------------------------------------------------------------- one event, one row


async def event_rows(store: HistoryStore, event_key: str) -> int:
    async with store._read() as session:
        query = select(AnalysisRow.id).where(AnalysisRow.event_key == event_key)
        return len((await session.execute(query)).all())


@pytest.mark.parametrize("experiments", [1, WRITERS], ids=["one-experiment", "own-experiments"])
async def test_concurrent_writers_of_one_event_store_it_once(
    database: Database, store: HistoryStore, experiments: int
) -> None:
    """Redelivered copies of one Slack event reach several bot processes, none of which claimed
    it: the first analysis is stored, every other writer gets DuplicateEventError."""
    targets = [
        (
            await store.create_experiment(
                team_id="T1", channel_id="C1", charter=Charter(name=f"E{i}"), thread_ts=f"{i}.1"
            )
        ).id
        for i in range(experiments)
    ]
    key = "T1:F1:1700000000.000100"
    writers = await stores(database, WRITERS)
    try:
        outcomes = await asyncio.gather(
            *(
                writer.record_analysis(
                    team_id="T1",
                    channel_id="C1",
                    experiment_id=targets[i % experiments],
                    event_key=key,
                    **analysis_fields(user_id=f"U{i}"),
                )
                for i, writer in enumerate(writers)
            ),
            return_exceptions=True,
        )
    finally:
        for writer in writers:
            await writer.close()
    stored = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(stored) == 1, f"{len(stored)} analyses stored for one event"
    assert all(isinstance(error, DuplicateEventError) for error in refused), refused
    assert await event_rows(store, key) == 1
    looks = [await store.analyses_for("T1", target) for target in targets]
    assert sum(len(found) for found in looks) == 1
    assert [
        e.look_count
        for e in await asyncio.gather(*(store.get_experiment_by_id("T1", t) for t in targets))
    ] == [len(found) for found in looks]


@pytest.mark.slow
async def test_bot_processes_racing_one_event_store_it_once(
    database: Database, store: HistoryStore
) -> None:
    created = await store.create_experiment(
        team_id="T1", channel_id="C1", charter=Charter(name="Redelivered"), thread_ts="1.1"
    )
    key = "T1:F7:1700000000.000700"
    workers = [start_race_worker(database, key, created.id) for _ in range(8)]
    try:
        for worker in workers:  # every worker connected before any writes
            assert worker.stdout is not None
            line = await asyncio.to_thread(worker.stdout.readline)
            assert line.strip() == "ready", worker.stderr.read() if worker.stderr else line
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [await asyncio.to_thread(finish, worker, 120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [code for code, _, _ in results] == [0] * len(workers), [e for _, _, e in results]
    said = sorted(out.strip() for _, out, _ in results)
    assert said == ["duplicate"] * (len(workers) - 1) + ["stored 1"]
    assert await event_rows(store, key) == 1
    assert (await store.get_experiment_by_id("T1", created.id)).look_count == 1


# --------------------------------------------------------------------------- unusable stores


def assert_one_line_refusal(capsys: pytest.CaptureFixture[str], code: int, *expected: str) -> str:
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # no report: it would pass for a recorded look
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("experimentos: the look was not recorded: cannot ")
    assert "run without --record" in lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_record_into_a_corrupt_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "x.db"
    garbage = bytes(range(256)) * 16
    corrupt.write_bytes(garbage)
    url = f"sqlite+aiosqlite:///{corrupt}"
    code = cli.main(record_args(url))
    assert_one_line_refusal(capsys, code, url, "file is not a database")
    assert corrupt.read_bytes() == garbage  # left as it was


def test_record_into_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}"
    code = cli.main(record_args(url))
    assert_one_line_refusal(capsys, code, url, f"{tmp_path} is a directory, not a database file")


def test_record_under_a_plain_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path under a regular file: unwritable for any user, root included."""
    (tmp_path / "plain").write_text("not a folder")
    url = f"sqlite+aiosqlite:///{tmp_path / 'plain' / 'history.db'}"
    code = cli.main(record_args(url))
    assert_one_line_refusal(capsys, code, url, f"{tmp_path / 'plain'} is not a folder")
    assert (tmp_path / "plain").read_text() == "not a folder"


def test_record_into_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'absent' / 'history.db'}"
    code = cli.main(record_args(url))
    assert_one_line_refusal(capsys, code, url, f"the folder {tmp_path / 'absent'} does not exist")
    assert not (tmp_path / "absent").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders and files")
@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "existing-file"])
def test_record_into_a_read_only_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], existing: bool
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    if existing:
        assert cli.main(record_args(f"sqlite:///{folder / 'history.db'}")) == 0
        capsys.readouterr()
    folder.chmod(0o555)
    try:
        url = f"sqlite+aiosqlite:///{folder / 'history.db'}"
        code = cli.main(record_args(url))
        assert_one_line_refusal(capsys, code, url, f"the folder {folder} is not writable")
    finally:
        folder.chmod(0o755)


def test_record_into_an_unreachable_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/test"
    code = cli.main(record_args(url))
    line = assert_one_line_refusal(
        capsys, code, "postgresql+asyncpg://postgres:***@127.0.0.1:1/test", "connection refused"
    )
    assert "s3cret" not in line
    assert "None" not in line


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DATABASE_URL, reason=POSTGRES_SKIP)
def test_record_into_a_missing_postgresql_database(capsys: pytest.CaptureFixture[str]) -> None:
    name = f"absent_{uuid.uuid4().hex[:8]}"
    url = make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    code = cli.main(record_args(url))
    assert_one_line_refusal(capsys, code, f'database "{name}" does not exist')


def test_record_failure_from_the_real_command_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "x.db"
    corrupt.write_bytes(b"\x00\xff" * 2048)
    code, out, err = finish(run_cli(*record_args(f"sqlite:///{corrupt}")), 120)
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    assert err.strip() == (
        f"experimentos: the look was not recorded: cannot open sqlite+aiosqlite:///{corrupt}: "
        "file is not a database. Check --database-url (or DATABASE_URL), or run without "
        "--record to see the analysis."
    )


def test_history_and_upgrade_name_the_reason_without_driver_prefixes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from experimentos.cli.history_listing import main as history
    from experimentos.store.__main__ import main as store_command

    corrupt = tmp_path / "x.db"
    corrupt.write_bytes(b"\x00\xff" * 2048)
    assert history(["--database-url", f"sqlite:///{corrupt}"]) == 1
    assert capsys.readouterr().err == (
        f"experimentos history: cannot read sqlite+aiosqlite:///{corrupt}: file is not a database\n"
    )
    url = "postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/test"
    assert store_command(["--database-url", url, "upgrade"]) == 1
    assert capsys.readouterr().err == (
        "experimentos.store: postgresql+asyncpg://postgres:***@127.0.0.1:1/test: "
        "connection refused (Connect call failed ('127.0.0.1', 1))\n"
    )
