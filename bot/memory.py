"""Bounded in-memory state: delivery de-duplication and the recent analyses behind the buttons.

Both are per process and vanish on restart. The history store (a later issue) replaces the analysis
cache and adds a unique constraint for de-duplication across processes.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from experimentos.model import Analysis


class SeenKeys:
    """A bounded set that answers "first time?" atomically (the event loop is single-threaded)."""

    def __init__(self, max_items: int = 10_000) -> None:
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self._max_items = max_items
        self.duplicates = 0

    def claim(self, key: Hashable) -> bool:
        """Record ``key``; True the first time, False when it was already claimed."""
        if key in self._keys:
            self._keys.move_to_end(key)
            self.duplicates += 1
            return False
        self._keys[key] = None
        if len(self._keys) > self._max_items:
            self._keys.popitem(last=False)
        return True

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys


@dataclass(frozen=True, slots=True)
class RecentAnalysis:
    key: str
    analysis: Analysis
    team_id: str | None
    channel: str
    thread_ts: str
    created_at: float


class RecentAnalyses:
    """LRU cache of the last analyses, keyed by a random id carried in the card's button values."""

    def __init__(self, max_items: int = 200) -> None:
        self._entries: OrderedDict[str, RecentAnalysis] = OrderedDict()
        self._max_items = max_items

    @property
    def capacity(self) -> int:
        return self._max_items

    def put(
        self, analysis: Analysis, *, team_id: str | None, channel: str, thread_ts: str
    ) -> RecentAnalysis:
        key = secrets.token_urlsafe(9)
        entry = RecentAnalysis(key, analysis, team_id, channel, thread_ts, time.time())
        self._entries[key] = entry
        if len(self._entries) > self._max_items:
            self._entries.popitem(last=False)
        return entry

    def get(self, key: str) -> RecentAnalysis | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def latest(self, *, team_id: str | None, limit: int = 10) -> list[RecentAnalysis]:
        """The newest entries of one workspace, newest first."""
        entries = [e for e in reversed(self._entries.values()) if e.team_id == team_id]
        entries.sort(key=lambda e: e.created_at, reverse=True)
        return entries[:limit]
