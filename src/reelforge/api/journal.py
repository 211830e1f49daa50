"""The request journal (`serve --scenarios`): what the API received, for an app's tests to
assert on. `GET /_reelforge/requests?since=N` lists the entries after id N (oldest first);
`DELETE` clears them.

Each entry: id, time, surface (rest or grpc), method, path, query, headers (minus
Authorization), body (JSON and forms parsed, data URLs shortened, file parts as their name and
size), key (the API key's last four characters, never the key), status, job_id. The journal is
per API process and keeps the latest MAX_ENTRIES.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_ENTRIES = 1000
DATA_URL_KEEP = 48  # characters of a data URL kept, then "...(N chars)"
TEXT_KEEP = 4096  # a body that is neither JSON nor a form: its first characters
RESPONSE_KEEP = 64 * 1024  # response bytes read for the job id
PREFIX = "/_reelforge/"
_VIDEO_PATH = re.compile(r"^/v1/videos/([^/]+)")
_NOT_IDS = {"generations", "edits", "extensions"}


class Journal:
    def __init__(self, limit: int = MAX_ENTRIES):
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append({"id": next(self._ids), "time": time.time(), **entry})

    def since(self, after: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries if e["id"] > after]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def key_hint(authorization: str | None) -> str | None:
    """Which key a request used, without the key: its last four characters."""
    _, _, key = (authorization or "").partition(" ")
    key = key.strip()
    return "..." + key[-4:] if key else None


def shortened(value: Any) -> Any:
    """`value` with every data URL cut short (recursively through lists and objects)."""
    if isinstance(value, str) and value.startswith("data:") and len(value) > DATA_URL_KEEP:
        return f"{value[:DATA_URL_KEEP]}...({len(value)} chars)"
    if isinstance(value, dict):
        return {k: shortened(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shortened(v) for v in value]
    return value


def body_of(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return shortened(json.loads(raw))
        except ValueError:
            pass
    elif kind == "application/x-www-form-urlencoded":
        return shortened(dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)))
    elif kind == "multipart/form-data" and (m := re.search(r"boundary=\"?([^\";]+)", content_type)):
        return _multipart(raw, m.group(1).encode())
    text = raw[:TEXT_KEEP].decode("utf-8", errors="replace")
    return shortened(text) + (f"...({len(raw)} bytes)" if len(raw) > TEXT_KEEP else "")


def _multipart(raw: bytes, boundary: bytes) -> dict[str, Any]:
    """Form fields as text; file parts as {filename, bytes}."""
    fields: dict[str, Any] = {}
    for part in raw.split(b"--" + boundary)[1:]:
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        content = content.removesuffix(b"\r\n")
        head_text = head.decode("latin-1")
        name = re.search(r'name="([^"]*)"', head_text)
        if name is None:
            continue
        filename = re.search(r'filename="([^"]*)"', head_text)
        if filename is not None:
            fields[name.group(1)] = {"filename": filename.group(1), "bytes": len(content)}
        else:
            fields[name.group(1)] = shortened(content.decode("utf-8", errors="replace"))
    return fields


def job_id_of(path: str, response: bytes, content_type: str) -> str | None:
    """The job a call created or read: the answer's request_id / id, else the path's id."""
    if content_type.startswith("application/json") and response:
        try:
            body = json.loads(response)
        except ValueError:
            body = None
        if isinstance(body, dict):
            if isinstance(body.get("request_id"), str):
                return body["request_id"]
            if isinstance(body.get("id"), str) and body["id"].startswith("video_"):
                return body["id"]
    match = _VIDEO_PATH.match(path)
    if match and match.group(1) not in _NOT_IDS:
        return match.group(1)
    return None


class JournalMiddleware:
    """Records every HTTP call but the journal's own and health checks."""

    def __init__(self, app: ASGIApp, journal: Journal):
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(PREFIX) or path.startswith("/health"):
            return await self.app(scope, receive, send)
        request_body = bytearray()
        response_body = bytearray()
        answer: dict[str, Any] = {"status": None, "content_type": ""}

        async def receiving() -> Message:
            message = await receive()
            request_body.extend(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = dict(message.get("headers", ()))
                answer["content_type"] = headers.get(b"content-type", b"").decode("latin-1")
            elif message["type"] == "http.response.body" and len(response_body) < RESPONSE_KEEP:
                response_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            self._record(scope, bytes(request_body), bytes(response_body), answer)

    def _record(self, scope: Scope, body: bytes, response: bytes, answer: dict) -> None:
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        authorization = headers.pop("authorization", None)
        path = scope.get("path", "")
        self.journal.add(
            {
                "surface": "rest",
                "method": scope.get("method"),
                "path": path,
                "query": scope.get("query_string", b"").decode("latin-1"),
                "headers": headers,
                "body": body_of(body, headers.get("content-type", "")),
                "key": key_hint(authorization),
                "status": answer["status"] or 500,  # None: the app raised (a 500 goes out)
                "job_id": job_id_of(path, response, answer["content_type"]),
            }
        )
