"""Which download links may carry the bot token: only those every URL parser reads the same way."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from bot.files import TokenHosts, origin

API = "http://127.0.0.1:8080/api/"
ALLOWED = {("https", "files.slack.com", 443), ("http", "127.0.0.1", 8080)}


@pytest.mark.parametrize(
    "url",
    [
        "https://files.slack.com\\@evil.example/x.csv",
        "https://files.slack.com:443:80/x",
        "https://files.slack.com\\x.csv",
        "https://files.slack.com:99999/x",
        "https://files.slack.com:0/x",
        "https://files.slack.com:-1/x",
        "https://evil.example@files.slack.com/x",
        "https://files.slack.com@evil.example/x",
        "https://files%2eslack.com/x",
        "https://files.slack.com./x",
        "https://files.slack.com /x",
        "https://[::1/x",
        "ftp://files.slack.com/x",
        "//files.slack.com/x",
        "files.slack.com/x",
    ],
)
def test_a_link_read_differently_by_another_parser_is_not_allowed(url: str) -> None:
    assert not TokenHosts.for_api(API).allows(url)
    with pytest.raises(ValueError):
        origin(url)


def test_plain_links_are_still_allowed() -> None:
    hosts = TokenHosts.for_api(API)
    assert hosts.allows("https://files.slack.com/files-pri/T1-F1/download/a.csv?x=1#y")
    assert hosts.allows("https://FILES.SLACK.COM:443/x")
    assert hosts.allows("http://127.0.0.1:8080/files/F1/a.csv")
    assert origin("http://[::1]:80/x") == ("http", "[::1]")


PIECES = st.sampled_from(
    [
        "files.slack.com",
        "127.0.0.1",
        "evil.example",
        ":",
        "443",
        "8080",
        "80",
        "@",
        "\\",
        "/",
        "%2e",
        ".",
        "[",
        "]",
        "?",
        "#",
        " ",
        "\t",
        "user:pw",
    ]
)


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(
    scheme=st.sampled_from(["https://", "http://", "HTTPS://"]),
    pieces=st.lists(PIECES, min_size=1, max_size=8),
)
def test_an_allowed_link_is_one_that_aiohttp_sends_to_an_allowed_host(
    scheme: str, pieces: list[str]
) -> None:
    url = scheme + "".join(pieces)
    assert not TokenHosts.for_api(API).allows(url) or sent_to_allowed_host(url), url


def sent_to_allowed_host(url: str) -> bool:
    seen = URL(url)  # what aiohttp connects to
    return (seen.scheme, seen.host, seen.port) in ALLOWED and seen.user is None
