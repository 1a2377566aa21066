"""Which experiment a CSV is a look at, and how to analyse it: the look plan.

A CSV in the thread of an experiment (its charter or an earlier card) is its next look; any other
CSV starts an experiment whose thread is the message. The message's option lines and the charter
meet here: the lines may add to or change the charter (``split:``, ``guardrails:``, ``primary:``…;
after the first look such a change is recorded and flagged: the charter lock), and the charter's
plan decides the sequential analysis — planned looks give group-sequential boundaries; no plan
gives always-valid inference from the first look (confidence sequences: the interval and p hold
at every look, so peeking is safe). A ``method:`` line in the message overrides the charter;
``method: fixed`` gives the fixed-horizon test, with the peeking warning from the second look on.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from experimentos.errors import OptionError
from experimentos.model import Analysis, GuardrailSpec, InferenceMethod, Options
from experimentos.store import (
    AnalysisRecord,
    Charter,
    CharterGuardrail,
    ExperimentRecord,
    HistoryStore,
    fields_from_analysis,
)

COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A charter's primary metric names the CSV column only when it looks like one (``retention_7``);
prose ("checkout conversion") describes the metric and leaves the file's default."""


@dataclass(frozen=True, slots=True)
class LookPlan:
    experiment: ExperimentRecord | None
    """The thread's experiment; None when this CSV starts a new one."""
    look: int
    options: Options
    """What the analysis is given: the charter's split, guardrails and looks, the message's lines."""
    target_users: int | None
    """The charter's target sample size when it plans looks (information = users ÷ target)."""
    previous: AnalysisRecord | None
    """The latest earlier look, for the look diff."""
    charter: Charter
    """The charter this look is analysed against (the stored one plus the message's changes)."""
    bind_thread: bool

    @property
    def charter_changed(self) -> bool:
        return self.experiment is not None and self.charter != self.experiment.charter


async def plan_look(
    store: HistoryStore,
    *,
    team_id: str,
    channel: str,
    thread_ts: str,
    options: Options,
    file_name: str,
    bind_thread: bool = True,
    method: InferenceMethod | None = None,
) -> LookPlan:
    """The plan for one CSV posted in ``thread_ts`` (the message's own ts outside a thread).

    ``method`` is what the message's ``method:`` line names (None: the charter decides)."""
    experiment = (
        await store.find_experiment_by_thread(team_id, channel, thread_ts) if bind_thread else None
    )
    if experiment is None:
        charter = merge_charter(Charter(name=default_name(options, file_name)), options)
        analysis_options, target = options_for(
            options, charter, look=1, prior_users=(), method=method
        )
        return LookPlan(None, 1, analysis_options, target, None, charter, bind_thread)
    earlier = await store.analyses_for(team_id, experiment.id)
    look = experiment.look_count + 1
    charter = merge_charter(experiment.charter, options)
    prior_users = [users_in_result(r.result) for r in earlier]
    analysis_options, target = options_for(
        options, charter, look=look, prior_users=prior_users, method=method
    )
    previous = earlier[-1] if earlier else None
    return LookPlan(experiment, look, analysis_options, target, previous, charter, True)


def default_name(options: Options, file_name: str) -> str:
    stem = file_name.rsplit("/", 1)[-1].removesuffix(".csv").strip()
    return (options.name or stem or "Untitled experiment")[:200]


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
    plan — group-sequential when it plans looks, always-valid (tuned for its target sample size)
    when it does not; the risk-aware rule (``success:`` metrics) always tests at a fixed horizon.
    """
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
    primary = options.primary or column_name(charter.primary_metric)
    base = dataclasses.replace(
        options,
        name=charter.name,
        primary=primary,
        split=options.split or charter.expected_split,
        guardrails=guardrails or options.guardrails,
    )
    if options.look is not None:  # `look: 2` and `of: 5` in the message win
        return base, None
    planned = charter.planned_looks
    default = "group-sequential" if planned else "always-valid"
    if options.rule == "risk-aware":  # the rule's tests are fixed-horizon (Schultzberg et al.)
        default = "fixed"
    chosen = method or default
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
        fractions = tuple(
            users / target if users else j / planned for j, users in enumerate(prior_users, 1)
        )[: look - 1]
    sequential = dataclasses.replace(
        base,
        method="group-sequential",
        look=look,
        of_looks=max(planned, look),
        look_fractions=fractions,
    )
    return sequential, target


def column_name(metric: str | None) -> str | None:
    text = (metric or "").strip()
    return text.lower() if COLUMN_NAME.fullmatch(text) else None


def users_in_result(result: Mapping[str, Any]) -> int | None:
    """Users in a stored look (all arms), from its SRM counts or else its primary metric."""
    srm = (result.get("health") or {}).get("srm") or {}
    observed = srm.get("observed") or []
    if observed:
        return sum(int(n) for _arm, n in observed)
    primary = result.get("primary") or []
    if primary:
        return int(primary[0]["control"]["n"]) + sum(int(p["treatment"]["n"]) for p in primary)
    return None


async def record_look(
    store: HistoryStore,
    plan: LookPlan,
    analysis: Analysis,
    *,
    team_id: str,
    channel: str,
    thread_ts: str,
    user: str | None,
    event_key: str,
    memo_markdown: str,
) -> tuple[AnalysisRecord, ExperimentRecord]:
    """Keep the look (one transaction), after recording a charter the message changed.

    The charter goes first, so the store knows whether data had been seen before the change
    (looks already recorded: the change is logged and flagged, the charter lock).
    """
    if plan.experiment is not None and plan.charter_changed:
        await store.update_charter(team_id, plan.experiment.id, plan.charter, by=user)
    record = await store.record_analysis(
        team_id=team_id,
        channel_id=channel,
        thread_ts=thread_ts,
        experiment_id=plan.experiment.id if plan.experiment else None,
        charter=None if plan.experiment else plan.charter,
        bind_thread=plan.bind_thread,
        memo_markdown=memo_markdown,
        user_id=user,
        event_key=event_key,
        **fields_from_analysis(analysis),
    )
    return record, await store.get_experiment_by_id(team_id, record.experiment_id)
