"""A charter and a message's option lines → the analysis options of one look: the look plan.

The message's lines may add to or change the charter (``split:``, ``guardrails:``, ``primary:``…;
after the first look such a change is recorded and flagged: the charter lock), and the charter's
plan decides the sequential analysis — planned looks give group-sequential boundaries; no plan
gives always-valid inference from the first look (confidence sequences: the interval and p hold
at every look, so peeking is safe). A ``method:`` line in the message overrides the charter;
``method: fixed`` gives the fixed-horizon test, with the peeking warning from the second look on.

The information fraction of a look is its users ÷ the charter's target sample size (j ÷ K for a
look whose users are not known); this module is the one place that says so.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

from experimentos.charter import Charter, CharterGuardrail
from experimentos.errors import OptionError
from experimentos.model import Analysis, GuardrailSpec, InferenceMethod, Options

COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A charter's primary metric names the CSV column only when it looks like one (``retention_7``);
prose ("checkout conversion") describes the metric and leaves the file's default."""


_WILDCARDS = frozenset("*?[")
_EXTENSIONS = (".csv", ".parquet", ".sql")


def source_stem(file_name: str) -> str:
    """The name an experiment gets from where its data came from, when none is given: a file's
    name without its folder and extension (``exports/checkout.csv`` → ``checkout``), a pattern's
    last folder without wildcards (``exports/checkout/*.parquet`` → ``checkout``), a query's
    database (``query on postgresql://…/analytics`` → ``analytics``)."""
    if file_name.startswith("query on "):
        file_name = file_name.split("?", 1)[0]
    parts = [part for part in file_name.replace("\\", "/").split("/") if part]
    literal = [part for part in parts if not _WILDCARDS & set(part)]
    if parts and literal[-1:] != parts[-1:]:  # a pattern: its last folder, else as written
        return (literal[-1] if literal else parts[-1]).strip()
    stem = parts[-1] if parts else ""
    for extension in _EXTENSIONS:
        if stem.casefold().endswith(extension):
            return stem[: -len(extension)].strip()
    return stem.strip()


def default_name(options: Options, file_name: str) -> str:
    return (options.name or source_stem(file_name) or "Untitled experiment")[:200]


# --------------------------------------------------------------------------- charter ← message


def merge_charter(charter: Charter, options: Options) -> Charter:
    """The charter with what the message's option lines say (the same charter when nothing)."""
    changes: dict[str, Any] = {}
    if options.name and options.name != charter.name:
        changes["name"] = options.name
    if options.primary and options.primary != charter.primary_metric:
        changes["primary_metric"] = options.primary
    if options.split and not same_split(options.split, charter.expected_split):
        changes["expected_split"] = as_percentages(options.split)
    guardrails = merge_guardrails(charter.guardrails, options)
    if guardrails != charter.guardrails:
        changes["guardrails"] = guardrails
    return dataclasses.replace(charter, **changes) if changes else charter


def merge_guardrails(
    existing: Sequence[CharterGuardrail], options: Options
) -> tuple[CharterGuardrail, ...]:
    """``guardrails:`` replaces the list (keeping each known guardrail's thresholds);
    ``higher-is-better:`` and ``margins:`` amend the guardrails they name."""
    known = {g.name: g for g in existing}
    if options.guardrails is not None:
        names = [spec.name for spec in options.guardrails]
    else:
        names = list(known)
    margins = dict(options.margins)
    merged = []
    for name in dict.fromkeys(names):
        base = known.get(name, CharterGuardrail(name))
        merged.append(
            dataclasses.replace(
                base,
                higher_is_better=base.higher_is_better or name in options.higher_is_better,
                margin_rel=margins.get(name, base.margin_rel),
            )
        )
    return tuple(merged)


def same_split(a: Sequence[float] | None, b: Sequence[float] | None) -> bool:
    if a is None or b is None or len(a) != len(b):
        return a is None and b is None
    return all(
        math.isclose(x, y, abs_tol=1e-6)
        for x, y in zip(as_percentages(a), as_percentages(b), strict=True)
    )


