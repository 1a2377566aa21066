"""Recording a decision: the modal the card's *Record decision* button opens, the thread message
that records it, and the plain answers of ``/experiment status``."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.audit import OUTCOME_LABELS
from bot.render import blocks as b
from bot.render.format import GT, LT, VERDICT_EMOJI, esc
from bot.render.people import decision_mrkdwn
from experimentos.charter import DecisionRecord
from experimentos.model import Verdict

CALLBACK_DECISION = "decision_record"
VALUE = "value"
OUTCOME_OF_VERDICT = {"launch": "launched", "hold": "held", "rollback": "rolled-back"}

Message = tuple[str, list[Block]]


def decision_modal(*, analysis_id: int, ref: str, name: str, look: int, verdict: Verdict) -> View:
    options = [Option(value=value, label=label) for value, label in OUTCOME_LABELS.items()]
    initial = next(o for o in options if o.value == OUTCOME_OF_VERDICT[verdict.kind])
    parts: list[Block] = [
        b.section(
            f"*{esc(ref)}* · {esc(name)} · look {look}\n"
            f"The bot's verdict: {VERDICT_EMOJI[verdict.kind]} *{verdict.label}* — "
            f"{esc(verdict.reason)}"
        ),
        InputBlock(
            block_id="decision",
            label="Our decision",
            element=StaticSelectElement(action_id=VALUE, options=options, initial_option=initial),
        ),
        InputBlock(
            block_id="reason",
            label="Reason",
            element=PlainTextInputElement(action_id=VALUE, multiline=True, max_length=2000),
            hint="Required when the decision goes against the bot's verdict.",
            optional=True,
        ),
        b.context("Recorded with your name and the time; the memo ends with this audit trail."),
    ]
    return View(
        type="modal",
        callback_id=CALLBACK_DECISION,
        title="Record decision",
        submit="Record",
        close="Cancel",
        private_metadata=json.dumps({"a": analysis_id}),
        blocks=parts,
    )


def decision_recorded(decision: DecisionRecord, *, ref: str) -> Message:
    text = decision_mrkdwn(decision, ref=ref)
    return text, [b.section(text)]


def reason_required(message: str, *, ref: str, outcome: str) -> Message:
    """``/experiment status`` against the verdict without a reason: say how to give one."""
    text = (
        f"{esc(message)} Add it after the decision: "
        f"`/experiment status {esc(ref)} {esc(outcome)} {LT}why we decided this{GT}`"
    )
    return text, [b.section(f":memo: {text}")]


def status_usage() -> Message:
    text = (
        "Usage: `/experiment status EXP-n launched|held|rolled-back|running|completed [reason…]` "
        "(a decision against the bot's verdict needs the reason)."
    )
    return text, [b.section(text)]
