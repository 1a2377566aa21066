"""Properties of the analysis core (ARCHITECTURE "Habits"), checked with hypothesis.

- any bytes into ``ingest.parse`` and ``analyze`` give a result or an ExperimentError;
- swapping the two arms negates the absolute lift and its CI;
- every CI contains its estimate, and every p-value lies in [0, 1];
- pooling sufficient statistics equals the statistics of the pooled raw data.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from experimentos import ingest
from experimentos.analysis.assemble import analyze
from experimentos.errors import ExperimentError
from experimentos.model import MeanStats, Options, ProportionStats, Thresholds
from experimentos.report.memo import render_markdown
from experimentos.stats.means import welch_comparison
from experimentos.stats.proportions import (
    chi_square_independence,
    compare_proportions,
    compare_rates,
    srm_chi_square,
)

THRESHOLDS = Thresholds()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROPERTY = settings(max_examples=150, deadline=None)

# --------------------------------------------------------------------------- any bytes


def _survives(data: bytes, options: Options = Options()) -> str:
    """The contract: an ExperimentError (unreadable file, bad option) or a result.

    Returns what happened — "rejected" (an ExperimentError), "blocked" (a result whose health
    is Blocked) or "measured" — so that each property can bound how often it gave up early: a
    reader that raised on everything, or blocked everything, would otherwise pass."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = ingest.parse(data, file_name="upload.csv", options=options)
        except ExperimentError:
            return "rejected"
        assert parsed.source.size_bytes == len(data)
        result = analyze(data, file_name="upload.csv", options=options, thresholds=THRESHOLDS)
    assert result.verdict.kind in {"launch", "hold", "rollback"}
    if result.health.blocked:  # rule 2 when a Blocked-level SRM is the only blocking finding
        assert result.verdict.kind == "hold" and result.verdict.rule in (1, 2)
    json.dumps(result.to_dict(), allow_nan=False)  # what the store and --format json write
    render_markdown(result)
    for metric in (*result.primary, *result.secondary, *(g.metric for g in result.guardrails)):
        p = metric.comparison.p_value
        assert math.isnan(p) or 0 <= p <= 1
    return "blocked" if result.health.blocked else "measured"


def _assert_shares(
    seen: Counter[str], *, rejected_at_most: float, measured_at_least: float
) -> None:
    """Bound the examples a property gave up on. The bounds sit well outside the shares these
    strategies gave over several random runs of 60–80 examples, so they hold for any seed."""
    total = sum(seen.values())
    assert total >= 20, seen  # hypothesis ran the property, not just a handful of examples
    assert seen["rejected"] <= rejected_at_most * total, f"too many rejected inputs: {seen}"
    assert seen["measured"] >= measured_at_least * total, f"too few measured results: {seen}"


def test_any_bytes_give_a_result_or_an_experiment_error():
    seen: Counter[str] = Counter()

    @FUZZ
    @given(st.binary(max_size=2_000))
    def run(data):
        seen[_survives(data)] += 1

    run()
    # Random bytes are not a results file: 40–50 % are rejected as unreadable, the rest read as
    # a CSV with Blocked findings. Both kinds must occur.
    total = sum(seen.values())
    assert seen["rejected"] >= 0.1 * total and seen["blocked"] >= 0.2 * total, seen


CELLS = st.one_of(
    st.integers(-5, 10**7).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e308",
            "-1e308",
            "1e309",
            "9" * 40,
            "1.5",
            "-0",
            "1,000",
            '"1,000"',
            "TRUE",
            "no",
            "yes",
            "control",
            "Control ",
            "treatment",
            "b",
            "é",
            "日本",
            "\u200b",
            '"',
            "'",
            "0x1A",
            "1e-300",
            "NULL",
            "#N/A",
        ]
    ),
    st.text(max_size=6),
)
HEADERS = st.sampled_from(
    [
        "variant",
        "users",
        "conversions",
        "guardrail_errors",
        "guardrail_refunds",
        "revenue_sum",
        "revenue_sum_sq",
        "revenue_n",
        "revenue_pre_sum",
        "revenue_pre_sum_sq",
        "revenue_cross_sum",
        "segment",
        "user_id",
        "converted",
        "group",
        "pre_revenue",
        "revenue",
        "notes",
        "",
        "Variant ",
        "USERS",
        "ünïcödé",
        "user id",
    ]
)


@st.composite
def csv_like(draw):
    """Random headers and cells, random delimiter and line ends, ragged rows."""
    header = draw(st.lists(HEADERS, min_size=1, max_size=8))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    rows = draw(
        st.lists(
            st.lists(CELLS, min_size=max(len(header) - 1, 0), max_size=len(header) + 1),
            max_size=8,
        )
    )
    text = newline.join(delimiter.join(r) for r in [header, *rows])
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"])), "replace")


