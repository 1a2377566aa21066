"""Forged, malformed and oversized requests are refused at the door, for every kind of request.

Each request carries a ``response_url`` and a channel the bot could act on. A refused request must
be answered 401 (413 when too large) and cause nothing: no Web API call, no POST to its
``response_url``, no message — whatever part of the signature check it trips. The requests are
written byte by byte on a raw socket so that headers can be missing, repeated or not ASCII.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

import pytest
from harness import CHANNEL, SIGNING_SECRET, USER, RunningBot, file_share_event, sign
from slack_standin import SlackStandIn

from bot.render.charter_modal import CALLBACK_CHARTER
from bot.signatures import refusal
from bot.signatures import sign as door_sign
from bot.web import MAX_REQUEST_BYTES

Headers = list[tuple[str, str]]


def _event(standin: SlackStandIn) -> tuple[str, str]:
    csv = b"variant,users,conversions\ncontrol,100,10\nb,100,12\n"
    event = file_share_event([standin.add_file("launch.csv", csv)], ts=standin.next_ts())
    body = {
        "token": "legacy-verification-token",
        "team_id": standin.team_id,
        "api_app_id": "A0STANDIN",
        "type": "event_callback",
        "event_id": f"EvSIG{time.monotonic_ns()}",
        "event_time": int(time.time()),
        "event": event,
        "response_url": standin.response_url("forged-event"),
    }
    return json.dumps(body), "application/json"


def _command(standin: SlackStandIn) -> tuple[str, str]:
    body = {
        "command": "/experiment",
        "text": "help",
        "team_id": standin.team_id,
        "channel_id": CHANNEL,
        "user_id": USER,
        "trigger_id": "1.2.3",
        "response_url": standin.response_url("forged-command"),
    }
    return urlencode(body), "application/x-www-form-urlencoded"


def _action(standin: SlackStandIn) -> tuple[str, str]:
    payload = {
        "type": "block_actions",
        "team": {"id": standin.team_id, "domain": "standin"},
        "user": {"id": USER, "team_id": standin.team_id},
        "api_app_id": "A0STANDIN",
        "trigger_id": "1.2.3",
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "channel_id": CHANNEL},
        "response_url": standin.response_url("forged-action"),
        "actions": [{"type": "button", "action_id": "card_memo", "block_id": "b", "value": "x"}],
    }
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def _view(standin: SlackStandIn) -> tuple[str, str]:
    payload = {
        "type": "view_submission",
        "team": {"id": standin.team_id, "domain": "standin"},
        "user": {"id": USER, "team_id": standin.team_id},
        "api_app_id": "A0STANDIN",
        "trigger_id": "4.5.6",
        "response_urls": [{"response_url": standin.response_url("forged-view")}],
        "view": {
            "id": "V0MODAL",
            "type": "modal",
            "team_id": standin.team_id,
            "callback_id": CALLBACK_CHARTER,
            "private_metadata": json.dumps({"channel": CHANNEL}),
            "state": {"values": {}},
        },
    }
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


KINDS: dict[str, Callable[[SlackStandIn], tuple[str, str]]] = {
    "event": _event,
    "slash command": _command,
    "block action": _action,
    "view submission": _view,
}


def _signed(body: str, **kwargs: object) -> Headers:
    return list(sign(body, **kwargs).items())  # type: ignore[arg-type]


def _forged(body: str) -> Headers:
    return _signed(body, secret="not-the-signing-secret")


def _stale(body: str) -> Headers:
    return _signed(body, timestamp=int(time.time()) - 10 * 60)


def _future(body: str) -> Headers:
    return _signed(body, timestamp=int(time.time()) + 10 * 60)


def _tampered(body: str) -> Headers:
    return _signed(body + "&extra=1")


def _malformed_timestamp(body: str) -> Headers:
    (_, signature) = _signed(body)[1]
    return [("X-Slack-Request-Timestamp", "abc"), ("X-Slack-Signature", signature)]


def _signed_with_odd_timestamp(odd: str) -> Callable[[str], Headers]:
    """A signature computed correctly over a timestamp that is not plain ASCII digits."""

    def headers(body: str) -> Headers:
        signature = door_sign(SIGNING_SECRET, timestamp=odd, body=body.encode())
        return [("X-Slack-Request-Timestamp", odd), ("X-Slack-Signature", signature)]

    return headers


def _missing_timestamp(body: str) -> Headers:
    return [h for h in _signed(body) if h[0] != "X-Slack-Request-Timestamp"]


def _missing_signature(body: str) -> Headers:
    return [h for h in _signed(body) if h[0] != "X-Slack-Signature"]


def _empty_signature(body: str) -> Headers:
    return [(name, "" if name == "X-Slack-Signature" else value) for name, value in _signed(body)]


def _unprefixed_signature(body: str) -> Headers:
    return [
        (name, value.removeprefix("v0=") if name == "X-Slack-Signature" else value)
        for name, value in _signed(body)
    ]


def _non_ascii_signature(body: str) -> Headers:
    return [
        (name, value[:-1] + "é" if name == "X-Slack-Signature" else value)
        for name, value in _signed(body)
    ]


def _duplicated_timestamp(body: str) -> Headers:
    headers = _signed(body)
    return [*headers, ("X-Slack-Request-Timestamp", str(int(time.time()) - 1))]


def _duplicated_signature(body: str) -> Headers:
    headers = _signed(body)
    return [*headers, ("X-Slack-Signature", "v0=" + "0" * 64)]


BAD_HEADERS: dict[str, Callable[[str], Headers]] = {
    "forged secret": _forged,
    "stale timestamp": _stale,
    "future timestamp": _future,
    "tampered body": _tampered,
    "timestamp abc": _malformed_timestamp,
    "timestamp with sign": _signed_with_odd_timestamp(f"+{int(time.time())}"),
    "timestamp with spaces": _signed_with_odd_timestamp(f" {int(time.time())} "),
    "timestamp in arabic-indic digits": _signed_with_odd_timestamp(
        str(int(time.time())).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    ),
    "timestamp 1e9": _signed_with_odd_timestamp("1e9"),
    "missing timestamp": _missing_timestamp,
    "missing signature": _missing_signature,
    "empty signature": _empty_signature,
    "signature without v0=": _unprefixed_signature,
    "non-ascii signature": _non_ascii_signature,
    "duplicated timestamp": _duplicated_timestamp,
    "duplicated signature": _duplicated_signature,
}


async def _raw_post(bot: RunningBot, body: bytes, content_type: str, headers: Headers) -> int:
    """POST /slack/events with exactly these header lines (UTF-8 bytes); the HTTP status."""
    url = urlsplit(bot.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    lines = [
        "POST /slack/events HTTP/1.1",
        f"Host: {url.netloc}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


async def _nothing_happened(bot: RunningBot, standin: SlackStandIn) -> None:
    await bot.idle()
    await asyncio.sleep(0.3)  # a forged event would start work in a background task
    await bot.idle()
    assert standin.calls == [], [call.method for call in standin.calls]
    assert standin.responses == [] and standin.messages == [] and standin.downloads == []


@pytest.mark.parametrize("bad", list(BAD_HEADERS))
@pytest.mark.parametrize("kind", list(KINDS))
async def test_an_unverifiable_request_gets_401_and_causes_nothing(
    bot: RunningBot, standin: SlackStandIn, kind: str, bad: str
) -> None:
    body, content_type = KINDS[kind](standin)
    status = await _raw_post(bot, body.encode(), content_type, BAD_HEADERS[bad](body))
    assert status == 401
    await _nothing_happened(bot, standin)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_the_same_requests_correctly_signed_are_served(
    bot: RunningBot, standin: SlackStandIn, kind: str
) -> None:
    """The control: the refusals above are due to the headers, not to the bodies."""
    body, content_type = KINDS[kind](standin)
    status = await _raw_post(bot, body.encode(), content_type, _signed(body))
    assert status == 200
    if kind != "view submission":  # a modal's answer is the HTTP response itself
        await standin.wait_for(lambda: standin.calls)


async def test_an_oversized_request_is_refused_unread(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    body, content_type = _command(standin)
    big = body + "&pad=" + "x" * (MAX_REQUEST_BYTES + 1)
    status = await _raw_post(bot, big.encode(), content_type, _signed(big))
    assert status == 413
    await _nothing_happened(bot, standin)


async def test_a_signed_body_that_is_not_utf8_is_refused(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    body = b"command=%2Fexperiment&text=help&x=\xff\xfe"
    ts = str(int(time.time()))
    headers = [
        ("X-Slack-Request-Timestamp", ts),
        ("X-Slack-Signature", door_sign(SIGNING_SECRET, timestamp=ts, body=body)),
    ]
    assert await _raw_post(bot, body, "application/x-www-form-urlencoded", headers) == 400
    await _nothing_happened(bot, standin)


def test_the_door_agrees_with_slack_sdk_on_a_good_signature() -> None:
    """An independent signer (slack_sdk's) and the door's check agree, so real Slack passes."""
    body = '{"type":"event_callback","text":"naïve ✓"}'
    headers = sign(body)
    assert (
        refusal(
            SIGNING_SECRET,
            timestamps=[headers["X-Slack-Request-Timestamp"]],
            signatures=[headers["X-Slack-Signature"]],
            body=body.encode("utf-8"),
        )
        is None
    )


@pytest.mark.parametrize(
    ("timestamps", "signatures", "reason"),
    [
        ([], ["v0=" + "a" * 64], "missing or repeated signature headers"),
        (["1", "2"], ["v0=" + "a" * 64], "missing or repeated signature headers"),
        (["abc"], ["v0=" + "a" * 64], "malformed timestamp"),
        (["1" * 13], ["v0=" + "a" * 64], "malformed timestamp"),
        (["1700000000"], ["v0=" + "a" * 64], "stale timestamp"),
        (["NOW"], ["v0=" + "A" * 64], "malformed signature"),
        (["NOW"], ["v1=" + "a" * 64], "malformed signature"),
        (["NOW"], ["v0=" + "a" * 64], "signature mismatch"),
    ],
)
def test_each_refusal_names_its_reason(
    timestamps: list[str], signatures: list[str], reason: str
) -> None:
    now = str(int(time.time()))
    stamps = [now if t == "NOW" else t for t in timestamps]
    got = refusal(SIGNING_SECRET, timestamps=stamps, signatures=signatures, body=b"{}")
    assert got == reason


async def test_the_error_handler_never_acts_on_an_unverified_request(
    standin: SlackStandIn,
) -> None:
    """Second line of defence: a failure before the app's middleware (the signature check is
    Bolt's first middleware) is logged only; its body's response_url and channel are untrusted."""
    import logging

    from slack_bolt.context.respond.async_respond import AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.errors import on_error
    from bot.middleware import VERIFIED

    client = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)
    body = {
        "response_url": standin.response_url("untrusted"),
        "event": {"channel": CHANNEL, "ts": "1700000000.000100"},
    }
    respond = AsyncRespond(response_url=body["response_url"])
    log = logging.getLogger("test")
    await on_error(ValueError("boom"), body, log, client, respond, {})
    await on_error(ValueError("boom"), body, log, client, None, None)
    assert standin.calls == []
    await on_error(ValueError("boom"), body, log, client, respond, {VERIFIED: True})
    await on_error(ValueError("boom"), body, log, client, None, {VERIFIED: True})
    assert [call.method for call in standin.calls] == ["response_url", "chat.postMessage"]
