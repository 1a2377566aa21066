"""Bounded in-memory state of one process: a cheap first check against redelivered events, and
one lock per experiment thread.

Both vanish on restart, which is fine: the history store's ``claim_event`` is the de-duplication
that holds across processes and restarts, and what the bot must remember lives in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable


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


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it.

    Looks at one experiment are analysed one after another in this process, so look k is planned
    knowing look k-1 (its number, its users, its verdict for the look diff).
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
