"""Blank event cells of user-level files: read as 0 (no event), never silently.

In a user-level export a blank event cell usually comes from a left join of users to events (no
event row for the user), so it counts as 0, with a Warning that names the column, the number of
blank rows and the first lines. A guardrail with no value in any row cannot be checked: a Warning
(Blocked when the guardrails option asked for it), never a silent "no guardrail worsened".

Every expectation is counted here again with the ``csv`` module, on both DuckDB paths: the one-pass
path (distinct integer ids) and the keyed path (text or repeated ids), on small files (types
decided from blank cells in the sample) and on files larger than the sample (blank cells only
beyond it, in columns read as BOOLEAN or DOUBLE).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from bot.render.card import render_card
from experimentos import analyze, ingest, render_markdown
from experimentos.ingest.sniff import HEAD_BYTES
from experimentos.model import ExperimentData, Finding, Options
from experimentos.options import parse_guardrails
from experimentos.report.text import render

TRUE, FALSE = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f"}


# --------------------------------------------------------------------------- the reference


def reference(text: str, column: str) -> dict:
    """Per arm: users and the column's count (0/1 by max over a user's rows, counts by sum, a
    blank cell as 0); the kept rows whose cell is blank, and their lines."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().casefold() for h in next(reader)]
    user, variant, converted, at = (
        header.index(n) for n in ("user_id", "variant", "converted", column)
    )
    rows = [(line, [c.strip() for c in cells]) for line, cells in enumerate(reader, start=2)]
    kept = [(line, r) for line, r in rows if r[variant] and r[converted]]
    blank_lines = [line for line, r in kept if not r[at]]
    filled = [r[at].casefold() for _, r in kept if r[at]]
    binary = all(c in TRUE | FALSE for c in filled)
    per_user: dict[str, tuple[str, float]] = {}
    for _, r in kept:
        cell = r[at].casefold()
        value = (1.0 if cell in TRUE else 0.0) if binary else (float(cell) if cell else 0.0)
        arm = r[variant].casefold()
        if r[user] in per_user:
            seen_arm, seen = per_user[r[user]]
            assert seen_arm == arm  # the generated files never cross users
            value = max(seen, value) if binary else seen + value
        per_user[r[user]] = (arm, value)
    arms: dict[str, list[float]] = {}
    for arm, value in per_user.values():
        arms.setdefault(arm, []).append(value)
    return {
        "users": {arm: len(values) for arm, values in arms.items()},
        "counts": {arm: int(sum(values)) for arm, values in arms.items()},
        "blank": len(blank_lines),
        "lines": blank_lines[:3],
        "rows": len(kept),
    }


# --------------------------------------------------------------------------- generated files


def user_level_csv(
    users: int,
    *,
    kind: str,
    seed: int = 0,
    text_ids: bool = False,
    repeats: float = 0.0,
    blank_every: int = 7,
    blank_from: int = 0,
    column: str = "guardrail_errors",
) -> str:
    """One row per user (or a few rows for some, with ``repeats``); the column's cell is blank in
    every ``blank_every``-th row from row ``blank_from`` on."""
    rng = np.random.default_rng(seed)
    lines = [f"user_id,variant,converted,{column}"]
    for i in range(users):
        uid = f"u-{i:06d}" if text_ids else str(10_000 + i)
        arm = ("control", "treatment")[i % 2]
        rows = 2 if rng.random() < repeats else 1
        for _ in range(rows):
            event = int(rng.random() < 0.1) if kind == "binary" else int(rng.poisson(0.3))
            n = len(lines) - 1
            cell = "" if n >= blank_from and n % blank_every == 0 else str(event)
            lines.append(f"{uid},{arm},{int(rng.random() < 0.12)},{cell}")
    return "\n".join(lines) + "\n"


def read(text: str, options: Options = Options()) -> ExperimentData:
    return ingest.parse(text.encode(), file_name="users.csv", options=options)


def found(data: ExperimentData, code: str) -> list[Finding]:
    return [f for f in data.findings if f.code == code]


def assert_counts(data: ExperimentData, expected: dict, column: str) -> None:
    assert {a.arm: a.users for a in data.arms} == expected["users"]
    assert {a.arm: a.counts[column] for a in data.arms} == expected["counts"]


def assert_blank_warning(data: ExperimentData, expected: dict, column: str) -> None:
    (finding,) = found(data, "blank_read_as_zero")
    assert (finding.severity, finding.column, finding.row) == (
        "warning",
        column,
        expected["lines"][0],
    )
    lines = ", ".join(map(str, expected["lines"]))
    assert finding.message.startswith(
        f"{expected['blank']} row(s) have no {column} value (first at line {lines}): "
        "they were read as 0 (no event)"
    )
    assert "write 0" in finding.message


# --------------------------------------------------------------------------- partly blank


SMALL = {"users": 400}
LARGE = {"users": 66_000, "blank_from": 60_000}  # blank cells only beyond the 1 MB sample