def test_structured_garbage_gives_a_result_or_an_experiment_error():
    seen: Counter[str] = Counter()

    @FUZZ
    @given(csv_like())
    def run(data):
        seen[_survives(data)] += 1

    run()
    # 15–40 % are rejected (no header the readers accept, bytes of another encoding); the rest
    # must reach the analysis.
    total = sum(seen.values())
    assert seen["rejected"] <= 0.75 * total and seen["blocked"] >= 0.2 * total, seen


EXTREME = st.sampled_from(["-1", "1.5", "nan", "", "1e308", str(10**30), str(2**53 + 1), "inf"])


@st.composite
def aggregated_files(draw):
    """Mostly valid aggregated files, arms of similar size (so SRM rarely blocks and the
    statistics run), with extreme values sprinkled in: 0% and 100% rates, tiny and 10¹⁵ arms,
    guardrails counting several events per user, huge or non-finite sums."""
    arms = ["control", *draw(st.lists(st.sampled_from(["b", "c", "d"]), unique=True, min_size=1))]
    extra = draw(
        st.lists(st.sampled_from(["guardrail_errors", "guardrail_refunds", "signups"]), unique=True)
    )
    with_means = draw(st.booleans())
    header = ["variant", "users", "conversions", *extra]
    if with_means:
        header += ["revenue_sum", "revenue_sum_sq", "revenue_n"]
    base = draw(st.sampled_from([1, 5, 30, 200, 5_000, 10**6, 10**9, 10**15]))
    lines = [",".join(header)]
    for arm in arms:
        users = base + draw(st.integers(0, max(1, int(base**0.5))))
        rate = draw(st.sampled_from([0.0, 1.0, 0.5, 0.01, 1e-7]) | st.floats(0, 1))
        cells = [arm, str(users), str(round(users * rate))]
        cells += [str(round(users * draw(st.floats(0, 3)))) for _ in extra]
        if with_means:
            mean, sd = draw(st.floats(-1e3, 1e3)), draw(st.floats(0, 1e3))
            stats = _mean_stats(max(users, 2), mean, sd)
            cells += [repr(stats.total), repr(stats.total_sq), str(max(users, 2))]
        if draw(st.integers(0, 9)) == 0:  # one cell in ten rows is garbage
            cells[draw(st.integers(1, len(cells) - 1))] = draw(EXTREME)
        lines.append(",".join(cells))
    return "\n".join(lines).encode()


def test_extreme_numbers_give_a_result_or_an_experiment_error():
    seen: Counter[str] = Counter()

    # derandomize: the share measured is a property of the examples drawn; over 20 random seeds
    # it ranged 45–79 %, so a random draw could fall under the bound now and then. A fixed draw
    # makes the bound a reproducible check rather than a coin that fails one run in many.
    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,
    )
    @given(aggregated_files(), st.sampled_from(["holm", "bonferroni", "bh"]))
    def run(data, correction):
        seen[_survives(data, Options(correction=correction))] += 1

    run()
    # Readable files all: none is rejected; 45–80 % measure (the rest carry a garbage cell or a
    # sample ratio mismatch and are Blocked).
    _assert_shares(seen, rejected_at_most=0.0, measured_at_least=0.4)


@st.composite
def user_level_files(draw):
    """Mostly valid user-level files (unique ids, 0/1 conversions) with sprinkled problems:
    repeated or crossed users, empty and non-boolean cells, negative or fractional guardrail
    counts, 1e308 and inf in numeric columns."""
    header = ["user_id", "variant", "converted"]
    header += draw(
        st.lists(
            st.sampled_from(["guardrail_errors", "revenue", "pre_revenue", "segment", "flag"]),
            unique=True,
            max_size=3,
        )
    )
    valid = {
        "converted": st.sampled_from(["0", "1", "TRUE", "no"]),
        "guardrail_errors": st.sampled_from(["0", "1", "2"]),
        "revenue": st.floats(0, 1e4).map(repr),
        "pre_revenue": st.sampled_from(["0", "5", "12.5"]),
        "segment": st.sampled_from(["ios", "web"]),
        "flag": st.sampled_from(["TRUE", "false", "yes", "0"]),
    }
    garbage = st.sampled_from(["", "2", "-3", "1.5", "inf", "1e308", "nan", "maybe", "é"])
    lines = [",".join(header)]
    for index in range(draw(st.integers(0, 40))):
        user = str(index) if draw(st.integers(0, 19)) else draw(st.sampled_from(["0", "1", "u"]))
        cells = [user, draw(st.sampled_from(["control", "treatment", "Control", "b"]))]
        cells += [draw(valid[column]) for column in header[2:]]
        if draw(st.integers(0, 19)) == 0:
            cells[draw(st.integers(1, len(cells) - 1))] = draw(garbage)
        lines.append(",".join(cells))
    return "\n".join(lines).encode()


