"""One call's life: send, decide each retry, wait, keep the deadline, read the reply.

Every request chatsdk makes, buffered or streamed, is one :class:`Call`. It is the only place that
talks to httpx: it sends the request (never following redirects), turns an error status into its
:class:`APIStatusError`, asks the :class:`RetryPolicy` whether a failure may be retried and waits
as it says, bounds every step by the call's deadline (one path, one message), reads a whole reply
within :data:`MAX_REPLY_BYTES`, and hands a stream the pieces of its body one at a time. httpx's
exceptions are translated here, chained as ``__cause__``, and every error leaves through
:meth:`Call.seal`, which records the attempts and request id and takes the API key out of it.

Example::

    call = Call(http, request, policy=RetryPolicy(), deadline=None, api_key=key)
    response, content = await call.read_whole()          # a buffered reply
    response = await call.send()                         # a stream: read with call.receive()
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

import anyio
import httpx

from ._events import make_status_error
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
)
from ._inflate import BodyDecoder, DecodingError, body_decoder
from ._logging import logger, redact_headers
from ._retry import RetryPolicy

__all__ = [
    "MAX_ERROR_BODY_BYTES",
    "MAX_REPLY_BYTES",
    "Call",
    "body_pieces",
    "translate_transport_error",
]

# A whole (not streamed) reply is read up to this size; past it the server is broken or hostile.
# Large enough for n=128 long answers with logprobs.
MAX_REPLY_BYTES = 64 * 1024 * 1024
# An error reply's body is read up to this size: an error message is short, and what is past it
# is not needed to say what went wrong.
MAX_ERROR_BODY_BYTES = 1024 * 1024
_DEBUG = 10  # logging.DEBUG, without importing logging on the hot path


def translate_transport_error(exc: Exception) -> APIConnectionError:
    """httpx's exception as chatsdk's; the caller chains it with ``raise ... from exc``."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out ({type(exc).__name__}).")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return APIConnectionError(f"Connection broken while reading the reply: {detail}")
    if isinstance(exc, httpx.HTTPError):
        return APIConnectionError(f"Connection error: {detail}")
    return APIConnectionError(f"Connection error: {type(exc).__name__}: {exc}")


def loop_clock() -> Callable[[], float]:
    """The running event loop's clock: the time deadlines and idle gaps are measured in.

    asyncio's own ``loop.time`` where asyncio runs (a tenth of the cost of asking anyio on each
    read); anyio's ``current_time`` elsewhere. Either way a test's virtual clock is obeyed.
    """
    try:
        return asyncio.get_running_loop().time
    except RuntimeError:
        return anyio.current_time


class _TooLarge(Exception):
    """A body grew past the bound it was read with."""


