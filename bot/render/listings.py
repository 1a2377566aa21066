"""Listings from the history: ``/experiment history``, ``/experiment backlog``, and their lines.

Each function returns (text, blocks); links are passed in (the caller asks Slack for them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slack_sdk.models.blocks import Block

from bot.audit import OUTCOME_LABELS, rice_parts
from bot.render import blocks as b
from bot.render.charter_modal import schedule_text
from bot.render.format import VERDICT_EMOJI, esc
from bot.render.limits import fit_message
from bot.render.people import user
from experimentos.charter import ExperimentRecord, ExperimentSummary

Message = tuple[str, list[Block]]
STATUS_LABELS = {"proposed": "Proposed", "running": "Running", "completed": "Completed"}


def history_listing(
    summaries: Sequence[ExperimentSummary], links: Mapping[int, str], *, search: str = ""
) -> Message:
    """This channel's experiments, newest first: verdict, looks, decision, a link to the thread."""
    matching = f" matching “{esc(search)}”" if search else ""
    if not summaries:
        text = (
            f"No experiments in this channel{matching} yet. Drop a results CSV here, or plan one "
            "with `/experiment new`."
        )
        return text, [b.section(text)]
    heading = f"*Experiments in this channel{matching}* (newest first)"
    parts: list[Block] = [b.section(heading)]
    parts += [b.section(summary_line(s, links.get(s.experiment.id))) for s in summaries]
    parts.append(b.context("`/experiment show EXP-n` re-posts a card · `memo EXP-n` the memo"))
    return f"{len(summaries)} experiments in this channel", fit_message(parts)


def summary_line(summary: ExperimentSummary, link: str | None) -> str:
    """``<link|EXP-3 · Checkout v2>`` · verdict (look k) · status · decision."""
    e = summary.experiment
    title = f"{e.ref} · {esc(e.name)}"
    head = f"*<{link}|{title}>*" if link else f"*{title}*"
    latest = summary.latest
    if latest is None:
        verdict = "no looks yet"
    else:
        label = latest.verdict_kind.capitalize()
        verdict = (
            f"{VERDICT_EMOJI[latest.verdict_kind]} {label} (look {latest.look}, "
            f"{latest.created_at:%Y-%m-%d})"
        )
    parts = [head, verdict, STATUS_LABELS.get(e.status, e.status)]
    if e.charter.refresh_schedule:
        parts.append(f":repeat: {esc(schedule_text(e.charter.refresh_schedule))}")
    decision = summary.decision
    if decision is not None:
        outcome = OUTCOME_LABELS.get(decision.decision, decision.decision)
        parts.append(f":memo: {outcome} by {user(decision.user_id)}")
    line = " · ".join(parts)
    if latest is not None:
        line += f"\n_{esc(latest.verdict_reason)}_"
    return line


def backlog_listing(records: Sequence[ExperimentRecord]) -> Message:
    if not records:
        text = "No proposed experiments in this channel. Plan one with `/experiment new`."
        return text, [b.section(text)]
    lines = ["*Backlog* — proposed experiments by RICE score"]
    for rank, record in enumerate(records, 1):
        rice = record.charter.rice
        score = (
            f"RICE *{rice.score:,.0f}* ({rice_parts(rice)})"
            if rice is not None
            else "no RICE score"
        )
        owner = f" · owner {user(record.charter.owner)}" if record.charter.owner else ""
        lines.append(f"{rank}. `{record.ref}` {esc(record.name)} — {score}{owner}")
    parts: list[Block] = [b.section("\n".join(lines[:40]))]
    if len(lines) > 40:
        parts.append(b.context(f"…and {len(lines) - 40} more."))
    return f"Backlog: {len(records)} proposed experiments", parts


def not_found(ref: str) -> Message:
    text = (
        f"I found no experiment “{esc(ref)}” in this workspace. `/experiment history` lists this "
        "channel's experiments with their ids (EXP-n)."
    )
    return text, [b.section(f":mag: {text}")]


def needs_ref(subcommand: str, usage: str) -> Message:
    text = f"Which experiment? `/experiment {subcommand} {usage}`"
    return text, [b.section(text)]


def no_looks_yet(experiment: ExperimentRecord) -> Message:
    text = (
        f"`{esc(experiment.ref)}` {esc(experiment.name)} has no analysis yet: post a results CSV "
        "in its thread."
    )
    return text, [b.section(f":hourglass: {text}")]


def done(text_mrkdwn: str, link: str | None = None) -> Message:
    """A short confirmation (``text_mrkdwn`` is already escaped), with a link to the thread."""
    body = f":white_check_mark: {text_mrkdwn}" + (f" <{link}|Open the thread>" if link else "")
    return body, [b.section(body)]
