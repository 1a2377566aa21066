"""Plain-text lines about a charter and its history: guardrails, splits, charter changes after
the first look, recorded decisions. The card escapes them for mrkdwn, the memo for Markdown."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from experimentos.charter import (
    CharterChange,
    CharterGuardrail,
    DecisionRecord,
    ExperimentRecord,
    Rice,
)

FIELD_LABELS = {
    "primary_metric": "primary metric",
    "guardrails": "guardrails",
    "expected_split": "expected split",
    "planned_looks": "planned looks",
    "target_sample_size": "target sample size",
}
OUTCOME_LABELS = {"launched": "Launched", "held": "Held", "rolled-back": "Rolled back"}
VERDICT_LABELS = {"launch": "Launch", "hold": "Hold", "rollback": "Rollback"}


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One charter field an edit changed (``field`` is the Charter's attribute name)."""

    field: str
    old: Any
    new: Any
    recorded: bool
    """A locked field changed after looks started: kept in the experiment's charter changes."""


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def number_text(value: float) -> str:
    """A threshold or share as typed (``0.2``, ``60``), with the digits to read it back exactly."""
    return f"{value:.12g}"


def guardrail_text(guardrail: CharterGuardrail | Mapping[str, Any]) -> str:
    """``guardrail_refund higher-is-better worsened=0.2 severe=0.5 margin=1%`` (the modal's syntax)."""
    g = (
        guardrail
        if isinstance(guardrail, CharterGuardrail)
        else CharterGuardrail.from_dict(guardrail)
    )
    parts = [g.name]
    if g.higher_is_better:
        parts.append("higher-is-better")
    if g.worsened_pp is not None:
        parts.append(f"worsened={number_text(g.worsened_pp)}")
    if g.severe_pp is not None:
        parts.append(f"severe={number_text(g.severe_pp)}")
    if g.margin_rel is not None:
        parts.append(f"margin={number_text(g.margin_rel * 100)}%")
    return " ".join(parts)


def rice_parts(rice: Rice) -> str:
    """``reach 20,000 · impact 2 · confidence 80% · effort 4``: what a RICE score is made of."""
    return (
        f"reach {rice.reach:,.0f} · impact {rice.impact:g} · "
        f"confidence {rice.confidence * 100:g}% · effort {rice.effort:g}"
    )


def split_text(split: Sequence[float] | None) -> str:
    return "/".join(number_text(share) for share in split) if split else "equal"


def value_text(field: str, value: Any) -> str:
    if value is None or value == [] or value == ():
        return "none"
    if field == "guardrails":
        return ", ".join(guardrail_text(g) for g in value)
    if field == "expected_split":
        return split_text(value)
    if field == "target_sample_size":
        return f"{int(value):,}"
    return str(value)


def change_line(change: CharterChange) -> str:
    """``guardrails: a → a, b (by <user> on 2024-05-01 14:03 UTC)``."""
    label = FIELD_LABELS.get(change.field, change.field.replace("_", " "))
    by = f"by {change.by} " if change.by else ""
    return (
        f"{label}: {value_text(change.field, change.old)} → "
        f"{value_text(change.field, change.new)} ({by}on {when(change.at)})"
    )


def decision_line(decision: DecisionRecord) -> str:
    """``2024-05-01 14:03 UTC — U123 recorded Launched (the bot said Hold) — reason: …``."""
    outcome = OUTCOME_LABELS.get(decision.decision, decision.decision)
    verdict = VERDICT_LABELS.get(decision.bot_verdict or "")
    said = f" (the bot said {verdict}" + (
        "; against the verdict)" if decision.against_verdict else ")"
    )
    text = f"{when(decision.created_at)} — {decision.user_id} recorded {outcome}"
    text += said if verdict else ""
    if decision.reason:
        text += f" — reason: {decision.reason}"
    return text


def audit_lines(experiment: ExperimentRecord, decisions: Iterable[DecisionRecord]) -> list[str]:
    """The memo's closing audit trail: charter changes after the first look, then decisions."""
    lines = [
        f"Charter changed after the first look — {change_line(c)}"
        for c in experiment.charter_changes
    ]
    lines += [decision_line(d) for d in decisions]
    if not lines:
        lines.append(f"No decision recorded yet for {experiment.ref}.")
    return lines
