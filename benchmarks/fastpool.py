"""Alternative ``httpx`` transports measured by the pool study (see docs/performance.md).

Both plug into ``httpx.AsyncClient(transport=...)``, httpx's documented extension point.

* ``FastPoolTransport``: httpx's own transport whose httpcore pool assigns queued requests to
  connections in one linear pass. httpcore 1.0's ``_assign_requests_to_connections`` runs on
  every request start and every response close and rebuilds the list of available and idle
  connections once per queued request (O(requests x connections)), counts the pool once per
  connection when trimming idle ones (O(connections^2)), and probes every pooled connection's
  socket with ``poll()`` (``has_expired``). The replacement keeps the same policy but builds
  each list once and probes only idle connections that are not already reserved.
* ``Httpcore2Transport``: the pool of ``httpcore2`` (the package under openai's ``httpx2``),
  which carries the same linear-pass fix upstream, adapted to httpx's transport API.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import httpcore
import httpx


def _can_multiplex(connection: Any) -> bool:
    """httpcore 1.0 has no ``can_multiplex()``: only an HTTP/2 connection multiplexes."""
    return type(getattr(connection, "_connection", None)).__name__ == "AsyncHTTP2Connection"


class FastAsyncConnectionPool(httpcore.AsyncConnectionPool):
    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        requests = self._requests
        reserved = {r.connection for r in requests if r.connection is not None}

        kept: list[Any] = []
        idle_count = 0
        for connection in self._connections:
            if connection.is_closed():
                continue
            idle = connection.is_idle()
            if idle and connection not in reserved and connection.has_expired():
                closing.append(connection)
                continue
            kept.append(connection)
            idle_count += idle and connection not in reserved

        surplus = idle_count - self._max_keepalive_connections
        if surplus > 0:
            trimmed: list[Any] = []
            for connection in kept:
                if surplus > 0 and connection.is_idle() and connection not in reserved:
                    closing.append(connection)
                    surplus -= 1
                else:
                    trimmed.append(connection)
            kept = trimmed
        self._connections = kept

        available = [
            c
            for c in kept
            if c.is_available() and not (c.is_idle() and c in reserved and not _can_multiplex(c))
        ]
        budget = self._max_connections - len(kept)
        for pool_request in requests:
            if not available and budget <= 0:
                break
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            for index, connection in enumerate(available):
                if connection.can_handle_request(origin):
                    pool_request.assign_to_connection(connection)
                    if connection.is_idle() and not _can_multiplex(connection):
                        del available[index]
                    break
            else:
                if budget > 0:
                    connection = self.create_connection(origin)
                    kept.append(connection)
                    pool_request.assign_to_connection(connection)
                    budget -= 1
                    continue
                for index, connection in enumerate(available):
                    if connection.is_idle():
                        del available[index]
                        kept.remove(connection)
                        closing.append(connection)
                        connection = self.create_connection(origin)
                        kept.append(connection)
                        pool_request.assign_to_connection(connection)
                        break
        return closing


class FastPoolTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` on ``FastAsyncConnectionPool`` (same settings)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if type(self._pool) is httpcore.AsyncConnectionPool:  # not a proxy
            self._pool.__class__ = FastAsyncConnectionPool


class _Httpcore2Stream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class Httpcore2Transport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport on ``httpcore2.AsyncConnectionPool`` (plain HTTP/1.1 only;
    enough for the benchmark, not a complete transport: no proxies, minimal error mapping)."""

    def __init__(self, max_connections: int = 1000, max_keepalive_connections: int = 100) -> None:
        import httpcore2

        self._httpcore2 = httpcore2
        self._pool = httpcore2.AsyncConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=5.0,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hc = self._httpcore2
        url = request.url
        req = hc.Request(
            method=request.method,
            url=hc.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            resp = await self._pool.handle_async_request(req)
        except hc.TimeoutException as exc:
            raise httpx.TimeoutException(str(exc), request=request) from exc
        except hc.ConnectError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_Httpcore2Stream(resp.stream),  # type: ignore[arg-type]
            extensions=resp.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