@pytest.mark.parametrize("kind", ["binary", "count"])
@pytest.mark.parametrize(
    ("shape", "keyed"),
    [
        pytest.param(SMALL, False, id="small-one-pass"),
        pytest.param(SMALL | {"text_ids": True}, False, id="small-one-pass-text-ids"),
        pytest.param(SMALL | {"text_ids": True, "repeats": 0.1}, True, id="small-keyed-text-ids"),
        pytest.param(SMALL | {"repeats": 0.1}, True, id="small-keyed-repeated-users"),
        pytest.param(LARGE, False, id="large-one-pass"),
        pytest.param(LARGE | {"repeats": 0.05}, True, id="large-keyed-repeated-users"),
    ],
)
def test_blank_guardrail_cells_are_read_as_zero_with_a_warning(
    kind: str, shape: dict, keyed: bool, keyed_calls: list[int]
) -> None:
    text = user_level_csv(kind=kind, **shape)
    if "blank_from" in shape:  # the sample saw no blank cell: typed reads, NULL when blank
        assert text.encode().find(b",\n") > HEAD_BYTES
    expected = reference(text, "guardrail_errors")
    assert expected["blank"] > 0
    data = read(text)
    assert bool(keyed_calls) is keyed
    assert data.guardrail_columns == ("guardrail_errors",)
    assert_counts(data, expected, "guardrail_errors")
    assert_blank_warning(data, expected, "guardrail_errors")
    assert not [f for f in data.findings if f.severity == "blocked"]
    if kind == "count":
        assert max(expected["counts"].values()) > max(expected["users"].values()) * 0.2


def test_the_repro_file_with_some_blank_guardrail_cells() -> None:
    text = (
        "user_id,variant,converted,guardrail_error\n"
        "1,control,0,1\n2,control,1,\n3,treatment,1,\n4,treatment,0,0\n"
    )
    data = read(text)
    expected = reference(text, "guardrail_error")
    assert expected["blank"] == 2 and expected["lines"] == [3, 4]
    assert_counts(data, expected, "guardrail_error")
    assert_blank_warning(data, expected, "guardrail_error")


def test_a_blank_count_cell_is_not_a_count_that_is_negative_or_not_whole() -> None:
    text = (
        "user_id,variant,converted,guardrail_errors\n"
        "1,control,0,2\n2,control,1,\n3,treatment,1,-1\n4,treatment,0,0\n5,control,1,\n"
    )
    data = read(text)
    (bad,) = found(data, "not_a_count")
    assert (bad.severity, bad.column, bad.row) == ("blocked", "guardrail_errors", 4)
    assert bad.message.startswith("1 row(s) have a guardrail_errors count")
    assert_blank_warning(data, reference(text, "guardrail_errors"), "guardrail_errors")


def test_blank_cells_of_a_secondary_0_1_column_are_read_as_zero_with_a_warning() -> None:
    text = user_level_csv(300, kind="binary", column="clicked", blank_every=11)
    expected = reference(text, "clicked")
    data = read(text)
    assert data.secondary_count_columns == ("clicked",)
    assert_counts(data, expected, "clicked")
    assert_blank_warning(data, expected, "clicked")


def test_a_column_named_by_the_guardrails_option_is_a_guardrail_count() -> None:
    text = user_level_csv(300, kind="count", column="errors", blank_every=5)
    expected = reference(text, "errors")
    data = read(text, Options(guardrails=parse_guardrails("errors")))
    assert data.guardrail_columns == ("errors",)
    assert "errors" not in data.mean_columns
    assert_counts(data, expected, "errors")
    assert_blank_warning(data, expected, "errors")
    analysis = analyze(
        text.encode(), file_name="users.csv", options=Options(guardrails=parse_guardrails("errors"))
    )
    assert not analysis.health.blocked
    assert {g.metric.name for g in analysis.guardrails} == {"errors"}


# --------------------------------------------------------------------------- entirely blank


def empty_guardrail_csv(
    users: int, *, text_ids: bool = False, padded: bool = False, lift: bool = False
) -> str:
    rng = np.random.default_rng(3)
    lines = ["user_id,variant,converted,guardrail_error"]
    for i in range(users):
        arm = ("control", "treatment")[i % 2]
        rate = 0.25 if lift and arm == "treatment" else 0.10
        uid = f"u{i}" if text_ids else str(i + 1)
        uid = f" {uid}" if padded else uid  # an id with white space around it: the keyed path
        lines.append(f"{uid},{arm},{int(rng.random() < rate)},")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text_ids", "padded", "keyed"),
    [
        pytest.param(False, False, False, id="one-pass"),
        pytest.param(True, False, False, id="one-pass-text-ids"),
        pytest.param(True, True, True, id="keyed-padded-text-ids"),
    ],
)
def test_a_guardrail_with_no_value_in_any_row_is_not_checked_with_a_warning(
    text_ids: bool, padded: bool, keyed: bool, keyed_calls: list[int]
) -> None:
    text = empty_guardrail_csv(2000, text_ids=text_ids, padded=padded)
    expected = reference(text, "guardrail_error")
    assert expected["blank"] == expected["rows"] == 2000
    data = read(text)
    assert bool(keyed_calls) is keyed
    (finding,) = found(data, "guardrail_not_checked")
    assert (finding.severity, finding.column, finding.row) == ("warning", "guardrail_error", 2)
    assert finding.message.startswith(
        "Guardrail guardrail_error has no value in any of the 2000 row(s) (first at line 2, 3, 4)"
    )
    assert "not checked" in finding.message
    assert data.guardrail_columns == ()
    assert not found(data, "blank_read_as_zero")


