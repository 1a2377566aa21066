"""The history columns of an :class:`experimentos.model.Analysis`, for ``record_analysis(**…)``."""

from __future__ import annotations

from typing import Any

from experimentos.model import Analysis


def fields_from_analysis(analysis: Analysis) -> dict[str, Any]:
    """``result_json``, verdict, health, file name, checksum and name of one analysis::

    await store.record_analysis(team_id=t, channel_id=c, thread_ts=ts, **fields_from_analysis(a))
    """
    return {
        "result_json": analysis.to_dict(),
        "verdict_kind": analysis.verdict.kind,
        "verdict_reason": analysis.verdict.reason,
        "health_status": analysis.health.status,
        "file_name": analysis.experiment.file_name,
        "checksum": analysis.experiment.checksum,
        "experiment_name": analysis.experiment.name,
    }
