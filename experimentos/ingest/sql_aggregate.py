"""The statements a warehouse runs over a user-level query, built with SQLAlchemy Core.

The user's SELECT is a subquery (``src``); every statement here aggregates it inside the database
and returns one row, or one row per variant × segment. The vocabulary is that of the user-level CSV
reader (``userlevel_queries``): per column position i, ``t{i}`` the count of 1s of a 0/1 column,
``nn{i}``/``s{i}``/``ss{i}`` the count, Σx and Σx² of a numeric one, ``px``/``pxx``/``pxy{i}`` the
CUPED sums with its ``pre_`` covariate, per ratio k ``rn``/``rx``/``rxx``/``ry``/``ryy``/``rxy{k}``
— so that ``userlevel_sums.group_sums`` reads these rows as it reads DuckDB's.

:func:`raw_summary` counts cells per raw variant label (as text, not normalised: no string
function runs per row) and per "primary cell empty"; from its few rows Python learns the labels,
gives each normalised label an arm code (the rows then carry their arm as a CASE over the raw label,
see ``QueryPlan.codes``) and knows each arm's count of numbers per column. :func:`distinct_units`
then says whether any unit id is on two rows (``count(DISTINCT unit)`` against the rows: at 10M
text ids a sort of ~4 s, where the per-unit merge is a hash aggregate of 15-20 s).

- No unit on two rows (the usual export): :func:`analysis` reads the kept rows as the units they
  are, and computes in ONE statement the unit counts, each mean's p99.9 cap, the per-arm ×
  segment sums with the capped sums, and each arm's percentiles (their Woodruff ranks need the
  arm's count, known from the raw summary).
- Otherwise :func:`analysis` merges the rows per unit ONCE, in a materialised CTE (``per_user``:
  the arm, a 0/1 metric the max of the unit's rows, a number their sum, ``nv`` 1 for a unit of
  one arm and 2 for a unit in several) read by the same aggregates. The percentiles' ranks
  depend on each arm's unit count: PostgreSQL takes a percentile's fraction from a subquery, so
  they are computed from the counts in the same statement (:class:`Ranked`); DuckDB wants a
  constant, so :func:`percentiles` then runs as a statement of its own, merging the rows again.
  The per-arm × segment groups of the merged units are keyed by the arm code's bits (see
  :func:`per_group`), a hash aggregate rather than a sort on disk.

Only standard SQL is used (CASE, WITH … AS MATERIALIZED, percentile_cont … WITHIN GROUP), which
PostgreSQL 12+ and DuckDB both run; on PostgreSQL alone (``multi``) the fractions of one column
over the same units are one ``percentile_cont(ARRAY[…])`` call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Double, Integer, String, case, cast, func
from sqlalchemy.dialects import postgresql

Selectable = sa.Select[tuple[object, ...]]
Request = tuple[int, object, Sequence[float]]
"""A percentile request: column i, the arm as the units' ``a`` holds it, the fractions."""


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """Column roles over the query's result, by position in ``columns`` (the names as returned)."""

    columns: tuple[str, ...]
    user: int
    variant: int
    segment: int | None
    primary: int | None
    binary: tuple[int, ...] = ()
    numeric: tuple[int, ...] = ()
    pairs: tuple[tuple[int, int], ...] = ()
    """Mean column → its ``pre_`` covariate column."""
    ratios: tuple[tuple[int, int, int], ...] = ()
    """(ratio k of the layout, numerator column, denominator column)."""
    kinds: tuple[str, ...] = ()
    """Per column: ``bool``, ``num`` or ``text`` (from the sampled values)."""
    codes: tuple[tuple[str, int], ...] = ()
    """Raw variant label (as text) → arm code, for the labels that are not blank once trimmed;
    empty: the arm is the normalised label itself (too many raw labels for a CASE)."""
    bytewise_units: bool = False
    """Text unit ids are grouped and counted byte by byte (``COLLATE "C"``, PostgreSQL): the same
    groups as the column's own collation when it is deterministic (and as a CSV's exact ids when
    it is not), without the locale's string comparisons in the sorts — at 10M ids on an ICU
    ``en-US`` column, ``count(DISTINCT unit)`` 3.8 → 1.6 s."""


