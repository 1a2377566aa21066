"""Pure pieces of the history features: the look plan, the charter form, ``status`` arguments."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from harness import form_values

from bot.audit import change_line, guardrail_text
from bot.charter_form import parse_charter_form, parse_guardrail
from bot.experiments import parse_status
from experimentos import analyze
from experimentos.analysis.look_plan import (
    column_name,
    merge_charter,
    options_for,
    same_split,
    users_in_look,
)
from experimentos.model import GuardrailSpec, Options
from experimentos.store import Charter, CharterChange, CharterGuardrail

CHARTER = Charter(
    name="Checkout v2",
    primary_metric="checkout conversion",
    guardrails=(CharterGuardrail("guardrail_refund", worsened_pp=0.2, severe_pp=0.5),),
    expected_split=(60.0, 40.0),
)


def test_message_lines_amend_the_charter_keeping_known_thresholds() -> None:
    options = Options(
        split=(0.6, 0.4),
        guardrails=(GuardrailSpec("guardrail_refund"), GuardrailSpec("guardrail_error")),
        higher_is_better=frozenset({"guardrail_error"}),
        margins=(("guardrail_error", 0.01),),
    )
    merged = merge_charter(CHARTER, options)
    assert merged.expected_split == (60.0, 40.0)  # 0.6/0.4 is the same split
    assert merged.guardrails == (
        CharterGuardrail("guardrail_refund", worsened_pp=0.2, severe_pp=0.5),
        CharterGuardrail("guardrail_error", higher_is_better=True, margin_rel=0.01),
    )
    assert merge_charter(CHARTER, Options()) is CHARTER


def test_a_charter_with_planned_looks_gives_a_sequential_plan() -> None:
    charter = Charter(name="x", planned_looks=4, target_sample_size=40_000)
    options, target = options_for(Options(), charter, look=3, prior_users=[10_000, None])
    assert (options.look, options.of_looks, target) == (3, 4, 40_000)
    assert options.look_fractions == (0.25, 0.5)  # an unknown look falls back to k/K
    late, _ = options_for(Options(), charter, look=6, prior_users=[1] * 5)
    assert (late.look, late.of_looks) == (6, 6)


def test_no_plan_gives_the_peeking_count_and_the_charter_guardrails() -> None:
    options, target = options_for(Options(), CHARTER, look=3, prior_users=[])
    assert (options.prior_looks, options.look, target) == (2, None, None)
    assert options.split == (60.0, 40.0) and options.name == "Checkout v2"
    assert options.guardrails == (GuardrailSpec("guardrail_refund", False, 0.2, 0.5, None),)
    assert options.primary is None  # prose describes the metric; it names no column
    explicit, _ = options_for(Options(look=2, of_looks=5), CHARTER, look=3, prior_users=[])
    assert (explicit.look, explicit.of_looks) == (2, 5)


def test_the_risk_aware_rule_keeps_a_fixed_horizon_in_a_thread_without_a_plan() -> None:
    """A thread without a look plan is always-valid, but the risk-aware rule's tests are
    fixed-horizon: its success metrics would otherwise be refused at every look."""
    plain, _ = options_for(Options(), CHARTER, look=2, prior_users=[])
    assert plain.method == "always-valid"
    risk_aware, _ = options_for(
        Options(success=("conversions",), rule="risk-aware"), CHARTER, look=2, prior_users=[]
    )
    assert (risk_aware.method, risk_aware.prior_looks) == ("fixed", 1)


@pytest.mark.parametrize(
    ("metric", "column"),
    [("retention_7", "retention_7"), ("Conversions", "conversions"), ("checkout rate", None)],
)
def test_column_name(metric: str, column: str | None) -> None:
    assert column_name(metric) == column


def test_users_in_a_look() -> None:
    """From the SRM counts, else the primary metric's arms; None when neither is there."""
    csv = b"variant,users,conversions\ncontrol,1000,100\nb,1200,130\nc,1100,120\n"
    analysis = analyze(csv, file_name="three.csv")
    assert users_in_look(analysis) == 3300
    no_srm = dataclasses.replace(analysis, health=dataclasses.replace(analysis.health, srm=None))
    assert users_in_look(no_srm) == 3300
    assert users_in_look(dataclasses.replace(no_srm, primary=())) is None
    assert same_split((3, 2), (60, 40)) and not same_split((50, 50), None)


def test_a_valid_form_is_a_charter() -> None:
    charter, errors = parse_charter_form(
        form_values(
            name="  Checkout   v2 ",
            guardrails="guardrail_refund worsened=0.2pp severe=0.5, checkout_rate higher-is-better margin=1%",
            split="50/50",
            looks="3",
            reach="1000",
            impact="1",
            confidence="50",
            effort="2",
            start="2026-01-01",
            end="2026-02-01",
        )
    )
    assert errors == {}
    assert charter is not None and charter.name == "Checkout v2"
    assert [guardrail_text(g) for g in charter.guardrails] == [
        "guardrail_refund worsened=0.2 severe=0.5",
        "checkout_rate higher-is-better margin=1%",
    ]
    assert charter.rice is not None and charter.rice.score == pytest.approx(250)


def test_several_errors_come_back_together() -> None:
    charter, errors = parse_charter_form(
        form_values(name="x", split="70/40", looks="0", reach="10", guardrails="a\na")
    )
    assert charter is None
    assert set(errors) == {"split", "looks", "impact", "confidence", "effort", "guardrails"}
    assert "listed twice" in errors["guardrails"]


def test_a_guardrail_with_only_a_severe_threshold_is_checked_against_the_default() -> None:
    _, problem = parse_guardrail("guardrail_error severe=0.05")
    assert problem is not None and "worsened=0.1" in problem


@pytest.mark.parametrize(
    ("args", "ref", "state", "reason"),
    [
        ("EXP-3 launched", "EXP-3", "launched", None),
        ("3 rolled back the refunds spiked", "3", "rolled-back", "the refunds spiked"),
        ("Checkout v2 hold not enough data", "Checkout v2", "held", "not enough data"),
        ("EXP-3 completed", "EXP-3", "completed", None),
    ],
)
def test_status_arguments(args: str, ref: str, state: str, reason: str | None) -> None:
    request = parse_status(args)
    assert request is not None
    assert (request.ref, request.state, request.reason) == (ref, state, reason)


@pytest.mark.parametrize("args", ["", "EXP-3", "launched", "EXP-3 shipped"])
def test_status_without_a_state_is_none(args: str) -> None:
    assert parse_status(args) is None


def test_a_charter_change_reads_as_a_sentence() -> None:
    change = CharterChange(
        "expected_split", [50.0, 50.0], [60.0, 40.0], datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "U1"
    )
    assert change_line(change) == "expected split: 50/50 → 60/40 (by U1 on 2026-01-02 03:04 UTC)"
