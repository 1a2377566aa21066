"""Data health (SPEC §2.2): ingest findings + arm checks + sample ratio mismatch → HealthReport."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from experimentos.model import (
    ExperimentData,
    Finding,
    HealthReport,
    HealthStatus,
    Options,
    SrmCell,
    SrmResult,
    Thresholds,
)
from experimentos.stats.means import welch_comparison
from experimentos.stats.proportions import srm_chi_square


def check_health(data: ExperimentData, *, options: Options, thresholds: Thresholds) -> HealthReport:
    findings = list(data.findings)
    blocked_already = any(f.severity == "blocked" for f in findings)
    labels = [arm.arm for arm in data.arms]
    if not blocked_already:
        findings += _arm_findings(data, labels, thresholds)
        findings += _guardrail_findings(data, options)
    srm = None
    if len(labels) >= 2 and not any(f.severity == "blocked" for f in findings):
        srm, srm_findings = _srm(data, options, thresholds)
        findings += srm_findings
    return HealthReport(status=_status(findings), findings=tuple(findings), srm=srm)


def _arm_findings(data: ExperimentData, labels: list[str], thresholds: Thresholds) -> list[Finding]:
    findings = []
    if len(labels) < 2:
        findings.append(
            Finding(
                "blocked",
                "too_few_variants",
                f"The file has {len(labels)} variant(s); "
                "an experiment needs a control and at least one treatment.",
                column="variant",
            )
        )
    elif data.control not in labels:
        findings.append(
            Finding(
                "blocked",
                "no_control",
                f"No arm is called {data.control!r}. Name the control arm with the control option "
                f"(the arms are: {', '.join(labels)}).",
                column="variant",
            )
        )
    findings += _pooled_count_findings(data)
    for arm in data.arms:
        if arm.users < thresholds.min_users_per_arm:
            findings.append(
                Finding(
                    "warning",
                    "small_arm",
                    f"{arm.arm!r} has only {arm.users} users (fewer than "
                    f"{thresholds.min_users_per_arm}): estimates are fragile.",
                    column="users",
                )
            )
    return findings


MAX_COUNT = 2**53
"""Counts above 2⁵³ are not exact as floats, and the tests compute in floats: each cell of a file
is checked on reading, and the totals pooled over segments here."""


def _pooled_count_findings(data: ExperimentData) -> list[Finding]:
    findings = []
    for arm in data.arms:
        totals = {"users": arm.users, data.primary_name: arm.conversions, **arm.counts}
        for column, total in totals.items():
            if total > MAX_COUNT:
                where = " pooled over its segments" if data.segments else ""
                findings.append(
                    Finding(
                        "blocked",
                        "count_too_large",
                        f"{arm.arm!r} has {total:,} {column}{where}: above 2⁵³ "
                        f"({MAX_COUNT:,}), counts are not exact in floating point and the "
                        "tests would be wrong. Check the export for a unit or summing error.",
                        column=column,
                    )
                )
    return findings


def _guardrail_findings(data: ExperimentData, options: Options) -> list[Finding]:
    if options.guardrails is None:
        return []
    return [
        Finding(
            "blocked",
            "missing_guardrail",
            f"Guardrail {spec.name!r} is not a column of the file (guardrail columns: "
            f"{', '.join(data.guardrail_columns + data.secondary_count_columns) or 'none'}).",
            column=spec.name,
        )
        for spec in options.guardrails
        if spec.name not in data.guardrail_columns + data.secondary_count_columns
    ]


def _srm(
    data: ExperimentData, options: Options, thresholds: Thresholds
) -> tuple[SrmResult | None, list[Finding]]:
    shares = options.split or tuple(1.0 for _ in data.arms)
    if len(shares) != len(data.arms):
        arms = ", ".join(a.arm for a in data.arms)
        finding = Finding(
            "blocked",
            "split_mismatch",
            f"The expected split has {len(shares)} parts but the file has {len(data.arms)} arms "
            f"({arms}); give one share per arm, in the order the arms appear in the file.",
        )
        return None, [finding]
    observed = [arm.users for arm in data.arms]
    chi2, p_value = srm_chi_square(observed, shares)
    total = sum(observed)
    expected = [total * s / sum(shares) for s in shares]
    srm = SrmResult(
        chi2=chi2,
        p_value=p_value,
        observed=tuple((a.arm, a.users) for a in data.arms),
        expected=tuple((a.arm, e) for a, e in zip(data.arms, expected, strict=True)),
        expected_shares=tuple(s / sum(shares) for s in shares),
    )
    if p_value >= thresholds.srm_warning_p:
        return srm, []
    severity = "blocked" if p_value < thresholds.srm_blocked_p else "warning"
    split = "/".join(f"{100 * s / sum(shares):g}" for s in shares)
    counts = ", ".join(f"{a.arm} {a.users:,}" for a in data.arms)
    finding = Finding(
        severity,
        f"srm_{severity}",
        f"Sample ratio mismatch: users per arm ({counts}) do not match the expected {split} "
        f"split (chi-square p = {p_value:.2g}). Investigate assignment before trusting any result.",
        column="users",
    )
    srm, where = _srm_where(data, srm, shares, thresholds)
    srm, first_day = _srm_first_day(data, srm, shares, thresholds)
    return srm, [finding, *where, *first_day, *_pre_period(data)]


PRE_PERIOD_ALPHA = 0.05
"""Level of the pre-period check (Bonferroni over the covariates × treatments checked)."""


def _pre_period(data: ExperimentData) -> list[Finding]:
    """Pre-period means of each ``pre_`` covariate, control against each treatment (Welch): arms
    that already differed before the experiment point at assignment, not at the treatment."""
    if data.control is None or data.control not in [a.arm for a in data.arms]:
        return []
    control = data.arm(data.control)
    tests = []
    for name, stats in control.covariates.items():
        for arm in data.treatments:
            other = arm.covariates.get(name)
            if other is None or min(stats.n, other.n) < 2:
                continue
            comparison = welch_comparison(stats.pre, other.pre)
            if comparison.p_value == comparison.p_value:  # not NaN: some variance
                tests.append((name, arm.arm, stats.pre.mean, other.pre.mean, comparison.p_value))
    if not tests:
        return []
    k = len(tests)
    lines = []
    off = False
    for name, arm, before_c, before_t, p in tests:
        differs = p * k < PRE_PERIOD_ALPHA
        off = off or differs
        lines.append(
            f"pre_{name}: {control.arm} {before_c:,.4g} vs {arm} {before_t:,.4g} "
            f"(Welch p = {p:.2g}{', differs' if differs else ''})"
        )
    verdict = (
        "the arms already differed before the experiment: suspect assignment (who entered each "
        "arm), not the treatment"
        if off
        else "the arms were alike before the experiment: the users that reached the analysis are "
        "comparable, so look at execution and logging"
    )
    message = (
        f"Pre-period check: {'; '.join(lines)} — {verdict} (Bonferroni over {k} test(s) at "
        f"{PRE_PERIOD_ALPHA:g})."
    )
    return [Finding("warning" if off else "info", "srm_pre_period", message)]


TOP_CELLS = 3
"""How many (column, value) cells the SRM breakdown names."""
MIN_EXPECTED = 5.0
"""A cell is tested only when every arm expects at least this many users (chi-square's rule)."""


def _srm_where(
    data: ExperimentData, srm: SrmResult, shares: tuple[float, ...], thresholds: Thresholds
) -> tuple[SrmResult, list[Finding]]:
    """Which values of which categorical columns carry the mismatch: each (column, value) cell
    tested on its own against the expected split, ranked by p, significant after Bonferroni over
    every cell tested; and per column, whether the split differs between its values."""
    arms = [a.arm for a in data.arms]
    tested = []
    for cell in data.dimensions:
        users = dict(cell.users)
        observed = [users.get(arm, 0) for arm in arms]
        total = sum(observed)
        if min(total * s / sum(shares) for s in shares) < MIN_EXPECTED:
            continue
        chi2, p = srm_chi_square(observed, shares)
        tested.append((p, chi2, cell, observed))
    if not tested:
        return srm, []
    tested.sort(key=lambda t: (t[0], t[2].column, t[2].value))
    m = len(tested)
    alpha = thresholds.srm_warning_p
    cells = tuple(
        SrmCell(cell.column, cell.value, tuple(zip(arms, obs, strict=True)), chi2, p, p * m < alpha)
        for p, chi2, cell, obs in tested
    )
    by_column: dict[str, list[list[int]]] = {}
    for _, _, cell, observed in tested:
        by_column.setdefault(cell.column, []).append(observed)
    columns = tuple((column, _independence_p(table)) for column, table in by_column.items())
    srm = replace(srm, breakdown=cells, cells_checked=m, columns_checked=columns)
    return srm, [_where_finding(cells, columns, alpha)]


def _srm_first_day(
    data: ExperimentData, srm: SrmResult, shares: tuple[float, ...], thresholds: Thresholds
) -> tuple[SrmResult, list[Finding]]:
    """With a date column: the arms' users cumulated day by day (by each user's first row), the
    chi-square p of each day's cumulative split, and the first day it falls below the warning
    level — where to look in the deploy and assignment logs."""
    if not data.by_day:
        return srm, []
    arms = [a.arm for a in data.arms]
    days = sorted({c.day for c in data.by_day})
    running = dict.fromkeys(arms, 0)
    series = []
    for day in days:
        for count in data.by_day:
            if count.day == day and count.arm in running:
                running[count.arm] += count.users
        observed = [running[arm] for arm in arms]
        total = sum(observed)
        p = srm_chi_square(observed, shares)[1] if total else 1.0
        series.append((day, tuple(zip(arms, observed, strict=True)), p))
    first = next((k for k, (_, _, p) in enumerate(series) if p < thresholds.srm_warning_p), None)
    srm = replace(
        srm, by_day=tuple(series), first_day=series[first][0] if first is not None else None
    )
    column = data.date_column or "date"
    if first is None:
        message = (
            f"SRM by day ({column}): the cumulative split never falls below p = "
            f"{thresholds.srm_warning_p:g} on the users with a date ({len(days)} days): the "
            "mismatch sits in users without a readable date."
        )
        return srm, [Finding("info", "srm_first_day", message, column=column)]
    day, observed, p = series[first]
    before = (
        f"; the day before, {series[first - 1][0]}, it was p = {series[first - 1][2]:.2g}"
        if first
        else ": from the first day"
    )
    counts = " vs ".join(f"{arm} {n:,}" for arm, n in observed)
    message = (
        f"SRM by day ({column}, each user at their first row): the cumulative split first falls "
        f"below p = {thresholds.srm_warning_p:g} on {day} (day {first + 1} of {len(days)}, "
        f"p = {p:.2g}, {counts} users so far){before}. Look at what changed in assignment, "
        "deploys or logging around that day."
    )
    return srm, [Finding("info", "srm_first_day", message, column=column)]


def _independence_p(table: list[list[int]]) -> float:
    """Pearson chi-square of arm × value independence (1 with a single value)."""
    counts = np.asarray(table, dtype=float)
    counts = counts[:, counts.sum(axis=0) > 0]
    if counts.shape[0] < 2 or counts.shape[1] < 2:
        return 1.0
    from scipy.stats import chi2_contingency  # scipy.stats: 0.3 s of a cold start, only here

    return float(chi2_contingency(counts, correction=False).pvalue)


def _where_finding(
    cells: tuple[SrmCell, ...], columns: tuple[tuple[str, float], ...], alpha: float
) -> Finding:
    m = len(cells)
    names = ", ".join(column for column, _ in columns)
    checked = (
        f"{m} value(s) of {len(columns)} column(s) checked ({names}); a value is significant "
        f"at p < {alpha:g} / {m} (Bonferroni)"
    )
    uneven = {c for c, p in columns if p * len(columns) < alpha}
    significant = [c for c in cells if c.significant]
    where = [c for c in significant if c.column in uneven]
    if not where:
        best = cells[0]
        alike = ", ".join(sorted({c.column for c in significant}))
        spread = f" Every value of {alike} is off alike." if alike else ""
        message = (
            f"SRM breakdown: no value of {names} carries the mismatch on its own — the most "
            f"uneven is {_cell_text(best)}.{spread} The imbalance is spread across users: look "
            f"at assignment and logging as a whole ({checked})."
        )
        return Finding("info", "srm_where", message)
    top = where[:TOP_CELLS]
    more = len(where) - len(top)
    rest = f"; {more} more" if more else ""
    concentrated = sorted({c.column for c in top})
    balanced = [
        c for c in cells if c.column in concentrated and not c.significant and c.p_value >= alpha
    ]
    others = (
        " Balanced: "
        + ", ".join(f"{c.column} = {c.value!r} (p = {c.p_value:.2g})" for c in balanced[:5])
        + "."
        if balanced
        else ""
    )
    alike = sorted({c.column for c in significant} - uneven)
    off_alike = (
        f" {', '.join(alike)}: every value is off alike (not where it comes from)." if alike else ""
    )
    message = (
        f"SRM is concentrated in {'; '.join(_cell_text(c) for c in top)}{rest}.{others}{off_alike}"
        f" ({checked}.)"
    )
    return Finding("warning", "srm_where", message, column=top[0].column)


def _cell_text(cell: SrmCell) -> str:
    counts = " vs ".join(f"{arm} {n:,}" for arm, n in cell.observed)
    return f"{cell.column} = {cell.value!r} (p = {cell.p_value:.2g}; {counts} users)"


SRM_CAUSES_SOURCE = (
    'Fabijan et al., "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments: '
    'A Taxonomy and Rules of Thumb for Practitioners", KDD 2019'
)
SRM_CAUSES: tuple[tuple[str, str], ...] = (
    (
        "Assignment",
        "the split configured is not the one analysed, the bucketing hash is not random or "
        "collides with another experiment, users carried over from an earlier experiment, or "
        "the split changed during a ramp-up.",
    ),
    (
        "Execution",
        "one arm started later or stopped earlier, the treatment crashes, redirects or loads "
        "slower so fewer of its users are logged, or the arms trigger exposure differently.",
    ),
    (
        "Log processing",
        "bot or fraud filtering removes more users of one arm (the treatment changed their "
        "behaviour), a join or deduplication drops users, or logs arrive late for one arm.",
    ),
    (
        "Analysis",
        "users are counted after something the treatment affects (triggered on a click or a "
        "page the treatment changes), or the analysis window differs from the exposure window.",
    ),
    (
        "Interference",
        "another experiment, a campaign or a release sends traffic to one arm, or someone "
        "changed the experiment while it ran.",
    ),
)
"""The known causes of a sample ratio mismatch, by the stage where they arise (shown in the
memo and the card's Details when the check fires)."""


def srm_fired(report: HealthReport) -> bool:
    """The sample ratio check fired: overall, or in a segment."""
    return report.srm_flagged


def _status(findings: list[Finding]) -> HealthStatus:
    severities = {f.severity for f in findings}
    if "blocked" in severities:
        return "blocked"
    return "warning" if "warning" in severities else "healthy"


def with_findings(report: HealthReport, findings: list[Finding]) -> HealthReport:
    """The report with more findings (from analysis across segments), status recomputed."""
    if not findings:
        return report
    combined = [*report.findings, *findings]
    return HealthReport(status=_status(combined), findings=tuple(combined), srm=report.srm)