def source(query: str, columns: Sequence[str], names: Sequence[str] | None = None) -> sa.Subquery:
    """The user's query as subquery ``src`` (colons escaped: they are not bind parameters here; a
    newline ends a trailing ``--`` comment). With ``names`` (the normalised headers, one per
    column as returned) its columns are those names: ``"Gross Sales"`` is read as
    ``"gross sales"``, as a CSV's header is, whatever the database's spelling."""
    text = sa.text(query.replace(":", r"\:") + "\n")
    returned = text.columns(*(sa.column(name) for name in columns))
    if names is None or tuple(names) == tuple(columns):
        return returned.subquery("src")
    inner = returned.subquery("returned")
    return sa.select(
        *(inner.c[column].label(name) for column, name in zip(columns, names, strict=True))
    ).subquery("src")


def _unit(src: sa.Subquery, plan: QueryPlan) -> sa.ColumnElement:
    """The unit id as rows are grouped by it (see ``QueryPlan.bytewise_units``)."""
    unit = src.c[plan.columns[plan.user]]
    return cast(unit, String).collate("C") if plan.bytewise_units else unit


def _label(expr: sa.ColumnElement) -> sa.ColumnElement:
    return func.lower(func.trim(cast(expr, String)))


def _raw_arm(src: sa.Subquery, plan: QueryPlan) -> sa.ColumnElement:
    return cast(src.c[plan.columns[plan.variant]], String)


def _arm(src: sa.Subquery, plan: QueryPlan) -> sa.ColumnElement:
    """The row's arm: its code (NULL for a blank label), or else its normalised label."""
    if not plan.codes:
        return _label(src.c[plan.columns[plan.variant]])
    raw = _raw_arm(src, plan)
    return case(*((raw == label, sa.literal(code, Integer)) for label, code in plan.codes))


def kept(src: sa.Subquery, plan: QueryPlan) -> sa.ColumnElement:
    """Rows with a variant label and a primary value (the others are reported, not analysed)."""
    arm = _arm(src, plan)
    labelled = arm.is_not(None) if plan.codes else sa.and_(arm.is_not(None), arm != "")
    if plan.primary is None:
        return labelled
    return sa.and_(labelled, src.c[plan.columns[plan.primary]].is_not(None))


def sample(src: sa.Subquery, rows: int) -> Selectable:
    return sa.select(src).limit(rows)


def first_value(src: sa.Subquery, name: str) -> Selectable:
    """One filled value of a column the sample had none of (to learn its type)."""
    return sa.select(src.c[name]).where(src.c[name].is_not(None)).limit(1)


def _constant(fraction: float) -> sa.ColumnElement:
    """A fraction written into the SQL (DuckDB wants a constant, not a bind parameter), typed
    as a double (a bare decimal literal would be NUMERIC in PostgreSQL)."""
    return cast(sa.literal_column(repr(float(fraction))), Double)


def _count_if(condition: sa.ColumnElement) -> sa.ColumnElement:
    return func.count(case((condition, 1)))


def raw_summary(
    src: sa.Subquery, plan: QueryPlan, *, numbers: Sequence[int], guardrails: Sequence[int]
) -> Selectable:
    """Per raw variant label ``ra`` (as text) × ``pm`` (the primary cell is empty): rows, and per
    metric column its filled cells (``kf{i}``); per numeric column its cells (``ne{i}``) and those
    that are 0 or 1 (``z{i}``); per numeric guardrail those that are not counts (``nc{i}``)."""
    raw = _raw_arm(src, plan)
    keys = [raw]
    if plan.primary is None:
        empty = sa.false().label("pm")
    else:
        keys.append(src.c[plan.columns[plan.primary]].is_(None))
        empty = keys[-1].label("pm")
    out = [raw.label("ra"), empty, func.count().label("rows")]
    for i, kind in enumerate(plan.kinds):
        if kind in ("bool", "num") and i not in (plan.user, plan.variant, plan.segment):
            out.append(func.count(src.c[plan.columns[i]]).label(f"kf{i}"))
    for i in numbers:
        value = cast(src.c[plan.columns[i]], Double)
        out += [func.count(value).label(f"ne{i}"), _count_if(value.in_([0.0, 1.0])).label(f"z{i}")]
        if i in guardrails:
            out.append(_count_if(sa.or_(value < 0, value != func.floor(value))).label(f"nc{i}"))
    return sa.select(*out).select_from(src).group_by(*keys)


