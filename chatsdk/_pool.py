"""The HTTP transport a client makes for itself: httpx's, on a pool whose planning cost is flat.

httpcore 1.0's connection pool re-plans every connection on each request start and each response
close, and the plan is quadratic: for every queued request it lists the pool again, to trim idle
connections it counts the whole pool once per connection, it polls the socket of every pooled
connection, and it can hand one idle connection to two requests, sending the loser round again.
At 50 concurrent requests that costs more CPU than the rest of the request, and opening 10,000
streams spends most of its time there (docs/performance.md).

:class:`LinearPool` keeps httpcore's policy (reuse an available connection, else open one within
``max_connections``, else replace an idle one; close expired and surplus idle connections) but
plans only what changed: the requests that arrived, the connections released since the last plan,
and the idle connections (at most ``max_keepalive_connections``). Its cost per request does not
grow with the number of open connections. It also closes an idle connection on which the server
sent more than its reply, which httpcore would reuse: the next request would read those bytes as
its own reply. It replaces one method that httpcore 1.0 calls on its own pool (and the two lists
that method reads), so it is used only with the httpcore releases it was written and tested
against; with any other, the client uses httpx's transport as it is.

Example::

    http = make_client(limits=limits, timeout=timeout)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = ["LinearPool", "make_client", "make_transport", "pool_is_replaceable"]

# The httpcore releases whose pool internals LinearPool was checked against.
_SUPPORTED_HTTPCORE = ("1.0.",)


def pool_is_replaceable(version: str = httpcore.__version__) -> bool:
    """Whether this httpcore's pool can take :class:`LinearPool`'s planning."""
    return version.startswith(_SUPPORTED_HTTPCORE) and hasattr(
        httpcore.AsyncConnectionPool, "_assign_requests_to_connections"
    )


def _holds_unread_bytes(connection: Any) -> bool:
    # A server that sent more than its Content-Length (or past the end of a chunked body) left
    # bytes that no request asked for; reused, the connection would hand them to the next request
    # as its reply. httpcore 1.0 keeps them in the h11 connection it wraps, whose public
    # ``trailing_data`` says so; the socket being readable (more bytes arrived later) is already
    # caught by ``has_expired``.
    state = getattr(getattr(connection, "_connection", None), "_h11_state", None)
    trailing = getattr(state, "trailing_data", None)
    return bool(trailing and (trailing[0] or trailing[1]))


def _multiplexes(connection: Any) -> bool:
    # Only an HTTP/2 connection carries several requests at once; httpcore 1.0 has no method to
    # ask, so the protocol is read off the connection it wraps.
    inner = getattr(connection, "_connection", None)
    return type(inner).__name__ == "AsyncHTTP2Connection"


def _may_multiplex(connection: Any) -> bool:
    # HTTP/2, or not connected yet and offered to several requests (it may turn out HTTP/2).
    if _multiplexes(connection):
        return True
    return getattr(connection, "_connection", False) is None and connection.is_available()


def _unusable(connection: Any) -> bool:
    return bool(connection.has_expired() or _holds_unread_bytes(connection))


class _Requests:
    """The pool's requests in arrival order, with the queue of those waiting for a connection and
    the connections released since the last plan: what changed, so a plan need not look at
    everything. Lists' ``append``, ``remove``, iteration and ``len`` are what httpcore uses."""

    __slots__ = ("_all", "queue", "released")

    def __init__(self, requests: Iterable[Any]) -> None:
        self._all: dict[Any, None] = {}
        self.queue: deque[Any] = deque()
        self.released: list[Any] = []
        for request in requests:
            self.append(request)

    def append(self, request: Any) -> None:
        self._all[request] = None
        if request.is_queued():
            self.queue.append(request)
        # httpcore clears a request's connection and plans again when the connection turned out
        # to be unavailable at send time: the request goes back to the head of the queue.
        clear = request.clear_connection

        def clear_connection() -> None:
            if request.connection is not None:
                self.released.append(request.connection)
            clear()
            self.queue.appendleft(request)

        request.clear_connection = clear_connection

    def remove(self, request: Any) -> None:
        try:
            del self._all[request]
        except KeyError:
            raise ValueError("request not in the pool") from None
        if request.connection is not None:
            self.released.append(request.connection)

    def __contains__(self, request: object) -> bool:
        return request in self._all

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._all))

    def __len__(self) -> int:
        return len(self._all)