class Call:
    """One logical request: its attempts, its retry policy and its deadline."""

    __slots__ = (
        "_http",
        "api_key",
        "attempts",
        "clock",
        "deadline",
        "deadline_at",
        "policy",
        "request",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        request: httpx.Request,
        *,
        policy: RetryPolicy,
        deadline: float | None,
        api_key: str | None,
    ) -> None:
        self._http = http
        self.request = request
        self.policy = policy
        self.deadline = deadline
        self.clock = loop_clock()
        self.deadline_at = None if deadline is None else self.clock() + deadline
        self.api_key = api_key
        self.attempts = 0

    @property
    def idle_timeout(self) -> float | None:
        """The read timeout, which also bounds the gap between a stream's events."""
        timeout: float | None = self.request.extensions["timeout"].get("read")
        return timeout

    # -- the deadline: one path, one message -------------------------------------------------

    @contextmanager
    def bounded(self) -> Iterator[None]:
        """A scope that ends at the deadline, if there is one, raising the deadline's error."""
        if self.deadline_at is None:
            yield
            return
        try:
            with anyio.fail_after(max(self.deadline_at - self.clock(), 0)):
                yield
        except TimeoutError:
            raise self.seal(
                APITimeoutError(f"The request's deadline of {self.deadline} s passed.")
            ) from None

    # -- sending and retrying ----------------------------------------------------------------

    async def send(self) -> httpx.Response:
        """Send until a 2xx reply or a final error; the reply's body is left unread."""
        while True:
            self.attempts += 1
            if logger.isEnabledFor(_DEBUG):
                logger.debug(
                    "%s %s attempt %d headers=%s",
                    self.request.method,
                    self.request.url,
                    self.attempts,
                    redact_headers(self.request.headers.items()),
                )
            try:
                with self.bounded():
                    # Redirects are never followed, even by an http_client configured to: httpx
                    # would drop Authorization on the way but not api-key style headers.
                    response = await self._http.send(
                        self.request, stream=True, follow_redirects=False
                    )
            except httpx.HTTPError as exc:
                error = translate_transport_error(exc)
                if await self.retry(error):
                    continue
                raise self.seal(error) from exc
            if response.status_code < 300:
                return response
            status_error = await self._status_error(response)
            if await self.retry(status_error, response.headers):
                continue
            raise self.seal(status_error)

    async def retry(self, error: APIError, headers: Mapping[str, str] | None = None) -> bool:
        """Wait before sending again after ``error``; False when the policy or deadline say no.

        The only place where a retry is decided, for a failed send, a whole reply that broke
        while being read, and a stream that broke before its first token.
        """
        policy = self.policy
        if self.attempts > policy.max_retries or not policy.retries(error, headers):
            return False
        delay = policy.delay(self.attempts, headers or {}, time.time(), random.random())
        if self.deadline_at is not None and self.clock() + delay >= self.deadline_at:
            return False
        logger.info(
            "retrying %s %s in %.2f s (attempt %d of %d failed: %s)",
            self.request.method,
            self.request.url,
            delay,
            self.attempts,
            policy.max_retries + 1,
            self.redact(str(error.message)),
        )
        await anyio.sleep(delay)
        return True

    def seal(self, error: APIError) -> APIError:
        """Make ``error`` ready to leave the call: attempts recorded, the API key taken out."""
        error.attempts = max(error.attempts, self.attempts)
        error.message = self.redact(error.message)
        error.args = (error.message,)
        return error

    def redact(self, text: str) -> str:
        """``text`` without the API key in it (some servers quote the key they refused)."""
        if self.api_key and self.api_key in text:
            return text.replace(self.api_key, "<redacted>")
        return text

    # -- reading -----------------------------------------------------------------------------

    async def read_whole(self) -> tuple[httpx.Response, bytes]:
        """Send, then read the whole 2xx reply; a read that breaks is retried like a send."""
        while True:
            response = await self.send()
            try:
                with self.bounded():
                    content = await _read_capped(response, MAX_REPLY_BYTES)
            except httpx.HTTPError as exc:
                await response.aclose()
                error = translate_transport_error(exc)
                if await self.retry(error):
                    continue
                raise self.seal(error) from exc
            except _TooLarge:
                raise self.seal(
                    APIConnectionError(
                        f"The reply grew past {MAX_REPLY_BYTES} bytes; reading stopped to bound "
                        "memory."
                    )
                ) from None
            except DecodingError as exc:
                raise self.seal(
                    APIConnectionError(f"The reply's body could not be read: {exc}")
                ) from None
            except BaseException:
                await response.aclose()
                raise
            return response, content

    async def receive(self, chunks: AsyncIterator[bytes]) -> bytes | None:
        """The next piece of a streamed body, ``None`` at its end; bounded by the deadline."""
        try:
            if self.deadline_at is None:
                return await chunks.__anext__()
            with self.bounded():
                return await chunks.__anext__()
        except StopAsyncIteration:
            return None
        except httpx.HTTPError as exc:
            raise translate_transport_error(exc) from exc

    @staticmethod
    async def release(response: httpx.Response, chunks: AsyncIterator[bytes]) -> None:
        """Close a reply and its body iterator, even while being cancelled."""
        with anyio.CancelScope(shield=True):
            close_chunks = getattr(chunks, "aclose", None)
            if close_chunks is not None:
                await close_chunks()
            await response.aclose()

    async def _status_error(self, response: httpx.Response) -> APIStatusError:
        try:
            with self.bounded():
                content = await _read_capped(response, MAX_ERROR_BODY_BYTES, keep_head=True)
        except (httpx.HTTPError, APITimeoutError):
            content = b""
        finally:
            await response.aclose()
        error = make_status_error(
            response.status_code, response.reason_phrase, response.headers, content
        )
        error.attempts = self.attempts
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "")
            error.message = (
                f"The server redirected to {location!r}; redirects are not followed, so that the "
                "API key is not sent elsewhere. Set base_url to the final address."
            )
        if isinstance(error, AuthenticationError) and not self.api_key:
            error.message += (
                " (No API key was set: pass api_key= or set the OPENAI_API_KEY environment "
                "variable.)"
            )
        self.seal(error)
        logger.debug("reply %d: %s", response.status_code, error.message)
        return error


def body_pieces(response: httpx.Response) -> tuple[AsyncIterator[bytes], BodyDecoder | None]:
    """The raw pieces of a reply's body, and the decoder that undoes its Content-Encoding in
    bounded steps (``None`` for a plain body)."""
    if response.is_stream_consumed:
        # Built in memory and read already (as a test's transport hands it over): httpx has
        # decoded it, and holds it whole.
        return response.aiter_bytes(), None
    return response.aiter_raw(), body_decoder(response.headers.get("content-encoding", ""))


async def _read_capped(response: httpx.Response, limit: int, *, keep_head: bool = False) -> bytes:
    """The body of ``response`` up to ``limit`` bytes, decoded: past it, ``_TooLarge`` or (with
    ``keep_head``) the first ``limit`` bytes. A compressed body is inflated one bounded step at a
    time, so no more than ``limit`` and one step is ever held."""
    chunks, decoder = body_pieces(response)
    parts: list[bytes] = []
    size = 0
    try:
        async for raw in chunks:
            if decoder is None:
                steps: Iterable[bytes] = (raw,)
            else:
                decoder.push(raw)
                steps = iter(decoder.pull, b"")
            for part in steps:
                size += len(part)
                if size > limit:
                    await response.aclose()
                    if keep_head:
                        parts.append(part[: len(part) - (size - limit)])
                        return b"".join(parts)
                    raise _TooLarge
                parts.append(part)
        if decoder is not None:
            parts.append(decoder.finish())
    except DecodingError:
        await response.aclose()
        if keep_head:
            return b"".join(parts)[:limit]  # an error reply: what could be read says enough
        raise
    return b"".join(parts)
