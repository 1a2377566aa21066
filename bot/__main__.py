"""``python -m bot``: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from bot import logs
from bot.settings import BotSettings, SettingsError
from bot.web import EVENTS_PATH, create_web_app, start_runtime
from experimentos.store import StoreError

logger = logging.getLogger("bot")
SECRET_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")


def main() -> int:
    try:
        settings = BotSettings.from_env(os.environ)
    except SettingsError as error:
        print(f"bot: {error}", file=sys.stderr)
        return 2
    for name in SECRET_VARIABLES:  # read once; analysis workers and Bolt need not see them
        os.environ.pop(name, None)
    logs.configure(
        settings.log_level,
        secrets=(settings.bot_token, settings.signing_secret, settings.app_token or ""),
    )
    try:
        serve(settings)
    except StoreError as error:  # the history store could not be opened: one line, no traceback
        print(f"bot: {error}", file=sys.stderr)
        return 1
    return 0


def serve(settings: BotSettings) -> None:
    if settings.socket_mode:
        asyncio.run(run_socket_mode(settings))
    else:
        logger.info("HTTP mode: POST %s on %s:%d", EVENTS_PATH, settings.host, settings.port)
        web.run_app(
            create_web_app(settings),
            host=settings.host,
            port=settings.port,
            print=None,
            shutdown_timeout=25,
        )


async def run_socket_mode(settings: BotSettings) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    runtime = await start_runtime(settings)
    handler = AsyncSocketModeHandler(runtime.bolt, settings.app_token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await handler.connect_async()
        logger.info("Socket Mode: connected")
        await stop.wait()
    finally:
        logger.info("shutting down: finishing in-flight analyses")
        await handler.close_async()
        await runtime.close()


if __name__ == "__main__":
    sys.exit(main())