def kept_rows(src: sa.Subquery, plan: QueryPlan, *, raw_segment: bool = False) -> sa.Subquery:
    """The kept rows with the units' columns: ``u``, arm ``a``, segment ``g``, ``nv`` 1,
    ``nrows`` 1, each 0/1 column ``b{i}`` and numeric one ``v{i}`` (the units themselves when
    each has one row). The segment is its normalised label, or with ``raw_segment`` the label as
    written (when each row is a unit, Python merges the groups of one label's spellings)."""
    col = lambda i: src.c[plan.columns[i]]  # noqa: E731
    if plan.segment is None:
        segment: sa.ColumnElement = sa.literal("")
    elif raw_segment:
        segment = func.coalesce(cast(col(plan.segment), String), "")
    else:
        segment = func.coalesce(_label(col(plan.segment)), "")
    values = [_unit(src, plan).label("u"), _arm(src, plan).label("a"), segment.label("g")]
    values += [sa.literal(1, Integer).label("nv"), sa.literal(1, Integer).label("nrows")]
    values += [cast(col(i), Integer).label(f"b{i}") for i in plan.binary]
    values += [cast(col(i), Double).label(f"v{i}") for i in plan.numeric]
    return sa.select(*values).where(kept(src, plan)).subquery("r")


def per_user(src: sa.Subquery, plan: QueryPlan) -> sa.Select[tuple[object, ...]]:
    """One row per unit of the kept rows: arm, segment, ``nv`` (1: one arm, 2: several), rows,
    merged metrics."""
    rows = kept_rows(src, plan)
    merged = [
        rows.c.u,
        func.min(rows.c.a).label("a"),
        case((func.min(rows.c.a) == func.max(rows.c.a), 1), else_=2).label("nv"),
        func.count().label("nrows"),
        func.min(rows.c.g).label("g"),
    ]
    for i in plan.binary:  # a blank 0/1 cell other than the primary's is a 0 (reported)
        most = func.max(rows.c[f"b{i}"])
        merged.append((most if i == plan.primary else func.coalesce(most, 0)).label(f"b{i}"))
    merged += [func.sum(rows.c[f"v{i}"]).label(f"v{i}") for i in plan.numeric]
    for j in range(arm_bits(plan)):  # the arm code's bits, for :func:`per_group`'s GROUP BY
        ones = sorted({code for _, code in plan.codes if code >> j & 1})
        merged.append(func.min(rows.c.a).in_(ones).label(f"a_{j}"))
    return sa.select(*merged).group_by(rows.c.u)


def arm_bits(plan: QueryPlan) -> int:
    """How many bits the arm codes have (0: the arms are labels)."""
    return max((code for _, code in plan.codes), default=0).bit_length()


def distinct_units(src: sa.Subquery, plan: QueryPlan) -> Selectable:
    """One row: the query's rows and its distinct unit ids (equal: no unit has two rows)."""
    return sa.select(
        func.count().label("rows"), func.count(sa.distinct(_unit(src, plan))).label("units")
    ).select_from(src)


def analysis(
    src: sa.Subquery,
    plan: QueryPlan,
    means: Sequence[int],
    requests: Sequence[Request] | None = None,
    ranked: Ranked | None = None,
    multi: bool = False,
) -> Selectable:
    """Everything read from the units: per arm × segment of the units in one variant, the
    ``userlevel_sums`` aliases with the capped sums ``cs{i}``/``css{i}`` at each mean's p99.9,
    each row carrying :func:`user_summary`'s columns (one row of them alone, groups NULL, when no
    unit is in one variant).

    Without ``requests`` the units are the rows merged per unit, computed once (a materialised
    CTE). With them — the caller knows that every unit has one row, and so each arm's unit count
    — the units are the kept rows as they are, and the summary also holds the percentiles.
    With ``ranked`` (merged units, on a database that takes a percentile's fraction from a
    subquery: PostgreSQL) the percentiles are read in the same statement too: per entry k the
    arm's units ``an{k}`` and ``q{k}_{j}`` at the fractions :func:`_ranked_columns` computes.

    ``multi`` (PostgreSQL): the percentiles of one column over the same units are one
    ``percentile_cont(ARRAY[…])`` call (see :func:`_percentile_columns`)."""
    if requests is None:
        users: sa.CTE | sa.Subquery = (
            per_user(src, plan).cte("per_user").prefix_with("MATERIALIZED")
        )
    else:
        users = kept_rows(src, plan, raw_segment=True)
    summary = user_summary(users, means, requests or (), ranked, multi).cte("summary")
    groups = per_group(users, plan, summary, means).cte("groups")
    joined = summary.outerjoin(groups, sa.true())
    if not ranked or not ranked.entries:
        return sa.select(summary, groups).select_from(joined)
    columns, extract = _percentile_columns(_ranked_columns(users, summary, ranked), multi)
    quantiles = _unpacked(sa.select(*columns), extract).cte("quantiles")
    return sa.select(summary, groups, quantiles).select_from(
        summary.join(quantiles, sa.true()).outerjoin(groups, sa.true())
    )


