"""Run every listener as "ack now, work in the background", with one place for failures.

The app runs Bolt with ``process_before_response=True`` and this wrapper does the splitting:
the listener starts as a tracked task, and the wrapper returns (so Bolt sends the HTTP response)
as soon as the listener calls ``ack()`` — event-driven, instead of Bolt's 10 ms polling loop for
``process_before_response=False`` (at 20 concurrent commands under load: p99 ≈ 120 ms vs ≈ 30 ms,
see benchmarks/ack_latency.py). Event listeners take no ``ack`` (Bolt acknowledges events itself),
so the wrapper returns at once. A command or action that has not acknowledged after
``ACK_DEADLINE_S`` is acknowledged empty, so Slack never shows a timeout; its answer follows.

Failures go to :func:`bot.errors.on_error` (the one error handler; Bolt also calls it for failures
outside listeners), after an empty ack if the listener failed before acknowledging.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from bot.errors import on_error

Listener = Callable[..., Awaitable[Any]]
ACK_DEADLINE_S = 2.0
SUPPORT_ARGS = ("body", "logger", "client", "respond", "services", "context")


def guarded(listener: Listener) -> Listener:
    own = inspect.getfullargspec(listener).args
    names = list(dict.fromkeys([*own, *SUPPORT_ARGS, *(["ack"] if "ack" in own else [])]))

    async def run(**kwargs: Any) -> None:
        acked = asyncio.Event()
        if "ack" in own:
            kwargs["ack"] = _signalling(kwargs["ack"], acked)
        task = kwargs["services"].spawn(_run_reporting(listener, own, kwargs, acked))
        if "ack" not in own:
            return
        waiter = asyncio.ensure_future(acked.wait())
        await asyncio.wait(
            {waiter, task}, timeout=ACK_DEADLINE_S, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if not acked.is_set():
            await kwargs["ack"]()

    # Bolt injects the arguments a listener names (getfullargspec honours __signature__).
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    )
    run.__name__ = run.__qualname__ = listener.__name__
    return run


def _signalling(ack: Callable[..., Awaitable[Any]], acked: asyncio.Event) -> Listener:
    async def ack_and_signal(*args: Any, **kwargs: Any) -> Any:
        if acked.is_set():
            return None
        try:
            return await ack(*args, **kwargs)
        finally:
            acked.set()

    return ack_and_signal


async def _run_reporting(
    listener: Listener, own: list[str], kwargs: dict[str, Any], acked: asyncio.Event
) -> None:
    try:
        await listener(**{name: kwargs[name] for name in own})
    except Exception as error:
        if "ack" in own and not acked.is_set():
            with contextlib.suppress(Exception):
                await kwargs["ack"]()
        await on_error(
            error,
            kwargs["body"],
            kwargs["logger"],
            kwargs["client"],
            kwargs.get("respond"),
            kwargs["context"],
        )
