"""Streams over HTTP/2 (httpx's h2 extra) through the client, against a local h2c server.

Hypercorn serves chatsdk.testing's app over cleartext HTTP/2 (prior knowledge) in a thread; the
client's HTTP client speaks only HTTP/2, so every stream shares one connection.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

import chatsdk
from chatsdk._pool import LinearPool, make_transport
from chatsdk.testing import ECHO_PREFIX
from chatsdk.testing._app import ChatApp

pytest.importorskip("h2", reason="HTTP/2 needs httpx's h2 extra")
hypercorn = pytest.importorskip("hypercorn", reason="the h2c server is hypercorn")

pytestmark = pytest.mark.anyio
STREAMS = 30


@pytest.fixture
def h2_base_url() -> Iterator[str]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listener.fileno()}"]
    config.accesslog = config.errorlog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        loop.run_until_complete(serve(ChatApp(), config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        listener.detach()  # hypercorn closed it


async def ask_all(client: chatsdk.AsyncChatClient) -> list[str]:
    answers: list[str] = []
    versions: set[str] = set()

    async def ask(i: int) -> None:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"q{i}"}], stream=True
        )
        versions.add(stream.response.http_version)
        answers.append((await stream.final()).choices[0].message.content or "")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(STREAMS):
                tg.start_soon(ask, i)
    assert versions == {"HTTP/2"}
    return sorted(answers)


@pytest.mark.parametrize("pool", ["one-pass", "httpx"])
async def test_concurrent_streams_share_one_http2_connection(h2_base_url: str, pool: str) -> None:
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    if pool == "one-pass":
        transport: Any = make_transport(limits, http1=False, http2=True)
        assert type(transport._pool) is LinearPool
        http = httpx.AsyncClient(transport=transport)
    else:
        http = httpx.AsyncClient(http1=False, http2=True, limits=limits)
    async with http:
        client = chatsdk.AsyncChatClient(
            api_key="k", base_url=h2_base_url, http_client=http, max_retries=0
        )
        answers = await ask_all(client)
        connections = http._transport._pool.connections  # type: ignore[attr-defined]
        assert len(connections) == 1, connections
    assert answers == sorted(f"{ECHO_PREFIX}q{i}" for i in range(STREAMS))
