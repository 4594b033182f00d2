"""An alternative ``httpx`` transport measured by the pool study (see docs/performance.md).

``Httpcore2Transport`` puts the pool of ``httpcore2`` (the package under openai's ``httpx2``)
behind httpx's transport API, httpx's documented extension point. The other pool measured, the
one-pass ``chatsdk._pool.LinearPool``, is chatsdk's own default (``fastpool`` in the adapters).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

import httpx


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
