"""A stream relayed as server-sent events: the bytes ``AsyncChatStream.to_sse()`` yields.

The encoding is pure (:func:`chunk_event`, :func:`text_event`, :func:`error_event`); :func:`relay`
pulls decoded chunks from a stream and yields them encoded, and closes the stream however the
relay ends: at the end, on an error, when the consumer is cancelled (a web framework does that
when the browser goes away) or closes the iterator early. It knows the stream only by the two
callables it is given, so it never imports the stream's module.

Two forms::

    JSON (default)     data: {chunk JSON}        one event per chunk, as the API sent it
                       data: [DONE]              the end; missing when the stream failed
                       data: {"error": {...}}    an error, always the last event
    text_only=True     data: <content delta>     choice 0's text; a line break starts a new
                                                 data: line, as SSE requires
                       event: done               the end (data: [DONE])
                       event: error              an error (data: {"error": {...}})

Example::

    async for event in relay(stream._next_payload, stream.aclose, redact=str):
        await send(event)
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from . import _json
from ._events import error_fields
from ._exceptions import APIConnectionError, APIError, APITimeoutError, StreamError

__all__ = [
    "DONE_EVENT",
    "TEXT_DONE_EVENT",
    "chunk_event",
    "error_body",
    "error_event",
    "relay",
    "text_event",
]

DONE_EVENT = b"data: [DONE]\n\n"
TEXT_DONE_EVENT = b"event: done\ndata: [DONE]\n\n"
# SSE ends a line at CR, LF or CRLF; each line of a text delta becomes its own data: line.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def chunk_event(payload: dict[str, Any]) -> bytes:
    """One ``data:`` event holding a chunk's JSON (``ValueError`` for NaN or infinity in it).

    Example::

        chunk_event({"choices": []})   # b'data: {"choices":[]}\\n\\n'
    """
    return b"data: " + _json.dumps(payload).encode() + b"\n\n"


def text_event(text: str) -> bytes:
    """One event holding ``text``; a browser's ``EventSource`` hands back ``text`` (CRs as LF).

    Example::

        text_event("a\\nb")   # b'data: a\\ndata: b\\n\\n'
    """
    lines = _LINE_BREAK.split(text)
    return "".join(f"data: {line}\n" for line in lines).encode() + b"\n"


def error_body(error: APIError, redact: Callable[[str], str]) -> dict[str, Any]:
    """The API's error shape for ``error``; every string passes through ``redact`` (the key).

    The message is the server's when the server sent the error, else chatsdk's.

    Example::

        error_body(StreamError("cut", type="incomplete_stream"), str)
        # {"error": {"message": "cut", "type": "incomplete_stream", "param": None, "code": None}}
    """
    # A server's own error keeps its own words; chatsdk's wording is for chatsdk's errors.
    sent = error_fields(getattr(error, "body", None))
    fields: dict[str, Any] = {
        "message": sent["message"] if sent else error.message,
        "type": getattr(error, "type", None) or _default_type(error),
        "param": getattr(error, "param", None),
        "code": getattr(error, "code", None),
    }
    for name, value in fields.items():
        if isinstance(value, str):
            fields[name] = redact(value)
        elif not isinstance(value, (int, type(None))) or isinstance(value, bool):
            fields[name] = redact(str(value))  # whatever a server sent as a code: as text
    return {"error": fields}


def error_event(error: APIError, redact: Callable[[str], str], *, text_only: bool = False) -> bytes:
    """The last event of a relay that failed: ``data: {"error": {...}}``, named in text form.

    Example::

        error_event(StreamError("cut"), str)   # b'data: {"error":{"message":"cut",...}}\\n\\n'
    """
    data = b"data: " + _json.dumps(error_body(error, redact)).encode() + b"\n\n"
    return b"event: error\n" + data if text_only else data


def _default_type(error: APIError) -> str:
    """A ``type`` for errors that carry none, in the API's snake_case wording."""
    if isinstance(error, APITimeoutError):
        return "timeout"
    if isinstance(error, APIConnectionError):
        return "connection_error"
    if isinstance(error, StreamError):
        return "stream_error"
    return "api_error"


def _content(payload: dict[str, Any]) -> str:
    """Choice 0's content delta in a chunk, or ``""``."""
    for choice in payload.get("choices") or ():
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if content:
                    return str(content)
    return ""


async def relay(
    next_payload: Callable[[], Awaitable[dict[str, Any] | None]],
    aclose: Callable[[], Awaitable[None]],
    *,
    redact: Callable[[str], str],
    text_only: bool = False,
) -> AsyncGenerator[bytes, None]:
    """Yield a stream's chunks as SSE events until its end, then close it, whatever happened.

    ``next_payload`` returns the next decoded chunk or ``None`` at the end, and raises
    :class:`APIError` when the stream fails; ``aclose`` releases its connection.

    Example::

        events = relay(stream._next_payload, stream.aclose, redact=str, text_only=True)
    """
    try:
        while True:
            try:
                payload = await next_payload()
                if payload is None:
                    break
                if not text_only:
                    event = chunk_event(payload)
                elif text := _content(payload):
                    event = text_event(text)
                else:
                    continue
            except APIError as exc:
                yield error_event(exc, redact, text_only=text_only)
                return
            except ValueError:
                error = StreamError(
                    "A chunk held a number JSON cannot carry (NaN or infinity); the relay "
                    "stopped there.",
                    type="invalid_chunk",
                )
                yield error_event(error, redact, text_only=text_only)
                return
            yield event
        yield TEXT_DONE_EVENT if text_only else DONE_EVENT
    finally:
        # Runs on every way out: the end, an error, the consumer's cancellation or aclose().
        await aclose()
