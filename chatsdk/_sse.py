"""Server-sent event framing: bytes in, ``(type, data)`` events out. Pure, no I/O.

Why not httpx-sse's public API: ``EventSource.aiter_sse()`` decodes the body with the charset the
Content-Type names (chat servers that send none, or the wrong one, must still be read as UTF-8),
refuses a body that is not labelled ``text/event-stream``, buffers a line of any length (a
hostile server's 50 MB line would all be held), builds an object per event (more CPU than the
rest of the framing, at one event per chunk), drops a last event that no blank line ends, and
reads the response itself, so the caller cannot bound each read by a deadline. So the framing is
done here, by the spec's rules: lines end at CR, LF or CRLF and nothing else (U+2028 or U+0085
inside a JSON string do not end a line), and events are plain ``(event, data)`` pairs.

Around that, this module does what chat servers need: bytes are always decoded as UTF-8 whatever
the Content-Type says, even when a character is split across reads; a leading byte-order mark is
dropped; a bare ``error:`` field line, which the spec would ignore, becomes an
``error`` event so that it is not lost; and one event may not grow past :data:`MAX_EVENT_CHARS`.

Example::

    parser = SSEParser()
    events = parser.feed(b'data: {"a": 1}\\n\\n')   # [("message", '{"a": 1}')]
    events += parser.close()
"""

from __future__ import annotations

import codecs

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

    __slots__ = (
        "_cr",
        "_data",
        "_event",
        "_partial",
        "_pending_chars",
        "_started",
        "_utf8",
    )

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # The start of a line whose end has not arrived, in pieces (joined once, when it ends).
        self._partial: list[str] = []
        # The last text ended in CR: an LF that opens the next one belongs to that line end.
        self._cr = False
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
        return self._decode_lines(self._split(text), len(text))

    def _split(self, text: str) -> list[str]:
        """The lines that ``text`` completes; an unfinished last line is kept for later."""
        if self._cr:
            self._cr = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            self._cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        last = lines.pop()
        if not lines:
            if last:
                self._partial.append(last)
            return lines
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = "".join(self._partial)
            self._partial = []
        if last:
            self._partial.append(last)
        return lines

    def close(self) -> list[Event]:
        """The events completed by the end of the stream (a last line without a line end)."""
        tail = self._utf8.decode(b"", final=True)
        lines = self._split(tail) if tail else []
        if self._partial:
            lines.append("".join(self._partial))
            self._partial = []
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
