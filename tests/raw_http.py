"""A raw HTTP server on 127.0.0.1 for tests: it answers each request with exactly the bytes given.

Nothing is parsed or fixed up on the way out, so a test can send a status line, headers or a body
that no well-behaved server would. It runs in the test's own event loop (asyncio or trio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeAlias

import anyio
import anyio.abc

# What the server sends for a request: bytes as they are, or a function that writes to the
# connection itself (to pause between parts).
Reply: TypeAlias = bytes | Callable[[anyio.abc.ByteStream], Awaitable[None]]

# A request head larger than this is not a test's request.
_MAX_HEAD = 64 * 1024


def response(
    status: str = "200 OK", body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """A whole HTTP/1.1 response with a ``content-length`` (the connection stays open)."""
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class RawServer:
    """Answers the n-th request with ``replies[n]`` (the last one again once they run out)."""

    def __init__(self, replies: list[Reply], port: int) -> None:
        self.replies = replies
        self.port = port
        self.requests: list[bytes] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        async with stream:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                    buffer += data
                    if len(buffer) > _MAX_HEAD:
                        return
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += await stream.receive()
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
                try:
                    if isinstance(reply, bytes):
                        await stream.send(reply)
                    else:
                        await reply(stream)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return


@asynccontextmanager
async def raw_server(*replies: Reply) -> AsyncIterator[RawServer]:
    """A :class:`RawServer` listening on 127.0.0.1 while the block runs."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server = RawServer(list(replies), port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.handle)
        yield server
        group.cancel_scope.cancel()
