"""User-level files through DuckDB, against a straightforward pandas computation written here.

The reference below is deliberately naive (whole file as strings, groupby per user, groupby per
arm), so that it checks the SQL rather than repeating it. Generated files carry what real exports
do: repeated rows of a user, users in two arms, segments, empty cells, an extreme outlier and a
``pre_`` covariate.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from experimentos import ingest
from experimentos.errors import UnreadableFileError
from experimentos.ingest.sniff import HEAD_BYTES
from experimentos.model import ArmInput, CovariateStats, ExperimentData, MeanStats, Options

TRUE, FALSE = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f"}
CAPPED = " (capped at p99.9)"


# --------------------------------------------------------------------------- the reference


def reference(text: str, *, primary: str = "converted", block_share: float = 0.01) -> dict:
    """Per (arm, segment) figures, computed the obvious way with pandas."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    frame.columns = [" ".join(c.strip().casefold().split()) for c in frame.columns]
    frame = frame.apply(lambda c: c.str.strip())
    user, variant = frame.columns[0], frame.columns[1]
    segment = "segment" if "segment" in frame.columns else None
    binary, numeric = {}, {}
    for column in frame.columns.drop([user, variant, *([segment] if segment else [])]):
        cells = frame[column]
        filled = cells[cells != ""].str.casefold()
        if len(filled) and filled.isin(TRUE | FALSE).all():
            binary[column] = cells.str.casefold().map(
                lambda c: 1.0 if c in TRUE else (0.0 if c in FALSE else np.nan)
            )
            continue
        values = pd.to_numeric(cells.where(cells != ""), errors="coerce")
        if (
            len(filled)
            and values.notna().sum() == len(filled)
            and np.isfinite(values).sum() == len(filled)
        ):
            numeric[column] = values
    arm = frame[variant].str.casefold()
    kept = (arm != "") & binary[primary].notna()
    work = pd.DataFrame({"user": frame[user], "arm": arm, "line": np.arange(len(frame)) + 2})
    work["segment"] = frame[segment].str.casefold() if segment else ""
    for name, values in binary.items():
        work[name] = values if name == primary else values.fillna(0.0)
    for name, values in numeric.items():
        work[name] = values
    work = work[kept]
    arms_of_user = work.groupby("user")["arm"].nunique()
    crossed = set(arms_of_user[arms_of_user > 1].index)
    crossed_lines = work.loc[work["user"].isin(crossed), "line"]
    work = work[~work["user"].isin(crossed)].sort_values("line")
    per_user = work.groupby("user", sort=False).agg(
        arm=("arm", "first"),
        segment=("segment", "first"),
        line=("line", "min"),
        **{b: (b, "max") for b in binary},
    )
    for name in numeric:
        per_user[name] = work.groupby("user", sort=False)[name].sum(min_count=1)
    means = [m for m in numeric if not m.startswith(("guardrail_", "pre_"))]
    caps = {}
    for m in means:
        cap = per_user[m].quantile(0.999)
        if cap > 0 and per_user[m].max() > 10 * cap:
            caps[m] = cap
            per_user[m + CAPPED] = per_user[m].clip(upper=cap)
    groups = {}
    for (a, s), part in sorted(
        per_user.groupby(["arm", "segment"]), key=lambda kv: kv[1]["line"].min()
    ):
        groups[(a, s)] = {
            "users": len(part),
            "conversions": int(part[primary].sum()),
            "counts": {
                c: int(part[c].sum())
                for c in [*binary, *numeric]
                if c != primary and (c in binary or c.startswith("guardrail_"))
            },
            "means": {
                m: (int(part[m].count()), part[m].sum(), (part[m] ** 2).sum())
                for m in [*means, *(m + CAPPED for m in caps)]
            },
            "covariates": {
                m: _covariate(part[m], part["pre_" + m]) for m in means if "pre_" + m in numeric
            },
        }
    share = len(crossed) / len(arms_of_user) if len(arms_of_user) else 0.0
    return {
        "groups": groups,
        "crossed": (len(crossed), share, int(crossed_lines.min()) if crossed else None),
        "severity": "blocked" if share > block_share else "warning",
        "empty": (int((arm == "").sum()), int(binary[primary].isna().sum())),
        "caps": caps,
    }


