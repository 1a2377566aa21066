"""``/experiment help``: what the bot does and how to ask."""

from __future__ import annotations

from functools import cache
from typing import Any

from slack_sdk.models.blocks import Block

from bot.render import blocks as b
from bot.render.format import esc
from experimentos.power_args import USAGE

HELP_TEXT = (
    "ExperimentOS: drop an experiment's results CSV in a channel, or use /experiment power, new, "
    "edit, history, show, memo, backlog or status."
)


def render_help(*, unknown: str | None = None) -> list[Block]:
    parts: list[Block] = []
    if unknown:
        parts.append(
            b.section(f":thinking_face: I don't know `{esc(unknown)}`. Here is what I can do:")
        )
    parts += [
        b.section(
            "*Get a verdict* — drop a results CSV in a channel I'm in (one row per variant with "
            "`variant`, `users`, `conversions`, optional `guardrail_*` columns, or one row per user). "
            "I answer in the thread with *Launch*, *Hold* or *Rollback* and why.\n"
            "Options go in the message with the file, one per line:\n"
            "```name: Checkout v2\nsplit: 60/40\nguardrails: guardrail_error, guardrail_refund\n"
            "control: gate_30\nprimary: retention_7\nratio: aov = revenue / orders```"
        ),
        b.section(
            f"*Size an experiment* — `{USAGE}`\n"
            "`baseline=0.10 mde=0.01` works too; `mde=5% relative` means 5 % of the baseline; "
            "`sd=12.5` sizes a continuous metric. Only you see the answer until you share it."
        ),
        b.section(
            "*Keep the history* — every card is kept; a CSV posted in a card's thread is the "
            "next look at that experiment.\n"
            "• `/experiment new` — plan an experiment (charter: hypothesis, metrics, guardrails, "
            "split, planned looks, RICE); CSVs in its thread are analysed against it\n"
            "• `/experiment edit EXP-n` — fix its charter in the same form; the thread is told what "
            "changed, and changes of locked fields after the first look are recorded\n"
            "• `/experiment history [text]` — this channel's experiments and verdicts\n"
            "• `/experiment show EXP-n` · `/experiment memo EXP-n` — re-post the card, upload the memo\n"
            "• `/experiment backlog` — proposed experiments by RICE score\n"
            "• `/experiment refresh EXP-n` — read the charter's saved source (SQL query or "
            "platform experiment) and post the next look\n"
            "• `/experiment pull growthbook EXP_KEY [fresh]` (or `statsig EXP_ID`) — the "
            "platform's results as a card (`fresh`: GrowthBook analyses anew first); without a "
            "key, its running experiments (Hackle: drop its exported CSV)\n"
            "• `/experiment status EXP-n launched|held|rolled-back|running|completed [reason]` — "
            "record the decision (against the verdict, with the reason)"
        ),
    ]
    return parts


@cache
def help_dicts() -> tuple[dict[str, Any], ...]:
    """The help blocks as JSON-ready dicts, built and validated once (help is answered in the ack)."""
    return tuple(block.to_dict() for block in render_help())
