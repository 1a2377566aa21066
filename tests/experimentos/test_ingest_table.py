"""The typed statistics table and its one mapper (``ingest.arms``): pooling by ``__add__`` equals
the statistics of the pooled rows, arms keep their order of first appearance, and a file refused
before its rows are read names the primary column it looked for."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentos import ingest
from experimentos.ingest.arms import experiment_data, pooled_arms
from experimentos.ingest.stats_table import GroupStats, StatsTable, refused
from experimentos.ingest.userlevel_sums import ColumnSums, GroupSums, by_label, merged
from experimentos.model import (
    ArmInput,
    CovariateStats,
    Finding,
    MeanStats,
    Options,
    RatioStats,
    SourceInfo,
)

SOURCE = SourceInfo("f.csv", "", rows=0, input_format="aggregated", size_bytes=0)

# A user: converted (0/1), clicks (a count), revenue and its pre-period value, orders.
User = tuple[int, int, float, float, float]
users = st.tuples(
    st.integers(0, 1),
    st.integers(0, 5),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(0, 10, allow_nan=False),
)


def _stats(arm: str, rows: list[User]) -> ArmInput:
    """The sufficient statistics of an arm's users, computed from the users themselves."""
    n = len(rows)
    y = [r[2] for r in rows]
    x = [r[3] for r in rows]
    orders = [r[4] for r in rows]
    return ArmInput(
        arm,
        n,
        sum(r[0] for r in rows),
        {"clicks": sum(r[1] for r in rows)},
        {"revenue": MeanStats(n, sum(y), sum(v * v for v in y))},
        {
            "revenue": CovariateStats(
                n,
                sum(y),
                sum(v * v for v in y),
                sum(x),
                sum(v * v for v in x),
                sum(a * b for a, b in zip(y, x, strict=True)),
            )
        },
        {
            "aov": RatioStats(
                n,
                sum(y),
                sum(v * v for v in y),
                sum(orders),
                sum(v * v for v in orders),
                sum(a * b for a, b in zip(y, orders, strict=True)),
            )
        },
    )


def _close(a: ArmInput, b: ArmInput) -> None:
    assert (a.arm, a.users, a.conversions, dict(a.counts)) == (
        b.arm,
        b.users,
        b.conversions,
        dict(b.counts),
    )
    for field in ("means", "covariates", "ratios"):
        mine, theirs = getattr(a, field), getattr(b, field)
        assert mine.keys() == theirs.keys()
        for name in mine:
            for u, v in zip(_values(mine[name]), _values(theirs[name]), strict=True):
                assert math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-6)


def _values(stats: object) -> list[float]:
    return [getattr(stats, s) for s in stats.__slots__]  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(users, min_size=1, max_size=20), min_size=1, max_size=5))
def test_pooling_groups_by_add_equals_the_statistics_of_the_pooled_users(
    parts: list[list[User]],
) -> None:
    pooled = pooled_arms(GroupStats(f"s{k}", _stats("a", rows)) for k, rows in enumerate(parts))
    assert len(pooled) == 1
    _close(pooled[0], _stats("a", [row for rows in parts for row in rows]))


def test_a_count_missing_from_a_part_counts_zero_and_a_mean_missing_from_one_is_dropped() -> None:
    a = ArmInput("a", 10, 2, {"clicks": 3}, {"revenue": MeanStats(10, 5.0, 9.0)})
    b = ArmInput("a", 5, 1, {"refunds": 1}, {})
    pooled = a + b
    assert (pooled.users, pooled.conversions) == (15, 3)
    assert dict(pooled.counts) == {"clicks": 3, "refunds": 1}
    assert dict(pooled.means) == {}
    assert dict((a + a).means) == {"revenue": MeanStats(20, 10.0, 18.0)}


def test_the_mapper_pools_arms_in_order_of_first_appearance_and_keeps_segments() -> None:
    groups = (
        GroupStats("mobile", ArmInput("treatment", 10, 1)),
        GroupStats("mobile", ArmInput("control", 12, 2)),
        GroupStats("desktop", ArmInput("control", 8, 3)),
        GroupStats("desktop", ArmInput("treatment", 9, 4)),
    )
    table = StatsTable(SOURCE, "conversions", (), groups, guardrails=("guardrail_x",))
    data = experiment_data(table, options=Options())
    assert [(a.arm, a.users, a.conversions) for a in data.arms] == [
        ("treatment", 19, 5),
        ("control", 20, 5),
    ]
    assert [name for name, _ in data.segments] == ["mobile", "desktop"]
    assert data.control == "control"
    assert data.guardrail_columns == ("guardrail_x",)
    assert data.primary_name == "conversions"


def test_a_refused_table_has_no_arms_and_the_control_asked_for() -> None:
    finding = Finding("blocked", "no_rows", "The file has a header but no data rows.")
    data = experiment_data(refused(SOURCE, [finding], primary="signed_up"), options=Options())
    assert data.arms == () and data.control is None
    assert data.findings == (finding,) and data.primary_name == "signed_up"


def test_merged_groups_add_their_sums_and_keep_a_null_sum_null() -> None:
    windows = {"sampled": (1.0, 2.0, 5.0, 6.0)}
    a = GroupSums(
        "Control ", rows=3, first_line=5, columns={1: ColumnSums(numbers=2, total=4.0, **windows)}
    )
    b = GroupSums(
        "control",
        rows=2,
        first_line=2,
        columns={1: ColumnSums(numbers=0, largest=9.0, sampled=(1.5, 2.5, 4.0, 5.5))},
    )
    (group,) = merged([a, b], key=by_label)
    assert (group.arm, group.rows, group.first_line) == ("control", 5, 2)
    # the sampled windows widen to hold both groups': lowest lower ends, highest upper ends
    expected = ColumnSums(numbers=2, total=4.0, largest=9.0, sampled=(1.0, 2.5, 4.0, 6.0))
    assert group.column(1) == expected
    assert group.column(1).total_sq is None and group.column(7) == ColumnSums()


@pytest.mark.parametrize(
    ("text", "primary"),
    [
        ("user_id,variant,retention_1\n1,a,0\n2,b,1\n", "converted"),
        ("variant,users,signups\ncontrol,10,1\ntreatment,10,2\n", "conversions"),
    ],
)
def test_a_blocked_file_names_the_primary_column_it_looked_for(text: str, primary: str) -> None:
    data = ingest.parse(text.encode(), file_name="f.csv")
    assert any(f.severity == "blocked" for f in data.findings)
    assert data.primary_name == primary
    assert any(repr(primary) in f.message or primary in f.message for f in data.findings)
