"""The channel digest: its running experiments (no decision recorded yet), each with the latest
look's verdict, the users so far against the charter's target, and whether it is ready to decide.

Pure: :class:`DigestLine` values in (built by :mod:`bot.digest`), ``(text, blocks)`` out, within
Slack's limits (50 blocks a message, 3000 characters a section, 4000 of fallback text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block

from bot.render import blocks as b
from bot.render.format import VERDICT_EMOJI, esc, truncate
from bot.render.limits import MAX_FALLBACK_TEXT, MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT
from experimentos.charter import REF_PREFIX
from experimentos.model import VerdictKind

Message = tuple[str, list[Block]]
FIXED_BLOCKS = 4
"""Header, the ready-to-decide line, the "…more" note and the footer."""
MAX_LINES = MAX_MESSAGE_BLOCKS - FIXED_BLOCKS


@dataclass(frozen=True, slots=True)
class DigestLine:
    """One running experiment as the digest shows it."""

    number: int
    """The experiment's number in its team (EXP-<number>)."""
    name: str
    link: str | None
    """The experiment's thread."""
    look: int | None
    """The latest look's number; None before the first look."""
    verdict: VerdictKind | None
    users: int | None
    """Users (all arms) in the latest look."""
    target: int | None
    """The charter's target sample size."""
    ready: tuple[str, ...] = ()
    """Why it is ready to decide (empty: not yet)."""

    @property
    def ref(self) -> str:
        return f"{REF_PREFIX}{self.number}"


def users_text(users: int | None, target: int | None) -> str:
    """``41,230 of 60,000 users (69%)``; without a target ``41,230 users (no target set)``."""
    if users is None:
        return "users not known"
    if not target:
        return f"{users:,} users (no target set)"
    return f"{users:,} of {target:,} users ({users / target:.0%})"


def line_mrkdwn(line: DigestLine) -> str:
    title = f"{esc(line.ref)} · {esc(line.name)}"
    head = f"*<{line.link}|{title}>*" if line.link else f"*{title}*"
    if line.look is None or line.verdict is None:
        facts = "no looks yet"
    else:
        facts = (
            f"{VERDICT_EMOJI[line.verdict]} {line.verdict.capitalize()} (look {line.look}) · "
            f"{users_text(line.users, line.target)}"
        )
    text = f"{head}\n{facts}"
    if line.ready:
        text += f"\n:white_check_mark: *Ready to decide:* {esc('; '.join(line.ready))}"
    return truncate(text, MAX_SECTION_TEXT)


def digest_message(lines: Sequence[DigestLine], *, when: str = "") -> Message:
    """The digest of one channel (``lines`` non-empty); ready-to-decide experiments first."""
    ordered = sorted(lines, key=lambda line: (not line.ready, line.number))
    ready = [line for line in ordered if line.ready]
    count = len(ordered)
    noun = "experiment" if count == 1 else "experiments"
    title = f":bar_chart: Experiment digest: {count} running {noun}"
    parts: list[Block] = [b.header(title)]
    if ready:
        refs = ", ".join(f"`{esc(line.ref)}`" for line in ready)
        parts.append(b.section(truncate(f"*Ready to decide:* {refs}", MAX_SECTION_TEXT)))
    shown = ordered[:MAX_LINES]
    parts += [b.section(line_mrkdwn(line)) for line in shown]
    if count > len(shown):
        parts.append(
            b.context(f"…and {count - len(shown)} more: `/experiment history` lists them all.")
        )
    footer = (
        "Running experiments with no decision recorded"
        + (f", {esc(when)}" if when else "")
        + ". Record one with `/experiment status EXP-n launched|held|rolled-back`."
    )
    parts.append(b.context(footer))
    summary = f"{count} running {noun}" + (f", {len(ready)} ready to decide" if ready else "")
    text = truncate(f"Experiment digest: {summary}.", MAX_FALLBACK_TEXT)
    return text, parts
