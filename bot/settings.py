"""The bot's own settings: tokens, endpoints and limits, read once from the environment.

`experimentos.config` owns the analysis thresholds; this module owns what only the Slack shell needs.
Tokens are kept out of ``repr`` so that logging a settings object never leaks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///experimentos.db"
SLACK_FILE_HOSTS = ("files.slack.com",)
DEFAULT_DIGEST = "weekly mon 09:00"
DIGEST_OFF = ("off", "none", "never", "false", "0")

ExecutorKind = Literal["process", "thread"]


class SettingsError(Exception):
    """A missing or malformed environment variable; ``str(error)`` is the one line to print."""


@dataclass(frozen=True, slots=True)
class BotSettings:
    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    host: str = "0.0.0.0"  # noqa: S104 - a platform's router must reach the web process
    port: int = 3000
    log_level: str = "INFO"
    database_url: str = DEFAULT_DATABASE_URL
    max_download_bytes: int = 50 * 1024 * 1024
    executor: ExecutorKind = "process"
    analysis_workers: int = 2
    analysis_timeout_s: float = 120.0
    file_shared_grace_s: float = 3.0
    """How long a ``file_shared`` event waits for its ``file_share`` message (which carries options)."""
    event_retention_s: float = 24 * 3600.0
    """Claimed event keys older than this are forgotten (Slack retries within minutes)."""
    event_sweep_interval_s: float = 3600.0
    scheduler: bool = False
    """Run scheduled looks and the digest in this process (``python -m bot`` turns it on; tests
    start a runtime's scheduler themselves)."""
    digest_schedule: str | None = DEFAULT_DIGEST
    """When each channel's digest is posted (normalized schedule text; None: never)."""
    schedule_sync_s: float = 300.0
    """How often the scheduler re-reads the charters' schedules (other processes save them too)."""

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @property
    def api_origin(self) -> tuple[str, str]:
        """(scheme, host:port) of the Web API: the only host besides Slack's file host that sees
        the bot token."""
        parts = urlsplit(self.api_url)
        return parts.scheme, parts.netloc.lower()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BotSettings:
        """Build settings from environment variables; raise SettingsError naming the variable
        (every missing one at once)."""
        _check_required(env, ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"))
        return cls(
            bot_token=_required(env, "SLACK_BOT_TOKEN"),
            signing_secret=_required(env, "SLACK_SIGNING_SECRET"),
            app_token=env.get("SLACK_APP_TOKEN") or None,
            api_url=_api_url(env.get("SLACK_API_URL") or DEFAULT_API_URL),
            host=env.get("HOST") or "0.0.0.0",  # noqa: S104
            port=_integer(env, "PORT", 3000, minimum=0),
            log_level=_log_level(env.get("LOG_LEVEL") or "INFO"),
            database_url=normalise_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
            max_download_bytes=_integer(env, "MAX_DOWNLOAD_BYTES", 50 * 1024 * 1024, minimum=1),
            executor=_executor(env.get("ANALYSIS_EXECUTOR") or "process"),
            analysis_workers=_integer(env, "ANALYSIS_WORKERS", 2, minimum=1),
            scheduler=True,
            digest_schedule=digest_schedule(env.get("EXPERIMENTOS_DIGEST")),
        )


def digest_schedule(raw: str | None) -> str | None:
    """``EXPERIMENTOS_DIGEST``: a schedule (``weekly mon 09:00``, a crontab; UTC), ``off``, or
    unset for the default (Monday 09:00 UTC)."""
    from experimentos.schedule import ScheduleError, parse_schedule

    text = (raw or "").strip()
    if not text:
        return DEFAULT_DIGEST
    if text.lower() in DIGEST_OFF:
        return None
    try:
        return parse_schedule(text).text
    except ScheduleError as error:
        raise SettingsError(f"EXPERIMENTOS_DIGEST: {error} Or `off`.") from None


def normalise_database_url(url: str) -> str:
    """Map the ``postgres://`` / ``postgresql://`` URLs set by hosting platforms to asyncpg
    (the history store's own rules: see :func:`experimentos.store.normalize_database_url`)."""
    from experimentos.store.engine import normalize_database_url

    try:
        return normalize_database_url(url)
    except ValueError as error:
        raise SettingsError(f"DATABASE_URL: {error}") from None


SETUP_SECTION = "README, 'Slack' → 'Create the app'"
"""Where the README says how to get the tokens (a heading that exists: tested)."""


def _check_required(env: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not (env.get(name) or "").strip()]
    if not missing:
        return
    if len(missing) == 1:
        what = f"{missing[0]} is not set: export it"
    else:
        what = f"{' and '.join(missing)} are not set: export them"
    raise SettingsError(f"{what} (see {SETUP_SECTION}) and retry.")


def _required(env: Mapping[str, str], name: str) -> str:
    _check_required(env, (name,))
    return env[name].strip()


def _integer(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}.") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}.")
    return value


def _api_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"SLACK_API_URL must be an http(s) URL, got {raw!r}.")
    return raw if raw.endswith("/") else raw + "/"


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {raw!r}.")
    return level


def _executor(raw: str) -> ExecutorKind:
    kind = raw.strip().lower()
    if kind == "process":
        return "process"
    if kind == "thread":
        return "thread"
    raise SettingsError(f"ANALYSIS_EXECUTOR must be 'process' or 'thread', got {raw!r}.")
