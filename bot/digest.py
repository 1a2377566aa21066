"""What the channel digest says about each running experiment: read from the history, rendered by
:mod:`bot.render.digest`.

Ready to decide means one of what the analysis itself reports, never a guess:

* the latest look has as many users as the charter's target sample size (or more);
* the last planned look is reached (the charter's planned looks, or the look plan of the
  group-sequential analysis: look k of K with k = K);
* the group-sequential boundary is crossed at the latest look (``LookStatus.crossed``);
* under always-valid inference the primary metric is significant: its confidence sequence
  excludes zero, and that interval holds at every look, so the team may act on it now.

A look whose data health is Blocked is never conclusive (only the counts above can make it ready).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.render.describe import always_valid
from bot.render.digest import DigestLine
from experimentos.analysis.look_plan import users_in_look
from experimentos.charter import ExperimentRecord, ExperimentSummary
from experimentos.model import Analysis
from experimentos.store import HistoryStore


def ready_reasons(
    experiment: ExperimentRecord, analysis: Analysis | None, users: int | None
) -> tuple[str, ...]:
    """Why ``experiment`` is ready to decide at its latest look ``analysis`` (empty: not yet)."""
    if analysis is None:
        return ()
    reasons: list[str] = []
    charter = experiment.charter
    if charter.target_sample_size and users is not None and users >= charter.target_sample_size:
        reasons.append("target sample size reached")
    sequential = analysis.sequential
    planned = charter.planned_looks
    if (planned and experiment.look_count >= planned) or (
        sequential is not None and sequential.look >= sequential.of_looks
    ):
        reasons.append("last planned look reached")
    if not analysis.health.blocked:
        if sequential is not None and sequential.crossed:
            reasons.append(
                f"sequential boundary crossed at look {sequential.look} of {sequential.of_looks}"
            )
        if always_valid(analysis) and any(m.significant for m in analysis.primary):
            reasons.append("the always-valid interval excludes zero")
    return tuple(reasons)


async def digest_line(
    store: HistoryStore, summary: ExperimentSummary, link: str | None
) -> DigestLine:
    """The digest's line for one running experiment, from its latest stored look."""
    experiment = summary.experiment
    record = await store.latest_analysis(experiment.team_id, experiment.id)
    analysis = record.analysis() if record is not None else None
    users = users_in_look(analysis) if analysis is not None else None
    return DigestLine(
        number=experiment.number,
        name=experiment.name,
        link=link,
        look=record.look if record is not None else None,
        verdict=record.verdict_kind if record is not None else None,
        users=users,
        target=experiment.charter.target_sample_size,
        ready=ready_reasons(experiment, analysis, users),
    )


def by_channel(
    summaries: Sequence[ExperimentSummary],
) -> dict[tuple[str, str], list[ExperimentSummary]]:
    """Running experiments grouped by (team, channel), in the store's order."""
    channels: dict[tuple[str, str], list[ExperimentSummary]] = {}
    for summary in summaries:
        key = (summary.experiment.team_id, summary.experiment.channel_id)
        channels.setdefault(key, []).append(summary)
    return channels
