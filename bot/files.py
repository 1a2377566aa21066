"""Slack files: which ones to analyse, downloading them safely, uploading memos.

The bot token is only ever sent to Slack's file host or the configured Web API host; a download link
that points anywhere else is refused. Downloads are capped in size, and an HTML page (what Slack
serves when the token cannot read the file) is recognised instead of being parsed as a CSV.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from yarl import URL

from bot.settings import SLACK_FILE_HOSTS

MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
WRITE_BYTES = 1024 * 1024
"""A download is written to disk in batches of about this size, each in a thread."""
HEAD_BYTES = 512
"""How much of a download's start is looked at to recognise an HTML page."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_AUTHORITY = re.compile(
    r"(?P<host>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?",
    re.IGNORECASE,
)
"""What a download link's authority may be: a host name or bracketed IP literal, and a port.
No user info (``a@b``), backslash, second port or anything else on which URL parsers disagree."""


class FileProblem(Exception):
    """A file the bot cannot analyse; ``message`` is plain text for the user (escape to show)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class TokenHosts:
    """The (scheme, host[:port]) origins allowed to receive the bot token."""

    origins: frozenset[tuple[str, str]]

    @classmethod
    def for_api(cls, api_url: str, file_hosts: Iterable[str] = SLACK_FILE_HOSTS) -> TokenHosts:
        origins = {origin(f"https://{host}/") for host in file_hosts}
        origins.add(origin(api_url))
        return cls(frozenset(origins))

    def allows(self, url: str) -> bool:
        try:
            return origin(url) in self.origins
        except ValueError:  # a link we cannot read unambiguously gets no token
            return False


def origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) with the default port dropped and the host lower-cased.

    Raises ValueError for a URL whose host is not beyond doubt: an authority with user info, a
    backslash, a second or out-of-range port, or one that aiohttp (yarl) would read differently
    from this check — the token must go to the host that was checked, not to another parser's.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    authority = _AUTHORITY.fullmatch(parts.netloc)
    if scheme not in _DEFAULT_PORTS or authority is None:
        raise ValueError(f"not an http(s) URL with a plain host: {url!r}")
    host = authority["host"].lower()
    port = int(authority["port"]) if authority["port"] else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {url!r}")
    try:
        seen_by_client = URL(url)
    except ValueError as error:
        raise ValueError(f"aiohttp cannot read {url!r}: {error}") from None
    if (
        seen_by_client.scheme != scheme
        or (seen_by_client.raw_host or "").lower() != host.strip("[]")
        or seen_by_client.port != port
        or seen_by_client.raw_user is not None
    ):
        raise ValueError(f"URL parsers disagree on the host of {url!r}")
    return scheme, host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"


def is_csv(file: Mapping[str, Any]) -> bool:
    """A CSV by Slack's filetype, the file name or the MIME type."""
    name = str(file.get("name") or file.get("title") or "").lower()
    return (
        file.get("filetype") == "csv"
        or name.endswith(".csv")
        or str(file.get("mimetype", "")).startswith("text/csv")
    )


def display_name(file: Mapping[str, Any]) -> str:
    return str(file.get("name") or file.get("title") or file.get("id") or "file.csv")


def check_declared_size(file: Mapping[str, Any], max_bytes: int) -> None:
    size = file.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise FileProblem(_too_large(size, max_bytes))
    if size == 0:
        raise FileProblem("the file is empty (0 bytes).")


async def download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    token: str,
    token_hosts: TokenHosts,
    max_bytes: int,
    destination: Path,
) -> int:
    """Stream ``url`` into the file ``destination`` with the bot token (only on an allowed host),
    following a few redirects; returns the size in bytes. FileProblem when it is not a CSV."""
    for hop in range(MAX_REDIRECTS + 1):
        if not token_hosts.allows(url):
            raise FileProblem(_foreign_host(url, redirected=hop > 0))
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status != 200:
                raise FileProblem(f"Slack answered HTTP {response.status} when I downloaded it.")
            content_type = response.headers.get("Content-Type", "")
            received = await _save_capped(response, max_bytes, destination)
        check_content(received.head, content_type, blank=received.blank)
        return received.size
    raise FileProblem("Slack redirected the download too many times.")