def user_summary(
    users: sa.CTE | sa.Subquery,
    means: Sequence[int],
    requests: Sequence[Request] = (),
    ranked: Ranked | None = None,
    multi: bool = False,
) -> Selectable:
    """One row: units, units in several variants, units of one variant on several rows (and
    their rows); per mean column of the units in one variant: values, max, median, p99.9;
    :func:`percentiles`' columns for ``requests``; per ``ranked`` entry k the units ``an{k}``."""
    one, repeated = users.c.nv == 1, sa.and_(users.c.nv == 1, users.c.nrows > 1)
    out = [
        func.count().label("units"),
        _count_if(users.c.nv > 1).label("crossed"),
        _count_if(repeated).label("repeated"),
        func.coalesce(func.sum(case((repeated, users.c.nrows))), 0).label("repeated_rows"),
    ]
    wanted: list[Wanted] = []
    for i in means:
        value = case((one, users.c[f"v{i}"]))
        out += [func.count(value).label(f"n{i}"), func.max(value).label(f"max{i}")]
        wanted += [
            (f"med{i}", ("all", i), value, _constant(0.5)),
            (f"cap{i}", ("all", i), value, _constant(0.999)),
        ]
    for k, (i, arm, _) in enumerate(ranked.entries if ranked else ()):
        value = case((sa.and_(users.c.nv == 1, users.c.a == arm), users.c[f"v{i}"]))
        out.append(func.count(value).label(f"an{k}"))
    columns, extract = _percentile_columns([*wanted, *_quantile_columns(users, requests)], multi)
    return _unpacked(sa.select(*out, *columns).select_from(users), extract)


Wanted = tuple[str, tuple[object, ...], sa.ColumnElement, sa.ColumnElement]
"""A percentile: its label, the key of its values (one key, one expression), them, fraction."""


def _percentile_columns(
    wanted: Sequence[Wanted], multi: bool
) -> tuple[list[sa.ColumnElement], dict[str, tuple[str, int]]]:
    """The aggregates for the ``wanted`` percentiles, and which array element each one is.

    One ``percentile_cont(fraction)`` each; or with ``multi`` (PostgreSQL) one
    ``percentile_cont(ARRAY[fractions]) WITHIN GROUP`` per key, whose values are then sorted
    once and read in one pass. Calls that share a sort (same values, several fractions) make
    PostgreSQL keep the sort for re-reading (a random-access tape, one more merge on disk):
    at 10M values 2.6 s of CPU for two fractions against 1.8 s for one array."""
    if not multi:
        return [
            func.percentile_cont(fraction).within_group(value).label(label)
            for label, _, value, fraction in wanted
        ], {}
    groups: dict[tuple[object, ...], list[Wanted]] = {}
    for item in wanted:
        groups.setdefault(item[1], []).append(item)
    columns, extract = [], {}
    for n, items in enumerate(groups.values()):
        fractions = postgresql.array([fraction for _, _, _, fraction in items])
        name = f"pa{n}"
        columns.append(func.percentile_cont(fractions).within_group(items[0][2]).label(name))
        extract |= {label: (name, j + 1) for j, (label, *_) in enumerate(items)}
    return columns, extract


def _unpacked(select: Selectable, extract: dict[str, tuple[str, int]]) -> Selectable:
    """``select``'s columns, each array of :func:`_percentile_columns` as its elements."""
    if not extract:
        return select
    inner = select.subquery("s")
    arrays = {name for name, _ in extract.values()}
    out: list[sa.ColumnElement] = [c for c in inner.c if c.key not in arrays]
    for label, (name, j) in extract.items():
        out.append(sa.type_coerce(inner.c[name], sa.ARRAY(Double))[j].label(label))
    return sa.select(*out)