def _covariate(y: pd.Series, x: pd.Series) -> tuple[float, ...]:
    present = y.notna()
    y, x = y[present], x[present].fillna(0.0)
    return (len(y), y.sum(), (y**2).sum(), x.sum(), (x**2).sum(), (x * y).sum())


def assert_matches(parsed: ExperimentData, expected: dict) -> None:
    groups = expected["groups"]  # in the order of each (arm, segment)'s first user
    segmented = bool(parsed.segments)
    arm_order = list(dict.fromkeys(arm for arm, _ in groups))
    assert [a.arm for a in parsed.arms] == arm_order
    actual: dict[tuple[str, str], ArmInput] = {(a.arm, ""): a for a in parsed.arms}
    if segmented:
        assert [s for s, _ in parsed.segments] == list(dict.fromkeys(s for _, s in groups if s))
        for segment, arms in parsed.segments:
            assert [a.arm for a in arms] == [a for a, s in groups if s == segment]
        actual = {(a.arm, s): a for s, arms in parsed.segments for a in arms}
        for arm in parsed.arms:  # arms pool their segments, the blank one included
            parts = [want for (a, _), want in groups.items() if a == arm.arm]
            assert arm.users == sum(p["users"] for p in parts)
            assert arm.conversions == sum(p["conversions"] for p in parts)
        groups = {k: v for k, v in groups.items() if k[1]}
    assert set(actual) == set(groups)
    for key, want in groups.items():
        got = actual[key]
        assert (got.users, got.conversions) == (want["users"], want["conversions"]), key
        assert dict(got.counts) == want["counts"], key
        assert set(got.means) == set(want["means"]), key
        for name, (n, total, total_sq) in want["means"].items():
            stats = got.means[name]
            assert stats.n == n, (key, name)
            assert stats.total == pytest.approx(total, rel=1e-9, abs=1e-9), (key, name)
            assert stats.total_sq == pytest.approx(total_sq, rel=1e-9, abs=1e-9), (key, name)
        assert set(got.covariates) == set(want["covariates"]), key
        for name, (n, *sums) in want["covariates"].items():
            cov = got.covariates[name]
            assert cov.n == n
            got_sums = [cov.total, cov.total_sq, cov.pre_total, cov.pre_total_sq, cov.cross_total]
            assert got_sums == pytest.approx(sums, rel=1e-9, abs=1e-9)
    codes = [f.code for f in parsed.findings]
    crossed, share, line = expected["crossed"]
    if crossed:
        (finding,) = [f for f in parsed.findings if f.code == "user_in_several_variants"]
        assert finding.severity == expected["severity"] and finding.row == line
        assert finding.message.startswith(f"{crossed} users ({share:.2%})")
    else:
        assert "user_in_several_variants" not in codes
    empty_arm, empty_primary = expected["empty"]
    assert codes.count("empty_cell") == (empty_arm > 0) + (empty_primary > 0)
    outliers = {f.column for f in parsed.findings if f.code == "extreme_outlier"}
    assert outliers == set(expected["caps"])


# --------------------------------------------------------------------------- generated files


