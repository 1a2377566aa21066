"""Global middleware: hand the services to every listener, drop redelivered events.

It runs after Bolt's own request verification, so the mark it leaves in the context
(:data:`VERIFIED`) tells the error handler that the request came from Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.services import Services

VERIFIED = "experimentos_verified_request"
"""Context key set on every request that reached the app's middleware (its signature held)."""

Next = Callable[[], Awaitable[None]]
Middleware = Callable[..., Awaitable[Any]]


def global_middleware(services: Services) -> Middleware:
    """One middleware (each costs a kwargs build per request): services in, redeliveries out."""

    async def services_and_dedupe(
        body: dict[str, Any],
        context: AsyncBoltContext,
        request: AsyncBoltRequest,
        logger: logging.Logger,
        next: Next,
    ) -> BoltResponse | None:
        context[VERIFIED] = True
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not services.seen.claim(("event", event_id)):
            # Slack redelivers an event it thinks we missed (X-Slack-Retry-Num): answer it once.
            retry = (request.headers.get("x-slack-retry-num") or ["?"])[0]
            logger.info("dropped redelivered event %s (retry %s)", event_id, retry)
            return BoltResponse(status=200, body="")
        context["services"] = services
        await next()
        return None

    return services_and_dedupe
