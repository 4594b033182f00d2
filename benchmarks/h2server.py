"""The benchmark server over cleartext HTTP/2 (hypercorn, prior knowledge), for ``--scale --h2``.

It serves what ``server.py`` serves for the scale mode: ``bench-k{k}`` streams, and
``bench-pause-k{k}`` streams that send their first content chunk and wait for ``GET /release``,
whose reply says how many streams it released and over how many connections they came (told
apart by the client's address and port); streams that open after it run through until
``GET /rearm``. Prints ``PORT <n>`` and runs until its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

import payload
from server import raise_open_file_limit

Scope = dict[str, Any]


class App:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting: dict[int, tuple[str, int]] = {}  # id of a paused stream -> its client

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/release":
            await self._release(send)
            return
        if scope["path"] == "/rearm":  # the next step's paused streams wait again
            self.release = asyncio.Event()
            await self._reply(send, {})
            return
        k, paused = payload.parse_model(json.loads(body)["model"])
        events = payload.stream_events(k)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        if paused:
            await send(
                {"type": "http.response.body", "body": b"".join(events[:2]), "more_body": True}
            )
            self.waiting[id(scope)] = tuple(scope["client"])
            release = self.release
            await release.wait()
            events = events[2:]
        await send({"type": "http.response.body", "body": b"".join(events)})

    async def _release(self, send: Any) -> None:
        count = len(self.waiting)
        connections = len(set(self.waiting.values()))
        self.waiting.clear()
        # Left set: streams that open later (beyond what the client keeps open at once) run
        # through, until the client asks for /rearm.
        self.release.set()
        await self._reply(send, {"released": count, "connections": connections, "rearm": True})

    async def _reply(self, send: Any, obj: dict[str, Any]) -> None:
        reply = json.dumps(obj).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(reply)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply})


async def serve() -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    config = Config()
    config.bind = [f"fd://{listener.fileno()}"]
    config.accesslog = config.errorlog = None
    config.backlog = 4096
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.Event()

    async def watch_stdin() -> None:
        await reader.read()
        stop.set()

    watcher = asyncio.create_task(watch_stdin())
    await hypercorn_serve(App(), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    watcher.cancel()


def main() -> None:
    raise_open_file_limit()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