def test_user_level_garbage_gives_a_result_or_an_experiment_error():
    seen: Counter[str] = Counter()

    @FUZZ
    @given(user_level_files())
    def run(data):
        seen[_survives(data)] += 1

    run()
    # Readable files all: none is rejected; 15–45 % measure (empty files, crossed users and
    # garbage cells are Blocked).
    _assert_shares(seen, rejected_at_most=0.0, measured_at_least=0.05)


# --------------------------------------------------------------------------- arms and intervals


@st.composite
def arm_pairs(draw, max_users: int = 1_000_000):
    def one():
        users = draw(st.integers(1, max_users))
        return ProportionStats(users, draw(st.integers(0, users)))

    return one(), one()


@PROPERTY
@given(arm_pairs())
def test_swapping_the_arms_negates_the_absolute_lift_and_its_ci(pair):
    control, treatment = pair
    forward = compare_proportions(control, treatment)
    backward = compare_proportions(treatment, control)
    assert backward.method == forward.method
    assert backward.abs_lift == -forward.abs_lift
    assert backward.abs_ci == pytest.approx((-forward.abs_ci[1], -forward.abs_ci[0]), abs=1e-12)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-9, abs=1e-300)


@PROPERTY
@given(
    st.tuples(st.integers(2, 10**6), st.floats(-1e3, 1e3), st.floats(0.01, 1e3)),
    st.tuples(st.integers(2, 10**6), st.floats(-1e3, 1e3), st.floats(0.01, 1e3)),
)
def test_swapping_the_arms_negates_the_welch_lift_and_its_ci(control_moments, treatment_moments):
    control, treatment = (_mean_stats(*m) for m in (control_moments, treatment_moments))
    forward = welch_comparison(control, treatment)
    backward = welch_comparison(treatment, control)
    assert backward.abs_lift == pytest.approx(-forward.abs_lift, rel=1e-12, abs=1e-12)
    assert backward.abs_ci == pytest.approx((-forward.abs_ci[1], -forward.abs_ci[0]), rel=1e-9)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-9)


def _mean_stats(n: int, mean: float, sd: float) -> MeanStats:
    """Sufficient statistics of n values with this mean and sample standard deviation."""
    return MeanStats(n, mean * n, sd**2 * (n - 1) + mean**2 * n)


def test_swapping_arms_through_analyze_negates_the_lift():
    rows = "variant,users,conversions\ncontrol,10000,1000\nnew,10000,1090\n"
    forward = analyze(rows.encode(), file_name="a.csv", thresholds=THRESHOLDS)
    backward = analyze(
        rows.encode(), file_name="a.csv", options=Options(control="new"), thresholds=THRESHOLDS
    )
    f, b = forward.primary[0].comparison, backward.primary[0].comparison
    assert b.abs_lift == -f.abs_lift
    assert b.abs_ci == pytest.approx((-f.abs_ci[1], -f.abs_ci[0]), abs=1e-15)
    assert (forward.verdict.kind, backward.verdict.kind) == ("launch", "rollback")


@PROPERTY
@given(arm_pairs(), st.sampled_from([0.01, 0.05, 0.2]))
def test_every_interval_contains_its_estimate_and_p_is_a_probability(pair, alpha):
    control, treatment = pair
    for result in (
        compare_proportions(control, treatment, alpha=alpha),
        compare_rates(control, treatment, alpha=alpha),
    ):
        assert 0 <= result.p_value <= 1
        assert result.abs_ci[0] <= result.abs_lift <= result.abs_ci[1]
        if not math.isnan(result.rel_lift):
            assert result.rel_ci[0] <= result.rel_lift <= result.rel_ci[1]


@PROPERTY
@given(
    st.tuples(st.integers(2, 10**6), st.floats(-1e3, 1e3), st.floats(0, 1e3)),
    st.tuples(st.integers(2, 10**6), st.floats(-1e3, 1e3), st.floats(0, 1e3)),
)
def test_welch_interval_contains_the_estimate(control_moments, treatment_moments):
    control, treatment = (_mean_stats(*m) for m in (control_moments, treatment_moments))
    result = welch_comparison(control, treatment)
    if math.isnan(result.p_value):  # no variance in either arm: no test
        return
    assert 0 <= result.p_value <= 1
    assert result.abs_ci[0] <= result.abs_lift <= result.abs_ci[1]