def user_level_csv(
    seed: int,
    *,
    users: int = 3000,
    text_ids: bool | str = False,
    segments: bool = False,
    repeats: float = 0.0,
    crossed: float = 0.0,
    empty: float = 0.0,
    outlier: bool = False,
) -> str:
    rng = np.random.default_rng(seed)
    arms = np.array(["control", "Treatment", " treatment ", "CONTROL"])
    arm = arms[rng.integers(0, 4, users)]
    ids = [f"u-{i:05d}" if text_ids else str(1000 + 7 * i) for i in range(users)]
    if text_ids == "uuid":  # random UUIDs from their own generator: the other cells stay the same
        raw = np.random.default_rng(seed).bytes(16 * users)
        ids = [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16])) for i in range(users)]
    converted = rng.random(users) < 0.12
    revenue = np.where(converted, rng.gamma(2.0, 15.0, users).round(2), 0.0)
    pre = rng.gamma(2.0, 10.0, users).round(2)
    if outlier:
        revenue[rng.integers(users)] = 250_000.0
    rows = []
    for i in range(users):
        cells = {
            "user_id": ids[i],
            "Variant": arm[i],
            "segment": ["ios", "Android", "web ", ""][i % 4],
            "converted": ("no", "yes")[int(converted[i])]
            if i % 3
            else str(bool(converted[i])).upper(),
            "revenue": "" if i % 17 == 0 else f"{revenue[i]}",
            "pre_revenue": "" if i % 13 == 0 else f"{pre[i]}",
            "guardrail_errors": str(rng.poisson(0.05)),
            "clicked": str(int(rng.random() < 0.3)),
            "note": ["", "checked", "n/a"][i % 3],
        }
        if rng.random() < empty:
            cells[rng.choice(["Variant", "converted"])] = ""
        rows.append(cells)
        if rng.random() < repeats:
            rows.append(cells | {"revenue": f"{rng.random() * 5:.2f}", "converted": "1"})
        if rng.random() < crossed:
            rows.append(
                cells | {"Variant": "treatment" if "ontrol" in cells["Variant"] else "control"}
            )
    columns = ["user_id", "Variant", *(["segment"] if segments else []), "converted", "revenue"]
    columns += ["pre_revenue", "guardrail_errors", "clicked", "note"]
    order = rng.permutation(len(rows)) if rng.random() < 0.5 else np.arange(len(rows))
    lines = [",".join(columns)] + [",".join(rows[j][c] for c in columns) for j in order]
    return "\n".join(lines) + "\n"


def read(text: str, **options: str) -> ExperimentData:
    return ingest.parse(text.encode(), file_name="users.csv", options=Options(**options))


@pytest.mark.parametrize(
    ("seed", "shape", "keyed"),
    [
        (1, {}, False),
        (2, {"outlier": True}, False),
        (3, {"repeats": 0.05, "crossed": 0.004, "outlier": True}, True),
        (4, {"text_ids": True, "segments": True, "crossed": 0.03}, True),
        (5, {"segments": True, "empty": 0.01, "repeats": 0.02}, True),
        (6, {"empty": 0.01, "outlier": True}, False),
        (7, {"segments": True, "outlier": True}, False),  # distinct ids: segments in one pass
        (8, {"segments": True, "empty": 0.01}, False),
        # distinct text ids are proven distinct by their hashes: one pass too
        (9, {"text_ids": True, "segments": True, "outlier": True}, False),
        (10, {"text_ids": "uuid", "empty": 0.01}, False),
        (11, {"text_ids": "uuid", "repeats": 0.03}, True),
    ],
)
def test_duckdb_aggregates_match_a_pandas_groupby(
    seed: int, shape: dict, keyed: bool, keyed_calls: list[int]
) -> None:
    text = user_level_csv(seed, **shape)
    parsed = read(text)
    assert bool(keyed_calls) is keyed  # both the one-pass path and the keyed path are checked
    assert parsed.source.input_format == "user_level"
    assert parsed.source.rows == text.count("\n") - 1
    assert_matches(parsed, reference(text))
    assert parsed.guardrail_columns == ("guardrail_errors",)
    assert parsed.secondary_count_columns == ("clicked",)


def test_text_ids_that_differ_only_by_white_space_are_one_user(keyed_calls: list[int]) -> None:
    text = (
        "user_id,variant,converted\nu1,control,0\nu2,treatment,1\nu1 ,control,1\nu3,treatment,0\n"
    )
    parsed = read(text)
    assert keyed_calls  # the ids are distinct as written, not once trimmed
    control, treatment = parsed.arms
    assert (control.users, control.conversions) == (1, 1)
    assert (treatment.users, treatment.conversions) == (2, 1)
    (finding,) = [f for f in parsed.findings if f.code == "repeated_user_rows"]
    assert finding.row == 2  # the repeated user's first line


