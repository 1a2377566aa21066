"""Parsing what a user says about an experiment: split strings, guardrail lists, message lines."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal, TypeVar

from experimentos.errors import OptionError
from experimentos.ingest.columns import normalise_header
from experimentos.model import (
    Correction,
    DecisionRule,
    GuardrailSpec,
    InferenceMethod,
    Options,
    RatioSpec,
    RepeatedRule,
)
from experimentos.stats.sequential import MAX_LOOKS

_MESSAGE_KEYS = {
    "name",
    "split",
    "guardrails",
    "control",
    "primary",
    "higher-is-better",
    "correction",
    "look",
    "of",
    "variant-column",
    "user-column",
    "margins",
    "spending",
    "ratio",
    "ratios",
    "method",
    "planned-users",
    "mde",
    "daily-users",
    "success",
    "rule",
    "metrics",
    "repeated",
}
_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z _-]*?)\s*[:=]\s*(.*?)\s*$")


MIN_SPLIT_SHARE = 1e-6
"""The smallest share of traffic a split may give an arm: below it the SRM test's expected count
is ~0 and its chi-square infinite."""


def parse_split(text: str) -> tuple[float, ...]:
    """``"50/50"``, ``"60/40"``, ``"34/33/33"`` or ``"0.5,0.5"`` → positive shares."""
    parts = [p for p in re.split(r"[/,:\s]+", text.strip()) if p]
    try:
        shares = tuple(float(p.rstrip("%")) for p in parts)
    except ValueError:
        raise OptionError(f"split must look like 50/50 or 60/40 (got {text!r}).") from None
    if len(shares) < 2 or any(not (math.isfinite(s) and s > 0) for s in shares):
        raise OptionError(
            f"split needs two or more positive, finite parts, like 50/50 (got {text!r})."
        )
    top = max(shares)
    weights = tuple(s / top for s in shares)  # the same split, with a sum that cannot overflow
    if min(weights) / math.fsum(weights) < MIN_SPLIT_SHARE:
        raise OptionError(
            f"split gives an arm less than one in a million of the traffic (got {text!r}): "
            "no sample ratio test can check that; write the parts like 99/1."
        )
    return shares if math.isfinite(sum(shares)) else weights


def parse_guardrails(
    text: str, *, higher_is_better: frozenset[str] = frozenset()
) -> tuple[GuardrailSpec, ...]:
    names = [n.strip().lower() for n in re.split(r"[,\s]+", text) if n.strip()]
    return tuple(GuardrailSpec(name=n, higher_is_better=n in higher_is_better) for n in names)


def parse_margins(text: str) -> tuple[tuple[str, float], ...]:
    """``"guardrail_checkout=1%, guardrail_x=0.5%"`` → ((name, 0.01), (name, 0.005))."""
    margins = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            number = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            number = math.nan
        if not sep or not name.strip() or not 0 < number < 1:
            raise OptionError(
                f"margins must look like guardrail_checkout=1% with a margin between 0% and 100% "
                f"(got {part!r})."
            )
        margins.append((name.strip().lower(), number))
    return tuple(margins)


_RATIO = re.compile(r"^([\w .-]+?)\s*=\s*([\w .-]+?)\s*/\s*([\w .-]+?)$")


def parse_ratios(text: str) -> tuple[RatioSpec, ...]:
    """``"revenue_per_order=revenue/orders, clicks_per_session=clicks/sessions"`` → specs.

    Names are case-folded like the columns of a file's header.
    """
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _RATIO.match(part)
        if not match:
            raise OptionError(
                f"ratio must look like revenue_per_order=revenue/orders (got {part!r})."
            )
        name, numerator, denominator = map(normalise_header, match.groups())
        if numerator == denominator:
            raise OptionError(f"ratio {name!r} divides {numerator!r} by itself.")
        specs.append(RatioSpec(name, numerator, denominator))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise OptionError(f"ratio names must differ (got {', '.join(names)}).")
    return tuple(specs)


def _names(text: str) -> frozenset[str]:
    return frozenset(n.strip().lower() for n in re.split(r"[,\s]+", text) if n.strip())


def parse_correction(text: str) -> Correction:
    value = text.strip().lower()
    aliases: dict[str, Correction] = {
        "holm": "holm",
        "bonferroni": "bonferroni",
        "bh": "bh",
        "benjamini-hochberg": "bh",
        "fdr": "bh",
    }
    if value not in aliases:
        raise OptionError(f"correction must be holm, bonferroni or bh (got {text!r}).")
    return aliases[value]


def parse_message_options(text: str | None) -> Options:
    """Options from the lines of a Slack message posted with a file.

    Lines look like ``name: Checkout v2``, ``split: 60/40``, ``guardrails: a, b``,
    ``control: gate_30``, ``primary: retention_7``, ``ratio: aov = revenue / orders``, ``repeated: first``; other lines are ignored, so a PM can write
    prose around them.
    """
    values: dict[str, str] = {}
    for line in (text or "").splitlines():
        match = _LINE.match(line)
        if match:
            key = match.group(1).strip().lower().replace(" ", "-").replace("_", "-")
            if key in _MESSAGE_KEYS and match.group(2):
                values[key] = match.group(2)
    return build_options(
        name=values.get("name"),
        split=values.get("split"),
        control=values.get("control"),
        primary=values.get("primary"),
        guardrails=values.get("guardrails"),
        higher_is_better=values.get("higher-is-better"),
        correction=values.get("correction"),
        look=values.get("look"),
        of_looks=values.get("of"),
        variant_column=values.get("variant-column"),
        user_column=values.get("user-column"),
        margins=values.get("margins"),
        spending=values.get("spending"),
        ratios=values.get("ratio") or values.get("ratios"),
        method=values.get("method"),
        planned_users=values.get("planned-users"),
        mde=values.get("mde"),
        daily_users=values.get("daily-users"),
        success=values.get("success"),
        rule=values.get("rule"),
        metrics=values.get("metrics"),
        repeated=values.get("repeated"),
    )


def build_options(
    *,
    name: str | None = None,
    split: str | None = None,
    control: str | None = None,
    primary: str | None = None,
    guardrails: str | None = None,
    higher_is_better: str | None = None,
    correction: str | None = None,
    look: str | int | None = None,
    of_looks: str | int | None = None,
    variant_column: str | None = None,
    user_column: str | None = None,
    margins: str | None = None,
    spending: str | None = None,
    ratios: str | None = None,
    method: str | None = None,
    planned_users: str | int | None = None,
    mde: str | float | None = None,
    daily_users: str | float | None = None,
    success: str | None = None,
    rule: str | None = None,
    metrics: str | None = None,
    repeated: str | None = None,
) -> Options:
    """One place that turns raw strings (CLI flags or message lines) into validated Options."""
    better = _names(higher_is_better or "")
    specs = parse_guardrails(guardrails, higher_is_better=better) if guardrails else None
    look_k, look_of = _parse_looks(look, of_looks)
    chosen = _parse_method(method, planned=look_of is not None)
    mde_value, mde_relative = _mde_fields(mde)
    success_names = parse_success(success) if success else ()
    decision_rule = parse_rule(rule, success=success_names)
    if decision_rule == "risk-aware" and chosen != "fixed":
        raise OptionError(
            f"the risk-aware rule tests every success metric and guardrail at a fixed horizon; "
            f"it cannot use the {chosen} method: drop the method and look plan, or use the "
            "default rule."
        )
    return Options(
        name=_clean_text(name),
        split=parse_split(split) if split else None,
        control=control.strip().lower() if control else None,
        primary=primary.strip().lower() if primary else None,
        variant_column=variant_column,
        user_column=user_column,
        margins=parse_margins(margins) if margins else (),
        spending=_parse_spending(spending),
        guardrails=specs,
        higher_is_better=better,
        correction=parse_correction(correction) if correction else "holm",
        ratios=parse_ratios(ratios) if ratios else (),
        look=look_k,
        of_looks=look_of,
        method=chosen,
        planned_users=_parse_planned_users(planned_users),
        mde=mde_value,
        mde_relative=mde_relative,
        daily_users=parse_daily_users(daily_users),
        success=success_names,
        rule=decision_rule,
        metrics=parse_metric_names(metrics, option="metrics") if metrics else None,
        repeated=parse_repeated(repeated),
    )


def parse_success(text: str) -> tuple[str, ...]:
    """``"conversions, revenue"`` → the risk-aware rule's success metrics (column names,
    case-folded like a file's header), in the order given, each once."""
    return parse_metric_names(text, option="success", split=r"[,\s]+")


