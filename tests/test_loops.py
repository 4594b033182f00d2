"""One client, several event loops: a module-level client used from two ``asyncio.run()`` calls
(or trio runs) works, with a pool per loop; one given an ``http_client`` says what to do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import trio
from helpers import MESSAGES, completion, text_stream
from raw_http import ThreadedServer, response

import chatsdk

KEY = "sk-loops"
REPLY = response(
    "200 OK", json.dumps(completion("Hi!")).encode(), {"content-type": "application/json"}
)
STREAM = response("200 OK", text_stream(["Hi", "!"]), {"content-type": "text/event-stream"})


def keep_alive_server() -> ThreadedServer:
    """A server in a thread, outliving event loops, that keeps each connection open: so that a
    client's second loop finds the first loop's connection in its pool."""
    return ThreadedServer(lambda _, request: STREAM if b'"stream":true' in request else REPLY)


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    running = keep_alive_server()
    yield running
    running.close()


async def ask(client: chatsdk.AsyncChatClient) -> str:
    reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async with stream:
        streamed = "".join([text async for text in stream.text()])
    return f"{reply.choices[0].message.content} {streamed}"


def test_a_client_used_from_two_asyncio_runs_works(server: ThreadedServer) -> None:
    client = chatsdk.AsyncChatClient(api_key=KEY, base_url=server.base_url, max_retries=0)
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    asyncio.run(client.aclose())
    assert server.connections == 2, "one pool (and connection) per event loop"


@pytest.mark.httpx_only('runs trio, where the aiohttp backend is refused')
def test_a_client_used_from_asyncio_then_trio_then_asyncio_works(server: ThreadedServer) -> None:
    client = chatsdk.AsyncChatClient(api_key=KEY, base_url=server.base_url, max_retries=0)
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    assert trio.run(ask, client) == "Hi! Hi!"
    assert trio.run(ask, client) == "Hi! Hi!"
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    trio.run(client.aclose)


def test_a_client_with_its_own_http_client_in_a_second_loop_says_what_to_do(
    server: ThreadedServer,
) -> None:
    http = httpx.AsyncClient()
    client = chatsdk.AsyncChatClient(
        api_key=KEY, base_url=server.base_url, max_retries=0, http_client=http
    )
    assert asyncio.run(ask(client)) == "Hi! Hi!"
    with pytest.raises(chatsdk.APIConnectionError, match="another event loop") as info:
        asyncio.run(ask(client))
    assert "asyncio.run()" in str(info.value) and "http_client" in str(info.value)