def test_empty_cells_are_named_with_their_first_lines() -> None:
    text = "user_id,variant,converted\n1,control,1\n2,,0\n3,treatment,\n4,  ,1\n5,control,0\n"
    parsed = read(text)
    messages = {f.column: (f.message, f.row) for f in parsed.findings if f.code == "empty_cell"}
    assert messages["variant"] == ("2 row(s) have no variant value (first at line 3, 5).", 3)
    assert messages["converted"] == ("1 row(s) have no converted value (first at line 4).", 4)
    assert [(a.arm, a.users) for a in parsed.arms] == [("control", 2)]


def test_users_in_two_arms_are_left_out_and_blocked_above_the_threshold() -> None:
    rows = [f"{i},{'control' if i % 2 else 'treatment'},{i % 3 == 0:d}" for i in range(400)]
    rows += ["7,treatment,1", "8,control,0"]  # users 7 and 8 now sit in both arms
    parsed = read("user_id,variant,converted\n" + "\n".join(rows) + "\n")
    (finding,) = [f for f in parsed.findings if f.code == "user_in_several_variants"]
    assert (finding.severity, finding.row) == ("warning", 9)  # user 7's first row is line 9
    assert "2 users (0.50%)" in finding.message
    assert sum(a.users for a in parsed.arms) == 398
    rows += [f"{i},treatment,0" for i in range(1, 40, 2)]
    parsed = read("user_id,variant,converted\n" + "\n".join(rows) + "\n")
    assert [f.severity for f in parsed.findings if f.code == "user_in_several_variants"] == [
        "blocked"
    ]


def test_a_users_rows_in_one_arm_are_merged() -> None:
    text = (
        "user_id,variant,converted,revenue,guardrail_errors\n"
        "1,control,0,2.5,1\n2,treatment,1,,0\n1, Control ,1,4,2\n3,treatment,0,1,0\n2,treatment,0,,1\n"
    )
    parsed = read(text)
    control, treatment = parsed.arms
    assert (control.users, control.conversions, control.counts) == (1, 1, {"guardrail_errors": 3})
    assert control.means["revenue"] == MeanStats(1, 6.5, 6.5**2)
    # user 2 has no revenue in any row: left out of revenue's n (not counted as 0)
    assert treatment.means["revenue"] == MeanStats(1, 1.0, 1.0)
    assert (treatment.users, treatment.conversions) == (2, 1)


def test_cuped_covariate_of_a_pre_column() -> None:
    rng = np.random.default_rng(11)
    pre = rng.normal(50, 10, 2000).round(3)
    post = (0.8 * pre + rng.normal(0, 5, 2000)).round(3)
    cells = [
        f"{i},{'control' if i % 2 else 'treatment'},{i % 5 == 0:d},{post[i]},{pre[i]}"
        for i in range(2000)
    ]
    cells[10] = "10,treatment,0,,7"  # no post value: not in n
    cells[11] = "11,control,1,3,"  # no pre value: x = 0
    parsed = read("user_id,variant,converted,spend,pre_spend\n" + "\n".join(cells) + "\n")
    assert parsed.mean_columns == ("spend",)
    for arm in parsed.arms:
        odd = 1 if arm.arm == "control" else 0
        index = [i for i in range(2000) if i % 2 == odd and i != 10]
        y = np.array([3.0 if i == 11 else post[i] for i in index])
        x = np.array([0.0 if i == 11 else pre[i] for i in index])
        expected = CovariateStats(
            len(y), y.sum(), (y**2).sum(), x.sum(), (x**2).sum(), (x * y).sum()
        )
        got = arm.covariates["spend"]
        assert got.n == expected.n
        assert [
            got.total,
            got.total_sq,
            got.pre_total,
            got.pre_total_sq,
            got.cross_total,
        ] == pytest.approx(
            [
                expected.total,
                expected.total_sq,
                expected.pre_total,
                expected.pre_total_sq,
                expected.cross_total,
            ],
            rel=1e-12,
        )


