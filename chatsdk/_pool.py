"""The HTTP transport a client makes for itself: httpx's, with a pool that assigns in one pass.

httpcore 1.0's connection pool re-plans every connection on each request start and each response
close, and the plan is quadratic: for every queued request it lists the pool again, to trim idle
connections it counts the whole pool once per connection, it polls the socket of every pooled
connection, and it can hand one idle connection to two requests, sending the loser round again.
At 50 concurrent requests that costs more CPU than the rest of the request (docs/performance.md).

:class:`LinearPool` keeps httpcore's policy (reuse an available connection, else open one within
``max_connections``, else replace an idle one; close expired and surplus idle connections) and
plans it in a single pass. It also closes an idle connection on which the server sent more than
its reply, which httpcore would reuse: the next request would read those bytes as its own reply.
It replaces one method that httpcore 1.0 calls on its own pool, so it is used only with the
httpcore releases it was written and tested against; with any other, the client uses httpx's
transport as it is.

Example::

    http = make_client(limits=limits, timeout=timeout)
"""

from __future__ import annotations

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


class LinearPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, planning connections for queued requests in one pass."""

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        requests = self._requests
        # A connection given to a request that has not started yet is still idle, but taken.
        taken = {request.connection for request in requests if request.connection is not None}

        kept: list[Any] = []
        idle = 0
        for connection in self._connections:
            if connection.is_closed():
                continue
            free = connection.is_idle() and connection not in taken
            if free and (connection.has_expired() or _holds_unread_bytes(connection)):
                closing.append(connection)
                continue
            kept.append(connection)
            idle += free

        surplus = idle - self._max_keepalive_connections
        if surplus > 0:
            trimmed = []
            for connection in kept:
                if surplus > 0 and connection.is_idle() and connection not in taken:
                    closing.append(connection)
                    surplus -= 1
                else:
                    trimmed.append(connection)
            kept = trimmed
        self._connections = kept

        available = [
            connection
            for connection in kept
            if connection.is_available()
            and not (connection in taken and not _multiplexes(connection))
        ]
        room = self._max_connections - len(kept)
        for request in requests:
            if not available and room <= 0:
                break  # nothing left to give: the rest stay queued
            if not request.is_queued():
                continue
            origin = request.request.url.origin
            for position, connection in enumerate(available):
                if connection.can_handle_request(origin):
                    request.assign_to_connection(connection)
                    if not _multiplexes(connection):
                        del available[position]
                    break
            else:
                if room > 0:
                    connection = self.create_connection(origin)
                    kept.append(connection)
                    request.assign_to_connection(connection)
                    room -= 1
                    continue
                # The pool is full: replace an idle connection to another origin.
                for position, connection in enumerate(available):
                    if connection.is_idle():
                        del available[position]
                        kept.remove(connection)
                        closing.append(connection)
                        replacement = self.create_connection(origin)
                        kept.append(replacement)
                        request.assign_to_connection(replacement)
                        break
        return closing


def _use_linear_pool(transport: object, httpcore_version: str) -> None:
    pool = getattr(transport, "_pool", None)
    if type(pool) is httpcore.AsyncConnectionPool and pool_is_replaceable(httpcore_version):
        # Same class layout, one method replaced: the pool keeps every setting httpx gave it.
        pool.__class__ = LinearPool


def make_transport(
    limits: httpx.Limits, *, httpcore_version: str = httpcore.__version__
) -> httpx.AsyncHTTPTransport:
    """httpx's transport with ``limits``, on :class:`LinearPool` where httpcore allows it."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    _use_linear_pool(transport, httpcore_version)
    return transport


def make_client(
    *, limits: httpx.Limits, timeout: httpx.Timeout, httpcore_version: str = httpcore.__version__
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose direct connections use :class:`LinearPool`.

    The client is built as httpx builds it, so proxies from the environment (``HTTPS_PROXY``,
    ``NO_PROXY``, ...) still apply: httpx ignores them when handed a transport of one's own.
    ``httpcore_version`` is the release the pool is planned for: any other than those
    :class:`LinearPool` was checked against keeps httpx's stock pool.
    """
    client = httpx.AsyncClient(limits=limits, timeout=timeout)
    _use_linear_pool(client._transport, httpcore_version)
    return client
