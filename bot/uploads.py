"""The CSV upload use-case: from a shared file to a card in its thread, kept in the history.

For each CSV of a message: claim it (file id + message ts, in this process and in the history store,
so a redelivered or duplicate event — even one delivered to another bot process — never yields a
second card), post a placeholder in the thread, download, plan the look (which experiment, which
charter, which sequential plan), analyse off the loop (a worker reads the downloaded file from its
path; the file is removed once analysed), record the look, then replace the placeholder with the
card — or with a specific error message and an error id. The memo is not rendered here: the Memo
button and command render it from the stored look when asked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot import files
from bot.errors import GENERIC, log_failure, new_error_id, slack_error_code, user_message
from bot.message_options import message_method, message_options
from bot.render import messages
from bot.render.card import card_text, render_card
from bot.services import Services
from bot.stored_looks import card_context
from experimentos.errors import ExperimentError
from experimentos.model import InferenceMethod, Options
from experimentos.store import ExperimentRecord
from experimentos.usecases import LookPlan, plan_look, record_look

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Upload:
    """Where a message with files was posted, and what it said."""

    team_id: str | None
    channel: str
    message_ts: str
    thread_ts: str
    user: str | None
    text: str
    files: tuple[Mapping[str, Any], ...]

    @property
    def team(self) -> str:
        """The team the history scopes this upload to."""
        return self.team_id or ""


def upload_from_message(event: Mapping[str, Any], team_id: str | None) -> Upload:
    return Upload(
        team_id=team_id,
        channel=str(event["channel"]),
        message_ts=str(event["ts"]),
        thread_ts=str(event.get("thread_ts") or event["ts"]),
        user=event.get("user"),
        text=str(event.get("text") or ""),
        files=tuple(event.get("files") or ()),
    )


def mark_seen_by_message(services: Services, upload: Upload) -> None:
    """Remember that a message carried these files, so their ``file_shared`` events stand down."""
    for file in upload.files:
        services.seen.claim(("shared-by-message", upload.channel, str(file.get("id"))))


def seen_by_message(services: Services, event: Mapping[str, Any]) -> bool:
    return (
        "shared-by-message",
        event.get("channel_id"),
        str(event.get("file_id")),
    ) in services.seen


def needs_info(file: Mapping[str, Any]) -> bool:
    """Slack Connect and some clients send only the id (``file_access: check_file_info``)."""
    return file.get("file_access") == "check_file_info" or not (
        file.get("name") or file.get("title")
    )


async def handle_upload(services: Services, client: AsyncWebClient, upload: Upload) -> None:
    """Analyse every CSV of ``upload`` and answer in its thread; other files are ignored.

    The CSVs of one message are looks at the thread's experiment, one after another. When the
    message starts a new experiment, the first CSV's experiment owns the thread and every other
    CSV starts an experiment of its own (its card is in the same thread).
    """
    candidates = [
        await services.file_info(client, str(f["id"])) if needs_info(f) else f for f in upload.files
    ]
    csvs = [
        f
        for f in candidates
        if files.is_csv(f) and await services.claim(upload.team, event_key(upload, f))
    ]
    if not csvs:
        return
    try:
        options = message_options(upload.text)
        method = message_method(upload.text)
    except ExperimentError as error:  # a bad option line in the message
        await _report(client, upload, None, error, file_name=None)
        return
    await _add_reaction(client, upload)
    placeholders = [await _post_placeholder(client, upload, files.display_name(f)) for f in csvs]
    async with services.threads.hold((upload.team, upload.channel, upload.thread_ts)):
        await _handle_files(services, client, upload, csvs, placeholders, options, method)


async def _handle_files(
    services: Services,
    client: AsyncWebClient,
    upload: Upload,
    csvs: Sequence[Mapping[str, Any]],
    placeholders: Sequence[str | None],
    options: Options,
    method: InferenceMethod | None,
) -> None:
    """The CSVs one after another; a CSV after the first is a look at the thread's experiment
    only when the thread had one before this message (the first CSV's plan tells; the history
    is asked only when that plan was never made)."""
    owned: ExperimentRecord | None = None
    owned_known = False
    for index, (file, placeholder) in enumerate(zip(csvs, placeholders, strict=True)):
        if index > 0 and not owned_known:
            owned = await services.store.find_experiment_by_thread(
                upload.team, upload.channel, upload.thread_ts
            )
            owned_known = True
        bind = index == 0 or owned is not None
        plan = await _handle_file(
            services, client, upload, file, options, method, placeholder, bind
        )
        if index == 0 and plan is not None:
            owned, owned_known = plan.experiment, True


def event_key(upload: Upload, file: Mapping[str, Any]) -> str:
    """One key per file per message: what every delivery of that message has in common."""
    return f"file:{file.get('id')}:{upload.message_ts}"


async def _handle_file(
    services: Services,
    client: AsyncWebClient,
    upload: Upload,
    file: Mapping[str, Any],
    options: Options,
    method: InferenceMethod | None,
    placeholder: str | None,
    bind_thread: bool,
) -> LookPlan | None:
    """Download, plan, analyse, record and publish one CSV; returns its look plan (None when
    the CSV failed before it was planned)."""
    name = files.display_name(file)
    plan: LookPlan | None = None
    try:
        async with services.downloaded_csv(client, file) as fetched:
            plan = await plan_look(
                services.store,
                team_id=upload.team,
                channel=upload.channel,
                thread_ts=upload.thread_ts,
                options=options,
                file_name=fetched.name,
                bind_thread=bind_thread,
                method=method,
            )
            analysis = await services.analyse(fetched, plan.options, target_users=plan.target_users)
        record, experiment = await record_look(
            services.store,
            plan,
            analysis,
            team_id=upload.team,
            channel=upload.channel,
            thread_ts=upload.thread_ts,
            user=upload.user,
            event_key=event_key(upload, file),
        )
        context = card_context(experiment, record, analysis, plan.previous)
        blocks = render_card(analysis, key=str(record.id), context=context)
        card_ts = await publish(client, upload, placeholder, card_text(analysis), blocks)
    except Exception as error:
        await _report(client, upload, placeholder, error, file_name=name)
        return plan
    try:
        await services.store.set_analysis_message(upload.team, record.id, card_ts)
    except Exception:  # the card is out and the look is kept; only its message ts is missing
        logger.exception("could not store the card's ts for analysis %s", record.id)
    return plan


async def _report(
    client: AsyncWebClient,
    upload: Upload,
    placeholder: str | None,
    error: BaseException,
    *,
    file_name: str | None,
) -> None:
    error_id = new_error_id()
    where = (
        f"team={upload.team_id} channel={upload.channel} ts={upload.message_ts} file={file_name}"
    )
    log_failure(logger, error, error_id, where)
    text, blocks = messages.problem(
        user_message(error) or GENERIC, file_name=file_name, error_id=error_id
    )
    try:
        await publish(client, upload, placeholder, text, blocks)
    except Exception:
        logger.exception("could not report error_id=%s to the thread", error_id)


async def publish(
    client: AsyncWebClient,
    upload: Upload,
    placeholder: str | None,
    text: str,
    blocks: Sequence[Block],
) -> str:
    """Replace the placeholder (or post in the thread when there is none or it is gone);
    returns the ts of the message that now shows ``blocks``."""
    if placeholder is not None:
        try:
            await client.chat_update(
                channel=upload.channel, ts=placeholder, text=text, blocks=blocks
            )
            return placeholder
        except SlackApiError as error:
            logger.warning("chat.update failed (%s); posting instead", slack_error_code(error))
    response = await client.chat_postMessage(
        channel=upload.channel, thread_ts=upload.thread_ts, text=text, blocks=blocks
    )
    if placeholder is not None:
        await _remove_placeholder(client, upload.channel, placeholder)
    return str(response["ts"])


async def _remove_placeholder(client: AsyncWebClient, channel: str, ts: str) -> None:
    """The answer went out as a new message: delete the "Analysing…" placeholder it replaces
    (429s wait for Retry-After in the client, like every call)."""
    try:
        await client.chat_delete(channel=channel, ts=ts)
    except SlackApiError as error:  # message_not_found: it is gone already
        logger.warning("placeholder %s not deleted (%s)", ts, slack_error_code(error))


async def _post_placeholder(client: AsyncWebClient, upload: Upload, name: str) -> str | None:
    text, blocks = messages.analysing(name)
    try:
        response = await client.chat_postMessage(
            channel=upload.channel, thread_ts=upload.thread_ts, text=text, blocks=blocks
        )
    except SlackApiError as error:
        logger.warning("placeholder not posted (%s)", slack_error_code(error))
        return None
    return str(response["ts"])


async def _add_reaction(client: AsyncWebClient, upload: Upload) -> None:
    try:
        await client.reactions_add(channel=upload.channel, timestamp=upload.message_ts, name="eyes")
    except SlackApiError as error:  # already_reacted, missing scope…: never worth failing for
        logger.info("reaction not added (%s)", slack_error_code(error))


async def upload_from_file_shared(
    services: Services, client: AsyncWebClient, event: Mapping[str, Any], team_id: str | None
) -> Upload | None:
    """The Upload behind a ``file_shared`` event, from files.info's shares; None if not a CSV."""
    info = await services.file_info(client, str(event["file_id"]))
    if not files.is_csv(info):
        return None
    channel = str(event.get("channel_id") or "")
    share = _share_in(info, channel)
    if share is None:
        logger.info("file %s has no share in %s; not answering", info.get("id"), channel)
        return None
    ts = str(share["ts"])
    return Upload(
        team_id, channel, ts, str(share.get("thread_ts") or ts), event.get("user_id"), "", (info,)
    )


def _share_in(info: Mapping[str, Any], channel: str) -> Mapping[str, Any] | None:
    shares = info.get("shares") or {}
    for visibility in ("public", "private"):
        entries = (shares.get(visibility) or {}).get(channel) or []
        if entries:
            return entries[0]
    return None
