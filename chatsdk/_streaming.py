"""The stream a ``create(..., stream=True)`` call returns.

Example::

    stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
    async with stream:
        async for text in stream.text():
            print(text, end="", flush=True)
    # or: completion = await stream.final()
"""

from __future__ import annotations

import json
import json.scanner
import time
import warnings
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from ._accumulate import ChunkAccumulator
from ._exceptions import (
    APIError,
    APITimeoutError,
    StreamError,
    error_fields,
    translate_transport_error,
)
from ._models import ChatCompletion, ChatCompletionChunk
from ._retry import is_retryable_stream_error
from ._sse import Event, SSEParser

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import TracebackType

    from ._client import _Call

__all__ = ["AsyncChatStream"]

# After [DONE] the rest of the body (usually only the end of the chunked encoding) is read for at
# most this long and this many bytes, so that the connection goes back to the pool instead of
# being closed; a server that keeps sending past [DONE] is cut off.
DRAIN_SECONDS = 0.5
DRAIN_BYTES = 64 * 1024

# Queued after the events that the end of the body completed, so that the end is judged after them.
_EOF_EVENT: Event = ("chatsdk-eof", "")

# How much of a bad data line an error message quotes.
QUOTE_CHARS = 200


# json's C scanner, called directly: json.loads adds two Python-level calls per chunk around it.
_scan_json: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _loads(data: str) -> Any:
    """``json.loads(data)``, faster on the common path; raises ``ValueError`` the same way."""
    try:
        value, end = _scan_json(data, 0)
    except (StopIteration, ValueError):
        return json.loads(data)
    if end != len(data):
        return json.loads(data)
    return value


