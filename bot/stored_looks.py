"""Stored looks as the Slack shell shows them: a card's analysis from its id, the latest look of an
experiment, the card's history context, the memo with its audit trail, and where to post.

Everything here reads the history store, so it works in any process and after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from bot.audit import audit_lines
from bot.render.card import CardContext
from bot.services import Services
from experimentos.analysis.look_diff import look_diff
from experimentos.model import Analysis
from experimentos.store import AnalysisRecord, ExperimentRecord, HistoryStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredLook:
    """One look of an experiment, rebuilt from the history."""

    experiment: ExperimentRecord
    record: AnalysisRecord
    analysis: Analysis
    context: CardContext

    @property
    def key(self) -> str:
        """What the card's buttons carry."""
        return str(self.record.id)

    @property
    def channel(self) -> str:
        return self.record.channel_id or self.experiment.channel_id

    @property
    def thread_ts(self) -> str | None:
        return self.record.thread_ts or self.experiment.thread_ts


def card_context(
    experiment: ExperimentRecord,
    record: AnalysisRecord,
    analysis: Analysis,
    previous: AnalysisRecord | None,
) -> CardContext:
    diff = None
    if previous is not None and previous.look < record.look:
        earlier = previous.analysis()
        if earlier is None:  # an older look of another shape
            logger.warning("no look diff for analysis %s", record.id)
        else:
            diff = look_diff(earlier, analysis, previous_look=previous.look)
    return CardContext(
        ref=experiment.ref,
        look=record.look,
        look_diff=diff,
        charter_changes=experiment.charter_changes,
    )


async def load_look(store: HistoryStore, team_id: str, analysis_id: int) -> StoredLook | None:
    """The look a card's button names (None when it is not in this team's history)."""
    record = await store.get_analysis(team_id, analysis_id)
    if record is None:
        return None
    return await _with_context(store, team_id, record)


async def latest_look(
    store: HistoryStore, team_id: str, experiment: ExperimentRecord
) -> StoredLook | None:
    record = await store.latest_analysis(team_id, experiment.id)
    if record is None:
        return None
    return await _with_context(store, team_id, record, experiment)


async def _with_context(
    store: HistoryStore,
    team_id: str,
    record: AnalysisRecord,
    experiment: ExperimentRecord | None = None,
) -> StoredLook:
    if experiment is None:
        experiment = await store.get_experiment_by_id(team_id, record.experiment_id)
    looks = await store.analyses_for(team_id, experiment.id)
    earlier = [r for r in looks if r.look < record.look]
    analysis = await asyncio.to_thread(record.analysis)
    if analysis is None:
        raise ValueError(f"stored look {record.id} does not fit the result model")
    context = card_context(experiment, record, analysis, earlier[-1] if earlier else None)
    return StoredLook(experiment, record, analysis, context)


async def memo_documents(services: Services, team_id: str, look: StoredLook) -> tuple[str, str]:
    """(Markdown, HTML) of the look's memo, ending with the experiment's audit trail."""
    experiment = await services.store.get_experiment_by_id(team_id, look.experiment.id)
    decisions = await services.store.decisions_for(team_id, experiment.id)
    return await services.memo_documents(look.analysis, audit=audit_lines(experiment, decisions))


LookTuple = tuple[int, float, float, tuple[float, float], float | None]


def look_points(records: list[AnalysisRecord]) -> list[LookTuple]:
    """(look, z, lift, CI, information) of each stored look's primary metric (first treatment)."""
    points: list[LookTuple] = []
    for record in records:
        analysis = record.analysis()
        if analysis is None or not analysis.primary:
            continue  # a blocked look has no lift
        comparison = analysis.primary[0].comparison
        z, lift, (low, high) = comparison.statistic, comparison.abs_lift, comparison.abs_ci
        if any(math.isnan(v) for v in (z, lift, low, high)):
            continue
        information = analysis.sequential.information_fraction if analysis.sequential else None
        if information is not None and math.isnan(information):
            information = None
        points.append((record.look, z, lift, (low, high), information))
    return points


async def looks_so_far(
    services: Services, team_id: str, look: StoredLook
) -> tuple[list[LookTuple], int | None, str]:
    """The points of the looks chart up to ``look``, the planned looks, and the chart's alt text."""
    records = await services.store.analyses_for(team_id, look.experiment.id)
    points = look_points([r for r in records if r.look <= look.record.look])
    of_looks = look.analysis.experiment.of_looks
    lifts = ", ".join(f"look {p[0]}: {p[2] * 100:+.2f} pp (z = {p[1]:.2f})" for p in points)
    plan = f" against the boundaries of {of_looks} planned looks" if of_looks else ""
    alt_text = f"Primary metric lift at each look of {look.experiment.ref}{plan}: {lifts}."
    return points, of_looks, alt_text[:1000]


def parse_key(value: object) -> int | None:
    """The analysis id in a button's ``{"k": "123"}``; None for cards from before the history."""
    text = str(value or "")
    return int(text) if text.isdigit() else None