# --------------------------------------------------------------------------- beyond the first megabyte


def _large(row: str, *, rows: int) -> str:
    """A file larger than the head ingest reads to guess column types."""
    body = "".join(
        row.format(i=i, arm="control" if i % 2 else "treatment", c=int(i % 9 == 0))
        for i in range(rows)
    )
    assert len(body) > HEAD_BYTES
    return body


ROW = "{i},{arm},{c},{i}.25,0\n"
HEADER = "user_id,variant,converted,revenue,guardrail_x\n"


@pytest.mark.parametrize(
    ("tail", "check"),
    [
        ("900001,control,0,1,2\n", lambda p: p.arm("control").counts["guardrail_x"] == 2),
        ("900001,control,1.0,1,0\n", lambda p: p.findings[0].code == "missing_primary"),
        (
            "900001,control,0,n/a,0\n",
            lambda p: "revenue" not in p.mean_columns,
        ),  # text: not a metric
        ("900001,control,0,   ,0\n", lambda p: p.arm("control").means["revenue"].n == 22_500),
        ("900001,control,0,inf,0\n", lambda p: "revenue" not in p.mean_columns),
        ("abc,control,0,1,0\n", lambda p: sum(a.users for a in p.arms) == 45_001),  # a text user id
        ("99999999999,control,0,1,0\n", lambda p: sum(a.users for a in p.arms) == 45_001),
        ("17,control,0,1,0\n", lambda p: sum(a.users for a in p.arms) == 45_000),  # a repeated user
        (
            "900001, yes ,0,1,0\n",
            lambda p: [a.arm for a in p.arms] == ["treatment", "control", "yes"],
        ),
    ],
)
def test_a_cell_beyond_the_sample_that_breaks_the_guessed_type(tail: str, check) -> None:
    parsed = read(HEADER + _large(ROW, rows=45_000) + tail)
    assert check(parsed), parsed.findings


def test_arms_first_seen_after_the_sample_keep_the_file_order() -> None:
    """A file sorted by variant: the first megabyte shows one arm only."""
    arms = ["b_first"] * 56_000 + ["c_second"] * 2_000 + ["a_third"] * 2_000
    parsed = read(HEADER + "".join(f"{i},{arm},{i % 2},1,0\n" for i, arm in enumerate(arms)))
    assert [(a.arm, a.users) for a in parsed.arms] == [
        ("b_first", 56_000),
        ("c_second", 2_000),
        ("a_third", 2_000),
    ]


# --------------------------------------------------------------------------- Cookie Cats


def test_cookie_cats_figures(cookie_cats: bytes, tmp_path: Path) -> None:
    options = Options(control="gate_30", primary="retention_7")
    path = tmp_path / "cookie_cats.csv"
    path.write_bytes(cookie_cats)
    from_path = ingest.parse_path(path, options=options)
    from_bytes = ingest.parse(cookie_cats, file_name="cookie_cats.csv", options=options)
    assert (from_path.source, from_path.findings) == (from_bytes.source, from_bytes.findings)
    assert [a.counts for a in from_path.arms] == [a.counts for a in from_bytes.arms]
    gate_30, gate_40 = from_path.arms
    assert (gate_30.arm, gate_30.users, gate_30.conversions) == ("gate_30", 44_700, 8_502)
    assert (gate_40.arm, gate_40.users, gate_40.conversions) == ("gate_40", 45_489, 8_279)
    assert (gate_30.counts["retention_1"], gate_40.counts["retention_1"]) == (20_034, 20_119)
    assert from_path.source.checksum == hashlib.sha256(cookie_cats).hexdigest()
    assert from_path.source.rows == 90_189 and from_path.source.size_bytes == len(cookie_cats)
    text = cookie_cats.decode()
    assert_matches(from_path, reference(text, primary="retention_7"))
    (outlier,) = [f for f in from_path.findings if f.code == "extreme_outlier"]
    assert outlier.message.startswith(
        "sum_gamerounds has an extreme outlier: 49,854 against a median of 16"
    )


