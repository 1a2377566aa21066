"""GrowthBook REST API v1: list experiments, read an experiment's latest results (a phase, an
optional dimension), optionally after a fresh snapshot.

Each variation's figures are rebuilt from ``users``, ``numerator`` and ``stddev`` (gbstats'
variances): a proportion's Σx² is Σx; a mean's is (n−1)·sd² + Σx²/n, exact when CUPED is off.
With regression adjustment (CUPED) on, GrowthBook's ``stddev`` is CUPED-reduced while ``mean`` is
raw: mean metrics are then flagged approximate. Ratio metrics come as n, ratio and the
delta-method sd (approximate). GrowthBook writes missing or non-finite values as 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from experimentos.model import Finding
from experimentos.platforms.base import (
    Connection,
    ExperimentSummary,
    PlatformError,
    PlatformKind,
    PlatformLift,
    PlatformMetric,
    PlatformResults,
    ProviderBase,
    VariantStats,
    number,
    path_segment,
    slug,
)

PLATFORM = "GrowthBook"
DEFAULT_URL = "https://api.growthbook.io/api"
KEY_VARIABLE, URL_VARIABLE = "GROWTHBOOK_API_KEY", "GROWTHBOOK_API_URL"
KEY_HINT = "set GROWTHBOOK_API_KEY to a readonly secret key (GrowthBook → Settings → API Keys)"
PACE = (60, 60.0)
"""GrowthBook Cloud allows 60 requests a minute."""
CONNECTION = Connection(
    PLATFORM, KEY_VARIABLE, URL_VARIABLE, DEFAULT_URL, "a readonly secret key", KEY_HINT, PACE
)
PAGE_SIZE, MAX_PAGES = 100, 50
SNAPSHOT_POLL_SECONDS, SNAPSHOT_MAX_WAIT_SECONDS = 5.0, 600.0


class GrowthBook(ProviderBase):
    connection = CONNECTION

    @staticmethod
    def headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    # ----------------------------------------------------------------- listing

    def list_experiments(self, **filters: str) -> list[ExperimentSummary]:
        return [
            ExperimentSummary(
                str(e.get("id", "")), str(e.get("name", "")), str(e.get("status", ""))
            )
            for e in self._experiments(filters)
        ]

    def _experiments(self, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        offset = 0
        for _ in range(MAX_PAGES):
            page = self.client.request(
                "GET", "/v1/experiments", params={**filters, "limit": PAGE_SIZE, "offset": offset}
            )
            found += [e for e in page.get("experiments") or [] if isinstance(e, dict)]
            next_offset = page.get("nextOffset")
            if not page.get("hasMore") or not isinstance(next_offset, int):
                break
            offset = next_offset
        return found

    def _experiment(self, key: str) -> dict[str, Any]:
        """The experiment by its id (``exp_…``), else by its tracking key."""
        if not key.startswith("exp_"):
            matches = [e for e in self._experiments({"trackingKey": key}) if e.get("id")]
            matches = [e for e in matches if e.get("trackingKey", key) == key] or matches
            if not matches:
                raise PlatformError(_unknown(key))
            return matches[0]
        body = self.client.request(
            "GET", f"/v1/experiments/{path_segment(key)}", errors={404: _unknown(key)}
        )
        return body.get("experiment") or {}

    # ----------------------------------------------------------------- results

    def fetch_results(
        self,
        key: str,
        *,
        phase: int | None = None,
        dimension: str | None = None,
        snapshot: bool = False,
        snapshot_wait_s: float | None = None,
        **_: Any,
    ) -> PlatformResults:
        """The latest results; with ``snapshot``, a fresh analysis first, waited for up to
        ``snapshot_wait_s`` (default :data:`SNAPSHOT_MAX_WAIT_SECONDS`; past it, one line: the
        snapshot goes on in GrowthBook)."""
        experiment = self._experiment(key)
        exp_id = str(experiment.get("id") or key)
        if snapshot:
            wait_s = SNAPSHOT_MAX_WAIT_SECONDS if snapshot_wait_s is None else snapshot_wait_s
            self._refresh(exp_id, phase, dimension, wait_s=wait_s)
        params = {}
        if phase is not None:
            params["phase"] = str(phase)
        if dimension:
            params["dimension"] = dimension
        no_results = (
            f"GrowthBook has no results for {key!r} yet"
            + (f" (phase {phase})" if phase is not None else "")
            + ": run an analysis in GrowthBook (Update results), or pull again with a fresh "
            "snapshot."
        )
        body = self.client.request(
            "GET",
            f"/v1/experiments/{path_segment(exp_id)}/results",
            params=params,
            errors={400: no_results, 404: no_results},
        )
        experiment = body.get("experiment") or experiment
        result = body.get("result") or {}
        return parse_results(key, experiment, result, dimension=dimension)

    def _refresh(
        self, exp_id: str, phase: int | None, dimension: str | None, *, wait_s: float
    ) -> None:
        """POST a snapshot and wait, up to ``wait_s``, until it succeeds."""
        payload: dict[str, Any] = {"triggeredBy": "manual", "dimension": dimension or ""}
        if phase is not None:
            payload["phase"] = phase
        body = self.client.request(
            "POST",
            f"/v1/experiments/{path_segment(exp_id)}/snapshot",
            json=payload,
            errors={404: _unknown(exp_id)},
        )
        snapshot_id = (body.get("snapshot") or {}).get("id")
        if not snapshot_id:
            raise PlatformError("GrowthBook did not start a snapshot: try Update results there.")
        waited = 0.0
        while True:
            status = (
                self.client.request("GET", f"/v1/snapshots/{path_segment(str(snapshot_id))}").get(
                    "snapshot"
                )
                or {}
            ).get("status", "")
            if status == "success":
                return
            if status == "error":
                raise PlatformError(
                    f"GrowthBook's snapshot {snapshot_id} failed: see the experiment's results "
                    "page in GrowthBook for the query error."
                )
            if waited >= wait_s:
                raise PlatformError(
                    f"GrowthBook's snapshot {snapshot_id} was still running after {wait_s:g} s "
                    "and goes on there: pull again in a few minutes without a fresh snapshot."
                )
            self.sleep(SNAPSHOT_POLL_SECONDS)
            waited += SNAPSHOT_POLL_SECONDS


def _unknown(key: str) -> str:
    return (
        f"GrowthBook has no experiment {key!r}: give its id (exp_…) or its tracking key, as "
        "GrowthBook → Experiments shows them."
    )


# --------------------------------------------------------------------------- parsing


def _variation_names(experiment: Mapping[str, Any]) -> dict[str, str]:
    names = {}
    for v in experiment.get("variations") or []:
        if isinstance(v, dict) and v.get("variationId"):
            names[str(v["variationId"])] = str(v.get("name") or v.get("key") or v["variationId"])
    return names


def _cuped(experiment: Mapping[str, Any]) -> bool:
    return bool((experiment.get("settings") or {}).get("regressionAdjustmentEnabled"))


def parse_results(
    key: str,
    experiment: Mapping[str, Any],
    result: Mapping[str, Any],
    *,
    dimension: str | None = None,
) -> PlatformResults:
    """GrowthBook's ``{experiment, result}`` → per-variant sufficient statistics."""
    names = _variation_names(experiment)
    cuped = _cuped(experiment)
    settings = result.get("settings") or {}
    engine = str(settings.get("statsEngine") or "bayesian")
    role_of = {}
    for role, field_name in (("guardrail", "guardrails"), ("secondary", "secondaryMetrics")):
        for m in settings.get(field_name) or []:
            role_of[str(m.get("metricId") if isinstance(m, dict) else m)] = role
    for m in settings.get("goals") or []:
        role_of[str(m.get("metricId") if isinstance(m, dict) else m)] = "goal"
    entries = [r for r in result.get("results") or [] if isinstance(r, dict)]
    if not dimension:
        entries = [r for r in entries if str(r.get("dimension", "All")) == "All"] or entries[:1]
    if not entries:
        raise PlatformError(
            f"GrowthBook has no results for {key!r} yet: run an analysis in GrowthBook "
            "(Update results), or pull again with a fresh snapshot."
        )
    segmented = bool(dimension)
    findings: list[Finding] = []
    per_metric: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    users: dict[str, int] = {}
    for entry in entries:
        segment = str(entry.get("dimension", "")) if segmented else ""
        for metric in entry.get("metrics") or []:
            metric_id = str(metric.get("metricId", ""))
            if "?dim:" in metric_id:  # slice metrics: a breakdown, not a metric of its own
                continue
            slot = per_metric.setdefault(
                metric_id, {"label": metric.get("metricName") or metric_id, "rows": []}
            )
            if metric_id not in order:
                order.append(metric_id)
            for v in metric.get("variations") or []:
                variant = names.get(str(v.get("variationId")), v.get("variationName"))
                variant = str(variant or v.get("variationId"))
                analysis = (v.get("analyses") or [{}])[0] or {}
                slot["rows"].append((segment, variant, int(number(v.get("users")) or 0), analysis))
    variants = list(names.values()) or list(
        dict.fromkeys(row[1] for slot in per_metric.values() for row in slot["rows"])
    )
    metrics = []
    for metric_id in order:
        slot = per_metric[metric_id]
        built = _metric(
            metric_id,
            slot["label"],
            role_of.get(metric_id, "secondary"),
            slot["rows"],
            cuped=cuped,
            engine=engine,
            segmented=segmented,
            control=variants[0],
        )
        if isinstance(built, Finding):
            findings.append(built)
            continue
        metrics.append(built)
        for v in built.variants:
            users[v.variant] = max(users.get(v.variant, 0), v.n) if not segmented else 0
    if segmented:
        first = metrics[0].variants if metrics else ()
        for v in first:
            users[v.variant] = users.get(v.variant, 0) + v.n
    if cuped:
        findings.append(
            Finding(
                "info",
                "platform_cuped",
                "GrowthBook has CUPED (regression adjustment) on: its sd of a mean metric is "
                "CUPED-reduced while its mean is raw, so those metrics are approximate here "
                "(0/1 metrics stay exact: Σx² = Σx).",
            )
        )
    method = f"GrowthBook {engine}" + (", CUPED on" if cuped else "")
    return PlatformResults(
        platform=PLATFORM,
        experiment=key,
        name=str(experiment.get("name") or key),
        control=variants[0],
        variants=tuple(variants),
        users=users,
        metrics=tuple(metrics),
        findings=tuple(findings),
        method=method,
    )