def test_a_launch_with_its_only_guardrail_unchecked_says_so_and_shows_the_guardrail() -> None:
    """The guardrail column is empty: the verdict never claims "no guardrail worsened"."""
    text = empty_guardrail_csv(4000, lift=True)
    analysis = analyze(text.encode(), file_name="users.csv")
    assert analysis.verdict.kind == "launch"
    assert "no guardrail was checked" in analysis.verdict.reason
    assert "no guardrail worsened" not in analysis.verdict.reason
    assert analysis.guardrails == ()
    assert analysis.health.status == "warning"
    (finding,) = [f for f in analysis.health.findings if f.code == "guardrail_not_checked"]
    card = json.dumps([b.to_dict() for b in render_card(analysis, key="k")], ensure_ascii=False)
    for shown in (render(analysis), render_markdown(analysis), card):
        # Markdown and Slack escape the underscore; the words are the finding's
        assert re.search(r"guardrail\\*_error has no value in any of the 4000 row\(s\)", shown)
        assert "not checked" in shown and "no guardrail was checked" in shown
        assert "no guardrail worsened" not in shown
    assert finding.message in render(analysis)


def test_an_empty_column_named_by_the_guardrails_option_blocks() -> None:
    text = "user_id,variant,converted,errors\n1,control,0,\n2,control,1, \n3,treatment,1,\n"
    options = Options(guardrails=parse_guardrails("errors"))
    data = read(text, options)
    (finding,) = found(data, "guardrail_not_checked")
    assert (finding.severity, finding.column, finding.row) == ("blocked", "errors", 2)
    assert "has no value in any of the 3 row(s)" in finding.message
    analysis = analyze(text.encode(), file_name="users.csv", options=options)
    assert analysis.health.blocked
    assert not [f for f in analysis.health.findings if "not a column" in f.message]


def test_a_guardrail_of_text_is_not_checked_with_its_lines() -> None:
    text = (
        "user_id,variant,converted,guardrail_error\n"
        "1,control,0,0\n2,control,1,n/a\n3,treatment,1,\n4,treatment,0,none\n5,control,1,1\n"
    )
    data = read(text)
    (finding,) = found(data, "guardrail_not_checked")
    assert (finding.severity, finding.column, finding.row) == ("warning", "guardrail_error", 3)
    assert "neither 0/1 nor counts (first at line 3, 5)" in finding.message
    assert data.guardrail_columns == ()


def test_users_on_several_rows_of_one_variant_are_merged_and_said(tmp_path: Path) -> None:
    """Shaped like a public landing-page export: two users logged twice with the same row.
    Each is one user (the csv module's count of distinct ids), and the merge is a finding."""
    rows = ["user_id,timestamp,group,subscribed"]
    rows += [
        f"{1000 + i},2021-01-05 00:00:{i % 60:02d},control,{int(i % 14 == 0)}" for i in range(238)
    ]
    rows += [
        f"{2000 + i},2021-01-05 00:01:{i % 60:02d},experimental,{int(i % 5 == 0)}"
        for i in range(238)
    ]
    rows.insert(121, rows[120])  # a user logged twice, identical rows (lines 121 and 122)
    rows.insert(262, rows[261])
    path = tmp_path / "landing.csv"
    path.write_text("\n".join(rows) + "\n")
    with path.open(newline="") as handle:
        records = list(csv.DictReader(handle))
    distinct = {(r["group"], r["user_id"]) for r in records}
    per_arm = {arm: sum(1 for g, _ in distinct if g == arm) for arm in ("control", "experimental")}

    analysis = analyze(
        path.read_bytes(), file_name=path.name, options=Options(primary="subscribed")
    )
    [finding] = [f for f in analysis.health.findings if f.code == "repeated_user_rows"]
    assert finding.severity == "info" and finding.column == "user_id" and finding.row == 121
    assert "2 users appear on more than one row" in finding.message and "4 rows" in finding.message
    [primary] = analysis.primary
    assert (primary.control.n, primary.treatment.n) == (per_arm["control"], per_arm["experimental"])
