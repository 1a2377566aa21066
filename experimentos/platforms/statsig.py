"""Statsig Console API (version 20240601): list experiments, read pulse results.

Pulse results are pairwise: one call per (control, test group), CUPED off (``cuped=false``) so
the figures are unadjusted. Each metric gives units, mean and ``*Std`` per arm; ``*Std`` is the
standard error of the mean (the spec's example: ``confidence_interval_delta / hypot(se_t, se_c)``
is exactly z(0.90) and z(0.95)), so sd = se·√n, Σx = mean·n and Σx² = (n−1)·sd² + n·mean².
The spec's example payload is snake_case while its schema is camelCase: both are read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from experimentos.platforms.base import (
    Connection,
    ExperimentSummary,
    PlatformError,
    PlatformLift,
    PlatformMetric,
    PlatformResults,
    ProviderBase,
    VariantStats,
    number,
    path_segment,
    slug,
)

PLATFORM = "Statsig"
DEFAULT_URL = "https://statsigapi.net"
KEY_VARIABLE, URL_VARIABLE = "STATSIG_CONSOLE_KEY", "STATSIG_API_URL"
KEY_HINT = (
    "set STATSIG_CONSOLE_KEY to a Console API key (Statsig → Project Settings → API Keys; "
    "server and client SDK keys do not work)"
)
PACE = (90, 10.0)
"""Under Statsig's ~100 requests per 10 seconds."""
CONNECTION = Connection(
    PLATFORM, KEY_VARIABLE, URL_VARIABLE, DEFAULT_URL, "a Console API key", KEY_HINT, PACE
)
PAGE_SIZE, MAX_PAGES = 100, 50
CONFIDENCE = 95

ALIASES = {
    "absoluteChange": ("absoluteChange", "value"),
    "confidenceIntervalDelta": ("confidenceIntervalDelta", "confidence_interval_delta"),
    "percentChange": ("percentChange", "percent_change"),
    "percentConfidenceIntervalDelta": (
        "percentConfidenceIntervalDelta",
        "percent_confidence_interval_delta",
    ),
    "testMean": ("testMean", "test_mean"),
    "controlMean": ("controlMean", "control_mean"),
    "testStd": ("testStd", "test_std"),
    "controlStd": ("controlStd", "control_std"),
    "testUnits": ("testUnits", "test_units"),
    "controlUnits": ("controlUnits", "control_units"),
    "pValue": ("pValue", "p_value"),
    "metricID": ("metricID", "metric_id", "metricId"),
    "metricName": ("metricName", "metric_name"),
}


def field(metric: Mapping[str, Any], name: str) -> Any:
    """A pulse metric's field under either spelling."""
    for alias in ALIASES[name]:
        if alias in metric and metric[alias] is not None:
            return metric[alias]
    return None


def arm_stats(variant: str, n: int, mean: float, se: float) -> VariantStats:
    """n, Σx, Σx² of an arm from its units, mean and standard error of the mean."""
    sd = se * math.sqrt(n)
    return VariantStats(variant, n, mean * n, (n - 1) * sd * sd + n * mean * mean)


class Statsig(ProviderBase):
    connection = CONNECTION

    @staticmethod
    def headers(key: str) -> dict[str, str]:
        return {"STATSIG-API-KEY": key, "STATSIG-API-VERSION": "20240601"}

    def list_experiments(self, **filters: str) -> list[ExperimentSummary]:
        found, page = [], 1
        for _ in range(MAX_PAGES):
            body = self.client.request(
                "GET",
                "/console/v1/experiments",
                params={**filters, "page": page, "limit": PAGE_SIZE},
            )
            for e in body.get("data") or []:
                if isinstance(e, dict):
                    found.append(
                        ExperimentSummary(
                            str(e.get("id", "")), str(e.get("name", "")), str(e.get("status", ""))
                        )
                    )
            pagination = body.get("pagination") or {}
            if not pagination.get("nextPage"):
                break
            page = int(pagination.get("pageNumber") or page) + 1
        return found

    def fetch_results(self, key: str, *, date: str | None = None, **_: Any) -> PlatformResults:
        unknown = (
            f"Statsig has no experiment {key!r}: give its id (the experiment's name in "
            "snake_case, as in its Statsig URL)."
        )
        experiment = (
            self.client.request(
                "GET", f"/console/v1/experiments/{path_segment(key)}", errors={404: unknown}
            ).get("data")
            or {}
        )
        groups = [g for g in experiment.get("groups") or [] if isinstance(g, dict) and g.get("id")]
        if len(groups) < 2:
            raise PlatformError(f"Statsig experiment {key!r} has fewer than two groups.")
        control_id = str(experiment.get("controlGroupID") or "")
        control = next((g for g in groups if str(g["id"]) == control_id), None)
        control = control or next(
            (g for g in groups if str(g.get("name", "")).lower() == "control"), groups[0]
        )
        no_results = (
            f"Statsig has no pulse results for {key!r} yet: Pulse computes daily once the "
            "experiment has started; pull again tomorrow."
        )
        pairs = []
        for group in groups:
            if group is control:
                continue
            params = {
                "control": control["id"],
                "test": group["id"],
                "cuped": "false",
                "confidence": str(CONFIDENCE),
            }
            if date:
                params["date"] = date
            body = self.client.request(
                "GET",
                f"/console/v1/experiments/{path_segment(key)}/pulse_results",
                params=params,
                errors={404: no_results, 400: no_results},
            )
            pairs.append((str(group.get("name") or group["id"]), body.get("data") or {}))
        return parse_pulse(
            key,
            str(experiment.get("name") or key),
            str(control.get("name") or control["id"]),
            pairs,
        )


