"""The command line as a user runs it: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import norm

from tests.conftest import EXAMPLES


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experimentos.cli.commands", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_analyze_text() -> None:
    result = run("analyze", str(EXAMPLES / "launch.csv"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("LAUNCH: launch")


def test_analyze_json_has_full_precision_and_verdict(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = run(
        "analyze", str(EXAMPLES / "negative_primary.csv"), "--format", "json", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["verdict"]["kind"] == "rollback"
    assert data["primary"][0]["comparison"]["abs_lift"] == 1800 / 20000 - 2000 / 20000


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_analyze_memo_formats(fmt: str) -> None:
    result = run("analyze", str(EXAMPLES / "guardrail_worsened.csv"), "--format", fmt)
    assert result.returncode == 0, result.stderr
    for section in ("Summary", "Decision", "Evidence", "Risks", "Next actions", "Assumptions"):
        assert section in result.stdout


def test_options_flags(cookie_cats: bytes, tmp_path: Path) -> None:
    path = tmp_path / "cookie_cats.csv"
    path.write_bytes(cookie_cats)
    result = run(
        "analyze",
        str(path),
        "--control",
        "gate_30",
        "--primary",
        "retention_7",
        "--name",
        "Gate 40",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ROLLBACK: Gate 40")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>", "HTML"),
    ],
)
def test_unreadable_file_exits_2_without_traceback(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = run("analyze", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert expected in result.stderr and "bad.csv" in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("analyze", str(tmp_path / "nope.csv"))
    assert result.returncode == 2
    assert "nope.csv" in result.stderr and "Traceback" not in result.stderr


def test_invalid_file_is_a_blocked_answer_not_an_error() -> None:
    result = run("analyze", str(EXAMPLES / "blocked.csv"))
    assert result.returncode == 0
    assert result.stdout.startswith("HOLD")
    assert "Line 3" in result.stdout


def test_power_reference_value() -> None:
    result = run("power", "--baseline", "0.10", "--mde", "0.01", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["users_per_variant"] == [14751, 14751]


def test_power_bad_parameters_exit_2() -> None:
    result = run("power", "--baseline", "1.5", "--mde", "0.01")
    assert result.returncode == 2
    assert "baseline" in result.stderr and "Traceback" not in result.stderr


def test_bad_split_option_exits_2() -> None:
    result = run("analyze", str(EXAMPLES / "launch.csv"), "--split", "fifty/fifty")
    assert result.returncode == 2
    assert "split" in result.stderr


def test_record_keeps_looks_and_history_lists_them(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    first = run("analyze", str(EXAMPLES / "launch.csv"), "--record", "--database-url", url)
    assert first.returncode == 0, first.stderr
    assert "recorded as EXP-1, look 1" in first.stderr
    second = run(
        "analyze", str(EXAMPLES / "launch.csv"), "--record", "--database-url", url, "--format", "md"
    )
    assert "recorded as EXP-1, look 2" in second.stderr
    assert "Peeking: this is look 2" in second.stdout
    third = run("analyze", str(EXAMPLES / "launch.csv"), "--record", "--database-url", url)
    assert "recorded as EXP-1, look 3" in third.stderr
    assert "Warnings:\n  - Peeking: this is look 3" in third.stdout  # the text report too
    history = run("history", "--database-url", url, "--format", "json")
    assert history.returncode == 0, history.stderr
    assert '"launch"' in history.stdout


def test_record_reads_a_user_level_file_where_it_lies(tmp_path: Path) -> None:
    """--record takes the same path as a plain analyze: a user-level file goes to DuckDB from
    disk, so the in-memory size limit (here set below the file's size) does not apply to it."""
    csv = tmp_path / "users.csv"
    rows = [f"{i},{'control' if i % 2 else 'treatment'},{int(i % 7 == 0)}" for i in range(4000)]
    csv.write_text("user_id,variant,converted\n" + "\n".join(rows) + "\n")
    limit = {"EXPERIMENTOS_MAX_FILE_BYTES": str(csv.stat().st_size // 2)}
    url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    plain = run("analyze", str(csv), "--format", "json", env=limit)
    recorded = run(
        "analyze", str(csv), "--format", "json", "--record", "--database-url", url, env=limit
    )
    assert plain.returncode == 0, plain.stderr
    assert recorded.returncode == 0, recorded.stderr
    assert "recorded as EXP-1, look 1" in recorded.stderr
    ours, theirs = json.loads(plain.stdout), json.loads(recorded.stdout)
    assert ours["experiment"]["rows"] == theirs["experiment"]["rows"] == 4000
    assert ours["primary"] == theirs["primary"]


def test_ratio_flag_reports_a_ratio_metric_of_a_user_level_file(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    rows = [
        f"{i},{'control' if i % 2 else 'treatment'},{int(i % 3 == 0)},{(i % 3 == 0) * (30 + i % 7)},"
        f"{(i % 3 == 0) * (1 + i % 4)}"
        for i in range(900)
    ]
    csv.write_text("user_id,variant,converted,revenue,orders\n" + "\n".join(rows) + "\n")
    result = run("analyze", str(csv), "--ratio", "aov=revenue/orders", "--format", "json")
    assert result.returncode == 0, result.stderr
    (aov,) = [m for m in json.loads(result.stdout)["secondary"] if m["name"] == "aov"]
    assert aov["kind"] == "ratio"
    assert aov["comparison"]["ci_method"] == "delta-method"
    bad = run("analyze", str(csv), "--ratio", "aov=revenue")
    assert bad.returncode == 2
    assert "ratio must look like revenue_per_order=revenue/orders" in bad.stderr


def test_blocks_format_prints_the_card_the_bot_posts() -> None:
    from slack_sdk.models.blocks import Block

    result = run("analyze", str(EXAMPLES / "guardrail_severe.csv"), "--format", "blocks")
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    assert message["text"].startswith("Rollback")
    assert 0 < len(message["blocks"]) <= 50
    for block in message["blocks"]:
        assert Block.parse(block) is not None


def test_make_demo_run_twice_flags_the_second_looks_as_peeking(tmp_path: Path) -> None:
    """`make demo` promises that a second run flags each example's second look as peeking: the
    summary lines and the full report both say it."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "SLACK_BOT_TOKEN": "",
    }

    def demo() -> str:
        result = subprocess.run(
            [sys.executable, "-m", "experimentos.cli.demo"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "Peeking" not in demo()
    second = demo()
    launch_line = next(i for i, s in enumerate(second.splitlines()) if s.startswith("launch.csv"))
    assert "look 2" in second.splitlines()[launch_line]
    assert "warning: Peeking: this is look 2" in second.splitlines()[launch_line + 1]
    report = second[second.index("The full report") :]
    assert "Warnings:\n  - Peeking: this is look 2" in report


def test_power_for_a_mean_needs_no_baseline() -> None:
    """n = 2σ²(z₁₋α/₂ + z₁₋β)²/Δ², checked against statsmodels' NormalIndPower."""
    from statsmodels.stats.power import NormalIndPower

    result = run("power", "--sd", "25", "--mde", "0.5", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    expected = NormalIndPower().solve_power(effect_size=0.5 / 25, alpha=0.05, power=0.8)
    assert plan["users_per_variant"] == [math.ceil(expected)] * 2  # 39,244.6 → 39,245
    assert plan["baseline"] is None and plan["mde_relative"] is None
    text = run("power", "--sd", "25", "--mde", "0.5").stdout
    assert f"Users per variant: {math.ceil(expected):,}\n" in text  # once, not once per arm


def test_power_reads_percent_and_pp_as_slack_does() -> None:
    slack_style = run("power", "--baseline", "10%", "--mde", "1pp", "--format", "json")
    plain = run("power", "--baseline", "0.10", "--mde", "0.01", "--format", "json")
    assert slack_style.returncode == 0, slack_style.stderr
    assert json.loads(slack_style.stdout)["users_per_variant"] == [14751, 14751]
    assert json.loads(slack_style.stdout) == json.loads(plain.stdout)
    relative = run("power", "--baseline", "10%", "--mde", "10%", "--relative", "--format", "json")
    assert json.loads(relative.stdout)["users_per_variant"] == [14751, 14751]


def test_power_with_looks_gives_the_days_of_the_maximum_and_readable_boundaries() -> None:

    result = run(
        "power", "--baseline", "10%", "--mde", "1pp", "--daily-users", "5k", "--looks", "5"
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(
        run(
            "power",
            "--baseline",
            "10%",
            "--mde",
            "1pp",
            "--daily-users",
            "5000",
            "--looks",
            "5",
            "--format",
            "json",
        ).stdout
    )
    assert plan["max_days"] == math.ceil(plan["max_total_users"] / 5000)
    assert f"{plan['max_total_users']:,} users, {plan['max_days']} days at 5,000" in result.stdout
    assert not re.search(r"\b0\.0+\b(?!\d)", result.stdout)  # never "p < 0.00000"
    # look 1 of O'Brien–Fleming-type spending: its nominal p is 2·(1 − Φ(z)), about 1e-6
    z, p = re.search(
        r"look 1: t = 0\.20, \|z\| ≥ ([\d.]+), nominal p < ([\d.]+)\n", result.stdout
    ).groups()
    assert float(p) == pytest.approx(2 * norm.sf(float(z)), rel=0.05)
    assert p == "0.0000011"


@pytest.mark.parametrize(
    ("example", "fail_on", "code"),
    [
        ("launch.csv", "hold", 0),
        ("not_significant.csv", "hold", 3),
        ("not_significant.csv", "rollback", 0),
        ("negative_primary.csv", "hold", 3),  # a Rollback is worse than a Hold
        ("negative_primary.csv", "rollback", 3),
        ("negative_primary.csv", "blocked", 0),
        ("blocked.csv", "blocked", 3),
        ("blocked.csv", "rollback", 0),
    ],
)
def test_fail_on_exits_3_at_or_above_the_level(example: str, fail_on: str, code: int) -> None:
    result = run("analyze", str(EXAMPLES / example), "--fail-on", fail_on)
    assert result.returncode == code, result.stderr
    assert result.stdout.split(":")[0] in ("LAUNCH", "HOLD", "ROLLBACK")  # the report is written
    assert (f"--fail-on {fail_on}" in result.stderr) is (code == 3)


def test_fail_on_is_documented_in_help() -> None:
    shown = " ".join(run("analyze", "--help").stdout.split())
    assert "--fail-on {blocked,hold,rollback}" in shown and "exit with code 3" in shown
