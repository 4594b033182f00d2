"""The stream a ``create(..., stream=True)`` call returns: events in, chunks and text out.

The stream consumes what its :class:`~chatsdk._call.Call` hands it: the reply, whose body an
:class:`~chatsdk._reader.EventReader` turns into events. It decodes each (:mod:`._events`), folds
them into the reply so far (:mod:`._accumulate`), and judges the end.
It never decides a retry: when it breaks before its first token it asks the call, and if the call
sends again, it reads the new reply from the start.

Example::

    stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
    async with stream:
        async for text in stream.text():
            print(text, end="", flush=True)
    # or: completion = await stream.final()
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from ._accumulate import ChunkAccumulator
from ._call import Call
from ._events import DONE, EOF, decode_event
from ._exceptions import APIError, StreamError
from ._metrics import StreamMetrics, stream_metrics
from ._models import ChatCompletion, ChatCompletionChunk
from ._reader import EventReader
from ._sse import Event
from ._text import TextIterator

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator
    from types import TracebackType

    import httpx
    from typing_extensions import Self

    from ._event_types import StreamEvent
    from ._structured import OutputFormat

__all__ = ["AsyncChatStream"]


class AsyncChatStream:
    """A live chat completion: iterate it for :class:`ChatCompletionChunk` objects.

    The stream owns its HTTP response and closes it when it ends, on ``break`` out of
    ``async with``, on error and on cancellation. ``text()`` yields the content deltas of choice
    0; ``final()`` reads what is left and returns the whole :class:`ChatCompletion`.

    A stream that ends before the server says it is complete (no ``[DONE]`` and no
    ``finish_reason``) raises :class:`StreamError`, never a silently short answer; errors the server
    reports inside the stream raise :class:`StreamError` too, with ``partial_text`` holding what
    arrived before. Until the first content arrives, a broken or rate-limited stream is retried
    like a failed request.

    A stream has one reader: a second task reading it while another waits for data gets a
    ``RuntimeError`` at once.

    Example::

        async with await client.chat.completions.create(..., stream=True) as stream:
            async for chunk in stream:
                if chunk.choices:
                    print(chunk.choices[0].delta.content or "", end="")
    """

    # Hundreds of streams may be open at once: slots keep each one small.
    __slots__ = (
        "_accumulator",
        "_call",
        "_closed",
        "_complete",
        "_done",
        "_ended_at",
        "_events",
        "_finished",
        "_first_at",
        "_format",
        "_reader",
        "_reading",
        "_trace",
    )

    def __init__(
        self, call: Call, response: httpx.Response, output_format: OutputFormat | None = None
    ) -> None:
        self._call = call
        self._format = output_format  # response_format=, when the answer is to be parsed
        self._trace = call.trace  # None unless chatsdk.instrument() is on
        self._accumulator = ChunkAccumulator()
        self._closed = False
        self._finished = False
        self._complete = False  # the server said the answer is whole
        self._reading = False  # a task is waiting for the body inside _next_payload
        self._first_at: float | None = None  # the loop's time of the first token
        self._ended_at: float | None = None
        self._attach(response)

    def _attach(self, response: httpx.Response) -> None:
        self._reader = EventReader(self._call, response)
        # Events not handled yet, last first, so that taking one is a pop from the end.
        self._events: list[Event] = []
        self._done = False

    # -- public surface ---------------------------------------------------------------------

    @property
    def response(self) -> httpx.Response:
        """The HTTP response of the current attempt (headers, status, ``x-request-id``)."""
        return self._reader.response

    @property
    def request_id(self) -> str | None:
        """The server's ``x-request-id`` for this stream, if it sent one."""
        request_id: str | None = self._reader.response.headers.get("x-request-id")
        return request_id

    @property
    def headers(self) -> httpx.Headers:
        """The HTTP response headers of the current attempt (names in any case)."""
        return self._reader.response.headers

    @property
    def attempts(self) -> int:
        """How many times the request was sent to get this stream (1 when not retried)."""
        return self._call.attempts

    @property
    def metrics(self) -> StreamMetrics:
        """What the stream took: time to first token, duration, chunks, tokens, tokens/s."""
        return stream_metrics(
            started=self._call.started_at,
            first=self._first_at,
            ended=self._ended_at,
            chunks=self._accumulator.chunks,
            usage=self._accumulator.usage,
        )

    @property
    def partial_text(self) -> str:
        """The content of choice 0 received so far."""
        return self._accumulator.text(0)

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        payload = await self._next_payload()
        if payload is None:
            raise StopAsyncIteration
        return ChatCompletionChunk(payload)

    def text(self) -> AsyncIterator[str]:
        """An async iterator of choice 0's content deltas as ``str``, empty ones skipped.

        Example::

            async for piece in stream.text():
                print(piece, end="", flush=True)
        """
        return TextIterator(self._next_payload)

    def events(self) -> AsyncIterator[StreamEvent]:
        """Typed events (:data:`StreamEvent`) from the chunks: deltas with the ``choice`` and
        the text so far, each choice's ``*.done`` events and ``choice.done``, then ``usage``.
        Read through one of ``events()``, ``text()`` or chunks; ``final()`` still works after.

        Example::

            async for event in stream.events():
                if event.type == "content.delta":
                    print(event.delta, end="", flush=True)
        """
        from ._stream_events import events

        return events(self._next_payload, self._format)

    async def final(self) -> ChatCompletion:
        """Read the rest of the stream and return the whole reply it adds up to.

        Every choice is kept by index; tool-call pieces are merged; usage comes from the usage
        chunk when the server sent one. The stream is closed afterwards. After an early
        ``aclose()`` there is no whole reply: :class:`StreamError` (``incomplete_stream``).
        With ``response_format=``: a :class:`ParsedChatCompletion`, or :class:`OutputParseError`.

        Example::

            completion = await stream.final()
            print(completion.choices[0].message.content)
        """
        while await self._next_payload() is not None:
            pass
        if not self._complete:
            raise self._call.seal(
                StreamError(
                    "The stream was closed before it ended, so final() has no whole answer; "
                    "what arrived is in partial_text.",
                    type="incomplete_stream",
                    code="incomplete_stream",
                    partial_text=self._accumulator.text(0),
                )
            )
        completion = ChatCompletion(
            self._accumulator.result(),
            request_id=self.request_id,
            attempts=self._call.attempts,
            headers=self._reader.response.headers,
            duration=self.metrics.duration,
        )
        if self._format is not None:
            from ._parsed import parse_completion

            return parse_completion(completion, self._format)
        return completion

    def to_sse(self, *, text_only: bool = False) -> AsyncGenerator[bytes, None]:
        """The stream as server-sent-event bytes for a browser; closes the stream when it ends.

        One ``data:`` event per chunk, then ``data: [DONE]``; an error becomes a last
        ``data: {"error": {...}}`` event (no key in it). ``text_only=True`` sends choice 0's text
        instead, ending with ``event: done`` (or ``event: error``). Cancelling or closing the
        iterator closes the upstream request at once. docs/web.md has the details.

        Example::

            return StreamingResponse(stream.to_sse(), media_type="text/event-stream")
        """
        from ._relay import relay

        return relay(self._next_payload, self.aclose, redact=self._call.redact, text_only=text_only)

    async def aclose(self) -> None:
        """Close the response; safe to call more than once, and shielded from cancellation.

        Example::

            await stream.aclose()   # what ``async with stream:`` does on the way out
        """
        if self._closed:
            return
        self._closed = True
        self._finished = True
        if self._ended_at is None:
            self._ended_at = self._call.clock()
        self._call.finish(self._accumulator.usage)
        self._end_trace(None)
        await self._reader.release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # No I/O here (there may be no event loop); only say that a connection was left open.
        if not getattr(self, "_closed", True):
            self._end_trace(None)
            warnings.warn(
                "AsyncChatStream was not closed; use 'async with stream:' or 'await "
                "stream.aclose()' so that its connection is released",
                ResourceWarning,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        request_id = self.request_id
        if request_id:
            request_id = self._call.redact(request_id)  # a server may echo anything in it
        return f"<AsyncChatStream {state} request_id={request_id!r}>"

    # -- the loop ------------------------------------------------------------------------------

    async def _next_payload(self) -> dict[str, Any] | None:
        """The next decoded chunk, or ``None`` once the stream is complete (and closed)."""
        if self._reading:
            raise RuntimeError(
                "Another task is already reading this stream; a stream has one reader. Read it "
                "in one task and hand its chunks or text to the others (e.g. through a memory "
                "channel or queue)."
            )
        if self._finished:
            return None
        try:
            while True:
                try:
                    events = self._events
                    while events:
                        payload = self._handle(events.pop())
                        if payload is not None:
                            return payload
                    if self._done:
                        self._complete = True
                        self._ended_at = self._call.clock()
                        self._reading = True
                        try:
                            await self._reader.drain()
                        finally:
                            self._reading = False
                        if self._trace is not None:
                            self._trace.succeed(self._accumulator.result(), self._call.attempts)
                        await self.aclose()
                        return None
                    self._reading = True
                    try:
                        read = await self._reader.read()
                    finally:
                        self._reading = False
                    if read is None:
                        read = self._reader.end()
                    read.reverse()
                    self._events = read
                except APIError as exc:
                    self._reading = True
                    try:
                        retried = await self._retry(exc)
                    finally:
                        self._reading = False
                    if not retried:
                        raise
        except APIError as exc:
            exc.partial_text = self._accumulator.text(0)
            exc.request_id = exc.request_id or self.request_id
            self._call.seal(exc)
            self._end_trace(exc)
            await self.aclose()
            raise
        except BaseException as exc:
            self._end_trace(exc)
            await self.aclose()
            raise

    def _end_trace(self, error: BaseException | None) -> None:
        """End the stream's span (once): with ``error``, or as closed by its reader."""
        trace = self._trace
        if trace is not None:
            partial = self._accumulator.result()
            if error is None:
                trace.succeed(partial, self._call.attempts)  # closed early: no error, no finish
            else:
                trace.fail(error, self._call.attempts, partial)

    def _eof(self) -> None:
        if self._accumulator.is_complete():
            self._done = True
            return
        raise StreamError(
            "The stream ended before the server said it was complete (no [DONE] and no "
            "finish_reason); the answer is cut short. What arrived is in partial_text.",
            type="incomplete_stream",
        )

    def _handle(self, event: Event) -> dict[str, Any] | None:
        decoded = decode_event(event)
        if type(decoded) is not dict:
            if decoded == DONE:
                self._done = True
                self._events.clear()
            elif decoded == EOF:
                self._eof()
            return None
        if self._done:
            return None
        accumulator = self._accumulator
        accumulator.add(decoded)
        if self._first_at is None and accumulator.has_output:
            self._first_at = self._call.clock()
        if self._trace is not None:
            self._trace.chunk()
        if accumulator.errored:
            raise StreamError(
                "The server ended a choice with finish_reason 'error'.",
                type="finish_reason_error",
                body=decoded,
            )
        return decoded

    async def _retry(self, exc: APIError) -> bool:
        """Send again after ``exc`` if nothing has been shown yet and the call's policy allows."""
        if self._accumulator.has_output or self._finished:
            return False
        # Asked before the reply is released: the policy may read its headers.
        headers = self._reader.response.headers
        await self._reader.release()
        if not await self._call.retry(exc, headers):
            return False
        response = await self._call.send()
        self._accumulator = ChunkAccumulator()
        self._attach(response)
        return True
