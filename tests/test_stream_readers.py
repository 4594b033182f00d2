"""A stream has one reader: a second task reading it at the same time gets a clear error at once
while the first reads on to the whole answer; final() after an early close is an error, never a
short answer passed off as whole."""

from __future__ import annotations

import anyio
import anyio.abc
import httpx
import pytest
from helpers import MESSAGES, busy_connections, chunk, pool_of, sse, sse_response, text_stream
from raw_http import raw_server

import chatsdk

pytestmark = pytest.mark.anyio

GUARD = 10  # seconds: a hang guard only
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_a_second_reader_gets_an_error_at_once_and_the_first_reads_on() -> None:
    gate = anyio.Event()

    async def reply(connection: anyio.abc.ByteStream) -> None:
        await connection.send(
            HEAD + chunked(sse(chunk("", role="assistant"), chunk("Hel"), done=False))
        )
        await gate.wait()
        rest = sse(chunk("lo "), chunk("world"), chunk(finish_reason="stop"))
        await connection.send(chunked(rest) + b"0\r\n\r\n")

    got: list[str] = []
    first_piece = anyio.Event()
    async with raw_server(reply) as server:
        async with chatsdk.AsyncChatClient(
            api_key="sk-readers", base_url=server.base_url, max_retries=0
        ) as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)

            async def first_reader() -> None:
                async for text in stream.text():
                    got.append(text)
                    first_piece.set()

            with anyio.fail_after(GUARD):
                async with anyio.create_task_group() as group:
                    group.start_soon(first_reader)
                    await first_piece.wait()
                    await anyio.wait_all_tasks_blocked()  # the first reader waits for bytes
                    with pytest.raises(RuntimeError, match="Another task is already reading"):
                        await stream.__anext__()
                    with pytest.raises(RuntimeError, match="Another task is already reading"):
                        await stream.final()
                    gate.set()
            assert "".join(got) == "Hello world"
            assert stream.response.is_closed
            assert busy_connections(pool_of(client)) == []
            assert (await stream.final()).choices[0].message.content == "Hello world"


def mock(body: bytes) -> chatsdk.AsyncChatClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: sse_response(body)))
    return chatsdk.AsyncChatClient(
        api_key="sk-readers", base_url="http://api.test/v1", http_client=http, max_retries=0
    )


async def test_final_after_an_early_close_is_an_incomplete_stream_error() -> None:
    async with mock(text_stream(["Hel", "lo"])) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        pieces = stream.text()
        assert await pieces.__anext__() == "Hel"
        await stream.aclose()
        with pytest.raises(chatsdk.StreamError) as info:
            await stream.final()
    assert info.value.type == "incomplete_stream" and info.value.code == "incomplete_stream"
    assert info.value.partial_text == "Hel"
    assert info.value.args == (info.value.message,)


async def test_final_after_the_whole_stream_was_read_returns_it() -> None:
    async with mock(text_stream(["Hel", "lo"])) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert [text async for text in stream.text()] == ["Hel", "lo"]
        assert (await stream.final()).choices[0].message.content == "Hello"
    # a stream that ends on finish_reason without [DONE] is whole too
    async with mock(text_stream(["Hel", "lo"], done=False)) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert (await stream.final()).choices[0].message.content == "Hello"
        assert (await stream.final()).choices[0].message.content == "Hello"
