"""CSV uploads over real HTTP: a card in the thread for each example, and every way it can go wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import CHANNEL, RunningBot, file_share_event, header_of, mrkdwn_texts
from slack_standin import SlackStandIn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXPECTED_VERDICTS = {
    "launch.csv": "Launch",
    "srm_hold.csv": "Hold",
    "guardrail_worsened.csv": "Hold",
    "guardrail_severe.csv": "Rollback",
    "negative_primary.csv": "Rollback",
    "not_significant.csv": "Hold",
    "blocked.csv": "Hold",
    "three_arms.csv": "Launch",
    "continuous.csv": "Launch",
}

TWO_ARMS = b"variant,users,conversions\ncontrol,10000,1000\ntreatment,10000,1200\n"
RETRY_AFTER_S = 2


def example(name: str) -> bytes:
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path.read_bytes()


async def card_for(bot: RunningBot, standin: SlackStandIn, ts: str, count: int = 1) -> list:
    cards = await standin.wait_for(
        lambda: len(standin.cards(CHANNEL, ts)) >= count and standin.cards(CHANNEL, ts)
    )
    await bot.idle()
    return cards


async def answers_in_thread(bot: RunningBot, standin: SlackStandIn, ts: str) -> list:
    """The thread once the bot has replaced its placeholder (card or problem message)."""
    await standin.wait_for(
        lambda: any(m.updates or "Analysing" not in m.text for m in standin.thread(CHANNEL, ts))
    )
    await bot.idle()
    return standin.thread(CHANNEL, ts)


@pytest.mark.parametrize("name", sorted(EXPECTED_VERDICTS))
async def test_each_example_gets_its_card_in_the_thread(
    bot: RunningBot, standin: SlackStandIn, name: str
) -> None:
    file = standin.add_file(name, example(name))
    ts = await bot.upload([file])
    [card] = await card_for(bot, standin, ts)
    assert card.thread_ts == ts
    assert EXPECTED_VERDICTS[name] in header_of(card)
    assert card.text.startswith(EXPECTED_VERDICTS[name])
    actions = next(b for b in card.blocks if b["type"] == "actions")
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Memo",
        "Details",
        "Record decision",
    ]
    assert standin.calls_to("reactions.add")[0].args["name"] == "eyes"
    assert len(standin.thread(CHANNEL, ts)) == 1  # the placeholder became the card


async def test_several_csvs_in_one_message_each_get_a_card_and_other_files_are_ignored(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    files = [
        standin.add_file("launch.csv", example("launch.csv")),
        standin.add_file("notes.txt", b"hello", filetype="text"),
        standin.add_file("negative_primary.csv", example("negative_primary.csv")),
    ]
    ts = await bot.upload(files)
    cards = await card_for(bot, standin, ts, count=2)
    assert sorted(header_of(c).split()[1] for c in cards) == ["Launch", "Rollback"]
    assert len(standin.thread(CHANNEL, ts)) == 2
    assert len(standin.downloads) == 2


async def test_options_in_the_message_are_honoured(bot: RunningBot, standin: SlackStandIn) -> None:
    file = standin.add_file("results.csv", TWO_ARMS)
    ts = await bot.upload([file], text="Results are in!\nname: Checkout &amp; Pay v2\nsplit: 50/50")
    [card] = await card_for(bot, standin, ts)
    assert "Checkout & Pay v2" in header_of(card)


async def test_a_bad_option_line_is_explained_in_the_thread(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts = await bot.upload([standin.add_file("results.csv", TWO_ARMS)], text="split: fifty/fifty")
    [reply] = await standin.wait_for(lambda: standin.thread(CHANNEL, ts))
    assert "split must look like 50/50" in reply.text
    assert "Error id" in json.dumps(reply.blocks)


async def test_csv_in_an_existing_thread_answers_in_that_thread(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    root = standin.next_ts()
    ts = await bot.upload([standin.add_file("look2.csv", TWO_ARMS)], thread_ts=root)
    [card] = await card_for(bot, standin, root)
    assert card.thread_ts == root != ts


async def test_a_redelivered_event_never_yields_a_second_card(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts = standin.next_ts()
    event = file_share_event([standin.add_file("launch.csv", TWO_ARMS)], ts=ts, user="U1")
    assert (await bot.event(event, event_id="EvSAME"))[0] == 200
    for retry in (1, 2, 3):
        assert (await bot.event(event, event_id="EvSAME", retry_num=retry))[0] == 200
    # The same message delivered under another event id (Slack does this too) is deduped by
    # file id + message ts.
    assert (await bot.event(event, event_id="EvOTHER"))[0] == 200
    await card_for(bot, standin, ts)
    assert bot.runtime.services.seen.duplicates >= 4
    assert len(standin.cards(CHANNEL, ts)) == 1
    assert len(standin.downloads) == 1


async def test_file_shared_and_file_share_for_one_file_give_one_card(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    file = standin.add_file("launch.csv", TWO_ARMS)
    ts = standin.next_ts()
    standin.share(file["id"], CHANNEL, ts)
    shared = {
        "type": "file_shared",
        "file_id": file["id"],
        "user_id": "U1",
        "file": {"id": file["id"]},
        "channel_id": CHANNEL,
        "event_ts": ts,
    }
    assert (await bot.event(shared))[0] == 200
    message = {
        "type": "message",
        "subtype": "file_share",
        "channel": CHANNEL,
        "user": "U1",
        "text": "",
        "ts": ts,
        "files": [file],
    }
    assert (await bot.event(message))[0] == 200
    await card_for(bot, standin, ts)
    assert len(standin.cards(CHANNEL, ts)) == 1
    assert not standin.calls_to("files.info")  # the message covered it


async def test_file_shared_alone_is_answered_via_files_info(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    file = standin.add_file("launch.csv", example("launch.csv"))
    ts = standin.next_ts()
    standin.share(file["id"], CHANNEL, ts)
    shared = {
        "type": "file_shared",
        "file_id": file["id"],
        "user_id": "U1",
        "file": {"id": file["id"]},
        "channel_id": CHANNEL,
        "event_ts": ts,
    }
    assert (await bot.event(shared))[0] == 200
    [card] = await card_for(bot, standin, ts)
    assert "Launch" in header_of(card)


async def test_a_rate_limited_post_is_retried_and_the_card_arrives(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    # 2 s, not 1: without Retry-After slack_sdk waits 1 s plus up to 1 s of jitter, so only a
    # longer Retry-After tells a client that honours the header from one that ignores it.
    standin.fail_next("chat.postMessage", status=429, retry_after=RETRY_AFTER_S)
    ts = await bot.upload([standin.add_file("launch.csv", TWO_ARMS)])
    [card] = await card_for(bot, standin, ts)
    assert "Launch" in header_of(card)
    limited, retried = standin.calls_to("chat.postMessage")  # the 429, then the retry
    assert RETRY_AFTER_S <= retried.at - limited.at < RETRY_AFTER_S + 10


async def test_a_download_link_on_a_foreign_host_gets_no_token(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    file = standin.add_file("launch.csv", TWO_ARMS, foreign=True)
    ts = await bot.upload([file])
    [reply] = await answers_in_thread(bot, standin, ts)
    assert "not Slack's file host" in reply.text
    leaked = [
        c
        for c in standin.downloads
        if c.port == standin.foreign_port and "Authorization" in c.headers
    ]
    assert not leaked
    assert not any(
        standin.bot_token in json.dumps(c.headers)
        for c in standin.downloads
        if c.port == standin.foreign_port
    )


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("junk.csv", bytes(range(256)) * 64, "couldn't analyse `junk.csv`"),
        ("empty.csv", b"", "empty"),
        ("page.csv", b"<!DOCTYPE html><html><body>Sign in</body></html>", "web page"),
        ("whitespace.csv", b"   \n\n  ", "empty"),
    ],
)
async def test_unusable_files_get_a_clear_reply(
    bot: RunningBot, standin: SlackStandIn, name: str, content: bytes, fragment: str
) -> None:
    ts = await bot.upload([standin.add_file(name, content)])
    [reply] = await answers_in_thread(bot, standin, ts)
    assert fragment in reply.text
    assert "Error id" in json.dumps(reply.blocks)
    # …and the bot still answers the next request.
    status, body = await bot.command("help")
    assert status == 200 and "blocks" in json.loads(body)


async def test_a_file_that_became_a_login_page_is_recognised(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    file = standin.add_file("launch.csv", TWO_ARMS)
    standin.downloads_need_login = True  # what Slack does when the token cannot read the file
    ts = await bot.upload([file])
    [reply] = await answers_in_thread(bot, standin, ts)
    assert "login page" in reply.text


async def test_a_redirect_off_slack_is_not_followed_with_the_token(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    standin.downloads_redirect_to = standin.foreign_url + "files/F0/login"
    ts = await bot.upload([standin.add_file("launch.csv", TWO_ARMS)])
    [reply] = await answers_in_thread(bot, standin, ts)
    assert "redirected the download" in reply.text
    assert not [c for c in standin.downloads if c.port == standin.foreign_port]


async def test_hostile_labels_notify_nobody(bot: RunningBot, standin: SlackStandIn) -> None:
    hostile = (
        b"variant,users,conversions,guardrail_<!here>\n"
        b"control,10000,1000,10\n<!channel> & <@U123>,10000,1100,12\n"
    )
    ts = await bot.upload(
        [standin.add_file("<!everyone>.csv", hostile)], text="name: <!subteam^S1|team> launch"
    )
    [reply] = await answers_in_thread(bot, standin, ts)
    for text in [reply.text, *mrkdwn_texts(reply.blocks)]:
        for mention in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<!subteam"):
            assert mention not in text
    assert "&lt;!channel&gt; &amp; &lt;@u123&gt;" in json.dumps(
        reply.blocks
    )  # labels are case-folded


async def test_too_large_a_file_is_refused_before_download(
    standin: SlackStandIn, analysis_pool
) -> None:
    from harness import settings_for, start_bot, stop_bot

    bot = await start_bot(standin, settings_for(standin, max_download_bytes=1000), analysis_pool)
    try:
        big = b"variant,users,conversions\n" + b"control,10000,1000\n" * 200
        ts = await bot.upload([standin.add_file("big.csv", big)])
        [reply] = await answers_in_thread(bot, standin, ts)
        assert "I analyse files up to" in reply.text
        assert not standin.downloads
    finally:
        await stop_bot(bot)


async def test_the_bots_own_messages_are_ignored(bot: RunningBot, standin: SlackStandIn) -> None:
    ts = standin.next_ts()
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": CHANNEL,
        "user": standin.bot_user_id,
        "bot_id": standin.bot_id,
        "text": "",
        "ts": ts,
        "files": [standin.add_file("a.csv", TWO_ARMS)],
    }
    assert (await bot.event(event))[0] == 200
    status, _ = await bot.command("help")  # a later request has surely passed the first
    assert status == 200
    await bot.idle()
    assert not standin.thread(CHANNEL, ts)
    assert not standin.downloads


def _malformed_links(standin: SlackStandIn, file_id: str) -> dict[str, str]:
    """Download links a lax URL parser could send to the stand-in (on either of its ports): any
    request that left would be recorded, so "no download recorded" means nothing was sent."""
    api, foreign = f"127.0.0.1:{standin.port}", f"127.0.0.1:{standin.foreign_port}"
    path = f"files/{file_id}/launch.csv"
    return {
        # What Slack's file host would look like, as reported: no request can be observed there,
        # but a request attempted would fail to connect and give the generic error.
        "backslash (reported)": "https://files.slack.com\\@evil.example/x.csv",
        "double port (reported)": "https://files.slack.com:443:80/x",
        # The same shapes aimed at the stand-in, so that a request that left would be seen.
        "backslash before @": f"http://{api}\\@{foreign}/{path}",
        "backslash in host": f"http://{api}\\{path}",
        "double port": f"http://{api}:{standin.foreign_port}/{path}",
        "port out of range": f"http://127.0.0.1:{standin.port + 65536}/{path}",
        "negative port": f"http://127.0.0.1:-{standin.port}/{path}",
        "broken IPv6 literal": f"http://[::1/{path}",
        "user info": f"http://{foreign}@{api}/{path}",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "backslash (reported)",
        "double port (reported)",
        "backslash before @",
        "backslash in host",
        "double port",
        "port out of range",
        "negative port",
        "broken IPv6 literal",
        "user info",
    ],
)
async def test_a_malformed_download_link_is_refused_clearly_and_gets_no_request(
    bot: RunningBot, standin: SlackStandIn, kind: str
) -> None:
    file = standin.add_file("launch.csv", TWO_ARMS)
    link = _malformed_links(standin, file["id"])[kind]
    file["url_private"] = file["url_private_download"] = link
    ts = await bot.upload([file])
    [reply] = await answers_in_thread(bot, standin, ts)
    assert "not Slack's file host" in reply.text, reply.text
    assert "I only send my token to Slack" in reply.text
    assert "Something went wrong" not in reply.text
    assert "Error id" in json.dumps(reply.blocks)
    assert not standin.downloads  # no request left for either of the stand-in's ports
    assert standin.bot_token not in json.dumps(reply.blocks)
