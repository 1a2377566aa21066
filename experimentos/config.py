"""Thresholds and defaults (SPEC §2.12): one place, overridable from the environment."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from experimentos.errors import OptionError
from experimentos.model import Thresholds

ENV_PREFIX = "EXPERIMENTOS_"


def load_thresholds(environ: Mapping[str, str] | None = None) -> Thresholds:
    """Defaults, each overridable by ``EXPERIMENTOS_<FIELD>`` (e.g. EXPERIMENTOS_SRM_WARNING_P)."""
    environ = os.environ if environ is None else environ
    overrides: dict[str, object] = {}
    for field in dataclasses.fields(Thresholds):
        name = ENV_PREFIX + field.name.upper()
        raw = environ.get(name)
        if raw is None or raw.strip() == "":
            continue
        overrides[field.name] = _convert(name, raw.strip(), field.default)
    thresholds = Thresholds(**overrides)  # type: ignore[arg-type]
    _validate(thresholds)
    return thresholds


def _convert(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return raw.lower() in {"1", "true", "yes"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise OptionError(f"{name} must be a number (got {raw!r}).") from None
    return raw


def _validate(t: Thresholds) -> None:
    if not 0 < t.alpha < 1:
        raise OptionError(f"EXPERIMENTOS_ALPHA must be between 0 and 1 (got {t.alpha}).")
    if not 0 < t.srm_blocked_p <= t.srm_warning_p < 1:
        raise OptionError(
            "SRM thresholds must satisfy 0 < EXPERIMENTOS_SRM_BLOCKED_P <= "
            f"EXPERIMENTOS_SRM_WARNING_P < 1 (got {t.srm_blocked_p} and {t.srm_warning_p})."
        )
    if not 0 <= t.guardrail_worsened_pp <= t.guardrail_severe_pp:
        raise OptionError(
            "Guardrail thresholds must satisfy 0 <= worsened <= severe (got "
            f"{t.guardrail_worsened_pp} pp and {t.guardrail_severe_pp} pp)."
        )
    if t.correction not in ("holm", "bonferroni", "bh"):
        raise OptionError(
            f"EXPERIMENTOS_CORRECTION must be holm, bonferroni or bh (got {t.correction!r})."
        )
