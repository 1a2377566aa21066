"""``/experiment new`` and ``edit``: the charter modal, and the charter message posted in the
channel."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from slack_sdk.models.blocks import (
    Block,
    DatePickerElement,
    InputBlock,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.audit import rice_parts, split_text
from bot.render import blocks as b
from bot.render.format import count, esc, truncate
from bot.render.limits import MAX_FALLBACK_TEXT
from bot.render.people import user
from experimentos.charter import CharterGuardrail, ExperimentRecord
from experimentos.schedule import ScheduleError, parse_schedule

CALLBACK_CHARTER = "charter_new"
CALLBACK_CHARTER_EDIT = "charter_edit"
MAX_INPUT_LENGTH = 3000
"""The most a plain-text input holds (Slack's own limit)."""
METHOD_LABELS = {
    "always-valid": "Always-valid (peek at any time)",
    "group-sequential": "Group-sequential (planned looks)",
    "fixed": "Fixed horizon (one analysis)",
}
VALUE = "value"
"""The action id of every input (the block id names the field)."""


def charter_modal(*, channel_id: str, user_id: str) -> View:
    """The modal ``/experiment new`` opens; the channel rides along in ``private_metadata``."""
    return View(
        type="modal",
        callback_id=CALLBACK_CHARTER,
        title="New experiment",
        submit="Create",
        close="Cancel",
        private_metadata=json.dumps({"c": channel_id}),
        blocks=_form({"owner": user_id}),
    )


def charter_edit_modal(experiment: ExperimentRecord, texts: Mapping[str, str]) -> View:
    """The same form for ``/experiment edit``, each field holding ``texts`` (the stored charter as
    the form writes it). The experiment's number and channel ride along in ``private_metadata``:
    nothing secret, and the submission checks both against the history again."""
    return View(
        type="modal",
        callback_id=CALLBACK_CHARTER_EDIT,
        title=f"Edit {experiment.ref}",
        submit="Save",
        close="Cancel",
        private_metadata=json.dumps({"c": experiment.channel_id, "n": experiment.number}),
        blocks=_form(texts),
    )


def _form(initial: Mapping[str, str]) -> list[Block]:
    """The charter's inputs; ``initial`` holds each field's starting value by block id."""
    method = initial.get("method")
    methods = [Option(value=value, label=label) for value, label in METHOD_LABELS.items()]
    return [
        _text("name", "Name", initial, placeholder="Checkout v2", optional=False, max_length=200),
        InputBlock(
            block_id="owner",
            label="Owner",
            element=UserSelectElement(action_id=VALUE, initial_user=initial.get("owner")),
            optional=True,
        ),
        _text(
            "hypothesis",
            "Hypothesis",
            initial,
            multiline=True,
            placeholder="If we shorten checkout, conversion rises, because fewer people drop out.",
        ),
        _text("segment", "Target segment", initial, placeholder="New users on web"),
        _text(
            "primary",
            "Primary metric",
            initial,
            placeholder="conversions",
            hint="The CSV column of the 0/1 metric that decides (e.g. conversions, retention_7).",
        ),
        _text(
            "guardrails",
            "Guardrails",
            initial,
            multiline=True,
            placeholder="guardrail_refund worsened=0.2 severe=0.5\ncheckout_rate higher-is-better margin=1%",
            hint="One per line: name [higher-is-better] [worsened=0.1] [severe=0.3] [margin=1%]. "
            "Thresholds in percentage points; the margin is relative (non-inferiority).",
        ),
        _text(
            "split",
            "Expected split",
            initial,
            placeholder="50/50",
            hint="Percent per arm, control first; adds up to 100.",
        ),
        _number(
            "looks",
            "Planned looks",
            initial,
            whole=True,
            low=1,
            high=20,
            hint="1–20. Planned looks get sequential boundaries; leave empty for one analysis.",
        ),
        InputBlock(
            block_id="method",
            label="Method",
            element=StaticSelectElement(
                action_id=VALUE,
                placeholder="Decided by the plan",
                options=methods,
                initial_option=next((o for o in methods if o.value == method), None),
            ),
            hint="Empty: group-sequential when looks are planned, else always-valid (peek at any "
            "time). Fixed horizon: one analysis, a warning at every later look.",
            optional=True,
        ),
        _number(
            "target",
            "Target sample size",
            initial,
            whole=True,
            low=1,
            hint="Users in all arms together; each look's information fraction is users so far ÷ this.",
        ),
        _date("start", "Start date", initial),
        _date("end", "End date", initial),
        _number("reach", "RICE reach", initial, hint="Users affected per quarter."),
        _number(
            "impact",
            "RICE impact",
            initial,
            hint="0.25 minimal · 0.5 low · 1 medium · 2 high · 3 massive.",
        ),
        _number(
            "confidence", "RICE confidence (%)", initial, high=100, hint="80 means 80% confident."
        ),
        _number("effort", "RICE effort", initial, hint="Person-months."),
        _text(
            "source_env",
            "Data source variable",
            initial,
            placeholder="WAREHOUSE_URL",
            hint="The NAME of the bot's environment variable holding the database URL "
            "(postgresql://… or duckdb:///…); the URL itself is never stored or shown.",
            max_length=128,
        ),
        _text(
            "source_query",
            "Data source query",
            initial,
            multiline=True,
            placeholder="SELECT user_id, variant, converted FROM analytics.checkout_v2_users",
            hint="One read-only SELECT returning one row per user; /experiment refresh EXP-n "
            "runs it and posts the next look in this thread.",
        ),
        _text(
            "source_platform",
            "Or a platform experiment",
            initial,
            placeholder="growthbook:exp_abc123",
            hint="Instead of a query: growthbook:EXP_KEY or statsig:EXP_ID. Each refresh "
            "analyses the platform's latest results (its API key stays in the bot's environment).",
            max_length=220,
        ),
        _text(
            "refresh_schedule",
            "Refresh schedule",
            initial,
            placeholder="weekdays 09:00",
            hint="Optional, in UTC: daily 09:00 · weekdays 09:00 · weekly mon 09:00 · or a "
            "crontab (0 9 * * 1-5). The bot refreshes the data source then and posts the look "
            "here; needs a data source.",
            max_length=100,
        ),
    ]


def _text(
    block_id: str,
    label: str,
    initial: Mapping[str, str],
    *,
    placeholder: str | None = None,
    hint: str | None = None,
    multiline: bool = False,
    optional: bool = True,
    max_length: int = MAX_INPUT_LENGTH,
) -> InputBlock:
    """A text input; a stored value longer than the input allows (a guardrails line from a CSV
    message) is cut to it, since Slack refuses to open a form that holds more."""
    value = initial.get(block_id)
    element = PlainTextInputElement(
        action_id=VALUE,
        placeholder=placeholder,
        multiline=multiline,
        max_length=max_length,
        initial_value=value[:max_length] if value else None,
    )
    return InputBlock(block_id=block_id, label=label, element=element, hint=hint, optional=optional)


def _number(
    block_id: str,
    label: str,
    initial: Mapping[str, str],
    *,
    whole: bool = False,
    low: float | None = None,
    high: float | None = None,
    hint: str | None = None,
) -> InputBlock:
    """A number input. Slack refuses to open a form whose value is out of the input's bounds, so
    a stored value beyond them (50 looks planned on the command line) drops the bounds: the
    form's parser then names the rule under the field."""
    value = initial.get(block_id)
    bounds = (-math.inf if low is None else low, math.inf if high is None else high)
    if value is not None and not bounds[0] <= float(value) <= bounds[1]:
        low = high = None
    element = NumberInputElement(
        action_id=VALUE,
        is_decimal_allowed=not whole,
        min_value=low,
        max_value=high,
        initial_value=value,
    )
    return InputBlock(block_id=block_id, label=label, element=element, hint=hint, optional=True)


def _date(block_id: str, label: str, initial: Mapping[str, str]) -> InputBlock:
    element = DatePickerElement(action_id=VALUE, initial_date=initial.get(block_id))
    return InputBlock(block_id=block_id, label=label, element=element, optional=True)


# --------------------------------------------------------------------------- the message


def charter_message(experiment: ExperimentRecord) -> tuple[str, list[Block]]:
    """The charter as posted in the channel: its thread is where the experiment's CSVs go."""
    c = experiment.charter
    title = f":clipboard: {experiment.ref} — {c.name}"
    parts: list[Block] = [b.header(title)]
    if c.hypothesis:
        parts.append(b.section(f"*Hypothesis:* {esc(c.hypothesis)}"))
    parts.append(b.fields(_facts(experiment)))
    if c.has_source:
        scheduled = (
            f" Refreshed by itself {esc(schedule_text(c.refresh_schedule))}."
            if c.refresh_schedule
            else ""
        )
        source = (
            f"the SQL query on `{esc(c.source_env)}`"
            if c.source_env
            else f"the latest results of `{esc(str(c.source_platform))}`"
        )
        parts.append(
            b.section(
                f"*Data source:* {source}. `/experiment refresh {esc(experiment.ref)}` "
                "reads it and posts the next look here." + scheduled
            )
        )
    if c.guardrails:
        lines = ["*Guardrails*", *(f"• {guardrail_mrkdwn(g)}" for g in c.guardrails)]
        parts.append(b.section("\n".join(lines)))
    parts.append(
        b.context(
            f"Post the results CSV *in this thread*: each one is a look at `{esc(experiment.ref)}`, "
            f"analysed against this charter. Created by {user(experiment.created_by)}."
        )
    )
    text = truncate(f"{experiment.ref} — {esc(c.name)}: experiment charter", MAX_FALLBACK_TEXT)
    return text, parts


def _facts(experiment: ExperimentRecord) -> list[str]:
    c = experiment.charter
    looks = f"{c.planned_looks}" if c.planned_looks else "not planned"
    dates = " → ".join(d.isoformat() for d in (c.start_date, c.end_date) if d) or "not set"
    facts = [
        f"*Owner*\n{user(c.owner) if c.owner else 'not set'}",
        f"*Status*\n{experiment.status.capitalize()}",
        f"*Primary metric*\n{esc(c.primary_metric) if c.primary_metric else 'conversions'}",
        f"*Target segment*\n{esc(c.target_segment) if c.target_segment else 'everyone'}",
        f"*Expected split*\n{split_text(c.expected_split)}",
        f"*Planned looks*\n{looks}",
        f"*Method*\n{method_text(c.method, planned=bool(c.planned_looks))}",
        f"*Target sample size*\n{count(c.target_sample_size) if c.target_sample_size else 'not set'}",
        f"*Dates*\n{dates}",
    ]
    if c.rice is not None:
        r = c.rice
        facts.append(f"*RICE score*\n{r.score:,.0f} ({rice_parts(r)})")
    return facts


def guardrail_mrkdwn(g: CharterGuardrail) -> str:
    parts = [f"`{esc(g.name)}`"]
    if g.higher_is_better:
        parts.append("higher is better")
    if g.worsened_pp is not None:
        parts.append(f"worsened &gt; {g.worsened_pp:g} pp")
    if g.severe_pp is not None:
        parts.append(f"severe &gt; {g.severe_pp:g} pp")
    if g.margin_rel is not None:
        parts.append(f"may not get more than {g.margin_rel * 100:g}% worse")
    return " · ".join(parts)


def schedule_text(schedule: str | None) -> str:
    """A charter's refresh schedule in words (``daily at 09:00 UTC``); empty without one."""
    if not schedule:
        return ""
    try:
        return parse_schedule(schedule).describe()
    except ScheduleError:
        return f"`{schedule}` (UTC)"


def method_text(method: str | None, *, planned: bool) -> str:
    """The charter's method in words; without one, what the plan decides."""
    if method is None:
        method = "group-sequential" if planned else "always-valid"
        return METHOD_LABELS[method] + " — from the plan"
    return METHOD_LABELS.get(method, method)