def as_percentages(split: Sequence[float]) -> tuple[float, ...]:
    """60/40, 0.6/0.4 and 3/2 all become (60.0, 40.0)."""
    total = sum(split)
    return tuple(round(share * 100 / total, 6) for share in split)


# --------------------------------------------------------------------------- charter → analysis


def options_for(
    options: Options,
    charter: Charter,
    *,
    look: int,
    prior_users: Sequence[int | None],
    method: InferenceMethod | None = None,
) -> tuple[Options, int | None]:
    """The analysis options of look ``look``, and the target sample size when it counts.

    The method: the message's ``look:``/``of:`` lines or ``method:`` line, else the charter's
    method, else its plan — group-sequential when it plans looks, always-valid (tuned for its target sample size)
    when it does not; the risk-aware rule (``success:`` metrics) always tests at a fixed horizon.
    """
    base = _charter_options(options, charter)
    if options.look is not None:  # `look: 2` and `of: 5` in the message win
        return base, None
    planned = charter.planned_looks
    default: InferenceMethod = "group-sequential" if planned else "always-valid"
    if options.rule == "risk-aware":  # the rule's tests are fixed-horizon (Schultzberg et al.)
        default = "fixed"
    chosen = method or charter.method or default
    if chosen == "fixed":  # asked for: the peeking warning from the second look on
        return dataclasses.replace(base, method="fixed", prior_looks=look - 1), None
    if chosen == "always-valid":
        planned_users = options.planned_users or charter.target_sample_size
        always_valid = dataclasses.replace(
            base, method="always-valid", planned_users=planned_users, prior_looks=look - 1
        )
        return always_valid, None
    if not planned:
        raise OptionError(
            "the group-sequential method needs a look plan: plan the looks in the charter, or "
            "add look: and of: lines (look: 2, of: 5); or use method: always-valid to look at "
            "any time."
        )
    target = charter.target_sample_size
    fractions = None
    if target:
        fractions = information_fractions(prior_users, target=target, planned=planned)[: look - 1]
    sequential = dataclasses.replace(
        base,
        method="group-sequential",
        look=look,
        of_looks=max(planned, look),
        look_fractions=fractions,
    )
    return sequential, target


def _charter_options(options: Options, charter: Charter) -> Options:
    guardrails = tuple(
        GuardrailSpec(
            name=g.name,
            higher_is_better=g.higher_is_better,
            worsened_pp=g.worsened_pp,
            severe_pp=g.severe_pp,
            margin_rel=g.margin_rel,
        )
        for g in charter.guardrails
    )
    return dataclasses.replace(
        options,
        name=charter.name,
        primary=options.primary or column_name(charter.primary_metric),
        split=options.split or charter.expected_split,
        guardrails=guardrails or options.guardrails,
    )


def information_fractions(
    users_by_look: Sequence[int | None], *, target: int, planned: int
) -> tuple[float, ...]:
    """Each look's information fraction: its users ÷ the target sample size, or j ÷ K for look j
    when its users are not known (a blocked look)."""
    return tuple(
        users / target if users else j / planned for j, users in enumerate(users_by_look, 1)
    )


def with_this_look(options: Options, users: int, target_users: int | None) -> Options:
    """The options with this look's information fraction appended to the earlier looks' (only
    for a planned look against a target: the users are known once the file is read)."""
    if not target_users or options.look is None:
        return options
    fractions = (*(options.look_fractions or ()), users / target_users)
    return dataclasses.replace(options, look_fractions=fractions)


def column_name(metric: str | None) -> str | None:
    text = (metric or "").strip()
    return text.lower() if COLUMN_NAME.fullmatch(text) else None


def users_in_look(analysis: Analysis) -> int | None:
    """Users in a look (all arms), from its SRM counts or else its primary metric."""
    srm = analysis.health.srm
    if srm is not None and srm.observed:
        return sum(n for _arm, n in srm.observed)
    if analysis.primary:
        first = analysis.primary[0]
        return first.control.n + sum(p.treatment.n for p in analysis.primary)
    return None
