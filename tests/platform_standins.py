"""Local stand-ins of GrowthBook's REST API, Statsig's Console API and Hackle's admin API (real HTTP
on 127.0.0.1, one thread each), serving responses shaped as the published specs: GrowthBook's
docs/openapi.yaml (limit/offset/hasMore/nextOffset, ``{"message": …}`` errors), Statsig's
console-api/capiopenapi.json (``{message, data, pagination}``, snake_case and camelCase pulse
metrics), Hackle's admin API as its MCP server calls it (pageNumber/pageSize).

The figures come from per-user data drawn here: GrowthBook's ``mean``/``stddev`` and lift come
from gbstats itself (the engine GrowthBook runs), Statsig's from the definitions its spec
example satisfies (``*Std`` = standard error, half-width = z·hypot(se_t, se_c)).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    SampleMeanStatistic,
)
from scipy import stats

Reply = tuple[int, dict[str, str], Any]
Handler = Callable[[dict[str, str], Any], Reply]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    """Routes ``(METHOD, path)`` → handler(query, json body) → (status, headers, json)."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    calls: list[Seen] = field(default_factory=list)
    queued: list[Reply] = field(default_factory=list)
    """Replies sent before any route (e.g. a 429), first first."""
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self, prefix: str = "") -> StandIn:
        stand_in = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = parts.path.removeprefix(prefix)
                stand_in.calls.append(
                    Seen(
                        self.command,
                        path,
                        query,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                if stand_in.queued:
                    status, headers, payload = stand_in.queued.pop(0)
                else:
                    handler = stand_in.routes.get((self.command, path))
                    if handler is None:
                        status, headers, payload = 404, {}, {"message": f"Not found: {path}"}
                    else:
                        status, headers, payload = handler(query, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{prefix}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[(method, path)] = handler
            return handler

        return register


def ok(payload: Any) -> Reply:
    return 200, {}, payload


# --------------------------------------------------------------------------- per-user data


@dataclass(frozen=True)
class Arm:
    """Per-user data of one arm: signup (0/1), errors (0/1), revenue, orders."""

    name: str
    signup: np.ndarray
    error: np.ndarray
    revenue: np.ndarray
    orders: np.ndarray

    @property
    def n(self) -> int:
        return len(self.signup)


def draw_arms(seed: int = 7, n: tuple[int, ...] = (20604, 20626)) -> list[Arm]:
    rng = np.random.default_rng(seed)
    names = ["Control", "Green button", "Blue button"]
    arms = []
    for i, size in enumerate(n):
        orders = rng.poisson(1.2 + 0.05 * i, size).astype(float)
        revenue = np.round(orders * rng.gamma(2.0, 20.0 + i, size), 2)
        arms.append(
            Arm(
                names[i],
                (rng.random(size) < 0.089 + 0.006 * i).astype(float),
                (rng.random(size) < 0.01).astype(float),
                revenue,
                orders,
            )
        )
    return arms


def aggregated_csv(arms: list[Arm]) -> str:
    """The same arms as an aggregated CSV (sums from the per-user data)."""
    lines = ["variant,users,signups,errors,revenue_sum,revenue_sum_sq"]
    for a in arms:
        lines.append(
            f"{a.name},{a.n},{int(a.signup.sum())},{int(a.error.sum())},"
            f"{float(a.revenue.sum())!r},{float((a.revenue**2).sum())!r}"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- GrowthBook

GB_KEY = "secret_readonly_slack_test"
"""The GrowthBook API key the bot's environment holds in its tests (never to be shown)."""


def _gb_statistics(arm: Arm) -> dict[str, Any]:
    return {
        "met_signup": ProportionStatistic(n=arm.n, sum=float(arm.signup.sum())),
        "met_errors": ProportionStatistic(n=arm.n, sum=float(arm.error.sum())),
        "met_revenue": SampleMeanStatistic(
            n=arm.n, sum=float(arm.revenue.sum()), sum_squares=float((arm.revenue**2).sum())
        ),
        "fact__rpo": revenue_per_order(arm),
    }


def revenue_per_order(arm: Arm) -> RatioStatistic:
    """The arm's revenue per order as gbstats' ratio statistic (Σ, Σ² and the cross sum)."""
    return RatioStatistic(
        n=arm.n,
        m_statistic=SampleMeanStatistic(
            n=arm.n, sum=float(arm.revenue.sum()), sum_squares=float((arm.revenue**2).sum())
        ),
        d_statistic=SampleMeanStatistic(
            n=arm.n, sum=float(arm.orders.sum()), sum_squares=float((arm.orders**2).sum())
        ),
        m_d_sum_of_products=float((arm.revenue * arm.orders).sum()),
    )


GB_METRIC_NAMES = {
    "met_signup": "Signups",
    "met_errors": "Errors",
    "met_revenue": "Revenue",
    "fact__rpo": "Revenue per order",
}


def growthbook_results(arms: list[Arm], *, cuped: bool = False) -> dict[str, Any]:
    """``GET /v1/experiments/{id}/results``'s body, figures from gbstats (frequentist engine)."""
    variations = [
        {"variationId": f"var_{i}", "key": str(i), "name": a.name} for i, a in enumerate(arms)
    ]
    experiment = {
        "id": "exp_abc123",
        "trackingKey": "homepage-cta",
        "name": "Homepage CTA",
        "status": "running",
        "settings": {"statsEngine": "frequentist", "regressionAdjustmentEnabled": cuped},
        "variations": variations,
        "phases": [{"name": "Main", "dateStarted": "2026-11-01T00:00:00Z"}],
    }
    per_arm = [_gb_statistics(a) for a in arms]
    metrics = []
    for metric_id, label in GB_METRIC_NAMES.items():
        rows = []
        for i, arm in enumerate(arms):
            s = per_arm[i][metric_id]
            ratio = metric_id == "fact__rpo"
            analysis = {
                "engine": "frequentist",
                "numerator": s.m_statistic.sum if ratio else s.sum,
                "denominator": s.d_statistic.sum if ratio else arm.n,
                "mean": s.mean,
                "stddev": math.sqrt(s.variance),
                "percentChange": 0,
                "ciLow": 0,
                "ciHigh": 0,
                "pValue": 0,
            }
            if i:
                r = TwoSidedTTest(
                    per_arm[0][metric_id], s, FrequentistConfig(difference_type="relative")
                ).compute_result()
                analysis.update(
                    percentChange=r.expected, ciLow=r.ci[0], ciHigh=r.ci[1], pValue=r.p_value
                )
            rows.append(
                {
                    "variationId": f"var_{i}",
                    "variationName": arm.name,
                    "users": arm.n,
                    "analyses": [analysis],
                }
            )
        metrics.append({"metricId": metric_id, "metricName": label, "variations": rows})
    result = {
        "id": "snp_abc",
        "dateUpdated": "2026-12-01T00:00:00Z",
        "experimentId": "exp_abc123",
        "phase": "0",
        "dimension": {"type": "none"},
        "settings": {
            "statsEngine": "frequentist",
            "goals": [{"metricId": "met_signup"}],
            "secondaryMetrics": [{"metricId": "met_revenue"}, {"metricId": "fact__rpo"}],
            "guardrails": [{"metricId": "met_errors"}],
        },
        "queryIds": [],
        "results": [
            {
                "dimension": "All",
                "totalUsers": sum(a.n for a in arms),
                "checks": {"srm": 0.5},
                "metrics": metrics,
            }
        ],
    }
    return {"experiment": experiment, "result": result}


def growthbook(arms: list[Arm], *, api_key: str, cuped: bool = False) -> StandIn:
    body = growthbook_results(arms, cuped=cuped)
    server = StandIn()
    experiments = [
        {
            "id": f"exp_{i:04d}",
            "trackingKey": f"key-{i}",
            "name": f"Experiment {i}",
            "status": "stopped",
        }
        for i in range(149)
    ] + [body["experiment"]]
    snapshots: dict[str, int] = {}

    def authorised() -> Reply | None:
        header = server.calls[-1].headers.get("authorization", "")
        if header != f"Bearer {api_key}":
            return 401, {}, {"message": "Invalid API key"}
        return None

    @server.route("GET", "/v1/experiments")
    def _list(query: dict[str, str], _: Any) -> Reply:
        if denied := authorised():
            return denied
        rows = experiments
        if "trackingKey" in query:
            rows = [e for e in rows if e["trackingKey"] == query["trackingKey"]]
        limit, offset = min(int(query.get("limit", 10)), 100), int(query.get("offset", 0))
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return ok(
            {
                "experiments": page,
                "limit": limit,
                "offset": offset,
                "count": len(page),
                "total": len(rows),
                "hasMore": more,
                "nextOffset": offset + limit if more else None,
            }
        )

    @server.route("GET", "/v1/experiments/exp_abc123")
    def _one(_: dict[str, str], __: Any) -> Reply:
        return authorised() or ok({"experiment": body["experiment"]})

    @server.route("GET", "/v1/experiments/exp_abc123/results")
    def _results(_: dict[str, str], __: Any) -> Reply:
        return authorised() or ok(body)

    @server.route("GET", "/v1/experiments/exp_0001")
    def _empty(_: dict[str, str], __: Any) -> Reply:
        return ok({"experiment": experiments[1]})

    @server.route("GET", "/v1/experiments/exp_0001/results")
    def _no_results(_: dict[str, str], __: Any) -> Reply:
        return 400, {}, {"message": "No results found for that experiment"}

    @server.route("POST", "/v1/experiments/exp_abc123/snapshot")
    def _snapshot(_: dict[str, str], payload: Any) -> Reply:
        snapshots["snp_new"] = 0
        return ok({"snapshot": {"id": "snp_new", "experiment": "exp_abc123", "status": "running"}})

    @server.route("GET", "/v1/snapshots/snp_new")
    def _poll(_: dict[str, str], __: Any) -> Reply:
        snapshots["snp_new"] += 1
        status = "success" if snapshots["snp_new"] >= 2 else "running"
        return ok({"snapshot": {"id": "snp_new", "experiment": "exp_abc123", "status": status}})

    return server.start(prefix="/api")


# --------------------------------------------------------------------------- Statsig

Z975 = float(stats.norm.ppf(0.975))


def pulse_metric(metric_id: str, control: np.ndarray, test: np.ndarray, *, snake: bool) -> dict:
    """One pulse metric as Statsig computes it: means, standard errors, 95% half-widths."""
    n_c, n_t = len(control), len(test)
    m_c, m_t = float(control.mean()), float(test.mean())
    se_c, se_t = (
        float(control.std(ddof=1)) / math.sqrt(n_c),
        float(test.std(ddof=1)) / math.sqrt(n_t),
    )
    delta = m_t - m_c
    se = math.hypot(se_t, se_c)
    rel_se = math.sqrt(se_t**2 / m_c**2 + m_t**2 * se_c**2 / m_c**4)
    fields = {
        "metricID": metric_id,
        "metricName": metric_id.split("::")[0],
        "directionality": "increase",
        "absoluteChange": delta,
        "confidenceIntervalDelta": Z975 * se,
        "percentChange": 100 * delta / m_c,
        "percentConfidenceIntervalDelta": 100 * Z975 * rel_se,
        "testMean": m_t,
        "controlMean": m_c,
        "testStd": se_t,
        "controlStd": se_c,
        "testUnits": n_t,
        "controlUnits": n_c,
        "pValue": float(2 * stats.norm.sf(abs(delta / se))),
    }
    if not snake:
        return fields
    rename = {
        "absoluteChange": "value",
        "confidenceIntervalDelta": "confidence_interval_delta",
        "percentChange": "percent_change",
        "percentConfidenceIntervalDelta": "percent_confidence_interval_delta",
        "testMean": "test_mean",
        "controlMean": "control_mean",
        "testStd": "test_std",
        "controlStd": "control_std",
        "testUnits": "test_units",
        "controlUnits": "control_units",
        "pValue": "p_value",
    }
    return {
        rename.get(k, k): v for k, v in fields.items() if k not in ("metricName", "directionality")
    }


def statsig(arms: list[Arm], *, api_key: str) -> StandIn:
    server = StandIn()
    groups = [{"id": f"grp_{i}", "name": a.name, "size": 50} for i, a in enumerate(arms)]
    experiment = {
        "id": "homepage_cta",
        "name": "Homepage CTA",
        "status": "active",
        "controlGroupID": "grp_0",
        "groups": groups,
        "primaryMetrics": [{"name": "signups", "type": "event_count"}],
    }
    experiments = [{"id": f"exp_{i}", "name": f"Exp {i}", "status": "active"} for i in range(149)]
    experiments.append(experiment)
    by_id = {g["id"]: arms[i] for i, g in enumerate(groups)}

    def authorised() -> Reply | None:
        if server.calls[-1].headers.get("statsig-api-key") != api_key:
            return 401, {}, {"message": "Forbidden resource", "data": None}
        return None

    @server.route("GET", "/console/v1/experiments")
    def _list(query: dict[str, str], _: Any) -> Reply:
        if denied := authorised():
            return denied
        page, limit = int(query.get("page", 1)), int(query.get("limit", 10))
        rows = experiments[(page - 1) * limit : page * limit]
        last = page * limit >= len(experiments)
        return ok(
            {
                "message": "Experiments listed successfully.",
                "data": rows,
                "pagination": {
                    "itemsPerPage": limit,
                    "pageNumber": page,
                    "totalItems": len(experiments),
                    "nextPage": None
                    if last
                    else f"/console/v1/experiments?page={page + 1}&limit={limit}",
                    "previousPage": None,
                    "all": "/console/v1/experiments",
                },
            }
        )

    @server.route("GET", "/console/v1/experiments/homepage_cta")
    def _one(_: dict[str, str], __: Any) -> Reply:
        return authorised() or ok({"message": "Experiment read successfully.", "data": experiment})

    @server.route("GET", "/console/v1/experiments/homepage_cta/pulse_results")
    def _pulse(query: dict[str, str], _: Any) -> Reply:
        if denied := authorised():
            return denied
        if query.get("cuped") != "false":
            return 400, {}, {"message": "this stand-in serves unadjusted results only"}
        c, t = by_id[query["control"]], by_id[query["test"]]
        snake = query["test"] == "grp_1"  # the spec's example spelling for the first pair
        data = {
            "ds": "2026-12-01",
            "primaryMetrics": [
                pulse_metric("signups::event_count", c.signup, t.signup, snake=snake)
            ],
            "secondaryMetrics": [
                pulse_metric("revenue::sum", c.revenue, t.revenue, snake=snake),
                pulse_metric("errors::event_count", c.error, t.error, snake=snake),
            ],
        }
        return ok({"message": "Successfully loaded Pulse Results", "data": data})

    return server.start()


# --------------------------------------------------------------------------- Hackle


def hackle(*, api_key: str) -> StandIn:
    server = StandIn()
    experiments = [
        {
            "experimentId": 1000 + i,
            "experimentKey": 10 + i,
            "name": f"Test {i}",
            "status": "RUNNING",
        }
        for i in range(130)
    ]
    experiments[120]["name"] = "Homepage CTA"

    @server.route("GET", "/api/v1/experiments")
    def _list(query: dict[str, str], _: Any) -> Reply:
        if server.calls[-1].headers.get("x-hackle-admin-api-key") != api_key:
            return 401, {}, {"message": "Unauthorized"}
        page, size = int(query.get("pageNumber", 1)), int(query.get("pageSize", 10))
        rows = experiments
        if keyword := query.get("searchKeyword"):
            rows = [e for e in rows if keyword in (str(e["experimentKey"]), e["name"])]
        total_pages = max(1, math.ceil(len(rows) / size))
        return ok(
            {
                "content": rows[(page - 1) * size : page * size],
                "pageNumber": page,
                "pageSize": size,
                "totalPages": total_pages,
                "totalElements": len(rows),
            }
        )

    return server.start()