@PROPERTY
@given(st.lists(st.integers(0, 10**9), min_size=2, max_size=8))
def test_srm_and_independence_p_values_are_probabilities(counts):
    assume(sum(counts) > 0)
    _, p_value = srm_chi_square(counts, [1.0] * len(counts))
    assert 0 <= p_value <= 1
    arms = [ProportionStats(n + 1, n // 3) for n in counts]
    _, _, p_value = chi_square_independence(arms)
    assert 0 <= p_value <= 1


# --------------------------------------------------------------------------- pooling


@PROPERTY
@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=50), min_size=1, max_size=6))
def test_pooling_proportion_stats_equals_the_stats_of_the_pooled_users(chunks):
    pooled = ProportionStats(0, 0)
    for chunk in chunks:
        pooled = pooled + ProportionStats(len(chunk), sum(chunk))
    everyone = [x for chunk in chunks for x in chunk]
    assert pooled == ProportionStats(len(everyone), sum(everyone))
    assert pooled.rate == pytest.approx(np.mean(everyone))


@PROPERTY
@given(
    st.lists(
        hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e4, 1e4, width=32)),
        min_size=1,
        max_size=6,
    )
)
def test_pooling_mean_stats_equals_the_stats_of_the_pooled_values(chunks):
    pooled = MeanStats(0, 0.0, 0.0)
    for chunk in chunks:
        pooled = pooled + MeanStats(len(chunk), float(chunk.sum()), float((chunk**2).sum()))
    values = np.concatenate(chunks)
    assert pooled.n == len(values)
    assert pooled.mean == pytest.approx(values.mean(), rel=1e-9, abs=1e-9)
    if len(values) >= 2:
        scale = 1e-9 * float((values**2).mean())  # Σx² − (Σx)²/n: the sufficient stats' limit
        assert pooled.variance == pytest.approx(values.var(ddof=1), rel=1e-7, abs=scale + 1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["control", "b"]),
            st.sampled_from(["ios", "web", "android"]),
            st.booleans(),
            st.integers(0, 3),
        ),
        min_size=4,
        max_size=80,
    )
)
def test_user_level_file_aggregates_to_the_counts_of_its_rows(rows):
    """ingest's user-level aggregation (DuckDB) against counting the rows here, per arm and per
    segment; segments pooled by addition give the arm totals."""
    lines = ["user_id,variant,segment,converted,guardrail_errors"]
    lines += [
        f"{i},{arm},{seg},{int(conv)},{errors}" for i, (arm, seg, conv, errors) in enumerate(rows)
    ]
    parsed = ingest.parse("\n".join(lines).encode(), file_name="users.csv")
    for arm in parsed.arms:
        mine = [r for r in rows if r[0] == arm.arm]
        assert arm.users == len(mine)
        assert arm.conversions == sum(r[2] for r in mine)
        assert arm.counts["guardrail_errors"] == sum(r[3] for r in mine)
    assert {a.arm for a in parsed.arms} == {r[0] for r in rows}
    for arm in parsed.arms:
        parts = [a for _, seg_arms in parsed.segments for a in seg_arms if a.arm == arm.arm]
        total = ProportionStats(0, 0)
        for part in parts:
            total = total + part.primary
        assert total == arm.primary


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 10**6), st.floats(0, 1), st.floats(0, 100), st.floats(0, 50)),
        min_size=2,
        max_size=4,
    )
)
def test_segmented_aggregated_file_pools_segments_by_addition(segments):
    """Two arms × k segments: the pooled arm is the sum of its segment rows."""
    header = "variant,segment,users,conversions,revenue_sum,revenue_sum_sq"
    lines, totals = [header], {}
    for index, (users, share, mean, sd) in enumerate(segments):
        for arm in ("control", "b"):
            conversions = round(users * share)
            stats = _mean_stats(max(users, 2), mean, sd)
            lines.append(f"{arm},s{index},{users},{conversions},{stats.total!r},{stats.total_sq!r}")
            before = totals.get(arm, (0, 0, 0.0, 0.0))
            totals[arm] = (
                before[0] + users,
                before[1] + conversions,
                before[2] + stats.total,
                before[3] + stats.total_sq,
            )
    parsed = ingest.parse("\n".join(lines).encode(), file_name="segments.csv")
    assert len(parsed.segments) == len(segments)
    for arm in parsed.arms:
        users, conversions, total, total_sq = totals[arm.arm]
        assert (arm.users, arm.conversions) == (users, conversions)
        if "revenue" in arm.means:
            assert arm.means["revenue"].total == pytest.approx(total, rel=1e-12)
            assert arm.means["revenue"].total_sq == pytest.approx(total_sq, rel=1e-12)
