"""``python -m experimentos.store upgrade|downgrade|current|ini``: manage the history schema."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from experimentos.store.engine import (
    create_engine_from_url,
    database_url_from_env,
    normalize_database_url,
    redact_database_url,
)
from experimentos.store.failures import failure_reason
from experimentos.store.migrate import (
    ALEMBIC_INI,
    current_revision,
    downgrade,
    head_revision,
    run_sync,
    upgrade,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experimentos.store", description="Manage the ExperimentOS history schema."
    )
    parser.add_argument(
        "--database-url",
        help="database URL (default: $DATABASE_URL, else sqlite+aiosqlite:///experimentos.db)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upgrade", help="upgrade the schema (to the newest by default)")
    up.add_argument("revision", nargs="?", default="head")
    down = commands.add_parser("downgrade", help="downgrade the schema to REVISION")
    down.add_argument("revision")
    commands.add_parser("current", help="print the schema's revision and the newest one")
    commands.add_parser("ini", help="print the path of alembic.ini, for Alembic's command line")
    args = parser.parse_args(argv)
    if args.command == "ini":
        print(ALEMBIC_INI)
        return 0
    try:
        url = normalize_database_url(args.database_url) if args.database_url else None
        url = url or database_url_from_env()
    except ValueError as error:
        print(f"experimentos.store: {error}", file=sys.stderr)
        return 2
    try:
        before, after = run_sync(_apply(url, args.command, getattr(args, "revision", None)))
    except (SQLAlchemyError, OSError) as error:
        print(
            f"experimentos.store: {redact_database_url(url)}: {failure_reason(error)}",
            file=sys.stderr,
        )
        return 1
    where = redact_database_url(url)
    if args.command == "current":
        print(f"{where}: revision {before or '(empty)'}; newest is {head_revision()}")
    else:
        print(f"{where}: {before or '(empty)'} → {after or '(empty)'}")
    return 0


async def _apply(url: str, command: str, revision: str | None) -> tuple[str | None, str | None]:
    engine = create_engine_from_url(url)
    try:
        before = await current_revision(engine)
        if command == "upgrade":
            await upgrade(engine, revision or "head")
        elif command == "downgrade":
            await downgrade(engine, revision or "-1")
        return before, await current_revision(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
