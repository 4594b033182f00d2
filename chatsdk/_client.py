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

import copy
import os
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from . import _json
from ._call import Call
from ._completions import Chat
from ._exceptions import APIConnectionError
from ._gate import make_gate
from ._inflate import ACCEPT_ENCODING
from ._limits import RateLimit
from ._logging import SECRET_HEADERS, configure_from_env, protect
from ._loops import running_loop
from ._model_list import Models
from ._options import (
    NOT_GIVEN,
    TimeoutTypes,
    as_timeout,
    check_api_key,
    check_backend,
    check_deadline,
    check_headers,
    check_http_client,
    check_telemetry,
    connection_limits,
    retry_policy,
)
from ._retry import RetryPolicy
from ._settings import (
    closed_pool,
    has_credentials,
    merge_headers,
    not_found_hint,
    parse_base_url,
    unsendable,
)
from ._version import __version__

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["AsyncChatClient"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# The host that always needs a key: without one, a client for it is refused at construction
# rather than sending requests that can only be refused (or, offline, retried in vain).
OPENAI_HOST = "api.openai.com"
# Ten minutes: long enough for a slow model's whole answer, short enough that a dead server is
# noticed. It bounds connecting, each read, and the idle gap between stream events.
DEFAULT_TIMEOUT = 600.0
_DEFAULT_RETRY = RetryPolicy()


class AsyncChatClient:
    """An async client for a Chat Completions API.

    - ``api_key``: sent as ``Authorization: Bearer``; defaults to ``OPENAI_API_KEY``. Local servers
      that need no key can be used without one; ``api.openai.com`` cannot.
    - ``base_url``: defaults to ``OPENAI_BASE_URL``, then ``https://api.openai.com/v1``; no user
      name or password in it (pass the key as ``api_key``).
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
    - ``max_connections``: the pool's size, 1,000 if not given (not with ``http_client``).
    - ``backend``: ``"httpx"`` or ``"aiohttp"`` (asyncio only; ``chatsdk[aiohttp]``), the HTTP
      stack under the client it makes; defaults to ``CHATSDK_BACKEND``, then ``"httpx"``.
    - ``max_concurrency``: at most this many calls at once (a stream's until it is closed);
      ``rate_limit``: a :class:`RateLimit` kept by all of them. ``None`` (default): no limit.
    - ``telemetry``: ``False`` keeps this client's calls out of OpenTelemetry when
      :func:`instrument` has switched it on (it is off until then).

    Every setting is checked here, and a bad one raises ``TypeError`` or ``ValueError`` naming it
    (never quoting a key). A client belongs to one event loop at a time; used from another (a
    second ``asyncio.run()``), one that owns its pool opens a new one there.

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
        max_connections: int = NOT_GIVEN,
        backend: str = NOT_GIVEN,
        telemetry: bool = True,
        max_concurrency: int | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        configure_from_env()
        check_http_client(http_client)
        self._limits = connection_limits(max_connections, http_client)
        self._backend = check_backend(
            backend, http_client, running_loop(), os.environ.get("CHATSDK_BACKEND")
        )
        if api_key is None:
            api_key = os.environ.get("OPENAI_API_KEY") or None
        check_api_key(api_key)
        if base_url is None:
            base_url = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        url = parse_base_url(base_url)
        if default_headers is not None:
            check_headers(default_headers, "default_headers")
        if not api_key and url.host == OPENAI_HOST and not has_credentials(default_headers):
            raise ValueError(
                f"No API key for {OPENAI_HOST}: pass api_key= or set the OPENAI_API_KEY "
                "environment variable (a local server that needs no key is used with its own "
                "base_url)."
            )
        self._api_key = api_key
        self._default_headers: dict[str, str | None] = dict(default_headers or {})
        self._set_url(url)
        self.timeout = as_timeout(timeout)
        self.retry = retry_policy(retry, max_retries)
        self.deadline = check_deadline(deadline)
        self._gate = make_gate(max_concurrency, rate_limit)  # shared by with_options() clients
        self.telemetry = check_telemetry(telemetry)
        self._set_headers()
        self._owns_http = http_client is None
        # The event loop the HTTP client's connections belong to, once it has been used.
        self._loop: weakref.ref[Any] | None = None
        self._http = http_client if http_client is not None else self._make_http()
        # The client whose pool this one uses: itself, or the one with_options() was called on.
        self._pool_owner = self
        self._add_resources()

    def _add_resources(self) -> None:
        self.chat = Chat(self._start)
        self.models = Models(self._start)

    def _set_url(self, url: httpx.URL) -> None:
        # A query in base_url (``?api-version=...``) is sent with every request, after the path.
        self._base_query = tuple(url.params.multi_items())
        url = url.copy_with(query=None, fragment=None)
        self.base_url = url.copy_with(raw_path=url.raw_path.rstrip(b"/"))
        self._not_found_hint = not_found_hint(self.base_url)
        self._urls: dict[str, httpx.URL] = {}

    def _key_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def _set_headers(self) -> None:
        api_key = self._api_key
        headers = {
            "User-Agent": f"chatsdk/{__version__}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            # Only what chatsdk can inflate in bounded steps (_inflate), whatever httpx can decode.
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if api_key:
            headers.update(self._key_headers(api_key))
        merge_headers(headers, self._default_headers)
        self._headers = headers
        # What httpx's and httpcore's logs must not show, should a server echo it back.
        protect(
            self,
            tuple(value for name, value in headers.items() if name.lower() in SECRET_HEADERS)
            + ((api_key,) if api_key else ()),
        )

    def with_options(
        self,
        *,
        api_key: str | None = NOT_GIVEN,
        base_url: str | httpx.URL = NOT_GIVEN,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int = NOT_GIVEN,
        default_headers: Mapping[str, str | None] | None = None,
        deadline: float | None = NOT_GIVEN,
        retry: RetryPolicy = NOT_GIVEN,
        telemetry: bool = NOT_GIVEN,
    ) -> Self:
        """A client with some settings changed, on this client's connection pool.

        A setting left out keeps this client's value; ``default_headers`` are merged into this
        client's (``None`` removes one). The pool stays this client's: closing the derived client
        leaves it open; closing this one closes it for every client derived from it.

        Example::

            patient = client.with_options(timeout=120, max_retries=5)
            reply = await patient.chat.completions.create(model="m", messages=messages)
        """
        derived = copy.copy(self)
        derived._pool_owner = self._pool_owner
        if api_key is not NOT_GIVEN:
            check_api_key(api_key)
            derived._api_key = api_key
        if base_url is not NOT_GIVEN:
            derived._set_url(parse_base_url(base_url))
        if timeout is not NOT_GIVEN:
            derived.timeout = as_timeout(timeout)
        if retry is not NOT_GIVEN or max_retries is not NOT_GIVEN:
            derived.retry = retry_policy(self.retry if retry is NOT_GIVEN else retry, max_retries)
        if deadline is not NOT_GIVEN:
            derived.deadline = check_deadline(deadline)
        if telemetry is not NOT_GIVEN:
            derived.telemetry = check_telemetry(telemetry)
        if default_headers is not None:
            check_headers(default_headers, "default_headers")
            derived._default_headers = dict(self._default_headers)
            merge_headers(derived._default_headers, default_headers, keep_none=True)
        derived._set_headers()
        derived._add_resources()
        return derived

    def _make_http(self) -> httpx.AsyncClient:
        # Imported here: httpcore (and, through it, trio where installed) loads only when a
        # client makes its own transport, as httpx itself defers it.
        from ._pool import make_client

        return make_client(limits=self._limits, timeout=self.timeout, backend=self._backend)

    def _http_here(self) -> httpx.AsyncClient:
        """The HTTP client for the running event loop: a pool's connections belong to the loop
        that opened them, so an owned pool is replaced when the client moves to another loop."""
        if self._pool_owner is not self:
            return self._pool_owner._http_here()
        loop = running_loop()
        ref = self._loop
        if ref is not None and ref() is loop:
            return self._http
        if ref is not None and loop is not None:
            if not self._owns_http:
                raise APIConnectionError(
                    "This client was used in another event loop before, and the http_client "
                    "passed to it keeps connections of that loop. Make the httpx.AsyncClient and "
                    "the chatsdk client inside the function the event loop runs (such as the "
                    "main() given to asyncio.run()), or leave http_client out: a client that "
                    "makes its own opens a new pool in each event loop."
                )
            # The old pool's connections belong to the other loop (usually closed by now, as
            # after asyncio.run()); they cannot be closed from here and are left to it.
            self._http = self._make_http()
        self._loop = None if loop is None else weakref.ref(loop)
        return self._http

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

        Called in another event loop than the one the client last ran in (a second
        ``asyncio.run()``), it cannot close that loop's connections: it drops them instead.

        Example::

            client = chatsdk.AsyncChatClient()
            try:
                ...
            finally:
                await client.aclose()
        """
        if not self._owns_http or self._pool_owner is not self:
            return
        ref = self._loop
        if ref is not None and ref() is not running_loop():
            # The pool's connections belong to the event loop that opened them, usually closed
            # by now: they cannot be closed from this one, and are left to be collected.
            self._loop = None
            self._http = self._make_http()
            return
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
            except (TypeError, ValueError, RecursionError) as exc:
                raise unsendable(body, exc) from exc
        headers = self._headers
        extra_headers = options.get("extra_headers")
        if extra_headers is not None:
            check_headers(extra_headers, "extra_headers")
        if stream or extra_headers:
            headers = dict(headers)
            if stream:
                headers["Accept"] = "text/event-stream"
            if extra_headers:
                merge_headers(headers, extra_headers)
        path = self._route(path, body)
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.base_url.copy_with(
                raw_path=self.base_url.raw_path + path.encode()
            )
        params: Any = options.get("extra_query")
        if self._base_query:
            params = [*self._base_query, *httpx.QueryParams(params).multi_items()]
        http = self._http_here()
        if http.is_closed:
            raise closed_pool(self._pool_owner is not self, self._owns_http)
        request = http.build_request(
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
        make_call = Call if self._gate is None else self._gate.call(len(content or b""), body)
        return make_call(
            http,
            request,
            policy=policy,
            deadline=deadline,
            api_key=self._api_key,
            not_found_hint=self._not_found_hint,
            authorize=self._authorize,
            telemetry=self.telemetry,
        )

    def _route(self, path: str, body: dict[str, Any] | None) -> str:
        """The path under ``base_url`` for a resource's path (Azure maps some to deployments)."""
        return path

    #: Called with each attempt's request before it is sent (a token provider sets a header).
    _authorize: Callable[[httpx.Request], Awaitable[None]] | None = None