# --------------------------------------------------------------------------- hostile input


BODY = "".join(f"{i},{'control' if i % 2 else 'treatment'},{i % 5 == 0:d}\n" for i in range(200))
SMALL = "user_id,variant,converted\n" + BODY


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ((SMALL + "5,control,1,9\n" + BODY).encode(), "line 202 has 4 fields but the header has 3"),
        ((SMALL + "5,control\n").encode(), "line 202 has 2 fields but the header has 3"),
        (
            (SMALL + '5,"control,1\n' + BODY).encode(),
            'line 202 has a quote (") that is never closed',
        ),
        ((SMALL + "5,control," + "1" * (3 << 20) + "\n").encode(), "line 202 "),
    ],
)
def test_malformed_files_are_blocked_with_the_line(content: bytes, message: str) -> None:
    parsed = ingest.parse(content, file_name="bad.csv")
    (finding,) = parsed.findings
    assert (finding.severity, finding.code) == ("blocked", "malformed_csv")
    assert message in finding.message and finding.row == 202


@pytest.mark.parametrize(
    "junk",
    [
        bytes(range(256)) * 40,  # bytes that are neither UTF-8 nor Windows-1252
        bytes(range(32, 256))
        .replace(b"\x81", b"")
        .replace(b"\x8d", b"")
        .replace(b"\x8f", b"")
        .replace(b"\x90", b"")
        .replace(b"\x9d", b"")
        * 40,  # valid Windows-1252 junk
        b"\x00" * 5000,
        b'\n"' * 3000,
    ],
)
def test_binary_junk_in_the_middle_is_a_finding_or_an_unreadable_file(junk: bytes) -> None:
    content = (SMALL + _large("{i},{arm},{c}\n", rows=90_000)).encode() + junk + BODY.encode()
    try:
        parsed = ingest.parse(content, file_name="junk.csv")
    except UnreadableFileError as error:
        assert "junk.csv" in error.message
    else:
        assert any(f.severity == "blocked" for f in parsed.findings)


def test_windows_1252_found_after_the_first_megabyte_is_decoded_as_pandas_did() -> None:
    content = (SMALL + _large("{i},{arm},{c}\n", rows=90_000)).encode()
    content += "999999,contrôle,1\n".encode("cp1252")
    parsed = ingest.parse(content, file_name="latin.csv")
    assert [a.arm for a in parsed.arms] == ["treatment", "control", "contrôle"]
    # SMALL's 200 ids come again in the large part, in the same arms: merged, and said so.
    assert [f.code for f in parsed.findings] == ["repeated_user_rows"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"\n\n  \n", "is empty"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML"),
        (b"user_id,variant\x00,converted\n1,a,1\n", "binary"),
    ],
)
def test_unreadable_user_level_files(content: bytes, expected: str) -> None:
    with pytest.raises(UnreadableFileError, match=expected):
        ingest.parse(content, file_name="x.csv")


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("user_id,variant,converted,converted", "duplicate_column"),
        ("user_id,variant,converted,", "empty_header"),
    ],
)
def test_header_problems_are_blocked(header: str, code: str) -> None:
    parsed = read(header + "\n1,control,1,1\n")
    assert [f.code for f in parsed.findings] == [code]


def test_header_only_and_missing_primary() -> None:
    assert [f.code for f in read("user_id,variant,converted\n").findings] == ["no_rows"]
    parsed = read("userid,version,retention_1,retention_7,level\n1,a,TRUE,no,3\n2,b,false,yes,4\n")
    (finding,) = parsed.findings
    assert finding.code == "missing_primary"
    assert "(0/1 columns in the file: retention_1, retention_7)" in finding.message


