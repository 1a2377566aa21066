"""Use-cases of the history commands: find an experiment, list a channel's, record a decision.

Listings are scoped to the team and the channel they are asked in; an experiment named by id or
name is found in the whole team (the command's channel first).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import user_message
from bot.render.charter_modal import charter_message
from bot.services import Services
from experimentos.store import (
    Charter,
    DecisionRecord,
    ExperimentRecord,
    ExperimentSummary,
    HistoryStore,
)

OUTCOME_WORDS = {
    "launched": "launched",
    "launch": "launched",
    "held": "held",
    "hold": "held",
    "rolled-back": "rolled-back",
    "rolled_back": "rolled-back",
    "rolledback": "rolled-back",
    "rollback": "rolled-back",
    "rolled-back.": "rolled-back",
}
STATUS_WORDS = {"running": "running", "completed": "completed", "complete": "completed"}
BACKLOG_SCAN = 500


@dataclass(frozen=True, slots=True)
class StatusRequest:
    ref: str
    state: str
    """launched | held | rolled-back (a decision) or running | completed (a status)."""
    reason: str | None

    @property
    def is_decision(self) -> bool:
        return self.state in OUTCOME_WORDS.values()


def parse_status(args: str) -> StatusRequest | None:
    """``EXP-3 launched because …`` (the name may have spaces: ``Checkout v2 rolled back``)."""
    words = args.split()
    for index, word in enumerate(words[1:], start=1):
        word_lower = word.lower()
        rest = words[index + 1 :]
        if word_lower == "rolled" and rest and rest[0].lower() == "back":
            word_lower, rest = "rolled-back", rest[1:]
        state = OUTCOME_WORDS.get(word_lower) or STATUS_WORDS.get(word_lower)
        if state:
            reason = " ".join(rest).strip() or None
            return StatusRequest(" ".join(words[:index]), state, reason)
    return None


async def find_experiment(
    store: HistoryStore, team_id: str, ref: str, *, channel_id: str
) -> ExperimentRecord | None:
    ref = ref.strip().strip("“”\"'`")
    return await store.get_experiment(team_id, ref, channel_id=channel_id) if ref else None


def thread_of(summary: ExperimentSummary) -> str | None:
    latest = summary.latest
    return summary.experiment.thread_ts or (latest.thread_ts if latest else None)


async def channel_history(
    services: Services, client: AsyncWebClient, team_id: str, channel_id: str, text: str
) -> tuple[list[ExperimentSummary], dict[int, str]]:
    """The channel's experiments (newest first) and a link to each one's thread."""
    summaries = await services.store.list_experiments(
        team_id, channel_id=channel_id, text=text or None, limit=20
    )
    threads = {s.experiment.id: thread_of(s) for s in summaries}
    wanted = [(eid, ts) for eid, ts in threads.items() if ts]
    links = await asyncio.gather(*(services.permalink(client, channel_id, ts) for _, ts in wanted))
    return summaries, {eid: link for (eid, _), link in zip(wanted, links, strict=True)}


async def channel_backlog(
    store: HistoryStore, team_id: str, channel_id: str, *, limit: int = 20
) -> list[ExperimentRecord]:
    """Proposed experiments of this channel, best RICE score first."""
    records = await store.backlog(team_id, limit=BACKLOG_SCAN)
    return [r for r in records if r.channel_id == channel_id][:limit]


async def apply_status(
    store: HistoryStore,
    team_id: str,
    experiment: ExperimentRecord,
    request: StatusRequest,
    *,
    user_id: str,
    analysis_id: int | None = None,
) -> DecisionRecord | None:
    """Record the decision (DecisionReasonRequired against the verdict without a reason) or set
    the status; returns the decision when one was recorded."""
    if request.is_decision:
        return await store.record_decision(
            team_id,
            experiment.id,
            request.state,
            user_id=user_id,
            reason=request.reason,
            analysis_id=analysis_id,
        )
    await store.set_status(team_id, experiment.id, request.state)
    return None


async def create_charter(
    services: Services,
    client: AsyncWebClient,
    charter: Charter,
    *,
    team_id: str,
    view: Mapping[str, Any],
    user_id: str,
) -> str | None:
    """Create the Proposed experiment, post its charter where ``/experiment new`` was typed and
    make that message its thread. Returns what to tell the user when Slack refuses the post."""
    channel = str(json.loads(view.get("private_metadata") or "{}").get("c") or "")
    if not channel:
        return "I lost track of the channel: close this and run `/experiment new` again."
    experiment = await services.store.create_experiment(
        team_id=team_id, channel_id=channel, charter=charter, created_by=user_id
    )
    text, blocks = charter_message(experiment)
    try:
        posted = await client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    except SlackApiError as error:
        return user_message(error)
    await services.store.set_thread(
        team_id, experiment.id, channel_id=channel, thread_ts=str(posted["ts"])
    )
    if charter.refresh_schedule:
        services.schedules_changed()
    return None
