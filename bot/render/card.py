"""The verdict card: Analysis → Block Kit blocks, and its plain-text fallback.

Pure functions of the Analysis, the key the buttons carry (the stored analysis id) and the
look's place in its experiment's history; nothing here talks to Slack.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import Block

from bot.render import blocks as b
from bot.render import describe as d
from bot.render.format import VERDICT_EMOJI, esc, probability, truncate
from bot.render.limits import MAX_FALLBACK_TEXT, fit_message
from bot.render.people import change_mrkdwn
from experimentos.charter import CharterChange
from experimentos.formatting import display_label, display_text
from experimentos.model import Analysis

MAX_FINDINGS = 5
MAX_ARMS_ON_CARD = 6
MAX_ACTIONS = 5

ACTION_MEMO = "card_memo"
ACTION_DETAILS = "card_details"
ACTION_RECORD = "card_record_decision"


@dataclass(frozen=True, slots=True)
class CardContext:
    """Where the analysis sits in its experiment's history (plain text; escaped here)."""

    ref: str
    """``EXP-3``"""
    look: int
    look_diff: str | None = None
    """One line from :func:`experimentos.analysis.look_diff.look_diff`, from the second look on."""
    charter_changes: tuple[CharterChange, ...] = ()
    """Charter changes after the first look (the charter lock)."""


def render_card(analysis: Analysis, *, key: str, context: CardContext | None = None) -> list[Block]:
    """The card posted in the thread: verdict, health, evidence, next actions, buttons."""
    parts: list[Block] = [
        b.header(_title(analysis)),
        b.section(f"*{esc(display_text(analysis.verdict.reason))}*"),
        *_history(analysis, context),
        _health(analysis),
        *_primary(analysis),
        *_guardrails(analysis),
        *_bayes(analysis),
        *_always_valid(analysis),
        *_warnings(analysis),
        *_next_actions(analysis),
        b.context(
            f"Methods: {d.methods(analysis)} · {d.thresholds_line(analysis.thresholds)}",
            d.data_version(analysis),
        ),
        card_buttons(key),
    ]
    return fit_message(parts)


def card_text(analysis: Analysis) -> str:
    """The notification / accessibility fallback: verdict, name and reason, escaped."""
    verdict = analysis.verdict
    name, reason = display_label(analysis.experiment.name), display_text(verdict.reason)
    text = f"{verdict.label}: {esc(name)} — {esc(reason)}"
    return truncate(text, MAX_FALLBACK_TEXT)


def card_buttons(key: str) -> Block:
    value = {"k": key}
    return b.actions(
        b.button("Memo", action_id=ACTION_MEMO, value=value, style="primary"),
        b.button("Details", action_id=ACTION_DETAILS, value=value),
        b.button("Record decision", action_id=ACTION_RECORD, value=value),
    )


def _title(analysis: Analysis) -> str:
    verdict = analysis.verdict
    several = verdict.kind == "launch" and len(analysis.primary) > 1
    arm = f" {display_label(verdict.arm)}" if several else ""
    name = display_label(analysis.experiment.name)
    return f"{VERDICT_EMOJI[verdict.kind]} {verdict.label}{arm} — {name}"


def _history(analysis: Analysis, context: CardContext | None) -> list[Block]:
    if context is None:
        return []
    of = f" of {analysis.experiment.of_looks}" if analysis.experiment.of_looks else ""
    where = [f"`{esc(context.ref)}` · Look {context.look}{of}"]
    if context.look_diff:
        where.append(f":arrows_counterclockwise: {esc(context.look_diff)}")
    parts: list[Block] = [b.context(*where)]
    if context.charter_changes:
        changes = "; ".join(change_mrkdwn(c) for c in context.charter_changes)
        parts.append(b.context(f":lock: *Charter changed after the first look:* {changes}"))
    return parts


def _health(analysis: Analysis) -> Block:
    lines = [d.health_line(analysis)]
    findings = analysis.health.findings
    if findings:
        heading = "*What to fix:*" if analysis.health.blocked else "*Findings:*"
        lines.append(heading)
        lines += [d.finding_line(f) for f in findings[:MAX_FINDINGS]]
        if len(findings) > MAX_FINDINGS:
            lines.append(f"_…and {len(findings) - MAX_FINDINGS} more in the memo._")
    return b.section("\n".join(lines))


def _primary(analysis: Analysis) -> list[Block]:
    if not analysis.primary:
        return []
    first = analysis.primary[0]
    several = len(analysis.primary) > 1
    lines = [f"*Primary — {d.label(first.name)}*"]
    if several:
        lines.append(f"Control {d.arm_rate(first, 'control')}")
        for result in analysis.primary[:MAX_ARMS_ON_CARD]:
            lines.append(
                f"• {d.arm_rate(result, 'treatment')}: {d.lift_line(result, adjusted=True)}"
            )
        if len(analysis.primary) > MAX_ARMS_ON_CARD:
            lines.append(f"_…{len(analysis.primary) - MAX_ARMS_ON_CARD} more arms in Details._")
    else:
        lines.append(f"{d.arm_rate(first, 'control')} · {d.arm_rate(first, 'treatment')}")
        lines.append(d.lift_line(first, adjusted=False))
    lines += [f"_{esc(display_text(note))}_" for note in first.notes]
    if analysis.sequential is not None:
        lines.append(d.look_line(analysis.sequential))
    return [b.divider(), b.section("\n".join(lines))]


def _guardrails(analysis: Analysis) -> list[Block]:
    if analysis.health.blocked:
        return []
    if not analysis.guardrails:
        return [b.context("No guardrail metrics in this file (add `guardrail_*` columns).")]
    several = len(analysis.primary) > 1
    lines = ["*Guardrails*"]
    lines += [d.guardrail_line(g, with_arm=several) for g in analysis.guardrails]
    return [b.section("\n".join(lines))]


def _bayes(analysis: Analysis) -> list[Block]:
    bayes = analysis.bayes
    if bayes is None:
        return []
    chances = [
        f"{d.label(arm.arm)} {probability(arm.chance_to_beat_control)}"
        for arm in bayes.arms
        if arm.chance_to_beat_control is not None
    ]
    if not chances:
        return []
    return [
        b.context(
            f":game_die: Chance to beat control — _explanatory, {esc(bayes.prior)} prior; "
            f"never changes the verdict_: {', '.join(chances)}"
        )
    ]


ALWAYS_VALID_LINE = (
    ":eyes: *Always-valid inference:* peeking is safe — look as often as you like; the "
    "interval and p hold at every look."
)


def _always_valid(analysis: Analysis) -> list[Block]:
    return [b.context(ALWAYS_VALID_LINE)] if d.always_valid(analysis) else []


def _warnings(analysis: Analysis) -> list[Block]:
    if not analysis.warnings:
        return []
    return [b.context(*(f":warning: {esc(display_text(w))}" for w in analysis.warnings))]


def _next_actions(analysis: Analysis) -> list[Block]:
    shown = [f.message for f in analysis.health.findings[:MAX_FINDINGS]]
    actions = [a for a in analysis.verdict.next_actions if not any(m in a for m in shown)]
    if not actions:
        return []
    lines = ["*Next*", *(f"• {esc(display_text(a))}" for a in actions[:MAX_ACTIONS])]
    return [b.section("\n".join(lines))]
