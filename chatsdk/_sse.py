"""Server-sent event framing: bytes in, events out. Pure, no I/O.

Line splitting and event assembly are httpx-sse's (CR, LF and CRLF line ends; ``data:`` with or
without a space; comment lines skipped). Around them this module adds what chat servers need:
bytes are always decoded as UTF-8 whatever the Content-Type says, even when a character is split
across reads; a leading byte-order mark is dropped; a bare ``error:`` field line, which the SSE
spec would ignore, becomes an ``error`` event so that it is not lost; and one event may not grow
past :data:`MAX_EVENT_CHARS`.

Example::

    parser = SSEParser()
    events = parser.feed(b'data: {"a": 1}\\n\\n')   # [ServerSentEvent(data='{"a": 1}')]
    events += parser.close()
"""

from __future__ import annotations

import codecs

from httpx_sse import ServerSentEvent
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from ._exceptions import StreamError

__all__ = ["MAX_EVENT_CHARS", "SSEParser", "ServerSentEvent"]

# No chat chunk comes near this size; a server that sends one line or event this long is broken or
# hostile, and buffering it further would only exhaust memory.
MAX_EVENT_CHARS = 8 * 1024 * 1024

_BOM = "\ufeff"


class SSEParser:
    """Incremental SSE parser; :meth:`feed` takes raw bytes as they arrive from the socket."""

    __slots__ = ("_events", "_lines", "_pending_chars", "_started", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines = SSELineDecoder()
        self._events = SSEDecoder()
        self._started = False
        self._pending_chars = 0

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """The events completed by ``data``."""
        text = self._utf8.decode(data)
        if not text:
            return []
        if not self._started:
            if text.startswith(_BOM):
                text = text[1:]
                if not text:
                    return []
            self._started = True
        return self._decode_lines(self._lines.decode(text), len(text))

    def close(self) -> list[ServerSentEvent]:
        """The events completed by the end of the stream (a last line without a line end)."""
        tail = self._utf8.decode(b"", final=True)
        lines = self._lines.decode(tail) if tail else []
        lines += self._lines.flush()
        # The SSE spec drops an event that is not closed by a blank line; a chat server that ends
        # without one still meant what it sent, so the last event is completed here.
        return self._decode_lines([*lines, ""], 0)

    def _decode_lines(self, lines: list[str], size: int) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        decoder = self._events
        for line in lines:
            if line[:6] == "error:":
                # Some servers report a failure as a bare ``error:`` field.
                message = line[6:].lstrip(" ")
                events.append(ServerSentEvent(event="error", data=message))
                continue
            event = decoder.decode(line)
            if event is not None:
                events.append(event)
        if events:
            self._pending_chars = 0
        else:
            self._pending_chars += size
            if self._pending_chars > MAX_EVENT_CHARS:
                raise StreamError(
                    f"A server-sent event grew past {MAX_EVENT_CHARS} characters without "
                    "ending; the stream was stopped to bound memory."
                )
        return events
