"""A fast local Chat Completions server for the benchmark, run in its own process.

A raw asyncio ``Protocol`` speaking HTTP/1.1 with keep-alive. Every response is precomputed
bytes (cached per chunk count), so the server does almost no work per request:

* ``POST .../chat/completions``: a buffered ``chat.completion`` (``Content-Length``), or with
  ``"stream": true`` an SSE stream in chunked transfer encoding, one HTTP chunk per event.
  The request's ``model`` names the shape (see ``payload.py``).
* ``GET /release``: finishes every paused stream and answers with how many it released.

It prints ``PORT <n>`` on stdout once it listens, and stops when stdin closes (so it never
outlives the benchmark that started it).

    python benchmarks/server.py [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import payload

_HEAD_STREAM = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n"
    b"cache-control: no-cache\r\n"
    b"connection: keep-alive\r\n"
    b"x-request-id: req_bench0000000000000000000000\r\n"
    b"openai-processing-ms: 12\r\n"
    b"\r\n"
)
_HEAD_BUFFERED = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: application/json\r\n"
    b"connection: keep-alive\r\n"
    b"x-request-id: req_bench0000000000000000000000\r\n"
    b"openai-processing-ms: 12\r\n"
    b"content-length: %d\r\n"
    b"\r\n"
)
_END_CHUNKED = b"0\r\n\r\n"
_MAX_HEAD = 64 * 1024


def _chunked(event: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(event), event)


class _Cache:
    """Precomputed response bytes, keyed by chunk count."""

    def __init__(self) -> None:
        self.buffered: dict[int, bytes] = {}
        self.stream: dict[int, bytes] = {}
        self.paused: dict[int, tuple[bytes, bytes]] = {}

    def get_buffered(self, k: int) -> bytes:
        out = self.buffered.get(k)
        if out is None:
            body = payload.completion_body(k)
            out = self.buffered[k] = _HEAD_BUFFERED % len(body) + body
        return out

    def get_stream(self, k: int) -> bytes:
        out = self.stream.get(k)
        if out is None:
            events = payload.stream_events(k)
            out = _HEAD_STREAM + b"".join(map(_chunked, events)) + _END_CHUNKED
            self.stream[k] = out
        return out

    def get_paused(self, k: int) -> tuple[bytes, bytes]:
        """(head, rest): head is the headers, the role chunk and the first content chunk."""
        out = self.paused.get(k)
        if out is None:
            chunks = [_chunked(e) for e in payload.stream_events(k)]
            head = _HEAD_STREAM + b"".join(chunks[:2])
            out = self.paused[k] = (head, b"".join(chunks[2:]) + _END_CHUNKED)
        return out


class _State:
    def __init__(self) -> None:
        self.cache = _Cache()
        # transport -> bytes still to send when released
        self.paused: dict[asyncio.Transport, bytes] = {}
        self.connections = 0  # open now


def _error(status: bytes, message: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    ) + body


class BenchProtocol(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self.state = state
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections -= 1
        if self.transport is not None:
            self.state.paused.pop(self.transport, None)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        # Bounded: each pass consumes one whole request from the buffer or returns.
        while self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > _MAX_HEAD:
                    self._fail(b"431 Request Header Fields Too Large", "head too large")
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            chunked = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            start = end + 4
            if chunked:
                parsed = _dechunk(self.buf, start)
                if parsed is None:
                    return
                body, consumed = parsed
            else:
                if len(self.buf) - start < length:
                    return
                body = bytes(self.buf[start : start + length])
                consumed = start + length
            del self.buf[:consumed]
            self._handle(method, target, body)

    def _fail(self, status: bytes, message: str) -> None:
        assert self.transport is not None
        self.transport.write(_error(status, message))
        self.transport.close()
        self.transport = None

    def _handle(self, method: str, target: str, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if method == "GET" and target == "/release":
            self._release()
            return
        if method != "POST" or not target.endswith("/chat/completions"):
            self._fail(b"404 Not Found", f"no route for {method} {target}")
            return
        try:
            request = json.loads(body)
            k, paused = payload.parse_model(request["model"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._fail(b"400 Bad Request", f"bad request: {exc!r}")
            return
        cache = self.state.cache
        if not request.get("stream"):
            transport.write(cache.get_buffered(k))
        elif paused:
            head, rest = cache.get_paused(k)
            transport.write(head)
            self.state.paused[transport] = rest
        else:
            transport.write(cache.get_stream(k))

    def _release(self) -> None:
        assert self.transport is not None
        paused = self.state.paused
        count = len(paused)
        for transport, rest in paused.items():
            transport.write(rest)
        paused.clear()
        # The release request's own connection is not one of the client's.
        body = b'{"released":%d,"connections":%d}' % (count, self.state.connections - 1)
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(body) + body
        )


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a chunked request body; None until it is complete."""
    out = bytearray()
    pos = start
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None
            return bytes(out), trailer_end + 4
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        pos += size + 2


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    state = _State()
    server = await loop.create_server(
        lambda: BenchProtocol(state), host, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    # Stop when the parent closes our stdin (or dies).
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with server:
        await reader.read()
        server.close()


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (the scale mode holds 10,000
    connections); returns the limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def main() -> None:
    raise_open_file_limit()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
