"""Results from GrowthBook, Statsig and Hackle through local stand-ins of their APIs (real HTTP,
the real httpx client): figures rebuilt from each platform's sufficient statistics agree with the
platform's own lift and interval (within the stated method difference), with gbstats on the same
sums, and with the same numbers given as an aggregated CSV; pagination, 429s and errors."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import SampleMeanStatistic
from platform_standins import (
    aggregated_csv,
    draw_arms,
    growthbook,
    hackle,
    statsig,
)
from scipy import stats

from experimentos import analyze
from experimentos.errors import ExperimentError
from experimentos.model import GuardrailSpec, MetricResult, Options, Thresholds
from experimentos.platforms.base import Client, Pace, PlatformError, retry_after_seconds
from experimentos.platforms.growthbook import GrowthBook
from experimentos.platforms.hackle import Hackle
from experimentos.platforms.statsig import Statsig, arm_stats, parse_pulse
from experimentos.usecases import analyse_platform

GB_KEY = "secret_readonly_abc123"
STATSIG_KEY = "console-standin-secret"
HACKLE_KEY = "hackle-admin-secret"
Z975 = float(stats.norm.ppf(0.975))


@pytest.fixture(scope="module")
def arms():
    return draw_arms()


@pytest.fixture
def gb(arms):
    server = growthbook(arms, api_key=GB_KEY)
    yield server
    server.stop()


@pytest.fixture
def gb_env(gb):
    return {"GROWTHBOOK_API_KEY": GB_KEY, "GROWTHBOOK_API_URL": gb.url}


@pytest.fixture
def sg(arms):
    server = statsig(arms, api_key=STATSIG_KEY)
    yield server
    server.stop()


@pytest.fixture
def sg_env(sg):
    return {"STATSIG_CONSOLE_KEY": STATSIG_KEY, "STATSIG_API_URL": sg.url}


def by_name(analysis, name: str) -> MetricResult:
    found = [*analysis.primary, *(g.metric for g in analysis.guardrails), *analysis.secondary]
    return next(m for m in found if m.name == name)


GUARDRAIL = Options(guardrails=(GuardrailSpec("errors"),), control="control")


# --------------------------------------------------------------------------- GrowthBook


def test_growthbook_rebuilds_the_sums_exactly_from_users_numerator_and_stddev(gb_env, arms):
    provider = GrowthBook(gb_env)
    results = provider.fetch_results("exp_abc123")
    provider.close()
    metrics = {m.key: m for m in results.metrics}
    assert [m.kind for m in results.metrics] == ["proportion", "proportion", "mean", "approximate"]
    for arm, signup, revenue in zip(
        arms, metrics["signups"].variants, metrics["revenue"].variants, strict=True
    ):
        assert (signup.n, signup.total, signup.total_sq) == (
            arm.n,
            arm.signup.sum(),
            arm.signup.sum(),
        )
        assert revenue.total == pytest.approx(arm.revenue.sum(), rel=1e-12)
        assert revenue.total_sq == pytest.approx((arm.revenue**2).sum(), rel=1e-9)
    assert results.users == {a.name: a.n for a in arms}
    assert metrics["errors"].role == "guardrail" and metrics["signups"].role == "goal"


def test_growthbook_analysis_agrees_with_its_lift_with_gbstats_and_with_the_csv(gb_env, arms):
    """Binomial and mean metrics: GrowthBook's frequentist engine (gbstats' relative Welch t-test,
    t quantile at the Welch df) against ours (z test / Welch, delta-method relative CI, normal
    quantile): the same relative lift to 1e-9, the same SE of the relative lift to 1e-6, bounds
    within 1e-3 relative (t vs normal quantile at df ≈ 40,000). The same sums as an aggregated
    CSV: the same verdict, lift and CI to 1e-9."""
    options = dataclasses.replace(GUARDRAIL, primary="signups")
    a = analyse_platform("growthbook:exp_abc123", options=options, environ=gb_env)
    assert a.experiment.name == "Homepage CTA" and a.experiment.primary_metric == "signups"
    body_metrics = {m.key: m for m in GrowthBook(gb_env).fetch_results("exp_abc123").metrics}
    for name in ("signups", "revenue"):
        ours = by_name(a, name)
        (lift,) = body_metrics[name].lifts
        assert ours.comparison.rel_lift == pytest.approx(lift.relative, rel=1e-9)
        assert ours.comparison.rel_ci == pytest.approx(lift.relative_ci, rel=1e-3)
    # gbstats from the raw sums
    c, t = arms
    gb_rev = TwoSidedTTest(
        SampleMeanStatistic(n=c.n, sum=c.revenue.sum(), sum_squares=(c.revenue**2).sum()),
        SampleMeanStatistic(n=t.n, sum=t.revenue.sum(), sum_squares=(t.revenue**2).sum()),
        FrequentistConfig(difference_type="relative"),
    ).compute_result()
    ours = by_name(a, "revenue").comparison
    assert (ours.rel_ci[1] - ours.rel_ci[0]) / (2 * Z975) == pytest.approx(
        gb_rev.uplift.stddev, rel=1e-6
    )
    # the same numbers as a CSV
    csv = analyze(aggregated_csv(arms).encode(), file_name="homepage.csv", options=options)
    assert csv.verdict.kind == a.verdict.kind and csv.verdict.reason == a.verdict.reason
    for name in ("signups", "revenue", "errors"):
        mine, theirs = by_name(a, name).comparison, by_name(csv, name).comparison
        assert mine.abs_lift == pytest.approx(theirs.abs_lift, rel=1e-9, abs=1e-12)
        assert mine.abs_ci == pytest.approx(theirs.abs_ci, rel=1e-9, abs=1e-12)
        assert mine.p_value == pytest.approx(theirs.p_value, rel=1e-9, abs=1e-300)
    assert [g.status for g in a.guardrails] == [g.status for g in csv.guardrails]
    assert a.health.srm is not None and a.health.srm.p_value == pytest.approx(
        csv.health.srm.p_value, rel=1e-12
    )
    crossed = [f for f in a.health.findings if f.code == "platform_cross_check"]
    assert any("GrowthBook (frequentist, relative)" in f.message for f in crossed)
    # gbstats' p tests the relative lift (its delta-method SE): 0.00103 for signups against our
    # 0.000527 for the difference — the finding says why; errors' p-values agree, no such note
    [signups] = [f for f in crossed if f.message.startswith("signups,")]
    assert "the p-values differ because GrowthBook's tests the relative lift" in signups.message
    [errors] = [f for f in crossed if f.message.startswith("errors,")]
    assert "p-values differ" not in errors.message


def test_growthbook_ratio_metric_is_the_delta_method_from_n_mean_and_sd(gb_env, arms):
    """Ratio metrics: GrowthBook gives n, ratio and the delta-method sd; tested from n, mean, sd
    (Welch t) it has the same SE as the delta method on the five raw sums (our ratio reader, normal
    quantile): lift to 1e-9, interval within 1e-3 (t vs normal quantile)."""
    options = dataclasses.replace(GUARDRAIL, primary="signups", guardrails=())
    a = analyse_platform("growthbook:exp_abc123", options=options, environ=gb_env)
    rpo = by_name(a, "revenue_per_order").comparison
    lines = [
        "variant,users,signups,rpo_num_sum,rpo_num_sum_sq,rpo_den_sum,rpo_den_sum_sq,"
        "rpo_num_den_sum"
    ]
    for arm in arms:
        lines.append(
            f"{arm.name},{arm.n},{int(arm.signup.sum())},{arm.revenue.sum()!r},"
            f"{(arm.revenue**2).sum()!r},"
            f"{arm.orders.sum()!r},{(arm.orders**2).sum()!r},{(arm.revenue * arm.orders).sum()!r}"
        )
    csv = analyze(("\n".join(lines) + "\n").encode(), file_name="r.csv", options=options)
    ratio = by_name(csv, "rpo").comparison
    assert rpo.abs_lift == pytest.approx(ratio.abs_lift, rel=1e-9)
    assert rpo.standard_error == pytest.approx(ratio.standard_error, rel=1e-9)
    assert rpo.abs_ci == pytest.approx(ratio.abs_ci, rel=1e-3)
    assert any(f.code == "platform_metric" and "ratio" in f.message for f in a.health.findings)


def test_growthbook_cuped_is_said_and_mean_metrics_flagged(arms):
    server = growthbook(arms, api_key=GB_KEY, cuped=True)
    try:
        env = {"GROWTHBOOK_API_KEY": GB_KEY, "GROWTHBOOK_API_URL": server.url}
        a = analyse_platform("growthbook:exp_abc123", options=GUARDRAIL, environ=env)
    finally:
        server.stop()
    codes = {f.code: f.message for f in a.health.findings}
    assert "CUPED" in codes["platform_cuped"]
    assert by_name(a, "signups").kind == "proportion"  # 0/1 metrics stay exact


def test_growthbook_lists_every_page_and_finds_a_tracking_key(gb, gb_env):
    provider = GrowthBook(gb_env)
    listed = provider.list_experiments()
    assert len(listed) == 150 and listed[-1].key == "exp_abc123"
    offsets = [c.query["offset"] for c in gb.calls if c.path == "/v1/experiments"]
    assert offsets == ["0", "100"]
    a = analyse_platform("growthbook:homepage-cta", options=GUARDRAIL, environ=gb_env)
    assert a.experiment.file_name == "growthbook:homepage-cta"
    provider.close()


def test_growthbook_fresh_snapshot_is_posted_and_polled(gb, gb_env):
    sleeps: list[float] = []
    provider = GrowthBook(gb_env, sleep=sleeps.append)
    provider.fetch_results("exp_abc123", snapshot=True, phase=0)
    paths = [(c.method, c.path) for c in gb.calls]
    assert ("POST", "/v1/experiments/exp_abc123/snapshot") in paths
    assert paths.count(("GET", "/v1/snapshots/snp_new")) == 2 and sleeps == [5.0]
    post = next(c for c in gb.calls if c.method == "POST")
    assert post.body["phase"] == 0
    assert next(c for c in gb.calls if c.path.endswith("/results")).query == {"phase": "0"}


@pytest.mark.parametrize(
    "key", ["exp_abc123/../../v1/experiments", "exp_abc123?x=1", "..", "a b#c"]
)
def test_a_key_is_one_path_segment_never_another_path(key, gb, gb_env, sg, sg_env):
    """A key typed in Slack or on the command line is escaped as one segment of the URL path:
    the platform is asked for an experiment of that name (404: one line), never another path."""
    with pytest.raises(ExperimentError, match="no experiment"):
        analyse_platform(f"growthbook:{key}", options=Options(), environ=gb_env)
    with pytest.raises(ExperimentError, match="Statsig"):
        analyse_platform(f"statsig:{key}", options=Options(), environ=sg_env)
    # GrowthBook looks a key that is not an id (exp_…) up as a tracking key, in the query
    for server, prefix in ((gb, "/v1/experiments"), (sg, "/console/v1/experiments")):
        keyed = [c for c in server.calls if c.path != prefix]
        assert all(c.path.startswith(prefix + "/") for c in keyed)
        assert all(c.path.count("/") == prefix.count("/") + 1 and not c.query for c in keyed)
    assert any(c.path != "/console/v1/experiments" for c in sg.calls)
    if key.startswith("exp_"):
        assert any(c.path != "/v1/experiments" for c in gb.calls)


def test_growthbook_errors_are_one_line_naming_the_platform_never_the_key(gb, gb_env, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = {**gb_env, "GROWTHBOOK_API_KEY": "secret_wrong_key"}
    with pytest.raises(PlatformError) as refused:
        analyse_platform("growthbook:exp_abc123", options=GUARDRAIL, environ=wrong)
    assert "GrowthBook" in refused.value.message and "GROWTHBOOK_API_KEY" in refused.value.message
    with pytest.raises(PlatformError) as unknown:
        analyse_platform("growthbook:exp_nope", options=GUARDRAIL, environ=gb_env)
    assert "no experiment 'exp_nope'" in unknown.value.message
    with pytest.raises(PlatformError) as empty:
        analyse_platform("growthbook:exp_0001", options=GUARDRAIL, environ=gb_env)
    assert "no results" in empty.value.message and "\n" not in empty.value.message
    with pytest.raises(ExperimentError, match="set GROWTHBOOK_API_KEY"):
        analyse_platform("growthbook:exp_abc123", options=GUARDRAIL, environ={})
    for line in (refused.value.message, unknown.value.message, empty.value.message, caplog.text):
        assert GB_KEY not in line and "secret_wrong_key" not in line


def test_429_retry_after_is_honoured_then_bounded(gb, gb_env):
    sleeps: list[float] = []
    gb.queued.append((429, {"Retry-After": "3"}, {"message": "Too many requests"}))
    provider = GrowthBook(gb_env, sleep=sleeps.append)
    assert provider.fetch_results("exp_abc123").name == "Homepage CTA"
    assert sleeps == [3.0]
    gb.queued.extend([(429, {"Retry-After": "50"}, {"message": "Too many requests"})] * 3)
    with pytest.raises(PlatformError, match="GrowthBook rate limit persisted"):
        provider.fetch_results("exp_abc123")
    assert sleeps == [3.0, 50.0]  # the next 50 s would pass the 60 s bound: no more waiting
    provider.close()


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 12, 5, 9, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", 1.0, now=now) == 7.0
    # RFC 9110's IMF-fixdate form, 42 s after now; a date already past waits nothing
    assert retry_after_seconds("Sat, 05 Dec 2026 09:00:42 GMT", 1.0, now=now) == 42.0
    assert retry_after_seconds("Sat, 05 Dec 2026 08:59:00 GMT", 1.0, now=now) == 0.0
    assert retry_after_seconds("soon", 1.5, now=now) == 1.5
    assert retry_after_seconds(None, 2.0, now=now) == 2.0
    assert retry_after_seconds("-4", 2.0, now=now) == 2.0


def test_client_pace_stays_under_the_documented_limit():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pace = Pace(60, 60.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(61):
        pace.wait()
    assert waits == [60.0]


def test_a_platform_that_does_not_answer_is_one_line():
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = Client(
        platform="GrowthBook",
        base_url="http://127.0.0.1:1/api",
        headers={"Authorization": "Bearer secret_x"},
        key_hint="…",
        pace=Pace(100, 1.0),
        transport=httpx.MockTransport(hang),
    )
    with pytest.raises(PlatformError, match="GrowthBook did not answer within") as error:
        client.request("GET", "/v1/experiments")
    assert "secret_x" not in error.value.message


# --------------------------------------------------------------------------- Statsig


SPEC_EXAMPLE = {  # console-api/capiopenapi.json, ExperimentPulseResultsDto's example
    "primaryMetrics": [
        {
            "metricID": "Purchase::user_warehouse",
            "value": -0.5656598720428505,
            "confidence_interval_delta": 1.3331521511820725,
            "percent_change": -0.9104559464139017,
            "percent_confidence_interval_delta": 2.145770565507353,
            "test_mean": 61.56363636363636,
            "control_mean": 62.12929623567921,
            "test_std": 0.7461734327711735,
            "control_std": 0.7248273669644147,
            "test_units": 1669,
            "control_units": 1589,
            "p_value": 0.7066986120589813,
        }
    ],
    "secondaryMetrics": [
        {
            "metricID": "Support Success Rate::user_warehouse",
            "value": 0.0032568848232868985,
            "confidence_interval_delta": 0.009120368109978388,
            "percent_change": 0.4569873400680713,
            "test_mean": 0.7159428911362284,
            "control_mean": 0.7126860063129415,
            "test_std": 0.0038882253564431193,
            "control_std": 0.003953024266669566,
            "test_units": 4696,
            "control_units": 4690,
            "p_value": 0.5569502167465609,
        }
    ],
}


def test_statsig_std_is_a_standard_error_by_the_specs_own_example():
    """The example's half-widths over hypot(se_t, se_c) are z(0.90) and z(0.95) (80% and 90%
    two-sided intervals from standard errors): so sd = se·√n."""
    purchase, support = SPEC_EXAMPLE["primaryMetrics"][0], SPEC_EXAMPLE["secondaryMetrics"][0]
    for metric, q in ((purchase, 0.90), (support, 0.95)):
        z = metric["confidence_interval_delta"] / math.hypot(
            metric["test_std"], metric["control_std"]
        )
        assert z == pytest.approx(stats.norm.ppf(q), rel=1e-5)
        assert metric["value"] == pytest.approx(
            metric["test_mean"] - metric["control_mean"], rel=1e-12
        )
    results = parse_pulse("a_experiment", "A", "Control", [("Test", SPEC_EXAMPLE)])
    test_arm = results.metrics[0].variants[1]
    assert math.sqrt(
        (test_arm.total_sq - test_arm.total**2 / test_arm.n) / (test_arm.n - 1)
    ) == pytest.approx(0.7461734327711735 * math.sqrt(1669), rel=1e-12)
    assert test_arm.mean == pytest.approx(61.56363636363636, rel=1e-12)
    # our Welch test on the rebuilt arms has the example's SE of the difference
    a = analyse_platform_from(results, primary="purchase")
    se = a.primary[0].comparison.standard_error
    assert se == pytest.approx(math.hypot(0.7461734327711735, 0.7248273669644147), rel=1e-12)


def analyse_platform_from(results, **options):
    from experimentos.analysis.assemble import analyze_data
    from experimentos.ingest.arms import experiment_data
    from experimentos.platforms.table import stats_table

    opts = Options(control=results.control.casefold(), **options)
    data = experiment_data(stats_table(results, opts), options=opts)
    return analyze_data(data, options=opts, thresholds=Thresholds())


def test_statsig_camel_and_snake_case_give_the_same_arms():
    camel = {
        "metricID": "conversion_rate",
        "metricName": "Conversion Rate",
        "absoluteChange": 0.0025,
        "confidenceIntervalDelta": 0.0015,
        "percentChange": 2.5,
        "testMean": 0.1025,
        "controlMean": 0.1,
        "testStd": 0.0012,
        "controlStd": 0.0011,
        "testUnits": 1500,
        "controlUnits": 1480,
        "pValue": 0.045,
    }
    snake = {
        "metricID": "conversion_rate",
        "metricName": "Conversion Rate",
        "value": 0.0025,
        "confidence_interval_delta": 0.0015,
        "percent_change": 2.5,
        "test_mean": 0.1025,
        "control_mean": 0.1,
        "test_std": 0.0012,
        "control_std": 0.0011,
        "test_units": 1500,
        "control_units": 1480,
        "p_value": 0.045,
    }
    one = parse_pulse("x", "x", "Control", [("Test", {"primaryMetrics": [camel]})])
    two = parse_pulse("x", "x", "Control", [("Test", {"primary_metrics": [snake]})])
    assert one.metrics == two.metrics
    assert one.metrics[0].lifts[0].relative == pytest.approx(0.025)


def test_statsig_pulse_through_the_stand_in_agrees_with_its_lift_and_with_the_csv(sg, sg_env, arms):
    """Statsig's own interval is normal with SEs (z test, delta-method relative CI): ours is the
    same test on the rebuilt sums, so the lift agrees to 1e-9, a mean's SE to 1e-9 and the
    absolute CI to 1e-4 (a 0/1 metric's SE: Statsig's sample sd, n − 1, against the Wald
    p(1 − p)/n, a factor √(n/(n−1)), 2.4e-5 here; a mean's bounds: Welch's t quantile at
    df ≈ 40,000 against Statsig's normal one, 1.4e-5);
    the same sums as an aggregated CSV give the same verdict and figures to 1e-9 (the 0/1 metrics'
    sums rebuilt from mean·n exactly)."""
    options = dataclasses.replace(GUARDRAIL, primary="signups")
    a = analyse_platform("statsig:homepage_cta", options=options, environ=sg_env)
    calls = [c for c in sg.calls if c.path.endswith("pulse_results")]
    assert len(calls) == 1 and calls[0].query["cuped"] == "false"
    assert calls[0].headers["statsig-api-key"] == STATSIG_KEY
    provider = Statsig(sg_env)
    results = provider.fetch_results("homepage_cta")
    provider.close()
    metrics = {m.key: m for m in results.metrics}
    assert metrics["signups"].kind == "proportion" and metrics["revenue"].kind == "mean"
    for name in ("signups", "revenue"):
        (lift,) = metrics[name].lifts
        ours = by_name(a, name).comparison
        assert ours.rel_lift == pytest.approx(lift.relative, rel=1e-9)
        assert ours.abs_ci == pytest.approx(lift.absolute_ci, rel=1e-4)
    revenue = metrics["revenue"].lifts[0]
    half = (revenue.absolute_ci[1] - revenue.absolute) / Z975
    assert by_name(a, "revenue").comparison.standard_error == pytest.approx(half, rel=1e-9)
    csv = analyze(aggregated_csv(arms).encode(), file_name="homepage.csv", options=options)
    assert csv.verdict.kind == a.verdict.kind
    for name in ("signups", "revenue", "errors"):
        mine, theirs = by_name(a, name).comparison, by_name(csv, name).comparison
        assert mine.abs_lift == pytest.approx(theirs.abs_lift, rel=1e-9, abs=1e-12)
        assert mine.abs_ci == pytest.approx(theirs.abs_ci, rel=1e-9, abs=1e-12)


def test_statsig_three_groups_take_one_call_per_pair_both_spellings(arms):
    three = draw_arms(seed=11, n=(5000, 5000, 5000))
    server = statsig(three, api_key=STATSIG_KEY)
    try:
        env = {"STATSIG_CONSOLE_KEY": STATSIG_KEY, "STATSIG_API_URL": server.url}
        a = analyse_platform("statsig:homepage_cta", options=GUARDRAIL, environ=env)
        listed = Statsig(env).list_experiments()
    finally:
        server.stop()
    assert [c.query["test"] for c in server.calls if c.path.endswith("pulse_results")] == [
        "grp_1",
        "grp_2",
    ]
    assert {m.arm for m in a.primary} == {"green button", "blue button"}
    assert len(listed) == 150
    assert [c.query["page"] for c in server.calls if c.path == "/console/v1/experiments"] == [
        "1",
        "2",
    ]


def test_statsig_wrong_key_and_unknown_experiment(sg_env):
    with pytest.raises(PlatformError) as refused:
        analyse_platform(
            "statsig:homepage_cta",
            options=GUARDRAIL,
            environ={**sg_env, "STATSIG_CONSOLE_KEY": "x"},
        )
    assert (
        "STATSIG_CONSOLE_KEY" in refused.value.message
        and "Console API key" in refused.value.message
    )
    with pytest.raises(PlatformError, match="Statsig has no experiment 'nope'"):
        analyse_platform("statsig:nope", options=GUARDRAIL, environ=sg_env)


def test_arm_stats_from_a_standard_error():
    v = arm_stats("t", 100, 2.7, 0.5)
    assert v.total == pytest.approx(270) and v.total_sq == pytest.approx(99 * 25 + 100 * 2.7**2)


# --------------------------------------------------------------------------- Hackle


def test_hackle_lists_through_the_admin_api_and_reads_an_exported_csv(arms, tmp_path: Path):
    server = hackle(api_key=HACKLE_KEY)
    try:
        env = {"HACKLE_ADMIN_KEY": HACKLE_KEY, "HACKLE_API_URL": server.url}
        provider = Hackle(env)
        assert len(provider.list_experiments()) == 130
        assert [c.query["pageNumber"] for c in server.calls] == ["1", "2"]
        assert all(c.query["environmentKey"] == "PRODUCTION" for c in server.calls)
        with pytest.raises(PlatformError, match="Hackle publishes no results API"):
            provider.fetch_results("130")
        provider.close()
        export = tmp_path / "hackle_export.csv"
        export.write_text(aggregated_csv(arms))
        options = dataclasses.replace(GUARDRAIL, primary="signups")
        a = analyse_platform("hackle:130", options=options, environ=env, results_file=export)
    finally:
        server.stop()
    csv = analyze(aggregated_csv(arms).encode(), file_name="x.csv", options=options)
    assert a.experiment.name == "Homepage CTA"
    assert a.verdict.kind == csv.verdict.kind
    assert a.primary[0].comparison.abs_ci == csv.primary[0].comparison.abs_ci
    with pytest.raises(ExperimentError, match="Hackle publishes no results API"):
        analyse_platform("hackle:130", options=options, environ=env)


def test_a_malformed_reference_is_one_line():
    with pytest.raises(ExperimentError, match="growthbook:EXP_KEY"):
        analyse_platform("optimizely:x", options=Options(), environ={})


# --------------------------------------------------------------------------- command line


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experimentos.cli.commands", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def test_cli_source_growthbook_gives_the_csv_verdict_and_hides_the_key(gb_env, arms, tmp_path):
    flags = ("--primary", "signups", "--guardrails", "errors", "--control", "control")
    platform = cli(
        "analyze", "--source", "growthbook:exp_abc123", *flags, "--format", "json", env=gb_env
    )
    assert platform.returncode == 0, platform.stderr
    export = tmp_path / "homepage.csv"
    export.write_text(aggregated_csv(arms))
    csv = cli("analyze", str(export), *flags, "--format", "json", env={})
    mine, theirs = json.loads(platform.stdout), json.loads(csv.stdout)
    assert mine["verdict"]["kind"] == theirs["verdict"]["kind"] == "launch"
    assert mine["primary"][0]["comparison"]["abs_ci"] == pytest.approx(
        theirs["primary"][0]["comparison"]["abs_ci"], rel=1e-9
    )
    wrong = cli(
        "analyze",
        "--source",
        "growthbook:exp_abc123",
        env={**gb_env, "GROWTHBOOK_API_KEY": "secret_bad"},
    )
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert "GROWTHBOOK_API_KEY" in wrong.stderr and "secret_bad" not in wrong.stderr


# --------------------------------------------------------------------------- GrowthBook shapes


def test_growthbook_dimension_values_are_segments_pooled_as_a_csv_with_a_segment_column():
    from platform_standins import growthbook_results

    from experimentos.platforms.growthbook import parse_results

    us, de = draw_arms(seed=1, n=(3000, 3100)), draw_arms(seed=2, n=(2000, 1900))
    body = growthbook_results(us)
    body["result"]["results"] = [
        {**growthbook_results(part)["result"]["results"][0], "dimension": country}
        for country, part in (("US", us), ("DE", de))
    ]
    results = parse_results("exp_abc123", body["experiment"], body["result"], dimension="country")
    options = dataclasses.replace(GUARDRAIL, primary="signups")
    a = analyse_platform_from(results, primary="signups", guardrails=options.guardrails)
    lines = ["variant,segment,users,signups,errors,revenue_sum,revenue_sum_sq"]
    for country, part in (("US", us), ("DE", de)):
        for row in aggregated_csv(part).strip().split("\n")[1:]:
            name, rest = row.split(",", 1)
            lines.append(f"{name},{country},{rest}")
    csv = analyze(("\n".join(lines) + "\n").encode(), file_name="by_country.csv", options=options)
    assert {s.segment for s in a.segments} == {s.segment for s in csv.segments} == {"us", "de"}
    assert a.primary[0].comparison.abs_ci == pytest.approx(
        csv.primary[0].comparison.abs_ci, rel=1e-9
    )
    assert by_name(a, "revenue").comparison.p_value == pytest.approx(
        by_name(csv, "revenue").comparison.p_value, rel=1e-9
    )
    assert all(not m.lifts for m in results.metrics)  # per-value lifts are not cross-checked


def test_growthbook_zero_means_missing(arms):
    from platform_standins import growthbook_results

    from experimentos.platforms.growthbook import parse_results

    body = growthbook_results(arms)
    revenue = next(
        m for m in body["result"]["results"][0]["metrics"] if m["metricId"] == "met_revenue"
    )
    revenue["variations"][1]["analyses"] = [
        dict.fromkeys(revenue["variations"][1]["analyses"][0], 0) | {"engine": "frequentist"}
    ]
    signup = body["result"]["results"][0]["metrics"][0]
    signup["variations"][1]["analyses"][0].update(percentChange=0, ciLow=0, ciHigh=0)
    results = parse_results("exp_abc123", body["experiment"], body["result"])
    keys = [m.key for m in results.metrics]
    assert "revenue" not in keys and "signups" in keys
    assert any(f.code == "platform_missing" and "revenue" in f.message for f in results.findings)
    assert next(m for m in results.metrics if m.key == "signups").lifts == ()


def test_the_experiments_command_lists_every_page_with_its_keys(gb, gb_env):
    listed = cli("experiments", "growthbook", "--format", "json", env=gb_env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 150  # two pages of 100 and 50 behind hasMore / nextOffset
    assert {"key": "exp_abc123", "name": "Homepage CTA"}.items() <= next(
        r for r in rows if r["key"] == "exp_abc123"
    ).items()
    stopped = cli(
        "experiments", "growthbook", "--status", "STOPPED", "--format", "json", env=gb_env
    )
    assert len(json.loads(stopped.stdout)) == 149
    text = cli("experiments", "growthbook", env=gb_env)
    assert any(
        line.startswith("exp_abc123") and "Homepage CTA" in line
        for line in text.stdout.splitlines()
    )
    wrong = cli("experiments", "growthbook", env={**gb_env, "GROWTHBOOK_API_KEY": "secret_wrong"})
    assert wrong.returncode == 2 and wrong.stdout == ""
    [line] = wrong.stderr.strip().splitlines()
    assert line.startswith("experimentos: GrowthBook") and "secret_wrong" not in line
