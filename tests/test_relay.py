"""``stream.to_sse()``: the bytes a web backend relays to a browser, and the upstream closing when
the browser goes away. Literal bytes through a mock transport; cancellation against the local
server, which records when it saw the client leave."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx
import pytest
from helpers import (
    MESSAGES,
    busy_connections,
    chunk,
    mock_client,
    pool_of,
    sse,
    sse_response,
    text_stream,
)
from httpx_sse import ServerSentEvent, aconnect_sse

import chatsdk
from chatsdk.testing import Faults, serve

pytestmark = pytest.mark.anyio

KEY = "sk-relay-0123456789SECRET"
# A bound on a hang, never a measure of speed.
GUARD = 10.0


async def relayed(body: bytes, *, text_only: bool = False, **client: Any) -> bytes:
    """What ``to_sse()`` yields for an upstream stream whose body is ``body``."""
    async with mock_client(lambda request: sse_response(body), **client) as api:
        stream = await api.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        out = [piece async for piece in stream.to_sse(text_only=text_only)]
        assert stream.response.is_closed
    assert all(piece.endswith(b"\n\n") for piece in out)  # one whole event per piece
    return b"".join(out)


def data_event(value: Any) -> bytes:
    return b"data: " + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + (
        b"\n\n"
    )


async def browser_events(relay_bytes: bytes) -> list[ServerSentEvent]:
    """The events a browser's SSE decoder gets from the relay (httpx-sse as the reference)."""
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: sse_response(relay_bytes))
    )
    async with http, aconnect_sse(http, "GET", "http://relay/") as source:
        return [event async for event in source.aiter_sse()]


# -- the JSON form -------------------------------------------------------------------------------


async def test_chunks_are_relayed_one_event_each_then_done() -> None:
    chunks = [
        chunk("", role="assistant"), chunk("Hel"), chunk("lo 你好"), chunk(finish_reason="stop")
    ]
    out = await relayed(sse(*chunks))
    assert out == b"".join(data_event(c) for c in chunks) + b"data: [DONE]\n\n"


async def test_the_relay_is_itself_a_stream_chatsdk_reads() -> None:
    out = await relayed(text_stream(["Hello", ", ", "world"]))
    async with mock_client(lambda request: sse_response(out)) as api:
        stream = await api.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert [t async for t in stream.text()] == ["Hello", ", ", "world"]


async def test_tool_call_chunks_are_relayed_as_they_came() -> None:
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}
    chunks = [
        chunk(role="assistant", tool_calls=[call]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": ' "Paris"}'}}]),
        chunk(finish_reason="tool_calls"),
    ]
    out = await relayed(sse(*chunks))
    assert out == b"".join(data_event(c) for c in chunks) + b"data: [DONE]\n\n"
    async with mock_client(lambda request: sse_response(out)) as api:
        stream = await api.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        message = (await stream.final()).choices[0].message
    assert message.tool_calls is not None
    function = message.tool_calls[0].function
    assert function is not None and function.arguments == '{"city": "Paris"}'
    # The text form has no text to send for a tool call: only the end.
    assert await relayed(sse(*chunks), text_only=True) == b"event: done\ndata: [DONE]\n\n"


# -- errors ---------------------------------------------------------------------------------------


async def test_an_error_mid_stream_is_the_last_event_and_no_done_follows() -> None:
    error = {"message": f"Overloaded (key {KEY})", "type": "server_error", "param": None,
             "code": "overloaded"}
    out = await relayed(sse(chunk("", role="assistant"), chunk("par"), {"error": error}),
                        api_key=KEY)
    assert KEY.encode() not in out
    events = await browser_events(out)
    assert [json.loads(e.data) for e in events[:2]] == [chunk("", role="assistant"), chunk("par")]
    assert json.loads(events[-1].data) == {"error": {
        "message": "Overloaded (key <redacted>)", "type": "server_error", "param": None,
        "code": "overloaded",
    }}
    assert len(events) == 3  # the error is last: a browser tells a cut answer from a whole one


async def test_a_stream_cut_short_ends_with_an_incomplete_stream_error() -> None:
    out = await relayed(text_stream(["half"], finish=False, done=False))
    last = json.loads((await browser_events(out))[-1].data)
    assert last["error"]["type"] == "incomplete_stream"
    assert set(last["error"]) == {"message", "type", "param", "code"}
    assert b"data: [DONE]" not in out


async def test_a_relayed_error_is_read_back_as_a_stream_error() -> None:
    error = {"message": "Overloaded", "type": "server_error", "param": None, "code": 529}
    out = await relayed(sse(chunk("x"), {"error": error}, done=False))
    async with mock_client(lambda request: sse_response(out)) as api:
        stream = await api.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError) as info:
            await stream.final()
    # The server's words cross the relay once, not wrapped in chatsdk's wording twice.
    assert info.value.message == "The server reported an error in the stream: Overloaded"
    assert (info.value.type, info.value.code) == ("server_error", 529)
    assert info.value.partial_text == "x"


