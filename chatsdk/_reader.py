"""One attempt's reply body as server-sent events: read through the call, framed, idle-bounded.

The reader takes the pieces of the body from its :class:`~chatsdk._call.Call` (so every read is
bounded by the call's deadline), frames them into events with :class:`~chatsdk._sse.SSEParser`,
and raises :class:`APITimeoutError` when no event has arrived for the read timeout: pings and
comments keep a socket busy but bring nothing, so they do not count. A reply that is not SSE
(a whole JSON document) is kept until its end, up to :data:`~chatsdk._body.MAX_REPLY_BYTES`, and
read as events there.

The body is read raw and handed to the parser at most :data:`~chatsdk._inflate.STEP_BYTES` at a
time: a compressed body is inflated one bounded step per :meth:`EventReader.read`
(:mod:`._inflate`), and a large piece of plain body is cut into steps too, so that a megabyte of
tiny events becomes a short list at a time, not one list of all of them.

Example::

    reader = EventReader(call, response)
    while (events := await reader.read()) is not None:
        ...                                   # the events this piece of the body completed
    events = reader.end()                     # those completed by the end, EOF_EVENT last
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from ._body import MAX_REPLY_BYTES, body_pieces
from ._events import EOF_EVENT, body_as_events
from ._exceptions import APIConnectionError, APIError, APITimeoutError, StreamError
from ._inflate import STEP_BYTES, DecodingError
from ._sse import Event, SSEParser

if TYPE_CHECKING:
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
        "_body_size",
        "_call",
        "_chunks",
        "_decoder",
        "_idle_timeout",
        "_is_sse",
        "_last_event_at",
        "_parser",
        "_rest",
        "_rest_at",
        "response",
    )

    def __init__(self, call: Call, response: httpx.Response) -> None:
        self._call = call
        self.response = response
        self._chunks, self._decoder = body_pieces(response)
        # A plain piece of body larger than a step, and where the part not yet read starts.
        self._rest = b""
        self._rest_at = 0
        self._parser = SSEParser()
        self._body_parts: list[bytes] = []
        self._body_size = 0
        self._idle_timeout = call.idle_timeout
        self._last_event_at = call.clock()
        content_type = response.headers.get("content-type", "")
        self._is_sse = "text/event-stream" in content_type or not content_type

    async def read(self) -> list[Event] | None:
        """The events completed by the next piece of the body (perhaps none); ``None`` at its
        end."""
        try:
            if self._decoder is None and not self._rest:
                # The common case, a plain body and nothing left over, takes one await.
                data = await self._call.receive(self._chunks)
                if data is not None and len(data) > STEP_BYTES:
                    self._rest = data
                    self._rest_at = STEP_BYTES
                    data = data[:STEP_BYTES]
            else:
                data = await self._next_step()
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
            self._body_size += len(data)
            if self._body_size > MAX_REPLY_BYTES:
                raise StreamError(
                    f"The reply grew past {MAX_REPLY_BYTES} bytes; reading stopped to bound "
                    "memory.",
                    type="reply_too_large",
                )
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

    async def _next_step(self) -> bytes | None:
        """The next step of the body left over or still compressed; ``None`` at its end."""
        rest = self._rest
        if rest:
            await self._checkpoint()
            start = self._rest_at
            end = self._rest_at = start + STEP_BYTES
            if end >= len(rest):
                self._rest = b""
            return rest[start:end]
        decoder = self._decoder
        assert decoder is not None
        try:
            if data := decoder.pull():
                await self._checkpoint()
                return data
            while not (data := decoder.pull()):
                raw = await self._call.receive(self._chunks)
                if raw is None:
                    tail = decoder.finish()
                    self._decoder = None  # the body has ended: the next read says so
                    return tail or None
                decoder.push(raw)
        except DecodingError as exc:
            raise StreamError(str(exc), type="invalid_encoding") from None
        return data

    async def _checkpoint(self) -> None:
        # A step of a piece already received comes without waiting on the network; a piece of
        # gzip can hold a gigabyte of tiny events, so each step is still a point where the
        # deadline is kept and the task may be cancelled or give way to others.
        with self._call.bounded():
            await anyio.lowlevel.checkpoint()

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
