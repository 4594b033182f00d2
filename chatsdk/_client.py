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

import asyncio
import os
import re
import sys
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from . import _json
from ._call import Call
from ._completions import Chat
from ._exceptions import APIConnectionError
from ._inflate import ACCEPT_ENCODING
from ._logging import SECRET_HEADERS, configure_from_env, protect
from ._options import (
    NOT_GIVEN,
    TimeoutTypes,
    as_timeout,
    check_api_key,
    check_deadline,
    check_headers,
    check_http_client,
    retry_policy,
)
from ._retry import RetryPolicy
from ._version import __version__

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["AsyncChatClient"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# The host that always needs a key: without one, a client for it is refused at construction
# rather than sending requests that can only be refused (or, offline, retried in vain).
OPENAI_HOST = "api.openai.com"
# A path segment naming an API version (v1, v1beta, v2): a base_url without one is often the
# reason for a 404.
_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*(/|$)")
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
        telemetry: bool = True,
    ) -> None:
        configure_from_env()
        check_http_client(http_client)
        if api_key is None:
            api_key = os.environ.get("OPENAI_API_KEY") or None
        check_api_key(api_key)
        if base_url is None:
            base_url = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        url = _parse_base_url(base_url)
        if default_headers is not None:
            check_headers(default_headers, "default_headers")
        if not api_key and url.host == OPENAI_HOST and not _has_credentials(default_headers):
            raise ValueError(
                f"No API key for {OPENAI_HOST}: pass api_key= or set the OPENAI_API_KEY "
                "environment variable (a local server that needs no key is used with its own "
                "base_url)."
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
        if not isinstance(telemetry, bool):
            raise TypeError(f"telemetry must be True or False, not {type(telemetry).__name__}")
        self.telemetry = telemetry
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
        # What httpx's and httpcore's logs must not show, should a server echo it back.
        protect(
            self,
            tuple(value for name, value in headers.items() if name.lower() in SECRET_HEADERS)
            + ((api_key,) if api_key else ()),
        )
        self._not_found_hint = _not_found_hint(url)
        self._urls: dict[str, httpx.URL] = {}
        self._owns_http = http_client is None
        # The event loop the HTTP client's connections belong to, once it has been used.
        self._loop: weakref.ref[Any] | None = None
        self._http = http_client if http_client is not None else self._make_http()
        self.chat = Chat(self._start)

    def _make_http(self) -> httpx.AsyncClient:
        # Imported here: httpcore (and, through it, trio where installed) loads only when a
        # client makes its own transport, as httpx itself defers it.
        from ._pool import make_client

        return make_client(limits=DEFAULT_LIMITS, timeout=self.timeout)

    def _http_here(self) -> httpx.AsyncClient:
        """The HTTP client for the running event loop: a pool's connections belong to the loop
        that opened them, so an owned pool is replaced when the client moves to another loop."""
        loop = _running_loop()
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
        if not self._owns_http:
            return
        ref = self._loop
        if ref is not None and ref() is not _running_loop():
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
                raise _unsendable(body, exc) from exc
        headers = self._headers
        extra_headers = options.get("extra_headers")
        if extra_headers is not None:
            check_headers(extra_headers, "extra_headers")
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
        http = self._http_here()
        if http.is_closed:
            raise APIConnectionError(
                "This client is closed (by aclose() or the end of its 'async with' block); make "
                "a new AsyncChatClient, or keep this one open while it is used."
                if self._owns_http
                else "The http_client given to this client is closed; keep it open while the "
                "client is used, or leave http_client out."
            )
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
        return Call(
            http,
            request,
            policy=policy,
            deadline=deadline,
            api_key=self._api_key,
            not_found_hint=self._not_found_hint,
            telemetry=self.telemetry,
        )


def _running_loop() -> object:
    """The running event loop (asyncio's loop, trio's run token); ``None`` if neither is known."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
    return None


def _parse_base_url(base_url: object) -> httpx.URL:
    """``base_url`` as an http(s) URL without credentials in it, or a ``ValueError``."""
    try:
        url = httpx.URL(str(base_url))
    except httpx.InvalidURL as exc:
        raise ValueError(f"base_url is not a valid URL: {exc}") from exc
    if url.userinfo:
        raise ValueError(
            "base_url must not carry a user name or password ('https://user:pass@host/...'): "
            "httpx would send them as Basic auth in place of the API key. Pass the key as "
            "api_key= and take them out of the URL (it is not shown here: it holds a secret)."
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"base_url must be an http(s) URL such as 'https://api.openai.com/v1', not "
            f"{str(base_url)!r}."
        )
    return url


def _has_credentials(headers: Mapping[str, str | None] | None) -> bool:
    if not headers:
        return False
    return any(name.lower() in SECRET_HEADERS and value for name, value in headers.items())


def _not_found_hint(url: httpx.URL) -> str:
    """What to change in ``base_url`` when the server answers 404, if it looks like the reason."""
    path = url.path.rstrip("/")
    base = str(url.copy_with(query=None, fragment=None)).rstrip("/")
    if path.endswith("/chat/completions"):
        return (
            f"base_url is the endpoint's address; set it to the API's base, "
            f"{base[: -len('/chat/completions')]!r}: chatsdk adds '/chat/completions' itself"
        )
    if not _VERSION_SEGMENT.search(path + "/"):
        return (
            f"base_url has no version in its path; if the server serves the API under /v1, "
            f"set base_url to {base + '/v1'!r}"
        )
    return ""


def _unsendable(body: Mapping[str, Any], exc: BaseException) -> Exception:
    """The error for a body JSON cannot carry, naming the field at fault."""
    culprit = "the request body"
    for name, value in body.items():
        try:
            _json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            culprit = name
            break
    if isinstance(exc, RecursionError):
        return ValueError(
            f"{culprit} is nested too deeply to be sent as JSON (does it contain itself?)."
        )
    return TypeError(f"{culprit} cannot be sent as JSON: {exc}")