async def test_a_chunk_json_cannot_carry_ends_the_relay_with_an_error() -> None:
    # Python's decoder accepts NaN, which JSON (and a browser's JSON.parse) does not.
    body = sse(chunk("a"), '{"x": 1}'.join(["data: ", "\n\n"]), done=False).replace(
        b'{"x": 1}', b'{"choices":[{"index":0,"delta":{"content":"b"},"score":NaN}]}'
    )
    out = await relayed(body + sse(chunk(finish_reason="stop")))
    events = await browser_events(out)
    assert json.loads(events[0].data) == chunk("a")
    assert json.loads(events[1].data)["error"]["type"] == "invalid_chunk"
    assert len(events) == 2 and b"score" not in out


# -- the text form -------------------------------------------------------------------------------


async def test_text_form_sends_content_deltas_then_a_named_done() -> None:
    out = await relayed(text_stream(["Hello", " two\nlines", "\r\nand", " [DONE]"]),
                        text_only=True)
    assert out == (
        b"data: Hello\n\n"
        b"data:  two\ndata: lines\n\n"
        b"data: \ndata: and\n\n"
        b"data:  [DONE]\n\n"  # a text that happens to read [DONE] is still text
        b"event: done\ndata: [DONE]\n\n"
    )
    events = await browser_events(out)
    assert [e.data for e in events if e.event == "message"] == [
        "Hello", " two\nlines", "\nand", " [DONE]"
    ]
    assert events[-1].event == "done"


async def test_text_form_names_its_error_event() -> None:
    error = {"message": f"bad key {KEY}", "type": "invalid_request_error", "param": "model",
             "code": None}
    out = await relayed(sse(chunk("so far"), {"error": error}), text_only=True, api_key=KEY)
    events = await browser_events(out)
    assert [(e.event, e.data) for e in events[:1]] == [("message", "so far")]
    assert events[-1].event == "error"
    assert json.loads(events[-1].data) == {"error": {
        "message": "bad key <redacted>", "type": "invalid_request_error", "param": "model",
        "code": None,
    }}


# -- the browser goes away -----------------------------------------------------------------------


async def wait_for_disconnect(server: chatsdk.testing.LocalServer) -> float:
    """When the local server saw the client of its last chat request leave."""
    with anyio.fail_after(GUARD):
        while (seen := server.chat_requests[-1].disconnected_at) is None:
            await anyio.lowlevel.checkpoint()  # the server runs in its own thread
            await anyio.to_thread.run_sync(lambda: None)
    return seen


async def wait_until_ended(server: chatsdk.testing.LocalServer) -> float:
    """When the local server was done with its last chat request (after it saw the client
    leave, its handler still has to stop)."""
    with anyio.fail_after(GUARD):
        while (ended := server.chat_requests[-1].ended_at) is None:
            await anyio.lowlevel.checkpoint()
            await anyio.to_thread.run_sync(lambda: None)
    return ended


async def first_text_event(events: AsyncIterator[bytes]) -> bytes:
    async for event in events:
        if b'"content":"(' in event:
            return event
    raise AssertionError("the stream ended before any content")


async def test_cancelling_the_consumer_closes_the_upstream_request(anyio_backend: str) -> None:
    async with serve(faults=Faults(stall_after=3, stall_for=30)) as server:
        async with server.client(max_retries=0) as api:
            pool = pool_of(api)
            stream = await api.chat.completions.create(
                model="m", messages=MESSAGES, stream=True
            )
            streaming = anyio.Event()

            async def respond() -> None:  # what a web framework's response task does
                events = stream.to_sse()
                await first_text_event(events)
                streaming.set()
                async for _ in events:  # the server stalls: this waits until cancelled
                    pass

            async with anyio.create_task_group() as tg:
                tg.start_soon(respond)
                with anyio.fail_after(GUARD):
                    await streaming.wait()
                tg.cancel_scope.cancel()  # the browser went away
            assert stream.response.is_closed
            assert busy_connections(pool) == []
            left = await wait_for_disconnect(server)
            assert await wait_until_ended(server) >= left


async def test_closing_the_iterator_early_closes_the_upstream_request() -> None:
    async with serve(faults=Faults(stall_after=3, stall_for=30)) as server:
        async with server.client(max_retries=0) as api:
            pool = pool_of(api)
            stream = await api.chat.completions.create(
                model="m", messages=MESSAGES, stream=True
            )
            events = stream.to_sse(text_only=True)
            with anyio.fail_after(GUARD):
                assert await events.__anext__() == b"data: (chatsdk\n\n"
            await events.aclose()
            assert stream.response.is_closed
            assert busy_connections(pool) == []
            await wait_for_disconnect(server)


async def test_an_iterator_dropped_mid_answer_closes_the_upstream_request() -> None:
    # A framework cancelled while it sends leaves its loop without closing the iterator; the
    # event loop's finaliser for async generators closes it, and with it the upstream request.
    async with serve(faults=Faults(stall_after=3, stall_for=30)) as server:
        async with server.client(max_retries=0) as api:
            pool = pool_of(api)
            stream = await api.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            events = stream.to_sse()
            with anyio.fail_after(GUARD):
                await first_text_event(events)
            del events
            with anyio.fail_after(GUARD):
                # The finaliser closes it in a task of its own: wait for that task to finish.
                while not stream.response.is_closed or busy_connections(pool):
                    await anyio.lowlevel.checkpoint()
            await wait_for_disconnect(server)
