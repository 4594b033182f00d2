"""An httpx transport over aiohttp's client, so a call sees the same httpx exceptions either way.

``AsyncChatClient(backend="aiohttp")`` builds its ``httpx.AsyncClient`` on
:class:`AiohttpTransport`: the request is sent by aiohttp (its C HTTP parser reads the reply),
and everything above the transport — :class:`~chatsdk._call.Call`, retries, deadlines, bounded
inflation, redaction — is the same code as on httpx's own transport. aiohttp's errors become the
httpx exceptions ``_call.translate_transport_error`` already knows:

- a refused or failed connection is ``httpx.ConnectError``, a connect timeout
  ``httpx.ConnectTimeout``;
- waiting longer than the pool timeout for one of ``max_connections`` is ``httpx.PoolTimeout``;
- a read timeout is ``httpx.ReadTimeout``; a server that hangs up, a reset or a cut body is
  ``httpx.RemoteProtocolError`` or ``httpx.ReadError`` (a broken connection, never a timeout).

Redirects are never followed, and replies are not decoded (``auto_decompress=False``): the
``Content-Encoding`` is undone by chatsdk in bounded steps, as on httpx. The body is handed up in
the pieces aiohttp reads. Closing the reply gives the connection back to aiohttp's pool after a
clean end, and closes it when the body was abandoned part way. asyncio only: aiohttp does not run
on trio. This module imports aiohttp, so it is imported only when the backend is asked for.

:class:`AiohttpClient` is the ``httpx.AsyncClient`` the backend sends with: it builds requests as
httpx does, and hands each one straight to the transport. httpx's ``send`` would run its auth
flow, redirect loop, event hooks and cookie jar on the way, which chatsdk's own client uses none
of: about a fifth of the backend's CPU per buffered request, a tenth of its time to the first
token. Cookies a server sets are kept by aiohttp's jar instead, for the client's life, as httpx
keeps them.

Example::

    http = AiohttpClient(AiohttpTransport(limits), timeout)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import httpx
from yarl import URL

__all__ = ["AiohttpClient", "AiohttpTransport"]

# Headers aiohttp works out itself from the URL and the body it is given.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
# Those aiohttp would add if missing: chatsdk sends its own or none at all.
_NO_DEFAULTS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def _asyncio_only() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "backend='aiohttp' runs on asyncio only (aiohttp has no trio support); use the "
            "default backend='httpx' under trio."
        ) from None


def _mapped(exc: BaseException, request: httpx.Request, *, reading: bool) -> Exception:
    """aiohttp's (or the OS's) error as the httpx exception httpx's transport would raise."""
    detail = str(exc) or type(exc).__name__
    mapped: Exception
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout(detail, request=request)
    elif isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        mapped = httpx.ReadTimeout(detail, request=request)
    elif isinstance(exc, aiohttp.ClientConnectorError):
        mapped = httpx.ConnectError(detail, request=request)
    elif isinstance(exc, aiohttp.InvalidURL):
        mapped = httpx.UnsupportedProtocol(detail, request=request)
    elif isinstance(
        exc,
        (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError),
    ):
        mapped = httpx.RemoteProtocolError(detail, request=request)
    elif isinstance(exc, (aiohttp.ClientError, OSError)):
        mapped = (httpx.ReadError if reading else httpx.ConnectError)(detail, request=request)
    else:
        mapped = httpx.TransportError(detail, request=request)
    return mapped


