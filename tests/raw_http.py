"""A raw HTTP server on 127.0.0.1 for tests: it answers each request with exactly the bytes given.

Nothing is parsed or fixed up on the way out, so a test can send a status line, headers or a body
that no well-behaved server would. It runs in the test's own event loop (asyncio or trio).
"""

from __future__ import annotations

import socket
import threading
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


def split_request(buffer: bytes) -> tuple[bytes, bytes] | None:
    """The first whole request in ``buffer`` (head, blank line and ``content-length`` bytes of
    body) and the bytes after it; ``None`` while more must be read."""
    head, blank, rest = buffer.partition(b"\r\n\r\n")
    if not blank:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if len(rest) < length:
        return None
    return head + blank + rest[:length], rest[length:]


class ThreadedServer:
    """A raw HTTP server in threads of its own, so that it outlives event loops: request n (from
    1, counted over all connections) is answered with ``answer(n, request)``, and connections
    are kept open between requests."""

    def __init__(self, answer: Callable[[int, bytes], bytes]) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.requests = 0
        self.connections = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed: the test is over
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while (split := split_request(buffer)) is None:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                request, buffer = split
                with self.lock:
                    self.requests += 1
                    number = self.requests
                conn.sendall(self.answer(number, request))

    def close(self) -> None:
        self.listener.close()


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
                while (split := split_request(buffer)) is None:
                    if len(buffer) > _MAX_HEAD and b"\r\n\r\n" not in buffer:
                        return
                    try:
                        buffer += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                request, buffer = split
                self.requests.append(request)
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