def _metric(
    metric_id: str,
    label: str,
    role: Any,
    rows: list[tuple[str, str, int, Mapping[str, Any]]],
    *,
    cuped: bool,
    engine: str,
    segmented: bool,
    control: str,
) -> PlatformMetric | Finding:
    key = slug(str(label))
    present = [r for r in rows if r[2] > 0 and r[3]]
    if len(present) < len(rows) or len({r[1] for r in present}) < 2:
        return Finding(
            "warning",
            "platform_missing",
            f"{key}: GrowthBook has no figures for some variations (users 0 or no analysis); "
            "left out.",
            column=key,
        )
    kind = _kind(present, cuped)
    variants, note = [], None
    for segment, variant, n, a in present:
        total = number(a.get("numerator")) or 0.0
        sd = number(a.get("stddev")) or 0.0
        if kind == "proportion":
            variants.append(VariantStats(variant, n, total, total, segment))
            continue
        if kind == "approximate":  # ratio: the mean is numerator / denominator
            mean = number(a.get("mean")) or 0.0
            total = mean * n
        else:
            mean = total / n
        if sd == 0 and n > 1:  # no spread over n users: GrowthBook's 0 for a missing value
            return Finding(
                "warning",
                "platform_missing",
                f"{key}: GrowthBook gives no sd for {variant} (0 means missing there); left out.",
                column=key,
            )
        variants.append(
            VariantStats(variant, n, total, (n - 1) * sd * sd + mean * mean * n, segment)
        )
    if kind == "approximate":
        note = (
            "a ratio metric: GrowthBook gives n, the ratio and its delta-method sd, so it is "
            "tested from n, mean and sd (approximate)"
        )
    elif kind == "mean" and cuped:
        kind = "approximate"
        note = "GrowthBook's sd is CUPED-reduced (its mean is raw): approximate"
    lifts = () if segmented else tuple(_lifts(present, control, engine, cuped))
    return PlatformMetric(key, str(label), kind, role, tuple(variants), lifts, note)