def per_group(
    users: sa.CTE | sa.Subquery, plan: QueryPlan, summary: sa.CTE, means: Sequence[int]
) -> Selectable:
    """Per arm × segment of the units in one variant: ``userlevel_sums`` aliases, and per mean
    column Σ min(x, cap) and Σ min(x, cap)² at its p99.9 (``summary``'s ``cap{i}``).

    Over :func:`per_user`'s units the groups are keyed by the arm code's bits (booleans) and the
    segment: PostgreSQL knows no statistics of a CTE's columns and estimates 200 values for an
    integer or text one but 2 for a boolean, so that arm × segment (40,000 groups estimated)
    was sorted — at 10M units a 450 MB sort on disk — where bits × segment (≤ 3,200 groups for
    up to 15 arm codes) is a hash aggregate of a few kB."""
    c = users.c
    bits = [c[f"a_{j}"] for j in range(arm_bits(plan)) if f"a_{j}" in c]
    keys = [*bits, c.g] if bits else [c.a, c.g]
    out = [func.min(c.a).label("a") if bits else c.a, c.g, func.count().label("users")]
    out += [func.sum(c[f"b{i}"]).label(f"t{i}") for i in plan.binary]
    for i in plan.numeric:
        v = c[f"v{i}"]
        out += [
            func.count(v).label(f"nn{i}"),
            func.sum(v).label(f"s{i}"),
            func.sum(v * v).label(f"ss{i}"),
        ]
    for i, pre in plan.pairs:
        v, x = c[f"v{i}"], c[f"v{pre}"]
        present = v.is_not(None)
        out += [
            func.sum(case((present, x))).label(f"px{i}"),
            func.sum(case((present, x * x))).label(f"pxx{i}"),
            func.sum(v * x).label(f"pxy{i}"),
        ]
    for k, num, den in plan.ratios:
        x, y = (cast(c[f"b{i}"], Double) if i in plan.binary else c[f"v{i}"] for i in (num, den))
        both = sa.and_(x.is_not(None), y.is_not(None))
        out += [
            _count_if(both).label(f"rn{k}"),
            func.sum(case((both, x))).label(f"rx{k}"),
            func.sum(case((both, x * x))).label(f"rxx{k}"),
            func.sum(case((both, y))).label(f"ry{k}"),
            func.sum(case((both, y * y))).label(f"ryy{k}"),
            func.sum(x * y).label(f"rxy{k}"),
        ]
    for i in means:
        v = c[f"v{i}"]
        cap = sa.select(summary.c[f"cap{i}"]).scalar_subquery()
        capped = case((v > cap, cap), else_=v)
        out += [func.sum(capped).label(f"cs{i}"), func.sum(capped * capped).label(f"css{i}")]
    return sa.select(*out).select_from(users).where(c.nv == 1).group_by(*keys)


def percentiles(users: sa.Subquery, requests: Sequence[Request]) -> Selectable:
    """One row: for request k (column i, arm as ``a`` holds it, fractions) ``q{k}_{j}`` the
    linear-interpolated quantile (``percentile_cont``, numpy's default) of column i over the
    arm's units (``users``: :func:`per_user`'s rows)."""
    columns, _ = _percentile_columns(_quantile_columns(users, requests), multi=False)
    return sa.select(*columns).select_from(users)


def _quantile_columns(users: sa.CTE | sa.Subquery, requests: Sequence[Request]) -> list[Wanted]:
    c = users.c
    out: list[Wanted] = []
    for k, (i, arm, fractions) in enumerate(requests):
        value = case((sa.and_(c.nv == 1, c.a == arm), c[f"v{i}"]))
        for j, fraction in enumerate(fractions):
            clipped = min(max(float(fraction), 0.0), 1.0)
            out.append((f"q{k}_{j}", ("arm", i, arm), value, _constant(clipped)))
    return out


@dataclass(frozen=True, slots=True)
class Ranked:
    """Percentiles whose Woodruff ranks the database computes from each arm's unit count n:
    per entry (column i, arm as ``a`` holds it, level q) the fractions q, q ∓ z·√(q(1−q)/n)
    clipped to [0, 1] — ``stats.quantiles.rank_fractions`` with the same floating-point steps
    (q(1−q) computed here, then z·√(that / n) there)."""

    entries: tuple[tuple[int, object, float], ...]
    z: float


def _ranked_columns(users: sa.CTE | sa.Subquery, summary: sa.CTE, ranked: Ranked) -> list[Wanted]:
    c = users.c
    out: list[Wanted] = []
    for k, (i, arm, level) in enumerate(ranked.entries):
        value = case((sa.and_(c.nv == 1, c.a == arm), c[f"v{i}"]))
        n = cast(func.nullif(sa.select(summary.c[f"an{k}"]).scalar_subquery(), 0), Double)
        half = _constant(ranked.z) * func.sqrt(_constant(level * (1 - level)) / n)
        for j, fraction in enumerate(
            (_constant(level), _constant(level) - half, _constant(level) + half)
        ):
            clipped = case((fraction < 0, 0.0), (fraction > 1, 1.0), else_=fraction)
            out.append((f"q{k}_{j}", ("arm", i, arm), value, clipped))
    return out
