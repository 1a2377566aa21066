"""Turning failures into a short message for the user and one log line for the operator.

Known failures (bad file, bad command, Slack refusing a call) get a specific message; anything else
gets a generic one. Every message carries an error id that also appears in the log line, which
names the request (team, channel, user, event / command / action) but never a token.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.files import FileProblem
from bot.middleware import VERIFIED
from bot.render import messages
from bot.runner import AnalysisFailed
from experimentos.errors import ExperimentError
from experimentos.power_args import PowerArgsError
from experimentos.store import StoreError, StoreUnavailable

GENERIC = "Something went wrong on my side. Try again; if it keeps failing, give this error id to whoever runs the bot."
SLACK_HINTS = {
    "not_in_channel": "I'm not a member of this channel: `/invite` me and try again.",
    "channel_not_found": "I can't see this channel: `/invite` me and try again.",
    "missing_scope": "the app lacks a permission (reinstall it from manifest.yml).",
    "file_not_found": "Slack says the file no longer exists.",
    "ratelimited": "Slack is rate-limiting me; try again in a minute.",
}

Respond = Callable[..., Awaitable[Any]]


def new_error_id() -> str:
    return secrets.token_hex(4)


def user_message(error: BaseException) -> str | None:
    """The specific plain-text explanation of a known failure, else None."""
    if isinstance(error, FileProblem | AnalysisFailed):
        return error.message
    if isinstance(error, PowerArgsError):
        return str(error)
    if isinstance(error, ExperimentError):
        return error.message
    if isinstance(error, StoreUnavailable):
        return "the history store is unavailable right now; try again in a minute."
    if isinstance(error, StoreError):
        return str(error)
    if isinstance(error, SlackApiError):
        code = slack_error_code(error)
        return f"Slack refused a request ({code}): {SLACK_HINTS.get(code, 'see the log.')}"
    return None


def slack_error_code(error: SlackApiError) -> str:
    data = getattr(error.response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    return str(code or f"HTTP {getattr(error.response, 'status_code', '?')}")


def request_context(body: Mapping[str, Any]) -> str:
    """A log-friendly summary of a request (never its tokens)."""
    event = body.get("event") or {}
    fields = {
        "type": body.get("type") or ("command" if "command" in body else None),
        "team": body.get("team_id") or (body.get("team") or {}).get("id"),
        "channel": event.get("channel")
        or body.get("channel_id")
        or (body.get("channel") or {}).get("id"),
        "user": event.get("user") or body.get("user_id") or (body.get("user") or {}).get("id"),
        "event": event.get("type"),
        "event_id": body.get("event_id"),
        "command": body.get("command"),
        "action": ",".join(a.get("action_id", "") for a in body.get("actions", []) or []) or None,
    }
    return " ".join(f"{k}={v}" for k, v in fields.items() if v)


def log_failure(logger: logging.Logger, error: BaseException, error_id: str, where: str) -> None:
    if user_message(error) is not None and not isinstance(error, SlackApiError):
        logger.warning("user-facing failure [error_id=%s] %s: %s", error_id, where, error)
    else:
        logger.error("listener failed [error_id=%s] %s", error_id, where, exc_info=error)


async def on_error(
    error: Exception,
    body: dict[str, Any],
    logger: logging.Logger,
    client: AsyncWebClient,
    respond: Respond | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    """Bolt's global error handler: log with context, then tell the user where they are.

    Only a request that passed verification (it reached the app's middleware) is answered: the
    body of any other may be forged, and its ``response_url`` or channel must not be trusted.
    """
    error_id = new_error_id()
    if not (context or {}).get(VERIFIED):
        logger.warning(
            "failure before the request was verified [error_id=%s]: %s",
            error_id,
            type(error).__name__,
        )
        return
    log_failure(logger, error, error_id, request_context(body))
    text, blocks = messages.problem(user_message(error) or GENERIC, error_id=error_id)
    try:
        if respond is not None and (body.get("response_url") or _response_urls(body)):
            await respond(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=False
            )
            return
        event = body.get("event") or {}
        channel, ts = event.get("channel"), event.get("thread_ts") or event.get("ts")
        if channel and ts:
            await client.chat_postMessage(channel=channel, thread_ts=ts, text=text, blocks=blocks)
    except Exception:  # the error handler must never raise
        logger.exception("could not tell the user about error_id=%s", error_id)


def _response_urls(body: Mapping[str, Any]) -> bool:
    return bool(body.get("response_urls"))
