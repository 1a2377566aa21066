"""The App Home tab: how to use the bot and the verdicts this process has seen recently."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.memory import RecentAnalysis
from bot.render import blocks as b
from bot.render.format import VERDICT_EMOJI, esc
from bot.render.limits import MAX_VIEW_BLOCKS, fit_message


def render_home(recent: list[RecentAnalysis]) -> View:
    parts: list[Block] = [
        b.header("ExperimentOS"),
        b.section(
            "Drop an experiment's results CSV in a channel I'm in and I'll answer in the thread with "
            "*Launch*, *Hold* or *Rollback*, the evidence, and a decision memo. "
            "Size a test first with `/experiment power baseline=10% mde=1pp`."
        ),
        b.divider(),
        b.section("*Recent verdicts*"),
    ]
    if recent:
        parts += [b.section(_line(entry)) for entry in recent]
        parts.append(
            b.context("Kept in memory until the history feature lands; a restart clears this list.")
        )
    else:
        parts.append(b.context("No analyses yet since I last started. Drop a CSV in a channel."))
    return View(type="home", blocks=fit_message(parts, max_blocks=MAX_VIEW_BLOCKS))


def _line(entry: RecentAnalysis) -> str:
    verdict = entry.analysis.verdict
    when = datetime.fromtimestamp(entry.created_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{VERDICT_EMOJI[verdict.kind]} *{verdict.label}* — {esc(entry.analysis.experiment.name)} "
        f"in <#{esc(entry.channel)}> · {when}\n_{esc(verdict.reason)}_"
    )
