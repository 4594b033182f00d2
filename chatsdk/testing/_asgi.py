"""The ASGI plumbing of the local server: its types, ids, JSON bytes and sending a response."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "ASGIMessage",
    "Receive",
    "Scope",
    "Send",
    "json_bytes",
    "new_id",
    "send_json",
    "start_response",
]

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]


def new_id(prefix: str, nbytes: int = 12) -> str:
    """A random id such as ``req_0f3a...``."""
    return prefix + os.urandom(nbytes).hex()


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as the API writes it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


async def start_response(send: Send, status: int, headers: list[tuple[str, str]]) -> None:
    """Send the status line and headers; the body follows in ``http.response.body`` messages."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )


async def send_json(
    send: Send,
    status: int,
    data: bytes,
    request_id: str,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    """Send a whole JSON response: ``data`` (already encoded) with its length and request id."""
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(data))),
        ("x-request-id", request_id),
        *(extra or ()),
    ]
    await start_response(send, status, headers)
    await send({"type": "http.response.body", "body": data, "more_body": False})