def test_the_cli_reads_a_user_level_file_without_pandas(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(user_level_csv(7, users=400))
    code = (
        "import sys; from experimentos.cli.commands import main; "
        f"status = main(['analyze', {str(path)!r}, '--format', 'json', '--out', {str(tmp_path / 'a.json')!r}]); "
        "print(status, 'pandas' in sys.modules, 'sqlalchemy' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["0", "False", "False"]


def _beyond_the_head(last: bytes) -> bytes:
    """A user-level file with a revenue column whose last row, after the first megabyte (where
    the column types are guessed), is ``last``: DuckDB meets it mid-scan and raises."""
    body = _large("{i},{arm},{c},{i}\n", rows=90_000)
    return ("user_id,variant,converted,revenue\n" + body).encode() + last


def _counts(content: bytes, encoding: str = "utf-8") -> dict[str, tuple[int, int]]:
    """Users and conversions per arm of a well-formed user-level file, counted here."""
    arms: dict[str, tuple[int, int]] = {}
    for line in content.decode(encoding).splitlines()[1:]:
        _, arm, converted = line.split(",")[:3]
        users, conversions = arms.get(arm, (0, 0))
        arms[arm] = (users + 1, conversions + (converted == "1"))
    return arms


@pytest.mark.parametrize(
    ("content", "outcome"),
    [
        # a trailing empty field on three rows: read as the empty field it is (as pandas does on
        # the aggregated path), every user counted
        (SMALL.replace("1\n", "1,\n", 3).encode(), "counted"),
        # another delimiter and no primary column
        (b"user_id;variant\n1;a\n", "missing_primary"),
        # DuckDB ConversionException (text in a column guessed numeric), then OutOfRange: the
        # column is widened to text, so revenue is no metric, and every user is counted
        (_beyond_the_head(b"999999,control,1,abc\n"), "counted"),
        # ConversionException on the user id column
        (_beyond_the_head(b"u999999,control,1,3\n"), "counted"),
        # ConversionException on the primary: not 0/1 for every user
        (_beyond_the_head(b"999999,control,maybe,3\n"), "missing_primary"),
        # InvalidInputException (not UTF-8): the whole file read again as Windows-1252
        (_beyond_the_head(b"999999,\xff\xfe,1,3\n"), "counted-cp1252"),
        # InvalidInputException (ragged row): a Blocked finding with the line
        (_beyond_the_head(b"999999,control,1,3,4\n"), "malformed"),
        # a NUL byte after the head: not a text file
        ((SMALL + "5,con\x00trol,1\n").encode(), "binary"),
    ],
    ids=[
        "trailing-field",
        "semicolons",
        "text-in-numeric",
        "text-user-id",
        "uncastable-primary",
        "not-utf8",
        "ragged-row",
        "nul-byte",
    ],
)
def test_duckdb_errors_never_escape(content: bytes, outcome: str) -> None:
    """DuckDB's own exception types are translated: each file gives its specific outcome."""
    try:
        parsed = ingest.parse(content, file_name="x.csv")
    except duckdb.Error as error:  # pragma: no cover - the failure this test exists for
        pytest.fail(f"raw DuckDB error: {error}")
    except UnreadableFileError as error:
        assert (outcome, error.message) == (
            "binary",
            "x.csv is a binary file, not a CSV text file.",
        )
        return
    codes = [f.code for f in parsed.findings]
    got = {a.arm: (a.users, a.conversions) for a in parsed.arms}
    if outcome.startswith("counted"):
        encoding = "cp1252" if outcome == "counted-cp1252" else "utf-8"
        text_in_it = b"abc" in content  # said with the cell and its line, never silent
        assert (codes, got) == (["columns_not_tested"] * text_in_it, _counts(content, encoding))
        if text_in_it:
            assert "revenue (not a number: 'abc' at line 90002)" in parsed.findings[0].message
        if content.startswith(b"user_id,variant,converted,revenue"):  # text in it: no metric
            assert all(("revenue" in a.means) == (b"abc" not in content) for a in parsed.arms)
    elif outcome == "malformed":
        (finding,) = parsed.findings
        assert (finding.code, finding.row) == ("malformed_csv", 90_002)
        assert "line 90002 has 5 fields but the header has 4" in finding.message
        assert got == {}
    else:
        assert (outcome, codes, got) == ("missing_primary", ["missing_primary"], {})
