"""Compressed replies: read right, and never inflated past the documented caps.

A gzip "bomb" (200 MB of zeros in 200 KB) is sent exactly as a server would, through a mock
transport, in the pieces a socket would deliver; ``tracemalloc`` measures the peak while it is
read, buffered and streamed.
"""

from __future__ import annotations

import itertools
import json
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from helpers import MESSAGES, completion, mock_client, pieces, text_stream

import chatsdk
from chatsdk._body import MAX_ERROR_BODY_BYTES, MAX_REPLY_BYTES
from chatsdk._inflate import STEP_BYTES, BodyDecoder
from chatsdk._sse import MAX_EVENT_CHARS

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
# What may be held beyond a cap: one read, one inflated step and the bookkeeping around them.
SLACK = 2 * MB
READ = 64 * 1024  # how much a socket read hands over at most


def compress(data: bytes | Iterator[bytes], encoding: str = "gzip") -> bytes:
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding]
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    parts = [compressor.compress(part) for part in ([data] if isinstance(data, bytes) else data)]
    return b"".join([*parts, compressor.flush()])


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """200 MB of zeros, gzipped to about 200 KB."""
    zeros = bytes(MB)
    return compress(zeros for _ in range(200))


JSON = "application/json"
SSE = "text/event-stream"


def reply(body: bytes, encoding: str, kind: str = JSON, status: int = 200) -> httpx.Response:
    """A response whose body arrives as a socket delivers it: in reads of at most 64 KiB."""
    parts = [body[start : start + READ] for start in range(0, len(body), READ)]
    headers = {"content-encoding": encoding, "content-type": kind}
    return httpx.Response(status, headers=headers, content=pieces(parts))


async def peak_while(action: Callable[[], Awaitable[Any]]) -> tuple[int, BaseException | None]:
    """The most memory allocated at once while ``action`` ran, and what it raised."""
    tracemalloc.start()
    try:
        await action()
    except BaseException as exc:  # handed back to the test to judge
        raised: BaseException | None = exc
    else:
        raised = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, raised


async def test_a_gzip_bomb_as_a_whole_reply_costs_no_more_than_the_reply_cap(bomb: bytes) -> None:
    async with mock_client(lambda request: reply(bomb, "gzip")) as client:
        peak, raised = await peak_while(
            lambda: client.chat.completions.create(model="m", messages=MESSAGES)
        )
    assert isinstance(raised, chatsdk.APIConnectionError), raised
    assert f"grew past {MAX_REPLY_BYTES} bytes" in raised.message
    assert peak < MAX_REPLY_BYTES + SLACK, peak


async def test_a_gzip_bomb_as_a_stream_costs_no_more_than_the_line_cap(bomb: bytes) -> None:
    async with mock_client(lambda request: reply(bomb, "gzip", SSE)) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        peak, raised = await peak_while(stream.final)
    assert isinstance(raised, chatsdk.StreamError), raised
    assert f"grew past {MAX_EVENT_CHARS} characters" in raised.message
    assert peak < MAX_EVENT_CHARS + SLACK, peak
    assert stream.response.is_closed


async def test_a_gzip_bomb_as_an_error_reply_costs_no_more_than_the_error_body_cap(
    bomb: bytes,
) -> None:
    async with mock_client(lambda request: reply(bomb, "gzip", status=400)) as client:
        peak, raised = await peak_while(
            lambda: client.chat.completions.create(model="m", messages=MESSAGES)
        )
    assert isinstance(raised, chatsdk.BadRequestError), raised
    # The head of the body is held in its pieces, joined, and read as text once each.
    assert peak < 3 * MAX_ERROR_BODY_BYTES + SLACK, peak


async def test_a_megabyte_of_tiny_events_is_handed_out_a_short_list_at_a_time() -> None:
    tiny = b'data: {"choices":[]}\n\n'
    body = tiny * (MB // len(tiny)) + text_stream(["end"])
    # All of it in one piece, as a transport may hand over a body it holds whole.
    async with mock_client(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=pieces([body])
        )
    ) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            peak, raised = await peak_while(stream.__anext__)
            assert raised is None
            rest = [chunk async for chunk in stream]
    assert peak < MB // 2, peak
    assert len(rest) == MB // len(tiny) - 1 + 3


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_replies_read_whole_buffered_and_streamed(encoding: str) -> None:
    name = "deflate" if encoding == "raw-deflate" else encoding
    text = "Hello, 世界! " * 5_000  # inflates to many steps
    buffered = compress(json.dumps(completion(text)).encode(), encoding)
    pieces_of_text = [text[start : start + 100] for start in range(0, len(text), 100)]
    streamed = compress(text_stream(pieces_of_text), encoding)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "gzip, deflate"
        if json.loads(request.content).get("stream"):
            return reply(streamed, name, SSE)
        return reply(buffered, name)

    async with mock_client(handler) as client:
        whole = await client.chat.completions.create(model="m", messages=MESSAGES)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        final = await stream.final()
    assert whole.choices[0].message.content == text
    assert final.choices[0].message.content == text


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br", "compress"])
async def test_an_encoding_not_asked_for_is_a_typed_error(encoding: str) -> None:
    body = b"\x8b\x00compressed-somehow"

    def handler(request: httpx.Request) -> httpx.Response:
        return reply(body, encoding, SSE if b'"stream":true' in request.content else JSON)

    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.APIConnectionError, match="not asked for"):
            await client.chat.completions.create(model="m", messages=MESSAGES)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError, match="not asked for") as caught:
            await stream.final()
    assert caught.value.type == "invalid_encoding"
    assert stream.response.is_closed


async def test_a_corrupt_gzip_body_is_a_typed_error() -> None:
    body = compress(text_stream(["Hello"]))
    body = body[:20] + bytes(40) + body[60:]
    async with mock_client(lambda request: reply(body, "gzip", SSE)) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError, match="corrupt"):
            await stream.final()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
@pytest.mark.parametrize("read", [1, 7, READ])
def test_the_decoder_hands_out_at_most_a_step_at_a_time(encoding: str, read: int) -> None:
    plain = bytes(range(256)) * 200 + bytes(3 * STEP_BYTES)
    body = compress(plain, encoding)
    decoder = BodyDecoder("deflate" if encoding == "raw-deflate" else encoding)
    out: list[bytes] = []
    for start in range(0, len(body), read):
        decoder.push(body[start : start + read])
        out += iter(decoder.pull, b"")
    out.append(decoder.finish())
    assert b"".join(out) == plain
    assert max(map(len, out)) <= STEP_BYTES


async def test_the_deadline_holds_while_a_small_gzip_body_inflates_to_millions_of_events() -> None:
    tiny = b'data: {"choices":[]}\n\n'
    events = (tiny * (MB // len(tiny)) for _ in range(64))
    body = compress(itertools.chain(events, [text_stream(["end"])]))

    # All of it in one piece: no wait on the network comes after it to keep the deadline.
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": "gzip", "content-type": SSE}
        return httpx.Response(200, headers=headers, content=pieces([body]))

    async with mock_client(handler, deadline=0.2) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.APITimeoutError, match="deadline"):
            await stream.final()
    assert stream.response.is_closed