def parse_metric_names(text: str, *, option: str, split: str = r",") -> tuple[str, ...]:
    """``"revenue, time on page"`` → column names case-folded like a file's header, in the order
    given, each once (``metrics`` splits on commas only: a header may hold spaces)."""
    names = [normalise_header(n) for n in re.split(split, text) if n.strip()]
    if not names:
        raise OptionError(f"{option} must name one or more metric columns (got {text!r}).")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise OptionError(f"{option} names {', '.join(repeated)} more than once.")
    return tuple(names)


_RULES: dict[str, DecisionRule] = {
    "default": "default",
    "risk-aware": "risk-aware",
    "risk aware": "risk-aware",
    "riskaware": "risk-aware",
}


_Choice = TypeVar("_Choice")

_REPEATED: dict[str, RepeatedRule] = {
    "sum": "sum",
    "combine": "sum",
    "first": "first",
    "first-exposure": "first",
    "first exposure": "first",
}


def parse_repeated(text: str | None) -> RepeatedRule:
    """sum (default: a unit's rows summed, 0/1 by max) | first (its first row only)."""
    if text is None or not text.strip():
        return "sum"
    return _named_choice(text, _REPEATED, "repeated must be sum or first")


def _named_choice(text: str, names: Mapping[str, _Choice], refusal: str) -> _Choice:
    """``text`` looked up in ``names`` (case, spaces and ``_`` for ``-`` folded); OptionError
    saying ``refusal`` and what was given when it is none of them."""
    value = " ".join(text.strip().lower().replace("_", "-").split())
    if value not in names:
        raise OptionError(f"{refusal} (got {text!r}).")
    return names[value]


