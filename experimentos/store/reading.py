"""Read-only access for the command line: never creates a database nor upgrades its schema."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from experimentos.charter import ExperimentSummary
from experimentos.store.engine import create_engine_from_url, normalize_database_url
from experimentos.store.engine import redact_database_url as redact
from experimentos.store.errors import SchemaOutdated
from experimentos.store.failures import unavailable
from experimentos.store.migrate import current_revision, head_revision
from experimentos.store.repository import HistoryStore


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for PostgreSQL or an in-memory database)."""
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


async def read_history(
    url: str,
    *,
    team_id: str | None = None,
    channel_id: str | None = None,
    text: str | None = None,
    limit: int = 20,
) -> dict[str, list[ExperimentSummary]]:
    """Experiment summaries by team (one team, or every team in the database), newest first.

    Raises SchemaOutdated when the schema is not the newest, StoreUnavailable when the database
    cannot be read; a SQLite file that does not exist reads as an empty history.
    """
    url = normalize_database_url(url)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return {}
    try:
        async with HistoryStore(create_engine_from_url(url), owns_engine=True) as store:
            revision, head = await current_revision(store.engine), head_revision()
            if revision != head:
                state = (
                    "has no history tables" if revision is None else f"is at revision {revision}"
                )
                raise SchemaOutdated(
                    f"{redact(url)} {state}; the newest is {head}. Run `python -m experimentos.store"
                    " upgrade` (the bot upgrades it when it starts)."
                )
            teams = [team_id] if team_id else await store.teams()
            return {
                team: await store.list_experiments(
                    team, channel_id=channel_id, text=text, limit=limit
                )
                for team in teams
            }
    except (SQLAlchemyError, OSError) as error:
        raise unavailable(url, error, doing="read") from error
