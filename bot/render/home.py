"""The App Home tab: how to use the bot, and the workspace's recent experiments from the history."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.audit import OUTCOME_LABELS
from bot.render import blocks as b
from bot.render.format import VERDICT_EMOJI, esc
from bot.render.limits import MAX_VIEW_BLOCKS, fit_message
from bot.render.people import user
from experimentos.charter import ExperimentSummary


def render_home(recent: Sequence[ExperimentSummary]) -> View:
    parts: list[Block] = [
        b.header("ExperimentOS"),
        b.section(
            "Drop an experiment's results CSV in a channel I'm in and I'll answer in the thread with "
            "*Launch*, *Hold* or *Rollback*, the evidence, and a decision memo. A CSV posted in "
            "that thread later is the next look. Plan an experiment with `/experiment new`, size "
            "it with `/experiment power baseline=10% mde=1pp`."
        ),
        b.divider(),
        b.section("*Recent experiments*"),
    ]
    if recent:
        parts += [b.section(_line(summary)) for summary in recent]
        parts.append(b.context("`/experiment history` in a channel lists that channel's."))
    else:
        parts.append(
            b.context("No experiments yet. Drop a CSV in a channel, or `/experiment new`.")
        )
    return View(type="home", blocks=fit_message(parts, max_blocks=MAX_VIEW_BLOCKS))


def _line(summary: ExperimentSummary) -> str:
    e, latest, decision = summary.experiment, summary.latest, summary.decision
    where = f"`{esc(e.ref)}` in <#{esc(e.channel_id)}>"
    if latest is None:
        return f":clipboard: *{e.status.capitalize()}* — {esc(e.name)} ({where}) · no looks yet"
    verdict = latest.verdict_kind
    text = (
        f"{VERDICT_EMOJI[verdict]} *{verdict.capitalize()}* — {esc(e.name)} ({where}, look "
        f"{latest.look}) · {latest.created_at:%Y-%m-%d %H:%M} UTC\n_{esc(latest.verdict_reason)}_"
    )
    if decision is not None:
        outcome = OUTCOME_LABELS.get(decision.decision, decision.decision)
        text += f"\n:memo: Decision: *{outcome}* by {user(decision.user_id)}"
    return text
