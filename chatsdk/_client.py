"""The client: ``AsyncChatClient`` and its ``chat.completions.create``.

Example::

    import chatsdk

    async with chatsdk.AsyncChatClient() as client:     # OPENAI_API_KEY, OPENAI_BASE_URL
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}]
        )
        print(reply.choices[0].message.content)
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Literal, overload

import anyio
import httpx

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    make_status_error,
    translate_transport_error,
)
from ._logging import configure_from_env, logger, redact_headers
from ._models import ChatCompletion
from ._params import CreateParams, Message, TimeoutTypes, build_body, split_options
from ._retry import retry_delay, should_retry_status
from ._streaming import AsyncChatStream
from ._version import __version__

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Unpack

__all__ = ["AsyncChatClient", "Chat", "Completions"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Ten minutes: long enough for a slow model's whole answer, short enough that a dead server is
# noticed. It bounds connecting, each read, and the idle gap between stream events.
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 2
# httpx's default of 100 connections makes the 101st concurrent stream wait for a free one; chat
# servers are used with hundreds of streams open at once, so the pool allows 1,000, and keeps up to
# 100 idle connections alive for reuse.
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
# A whole (not streamed) reply is read up to this size; past it the server is broken or hostile.
# Large enough for n=128 long answers with logprobs.
MAX_REPLY_BYTES = 64 * 1024 * 1024


def _as_timeout(timeout: TimeoutTypes) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise TypeError(f"timeout must be seconds, an httpx.Timeout or None, not {timeout!r}.")
    return httpx.Timeout(timeout)


def _check_deadline(deadline: Any) -> float | None:
    if deadline is None:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline <= 0:
        raise TypeError(f"deadline must be a positive number of seconds or None, not {deadline!r}.")
    return float(deadline)


def _check_retries(max_retries: Any) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise TypeError(f"max_retries must be an integer >= 0, not {max_retries!r}.")
    return max_retries


async def _read_bounded(response: httpx.Response) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        size += len(part)
        if size > MAX_REPLY_BYTES:
            await response.aclose()
            raise APIConnectionError(
                f"The reply grew past {MAX_REPLY_BYTES} bytes; reading stopped to bound memory."
            )
        parts.append(part)
    return b"".join(parts)


class _Call:
    """One logical request: its attempts, its retry budget and its deadline."""

    __slots__ = (
        "_http",
        "api_key",
        "attempts",
        "deadline",
        "deadline_at",
        "max_retries",
        "request",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        request: httpx.Request,
        *,
        max_retries: int,
        deadline: float | None,
        api_key: str | None,
    ) -> None:
        self._http = http
        self.request = request
        self.max_retries = max_retries
        self.deadline = deadline
        self.deadline_at = None if deadline is None else anyio.current_time() + deadline
        self.api_key = api_key
        self.attempts = 0

    def bounded(self) -> AbstractContextManager[Any]:
        """A scope that ends at the deadline (raising ``TimeoutError``), if there is one."""
        if self.deadline_at is None:
            return nullcontext()
        return anyio.fail_at(self.deadline_at)

    def deadline_error(self) -> APITimeoutError:
        error = APITimeoutError(f"The request's deadline of {self.deadline} s passed.")
        error.attempts = self.attempts
        return error

    def can_retry(self) -> bool:
        return self.attempts <= self.max_retries

    async def wait_before_retry(self, headers: Mapping[str, str], reason: str) -> bool:
        """Sleep before the next attempt; False when the deadline would pass first."""
        delay = retry_delay(self.attempts, headers, time.time(), random.random())
        if self.deadline_at is not None and anyio.current_time() + delay >= self.deadline_at:
            return False
        logger.info(
            "retrying %s %s in %.2f s (attempt %d of %d failed: %s)",
            self.request.method,
            self.request.url,
            delay,
            self.attempts,
            self.max_retries + 1,
            reason,
        )
        await anyio.sleep(delay)
        return True

    async def open(self) -> httpx.Response:
        """Send until a 2xx reply or a final error; the reply's body is left unread."""
        while True:
            self.attempts += 1
            if logger.isEnabledFor(10):
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
            except TimeoutError:
                raise self.deadline_error() from None
            except httpx.HTTPError as exc:
                await self.recover(exc)
                continue
            if response.status_code < 300:
                return response
            error = await self._status_error(response)
            if (
                self.can_retry()
                and should_retry_status(response.status_code, response.headers)
                and await self.wait_before_retry(response.headers, str(error.message))
            ):
                continue
            raise error

    async def recover(self, exc: httpx.HTTPError) -> None:
        """After a transport failure: wait for the next attempt, or raise it as chatsdk's error."""
        error = translate_transport_error(exc)
        if self.can_retry() and await self.wait_before_retry({}, str(error)):
            return
        error.attempts = self.attempts
        raise error from exc

    async def _status_error(self, response: httpx.Response) -> APIStatusError:
        try:
            with self.bounded():
                content = await response.aread()
        except (httpx.HTTPError, TimeoutError):
            content = b""
        finally:
            await response.aclose()
        error = make_status_error(response, content)
        error.attempts = self.attempts
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "")
            error.message = (
                f"The server redirected to {location!r}; redirects are not followed, so that the "
                "API key is not sent elsewhere. Set base_url to the final address."
            )
        if self.api_key and self.api_key in error.message:
            # Some servers quote the key they refused; it must not reach logs through us.
            error.message = error.message.replace(self.api_key, "<redacted>")
        if isinstance(error, AuthenticationError) and not self.api_key:
            error.message += (
                " (No API key was set: pass api_key= or set the OPENAI_API_KEY environment "
                "variable.)"
            )
        logger.debug("reply %d: %s", response.status_code, error.message)
        return error


