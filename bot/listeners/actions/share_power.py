from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import slack_error_code
from bot.files import upload_chart
from bot.render.power_reply import power_alt_text, power_text, render_power
from bot.services import Services

logger = logging.getLogger(__name__)


async def on_share_power(
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    """Post a sample-size answer for everyone (response_url: works without channel membership),
    then the power curve (a file upload: only where the bot is a member)."""
    await ack()
    command_text = str(action.get("value") or "")
    request, plan = await services.plan_power(command_text)
    await respond(
        text=power_text(plan),
        blocks=render_power(request, plan, command_text=command_text, shared_by=body["user"]["id"]),
        response_type="in_channel",
        replace_original=False,
    )
    channel = (body.get("channel") or {}).get("id")
    if not channel:
        return
    png = await services.power_chart(plan)
    try:
        await upload_chart(
            client,
            channel=channel,
            thread_ts=None,
            png=png,
            name="Sample size",
            title="power curve",
            alt_text=power_alt_text(plan),
        )
    except SlackApiError as error:  # e.g. not_in_channel: the answer itself is shared already
        logger.info("power curve not uploaded (%s)", slack_error_code(error))
