"""One client, several event loops: a module-level client used from two ``asyncio.run()`` calls
(or trio runs) works, with a pool per loop; one given an ``http_client`` says what to do."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import trio
from helpers import MESSAGES, completion, text_stream
from raw_http import response, split_request

import chatsdk

KEY = "sk-loops"
REPLY = response(
    "200 OK", json.dumps(completion("Hi!")).encode(), {"content-type": "application/json"}
)
STREAM = response("200 OK", text_stream(["Hi", "!"]), {"content-type": "text/event-stream"})


class KeepAliveServer:
    """A server in a thread, outliving event loops, that keeps each connection open: so that a
    client's second loop finds the first loop's connection in its pool."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
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
                body, buffer = split
                conn.sendall(STREAM if b'"stream":true' in body else REPLY)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    running = KeepAliveServer()
    yield running
    running.sock.close()


async def ask(client: chatsdk.AsyncChatClient) -> str:
    reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async with stream:
        streamed = "".join([text async for text in stream.text()])
    return f"{reply.choices[0].message.content} {streamed}"


def test_a_client_used_from_two_asyncio_runs_works(server: KeepAliveServer) -> None:
    client = chatsdk.AsyncChatClient(api_key=KEY, base_url=server.base_url, max_retries=0)
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    asyncio.run(client.aclose())
    assert server.connections == 2, "one pool (and connection) per event loop"


@pytest.mark.httpx_only('runs trio, where the aiohttp backend is refused')
def test_a_client_used_from_asyncio_then_trio_then_asyncio_works(server: KeepAliveServer) -> None:
    client = chatsdk.AsyncChatClient(api_key=KEY, base_url=server.base_url, max_retries=0)
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    assert trio.run(ask, client) == "Hi! Hi!"
    assert trio.run(ask, client) == "Hi! Hi!"
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    trio.run(client.aclose)


def test_a_client_with_its_own_http_client_in_a_second_loop_says_what_to_do(
    server: KeepAliveServer,
) -> None:
    http = httpx.AsyncClient()
    client = chatsdk.AsyncChatClient(
        api_key=KEY, base_url=server.base_url, max_retries=0, http_client=http
    )
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    with pytest.raises(chatsdk.APIConnectionError, match="another event loop") as info:
        asyncio.run(ask(client))
    assert "asyncio.run()" in str(info.value) and "http_client" in str(info.value)
