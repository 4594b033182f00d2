"""How :class:`Faults` act on a response: error statuses, pauses, stalls and deliberate drops."""

from __future__ import annotations

import asyncio

from ._asgi import Send, json_bytes
from ._faults import Faults
from ._validate import RequestRejected

__all__ = [
    "KEEPALIVE",
    "MALFORMED",
    "DeliberateDrop",
    "error_event",
    "fires",
    "pause",
    "stall",
    "status_error",
]

KEEPALIVE = b": keep-alive\n\n"
MALFORMED = b"data: {not json\n\n"
_PING = b": ping\n\n"


class DeliberateDrop(Exception):
    """Raised from the app to make uvicorn close the connection mid-response on purpose."""


def status_error(faults: Faults) -> RequestRejected:
    """The error answer of ``Faults(status=...)``, worded as the API words such errors."""
    status = faults.status or 500
    code: str | None
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
        message = "Rate limit reached (simulated by the chatsdk local test server)."
    elif status >= 500:
        kind, code = "server_error", ("overloaded" if status in (503, 529) else None)
        message = f"Simulated server error {status} (chatsdk local test server)."
    else:
        kind, code = "invalid_request_error", None
        message = f"Simulated error {status} (chatsdk local test server)."
    headers = []
    if faults.retry_after is not None:
        value = faults.retry_after
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # "1", not "1.0": the header is usually read as an integer
        headers.append(("retry-after", str(value)))
    return RequestRejected(
        status,
        faults.error_message or message,
        type=faults.error_type or kind,
        code=faults.error_code if faults.error_code is not None else code,
        headers=headers,
    )


def error_event(faults: Faults) -> bytes:
    """The ``data:`` event of ``Faults(error_after=...)``: an error object inside the stream."""
    error = {
        "error": {
            "message": faults.error_message
            or "The server had an error while processing your request "
            "(simulated by the chatsdk local test server).",
            "type": faults.error_type or "server_error",
            "param": None,
            "code": faults.error_code,
        }
    }
    return b"data: " + json_bytes(error) + b"\n\n"


def fires(after: int | None, position: int, last: int) -> bool:
    """Whether a fault set for `after` chunks fires before the event at `position`.

    Counts past `last` (the first finish_reason chunk) fire there, so a broken stream never
    carries a finish_reason.
    """
    return after is not None and min(after, last) == position


async def pause(seconds: float, abort: asyncio.Event | None) -> None:
    """Sleep, but drop the connection at once when the client leaves or the server stops."""
    if seconds <= 0:
        return
    if abort is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(abort.wait(), seconds)
    except asyncio.TimeoutError:
        return
    raise DeliberateDrop("client gone or server stopping")


async def stall(faults: Faults, abort: asyncio.Event | None, send: Send, ping: bytes = b"") -> None:
    """Go silent for ``faults.stall_seconds``; with ``stall_ping``, send ``ping`` that often."""
    ping = ping or _PING
    loop = asyncio.get_running_loop()
    end = loop.time() + faults.stall_seconds
    while (remaining := end - loop.time()) > 0:
        step = min(remaining, faults.stall_ping) if faults.stall_ping else remaining
        await pause(step, abort)
        if faults.stall_ping and loop.time() < end:
            await send({"type": "http.response.body", "body": ping, "more_body": True})
