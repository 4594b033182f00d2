"""Server-sent event framing: bytes in, events out. Pure, no I/O.

Lines are split by httpx-sse's line decoder (CR, LF and CRLF line ends, as the SSE spec has
them, and nothing else: U+2028 or U+0085 inside a JSON string do not end a line). Events are then
assembled here, per the spec's interpretation rules, as plain ``(event, data)`` pairs: a stream
brings one event per chunk, and building an object per event costs more CPU than the rest of the
framing. Around that, this module does what chat servers need: bytes are always decoded as UTF-8
whatever the Content-Type says, even when a character is split across reads; a leading
byte-order mark is dropped; a bare ``error:`` field line, which the spec would ignore, becomes an
``error`` event so that it is not lost; and one event may not grow past :data:`MAX_EVENT_CHARS`.

Example::

    parser = SSEParser()
    events = parser.feed(b'data: {"a": 1}\\n\\n')   # [("message", '{"a": 1}')]
    events += parser.close()
"""

from __future__ import annotations

import codecs

from httpx_sse._decoders import SSELineDecoder

from ._exceptions import StreamError

__all__ = ["MAX_EVENT_CHARS", "Event", "SSEParser"]

# No chat chunk comes near this size; a server that sends one line or event this long is broken or
# hostile, and buffering it further would only exhaust memory.
MAX_EVENT_CHARS = 8 * 1024 * 1024

Event = tuple[str, str]
"""An event's type (``"message"`` unless the server named one) and its data."""

_BOM = "\ufeff"


class SSEParser:
    """Incremental SSE parser; :meth:`feed` takes raw bytes as they arrive from the socket."""

    __slots__ = ("_data", "_event", "_lines", "_pending_chars", "_started", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines = SSELineDecoder()
        self._started = False
        self._pending_chars = 0
        # The event being assembled: its type and its data lines.
        self._event = ""
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[Event]:
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

    def close(self) -> list[Event]:
        """The events completed by the end of the stream (a last line without a line end)."""
        tail = self._utf8.decode(b"", final=True)
        lines = self._lines.decode(tail) if tail else []
        lines += self._lines.flush()
        # The spec drops an event that no blank line ends; a chat server that ends without one
        # still meant what it sent, so the last event is completed here.
        return self._decode_lines([*lines, ""], 0)

    def _decode_lines(self, lines: list[str], size: int) -> list[Event]:
        events: list[Event] = []
        for line in lines:
            if not line:
                # A blank line dispatches the event, if it has data or a type.
                if self._data or self._event:
                    events.append((self._event or "message", "\n".join(self._data)))
                    self._data = []
                    self._event = ""
                continue
            if line[0] == ":":
                continue  # a comment: keep-alive, ping, "OPENROUTER PROCESSING"
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "error":
                # Some servers report a failure as a bare ``error:`` field.
                events.append(("error", value))
            # id and retry serve browser reconnection, which a chat completion cannot use; any
            # other field is ignored, as the spec says.
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
