"""Builders for the literal wire data the tests feed the client."""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import IO, Any

import anyio
import httpx

import chatsdk


def chunk(
    content: str | None = None,
    *,
    index: int = 0,
    role: str | None = None,
    finish_reason: str | None = None,
    **delta_fields: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` object with one choice."""
    delta: dict[str, Any] = dict(delta_fields)
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "test-model",
        "choices": [
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ],
    }


def sse(*events: dict[str, Any] | str, done: bool = True, newline: str = "\n") -> bytes:
    """Events as SSE bytes: dicts become ``data: {json}``, strings are written as they are."""
    out: list[str] = []
    for event in events:
        if isinstance(event, dict):
            out.append(f"data: {json.dumps(event, ensure_ascii=False)}{newline}{newline}")
        else:
            out.append(event)
    if done:
        out.append(f"data: [DONE]{newline}{newline}")
    return "".join(out).encode()


def text_stream(pieces: Iterable[str], *, finish: bool = True, done: bool = True) -> bytes:
    """A whole stream: a role chunk, one chunk per piece, a finish chunk, then [DONE]."""
    events: list[dict[str, Any] | str] = [chunk("", role="assistant")]
    events += [chunk(piece) for piece in pieces]
    if finish:
        events.append(chunk(finish_reason="stop"))
    return sse(*events, done=done)


def completion(content: str = "Hello!", **fields: Any) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    reply: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    reply.update(fields)
    return reply


async def pieces(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def sse_response(
    body: bytes | Iterable[bytes], status: int = 200, **headers: str
) -> httpx.Response:
    """A streamed ``text/event-stream`` response, delivered in the given pieces."""
    parts = [body] if isinstance(body, bytes) else list(body)
    return httpx.Response(
        status,
        headers={"content-type": "text/event-stream", **headers},
        content=pieces(parts),
    )


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any
) -> chatsdk.AsyncChatClient:
    """A client whose requests go to ``handler`` instead of the network."""
    kwargs.setdefault("api_key", "sk-test")
    kwargs.setdefault("base_url", "http://testserver/v1")
    kwargs.setdefault("max_retries", 0)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return chatsdk.AsyncChatClient(http_client=http, **kwargs)


MESSAGES: list[chatsdk.MessageParam] = [{"role": "user", "content": "Hello!"}]


def pool_of(client: chatsdk.AsyncChatClient) -> Any:
    """The httpcore connection pool behind a client that owns its HTTP client (on the aiohttp
    backend, its transport, which counts what it holds)."""
    transport = client._http._transport
    return getattr(transport, "_pool", transport)


def busy_connections(pool: Any) -> list[Any]:
    """Connections that are neither idle in the pool nor closed: held by someone (on the aiohttp
    backend, one entry per request whose reply is not closed)."""
    if hasattr(pool, "in_flight"):
        return [pool] * pool.in_flight
    return [c for c in pool.connections if not (c.is_idle() or c.is_closed())]


def requests_in(pool: Any) -> int:
    """Requests the pool holds: sent, or waiting for a connection."""
    if hasattr(pool, "in_flight"):
        return int(pool.in_flight)
    return len(pool._requests)


def pool_is_closed(pool: Any) -> bool:
    """Whether the pool holds no connection any more (after the client's ``aclose()``)."""
    if hasattr(pool, "in_flight"):
        return bool(pool.is_closed)
    return list(pool.connections) == []


async def settled_task_count(backend: str) -> int:
    """Tasks alive once every task is blocked.

    Closing a stream early leaves httpx's inner async generators to the event loop's finaliser,
    which runs each in a short-lived task; waiting until everything is blocked lets those finish,
    while a task that leaked stays and is counted.
    """
    await anyio.wait_all_tasks_blocked()
    if backend == "trio":
        import trio

        return int(trio.lowlevel.current_statistics().tasks_living)
    import asyncio

    return len(asyncio.all_tasks())


def open_fds() -> int:
    """Open file descriptors of this process (0 where /proc is missing)."""
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def read_until(pipe: IO[bytes] | None, text: str, timeout: float = 10.0) -> str:
    """Read a child process's pipe byte by byte until ``text`` arrives; returns all it read.

    Byte by byte, so that nothing past ``text`` is taken from the pipe; at most ``timeout``
    seconds in all.
    """
    assert pipe is not None
    fd = pipe.fileno()
    wanted = text.encode()
    seen = b""
    deadline = time.monotonic() + timeout
    while not seen.endswith(wanted):
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise AssertionError(f"{text!r} not seen in {timeout} s; output: {seen!r}")
        data = os.read(fd, 1)
        if not data:
            raise AssertionError(f"{text!r} not seen before EOF; output: {seen!r}")
        seen += data
    return seen.decode()


def read_line(pipe: IO[bytes], timeout: float = 10.0) -> str:
    """One line from a child process's pipe, waiting at most ``timeout`` seconds for it."""
    return read_until(pipe, "\n", timeout)
