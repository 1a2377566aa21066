"""The charter modal's submitted values → a Charter, or the errors to show in the modal.

Pure: the view's ``state.values`` in, ``(charter, {})`` or ``(None, {block_id: message})`` out, so
Slack can show each message under its field (``response_action: errors``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.audit import guardrail_text, number_text, split_text
from bot.source_access import refusal
from experimentos.charter import ENV_NAME, PLATFORM_SOURCE, Charter, CharterGuardrail, Rice
from experimentos.config import load_thresholds
from experimentos.errors import OptionError
from experimentos.ingest.sql_guard import QueryRefused, checked_query
from experimentos.options import parse_split
from experimentos.schedule import ScheduleError, parse_schedule

MAX_LOOKS = 20
RICE_FIELDS = ("reach", "impact", "confidence", "effort")
FLAGS = {"higher-is-better", "higher_is_better", "higher-better"}
_SEPARATORS = re.compile(r"[\n;,]+")


class FormErrors(dict[str, str]):
    """Messages by block id; the first message per field wins."""

    def add(self, block_id: str, message: str) -> None:
        self.setdefault(block_id, message)


def parse_charter_form(
    values: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    environ: Mapping[str, str] | None = None,
) -> tuple[Charter | None, dict[str, str]]:
    """``environ`` (default: the process's) tells the saved source's SQL dialect, never shown."""
    errors = FormErrors()
    field = _reader(values)
    name = " ".join(field("name").split())
    if not name:
        errors.add("name", "Give the experiment a name.")
    elif len(name) > 200:
        errors.add("name", "At most 200 characters.")
    split = _split(field("split"), errors)
    guardrails = _guardrails(field("guardrails"), errors)
    looks = _whole(field("looks"), "looks", errors, low=1, high=MAX_LOOKS)
    target = _whole(field("target"), "target", errors, low=1)
    method = field("method") or None
    if method not in (None, "fixed", "always-valid", "group-sequential"):
        errors.add("method", "Pick a method from the list.")
        method = None
    if method == "group-sequential" and not looks:
        errors.add(
            "method",
            "Group-sequential needs planned looks: set Planned looks, or pick "
            "always-valid to look at any time.",
        )
    start, end = _date(field("start"), "start", errors), _date(field("end"), "end", errors)
    if start and end and end <= start:
        errors.add("end", "The end date must be after the start date.")
    rice = _rice(field, errors)
    source_env, source_query = _source(field, errors, os.environ if environ is None else environ)
    platform = _platform(field("source_platform"), errors, has_query=source_env is not None)
    schedule = _schedule(
        field("refresh_schedule"), errors, has_source=source_env is not None or bool(platform)
    )
    if errors:
        return None, dict(errors)
    try:
        charter = Charter(
            name=name,
            owner=field("owner") or None,
            hypothesis=field("hypothesis").strip() or None,
            target_segment=field("segment").strip()[:200] or None,
            primary_metric=field("primary").strip()[:200] or None,
            guardrails=guardrails,
            expected_split=split,
            planned_looks=looks,
            target_sample_size=target,
            start_date=start,
            end_date=end,
            rice=rice,
            method=method,  # type: ignore[arg-type]
            source_env=source_env,
            source_query=source_query,
            source_platform=platform,
            refresh_schedule=schedule,
        )
    except ValueError as error:  # the charter's own checks, should a rule above miss one
        return None, {"name": str(error)}
    return charter, {}


def charter_form_texts(charter: Charter) -> dict[str, str]:
    """The form's value for each field of a stored charter (block id → text; unset fields are
    left out), written so that :func:`parse_charter_form` reads them back to the same charter."""
    rice = charter.rice
    texts = {
        "name": charter.name,
        "owner": charter.owner,
        "hypothesis": charter.hypothesis,
        "segment": charter.target_segment,
        "primary": charter.primary_metric,
        "guardrails": "\n".join(guardrail_text(g) for g in charter.guardrails),
        "split": split_text(charter.expected_split) if charter.expected_split else None,
        "looks": charter.planned_looks,
        "method": charter.method,
        "target": charter.target_sample_size,
        "start": charter.start_date and charter.start_date.isoformat(),
        "end": charter.end_date and charter.end_date.isoformat(),
        "reach": rice and number_text(rice.reach),
        "impact": rice and number_text(rice.impact),
        "confidence": rice and number_text(rice.confidence * 100),
        "effort": rice and number_text(rice.effort),
        "source_env": charter.source_env,
        "source_query": charter.source_query,
        "source_platform": charter.source_platform,
        "refresh_schedule": charter.refresh_schedule,
    }
    return {block_id: str(text) for block_id, text in texts.items() if text}


def _source(
    field: Any, errors: FormErrors, environ: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """The saved data source: a variable NAME and a query that passes the SQL guard, or neither."""
    name, query = field("source_env").strip(), field("source_query").strip()
    if not name and not query:
        return None, None
    if not name:
        errors.add("source_env", "Name the environment variable that holds the database URL.")
    elif not ENV_NAME.fullmatch(name):
        errors.add(
            "source_env",
            "The NAME of an environment variable (letters, digits, _), e.g. WAREHOUSE_URL — "
            "never the URL itself.",
        )
    elif (refused := refusal(name, environ)) is not None:
        errors.add("source_env", refused)
    if not query:
        errors.add("source_query", "Give the SQL query that returns one row per user.")
        return None, None
    backend = "duckdb" if environ.get(name, "").startswith("duckdb") else "postgresql"
    try:
        query = checked_query(query, backend=backend)
    except QueryRefused as error:
        errors.add("source_query", error.message[:1].upper() + error.message[1:])
    return (name, query) if "source_env" not in errors else (None, None)


def _platform(text: str, errors: FormErrors, *, has_query: bool) -> str | None:
    """The platform experiment a charter reads (``growthbook:exp_1``), or None."""
    text = text.strip()
    if not text:
        return None
    platform, _, key = text.partition(":")
    text = f"{platform.strip().lower()}:{key.strip()}"
    if platform.strip().lower() == "hackle":
        errors.add(
            "source_platform",
            "Hackle publishes no results API: post its dashboard CSV export in the thread instead.",
        )
    elif not PLATFORM_SOURCE.fullmatch(text):
        errors.add("source_platform", "Write growthbook:EXP_KEY or statsig:EXP_ID (no spaces).")
    elif has_query:
        errors.add(
            "source_platform",
            "A charter has one data source: clear the variable and query, or this field.",
        )
    return None if "source_platform" in errors else text


def _schedule(text: str, errors: FormErrors, *, has_source: bool) -> str | None:
    """The refresh schedule, normalized (``daily 09:00``, a crontab; UTC), or None."""
    if not text.strip():
        return None
    try:
        schedule = parse_schedule(text).text
    except ScheduleError as error:
        errors.add("refresh_schedule", str(error))
        return None
    if not has_source and not {"source_env", "source_query", "source_platform"} & set(errors):
        errors.add(
            "refresh_schedule",
            "A schedule refreshes the data source: fill in the data source variable and query "
            "or a platform experiment, or leave the schedule empty.",
        )
    return schedule


def _reader(values: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Any:
    def field(block_id: str) -> str:
        for element in (values.get(block_id) or {}).values():
            for key in ("value", "selected_user", "selected_date"):
                if element.get(key):
                    return str(element[key])
            selected = element.get("selected_option") or {}
            return str(selected.get("value") or "")
        return ""

    return field


def _number(text: str) -> float | None:
    try:
        value = float(text.strip().rstrip("%").replace(",", "").replace("_", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _whole(
    text: str, block_id: str, errors: FormErrors, *, low: int, high: int | None = None
) -> int | None:
    if not text.strip():
        return None
    value = _number(text)
    if value is None or value != int(value):
        errors.add(block_id, "A whole number, please.")
        return None
    if value < low or (high is not None and value > high):
        errors.add(block_id, f"Between {low} and {high}." if high else f"At least {low}.")
        return None
    return int(value)


def _date(text: str, block_id: str, errors: FormErrors) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.add(block_id, "Pick a date.")
        return None


def _split(text: str, errors: FormErrors) -> tuple[float, ...] | None:
    if not text.strip():
        return None
    try:
        shares = parse_split(text)
    except OptionError as error:
        errors.add("split", error.message)
        return None
    total = sum(shares)
    if not math.isclose(total, 100, abs_tol=0.01):
        errors.add("split", f"The split must add up to 100 (it adds up to {total:g}), e.g. 50/50.")
        return None
    return shares


def _rice(field: Any, errors: FormErrors) -> Rice | None:
    raw = {name: field(name).strip() for name in RICE_FIELDS}
    given = [name for name, text in raw.items() if text]
    if not given:
        return None
    for name in RICE_FIELDS:
        if not raw[name]:
            errors.add(name, "Give all four RICE numbers, or none.")
    numbers = {name: _number(raw[name]) for name in given}
    for name, value in numbers.items():
        if value is None or value <= 0:
            errors.add(name, "A positive number, please.")
    confidence = numbers.get("confidence")
    if confidence is not None and confidence > 100:
        errors.add("confidence", "A percentage up to 100 (80 means 80% confident).")
    if any(name in errors for name in RICE_FIELDS):
        return None
    return Rice(
        reach=numbers["reach"],  # type: ignore[arg-type]
        impact=numbers["impact"],  # type: ignore[arg-type]
        confidence=numbers["confidence"] / 100,  # type: ignore[operator]
        effort=numbers["effort"],  # type: ignore[arg-type]
    )


def _guardrails(text: str, errors: FormErrors) -> tuple[CharterGuardrail, ...]:
    entries = [line.strip() for line in _SEPARATORS.split(text) if line.strip()]
    parsed: list[CharterGuardrail] = []
    for entry in entries:
        guardrail, problem = parse_guardrail(entry)
        if problem:
            errors.add("guardrails", f"“{entry}”: {problem}")
        elif guardrail is not None:
            parsed.append(guardrail)
    names = [g.name for g in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        errors.add("guardrails", f"{', '.join(duplicates)} is listed twice.")
    return tuple(parsed)


def parse_guardrail(entry: str) -> tuple[CharterGuardrail | None, str | None]:
    """``name [higher-is-better] [worsened=0.1] [severe=0.3] [margin=1%]`` (thresholds in pp)."""
    name, *tokens = entry.split()
    values: dict[str, Any] = {"name": name.lower(), "higher_is_better": False}
    for token in tokens:
        key, sep, raw = token.partition("=")
        key = key.lower()
        if not sep and key in FLAGS:
            values["higher_is_better"] = True
        elif key in ("worsened", "severe") and sep:
            number = _number(raw.lower().removesuffix("pp"))
            if number is None:
                return None, f"{key} must be a number of percentage points, like {key}=0.2."
            values[f"{key}_pp"] = number
        elif key == "margin" and sep:
            number = _number(raw)
            share = (
                None if number is None else number / 100 if raw.strip().endswith("%") else number
            )
            if share is None or not 0 < share < 1:
                return None, "margin must be between 0% and 100%, like margin=1%."
            values["margin_rel"] = share
        else:
            return None, (
                f"I don't understand “{token}”; write name [higher-is-better] [worsened=0.1] "
                "[severe=0.3] [margin=1%]."
            )
    defaults = load_thresholds()
    worsened = values.get("worsened_pp", defaults.guardrail_worsened_pp)
    severe = values.get("severe_pp", defaults.guardrail_severe_pp)
    if not 0 < worsened <= severe:
        return None, (
            f"thresholds must satisfy 0 < worsened ≤ severe (here worsened={worsened:g}, "
            f"severe={severe:g} pp)."
        )
    return CharterGuardrail(**values), None
