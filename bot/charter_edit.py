"""``/experiment edit EXP-n``: who may edit which charter, and what an edit changed.

The edit is one more way to replace a charter through the history store, which keeps the charter
lock: after the first look, changes of locked fields are recorded (who, when, old → new) and shown
on the card and in the memo. This module says what changed, so the thread can be told.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bot.audit import FieldChange
from bot.services import Services
from experimentos.store import Charter, ExperimentRecord


@dataclass(frozen=True, slots=True)
class EditOutcome:
    errors: dict[str, str] = field(default_factory=dict)
    """Messages for the modal's fields; empty when the edit was saved (or changed nothing)."""
    experiment: ExperimentRecord | None = None
    changes: tuple[FieldChange, ...] = ()


def edit_refusal(experiment: ExperimentRecord, *, channel_id: str) -> str | None:
    """Why this experiment cannot be edited from ``channel_id`` (plain text), or None.

    Numbers are shared by the whole team, so an edit is asked where the experiment lives: typing a
    command in a channel shows one is in it, and a private channel's charter stays out of reach.
    """
    if experiment.channel_id != channel_id:
        return (
            f"{experiment.ref} belongs to another channel: run /experiment edit "
            f"{experiment.ref} there."
        )
    if experiment.status == "completed":
        return f"{experiment.ref} is decided; start a new experiment with /experiment new."
    return None


async def save_edit(
    services: Services, charter: Charter, *, team_id: str, view: Mapping[str, Any], user_id: str
) -> EditOutcome:
    """Replace the charter of the experiment the modal names, once it is still editable here."""
    channel_id, number = _target(view)
    experiment = await services.store.get_experiment(team_id, number) if number else None
    if experiment is None:
        return EditOutcome({"name": "This experiment is no longer in the history."})
    refused = edit_refusal(experiment, channel_id=channel_id)
    if refused is not None:
        return EditOutcome({"name": refused})
    if charter == experiment.charter:
        return EditOutcome(experiment=experiment)
    saved = await services.store.update_charter(team_id, experiment.id, charter, by=user_id)
    recorded = {c.field for c in saved.charter_changes[len(experiment.charter_changes) :]}
    changes = tuple(
        FieldChange(f.name, old, new, recorded=f.name in recorded)
        for f in fields(Charter)
        if (old := getattr(experiment.charter, f.name)) != (new := getattr(charter, f.name))
    )
    if experiment.charter.refresh_schedule != charter.refresh_schedule:
        services.schedules_changed()
    return EditOutcome(experiment=saved, changes=changes)


def _target(view: Mapping[str, Any]) -> tuple[str, int | None]:
    """The channel and experiment number the modal was opened for (``private_metadata``)."""
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return "", None
    if not isinstance(metadata, dict):
        return "", None
    number = metadata.get("n")
    return str(metadata.get("c") or ""), number if isinstance(number, int) else None
