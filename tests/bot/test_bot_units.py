"""Pure pieces of the shell: power arguments, file checks, host allow-list, memory, options."""

from __future__ import annotations

import asyncio

import pytest

from bot.files import FileProblem, TokenHosts, check_content, check_declared_size, is_csv, origin
from bot.memory import KeyedLocks, SeenKeys
from bot.message_options import _plain
from experimentos.power_args import PowerArgsError, parse_power_args


@pytest.mark.parametrize(
    ("text", "baseline", "mde", "relative"),
    [
        ("baseline=10% mde=1pp", 0.10, 0.01, False),
        ("baseline=0.10 mde=0.01", 0.10, 0.01, False),
        ("baseline=10% mde=1%", 0.10, 0.01, False),
        ("baseline=10% mde=5% relative", 0.10, 0.05, True),
        ("baseline = 10% mde = 0.05 relative", 0.10, 0.05, True),
        ("baseline=25.3 sd=12 mde=0.5", 25.3, 0.5, False),
    ],
)
def test_power_forms(text: str, baseline: float, mde: float, relative: bool) -> None:
    request = parse_power_args(text)
    assert request.baseline == pytest.approx(baseline)
    assert request.mde == pytest.approx(mde)
    assert request.relative is relative


def test_power_optional_parameters() -> None:
    request = parse_power_args(
        "baseline=10% mde=1pp alpha=5% power=90% variants=3 split=40/30/30 daily=20k looks=5 spending=pocock"
    )
    assert (request.alpha, request.power, request.variants) == (0.05, pytest.approx(0.9), 3)
    assert request.split == pytest.approx((0.4, 0.3, 0.3))
    assert request.daily_users == 20_000
    assert (request.looks, request.spending) == (5, "pocock")
    assert request.as_kwargs()["daily_users"] == 20_000


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Missing baseline and mde"),
        ("baseline=150% mde=1pp", "not a conversion rate"),
        ("baseline=10% mde=0", "greater than 0"),
        ("baseline=10% mde=1pp relative", "percentage points"),
        ("baseline=10% mde=1pp power=1.5", "power=1.5 must be between 0 and 1"),
        ("baseline=10% mde=1pp variants=1", "at least 2"),
        ("baseline=10% mde=1pp variants=2.5", "whole number"),
        ("baseline=10% mde=1pp split=50", "at least two positive parts"),
        ("baseline=10% mde=1pp split=a/b", "must look like 50/50"),
        ("baseline=10% mde=1pp variants=3 split=50/50", "split has 2 parts but variants=3"),
        ("baseline=10% mde=1pp daily=-5", "positive number"),
        ("baseline=ten mde=1pp", "baseline=ten is not a number"),
        ("baseline=10% mde=1pp spending=linear", "obf"),
        ("baseline=10% mde=1pp please", "I don't understand `please`"),
        ("baseline=10% mde=", "needs a value"),
    ],
)
def test_power_errors_say_what_to_write(text: str, fragment: str) -> None:
    with pytest.raises(PowerArgsError, match=None) as caught:
        parse_power_args(text)
    assert fragment in str(caught.value)


def test_token_hosts() -> None:
    hosts = TokenHosts.for_api("http://127.0.0.1:8080/api/")
    assert hosts.allows("https://files.slack.com/files-pri/T1-F1/download/a.csv")
    assert hosts.allows("https://FILES.slack.com:443/x")
    assert hosts.allows("http://127.0.0.1:8080/files/F1/a.csv")
    assert not hosts.allows("http://127.0.0.1:8081/files/F1/a.csv")
    assert not hosts.allows("http://files.slack.com/x")  # not https
    assert not hosts.allows("https://files.slack.com.evil.example/x")
    assert not hosts.allows("https://evil.example/?files.slack.com")
    assert origin("https://files.slack.com/x") == ("https", "files.slack.com")


def test_csv_detection() -> None:
    assert is_csv({"filetype": "csv", "name": "x"})
    assert is_csv({"name": "Results.CSV"})
    assert is_csv({"mimetype": "text/csv"})
    assert not is_csv({"name": "memo.md", "filetype": "markdown"})


def test_content_checks() -> None:
    check_content(b"variant,users\n", blank=False)
    with pytest.raises(FileProblem, match="empty"):
        check_content(b" \n", blank=True)
    with pytest.raises(FileProblem, match="empty"):  # empty first: an empty HTML answer
        check_content(b"", "text/html", blank=True)
    with pytest.raises(FileProblem, match="web page"):
        check_content(b"\xef\xbb\xbf  <!doctype html><html>", blank=False)
    with pytest.raises(FileProblem, match="web page"):
        check_content(b"a,b\n", "text/html; charset=utf-8", blank=False)
    with pytest.raises(FileProblem, match=r"4.8 MB and I analyse files up to 1.0 MB"):
        check_declared_size({"size": 5_000_000}, 1_048_576)


def test_seen_keys_are_bounded() -> None:
    seen = SeenKeys(max_items=3)
    assert seen.claim("a") and not seen.claim("a")
    for key in "bcd":
        seen.claim(key)
    assert "a" not in seen and seen.claim("a")
    assert seen.duplicates == 1


async def test_keyed_locks_serialise_one_key_and_forget_it_after() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def work(key: str, name: str, pause: float) -> None:
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(pause)
            order.append(f"{name}-")

    await asyncio.gather(work("t1", "a", 0.05), work("t1", "b", 0), work("t2", "c", 0))
    assert order.index("a-") < order.index("b+")  # same thread: one after the other
    assert order.index("c+") < order.index("a-")  # another thread does not wait
    assert len(locks) == 0


def test_message_text_is_read_as_typed() -> None:
    assert _plain("name: A &amp; B &lt;3") == "name: A & B <3"
    assert _plain("see <https://x.example|the doc> and <@U1>") == "see the doc and @U1"
