"""A server that sends more than its reply cannot slip the extra bytes to the next request.

A raw socket server on 127.0.0.1 answers the first request with a body longer than its
``Content-Length`` (or bytes past the end of a chunked body), the surplus shaped as a whole forged
reply. If the connection went back to the pool, the next request would read the forgery as its
own reply; it must get the reply the server sends it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from helpers import MESSAGES, chunk, completion, sse
from raw_http import ThreadedServer

import chatsdk

pytestmark = pytest.mark.anyio

GUARD = 10  # seconds: a hang guard only


def http_reply(body: bytes, kind: str = "application/json", *, chunked: bool = False) -> bytes:
    if chunked:
        head = f"HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ntransfer-encoding: chunked\r\n\r\n"
        return head.encode() + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    head = f"HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


FORGED = http_reply(json.dumps(completion("FORGED")).encode())


def forging_server(first: bytes, surplus: bytes = FORGED) -> ThreadedServer:
    """Answers request n with a completion saying ``reply n``; the first one with ``surplus`` (a
    forged reply) glued to its end, in the same write."""

    def answer(number: int, request: bytes) -> bytes:
        if number == 1:
            return first + surplus
        return http_reply(json.dumps(completion(f"reply {number}")).encode())

    return ThreadedServer(answer)


@pytest.fixture
def first_reply(request: pytest.FixtureRequest) -> bytes:
    return bytes(request.param)


@pytest.fixture
def server(first_reply: bytes) -> Iterator[ThreadedServer]:
    running = forging_server(first_reply)
    yield running
    running.close()


def client_of(server: ThreadedServer) -> chatsdk.AsyncChatClient:
    return chatsdk.AsyncChatClient(
        api_key="sk-test", base_url=f"http://127.0.0.1:{server.port}/v1", max_retries=0
    )


STREAM = sse(chunk("Hi", role="assistant"), chunk(finish_reason="stop"))
FIRST_REPLIES: list[Any] = [
    pytest.param(http_reply(json.dumps(completion("reply 1")).encode()), id="content-length"),
    pytest.param(
        http_reply(json.dumps(completion("reply 1")).encode(), chunked=True), id="chunked"
    ),
]


@pytest.mark.parametrize("first_reply", FIRST_REPLIES, indirect=True)
async def test_bytes_past_a_whole_reply_never_reach_the_next_request(
    server: ThreadedServer,
) -> None:
    with anyio.fail_after(GUARD):
        async with client_of(server) as client:
            first = await client.chat.completions.create(model="m", messages=MESSAGES)
            second = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert first.choices[0].message.content == "reply 1"
    assert second.choices[0].message.content == "reply 2"
    assert server.connections == 2  # the one the surplus came on was not used again


STREAMS: list[Any] = [
    pytest.param(http_reply(STREAM, "text/event-stream"), id="content-length"),
    pytest.param(http_reply(STREAM, "text/event-stream", chunked=True), id="chunked"),
]


@pytest.mark.parametrize("first_reply", STREAMS, indirect=True)
async def test_bytes_past_a_stream_never_reach_the_next_request(server: ThreadedServer) -> None:
    with anyio.fail_after(GUARD):
        async with client_of(server) as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with stream:
                text = [piece async for piece in stream.text()]
            second = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert text == ["Hi"]
    assert second.choices[0].message.content == "reply 2"
    assert server.connections == 2


async def test_a_reply_of_exactly_its_length_keeps_its_connection() -> None:
    server = forging_server(http_reply(json.dumps(completion("reply 1")).encode()), surplus=b"")
    try:
        with anyio.fail_after(GUARD):
            async with client_of(server) as client:
                replies = [
                    await client.chat.completions.create(model="m", messages=MESSAGES)
                    for _ in range(3)
                ]
    finally:
        server.close()
    assert [r.choices[0].message.content for r in replies] == ["reply 1", "reply 2", "reply 3"]
    assert server.connections == 1
