"""Errors of the history store, each with a message a user can read."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the history store's errors."""


class ExperimentNotFound(StoreError, LookupError):
    def __init__(self, team_id: str, ref: object) -> None:
        super().__init__(f"No experiment {ref} in this workspace.")
        self.team_id = team_id
        self.ref = ref


class AnalysisNotFound(StoreError, LookupError):
    def __init__(self, analysis_id: int) -> None:
        super().__init__(f"No analysis {analysis_id} for this experiment.")
        self.analysis_id = analysis_id


class DuplicateEventError(StoreError):
    """An analysis for this Slack event is already stored (another process got there first)."""

    def __init__(self, event_key: str) -> None:
        super().__init__(f"An analysis for event {event_key} is already stored.")
        self.event_key = event_key


class ThreadTaken(StoreError):
    def __init__(self, channel_id: str, thread_ts: str) -> None:
        super().__init__(f"Thread {thread_ts} in {channel_id} already belongs to an experiment.")


class DecisionReasonRequired(StoreError, ValueError):
    """A decision against the bot's verdict needs a written reason (SPEC §2.13)."""

    def __init__(self, decision: str, bot_verdict: str) -> None:
        super().__init__(
            f"Recording “{decision}” goes against the bot's verdict ({bot_verdict.capitalize()}); "
            "please write down the reason."
        )
        self.decision = decision
        self.bot_verdict = bot_verdict


class StoreUnavailable(StoreError):
    """The database cannot be reached or read (the message names it, password hidden)."""


class SchemaOutdated(StoreError):
    """The database's schema is older than this code; ``python -m experimentos.store upgrade``."""


class LookCountChanged(StoreError):
    """Another process recorded a look at this experiment since the caller read its look count;
    nothing was stored. Analyse again with ``look_count`` prior looks and record that."""

    def __init__(self, experiment_id: int, look_count: int) -> None:
        super().__init__(
            f"Experiment {experiment_id} has {look_count} looks now; the analysis expected fewer."
        )
        self.experiment_id = experiment_id
        self.look_count = look_count
