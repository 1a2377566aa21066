"""The history store: experiments, their looks (analyses) and the team's decisions.

SQLAlchemy 2 async over SQLite (aiosqlite, the default) or PostgreSQL (asyncpg), with Alembic
migrations shipped in the package. Typical use::

    store = await HistoryStore.open(os.environ.get("DATABASE_URL"))   # upgrades the schema
    if await store.claim_event(team_id, event_key):
        record = await store.record_analysis(team_id=..., channel_id=..., thread_ts=...,
                                             **fields_from_analysis(analysis), event_key=event_key)

Schema upgrades by hand: ``python -m experimentos.store upgrade`` (see :mod:`.migrate`).
"""

from experimentos.charter import (
    AnalysisBrief,
    AnalysisRecord,
    Charter,
    CharterChange,
    CharterGuardrail,
    DecisionRecord,
    ExperimentRecord,
    ExperimentSummary,
    Rice,
    parse_ref,
)
from experimentos.store.engine import (
    DEFAULT_DATABASE_URL,
    create_engine_from_url,
    database_url_from_env,
    normalize_database_url,
    redact_database_url,
)
from experimentos.store.errors import (
    AnalysisNotFound,
    DecisionReasonRequired,
    DuplicateEventError,
    ExperimentNotFound,
    LookCountChanged,
    SchemaOutdated,
    StoreError,
    StoreUnavailable,
    ThreadTaken,
)
from experimentos.store.failures import failure_reason, open_store, reported_as_unavailable
from experimentos.store.fields import fields_from_analysis
from experimentos.store.migrate import current_revision, head_revision, upgrade, upgrade_to_head
from experimentos.store.reading import read_history, sqlite_file
from experimentos.store.repository import HistoryStore

__all__ = [
    "DEFAULT_DATABASE_URL",
    "AnalysisBrief",
    "AnalysisNotFound",
    "AnalysisRecord",
    "Charter",
    "CharterChange",
    "CharterGuardrail",
    "DecisionReasonRequired",
    "DecisionRecord",
    "DuplicateEventError",
    "ExperimentNotFound",
    "ExperimentRecord",
    "ExperimentSummary",
    "HistoryStore",
    "LookCountChanged",
    "Rice",
    "SchemaOutdated",
    "StoreError",
    "StoreUnavailable",
    "ThreadTaken",
    "create_engine_from_url",
    "current_revision",
    "database_url_from_env",
    "failure_reason",
    "fields_from_analysis",
    "head_revision",
    "normalize_database_url",
    "open_store",
    "parse_ref",
    "read_history",
    "redact_database_url",
    "reported_as_unavailable",
    "sqlite_file",
    "upgrade",
    "upgrade_to_head",
]