def parse_rule(text: str | None, *, success: tuple[str, ...] = ()) -> DecisionRule:
    """default | risk-aware; unnamed: risk-aware when success metrics are named, else default."""
    if text is None or not text.strip():
        return "risk-aware" if success else "default"
    chosen = _named_choice(text, _RULES, "rule must be default or risk-aware")
    if chosen == "default" and success:
        raise OptionError(
            "success metrics are combined by the risk-aware rule; the default rule decides on "
            "the primary alone: drop the success metrics or use the risk-aware rule."
        )
    return chosen


def _parse_looks(
    look: str | int | None, of_looks: str | int | None
) -> tuple[int | None, int | None]:
    if look is None and of_looks is None:
        return None, None
    try:
        k = int(look) if look is not None else None
        total = int(of_looks) if of_looks is not None else None
    except ValueError:
        raise OptionError("look and of must be whole numbers, like --look 2 --of 5.") from None
    if k is None or total is None:
        raise OptionError("give both the look and the planned number of looks (--look 2 --of 5).")
    if not 1 <= total <= MAX_LOOKS:
        raise OptionError(
            f"the planned number of looks must be from 1 to {MAX_LOOKS} (got {total}): a "
            "sequential plan has a handful of looks, say one a week."
        )
    if not 1 <= k <= total:
        raise OptionError(f"look must be between 1 and {total} (got {k}).")
    return k, total


_METHODS: dict[str, InferenceMethod] = {
    "fixed": "fixed",
    "fixed-horizon": "fixed",
    "always-valid": "always-valid",
    "always valid": "always-valid",
    "sequential": "always-valid",
    "group-sequential": "group-sequential",
    "group sequential": "group-sequential",
}


def _parse_method(text: str | None, *, planned: bool) -> InferenceMethod:
    """fixed | always-valid | group-sequential; unnamed: group-sequential with a look plan,
    fixed otherwise."""
    if text is None or not text.strip():
        return "group-sequential" if planned else "fixed"
    chosen = _named_choice(text, _METHODS, "method must be fixed, always-valid or group-sequential")
    if chosen == "fixed" and planned:
        raise OptionError(
            "a look plan (--look, --of) asks for group-sequential boundaries, not the fixed "
            "method: drop the look plan, or use group-sequential or always-valid."
        )
    if chosen == "group-sequential" and not planned:
        raise OptionError(
            "the group-sequential method needs the look plan: give the look and the planned "
            "number of looks (--look 2 --of 5), or use always-valid to look at any time."
        )
    return chosen


_MDE = re.compile(r"^\+?(\d+(?:\.\d*)?|\.\d+)\s*(%|pp)?$")


def parse_mde(text: str | float) -> tuple[float, bool]:
    """``"0.5pp"``, ``"0.005"`` or ``"0.5%"`` (absolute, as in ``/experiment power``) and
    ``"5% relative"`` (a share of the control rate) → (MDE, relative)."""
    raw = str(text).strip().lower()
    words = raw.split()
    relative = bool(words) and words[-1] in ("relative", "rel")
    value = " ".join(words[:-1] if relative else words)
    match = _MDE.match(value)
    number = float(match.group(1)) if match else 0.0
    unit = match.group(2) if match else None
    if unit in ("%", "pp"):
        number /= 100
    if number <= 0 or (unit == "pp" and relative) or not number < 1 + relative * 99:
        raise OptionError(
            f"mde must be a positive effect like 0.5pp, 0.005 or 5% relative (got {text!r})."
        )
    return number, relative


def _mde_fields(text: str | float | None) -> tuple[float | None, bool]:
    if text is None or not str(text).strip():
        return None, False
    return parse_mde(text)


def parse_daily_users(text: str | float | None) -> float | None:
    """``"20000"``, ``"20,000"`` or ``"20k"`` users a day (all arms) → a positive number."""
    if text is None or not str(text).strip():
        return None
    raw = str(text).strip().lower().replace(",", "").replace("_", "")
    scale = {"k": 1e3, "m": 1e6}.get(raw[-1:], 1.0)
    try:
        number = float(raw[:-1] if scale != 1.0 else raw) * scale
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise OptionError(
            f"daily users must be a positive number of users a day, like 20000 or 20k "
            f"(got {text!r})."
        )
    return number


def _parse_planned_users(value: str | int | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip().replace(",", "").replace("_", ""))
    except ValueError:
        number = 0
    if number < 1:
        raise OptionError(
            f"planned users must be a whole number of users, at least 1 (got {value!r})."
        )
    return number


def _parse_spending(text: str | None) -> Literal["obf", "pocock"]:
    value = (text or "obf").strip().lower()
    if value in ("obf", "obrien-fleming", "o'brien-fleming"):
        return "obf"
    if value == "pocock":
        return "pocock"
    raise OptionError(f"spending must be obf or pocock (got {text!r}).")


def _clean_text(text: str | None, *, limit: int = 120) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(text.split())[:limit]
    return cleaned or None