class Completions:
    """``client.chat.completions``: the chat completion endpoint."""

    def __init__(self, client: AsyncChatClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: Literal[False] = False,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: Literal[True],
        **params: Unpack[CreateParams],
    ) -> AsyncChatStream: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: bool,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion | AsyncChatStream: ...

    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: bool = False,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion | AsyncChatStream:
        """Ask for a chat completion: a whole :class:`ChatCompletion`, or with ``stream=True``
        an :class:`AsyncChatStream` of chunks.

        Body parameters are those of the API (``temperature``, ``top_p``, ``n``, ``stop``,
        ``max_tokens``, ``max_completion_tokens``, ``presence_penalty``,
        ``frequency_penalty``, ``logit_bias``, ``user``, ``stream_options``, ``tools``,
        ``tool_choice``, ``response_format``, ``seed``, ``logprobs``, ``top_logprobs``,
        ``parallel_tool_calls``, ``reasoning_effort``, ...). A parameter left out is not sent;
        ``None`` is sent as ``null`` where the API accepts it. Request options:

        - ``extra_headers``: headers to add (a ``None`` value removes one);
        - ``extra_query``: query parameters; ``extra_body``: fields merged into the JSON body;
        - ``timeout``: seconds, an ``httpx.Timeout`` or ``None`` (no limit), for this request;
        - ``deadline``: seconds for the whole call, retries and the whole stream included;
        - ``max_retries``: overrides the client's.

        Example::

            reply = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Say hi"}],
                temperature=0,
            )
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        """
        body_params, options = split_options(params)
        body = build_body(model, messages, stream, body_params, options.get("extra_body"))
        return await self._client._create(body, stream, options)


class Chat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, client: AsyncChatClient) -> None:
        self.completions = Completions(client)


