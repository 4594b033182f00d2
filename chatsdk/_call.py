"""One call's life: send, decide each retry, wait, keep the deadline, read the reply.

Every request chatsdk makes, buffered or streamed, is one :class:`Call`. It is the only place that
talks to httpx: it sends the request (never following redirects), turns an error status into its
:class:`APIStatusError`, asks the :class:`RetryPolicy` whether a failure may be retried and waits
as it says, bounds every step by the call's deadline (one path, one message), reads a whole reply
within its cap (``_body``), and hands a stream the pieces of its body one at a time. httpx's
exceptions are translated here, chained as ``__cause__``, and every error leaves through
:meth:`Call.seal`, which records the attempts and request id and takes the API key out of it.

Example::

    call = Call(http, request, policy=RetryPolicy(), deadline=None, api_key=key)
    response, content = await call.read_whole()          # a buffered reply
    response = await call.send()                         # a stream: read with call.receive()
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import anyio
import httpx

from . import _json
from ._body import MAX_ERROR_BODY_BYTES, MAX_REPLY_BYTES, TooLarge, read_capped
from ._events import make_status_error
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
)
from ._inflate import DecodingError
from ._logging import SECRET_HEADERS, logger, redact, redact_headers
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._telemetry import ChatTrace

__all__ = ["Call", "translate_transport_error"]

_DEBUG = 10  # logging.DEBUG, without importing logging on the hot path
# Failures of the request itself, found before anything reached the server: sending it again
# would fail the same way.
_LOCAL_ERRORS = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)
# How many links of an error's chain of causes are cleaned of secrets: httpx's exception, the
# httpcore one under it and the h11 one under that, with room to spare.
_MAX_CAUSES = 8


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
    asyncio = sys.modules.get("asyncio")  # not imported: no asyncio loop can be running
    if asyncio is not None:
        try:
            return asyncio.get_running_loop().time  # type: ignore[no-any-return]
        except RuntimeError:
            pass
    return anyio.current_time


class Call:
    """One logical request: its attempts, its retry policy and its deadline."""

    __slots__ = (
        "_http",
        "api_key",
        "attempts",
        "authorize",
        "clock",
        "deadline",
        "deadline_at",
        "not_found_hint",
        "policy",
        "request",
        "started_at",
        "telemetry",
        "trace",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        request: httpx.Request,
        *,
        policy: RetryPolicy,
        deadline: float | None,
        api_key: str | None,
        not_found_hint: str = "",
        authorize: Callable[[httpx.Request], Awaitable[None]] | None = None,
        telemetry: bool = True,
    ) -> None:
        self._http = http
        self.request = request
        self.policy = policy
        self.deadline = deadline
        self.clock = loop_clock()
        self.started_at = self.clock()
        self.deadline_at = None if deadline is None else self.started_at + deadline
        self.api_key = api_key
        self.not_found_hint = not_found_hint
        #: Called before each attempt to set the request's credentials (a fresh token).
        self.authorize = authorize
        self.attempts = 0
        self.telemetry = telemetry  # False: never traced, even when chatsdk.instrument() is on
        self.trace: ChatTrace | None = None

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
            await self.admit()
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
                    if self.authorize is not None:
                        await self.authorize(self.request)
                    # Redirects are never followed, even by an http_client configured to: httpx
                    # would drop Authorization on the way but not api-key style headers.
                    response = await self._http.send(
                        self.request, stream=True, follow_redirects=False
                    )
            except _LOCAL_ERRORS as exc:
                raise self.seal(
                    APIConnectionError(
                        f"The request could not be sent as HTTP and was not retried: {exc}"
                    )
                ) from exc
            except httpx.HTTPError as exc:
                error = translate_transport_error(exc)
                if await self.retry(error):
                    continue
                raise self.seal(error) from exc
            self.observe(response)
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
        if self.trace is not None:
            self.trace.retry(self.attempts, error, delay)
        await self.pause(error, delay)
        return True

    # -- what a client's limits add (``_gate``'s GatedCall); nothing for a call without them ----

    async def admit(self) -> None:
        """Before each attempt; a call under its client's limits waits here for a slot and the
        rate limit's leave."""

    def observe(self, response: httpx.Response) -> None:
        """Each reply, 2xx or not; a call under its client's limits notes the server's budget."""

    async def pause(self, error: APIError, delay: float) -> None:
        """The wait before a retry; under a rate limit, a 429's wait is every call's at once."""
        await anyio.sleep(delay)

    def finish(self, usage: object = None) -> None:
        """The call is over (its reply read, its stream closed), with the reply's ``usage``."""

    def seal(self, error: APIError) -> APIError:
        """Make ``error`` ready to leave the call: attempts recorded, secrets taken out.

        The API key, credential headers' values and a URL's password are taken out of the
        message (``args`` stays ``(message,)``), the request id, a text body, and the chain of
        exceptions behind it (an HTTP library's error may quote a header it refused).
        """
        error.attempts = max(error.attempts, self.attempts)
        secrets = self.secrets()
        error.message = redact(error.message, secrets)
        error.args = (error.message,)
        if error.request_id:
            error.request_id = redact(error.request_id, secrets)
        body = getattr(error, "body", None)
        if body is not None:
            error.body = self._redacted_body(body, secrets)  # type: ignore[attr-defined]
        cause = error.__cause__ or error.__context__
        if cause is None:
            handling = sys.exc_info()[1]  # what ``raise ... from`` is about to chain
            cause = None if handling is error else handling
        for _ in range(_MAX_CAUSES):
            if cause is None or cause is error:
                break
            cause.args = tuple(
                redact(arg, secrets) if isinstance(arg, str) else arg for arg in cause.args
            )
            if isinstance(cause, APIError):
                cause.message = redact(cause.message, secrets)
            cause = cause.__cause__ or cause.__context__
        return error

    def secrets(self) -> list[str]:
        """What must not leave the call: the API key, credential headers' values (and their
        token after ``Bearer``), the URL's password."""
        secrets = [self.api_key] if self.api_key else []
        for name, value in self.request.headers.items():
            if name.lower() in SECRET_HEADERS and value:
                secrets.append(value)
                token = value.partition(" ")[2].strip()
                if token:
                    secrets.append(token)
        password = self.request.url.password
        if password:
            secrets.append(password)
        # Longest first, so that a key inside a header's value is not half-replaced.
        return sorted(set(secrets), key=len, reverse=True)

    @staticmethod
    def _redacted_body(body: object, secrets: list[str]) -> object:
        """An error's body (text, or JSON decoded) without ``secrets``: the same object if none is
        in it."""
        if isinstance(body, str):
            return redact(body, secrets)
        try:
            text = _json.dumps(body)
        except (TypeError, ValueError, RecursionError):
            return body
        redacted = redact(text, secrets)
        if redacted is text:
            return body
        try:
            return _json.loads(redacted)
        except ValueError:
            return redacted

    def redact(self, text: str) -> str:
        """``text`` without the call's secrets in it (some servers quote the key they refused)."""
        return redact(text, self.secrets())

    # -- reading -----------------------------------------------------------------------------

    async def read_whole(self) -> tuple[httpx.Response, bytes]:
        """Send, then read the whole 2xx reply; a read that breaks is retried like a send."""
        while True:
            response = await self.send()
            try:
                with self.bounded():
                    content = await read_capped(response, MAX_REPLY_BYTES)
            except httpx.HTTPError as exc:
                await response.aclose()
                error = translate_transport_error(exc)
                if await self.retry(error):
                    continue
                raise self.seal(error) from exc
            except TooLarge:
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
                content = await read_capped(response, MAX_ERROR_BODY_BYTES, keep_head=True)
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
        if (
            response.status_code == 404
            and self.not_found_hint
            and error.code is None  # a coded 404 (model_not_found, ...) is about something else
            and error.param is None
        ):
            error.message += f" ({self.not_found_hint})"
        if (
            isinstance(error, AuthenticationError)
            and not self.api_key
            and not any(name.lower() in SECRET_HEADERS for name in self.request.headers)
        ):
            error.message += (
                " (No API key was set: pass api_key= or set the OPENAI_API_KEY environment "
                "variable.)"
            )
        self.seal(error)
        logger.debug("reply %d: %s", response.status_code, error.message)
        return error
