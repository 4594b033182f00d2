"""One attempt's reply body as server-sent events: read through the call, framed, idle-bounded.

The reader takes the pieces of the body from its :class:`~chatsdk._call.Call` (so every read is
bounded by the call's deadline), frames them into events with :class:`~chatsdk._sse.SSEParser`,
and raises :class:`APITimeoutError` when no event has arrived for the read timeout: pings and
comments keep a socket busy but bring nothing, so they do not count. A reply that is not SSE
(a whole JSON document) is kept until its end and read as events there.

Example::

    reader = EventReader(call, response)
    while (events := await reader.read()) is not None:
        ...                                   # the events this piece of the body completed
    events = reader.end()                     # those completed by the end, EOF_EVENT last
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from ._events import EOF_EVENT, body_as_events
from ._exceptions import APIConnectionError, APIError, APITimeoutError, StreamError
from ._sse import Event, SSEParser

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx

    from ._call import Call

__all__ = ["DRAIN_BYTES", "DRAIN_SECONDS", "EventReader"]

# After [DONE] the rest of the body (usually only the end of the chunked encoding) is read for at
# most this long and this many bytes, so that the connection goes back to the pool instead of
# being closed; a server that keeps sending past [DONE] is cut off.
DRAIN_SECONDS = 0.5
DRAIN_BYTES = 64 * 1024


class EventReader:
    """The events of one reply's body, piece by piece."""

    __slots__ = (
        "_body_parts",
        "_call",
        "_chunks",
        "_idle_timeout",
        "_is_sse",
        "_last_event_at",
        "_parser",
        "response",
    )

    def __init__(self, call: Call, response: httpx.Response) -> None:
        self._call = call
        self.response = response
        self._chunks: AsyncIterator[bytes] = response.aiter_bytes()
        self._parser = SSEParser()
        self._body_parts: list[bytes] = []
        self._idle_timeout = call.idle_timeout
        self._last_event_at = call.clock()
        content_type = response.headers.get("content-type", "")
        self._is_sse = "text/event-stream" in content_type or not content_type

    async def read(self) -> list[Event] | None:
        """The events completed by the next piece of the body (perhaps none); ``None`` at its
        end."""
        try:
            data = await self._call.receive(self._chunks)
        except APITimeoutError:
            raise
        except APIConnectionError as exc:
            raise StreamError(
                f"The stream broke before it was complete: {exc.message}",
                type="connection_error",
            ) from exc.__cause__
        if data is None:
            return None
        if not self._is_sse:
            self._body_parts.append(data)
            return []
        events = self._parser.feed(data)
        now = self._call.clock()
        if events:
            self._last_event_at = now
        elif self._idle_timeout is not None and now - self._last_event_at > self._idle_timeout:
            raise APITimeoutError(
                f"No stream event for {self._idle_timeout} s (only keep-alive comments or an "
                "unfinished event arrived)."
            )
        return events

    def end(self) -> list[Event]:
        """The events completed by the end of the body, then :data:`EOF_EVENT` for an SSE body;
        a body that was not SSE, read whole."""
        if not self._is_sse:
            content_type = self.response.headers.get("content-type", "")
            return body_as_events(b"".join(self._body_parts), content_type)
        return [*self._parser.close(), EOF_EVENT]

    async def drain(self) -> None:
        """Read what follows ``[DONE]`` (briefly), so that the connection can be reused."""
        if self.response.is_stream_consumed and self.response.is_closed:
            return
        drained = 0
        with anyio.move_on_after(DRAIN_SECONDS):
            try:
                while (data := await self._call.receive(self._chunks)) is not None:
                    drained += len(data)
                    if drained > DRAIN_BYTES:
                        break
            except APIError:
                pass  # the answer is whole: a failure after it only means no reuse

    async def release(self) -> None:
        """Close the reply, even while being cancelled."""
        await self._call.release(self.response, self._chunks)
