"""``--method fixed|always-valid|group-sequential`` end to end through the command line.

The always-valid figures are checked against gbstats 0.8's ``SequentialTwoSidedTTest`` on the
counts of the file (an implementation that is not ours); the verdict is checked against the
decision that gbstats' p implies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic

from experimentos.analysis.assemble import analyze
from experimentos.model import Options
from experimentos.options import parse_message_options
from tests.conftest import EXAMPLES

AV = "always-valid (asymptotic CS)"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experimentos.cli.commands", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def analysed_json(path: Path, *args: str) -> dict:
    result = run("analyze", str(path), "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def gbstats_sequential(control: tuple[int, int], treatment: tuple[int, int], tuning: float = 5000):
    return SequentialTwoSidedTTest(
        ProportionStatistic(n=control[0], sum=control[1]),
        ProportionStatistic(n=treatment[0], sum=treatment[1]),
        SequentialConfig(difference_type="absolute", sequential_tuning_parameter=tuning),
    )


def write_csv(tmp_path: Path, control: tuple[int, int], treatment: tuple[int, int]) -> Path:
    path = tmp_path / "checkout.csv"
    path.write_text(
        "variant,users,conversions\n"
        f"control,{control[0]},{control[1]}\ntreatment,{treatment[0]},{treatment[1]}\n"
    )
    return path


@pytest.mark.parametrize("tuning", [None, 40_000])
def test_always_valid_primary_equals_gbstats_on_the_example_counts(tuning):
    extra = ("--planned-users", str(tuning)) if tuning else ()
    data = analysed_json(EXAMPLES / "launch.csv", "--method", "always-valid", *extra)
    primary = data["primary"][0]
    c, t = primary["control"], primary["treatment"]
    theirs = gbstats_sequential(
        (c["n"], c["conversions"]), (t["n"], t["conversions"]), tuning or 5000
    )
    comparison = primary["comparison"]
    assert comparison["method"] == AV
    assert comparison["abs_ci"] == pytest.approx(theirs.confidence_interval, abs=1e-6)
    assert comparison["p_value"] == pytest.approx(theirs.p_value, abs=1e-6)
    assert primary["p_value_adjusted"] == pytest.approx(theirs.p_value, abs=1e-6)
    assert primary["significant"] == (theirs.p_value < 0.05)


def test_the_verdict_uses_the_always_valid_p(tmp_path):
    """A lift the fixed-horizon z-test calls significant but the confidence sequence does not:
    fixed launches, always-valid holds."""
    control, treatment = (20_000, 2000), (20_000, 2150)
    theirs = gbstats_sequential(control, treatment)
    assert theirs.p_value > 0.05  # the premise, from gbstats
    path = write_csv(tmp_path, control, treatment)
    fixed = analysed_json(path)
    always = analysed_json(path, "--method", "always-valid")
    assert fixed["primary"][0]["comparison"]["p_value"] < 0.05
    assert fixed["verdict"]["kind"] == "launch"
    assert always["verdict"]["kind"] == "hold"
    assert always["primary"][0]["significant"] is False


def test_default_stays_fixed_horizon():
    data = analysed_json(EXAMPLES / "launch.csv")
    assert data["primary"][0]["comparison"]["method"] == "wald-unpooled z-test"
    assert parse_message_options("name: Checkout").method == "fixed"
    assert parse_message_options("look: 2\nof: 5").method == "group-sequential"
    assert parse_message_options("method: always-valid").method == "always-valid"


def test_text_and_memo_name_the_method():
    text = run("analyze", str(EXAMPLES / "launch.csv"), "--method", "always-valid")
    assert text.returncode == 0, text.stderr
    assert f"Primary test: {AV}" in text.stdout
    assert "peeking is safe" in text.stdout
    memo = run(
        "analyze", str(EXAMPLES / "launch.csv"), "--method", "always-valid", "--format", "md"
    )
    assert memo.returncode == 0, memo.stderr
    assert AV in memo.stdout


def test_always_valid_replaces_boundaries_and_peeking_warnings():
    csv = (EXAMPLES / "launch.csv").read_bytes()
    peeked = analyze(csv, file_name="launch.csv", options=Options(prior_looks=3))
    assert any(w.startswith("Peeking") for w in peeked.warnings)
    safe = analyze(
        csv, file_name="launch.csv", options=Options(prior_looks=3, method="always-valid")
    )
    assert safe.warnings == ()
    planned = analyze(
        csv,
        file_name="launch.csv",
        options=Options(look=2, of_looks=5, method="always-valid"),
    )
    assert planned.sequential is None
    assert planned.primary[0].comparison.method == AV


def test_group_sequential_still_uses_the_boundaries():
    data = analysed_json(
        EXAMPLES / "launch.csv", "--method", "group-sequential", "--look", "2", "--of", "5"
    )
    assert data["sequential"] is not None
    assert data["primary"][0]["comparison"]["method"] == "wald-unpooled z-test"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--method", "group-sequential"), "needs the look plan"),
        (("--method", "fixed", "--look", "2", "--of", "5"), "not the fixed method"),
        (("--method", "always-valid", "--planned-users", "lots"), "planned users must be"),
        (("--method", "always-valid", "--planned-users", "0"), "planned users must be"),
    ],
)
def test_bad_method_input_is_one_line_and_exit_2(args, message):
    result = run("analyze", str(EXAMPLES / "launch.csv"), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