def parse_pulse(
    key: str, name: str, control: str, pairs: list[tuple[str, Mapping[str, Any]]]
) -> PlatformResults:
    """Each (test group, pulse ``data``) pair → per-metric arm statistics; the control's come from
    the first pair that has the metric (they repeat in every pair)."""
    metrics: dict[str, dict[str, Any]] = {}
    for test, data in pairs:
        for role, section in (
            ("goal", "primaryMetrics"),
            ("secondary", "secondaryMetrics"),
            ("secondary", "otherMetrics"),
        ):
            for m in data.get(section) or data.get(_snake(section)) or []:
                if not isinstance(m, dict):
                    continue
                metric_id = str(field(m, "metricID") or field(m, "metricName") or "metric")
                label = str(field(m, "metricName") or metric_id.split("::")[0])
                slot = metrics.setdefault(
                    metric_id, {"label": label, "role": role, "arms": {}, "lifts": []}
                )
                n_c, n_t = number(field(m, "controlUnits")), number(field(m, "testUnits"))
                mean_c, mean_t = number(field(m, "controlMean")), number(field(m, "testMean"))
                se_c, se_t = number(field(m, "controlStd")), number(field(m, "testStd"))
                if None in (n_c, n_t, mean_c, mean_t, se_c, se_t) or not (n_c and n_t):
                    continue
                slot["arms"].setdefault(control, arm_stats(control, int(n_c), mean_c, se_c))
                slot["arms"][test] = arm_stats(test, int(n_t), mean_t, se_t)
                slot["lifts"].append(_lift(m, test))
    variants = [control] + [test for test, _ in pairs]
    built = []
    for slot in metrics.values():
        arms = slot["arms"]
        if len(arms) < 2:
            continue
        ordered = tuple(arms[v] for v in variants if v in arms)
        kind = "proportion" if all(_binary(v) for v in ordered) else "mean"
        if kind == "proportion":
            ordered = tuple(
                VariantStats(v.variant, v.n, round(v.total), round(v.total)) for v in ordered
            )
        built.append(
            PlatformMetric(
                slug(slot["label"]),
                slot["label"],
                kind,
                slot["role"],
                ordered,
                tuple(slot["lifts"]),
            )
        )
    users = {}
    for metric in built:
        for v in metric.variants:
            users[v.variant] = max(users.get(v.variant, 0), v.n)
    return PlatformResults(
        platform=PLATFORM,
        experiment=key,
        name=name,
        control=control,
        variants=tuple(variants),
        users=users,
        metrics=tuple(built),
        method="Statsig Pulse, CUPED off",
    )


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _binary(v: VariantStats) -> bool:
    """A 0/1 metric: mean·n a whole number and the sd that of a proportion (n or n−1 divisor)."""
    p = v.mean
    if not (0 <= p <= 1) or v.n < 2 or abs(v.total - round(v.total)) > 1e-6 * max(1, v.n):
        return False
    variance = (v.total_sq - v.total * p) / (v.n - 1)
    binomial = p * (1 - p)
    return any(
        abs(variance - b) <= 1e-3 * max(b, 1e-12) for b in (binomial, binomial * v.n / (v.n - 1))
    )


def _lift(m: Mapping[str, Any], test: str) -> PlatformLift:
    percent = number(field(m, "percentChange"))
    half = number(field(m, "percentConfidenceIntervalDelta"))
    absolute = number(field(m, "absoluteChange"))
    abs_half = number(field(m, "confidenceIntervalDelta"))
    return PlatformLift(
        test,
        None if percent is None else percent / 100,
        None
        if percent is None or half is None
        else ((percent - half) / 100, (percent + half) / 100),
        number(field(m, "pValue")),
        f"Statsig Pulse, CUPED off, {CONFIDENCE}% CI, delta-method relative",
        absolute,
        None
        if absolute is None or abs_half is None
        else (absolute - abs_half, absolute + abs_half),
    )