class _Body(httpx.AsyncByteStream):
    """A reply's body, read in the pieces aiohttp has; closing it ends the connection's turn."""

    __slots__ = ("_done", "_release", "_request", "_response")

    def __init__(
        self, response: aiohttp.ClientResponse, request: httpx.Request, release: Any
    ) -> None:
        self._response = response
        self._request = request
        self._release = release
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        while True:
            try:
                piece = await content.readany()
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                raise _mapped(exc, self._request, reading=True) from exc
            if not piece:
                return
            yield piece

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        response = self._response
        try:
            if response.content.at_eof() and not response.content.exception():
                response.release()  # a clean end: the connection goes back to the pool
            else:
                response.close()  # abandoned part way: the rest will not be read
        finally:
            self._release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` that sends each request with aiohttp (asyncio only).

    ``limits.max_connections`` bounds the requests in flight, which is the connections in use
    (aiohttp keeps one per request over HTTP/1.1); waiting for one longer than the request's pool
    timeout is ``httpx.PoolTimeout``. ``limits.keepalive_expiry`` is how long an idle connection
    is kept.

    Example::

        transport = AiohttpTransport(httpx.Limits(max_connections=1000))
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self.in_flight = 0
        """Requests sent or waiting to be, whose reply is not closed yet."""

    @property
    def is_closed(self) -> bool:
        """Whether no aiohttp session is open (none yet, or closed by ``aclose()``)."""
        return self._session is None or self._session.closed

    def _open(self) -> aiohttp.ClientSession:
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=0,  # the pool's bound is _slots, which can say PoolTimeout
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry or 5.0,
            enable_cleanup_closed=False,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=_NO_DEFAULTS,
            timeout=aiohttp.ClientTimeout(total=None),
            # httpx keeps cookies for addresses as well as names; aiohttp does with unsafe=True.
            cookie_jar=aiohttp.CookieJar(unsafe=True),
        )
        if limits.max_connections is not None:
            self._slots = asyncio.Semaphore(limits.max_connections)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _asyncio_only()
        session = self._session or self._open()
        timeouts = request.extensions.get("timeout", {})
        slots = self._slots
        self.in_flight += 1
        try:
            if slots is not None and not await _acquire(slots, timeouts.get("pool")):
                raise httpx.PoolTimeout(
                    "No connection of the pool became free in time.", request=request
                )
        except BaseException:
            self.in_flight -= 1
            raise

        def release() -> None:
            self.in_flight -= 1
            if slots is not None:
                slots.release()

        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower().decode("latin-1") not in _OWN_HEADERS
        ]
        try:
            body = await request.aread()
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
            )
        except BaseException as exc:
            release()
            if isinstance(exc, (aiohttp.ClientError, OSError, asyncio.TimeoutError)):
                raise _mapped(exc, request, reading=False) from exc
            raise
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, request, release),
            request=request,
            extensions={
                "http_version": _version(response),
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _version(response: aiohttp.ClientResponse) -> bytes:
    version = response.version
    return b"HTTP/1.1" if version is None else f"HTTP/{version.major}.{version.minor}".encode()


async def _acquire(slots: asyncio.Semaphore, wait: float | None) -> bool:
    """One of ``slots``, waited for in order, or False after ``wait`` seconds."""
    if not slots.locked():
        return await slots.acquire()  # free: taken at once, nothing to time
    with anyio.move_on_after(wait):
        return await slots.acquire()
    return False


class AiohttpClient(httpx.AsyncClient):
    """The ``httpx.AsyncClient`` of ``backend="aiohttp"``: requests are built as httpx builds
    them and sent straight to its :class:`AiohttpTransport`.

    Only what chatsdk's calls ask of ``send`` is done: no auth flow (chatsdk sets its own
    headers), no redirects (never followed), no event hooks (none are set) and no httpx cookie
    jar (aiohttp's keeps the cookies). Asking ``send`` for auth or redirects is a ``ValueError``.

    Example::

        http = AiohttpClient(AiohttpTransport(httpx.Limits(max_connections=100)), timeout)
    """

    def __init__(self, transport: AiohttpTransport, timeout: httpx.Timeout) -> None:
        super().__init__(transport=transport, timeout=timeout)
        self._aiohttp = transport

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """Send ``request`` over aiohttp; with ``stream=False`` the body is read first."""
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if auth is not httpx.USE_CLIENT_DEFAULT or follow_redirects is True:
            raise ValueError(
                "the aiohttp backend's client sends requests as they are: it takes no auth and "
                "follows no redirects"
            )
        response = await self._aiohttp.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response
