"""Writing a planned chat completion to the connection, buffered or streamed, faults applied."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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

__all__ = ["Pace", "write_buffered", "write_stream"]

_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Pace:
    """How fast answers come: seconds before the first token, then between tokens."""

    first_token: float = 0.0
    between_tokens: float = 0.0


async def write_buffered(
    request: dict[str, Any],
    plan: Plan,
    faults: Faults | None,
    abort: asyncio.Event | None,
    send: Send,
    request_id: str,
    pace: Pace | None = None,
) -> None:
    """Send the answer as one JSON body; `abort` drops the connection during a delay or stall."""
    data = completion_bytes(request, plan)
    if pace is not None:
        await pause(pace.first_token + pace.between_tokens * plan.completion_tokens, abort)
    if faults is None:
        await send_json(send, 200, data, request_id)
        return
    if faults.malformed_after is not None:
        data = data[: len(data) // 2]  # a body cut short: not JSON
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
    pace: Pace | None = None,
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

    if faults is None and pace is None:
        for event in events:
            await body(event)
    else:
        faults = faults or Faults()
        for position, event in enumerate(events):
            if pace is not None:
                wait = pace.first_token if position == 0 else pace.between_tokens
                await pause(wait if position < last else 0.0, abort)
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
