"""Writing a planned chat completion to the connection, buffered or streamed, faults applied."""

from __future__ import annotations

import asyncio
from typing import Any

from ._asgi import Send, send_json, start_response
from ._fault_effects import (
    KEEPALIVE,
    MALFORMED,
    DeliberateDrop,
    error_event,
    fires,
    pause,
    stall,
)
from ._faults import Faults
from ._plan import Plan, completion_bytes, stream_events

__all__ = ["write_buffered", "write_stream"]

_DONE = b"data: [DONE]\n\n"


async def write_buffered(
    request: dict[str, Any],
    plan: Plan,
    faults: Faults | None,
    abort: asyncio.Event | None,
    send: Send,
    request_id: str,
) -> None:
    """Send the answer as one JSON body; `abort` drops the connection during a delay or stall."""
    data = completion_bytes(request, plan)
    if faults is None:
        await send_json(send, 200, data, request_id)
        return
    await pause(faults.delay, abort)
    headers = [("content-type", "application/json"), ("x-request-id", request_id)]
    if not faults.stall_ping:
        headers.append(("content-length", str(len(data))))
    await start_response(send, 200, headers)
    if faults.stall_after is not None:
        # A buffered reply's pings are whitespace before the JSON, which JSON allows, sent
        # chunked since the length is then not the body's.
        await stall(faults, abort, send, ping=b"\n")
    if faults.disconnect_after is not None:
        await send(
            {"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True}
        )
        raise DeliberateDrop("disconnect fault")
    await send({"type": "http.response.body", "body": data, "more_body": False})


async def write_stream(
    request: dict[str, Any],
    plan: Plan,
    faults: Faults | None,
    abort: asyncio.Event | None,
    send: Send,
    request_id: str,
) -> None:
    """Send the answer as server-sent events, then ``[DONE]``; `abort` as for buffered ones."""
    events, last = stream_events(request, plan)
    await start_response(
        send,
        200,
        [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("x-request-id", request_id),
        ],
    )

    async def body(data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})

    if faults is None:
        for event in events:
            await body(event)
    else:
        for position, event in enumerate(events):
            if fires(faults.stall_after, position, last):
                await stall(faults, abort, send)
            if fires(faults.malformed_after, position, last):
                await body(MALFORMED)
            if fires(faults.error_after, position, last):
                await body(error_event(faults))
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if fires(faults.disconnect_after, position, last):
                raise DeliberateDrop("disconnect fault")
            if faults.keepalive and position > 0:
                await body(KEEPALIVE)
            await pause(faults.delay, abort)
            await body(event)
        if faults.keepalive:
            await body(KEEPALIVE)
    await send({"type": "http.response.body", "body": _DONE, "more_body": False})
