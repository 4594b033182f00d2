"""What a server's reply means: a stream event's chunk, the end, an error, or a whole reply.

Pure, no I/O.

A server-sent event arrives as ``(type, data)`` from :mod:`._sse`; :func:`decode_event` turns it
into the decoded chunk (a ``dict``), :data:`DONE`, :data:`SKIP` (nothing to hand on) or raises
:class:`StreamError` for an error the server reported, in any of the dialects servers use, or for
data that is not a JSON object. :func:`body_as_events` reads a reply to a stream request that came
back as one JSON document instead of a stream, and :func:`decode_completion` the body of a whole
(buffered) reply; both check its fields' types (:mod:`._shapes`). A chunk's fields are checked
where it is folded into the reply (:class:`~chatsdk._accumulate.ChunkAccumulator`), which reads
them anyway.

Example::

    decode_event(("message", '{"choices": []}'))   # {'choices': []}
    decode_event(("message", "[DONE]"))            # DONE
    decode_event(("error", '{"message": "busy"}'))  # raises StreamError
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import _json
from ._exceptions import APIStatusError, StreamError, status_error_class
from ._shapes import ShapeError, check_completion, chunk_error

__all__ = [
    "DONE",
    "EOF",
    "EOF_EVENT",
    "SKIP",
    "body_as_events",
    "decode_completion",
    "decode_event",
    "error_fields",
    "error_payload",
    "make_status_error",
]

# Sentinels for what is not a chunk: the server's [DONE], an event that brings nothing, and the
# end of the body.
DONE: Final = "[DONE]"
SKIP: Final = ""
EOF: Final = "chatsdk-eof"

# Queued by the stream after the events that the end of the body completed, so that the end is
# judged after them.
EOF_EVENT: Final = (EOF, "")

Decoded = dict[str, Any] | str

# A status error's message quotes at most this much of a body that is not JSON (an HTML error page,
# a proxy's plain text), so that the message stays readable in a log line.
BODY_QUOTE_LIMIT = 500


def decode_event(event: tuple[str, str]) -> Decoded:
    """The chunk an event carries, :data:`DONE`, :data:`SKIP`, :data:`EOF`, or a raised
    ``StreamError``."""
    name, data = event
    if name != "message":
        if name == "error":
            raise _error_event(data)
        if name == EOF:
            return EOF
    if not data:
        return SKIP
    if data == DONE:
        return DONE
    try:
        payload = _json.loads(data)
    except ValueError as exc:
        raise StreamError(
            f"The server sent a data line that is not JSON: {_json.quote(data)} ({exc})",
            type="invalid_data",
            code="invalid_data",
            body=data,
        ) from None
    if type(payload) is not dict:
        raise StreamError(
            f"The server sent a data line that is not a JSON object: {_json.quote(data)}",
            type="invalid_data",
            code="invalid_data",
            body=payload,
        )
    if payload.get("error"):
        raise error_payload(payload)
    # Its fields are checked where it is folded in (ChunkAccumulator.add), which reads them.
    return payload


def _error_event(data: str) -> StreamError:
    try:
        payload = _json.loads(data)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        return error_payload(payload)
    return StreamError(
        f"The server reported an error in the stream: {data or '(no message)'}",
        type="error_event",
        body=data,
    )


def error_payload(payload: dict[str, Any]) -> StreamError:
    """The ``StreamError`` for an error object the server sent in a stream."""
    fields = error_fields(payload) or {
        "message": _json.dumps(payload)[: _json.QUOTE_CHARS],
        "type": None,
        "param": None,
        "code": None,
    }
    return StreamError(
        f"The server reported an error in the stream: {fields['message']}",
        type=fields["type"],
        code=fields["code"],
        param=fields["param"],
        body=payload,
    )


def body_as_events(raw: bytes, content_type: str) -> list[tuple[str, str]]:
    """A 200 reply to a stream request that is not SSE, as the events of a stream.

    A whole ``chat.completion`` becomes one chunk and ``[DONE]``, so that iteration, ``text()``
    and ``final()`` see it as a stream that arrived in one piece; an error document raises
    ``StreamError``; anything else raises ``StreamError`` of type ``invalid_content_type``.
    """
    text = raw.decode("utf-8", errors="replace")
    try:
        payload = _json.loads(text)
    except ValueError:
        raise StreamError(
            f"Expected a text/event-stream reply, got {content_type!r}: {_json.quote(text)}",
            type="invalid_content_type",
            body=text,
        ) from None
    if isinstance(payload, dict) and "choices" not in payload and error_fields(payload):
        raise error_payload(payload)
    if not isinstance(payload, dict) or "choices" not in payload:
        raise StreamError(
            f"Expected a text/event-stream reply, got {content_type!r}: {_json.quote(text)}",
            type="invalid_content_type",
            body=payload,
        )
    try:
        check_completion(payload)
    except ShapeError as exc:
        raise chunk_error(exc, payload) from None
    # Each choice's message becomes the delta of one chunk.
    choices = [
        {
            "index": choice.get("index", 0),
            "delta": choice.get("message") or {},
            "logprobs": choice.get("logprobs"),
            "finish_reason": choice.get("finish_reason"),
        }
        for choice in payload["choices"]
    ]
    as_chunk = dict(payload, object="chat.completion.chunk", choices=choices)
    return [("message", _json.dumps(as_chunk)), ("message", DONE)]


def decode_completion(content: bytes, status: int = 200) -> dict[str, Any] | None:
    """The ``chat.completion`` object a whole reply's body holds, or ``None`` if it holds none.

    A reply whose fields have the wrong types (``choices`` that is not a list, a ``message`` that
    is a string, ...) raises :class:`APIStatusError` of type ``invalid_data`` naming the field.
    """
    try:
        payload = _json.loads(content.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    if not isinstance(payload, dict) or "choices" not in payload:
        return None
    try:
        check_completion(payload)
    except ShapeError as exc:
        raise status_error_class(status)(
            f"The server answered {status} with a chat completion that cannot be read: {exc}.",
            status_code=status,
            type="invalid_data",
            param=exc.field,
            code="invalid_data",
            body=payload,
        ) from None
    return payload


def _as_optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _as_code(value: object) -> str | int | None:
    if value is None or isinstance(value, (str, int)):
        return value
    return str(value)


def error_fields(payload: object) -> dict[str, Any] | None:
    """The ``message/type/param/code`` of an error payload in any dialect servers use.

    Understands ``{"error": {...}}``, ``{"error": "text"}``, ``{"message": ...}`` and FastAPI's
    ``{"detail": ...}``; returns ``None`` when ``payload`` is not an error at all.
    """
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return {
            "message": str(message) if message else _json_text(error),
            "type": _as_optional_str(error.get("type")),
            "param": _as_optional_str(error.get("param")),
            "code": _as_code(error.get("code")),
        }
    if isinstance(error, str) and error:
        return {
            "message": error,
            "type": _as_optional_str(payload.get("type")),
            "param": _as_optional_str(payload.get("param")),
            "code": _as_code(payload.get("code")),
        }
    if "detail" in payload:
        detail = payload["detail"]
        return {
            "message": detail if isinstance(detail, str) else _json_text(detail),
            "type": None,
            "param": None,
            "code": None,
        }
    if isinstance(payload.get("message"), str) and "choices" not in payload:
        return {
            "message": payload["message"],
            "type": _as_optional_str(payload.get("type")),
            "param": _as_optional_str(payload.get("param")),
            "code": _as_code(payload.get("code")),
        }
    return None


def _json_text(value: object) -> str:
    return _json.dumps(value)[:BODY_QUOTE_LIMIT]


def make_status_error(
    status: int, reason: str, headers: Mapping[str, str], content: bytes
) -> APIStatusError:
    """The status error for a reply with this status, reason phrase, headers and body."""
    text = content.decode("utf-8", errors="replace")
    body: object = text
    fields: dict[str, Any] | None = None
    try:
        body = _json.loads(text)
    except ValueError:
        pass
    else:
        fields = error_fields(body)
    if fields is None:
        quoted = text.strip()[:BODY_QUOTE_LIMIT]
        reason = reason or "error"
        message = f"{status} {reason}: {quoted}" if quoted else f"{status} {reason}"
        fields = {"message": message, "type": None, "param": None, "code": None}
    return status_error_class(status)(
        fields["message"],
        status_code=status,
        type=fields["type"],
        param=fields["param"],
        code=fields["code"],
        body=body,
        request_id=headers.get("x-request-id"),
        headers=headers,
    )
