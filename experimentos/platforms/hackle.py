"""Hackle: experiments listed through its admin API; results from a file the user exports.

Hackle publishes no results endpoint (its dashboard's Data Analysis tab is the only place results
are shown): a results table exported from the dashboard as CSV (one row per group: variant,
users, conversions or ``<m>_sum``/``<m>_sum_sq``) is read by the aggregated CSV reader, or raw
events from Hackle's Data Export are aggregated by the user-level reader. The admin API's response
schema is not published, so listing reads it tolerantly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experimentos.platforms.base import (
    Connection,
    ExperimentSummary,
    PlatformError,
    PlatformResults,
    ProviderBase,
)

PLATFORM = "Hackle"
DEFAULT_URL = "https://admin-api.hackle.io"
KEY_VARIABLE, URL_VARIABLE = "HACKLE_ADMIN_KEY", "HACKLE_API_URL"
KEY_HINT = "set HACKLE_ADMIN_KEY to an admin API key (Hackle dashboard → MCP Integration)"
PACE = (60, 60.0)
"""No documented limit: one request a second."""
CONNECTION = Connection(
    PLATFORM, KEY_VARIABLE, URL_VARIABLE, DEFAULT_URL, "an admin API key", KEY_HINT, PACE
)
PAGE_SIZE, MAX_PAGES = 100, 50
ENVIRONMENT = "PRODUCTION"
NO_RESULTS_API = (
    "Hackle publishes no results API: export the experiment's Data Analysis table as CSV "
    "(variant, users, conversions) and give it with --results FILE.csv "
    "(or drop the CSV in Slack)"
)

_LIST_FIELDS = ("content", "data", "experiments", "items", "results", "list")


def _items(body: Any) -> list[dict[str, Any]]:
    """The experiments of a listing, whatever envelope holds them."""
    if isinstance(body, list):
        return [e for e in body if isinstance(e, dict)]
    if isinstance(body, dict):
        for name in _LIST_FIELDS:
            if name in body:
                return _items(body[name])
    return []


def summary(item: Mapping[str, Any]) -> ExperimentSummary:
    key = next(
        (
            item[k]
            for k in ("experimentKey", "key", "id", "experimentId")
            if item.get(k) is not None
        ),
        "",
    )
    name = next((item[k] for k in ("name", "title") if item.get(k)), key)
    status = next((item[k] for k in ("status", "state") if item.get(k)), "")
    return ExperimentSummary(str(key), str(name), str(status))


class Hackle(ProviderBase):
    connection = CONNECTION

    @staticmethod
    def headers(key: str) -> dict[str, str]:
        return {"X-HACKLE-ADMIN-API-KEY": key}

    def list_experiments(self, search: str | None = None) -> list[ExperimentSummary]:
        found: list[ExperimentSummary] = []
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, Any] = {
                "pageNumber": page,
                "pageSize": PAGE_SIZE,
                "environmentKey": ENVIRONMENT,
            }
            if search:
                params["searchKeyword"] = search
            body = self.client.request("GET", "/api/v1/experiments", params=params)
            items = _items(body)
            found += [summary(i) for i in items]
            total_pages = body.get("totalPages") if isinstance(body, dict) else None
            if len(items) < PAGE_SIZE or (isinstance(total_pages, int) and page >= total_pages):
                break
        return found

    def find(self, key: str) -> ExperimentSummary:
        """The experiment whose key (or id, or name) is ``key``."""
        for experiment in self.list_experiments(search=key):
            if key in (experiment.key, experiment.name):
                return experiment
        raise PlatformError(
            f"Hackle has no experiment {key!r} in {ENVIRONMENT}: give its experiment key as "
            "shown in the Hackle dashboard."
        )

    def fetch_results(self, key: str, **_: Any) -> PlatformResults:
        raise PlatformError(f"{NO_RESULTS_API}.")
