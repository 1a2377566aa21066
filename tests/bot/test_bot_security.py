"""Signatures, retries of a 3-second world, and secrets that must not leak into logs."""

from __future__ import annotations

import json
import logging
import time

import pytest
from harness import RunningBot
from slack_standin import SlackStandIn


async def test_a_forged_signature_is_refused_without_any_web_api_call(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    before = len(standin.calls)
    status, _ = await bot.post(
        "command=%2Fexperiment&text=help",
        "application/x-www-form-urlencoded",
        secret="not-the-signing-secret",
    )
    assert status == 401
    assert len(standin.calls) == before


async def test_a_stale_signature_is_refused(bot: RunningBot, standin: SlackStandIn) -> None:
    before = len(standin.calls)
    stale = int(time.time()) - 10 * 60
    status, _ = await bot.post(
        "command=%2Fexperiment&text=help", "application/x-www-form-urlencoded", timestamp=stale
    )
    assert status == 401
    assert len(standin.calls) == before


async def test_a_tampered_body_is_refused(bot: RunningBot) -> None:
    from harness import sign

    headers_for_other_body = sign("command=%2Fexperiment&text=help")
    async with bot.session.post(
        bot.url + "/slack/events",
        data="command=%2Fexperiment&text=power",
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers_for_other_body},
    ) as response:
        assert response.status == 401


async def test_healthz(bot: RunningBot) -> None:
    async with bot.session.get(bot.url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"


async def test_url_verification_challenge(bot: RunningBot) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
    status, text = await bot.post(body, "application/json")
    assert status == 200
    assert "abc123" in text


async def test_tokens_never_reach_the_logs(
    bot: RunningBot, standin: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ts = await bot.upload(
        [standin.add_file("launch.csv", b"variant,users,conversions\ncontrol,100,10\nb,100,12\n")]
    )
    await standin.wait_for(lambda: standin.thread("C0EXPERIMENTS", ts))
    await bot.idle()
    assert any("Sending a request" in r.getMessage() for r in caplog.records)  # slack_sdk, DEBUG
    assert standin.bot_token not in caplog.text
    assert "xoxb-" not in caplog.text


def test_python_m_bot_logging_blanks_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    from bot import logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("INFO", secrets=["the-signing-secret"])
        logging.getLogger("bot.test").warning("token xoxb-123-456-abc, secret the-signing-secret")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "xoxb-123" not in err and "the-signing-secret" not in err
    assert "xoxb-[redacted]" in err


def test_the_redaction_filter_blanks_tokens() -> None:
    from bot.logs import RedactSecrets

    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "auth %s and %s", ("xoxb-1-2-abc", "s3cr3t-value"), None
    )
    RedactSecrets(["s3cr3t-value"]).filter(record)
    assert record.getMessage() == "auth xoxb-[redacted] and [redacted]"
