"""Parse the text of ``/experiment power …`` into the arguments of ``plan_sample_size``.

Pure and Slack-free: the Slack command parses its whole text with :func:`parse_power_args`, and
``experimentos power`` reads each option's value with the same parsers (:func:`parse_baseline`,
:func:`parse_power_mde`, :func:`parse_share`, :func:`parse_positive`), so ``10%`` and ``1pp`` mean
the same thing in both. Accepted forms (SPEC §1.4): ``baseline=10%`` or ``baseline=0.10``; ``mde=1pp``,
``mde=0.01`` or ``mde=1%`` (absolute: one percentage point) and, with the word ``relative``,
``mde=5%`` meaning 5 % of the baseline. Optional: ``alpha=0.05 power=0.8 variants=2 split=50/50
daily=20000 sd=12.5 looks=5 spending=obf``, and for the risk-aware rule ``success=2 guardrails=3``
(success metrics: α Bonferroni-corrected over them; guardrails: power 1 − β/(G + 1) per test).
Every error names the parameter and says what to write.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

USAGE = "/experiment power baseline=10% mde=1pp [alpha=0.05 power=0.8 variants=2 split=50/50 daily=20000]"

_ALIASES = {
    "baseline": "baseline",
    "base": "baseline",
    "mde": "mde",
    "alpha": "alpha",
    "power": "power",
    "variants": "variants",
    "arms": "variants",
    "split": "split",
    "daily": "daily",
    "daily_users": "daily",
    "daily-users": "daily",
    "sd": "sd",
    "looks": "looks",
    "spending": "spending",
    "success": "success",
    "success-metrics": "success",
    "success_metrics": "success",
    "guardrails": "guardrails",
    "guardrail-metrics": "guardrails",
    "guardrail_metrics": "guardrails",
}
_FLAGS = {"relative": True, "rel": True, "absolute": False, "abs": False}
_NUMBER = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)(%|pp|k|m)?$", re.IGNORECASE)


class PowerArgsError(ValueError):
    """A user-facing explanation of what is wrong with the command text."""


@dataclass(frozen=True, slots=True)
class PowerRequest:
    baseline: float
    mde: float
    relative: bool = False
    alpha: float = 0.05
    power: float = 0.8
    variants: int = 2
    split: tuple[float, ...] | None = None
    daily_users: int | None = None
    sd: float | None = None
    looks: int | None = None
    spending: str = "obf"
    success_metrics: int = 1
    guardrail_metrics: int = 0

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``experimentos.stats.power.plan_sample_size``."""
        return asdict(self)


def parse_power_args(text: str) -> PowerRequest:
    """Parse ``baseline=10% mde=1pp …``; raise PowerArgsError with a user-facing message."""
    values, relative = _tokenise(text)
    missing = [name for name in ("baseline", "mde") if name not in values]
    if missing:
        raise PowerArgsError(f"Missing {' and '.join(missing)}. Usage: `{USAGE}`")
    sd = _positive(values, "sd") if "sd" in values else None
    split = _split(values["split"]) if "split" in values else None
    variants = _whole(values, "variants", minimum=2) if "variants" in values else None
    if split is not None and variants is not None and len(split) != variants:
        raise PowerArgsError(
            f"split has {len(split)} parts but variants={variants}: make them agree."
        )
    return PowerRequest(
        baseline=_baseline(values["baseline"], is_mean=sd is not None),
        mde=_mde(values["mde"], relative=relative),
        relative=relative,
        alpha=_share(values, "alpha", 0.05),
        power=_share(values, "power", 0.8),
        variants=variants or (len(split) if split else 2),
        split=split,
        daily_users=round(_positive(values, "daily")) if "daily" in values else None,
        sd=sd,
        looks=_whole(values, "looks", minimum=1) if "looks" in values else None,
        spending=_spending(values.get("spending", "obf")),
        success_metrics=_whole(values, "success", minimum=1) if "success" in values else 1,
        guardrail_metrics=_count(values, "guardrails") if "guardrails" in values else 0,
    )


def parse_baseline(raw: str, *, is_mean: bool) -> float:
    """``10%`` or ``0.10`` (a conversion rate), or with ``is_mean`` any number (``12.5``)."""
    return _baseline(raw, is_mean=is_mean)


def parse_power_mde(raw: str, *, relative: bool) -> float:
    """``1pp``, ``0.01`` or ``1%`` (absolute: one percentage point) and, with ``relative``,
    ``5%`` = 0.05 of the baseline; for a mean metric a plain number (``0.5``)."""
    return _mde(raw, relative=relative)


