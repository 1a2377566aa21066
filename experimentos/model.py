"""The result model: immutable values that flow one way, from CSV bytes to a verdict.

Inputs are sufficient statistics (counts, sums, sums of squares) per arm, so that aggregated and
user-level files, days and segments all pool by addition. Results form one frozen tree,
:class:`Analysis`, that every renderer (memo, Block Kit card, JSON, history row) reads.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "blocked"]
HealthStatus = Literal["healthy", "warning", "blocked"]
VerdictKind = Literal["launch", "hold", "rollback"]
MetricKind = Literal["proportion", "mean", "ratio", "percentile"]
MetricRole = Literal["primary", "guardrail", "secondary", "success"]
GuardrailStatus = Literal["ok", "worsened", "severe"]
Correction = Literal["holm", "bonferroni", "bh"]
InputFormat = Literal["aggregated", "user_level"]
InferenceMethod = Literal["fixed", "always-valid", "group-sequential"]
RepeatedRule = Literal["sum", "first"]
"""How a unit's repeated rows (same user id, same variant) become one: summed (0/1 by max), or
its first row (by the file's date or timestamp column, else file order)."""
DecisionRule = Literal["default", "risk-aware"]

Interval = tuple[float, float]


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class ProportionStats:
    """Users and converting users of one arm (a 0/1 metric)."""

    users: int
    conversions: int

    @property
    def rate(self) -> float:
        return self.conversions / self.users if self.users else math.nan

    def __add__(self, other: ProportionStats) -> ProportionStats:
        return ProportionStats(self.users + other.users, self.conversions + other.conversions)


@dataclass(frozen=True, slots=True)
class MeanStats:
    """Sufficient statistics of a continuous metric in one arm: n, Σx, Σx²."""

    n: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Unbiased sample variance from the sufficient statistics."""
        if self.n < 2:
            return math.nan
        return max(self.total_sq - self.total / self.n * self.total, 0.0) / (self.n - 1)

    def __add__(self, other: MeanStats) -> MeanStats:
        return MeanStats(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq)


@dataclass(frozen=True, slots=True)
class CovariateStats:
    """A continuous metric y with its pre-period covariate x, for CUPED: n, Σy, Σy², Σx, Σx², Σxy."""

    n: int
    total: float
    total_sq: float
    pre_total: float
    pre_total_sq: float
    cross_total: float

    @property
    def post(self) -> MeanStats:
        return MeanStats(self.n, self.total, self.total_sq)

    @property
    def pre(self) -> MeanStats:
        return MeanStats(self.n, self.pre_total, self.pre_total_sq)

    @property
    def covariance(self) -> float:
        """Unbiased sample covariance of x and y."""
        if self.n < 2:
            return math.nan
        return (self.cross_total - self.total * self.pre_total / self.n) / (self.n - 1)

    def __add__(self, other: CovariateStats) -> CovariateStats:
        return CovariateStats(
            self.n + other.n,
            self.total + other.total,
            self.total_sq + other.total_sq,
            self.pre_total + other.pre_total,
            self.pre_total_sq + other.pre_total_sq,
            self.cross_total + other.cross_total,
        )


@dataclass(frozen=True, slots=True)
class RatioStats:
    """A ratio metric Σx / Σy in one arm, the user the unit: n, Σx, Σx², Σy, Σy², Σxy.

    x is the numerator (e.g. revenue) and y the denominator (e.g. orders) of each user. The ratio
    of sums is a ratio of means, x̄ / ȳ, whose users are independent but whose orders are not:
    its variance comes from the delta method (:attr:`variance`), not from treating orders as
    independent units.
    """

    n: int
    num_total: float
    num_total_sq: float
    den_total: float
    den_total_sq: float
    cross_total: float
    """Σ x·y over users."""

    @property
    def numerator(self) -> MeanStats:
        return MeanStats(self.n, self.num_total, self.num_total_sq)

    @property
    def denominator(self) -> MeanStats:
        return MeanStats(self.n, self.den_total, self.den_total_sq)

    @property
    def value(self) -> float:
        """Σx / Σy (NaN when Σy = 0)."""
        return self.num_total / self.den_total if self.den_total else math.nan

    @property
    def covariance(self) -> float:
        """Unbiased sample covariance of x and y."""
        if self.n < 2:
            return math.nan
        return (self.cross_total - self.num_total / self.n * self.den_total) / (self.n - 1)

    @property
    def variance(self) -> float:
        """Delta-method variance of the ratio of means R = x̄ / ȳ (NaN when undefined).

        Var(R) ≈ (1/n)·(σx²/μy² − 2·μx·σxy/μy³ + μx²·σy²/μy⁴), with the unbiased (n − 1)
        variances and covariance: Deng, Knoblich & Lu (2018), "Applying the Delta Method in
        Metric Analytics" (KDD), §2 (gbstats' ``RatioStatistic.variance`` is the bracket).
        Computed as Var(x − R·y) / (n·μy²), the same expression factored, which is never
        negative for moments of real data; rounding below zero is clamped to 0.
        """
        if self.n < 2 or not self.den_total:
            return math.nan
        mean_y = self.den_total / self.n
        ratio = self.num_total / self.den_total
        var_x, var_y = self.numerator.variance, self.denominator.variance
        linearised = var_x - 2 * ratio * self.covariance + ratio * ratio * var_y
        scale = self.n * mean_y * mean_y
        if not scale > 0:  # ȳ so small that ȳ² underflows: no usable variance
            return math.nan
        return max(linearised, 0.0) / scale

    def __add__(self, other: RatioStats) -> RatioStats:
        return RatioStats(
            self.n + other.n,
            self.num_total + other.num_total,
            self.num_total_sq + other.num_total_sq,
            self.den_total + other.den_total,
            self.den_total_sq + other.den_total_sq,
            self.cross_total + other.cross_total,
        )


@dataclass(frozen=True, slots=True)
class ArmInput:
    """Everything measured in one arm (one segment of it, when the file is segmented)."""

    arm: str
    users: int
    conversions: int
    counts: Mapping[str, int] = field(default_factory=dict)
    """Other 0/1 or count metrics: guardrails and secondary proportions, by column name."""
    means: Mapping[str, MeanStats] = field(default_factory=dict)
    """Continuous metrics by name."""
    covariates: Mapping[str, CovariateStats] = field(default_factory=dict)
    """Continuous metrics that have a pre-period covariate (CUPED), by metric name."""
    ratios: Mapping[str, RatioStats] = field(default_factory=dict)
    """Ratio metrics Σx / Σy (e.g. revenue per order), by metric name."""

    @property
    def primary(self) -> ProportionStats:
        return ProportionStats(self.users, self.conversions)

    def count(self, name: str) -> ProportionStats:
        return ProportionStats(self.users, self.counts[name])

    def __add__(self, other: ArmInput) -> ArmInput:
        """This arm pooled with another part of it (a segment, a day): users and conversions
        add; a count missing from one part counts 0 there, while a continuous, covariate or
        ratio metric is kept only when both parts measured it (its sums need both)."""
        return ArmInput(
            self.arm,
            self.users + other.users,
            self.conversions + other.conversions,
            {
                k: self.counts.get(k, 0) + other.counts.get(k, 0)
                for k in {**self.counts, **other.counts}
            },
            _add_shared(self.means, other.means),
            _add_shared(self.covariates, other.covariates),
            _add_shared(self.ratios, other.ratios),
        )


def _add_shared(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The sum of each statistic present in both ``a`` and ``b``, in ``a``'s order."""
    return {k: v + b[k] for k, v in a.items() if k in b}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with the data, located as precisely as the file allows."""

    severity: Severity
    code: str
    message: str
    row: int | None = None
    column: str | None = None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    file_name: str
    checksum: str
    """SHA-256 of the file's bytes, hex."""
    rows: int
    input_format: InputFormat
    size_bytes: int


@dataclass(frozen=True, slots=True)
class DimensionCell:
    """Users per arm among the users with one value of a categorical column."""

    column: str
    value: str
    users: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class QuantileStats:
    """One arm's q-quantile of a continuous metric of a user-level file, with the values at the
    two binomial rank fractions q ∓ z·√(q(1−q)/n) that bracket it (Woodruff's order-statistic
    interval, z for ``alpha``); every value by linear interpolation between order statistics
    (numpy's default quantile, DuckDB's ``quantile_cont``)."""

    metric: str
    arm: str
    q: float
    n: int
    """Users with a value of the metric in this arm."""
    estimate: float
    lower: float
    upper: float
    alpha: float


@dataclass(frozen=True, slots=True)
class DayCount:
    """Users of one arm whose first row falls on one day, by a date or timestamp column of a
    user-level file."""

    day: str
    """ISO date (YYYY-MM-DD)."""
    arm: str
    users: int
    converted: int = 0
    """Of those users, the ones whose primary (0/1) is 1."""


@dataclass(frozen=True, slots=True)
class NoveltyDay:
    """The primary's lift among the users first exposed on one calendar day."""

    day: str
    """ISO date (YYYY-MM-DD)."""
    index: int
    """1 = the experiment's first day."""
    control_users: int
    control_converted: int
    treatment_users: int
    treatment_converted: int
    lift: float
    """Treatment rate − control rate (a proportion, not pp)."""
    se: float
    """Unpooled standard error of ``lift``."""


@dataclass(frozen=True, slots=True)
class NoveltyResult:
    """The primary's lift by day of first exposure (first treatment arm vs control) and a test of
    its trend: weighted least squares of daily lift on day index, weights 1/SE² (known variance:
    the slope's SE is sqrt(1/Σw(x−x̄)²), the p two-sided normal)."""

    column: str
    control: str
    treatment: str
    days: tuple[NoveltyDay, ...]
    """Days tested, earliest first."""
    skipped: tuple[str, ...]
    """Days left out: fewer than 2 users in an arm, or a lift whose SE is 0."""
    slope: float
    """Change in lift per day (a proportion per day); NaN with fewer than 2 usable days."""
    slope_se: float
    p_value: float
    overall_lift: float
    """Treatment rate − control rate over all dated users."""


@dataclass(frozen=True, slots=True)
class ExperimentData:
    """A parsed results file: one ArmInput per arm (pooled over segments), control first."""

    source: SourceInfo
    control: str | None
    arms: tuple[ArmInput, ...]
    guardrail_columns: tuple[str, ...]
    secondary_count_columns: tuple[str, ...]
    mean_columns: tuple[str, ...]
    findings: tuple[Finding, ...]
    segments: tuple[tuple[str, tuple[ArmInput, ...]], ...] = ()
    primary_name: str = "conversion"
    primary_kind: MetricKind = "proportion"
    """``proportion``: a 0/1 column (users, conversions); ``mean``: a numeric column, its sums in
    each arm's ``means`` (and ``covariates`` with a ``pre_`` column); ``ratio``: a ratio metric,
    its sums in each arm's ``ratios``."""
    ratio_columns: tuple[str, ...] = ()
    """Ratio metrics by name (``<r>_num_sum``, … in an aggregated file)."""
    dimensions: tuple[DimensionCell, ...] = ()
    """Users per arm within each value of each categorical column of a user-level file, read
    only when the arms' split is off (the SRM breakdown); empty otherwise."""
    quantiles: tuple[QuantileStats, ...] = ()
    """Median and p90 per arm of each continuous metric of a user-level file (an aggregated
    file's sums cannot carry them)."""

    date_column: str | None = None
    """The date or timestamp column of a user-level file (``by_day`` counts users by it)."""
    by_day: tuple[DayCount, ...] = ()
    """Users per arm by the day of their first row, earliest first; empty without a date."""

    def arm(self, label: str) -> ArmInput:
        for arm in self.arms:
            if arm.arm == label:
                return arm
        raise KeyError(label)

    @property
    def treatments(self) -> tuple[ArmInput, ...]:
        return tuple(a for a in self.arms if a.arm != self.control)


@dataclass(frozen=True, slots=True)
class GuardrailSpec:
    name: str
    higher_is_better: bool = False
    worsened_pp: float | None = None
    severe_pp: float | None = None
    margin_rel: float | None = None
    """Relative non-inferiority margin: 0.01 = "may not get more than 1% worse"."""


@dataclass(frozen=True, slots=True)
class RatioSpec:
    """A ratio metric of a user-level file: Σ numerator / Σ denominator over users."""

    name: str
    numerator: str
    denominator: str


@dataclass(frozen=True, slots=True)
class Options:
    """What the caller says about the experiment: the CLI's flags, a Slack message's lines."""

    name: str | None = None
    split: tuple[float, ...] | None = None
    control: str | None = None
    primary: str | None = None
    variant_column: str | None = None
    user_column: str | None = None
    guardrails: tuple[GuardrailSpec, ...] | None = None
    """None: every ``guardrail_*`` column with default thresholds."""
    higher_is_better: frozenset[str] = frozenset()
    """Guardrails (auto-detected or named) where a drop is the harm."""
    margins: tuple[tuple[str, float], ...] = ()
    """Relative non-inferiority margins by guardrail: (("guardrail_checkout", 0.01),)."""
    correction: Correction = "holm"
    ratios: tuple[RatioSpec, ...] = ()
    """Ratio metrics of a user-level file from two of its columns (an aggregated file names its
    ratios by their five sum columns instead)."""
    look: int | None = None
    of_looks: int | None = None
    look_fractions: tuple[float, ...] | None = None
    """Information fraction of each look so far (users / target), current last; else k/K."""
    spending: Literal["obf", "pocock"] = "obf"
    prior_looks: int = 0
    """Earlier analyses of the same experiment (from the history): peeking without a plan."""
    method: InferenceMethod = "fixed"
    """How the primary metric is tested: a fixed-horizon test (group-sequential boundaries when
    ``look``/``of_looks`` are given), or an always-valid confidence sequence, safe at any look."""
    planned_users: int | None = None
    """Total users (all arms) the experiment plans to reach: tunes the always-valid sequence
    (None: 5,000)."""
    success: tuple[str, ...] = ()
    """Success metrics of the risk-aware rule (0/1, count or mean columns); empty: the primary."""
    rule: DecisionRule = "default"
    """How the metrics combine into the verdict: the default rules for one primary, or the
    risk-aware rule (Schultzberg, Ankargren & Frånberg 2024) over success metrics and guardrails."""
    mde: float | None = None
    """Planned minimum detectable effect of the primary (absolute, 0.005 = 0.5 pp; a share of the
    control rate with ``mde_relative``): a Hold says how many more users it needs."""
    mde_relative: bool = False
    daily_users: float | None = None
    """Users entering the experiment per day (all arms): turns the users to go into days."""
    metrics: tuple[str, ...] | None = None
    """Exactly the secondary metric columns to test; None: every column that holds a metric
    (identifiers, dates, times of day, weekdays, row numbers and text are never tested)."""
    repeated: RepeatedRule = "sum"
    """A user-level file's rows of one unit in one variant: combined (sum; 0/1 by max), or the
    unit's first row only (first exposure)."""


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every threshold and method choice used; shown in each memo (SPEC §2.12)."""

    alpha: float = 0.05
    srm_warning_p: float = 0.001
    srm_blocked_p: float = 0.00001
    guardrail_worsened_pp: float = 0.1
    guardrail_severe_pp: float = 0.3
    min_users_per_arm: int = 100
    default_planned_looks: int = 5
    correction: Correction = "holm"
    score_min_events: int = 30
    """Below this many events or non-events in an arm, proportions are compared by the score
    test (stats.score_test.SCORE_MIN_EVENTS; benchmarks/small_counts_mc.py)."""
    duplicate_user_blocked_share: float = 0.01
    max_file_bytes: int = 200 * 1024 * 1024


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class SrmCell:
    """The split within one value of one categorical column: chi-square against the expected
    shares, and whether it stays significant after Bonferroni over every cell checked."""

    column: str
    value: str
    observed: tuple[tuple[str, int], ...]
    chi2: float
    p_value: float
    significant: bool


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Chi-square goodness of fit of users per arm against the expected split."""

    chi2: float
    p_value: float
    observed: tuple[tuple[str, int], ...]
    expected: tuple[tuple[str, float], ...]
    expected_shares: tuple[float, ...]
    breakdown: tuple[SrmCell, ...] = ()
    """When the split is off: each (column, value) cell of a user-level file tested on its own,
    smallest p first."""
    cells_checked: int = 0
    columns_checked: tuple[tuple[str, float], ...] = ()
    """Each column broken down, with the p of arm × value independence: small when the
    mismatch differs between its values (it is concentrated there), large when every value is
    off alike (the column does not say where)."""
    first_day: str | None = None
    """With a date column: the first day the cumulative split's p falls below the warning level."""
    by_day: tuple[tuple[str, tuple[tuple[str, int], ...], float], ...] = ()
    """With a date column: (day, cumulative users per arm, cumulative chi-square p) per day."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: HealthStatus
    findings: tuple[Finding, ...]
    srm: SrmResult | None

    @property
    def blocked(self) -> bool:
        return self.status == "blocked"

    @property
    def srm_flagged(self) -> bool:
        return any(f.code.startswith("srm") for f in self.findings)


@dataclass(frozen=True, slots=True)
class ArmSummary:
    arm: str
    n: int
    value: float
    """Rate for a proportion, mean for a continuous metric."""
    conversions: int | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Treatment vs control on one metric, as the statistics layer computes it."""

    abs_lift: float
    abs_ci: Interval
    rel_lift: float
    rel_ci: Interval
    p_value: float
    statistic: float
    method: str
    ci_method: str
    standard_error: float


@dataclass(frozen=True, slots=True)
class MetricResult:
    name: str
    kind: MetricKind
    role: MetricRole
    control: ArmSummary
    treatment: ArmSummary
    comparison: Comparison
    p_value_adjusted: float
    significant: bool
    notes: tuple[str, ...] = ()
    theta: float | None = None
    """CUPED coefficient when the metric was adjusted with its pre-period covariate."""
    variance_reduction: float | None = None

    @property
    def arm(self) -> str:
        return self.treatment.arm


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    metric: MetricResult
    higher_is_better: bool
    worsened_pp: float
    severe_pp: float
    status: GuardrailStatus
    multi_count: bool
    """Counts exceed users in some arm: several events per user, so the rate is not a share."""
    margin_rel: float | None = None
    margin_p_value: float | None = None
    """One-sided p-value of the non-inferiority test against the margin."""
    within_margin: bool | None = None

    @property
    def harm_pp(self) -> float:
        """The change in the bad direction, in percentage points (negative when it improved)."""
        delta_pp = self.metric.comparison.abs_lift * 100
        return -delta_pp if self.higher_is_better else delta_pp


@dataclass(frozen=True, slots=True)
class SegmentResult:
    segment: str
    metric: MetricResult
    srm_p_value: float | None


@dataclass(frozen=True, slots=True)
class HeterogeneityTest:
    """Cochran's Q across segments for one treatment arm's primary lift."""

    arm: str
    q: float
    dof: int
    p_value: float
    i_squared: float
    simpsons_paradox: bool


@dataclass(frozen=True, slots=True)
class OmnibusTest:
    """Chi-square test of independence of arm and conversion (3+ arms)."""

    chi2: float
    dof: int
    p_value: float


@dataclass(frozen=True, slots=True)
class BayesArm:
    arm: str
    posterior_alpha: float
    posterior_beta: float
    chance_to_beat_control: float | None
    expected_loss: float
    """E[max over arms − this arm], in rate units: what shipping this arm risks."""
    prob_best: float


@dataclass(frozen=True, slots=True)
class BayesView:
    arms: tuple[BayesArm, ...]
    prior: str = "Beta(1,1)"
    method: str = "exact quadrature"


@dataclass(frozen=True, slots=True)
class LookStatus:
    look: int
    of_looks: int
    information_fraction: float
    boundary_z: float
    nominal_p_threshold: float
    z: float
    crossed: bool
    spending: str
    alpha: float = 0.05


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    rule: int
    reason: str
    reasons: tuple[str, ...]
    next_actions: tuple[str, ...]
    arm: str | None = None
    """The treatment the verdict is about (the best one when several arms run)."""
    sample_needed_per_arm: int | None = None
    decision_rule: DecisionRule = "default"
    """Which rule decided: the default rules or the risk-aware rule."""

    @property
    def label(self) -> str:
        return self.kind.capitalize()


@dataclass(frozen=True, slots=True)
class ExperimentInfo:
    name: str
    file_name: str
    checksum: str
    rows: int
    input_format: InputFormat
    arms: tuple[str, ...]
    control: str | None
    primary_metric: str
    look: int | None = None
    of_looks: int | None = None


@dataclass(frozen=True, slots=True)
class Analysis:
    experiment: ExperimentInfo
    health: HealthReport
    primary: tuple[MetricResult, ...]
    """One per treatment arm; empty when the data is blocked."""
    guardrails: tuple[GuardrailResult, ...]
    secondary: tuple[MetricResult, ...]
    overall: OmnibusTest | None
    bayes: BayesView | None
    sequential: LookStatus | None
    verdict: Verdict
    thresholds: Thresholds
    warnings: tuple[str, ...] = ()
    """Things a reader must know that are not data findings (e.g. peeking)."""
    segments: tuple[SegmentResult, ...] = ()
    heterogeneity: tuple[HeterogeneityTest, ...] = ()
    percentiles: tuple[MetricResult, ...] = ()
    """Median and p90 of continuous metrics (kind ``percentile``): reported, never part of the
    verdict."""
    success: tuple[MetricResult, ...] = ()
    """The risk-aware rule's success metrics, one per metric and treatment arm (p-values
    Bonferroni-adjusted over them); empty under the default rules."""
    novelty: NoveltyResult | None = None
    """The primary's lift by day of first exposure and its trend; None without a date column."""

    def primary_for(self, arm: str) -> MetricResult | None:
        return next((m for m in self.primary if m.arm == arm), None)

    def guardrails_for(self, arm: str) -> tuple[GuardrailResult, ...]:
        return tuple(g for g in self.guardrails if g.metric.arm == arm)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: every figure at full precision, NaN and ±inf as null."""
        return jsonable(self)


def jsonable(value: Any) -> Any:
    """The one JSON serialiser of the domain: dataclasses as objects, tuples as lists, dates in
    ISO 8601, NaN and ±inf as null (``model_json`` reads an Analysis back)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime.date):  # a datetime is a date too
        return value.isoformat()
    return value
