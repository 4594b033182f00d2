"""The client: its settings, its HTTP connection pool, and the resources that use them.

``AsyncChatClient`` checks its settings once, at construction, and turns each resource request
into a :class:`~chatsdk._call.Call` (:meth:`AsyncChatClient._start`); what happens to the request
after that is the call's business.

Example::

    import chatsdk

    async with chatsdk.AsyncChatClient() as client:     # OPENAI_API_KEY, OPENAI_BASE_URL
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}]
        )
        print(reply.choices[0].message.content)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from . import _json
from ._call import Call
from ._completions import Chat
from ._inflate import ACCEPT_ENCODING
from ._logging import configure_from_env
from ._options import NOT_GIVEN, TimeoutTypes, as_timeout, check_deadline, retry_policy
from ._retry import RetryPolicy
from ._version import __version__

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["AsyncChatClient"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Ten minutes: long enough for a slow model's whole answer, short enough that a dead server is
# noticed. It bounds connecting, each read, and the idle gap between stream events.
DEFAULT_TIMEOUT = 600.0
# httpx's default of 100 connections makes the 101st concurrent stream wait for a free one; chat
# servers are used with hundreds of streams open at once, so the pool allows 1,000, and keeps up to
# 100 idle connections alive for reuse.
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
_DEFAULT_RETRY = RetryPolicy()


def _merge_headers(headers: dict[str, str], changes: Mapping[str, str | None]) -> None:
    """Set each header of ``changes`` in ``headers`` (``None`` removes it); names match in any
    case, as HTTP says."""
    for name, value in changes.items():
        lower = name.lower()
        for existing in [key for key in headers if key.lower() == lower]:
            del headers[existing]
        if value is not None:
            headers[name] = value


class AsyncChatClient:
    """An async client for a Chat Completions API.

    - ``api_key``: sent as ``Authorization: Bearer``; defaults to ``OPENAI_API_KEY``. Local servers
      that need no key can be used without one.
    - ``base_url``: defaults to ``OPENAI_BASE_URL``, then ``https://api.openai.com/v1``.
    - ``timeout``: seconds (each of connect, write, pool wait and read, and the idle gap between
      stream events), an ``httpx.Timeout``, or ``None`` for no limit.
    - ``max_retries``: retries for connection errors, timeouts, 408, 409, 429 and 5xx; a
      shorthand for ``retry=RetryPolicy(max_retries=...)``.
    - ``default_headers``: sent with every request.
    - ``http_client``: an ``httpx.AsyncClient`` you own; chatsdk never closes it. Otherwise the
      client owns one, closed by ``aclose()`` or ``async with``.
    - ``deadline``: seconds for a whole call, retries and streams included; ``None`` (default)
      for none.
    - ``retry``: the :class:`RetryPolicy` (delays, which statuses); each request may pass its own.

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
        max_retries: int = NOT_GIVEN,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        *,
        deadline: float | None = None,
        retry: RetryPolicy = _DEFAULT_RETRY,
    ) -> None:
        configure_from_env()
        if api_key is None:
            api_key = os.environ.get("OPENAI_API_KEY") or None
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError(f"api_key must be a string, not {type(api_key).__name__}.")
        if base_url is None:
            base_url = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        url = httpx.URL(str(base_url))
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(
                f"base_url must be an http(s) URL such as 'https://api.openai.com/v1', not "
                f"{str(base_url)!r}."
            )
        # A query in base_url (``?api-version=...``) is sent with every request, after the path.
        self._base_query = tuple(url.params.multi_items())
        url = url.copy_with(query=None, fragment=None)
        url = url.copy_with(raw_path=url.raw_path.rstrip(b"/"))
        self._api_key = api_key
        self.base_url = url
        self.timeout = as_timeout(timeout)
        self.retry = retry_policy(retry, max_retries)
        self.deadline = check_deadline(deadline)
        headers = {
            "User-Agent": f"chatsdk/{__version__}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            # Only what chatsdk can inflate in bounded steps (_inflate), whatever httpx can decode.
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if default_headers:
            _merge_headers(headers, default_headers)
        self._headers = headers
        self._urls: dict[str, httpx.URL] = {}
        self._owns_http = http_client is None
        if http_client is None:
            # Imported here: httpcore (and, through it, trio where installed) loads only when
            # a client makes its own transport, as httpx itself defers it.
            from ._pool import make_client

            http_client = make_client(limits=DEFAULT_LIMITS, timeout=self.timeout)
        self._http = http_client
        self.chat = Chat(self._start)

    @property
    def api_key(self) -> str | None:
        """The API key in use (never shown by ``repr()``)."""
        return self._api_key

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt: the client's ``retry.max_retries``."""
        return self.retry.max_retries

    def __repr__(self) -> str:
        return f"<AsyncChatClient base_url={str(self.base_url)!r} max_retries={self.max_retries}>"

    async def aclose(self) -> None:
        """Close the HTTP client if chatsdk created it; a client passed in is left open.

        Example::

            client = chatsdk.AsyncChatClient()
            try:
                ...
            finally:
                await client.aclose()
        """
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

    def _start(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        options: dict[str, Any],
        stream: bool,
    ) -> Call:
        """A call for ``method`` on ``base_url + path``, with the request options applied."""
        content: bytes | None = None
        if body is not None:
            try:
                content = _json.dumps(body).encode()
            except (TypeError, ValueError) as exc:
                raise TypeError(f"The request body cannot be sent as JSON: {exc}") from exc
        headers = self._headers
        extra_headers = options.get("extra_headers")
        if stream or extra_headers:
            headers = dict(headers)
            if stream:
                headers["Accept"] = "text/event-stream"
            if extra_headers:
                _merge_headers(headers, extra_headers)
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.base_url.copy_with(
                raw_path=self.base_url.raw_path + path.encode()
            )
        params: Any = options.get("extra_query")
        if self._base_query:
            params = [*self._base_query, *httpx.QueryParams(params).multi_items()]
        request = self._http.build_request(
            method,
            url,
            content=content,
            headers=headers,
            params=params,
            timeout=as_timeout(options["timeout"]) if "timeout" in options else self.timeout,
        )
        policy = self.retry
        if "retry" in options or "max_retries" in options:
            policy = retry_policy(
                options.get("retry", policy), options.get("max_retries", NOT_GIVEN)
            )
        deadline = check_deadline(options["deadline"]) if "deadline" in options else self.deadline
        return Call(self._http, request, policy=policy, deadline=deadline, api_key=self._api_key)
