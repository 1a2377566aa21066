"""One small interface over the experimentation platforms, and the HTTP behaviour they share.

A provider lists a platform's experiments and fetches one experiment's results as per-variant,
per-metric sufficient statistics (:class:`PlatformResults`), with the platform's own lift,
interval and p kept for cross-checking. :func:`experimentos.platforms.table.stats_table` turns
them into the StatsTable every reader produces, so the analysis applies unchanged.

API keys come from the environment and are sent only in request headers: they are never logged,
never in an error line, never stored.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx

from experimentos.errors import ExperimentError
from experimentos.model import Finding

PlatformKind = Literal["proportion", "mean", "approximate"]
"""``proportion``: 0/1 per user (Σx² = Σx, exact); ``mean``: n, Σx, Σx² rebuilt exactly;
``approximate``: only n, mean and sd are known (ratio, CUPED-reduced, quantile metrics)."""
MetricRoleName = Literal["goal", "guardrail", "secondary"]

TIMEOUT_SECONDS = 20.0
MAX_RETRIES = 4
"""429 and 5xx responses are retried at most this many times per request."""
MAX_TOTAL_WAIT_SECONDS = 60.0
"""The most one request waits in all for Retry-After and back-off before it gives up."""


class PlatformError(ExperimentError):
    """A platform call failed: one line naming the platform and what to do."""


@dataclass(frozen=True, slots=True)
class VariantStats:
    """One metric in one variant: n, Σx, Σx² (Σx² rebuilt from the platform's sd)."""

    variant: str
    n: int
    total: float
    total_sq: float
    segment: str = ""
    """A dimension's value when the results are broken down ('' overall)."""

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan


@dataclass(frozen=True, slots=True)
class PlatformLift:
    """The platform's own comparison of one variant with the control on one metric."""

    variant: str
    relative: float | None
    """Relative lift as a fraction (0.05 = +5%)."""
    relative_ci: tuple[float, float] | None
    p_value: float | None
    method: str
    """How the platform computed it, e.g. "GrowthBook Bayesian, relative"."""
    absolute: float | None = None
    absolute_ci: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class PlatformMetric:
    key: str
    """Column-style name used in the analysis (lowercase, ``_``-separated)."""
    label: str
    """The platform's name or id of the metric."""
    kind: PlatformKind
    role: MetricRoleName
    variants: tuple[VariantStats, ...]
    """Control first."""
    lifts: tuple[PlatformLift, ...] = ()
    note: str | None = None
    """Why the figures are approximate (ratio, CUPED-reduced sd, …)."""


@dataclass(frozen=True, slots=True)
class PlatformResults:
    platform: str
    """Display name: "GrowthBook", "Statsig", "Hackle"."""
    experiment: str
    """The key the user gave."""
    name: str
    """The experiment's name on the platform."""
    control: str
    variants: tuple[str, ...]
    """Control first."""
    users: Mapping[str, int]
    """Users (units) per variant as the platform counts them: the SRM check reads these."""
    metrics: tuple[PlatformMetric, ...]
    findings: tuple[Finding, ...] = ()
    method: str = ""
    """The platform's method in words (engine, CUPED on or off)."""


@dataclass(frozen=True, slots=True)
class ExperimentSummary:
    key: str
    name: str
    status: str = ""


class Provider(Protocol):
    platform: str

    def list_experiments(self) -> list[ExperimentSummary]: ...

    def fetch_results(self, key: str, **options: Any) -> PlatformResults: ...


# --------------------------------------------------------------------------- shared HTTP


@dataclass
class Pace:
    """At most ``requests`` calls in any ``seconds`` window (client side, per process)."""

    requests: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            self._sent = [t for t in self._sent if now - t < self.seconds]
            if len(self._sent) >= self.requests:
                delay = self.seconds - (now - self._sent[0])
                if delay > 0:
                    self.sleep(delay)
                now = self.clock()
                self._sent = [t for t in self._sent if now - t < self.seconds]
            self._sent.append(now)


_PACES: dict[tuple[str, str], Pace] = {}
_PACES_LOCK = threading.Lock()


def shared_pace(platform: str, base_url: str, requests: int, seconds: float) -> Pace:
    """One pace per platform and host for the whole process (rate limits are per key/project)."""
    with _PACES_LOCK:
        return _PACES.setdefault((platform, base_url), Pace(requests, seconds))


def retry_after_seconds(value: str | None, default: float, *, now: datetime | None = None) -> float:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date
    (RFC 9110 §10.2.3); ``default`` when absent or unreadable."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        if when.tzinfo is None:  # an HTTP date is always GMT
            when = when.replace(tzinfo=UTC)
        seconds = max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else default


class Client:
    """A platform's HTTP client: timeouts, pace, bounded retries on 429 and 5xx, one-line errors.

    ``key_hint`` tells the user what key to set when the platform refuses it (401/403).
    """

    def __init__(
        self,
        *,
        platform: str,
        base_url: str,
        headers: Mapping[str, str],
        key_hint: str,
        pace: Pace,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_total_wait: float = MAX_TOTAL_WAIT_SECONDS,
    ) -> None:
        self.platform = platform
        self.key_hint = key_hint
        self.pace = pace
        self.sleep = sleep
        self.max_total_wait = max_total_wait
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=dict(headers),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        errors: Mapping[int, str] | None = None,
    ) -> Any:
        """The JSON body of a 2xx answer; PlatformError with one line otherwise.

        ``errors``: the line for a status (e.g. 404: the experiment is unknown), else a generic
        one quoting the platform's ``message``.
        """
        waited = 0.0
        for attempt in range(MAX_RETRIES + 1):
            self.pace.wait()
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx.TimeoutException:
                raise PlatformError(
                    f"{self.platform} did not answer within {self._http.timeout.read:g} s "
                    f"({method} {path}): try again later, or check the {self.platform} URL."
                ) from None
            except httpx.HTTPError as error:
                raise PlatformError(
                    f"cannot reach {self.platform} at {self._http.base_url.host or 'its URL'} "
                    f"({type(error).__name__}): check the URL and the network."
                ) from None
            status = response.status_code
            if status == 429 or status >= 500:
                delay = retry_after_seconds(response.headers.get("Retry-After"), 2.0**attempt)
                if attempt < MAX_RETRIES and waited + delay <= self.max_total_wait:
                    self.sleep(delay)
                    waited += delay
                    continue
                what = "rate limit" if status == 429 else f"server error {status}"
                raise PlatformError(
                    f"{self.platform} {what} persisted after {attempt} retries "
                    f"({waited:g} s waited): try again in a minute."
                )
            if status in (401, 403):
                raise PlatformError(
                    f"{self.platform} refused the API key ({status}): key expired or wrong: "
                    f"{self.key_hint}."
                )
            if errors and status in errors:
                raise PlatformError(errors[status])
            if status >= 400:
                raise PlatformError(
                    f"{self.platform} answered {status} to {method} {path}: {_message(response)}."
                )
            try:
                return response.json()
            except ValueError:
                raise PlatformError(
                    f"{self.platform} answered {method} {path} with something that is not JSON: "
                    "check the URL points at its API."
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover


def _message(response: httpx.Response) -> str:
    """The platform's ``{"message": …}`` (short), else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message) if message else response.reason_phrase or "no message"
    return text.strip().rstrip(".")[:200]


@dataclass(frozen=True, slots=True)
class Connection:
    """Where a platform is and how it is asked: what its client needs besides the key."""

    platform: str
    key_variable: str
    url_variable: str
    default_url: str
    key_kind: str
    """What the key is, for the line when it is missing (e.g. "a readonly secret key")."""
    key_hint: str
    pace: tuple[int, float]
    """At most this many requests in this many seconds."""


def open_client(
    connection: Connection,
    environ: Mapping[str, str],
    headers: Callable[[str], Mapping[str, str]],
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float | None = None,
) -> Client:
    """The platform's client, its key (put in the request by ``headers``) and base URL read from
    ``environ``; PlatformError when the key is not set."""
    c = connection
    key = required_key(environ, c.key_variable, c.platform, c.key_kind)
    base_url = (environ.get(c.url_variable) or c.default_url).rstrip("/")
    return Client(
        platform=c.platform,
        base_url=base_url,
        headers={**headers(key), "Accept": "application/json"},
        key_hint=c.key_hint,
        pace=shared_pace(c.platform, base_url, *c.pace),
        transport=transport,
        sleep=sleep,
        **({"timeout": timeout} if timeout else {}),
    )


class ProviderBase:
    """What every provider shares: its client, opened from ``connection`` and the environment
    with the key in the headers ``headers(key)`` gives, and closed with it."""

    connection: Connection

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float | None = None,
    ) -> None:
        self.platform = self.connection.platform
        self.sleep = sleep
        self.client = open_client(
            self.connection,
            environ,
            self.headers,
            transport=transport,
            sleep=sleep,
            timeout=timeout,
        )

    @staticmethod
    def headers(key: str) -> dict[str, str]:
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


def required_key(environ: Mapping[str, str], variable: str, platform: str, what: str) -> str:
    key = (environ.get(variable) or "").strip()
    if not key:
        raise PlatformError(f"{platform}: set {variable} to {what}.")
    return key


def number(value: Any) -> float | None:
    """A JSON number as float; None for missing, non-numeric or non-finite values."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def slug(text: str) -> str:
    """A metric's name as a column-style key: lowercase, runs of other characters as ``_``."""
    out, last = [], "_"
    for ch in text.strip().lower():
        if ch.isalnum():
            out.append(ch)
            last = ch
        elif last != "_":
            out.append("_")
            last = "_"
    return "".join(out).strip("_") or "metric"


def path_segment(value: str) -> str:
    """A key or id as one URL path segment: ``/``, ``?``, ``#``, ``..`` and spaces escaped, so
    a key typed in Slack or on the command line names an experiment and never another path."""
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if value in (".", "..") else escaped
