"""Recording a decision from the card's modal: against the bot's verdict, a reason is required."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from experimentos.store import (
    DecisionReasonRequired,
    DecisionRecord,
    ExperimentRecord,
    HistoryStore,
)

OUTCOMES = ("launched", "held", "rolled-back")


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    errors: dict[str, str] = field(default_factory=dict)
    """Messages for the modal's fields; empty when the decision was recorded."""
    decision: DecisionRecord | None = None
    experiment: ExperimentRecord | None = None
    channel: str | None = None
    thread_ts: str | None = None


async def decision_from_modal(
    store: HistoryStore, team_id: str, view: Mapping[str, Any], *, user_id: str
) -> DecisionOutcome:
    values = view["state"]["values"]
    chosen = _value(values, "decision")
    reason = _value(values, "reason") or None
    analysis_id = json.loads(view.get("private_metadata") or "{}").get("a")
    record = await store.get_analysis(team_id, int(analysis_id)) if analysis_id else None
    if record is None:
        return DecisionOutcome({"decision": "This analysis is no longer in the history."})
    if chosen not in OUTCOMES:
        return DecisionOutcome({"decision": "Choose launched, held or rolled back."})
    try:
        decision = await store.record_decision(
            team_id,
            record.experiment_id,
            chosen,
            user_id=user_id,
            reason=reason,
            analysis_id=record.id,
        )
    except DecisionReasonRequired as error:
        return DecisionOutcome({"reason": str(error)})
    experiment = await store.get_experiment_by_id(team_id, record.experiment_id)
    return DecisionOutcome(
        {},
        decision,
        experiment,
        record.channel_id or experiment.channel_id,
        record.thread_ts or experiment.thread_ts,
    )


def _value(values: Mapping[str, Mapping[str, Mapping[str, Any]]], block_id: str) -> str:
    for element in (values.get(block_id) or {}).values():
        selected = element.get("selected_option") or {}
        return str(selected.get("value") or element.get("value") or "").strip()
    return ""
