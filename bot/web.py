"""The runtime (history store + services + Web API session + Bolt app) and its HTTP front door.

``POST /slack/events`` carries events, slash commands and interactivity. Its signature is checked
here, on the raw bytes, before Bolt or any listener, middleware or error handler sees the body
(Bolt checks it again); ``GET /healthz`` answers the platform's health checks.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy.exc import SQLAlchemyError

from bot.app import build_app, build_client
from bot.scheduler import Scheduler
from bot.services import Services
from bot.settings import BotSettings
from bot.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, refusal
from experimentos.store import HistoryStore, StoreUnavailable, redact_database_url

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_REQUEST_BYTES = 1024 * 1024
"""Larger requests are answered 413 unread; Slack's payloads are a few kilobytes."""

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    settings: BotSettings
    services: Services
    bolt: AsyncApp
    api_session: aiohttp.ClientSession
    scheduler: Scheduler
    owns_store: bool = True

    async def close(self, *, drain_s: float = 20.0) -> None:
        """Stop the scheduled jobs, finish in-flight work (it still needs the Web API and the
        store), then close all."""
        await self.scheduler.close()
        await self.services.close(drain_s=drain_s)
        await self.api_session.close()
        if self.owns_store:
            await self.services.store.close()


RUNTIME = web.AppKey("runtime", Runtime)


async def start_runtime(
    settings: BotSettings,
    *,
    executor: Executor | None = None,
    store: HistoryStore | None = None,
) -> Runtime:
    """Open the history store (upgrading its schema), start the workers, build the Bolt app,
    and start the scheduled looks and digest when ``settings.scheduler`` (``python -m bot``).

    An injected ``store`` (tests sharing one database between two apps) is not closed here.
    """
    owns_store = store is None
    if store is None:
        store = await open_store(settings.database_url)
    services = Services(settings, store, executor=executor)
    await services.start()
    api_session = aiohttp.ClientSession()
    bolt = build_app(settings, services, build_client(settings, api_session))
    scheduler = Scheduler(services, bolt.client, settings)
    services.schedules_changed = scheduler.schedules_changed
    if settings.scheduler:
        await scheduler.start()
    return Runtime(settings, services, bolt, api_session, scheduler, owns_store)


async def open_store(url: str) -> HistoryStore:
    """The history store at ``url``, its schema upgraded; StoreUnavailable naming it if not."""
    where = redact_database_url(url)
    try:
        store = await HistoryStore.open(url)
    except (SQLAlchemyError, OSError) as error:
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise StoreUnavailable(f"history store {where}: {detail}") from error
    logger.info("history store: %s", where)
    return store


def build_web_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[RUNTIME] = runtime
    app.router.add_post(EVENTS_PATH, _slack)
    app.router.add_get(HEALTH_PATH, _health)
    app.on_cleanup.append(_close)
    return app


async def create_web_app(
    settings: BotSettings,
    *,
    executor: Executor | None = None,
    store: HistoryStore | None = None,
) -> web.Application:
    """The aiohttp application ``python -m bot`` serves in HTTP mode (tests serve the same)."""
    return build_web_app(await start_runtime(settings, executor=executor, store=store))


async def _slack(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await request.read()  # over MAX_REQUEST_BYTES: aiohttp answers 413
    reason = refusal(
        runtime.settings.signing_secret,
        timestamps=request.headers.getall(TIMESTAMP_HEADER, []),
        signatures=request.headers.getall(SIGNATURE_HEADER, []),
        body=body,
    )
    if reason is not None:
        logger.warning("refused a request to %s: %s", EVENTS_PATH, reason)
        return web.Response(status=401, text="invalid request signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        logger.warning("refused a signed request to %s: body is not UTF-8", EVENTS_PATH)
        return web.Response(status=400, text="request body is not UTF-8")
    bolt_request = AsyncBoltRequest(
        body=text, query=request.query_string, headers=_header_lists(request)
    )
    response = await runtime.bolt.async_dispatch(bolt_request)
    return await to_aiohttp_response(response)


def _header_lists(request: web.Request) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return headers


async def _health(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    services = runtime.services
    return web.json_response(
        {
            "status": "ok",
            "workers_ready": services.runner.ready,
            "jobs_in_flight": services.jobs_in_flight,
            "scheduler": runtime.scheduler.health(),
        }
    )


async def _close(app: web.Application) -> None:
    logger.info("shutting down: finishing in-flight analyses")
    await app[RUNTIME].close()
