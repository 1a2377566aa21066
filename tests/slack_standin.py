"""A local stand-in of the Slack Web API, for tests and benchmarks (real HTTP on 127.0.0.1).

It reads arguments from JSON bodies, form bodies and query strings (slack_sdk uses all three),
serves file downloads (the CSV with a valid bearer token, an HTML login page without), implements
the methods the bot calls, can answer 429 with Retry-After, and records every call with its headers.

A second listening port, ``foreign_url``, plays "a host that is not Slack" for token-leak tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_TOKEN = "xoxb-standin-0000-secret"
APP_TOKEN = "xapp-standin-0000-secret"
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    port: int
    at: float = field(default_factory=time.monotonic)


@dataclass
class Message:
    channel: str
    ts: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]]
    updates: int = 0


@dataclass
class StoredFile:
    id: str
    name: str
    content: bytes
    filetype: str
    shares: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


class SlackStandIn:
    def __init__(self, *, bot_token: str = BOT_TOKEN, team_id: str = "T0STANDIN") -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = "UBOT"
        self.bot_id = "BBOT"
        self.app_token = APP_TOKEN
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_replies: list[dict[str, Any]] = []
        self.downloads_need_login = False
        self.downloads_redirect_to: str | None = None
        """A URL: file downloads answer 302 to it (what Slack does for a token it rejects)."""
        """True: file downloads answer with the login page even with the right token."""
        self.calls: list[Call] = []
        self.downloads: list[Call] = []
        self.downloads_completed = 0
        self.messages: list[Message] = []
        self.deleted: list[Message] = []
        """Messages removed by chat.delete (no longer in ``messages``)."""
        self.responses: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.upload_bodies: dict[str, bytes] = {}
        self.files: dict[str, StoredFile] = {}
        self._failures: dict[str, list[tuple[int, int, str]]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.foreign_port = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> SlackStandIn:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files/{file_id}/{name}", self._download)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{response_id}", self._response)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = await self._listen()
        self.foreign_port = await self._listen()
        return self

    async def _listen(self) -> int:
        assert self._runner is not None
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.base_url + "api/"

    @property
    def foreign_url(self) -> str:
        return f"http://127.0.0.1:{self.foreign_port}/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base_url}response/{name}"

    # ------------------------------------------------------------------ test controls

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        error: str = "ratelimited",
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status`` (429: with Retry-After)
        and ``{"ok": false, "error": error}``."""
        self._failures.setdefault(method, []).extend([(status, retry_after, error)] * times)

    def add_file(
        self, name: str, content: bytes, *, filetype: str | None = None, foreign: bool = False
    ) -> dict[str, Any]:
        """Store a file; returns the file object as a ``file_share`` message event carries it."""
        file_id = f"F{next(self._ids):08d}"
        kind = filetype or (name.rsplit(".", 1)[-1].lower() if "." in name else "binary")
        self.files[file_id] = StoredFile(file_id, name, content, kind)
        return self.file_object(file_id, foreign=foreign)

    def file_object(self, file_id: str, *, foreign: bool = False) -> dict[str, Any]:
        stored = self.files[file_id]
        base = self.foreign_url if foreign else self.base_url
        url = f"{base}files/{file_id}/{stored.name}"
        return {
            "id": file_id,
            "name": stored.name,
            "title": stored.name,
            "mimetype": "text/csv" if stored.filetype == "csv" else "application/octet-stream",
            "filetype": stored.filetype,
            "size": len(stored.content),
            "mode": "hosted",
            "url_private": url,
            "url_private_download": url + "?download=1",
            "shares": stored.shares,
        }

    def share(self, file_id: str, channel: str, ts: str, *, private: bool = False) -> None:
        kind = "private" if private else "public"
        self.files[file_id].shares.setdefault(kind, {}).setdefault(channel, []).append({"ts": ts})

    def next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    # ------------------------------------------------------------------ queries

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts == thread_ts]

    def cards(self, channel: str, thread_ts: str) -> list[Message]:
        """Messages in the thread that are verdict cards (their first block is a header)."""
        return [
            m
            for m in self.thread(channel, thread_ts)
            if m.blocks and m.blocks[0].get("type") == "header" and "Details" not in _header(m)
        ]

    async def wait_for(self, predicate: Callable[[], Any], *, within_s: float = 60.0) -> Any:
        """Poll until ``predicate()`` is truthy; a generous limit, for a noisy machine."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError(f"gave up after {within_s:.0f}s waiting for {predicate}")

    # ------------------------------------------------------------------ HTTP handlers

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        self.calls.append(Call(method, args, dict(request.headers), _port(request)))
        failures = self._failures.get(method)
        if failures:
            status, retry_after, error = failures.pop(0)
            headers = {"Retry-After": str(retry_after)} if status == 429 else {}
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        token = _bearer(request) or args.get("token")
        if method == "apps.connections.open":
            ok = token == self.app_token
            url = f"ws://127.0.0.1:{self.port}/socket"
            return web.json_response(
                {"ok": True, "url": url} if ok else {"ok": False, "error": "invalid_auth"}
            )
        if token != self.bot_token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(args))

    async def _download(self, request: web.Request) -> web.Response:
        self.downloads.append(
            Call("download", dict(request.query), dict(request.headers), _port(request))
        )
        stored = self.files.get(request.match_info["file_id"])
        if self.downloads_redirect_to:
            raise web.HTTPFound(self.downloads_redirect_to)
        if stored is None or _bearer(request) != self.bot_token or self.downloads_need_login:
            return web.Response(body=LOGIN_PAGE, content_type="text/html")
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(stored.content)
        await response.prepare(request)
        await response.write(stored.content)
        await response.write_eof()
        self.downloads_completed += 1
        return response

    async def _upload(self, request: web.Request) -> web.Response:
        self.upload_bodies[request.match_info["file_id"]] = await request.read()
        self.calls.append(Call("upload", {}, dict(request.headers), _port(request)))
        return web.Response(text="OK")

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        body["_response_id"] = request.match_info["response_id"]
        self.responses.append(body)
        self.calls.append(Call("response_url", body, dict(request.headers), _port(request)))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, then record what the app sends back (envelope acks)."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                self.socket_replies.append(json.loads(message.data))
        self.sockets.remove(ws)
        return ws

    async def send_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Deliver a Socket Mode envelope (``slash_commands``, ``events_api``, ``interactive``)."""
        envelope_id = f"env-{next(self._ids)}"
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
            }
        )
        return envelope_id

    # ------------------------------------------------------------------ Web API methods

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://standin.slack.com/",
            "team": "Stand-in",
            "user": "experimentos",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        message = Message(
            channel=str(args.get("channel")),
            ts=self.next_ts(),
            thread_ts=args.get("thread_ts"),
            text=str(args.get("text") or ""),
            blocks=_json(args.get("blocks")) or [],
        )
        self.messages.append(message)
        return {
            "ok": True,
            "channel": message.channel,
            "ts": message.ts,
            "message": {"text": message.text},
        }

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        for message in self.messages:
            if message.channel == args.get("channel") and message.ts == args.get("ts"):
                message.text = str(args.get("text") or "")
                message.blocks = _json(args.get("blocks")) or []
                message.updates += 1
                return {"ok": True, "channel": message.channel, "ts": message.ts}
        return {"ok": False, "error": "message_not_found"}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        for message in self.messages:
            if message.channel == args.get("channel") and message.ts == args.get("ts"):
                self.messages.remove(message)
                self.deleted.append(message)
                return {"ok": True, "channel": message.channel, "ts": message.ts}
        return {"ok": False, "error": "message_not_found"}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self.next_ts()}

    def _m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel")), str(args.get("message_ts"))
        permalink = f"https://standin.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _m_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": _json(args.get("view"))}

    _m_views_open = _m_views_publish

    def _m_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = str(args.get("file"))
        if file_id not in self.files:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": self.file_object(file_id)}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.base_url}upload/{file_id}"}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = _json(args.get("files")) or []
        self.uploads.append({**args, "files": files})
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}


async def _arguments(request: web.Request) -> dict[str, Any]:
    """Query string, then form or JSON body (later sources win)."""
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            args.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    return args


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def _port(request: web.Request) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 0


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _header(message: Message) -> str:
    return str(message.blocks[0].get("text", {}).get("text", ""))