def _kind(rows: list[tuple[str, str, int, Mapping[str, Any]]], cuped: bool) -> PlatformKind:
    """proportion, mean or approximate (ratio) from the figures' shape."""
    ratio = proportion = True
    for _, _, n, a in rows:
        numerator = number(a.get("numerator")) or 0.0
        denominator = number(a.get("denominator")) or 0.0
        sd = number(a.get("stddev")) or 0.0
        if not (denominator and abs(denominator - n) > 0.5):
            ratio = False
        p = numerator / n
        binomial_sd = math.sqrt(max(p * (1 - p), 0.0))
        integral = abs(numerator - round(numerator)) < 1e-9
        fits = abs(sd - binomial_sd) < 1e-6 or (cuped and sd <= binomial_sd + 1e-6)
        if not (0 <= p <= 1 and integral and fits):
            proportion = False
    if ratio:
        return "approximate"
    return "proportion" if proportion else "mean"


def _lifts(rows, control: str, engine: str, cuped: bool):
    for _, variant, _, a in rows:
        if variant == control:
            continue
        change, low, high = (number(a.get(k)) for k in ("percentChange", "ciLow", "ciHigh"))
        if not any((change, low, high)):  # 0 means missing
            continue
        p = number(a.get("pValue")) if str(a.get("engine", engine)) == "frequentist" else None
        p = p or None  # 0 means missing
        method = f"{a.get('engine') or engine}{', CUPED' if cuped else ''}, relative"
        ci = (low, high) if low is not None and high is not None and (low or high) else None
        yield PlatformLift(variant, change, ci, p, method)