class AsyncChatClient:
    """An async client for a Chat Completions API.

    - ``api_key``: sent as ``Authorization: Bearer``; defaults to ``OPENAI_API_KEY``. Local servers
      that need no key can be used without one.
    - ``base_url``: defaults to ``OPENAI_BASE_URL``, then ``https://api.openai.com/v1``.
    - ``timeout``: seconds (each of connect, write, pool wait and read, and the idle gap between
      stream events), an ``httpx.Timeout``, or ``None`` for no limit.
    - ``max_retries``: retries for connection errors, timeouts, 408, 409, 429 and 5xx.
    - ``default_headers``: sent with every request.
    - ``http_client``: an ``httpx.AsyncClient`` you own; chatsdk never closes it. Otherwise the
      client owns one, closed by ``aclose()`` or ``async with``.
    - ``deadline``: seconds for a whole call, retries and streams included; ``None`` (default)
      for none.

    Example::

        async with chatsdk.AsyncChatClient(base_url="http://127.0.0.1:8000/v1") as client:
            reply = await client.chat.completions.create(
                model="local", messages=[{"role": "user", "content": "Hi"}]
            )
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        *,
        deadline: float | None = None,
    ) -> None:
        configure_from_env()
        if api_key is None:
            api_key = os.environ.get("OPENAI_API_KEY") or None
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError(f"api_key must be a string, not {type(api_key).__name__}.")
        if base_url is None:
            base_url = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        url = httpx.URL(str(base_url).rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(
                f"base_url must be an http(s) URL such as 'https://api.openai.com/v1', not "
                f"{str(base_url)!r}."
            )
        self._api_key = api_key
        self.base_url = url
        self.timeout = _as_timeout(timeout)
        self.max_retries = _check_retries(max_retries)
        self.deadline = _check_deadline(deadline)
        self._completions_url = httpx.URL(f"{url}/chat/completions")
        headers = {
            "User-Agent": f"chatsdk/{__version__}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if default_headers:
            headers.update(default_headers)
        self._headers = headers
        self._owns_http = http_client is None
        if http_client is None:
            # Imported here: httpcore (and, through it, trio where installed) loads only when
            # a client makes its own transport, as httpx itself defers it.
            from ._pool import make_client

            http_client = make_client(limits=DEFAULT_LIMITS, timeout=self.timeout)
        self._http = http_client
        self.chat = Chat(self)

    @property
    def api_key(self) -> str | None:
        """The API key in use (never shown by ``repr()``)."""
        return self._api_key

    def __repr__(self) -> str:
        return f"<AsyncChatClient base_url={str(self.base_url)!r} max_retries={self.max_retries}>"

    async def aclose(self) -> None:
        """Close the HTTP client if chatsdk created it; a client passed in is left open."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncChatClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- sending -------------------------------------------------------------------------------

    def _prepare(self, body: dict[str, Any], stream: bool, options: dict[str, Any]) -> _Call:
        try:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"The request body cannot be sent as JSON: {exc}") from exc
        headers = self._headers
        extra_headers = options.get("extra_headers")
        if stream or extra_headers:
            headers = dict(headers)
            if stream:
                headers["Accept"] = "text/event-stream"
            if extra_headers:
                for name, value in extra_headers.items():
                    if value is None:
                        headers.pop(name, None)
                    else:
                        headers[name] = value
        timeout = _as_timeout(options["timeout"]) if "timeout" in options else self.timeout
        request = self._http.build_request(
            "POST",
            self._completions_url,
            content=content.encode(),
            headers=headers,
            params=options.get("extra_query"),
            timeout=timeout,
        )
        max_retries = self.max_retries
        if "max_retries" in options:
            max_retries = _check_retries(options["max_retries"])
        deadline = self.deadline
        if "deadline" in options:
            deadline = _check_deadline(options["deadline"])
        return _Call(
            self._http,
            request,
            max_retries=max_retries,
            deadline=deadline,
            api_key=self._api_key,
        )

    async def _create(
        self, body: dict[str, Any], stream: bool, options: dict[str, Any]
    ) -> ChatCompletion | AsyncChatStream:
        call = self._prepare(body, stream, options)
        response = await call.open()
        if stream:
            idle = call.request.extensions["timeout"].get("read")
            return AsyncChatStream(call, response, idle_timeout=idle)
        while True:
            try:
                with call.bounded():
                    content = await _read_bounded(response)
            except TimeoutError:
                await response.aclose()
                raise call.deadline_error() from None
            except httpx.HTTPError as exc:
                await response.aclose()
                await call.recover(exc)
                response = await call.open()
                continue
            except BaseException:
                await response.aclose()
                raise
            return self._completion(response, content, call)

    def _completion(
        self, response: httpx.Response, content: bytes, call: _Call
    ) -> ChatCompletion:
        try:
            payload = json.loads(content)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "choices" not in payload:
            error: APIError = make_status_error(response, content)
            if error.message.startswith(f"{response.status_code} "):
                error.message = (
                    f"The server answered {response.status_code} but not with a chat "
                    f"completion: {error.message}"
                )
            error.attempts = call.attempts
            raise error
        return ChatCompletion(payload)