def _quote(text: str) -> str:
    if len(text) > QUOTE_CHARS:
        return repr(text[:QUOTE_CHARS]) + "..."
    return repr(text)


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

    Example::

        async with await client.chat.completions.create(..., stream=True) as stream:
            async for chunk in stream:
                if chunk.choices:
                    print(chunk.choices[0].delta.content or "", end="")
    """

    # Hundreds of streams may be open at once: slots keep each one small.
    __slots__ = (
        "_accumulator",
        "_body_parts",
        "_bytes",
        "_call",
        "_closed",
        "_done",
        "_events",
        "_finished",
        "_idle_timeout",
        "_is_sse",
        "_last_event_at",
        "_parser",
        "_response",
    )

    def __init__(
        self, call: _Call, response: httpx.Response, *, idle_timeout: float | None
    ) -> None:
        self._call = call
        self._idle_timeout = idle_timeout
        self._accumulator = ChunkAccumulator()
        self._closed = False
        self._finished = False
        self._attach(response)

    def _attach(self, response: httpx.Response) -> None:
        self._response = response
        self._parser = SSEParser()
        # Events not handled yet, last first, so that taking one is a pop from the end.
        self._events: list[Event] = []
        self._bytes: AsyncIterator[bytes] = response.aiter_bytes()
        self._body_parts: list[bytes] | None = None
        self._last_event_at = time.monotonic()
        self._done = False
        content_type = response.headers.get("content-type", "")
        self._is_sse = "text/event-stream" in content_type or not content_type

    # -- public surface ---------------------------------------------------------------------

    @property
    def response(self) -> httpx.Response:
        """The HTTP response of the current attempt (headers, status, ``x-request-id``)."""
        return self._response

    @property
    def request_id(self) -> str | None:
        """The server's ``x-request-id`` for this stream, if it sent one."""
        request_id: str | None = self._response.headers.get("x-request-id")
        return request_id

    @property
    def attempts(self) -> int:
        """How many times the request was sent to get this stream (1 when not retried)."""
        return self._call.attempts

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
        return _TextIterator(self)

    async def final(self) -> ChatCompletion:
        """Read the rest of the stream and return the whole reply it adds up to.

        Every choice is kept by index; tool-call pieces are merged; usage comes from the usage
        chunk when the server sent one. The stream is closed afterwards.
        """
        while await self._next_payload() is not None:
            pass
        return ChatCompletion(self._accumulator.result())

    async def aclose(self) -> None:
        """Close the response; safe to call more than once, and shielded from cancellation."""
        if self._closed:
            return
        self._closed = True
        self._finished = True
        await self._release()

    async def _release(self) -> None:
        with anyio.CancelScope(shield=True):
            close_bytes = getattr(self._bytes, "aclose", None)
            if close_bytes is not None:
                await close_bytes()
            await self._response.aclose()

    async def __aenter__(self) -> AsyncChatStream:
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
            warnings.warn(
                "AsyncChatStream was not closed; use 'async with stream:' or 'await "
                "stream.aclose()' so that its connection is released",
                ResourceWarning,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AsyncChatStream {state} request_id={self.request_id!r}>"

    # -- the loop ------------------------------------------------------------------------------

    async def _next_payload(self) -> dict[str, Any] | None:
        """The next decoded chunk, or ``None`` once the stream is complete (and closed)."""
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
                        await self._drain()
                        await self.aclose()
                        return None
                    if not await self._read():
                        self._end_of_body()
                except APIError as exc:
                    if not await self._retry(exc):
                        raise
        except APIError as exc:
            exc.partial_text = self._accumulator.text(0)
            exc.attempts = max(exc.attempts, self._call.attempts)
            await self.aclose()
            raise
        except BaseException:
            await self.aclose()
            raise

    async def _read(self) -> bool:
        """Read the next piece of the body into the event queue; False at its end."""
        try:
            deadline = self._call.deadline_at
            if deadline is None:
                data = await self._bytes.__anext__()
            else:
                with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
                    data = await self._bytes.__anext__()
        except StopAsyncIteration:
            return False
        except TimeoutError:
            raise APITimeoutError(
                f"The deadline of {self._call.deadline} s passed while the stream was open."
            ) from None
        except httpx.HTTPError as exc:
            raise self._broken(exc) from exc
        if not self._is_sse:
            if self._body_parts is None:
                self._body_parts = []
            self._body_parts.append(data)
            return True
        events = self._parser.feed(data)
        now = time.monotonic()
        if events:
            events.reverse()
            self._events = events
            self._last_event_at = now
        elif self._idle_timeout is not None and now - self._last_event_at > self._idle_timeout:
            # Comments and pings keep the socket busy but bring nothing; they do not count.
            raise APITimeoutError(
                f"No stream event for {self._idle_timeout} s (only keep-alive comments or an "
                "unfinished event arrived)."
            )
        return True

    def _broken(self, exc: httpx.HTTPError) -> APIError:
        error = translate_transport_error(exc)
        if isinstance(error, APITimeoutError):
            return error
        return StreamError(
            f"The stream broke before it was complete: {error.message}",
            type="connection_error",
        )

    def _end_of_body(self) -> None:
        if not self._is_sse:
            events = self._body_as_events()
        else:
            events = self._parser.close()
            if not events:
                self._eof()
                return
            # Events completed by the end of the body are handled before the end is judged.
            events.append(_EOF_EVENT)
        events.reverse()
        self._events = events

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
        name, data = event
        if name != "message":
            if name == "error":
                raise self._error_event(data)
            if name == "chatsdk-eof":
                self._eof()
                return None
        if not data:
            return None
        if data == "[DONE]":
            self._done = True
            self._events.clear()
            return None
        if self._done:
            return None
        try:
            payload = _loads(data)
        except ValueError:
            raise StreamError(
                f"The server sent a data line that is not JSON: {_quote(data)}",
                type="invalid_data",
                body=data,
            ) from None
        if type(payload) is not dict:
            raise StreamError(
                f"The server sent a data line that is not a JSON object: {_quote(data)}",
                type="invalid_data",
                body=payload,
            )
        if payload.get("error"):
            raise self._error_payload(payload)
        accumulator = self._accumulator
        accumulator.add(payload)
        if accumulator.errored:
            raise StreamError(
                "The server ended a choice with finish_reason 'error'.",
                type="finish_reason_error",
                body=payload,
            )
        return payload

    def _error_event(self, data: str) -> StreamError:
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            return self._error_payload(payload)
        return StreamError(
            f"The server reported an error in the stream: {data or '(no message)'}",
            type="error_event",
            body=data,
        )

    def _error_payload(self, payload: dict[str, Any]) -> StreamError:
        fields = error_fields(payload) or {
            "message": json.dumps(payload, ensure_ascii=False)[:QUOTE_CHARS],
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

    # -- non-SSE replies to a stream request -------------------------------------------------

    def _body_as_events(self) -> list[Event]:
        """A 200 reply that is not SSE: a whole ``chat.completion`` becomes one chunk."""
        raw = b"".join(self._body_parts or ())
        text = raw.decode("utf-8", errors="replace")
        content_type = self._response.headers.get("content-type", "")
        try:
            payload = json.loads(text)
        except ValueError:
            raise StreamError(
                f"Expected a text/event-stream reply, got {content_type!r}: {_quote(text)}",
                type="invalid_content_type",
                body=text,
            ) from None
        if isinstance(payload, dict) and "choices" not in payload:
            fields = error_fields(payload)
            if fields is not None:
                raise self._error_payload(payload)
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise StreamError(
                f"Expected a text/event-stream reply, got {content_type!r}: {_quote(text)}",
                type="invalid_content_type",
                body=payload,
            )
        # Each choice's message becomes the delta of one chunk, so iteration, text() and final()
        # see the reply as a stream that arrived in one piece.
        choices = [
            {
                "index": choice.get("index", 0),
                "delta": choice.get("message") or {},
                "logprobs": choice.get("logprobs"),
                "finish_reason": choice.get("finish_reason"),
            }
            for choice in payload["choices"]
            if isinstance(choice, dict)
        ]
        as_chunk = dict(payload, object="chat.completion.chunk", choices=choices)
        data = json.dumps(as_chunk, ensure_ascii=False)
        return [("message", data), ("message", "[DONE]")]

    # -- connection handling -----------------------------------------------------------------

    async def _drain(self) -> None:
        """Read what follows [DONE] (briefly) so that the connection can be reused."""
        if self._response.is_stream_consumed and self._response.is_closed:
            return
        drained = 0
        with anyio.move_on_after(DRAIN_SECONDS):
            try:
                async for data in self._bytes:
                    drained += len(data)
                    if drained > DRAIN_BYTES:
                        break
            except httpx.HTTPError:
                pass

    async def _retry(self, exc: APIError) -> bool:
        """Reconnect after ``exc`` if nothing has been shown yet and the policy allows it."""
        if self._accumulator.has_output or self._finished:
            return False
        if isinstance(exc, StreamError):
            retryable = exc.type in ("connection_error", "incomplete_stream") or (
                is_retryable_stream_error(exc.type, exc.code)
            )
            if not retryable:
                return False
        elif not isinstance(exc, APITimeoutError):
            return False
        if not self._call.can_retry():
            return False
        await self._release()
        if not await self._call.wait_before_retry(self._response.headers, str(exc)):
            return False
        response = await self._call.open()
        self._accumulator = ChunkAccumulator()
        self._attach(response)
        return True


class _TextIterator:
    """``stream.text()``: content deltas of choice 0, read straight from the decoded JSON."""

    __slots__ = ("_stream",)

    def __init__(self, stream: AsyncChatStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _TextIterator:
        return self

    async def __anext__(self) -> str:
        next_payload = self._stream._next_payload
        while True:
            payload = await next_payload()
            if payload is None:
                raise StopAsyncIteration
            for choice in payload.get("choices") or ():
                if choice.get("index", 0) == 0:
                    delta = choice.get("delta")
                    if delta:
                        content = delta.get("content")
                        if content:
                            return str(content)