class _Connections:
    """The pool's connections; the idle ones (oldest first) and those that may carry several
    requests at once (HTTP/2) are also kept apart, so that a plan looks only at those."""

    __slots__ = ("_all", "idle", "shared")

    def __init__(self) -> None:
        self._all: dict[Any, None] = {}
        self.idle: dict[Any, None] = {}
        self.shared: dict[Any, None] = {}

    def append(self, connection: Any) -> None:
        self._all[connection] = None
        if _may_multiplex(connection):
            self.shared[connection] = None

    def discard(self, connection: Any) -> None:
        self._all.pop(connection, None)
        self.idle.pop(connection, None)
        self.shared.pop(connection, None)

    def remove(self, connection: Any) -> None:
        if connection not in self._all:
            raise ValueError("connection not in the pool")
        self.discard(connection)

    def __contains__(self, connection: object) -> bool:
        return connection in self._all

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._all))

    def __len__(self) -> int:
        return len(self._all)


class LinearPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, planning only what changed since its last plan."""

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        requests: Any = self._requests
        connections: Any = self._connections
        if type(requests) is not _Requests or type(connections) is not _Connections:
            # First plan (httpcore made lists), or after aclose(): look at everything once.
            requests, connections = self._take_over(closing)
        else:
            self._settle(requests.released, connections)
            requests.released = []
        self._trim(connections, closing)
        self._serve(requests, connections, closing)
        return closing

    def _take_over(self, closing: list[Any]) -> tuple[_Requests, _Connections]:
        requests = _Requests(self._requests)
        connections = _Connections()
        # A connection given to a request that has not started yet is still idle, but taken.
        taken = {request.connection for request in requests if request.connection is not None}
        for connection in self._connections:
            if connection.is_closed():
                continue
            free = connection.is_idle() and connection not in taken
            if free and _unusable(connection):
                closing.append(connection)
                continue
            connections.append(connection)
            if free and connection not in connections.shared:
                connections.idle[connection] = None
        self._requests, self._connections = requests, connections  # type: ignore[assignment]
        return requests, connections

    @staticmethod
    def _settle(released: list[Any], connections: _Connections) -> None:
        # Connections whose request ended: closed, back to idle, or (HTTP/2) still shared.
        for connection in released:
            if connection not in connections:
                continue
            if connection.is_closed():
                connections.discard(connection)
            elif _multiplexes(connection):
                connections.shared[connection] = None
            elif connection.is_idle():
                connections.shared.pop(connection, None)
                connections.idle.pop(connection, None)
                connections.idle[connection] = None  # the newest idle one

    def _trim(self, connections: _Connections, closing: list[Any]) -> None:
        idle = connections.idle
        # Oldest first: keep-alive expiry follows the order connections became idle, so the
        # first one that has not expired ends the walk; one the server closed in the middle is
        # found when it is about to be reused.
        while idle:
            oldest = next(iter(idle))
            if oldest.is_closed():
                connections.discard(oldest)
            elif len(idle) > self._max_keepalive_connections or _unusable(oldest):
                connections.discard(oldest)
                closing.append(oldest)
            else:
                break
        for connection in list(connections.shared):
            if connection.is_closed():
                connections.discard(connection)
            elif _multiplexes(connection) and connection.is_idle() and connection.has_expired():
                connections.discard(connection)
                closing.append(connection)

    def _serve(self, requests: _Requests, connections: _Connections, closing: list[Any]) -> None:
        queue = requests.queue
        room = self._max_connections - len(connections)
        while queue:
            request = queue[0]
            if request not in requests or not request.is_queued():
                queue.popleft()  # served, or gone (cancelled, timed out) while queued
                continue
            origin = request.request.url.origin
            connection = self._reusable(origin, connections, closing)
            if connection is None:
                if room <= 0 and not connections.idle:
                    break  # nothing left to give: the rest stay queued
                if room <= 0:
                    # The pool is full: replace the oldest idle connection (to another origin).
                    oldest = next(iter(connections.idle))
                    connections.discard(oldest)
                    closing.append(oldest)
                    room += 1
                connection = self.create_connection(origin)
                connections.append(connection)
                room -= 1
            queue.popleft()
            request.assign_to_connection(connection)
        if queue and connections.shared:
            # Full, but a request to an HTTP/2 origin further back may share a connection.
            for request in list(queue):
                if request in requests and request.is_queued():
                    origin = request.request.url.origin
                    shared = self._shared(origin, connections)
                    if shared is not None:
                        queue.remove(request)
                        request.assign_to_connection(shared)

    @staticmethod
    def _shared(origin: Any, connections: _Connections) -> Any:
        for connection in list(connections.shared):
            if not _may_multiplex(connection):
                del connections.shared[connection]  # connected as HTTP/1.1: idle when released
            elif connection.can_handle_request(origin) and connection.is_available():
                return connection
        return None

    def _reusable(self, origin: Any, connections: _Connections, closing: list[Any]) -> Any:
        """A connection ``origin`` can use now, taken from the idle ones, or ``None``."""
        if connections.shared:
            shared = self._shared(origin, connections)
            if shared is not None:
                return shared
        idle = connections.idle
        while idle:
            # Most often the first idle connection is to the same origin.
            connection = next((c for c in idle if c.can_handle_request(origin)), None)
            if connection is None:
                return None
            del idle[connection]
            if connection.is_closed():
                connections.discard(connection)
            elif not connection.is_available() or _unusable(connection):
                connections.discard(connection)
                closing.append(connection)
            else:
                return connection
        return None


def _use_linear_pool(transport: object, httpcore_version: str) -> None:
    pool = getattr(transport, "_pool", None)
    if type(pool) is httpcore.AsyncConnectionPool and pool_is_replaceable(httpcore_version):
        # Same class layout, one method replaced: the pool keeps every setting httpx gave it.
        pool.__class__ = LinearPool


def make_transport(
    limits: httpx.Limits, *, httpcore_version: str = httpcore.__version__, **options: Any
) -> httpx.AsyncHTTPTransport:
    """httpx's transport with ``limits`` (and ``options`` such as ``http2=True``), on
    :class:`LinearPool` where httpcore allows it."""
    transport = httpx.AsyncHTTPTransport(limits=limits, **options)
    _use_linear_pool(transport, httpcore_version)
    return transport


def make_client(
    *,
    limits: httpx.Limits,
    timeout: httpx.Timeout,
    httpcore_version: str = httpcore.__version__,
    backend: str = "httpx",
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose direct connections use :class:`LinearPool`.

    The client is built as httpx builds it, so proxies from the environment (``HTTPS_PROXY``,
    ``NO_PROXY``, ...) still apply: httpx ignores them when handed a transport of one's own.
    ``httpcore_version`` is the release the pool is planned for: any other than those
    :class:`LinearPool` was checked against keeps httpx's stock pool. With ``backend="aiohttp"``
    the client sends over :class:`~chatsdk._aiohttp.AiohttpTransport` instead.
    """
    if backend == "aiohttp":
        # Imported here: aiohttp loads only for a client that asks for it.
        try:
            from ._aiohttp import AiohttpClient, AiohttpTransport
        except ImportError as exc:
            raise ImportError(
                "backend='aiohttp' needs aiohttp: pip install 'chatsdk[aiohttp]' (or leave "
                f"backend out, or unset CHATSDK_BACKEND, for the default httpx backend). {exc}"
            ) from exc

        return AiohttpClient(AiohttpTransport(limits), timeout)
    client = httpx.AsyncClient(limits=limits, timeout=timeout)
    _use_linear_pool(client._transport, httpcore_version)
    return client
