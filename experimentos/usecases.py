"""What every entry point calls: the command line, the demo and the Slack bot.

Analyse a file at a path (with a charter's target, the information fraction of this look), record
a look in the history. Look numbering and the information fraction live here alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from experimentos import ingest
from experimentos.analysis.assemble import analyze_data
from experimentos.config import load_thresholds
from experimentos.model import Analysis, ExperimentData, Options, Thresholds


def information_fraction(data: ExperimentData, target_users: int) -> float:
    """This look's information fraction: the file's users ÷ the charter's target sample size."""
    return sum(arm.primary.users for arm in data.arms) / target_users


def analyse_file(
    path: Path,
    *,
    file_name: str | None = None,
    options: Options,
    thresholds: Thresholds | None = None,
    target_users: int | None = None,
) -> Analysis:
    """The Analysis of the results file at ``path``.

    With ``target_users`` (a charter's target sample size) and a planned look, this look's
    information fraction is appended to ``options.look_fractions`` (the earlier looks'): the users
    are known only once the file is read. Raises ExperimentError when the file cannot be read.
    """
    thresholds = thresholds or load_thresholds()
    parsed = ingest.parse_path(path, file_name=file_name, options=options, thresholds=thresholds)
    if target_users and options.look is not None:
        fractions = (*(options.look_fractions or ()), information_fraction(parsed, target_users))
        options = dataclasses.replace(options, look_fractions=fractions)
    return analyze_data(parsed, options=options, thresholds=thresholds)
