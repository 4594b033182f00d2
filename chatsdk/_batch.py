"""``chatsdk.run_batch``: many requests sent at a bounded concurrency, results as they finish.

The requests in flight belong to the ``async with`` block: leaving it (a ``break``, an error,
Ctrl-C) cancels them, and no task outlives it. The file side of ``chatsdk batch`` (resume,
exactly once) is the command's; this engine only sends and reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio  # lazy in anyio 4: its parts load when first used, not at ``import chatsdk``

from ._batch_format import BatchRequest, BatchResult
from ._exceptions import APIConnectionError, APIError, APIStatusError, APITimeoutError
from ._operations import current, end, start_operation

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from ._client import AsyncChatClient

__all__ = ["BatchRun", "run_batch"]

DEFAULT_CONCURRENCY = 16


def run_batch(
    client: AsyncChatClient,
    requests: Iterable[BatchRequest | Mapping[str, Any]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> BatchRun:
    """Send every request through ``client``, at most ``concurrency`` at a time, and give each
    :class:`BatchResult` as soon as its request finishes (in finishing order, not input order).

    ``requests`` holds :class:`BatchRequest` objects or Batch API input lines as dicts; it is
    read lazily, one request per free slot, so it may be a generator over a large file. A request
    that fails (after the client's retries) is a result with ``error`` set, not an exception;
    a dict that is not a valid request raises ``ValueError`` when its turn comes (check input
    up front with :func:`parse_batch_requests`). ``concurrency`` defaults to 16.

    Example::

        async with chatsdk.AsyncChatClient() as client:
            async with chatsdk.run_batch(client, requests, concurrency=64) as results:
                async for result in results:
                    print(result.custom_id, result.content if result.ok else result.error)
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(requests, Iterable):
        raise TypeError(
            "requests must be an iterable of chatsdk.BatchRequest or Batch API input dicts, "
            f"not {type(requests).__name__}"
        )
    return BatchRun(client, requests, concurrency)


class BatchRun:
    """The running batch of :func:`run_batch`: use it as ``async with``, iterate its results.

    Example::

        async with chatsdk.run_batch(client, requests) as results:
            answered = [r async for r in results if r.ok]
    """

    def __init__(
        self,
        client: AsyncChatClient,
        requests: Iterable[BatchRequest | Mapping[str, Any]],
        concurrency: int,
    ) -> None:
        self._client = client
        self._requests = requests
        self._slots = anyio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[BatchResult] | None = None
        self._bad_input: ValueError | None = None
        self._span: Any = None  # the batch's span, when OpenTelemetry is on
        self._counts = {"chatsdk.batch.answered": 0, "chatsdk.batch.failed": 0}

    async def __aenter__(self) -> BatchRun:
        if self._group is not None:
            raise RuntimeError("a BatchRun is entered once")
        send, self._receive = anyio.create_memory_object_stream[BatchResult](0)
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        attributes = {"chatsdk.batch.concurrency": self._concurrency}
        self._span = start_operation("chatsdk.batch", attributes)
        # The feeding task (and the workers it starts) begin with the batch's span current, so
        # every call's span is its child.
        with current(self._span):
            self._group.start_soon(self._feed, send)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None and self._receive is not None
        # Whatever is still in flight when the block ends is not wanted any more.
        self._group.cancel_scope.cancel()
        self._receive.close()
        try:
            result = await self._group.__aexit__(exc_type, exc, tb)
        except BaseException as raised:
            end(self._span, raised, **self._counts)
            # The block's own error comes out as itself, not wrapped in a group of one.
            if exc is not None and getattr(raised, "exceptions", None) == (exc,):
                raise exc from None
            raise
        end(self._span, exc, **self._counts)
        return result

    def __aiter__(self) -> AsyncIterator[BatchResult]:
        if self._receive is None:
            raise RuntimeError("iterate a batch inside 'async with chatsdk.run_batch(...)'")
        return self

    async def __anext__(self) -> BatchResult:
        assert self._receive is not None
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            if self._bad_input is not None:
                raise self._bad_input from None
            raise StopAsyncIteration from None

    async def _feed(self, send: MemoryObjectSendStream[BatchResult]) -> None:
        async with send, anyio.create_task_group() as workers:
            for item in self._requests:
                try:
                    request = (
                        item if isinstance(item, BatchRequest) else BatchRequest.from_dict(item)
                    )
                except ValueError as exc:
                    # Raised to the reader once the requests already sent have been given.
                    self._bad_input = exc
                    return
                await self._slots.acquire()
                workers.start_soon(self._one, request, send.clone())

    async def _one(self, request: BatchRequest, send: MemoryObjectSendStream[BatchResult]) -> None:
        async with send:
            try:
                result = await send_request(self._client, request)
                self._counts["chatsdk.batch.answered" if result.ok else "chatsdk.batch.failed"] += 1
                await send.send(result)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # nobody is reading any more: the block is ending
            finally:
                self._slots.release()


async def send_request(client: AsyncChatClient, request: BatchRequest) -> BatchResult:
    """Send one request; its answer or its failure as a :class:`BatchResult`."""
    try:
        reply = await client.chat.completions.create(**request.create_arguments())
    except APIStatusError as exc:
        return BatchResult(
            request.custom_id,
            status_code=exc.status_code,
            request_id=exc.request_id,
            body=exc.body,
            error={"code": _code(exc), "message": str(exc)},
        )
    except APIError as exc:
        if isinstance(exc, APITimeoutError):
            kind = "timeout"
        elif isinstance(exc, APIConnectionError):
            kind = "connection_error"
        else:
            kind = "stream_error"
        return BatchResult(request.custom_id, error={"code": kind, "message": str(exc)})
    except (TypeError, ValueError) as exc:
        return BatchResult(
            request.custom_id, error={"code": "invalid_request", "message": str(exc)}
        )
    return BatchResult(
        request.custom_id, status_code=200, request_id=reply.request_id, body=reply.to_dict()
    )


def _code(exc: APIStatusError) -> str:
    if isinstance(exc.code, str) and exc.code:
        return exc.code
    if exc.status_code < 400:
        return "invalid_response"  # a success status whose body is no chat completion
    return exc.type or f"http_{exc.status_code}"