def _foreign_host(url: str, *, redirected: bool) -> str:
    host = _shown_host(url)
    if redirected:
        return (
            f"Slack redirected the download to `{host}` (usually its login page: my token cannot "
            "read this file). Make sure the app has `files:read` and is a member of this channel."
        )
    return (
        f"its download link points to `{host}`, which is not Slack's file host, so I did not "
        "fetch it (I only send my token to Slack)."
    )


def _shown_host(url: str) -> str:
    """The host to name in a refusal: the checked one, else the link's raw authority (shortened)."""
    try:
        return origin(url)[1]
    except ValueError:
        pass
    try:
        raw = urlsplit(url).netloc or url
    except ValueError:
        raw = url
    raw = raw.replace("`", "'")
    return raw if len(raw) <= 80 else raw[:79] + "…"


@dataclass(frozen=True, slots=True)
class Received:
    """What a download wrote: its first bytes, whether it was all whitespace, its size."""

    head: bytes
    blank: bool
    size: int


async def _save_capped(
    response: aiohttp.ClientResponse, max_bytes: int, destination: Path
) -> Received:
    """Write the body to ``destination`` in batches, off the event loop; refuse it past
    ``max_bytes``."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise FileProblem(_too_large(declared, max_bytes))
    head, blank, total, pending = b"", True, 0, 0
    batch: list[bytes] = []
    with destination.open("wb") as out:
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            total += len(chunk)
            if total > max_bytes:
                raise FileProblem(_too_large(total, max_bytes, at_least=True))
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            blank = blank and not chunk.strip()
            batch.append(chunk)
            pending += len(chunk)
            if pending >= WRITE_BYTES:
                await asyncio.to_thread(out.writelines, batch)
                batch, pending = [], 0
        await asyncio.to_thread(out.writelines, batch)
    return Received(head, blank, total)


def check_content(head: bytes, content_type: str = "", *, blank: bool) -> None:
    """Reject what is clearly not a CSV: nothing at all (``blank``: only whitespace), or an HTML
    (login) page, told by its content type or its first bytes (``head``)."""
    if blank:
        raise FileProblem("the file is empty.")
    start = head[:HEAD_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if content_type.lower().startswith("text/html") or start.startswith(
        (b"<!doctype html", b"<html")
    ):
        raise FileProblem(
            "Slack sent me a web page (a login page) instead of the file, so I could not read it. "
            "Make sure the app is installed with the `files:read` scope and is a member of this channel."
        )


def _too_large(size: int, max_bytes: int, *, at_least: bool = False) -> str:
    qualifier = "more than " if at_least else ""
    return (
        f"the file is {qualifier}{human_size(size)} and I analyse files up to {human_size(max_bytes)}. "
        "Aggregate it first (one row per variant, or per variant and segment)."
    )


def human_size(size: int) -> str:
    if size >= 1_048_576:
        return f"{size / 1_048_576:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


async def upload_memo(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str | None,
    name: str,
    markdown: str,
    html: str,
    comment: str,
) -> None:
    """Upload the memo as Markdown and HTML into the thread, in one files_upload_v2 call."""
    stem = slug(name)
    await client.files_upload_v2(
        file_uploads=[
            {
                "content": markdown,
                "filename": f"{stem}-memo.md",
                "title": f"{name} — memo (Markdown)",
            },
            {"content": html, "filename": f"{stem}-memo.html", "title": f"{name} — memo (HTML)"},
        ],
        channel=channel,
        thread_ts=thread_ts,
        initial_comment=comment,
    )


def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:60] or "experiment"


async def upload_chart(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str | None,
    png: bytes,
    name: str,
    title: str,
    alt_text: str,
) -> None:
    """Upload a PNG chart with its alt text (read by screen readers) into the thread."""
    await client.files_upload_v2(
        file=png,
        filename=f"{slug(name)}-{slug(title)}.png",
        title=f"{name} — {title}",
        alt_txt=alt_text,
        channel=channel,
        thread_ts=thread_ts,
    )
