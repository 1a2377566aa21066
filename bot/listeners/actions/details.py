from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.files import upload_chart
from bot.listeners.actions.lookup import look_or_explain
from bot.render.describe import always_valid
from bot.render.details import details_text, render_details
from bot.services import Services
from bot.stored_looks import looks_so_far

logger = logging.getLogger(__name__)


async def on_details(
    ack: AsyncAck,
    action: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    """Post every arm, metric and the Bayesian view of the stored look in the card's thread,
    then its forest plot, the lift by exposure day when there is a date column, and the looks so
    far from the second look on (drawn on demand: the card itself never waits for matplotlib)."""
    await ack()
    look = await look_or_explain(action, context.team_id, services, respond)
    if look is None:
        return
    await client.chat_postMessage(
        channel=look.channel,
        thread_ts=look.thread_ts,
        text=details_text(look.analysis),
        blocks=render_details(look.analysis),
    )
    charts = [("forest plot", *await services.forest_chart(look.analysis))]
    if look.analysis.novelty is not None and look.analysis.novelty.days:
        charts.append(("lift by exposure day", *await services.lift_by_day_chart(look.analysis)))
    if look.record.look > 1:
        points, of_looks, alt_text = await looks_so_far(services, context.team_id or "", look)
        png = await services.looks_chart(
            points, of_looks=of_looks, always_valid=always_valid(look.analysis)
        )
        charts.append(("looks", png, alt_text))
    for title, png, alt_text in charts:
        await upload_chart(
            client,
            channel=look.channel,
            thread_ts=look.thread_ts,
            png=png,
            name=look.analysis.experiment.name,
            title=title,
            alt_text=alt_text,
        )
