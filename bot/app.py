"""Wiring: a Web API client, the Bolt app, its middleware, listeners and error handler."""

from __future__ import annotations

import logging

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import listeners
from bot.errors import on_error
from bot.middleware import global_middleware
from bot.services import Services
from bot.settings import BotSettings


def build_client(
    settings: BotSettings, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """Every Web API call goes to SLACK_API_URL; 429s wait for Retry-After, then retry."""
    return AsyncWebClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


def build_app(settings: BotSettings, services: Services, client: AsyncWebClient) -> AsyncApp:
    app = AsyncApp(
        client=client,
        signing_secret=settings.signing_secret,
        logger=logging.getLogger("bot"),
        process_before_response=True,  # listeners ack, then work in tasks: see bot/listeners/guard.py
    )
    app.use(global_middleware(services))
    listeners.register(app)
    app.error(on_error)
    return app