def parse_share(name: str, raw: str) -> float:
    """``0.05`` or ``5%``, strictly between 0 and 1 (α, power)."""
    return _share({name: raw}, name, 0.0)


def parse_positive(name: str, raw: str) -> float:
    """A positive number: ``20000``, ``20,000`` or ``20k``."""
    return _positive({name: raw}, name)


def _tokenise(text: str) -> tuple[dict[str, str], bool]:
    values: dict[str, str] = {}
    relative = False
    for token in re.sub(r"\s*=\s*", "=", text.strip()).split():
        if "=" not in token:
            flag = _FLAGS.get(token.lower())
            if flag is None:
                raise PowerArgsError(f"I don't understand `{token}`. Usage: `{USAGE}`")
            relative = flag
            continue
        key, _, raw = token.partition("=")
        name = _ALIASES.get(key.lower())
        if name is None:
            known = ", ".join(sorted(set(_ALIASES.values())))
            raise PowerArgsError(f"Unknown parameter `{key}`; known: {known}, and `relative`.")
        if not raw:
            raise PowerArgsError(f"`{key}=` needs a value.")
        values[name] = raw
    return values, relative


def _number(name: str, raw: str) -> tuple[float, str]:
    """A number and its unit suffix ('' | '%' | 'pp' | 'k' | 'm'); thousands separators allowed."""
    match = _NUMBER.match(raw.replace(",", "").replace("_", ""))
    if match is None:
        raise PowerArgsError(f"{name}={raw} is not a number.")
    value, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit == "k":
        return value * 1_000, ""
    if unit == "m":
        return value * 1_000_000, ""
    return value, unit


def _baseline(raw: str, *, is_mean: bool) -> float:
    value, unit = _number("baseline", raw)
    if unit in ("%", "pp"):
        value /= 100
    if is_mean:
        return value
    if not 0 < value < 1:
        raise PowerArgsError(
            f"baseline={raw} is not a conversion rate: write it as 10% or 0.10 "
            "(or add sd=… for a continuous metric)."
        )
    return value


def _mde(raw: str, *, relative: bool) -> float:
    value, unit = _number("mde", raw)
    if unit == "pp" and relative:
        raise PowerArgsError(
            f"mde={raw} is in percentage points (absolute) but you wrote `relative`."
        )
    if unit in ("%", "pp"):
        value /= 100
    if value <= 0:
        raise PowerArgsError(f"mde={raw} must be greater than 0.")
    return value


def _share(values: dict[str, str], name: str, default: float) -> float:
    if name not in values:
        return default
    value, unit = _number(name, values[name])
    if unit == "%":
        value /= 100
    if not 0 < value < 1:
        raise PowerArgsError(f"{name}={values[name]} must be between 0 and 1 (e.g. 0.05 or 5%).")
    return value


def _positive(values: dict[str, str], name: str) -> float:
    value, unit = _number(name, values[name])
    if unit in ("%", "pp") or value <= 0:
        raise PowerArgsError(f"{name}={values[name]} must be a positive number.")
    return value


def _whole(values: dict[str, str], name: str, *, minimum: int) -> int:
    value = _positive(values, name)
    if value != int(value) or value < minimum:
        raise PowerArgsError(f"{name}={values[name]} must be a whole number of at least {minimum}.")
    return int(value)


def _count(values: dict[str, str], name: str) -> int:
    value, unit = _number(name, values[name])
    if unit or value != int(value) or value < 0:
        raise PowerArgsError(f"{name}={values[name]} must be a whole number, 0 or more.")
    return int(value)


def _split(raw: str) -> tuple[float, ...]:
    parts = [p for p in re.split(r"[/:]", raw) if p]
    try:
        weights = [float(p.rstrip("%")) for p in parts]
    except ValueError:
        raise PowerArgsError(f"split={raw} must look like 50/50 or 34/33/33.") from None
    if len(weights) < 2 or any(w <= 0 for w in weights):
        raise PowerArgsError(f"split={raw} needs at least two positive parts, like 50/50.")
    total = sum(weights)
    return tuple(w / total for w in weights)


def _spending(raw: str) -> str:
    value = raw.lower()
    aliases = {"obf": "obf", "obrien-fleming": "obf", "pocock": "pocock"}
    if value not in aliases:
        raise PowerArgsError(f"spending={raw} must be obf (O'Brien–Fleming) or pocock.")
    return aliases[value]
