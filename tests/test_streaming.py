"""Streams through a mock transport: chunks, text, final, errors in every dialect, closing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from helpers import MESSAGES, chunk, completion, mock_client, sse, sse_response, text_stream

import chatsdk

pytestmark = pytest.mark.anyio


class TrackedBody(httpx.AsyncByteStream):
    """A response body that records whether it was read to the end and whether it was closed."""

    def __init__(self, parts: list[bytes], hang_after: bool = False) -> None:
        self.parts = parts
        self.hang_after = hang_after
        self.sent = 0
        self.closed = False
        self.finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.sent += 1
            yield part
        if self.hang_after:
            await anyio.sleep_forever()
        self.finished = True

    async def aclose(self) -> None:
        self.closed = True


def streaming(body: bytes | list[bytes], **kwargs: Any) -> chatsdk.AsyncChatClient:
    return mock_client(lambda request: sse_response(body), **kwargs)


async def open_stream(client: chatsdk.AsyncChatClient, **kwargs: Any) -> chatsdk.AsyncChatStream:
    stream: chatsdk.AsyncChatStream = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, **kwargs
    )
    return stream


async def test_chunks_text_and_final() -> None:
    body = text_stream(["Hello", ", ", "世界"])
    async with streaming(body) as client:
        stream = await open_stream(client)
        async with stream:
            chunks = [c async for c in stream]
        assert [c.choices[0].delta.content for c in chunks] == ["", "Hello", ", ", "世界", None]
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert all(isinstance(c, chatsdk.ChatCompletionChunk) for c in chunks)

        stream = await open_stream(client)
        assert [t async for t in stream.text()] == ["Hello", ", ", "世界"]

        stream = await open_stream(client)
        final = await stream.final()
        assert isinstance(final, chatsdk.ChatCompletion)
        assert final.choices[0].message.content == "Hello, 世界"
        assert final.choices[0].finish_reason == "stop"


async def test_request_asks_for_a_stream() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sse_response(text_stream(["x"]))

    async with mock_client(handler) as client:
        await (await open_stream(client)).final()
    assert json.loads(seen[0].content)["stream"] is True
    assert seen[0].headers["accept"] == "text/event-stream"


@pytest.mark.parametrize("cut", [1, 7, 60, 61, 62, 63, 100, 150])
async def test_cjk_split_across_reads(cut: int) -> None:
    body = text_stream(["你好", "🙂", "世界"])
    async with streaming([body[:cut], body[cut:]]) as client:
        assert [t async for t in (await open_stream(client)).text()] == ["你好", "🙂", "世界"]


async def test_cjk_one_byte_per_read_with_crlf_and_comments() -> None:
    body = sse(
        ": OPENROUTER PROCESSING\r\n\r\n",
        chunk("", role="assistant"),
        ": keep-alive\r\n\r\n",
        chunk("日本語"),
        chunk(finish_reason="stop"),
        newline="\r\n",
    )
    parts = [body[i : i + 1] for i in range(len(body))]
    async with streaming(parts) as client:
        final = await (await open_stream(client)).final()
    assert final.choices[0].message.content == "日本語"


async def test_bom_and_cr_framing_and_no_space_after_data() -> None:
    payload = json.dumps(chunk("ok", finish_reason="stop"))
    body = ("\ufeffdata:" + payload + "\r\rdata:[DONE]\r\r").encode()
    async with streaming(body) as client:
        assert [t async for t in (await open_stream(client)).text()] == ["ok"]


async def test_text_reads_utf8_even_if_charset_says_otherwise() -> None:
    body = text_stream(["café", "東京"])

    def handler(request: httpx.Request) -> httpx.Response:
        return sse_response(body, 200, **{"content-type": "text/event-stream; charset=latin-1"})

    async with mock_client(handler) as client:
        assert "".join([t async for t in (await open_stream(client)).text()]) == "café東京"


async def test_usage_chunk_with_empty_choices_and_extension_fields() -> None:
    usage = {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    body = sse(
        chunk("", role="assistant", reasoning_content="hmm"),
        dict(chunk("A"), x_groq={"id": "req_9"}),
        chunk(finish_reason="stop"),
        dict(chunk(), choices=[], usage=usage),
    )
    async with streaming(body) as client:
        stream = await open_stream(client)
        chunks = [c async for c in stream]
        assert chunks[0].choices[0].delta.reasoning_content == "hmm"
        assert chunks[1].x_groq.id == "req_9"  # type: ignore[attr-defined]
        assert chunks[1]["x_groq"] == {"id": "req_9"}
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 3
        final = await (await open_stream(client)).final()
        assert final.usage is not None and final.usage.total_tokens == 3
        assert final.choices[0].message.reasoning_content == "hmm"


async def test_final_merges_tool_calls_and_choices() -> None:
    body = sse(
        chunk(role="assistant", index=1),
        chunk(
            index=0,
            role="assistant",
            tool_calls=[
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": ""},
                }
            ],
        ),
        chunk("second", index=1),
        chunk(
            index=0, tool_calls=[{"index": 0, "id": "call_1", "function": {"arguments": '{"q":'}}]
        ),
        chunk(index=0, tool_calls=[{"index": 0, "function": {"arguments": ' "x"}'}}]),
        chunk(index=0, finish_reason="tool_calls"),
        chunk(index=1, finish_reason="stop"),
    )
    async with streaming(body) as client:
        final = await (await open_stream(client)).final()
    first, second = final.choices
    calls = first.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].id == "call_1"
    assert calls[0].function is not None
    assert calls[0].function.name == "lookup"
    assert json.loads(calls[0].function.arguments or "") == {"q": "x"}
    assert first.finish_reason == "tool_calls"
    assert second.message.content == "second"


# -- a stream that ends early is an error --------------------------------------------------------


async def test_end_without_done_or_finish_reason_raises_with_partial_text() -> None:
    body = text_stream(["The answer", " is"], finish=False, done=False)
    async with streaming(body) as client:
        stream = await open_stream(client)
        received: list[str] = []
        with pytest.raises(chatsdk.StreamError) as info:
            async for text in stream.text():
                received.append(text)
    assert received == ["The answer", " is"]
    assert info.value.partial_text == "The answer is"
    assert info.value.type == "incomplete_stream"
    assert "ended before" in str(info.value)


async def test_final_of_a_cut_stream_raises() -> None:
    async with streaming(text_stream(["a"], finish=False, done=False)) as client:
        with pytest.raises(chatsdk.StreamError) as info:
            await (await open_stream(client)).final()
    assert info.value.partial_text == "a"


async def test_finish_reason_without_done_is_complete() -> None:
    async with streaming(text_stream(["all"], done=False)) as client:
        final = await (await open_stream(client)).final()
    assert final.choices[0].message.content == "all"


async def test_done_without_finish_reason_is_complete() -> None:
    async with streaming(text_stream(["all"], finish=False)) as client:
        assert [t async for t in (await open_stream(client)).text()] == ["all"]


async def test_connection_drop_mid_stream_is_stream_error() -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield sse(chunk("", role="assistant"), chunk("partial"), done=False)
            raise httpx.RemoteProtocolError("peer closed connection without sending complete body")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Broken())

    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.StreamError) as info:
            await (await open_stream(client)).final()
    assert info.value.partial_text == "partial"
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


# -- errors inside the stream, in every dialect --------------------------------------------------

ERROR_BODIES = {
    "error object then DONE": sse(
        chunk("x"), {"error": {"message": "Overloaded", "type": "server_error", "code": 529}}
    ),
    "error object, no DONE": sse(
        chunk("x"),
        {"error": {"message": "Overloaded", "type": "server_error", "code": "overloaded"}},
        done=False,
    ),
    "error string": sse(chunk("x"), {"error": "Overloaded"}, done=False),
    "event: error": sse(
        chunk("x"), 'event: error\ndata: {"message": "Overloaded", "type": "server_error"}\n\n'
    ),
    "event: error, text data": sse(chunk("x"), "event: error\ndata: Overloaded\n\n"),
    "bare error field": sse(chunk("x"), "error: Overloaded\n\n", done=False),
    "finish_reason error": sse(chunk("x"), chunk(finish_reason="error")),
}


@pytest.mark.parametrize("name", list(ERROR_BODIES))
async def test_error_dialects_raise_stream_error(name: str) -> None:
    async with streaming(ERROR_BODIES[name]) as client:
        stream = await open_stream(client)
        with pytest.raises(chatsdk.StreamError) as info:
            async for _ in stream:
                pass
    error = info.value
    assert error.partial_text == "x"
    if name != "finish reason error" and "finish_reason" not in name:
        assert "Overloaded" in error.message
    assert stream.response.is_closed


async def test_error_object_fields_are_typed() -> None:
    body = sse(
        chunk("x"),
        {
            "error": {
                "message": "Too many",
                "type": "rate_limit_error",
                "code": "rate_limit_exceeded",
                "param": None,
            }
        },
    )
    async with streaming(body) as client:
        with pytest.raises(chatsdk.StreamError) as info:
            await (await open_stream(client)).final()
    assert (info.value.type, info.value.code) == ("rate_limit_error", "rate_limit_exceeded")
    assert isinstance(info.value, chatsdk.APIError)


async def test_non_json_data_line_is_quoted() -> None:
    async with streaming(sse(chunk("x"), "data: {not json\n\n")) as client:
        with pytest.raises(chatsdk.StreamError, match=r"not JSON: '\{not json'"):
            await (await open_stream(client)).final()


# -- status and content type are checked before decoding ----------------------------------------


async def test_error_status_while_streaming_raises_status_error() -> None:
    body = {
        "error": {
            "message": "Bad key",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json=body, headers={"x-request-id": "req_1"})

    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.AuthenticationError) as info:
            await open_stream(client)
    assert info.value.code == "invalid_api_key"
    assert info.value.body == body
    assert info.value.request_id == "req_1"


async def test_json_completion_to_a_stream_request_is_handled() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=completion("whole"))

    async with mock_client(handler) as client:
        assert [t async for t in (await open_stream(client)).text()] == ["whole"]
        final = await (await open_stream(client)).final()
    assert final.choices[0].message.content == "whole"
    assert final.usage is not None and final.usage.total_tokens == 5


async def test_json_error_with_200_to_a_stream_request_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": {"message": "model is loading", "type": "x"}})

    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.StreamError, match="model is loading"):
            await (await open_stream(client)).final()


async def test_html_to_a_stream_request_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>proxy</html>", headers={"content-type": "text/html"})

    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.StreamError, match="text/html"):
            await (await open_stream(client)).final()


# -- the stream owns its connection ---------------------------------------------------------------


def tracked_client(body: TrackedBody) -> chatsdk.AsyncChatClient:
    return mock_client(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=body
        )
    )


async def test_break_inside_async_with_closes() -> None:
    body = TrackedBody([text_stream(["a", "b"], finish=False, done=False)], hang_after=True)
    async with tracked_client(body) as client:
        async with await open_stream(client) as stream:
            async for _ in stream:
                break
        assert body.closed
        assert stream.response.is_closed


async def test_aclose_closes_and_is_idempotent() -> None:
    body = TrackedBody([text_stream(["a"], finish=False, done=False)], hang_after=True)
    async with tracked_client(body) as client:
        stream = await open_stream(client)
        await stream.__anext__()
        await stream.aclose()
        await stream.aclose()
        assert body.closed
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()


async def test_done_drains_and_closes() -> None:
    body = TrackedBody([text_stream(["a"]), b""])
    async with tracked_client(body) as client:
        assert [t async for t in (await open_stream(client)).text()] == ["a"]
    assert body.finished and body.closed


async def test_cancellation_closes() -> None:
    body = TrackedBody([text_stream(["a"], finish=False, done=False)], hang_after=True)
    async with tracked_client(body) as client:
        stream = await open_stream(client)
        with anyio.move_on_after(0.05):
            async for _ in stream:
                pass
        assert body.closed
        assert stream.response.is_closed


async def test_unclosed_stream_warns_on_collection() -> None:
    import gc

    body = TrackedBody([text_stream(["a"])])
    async with tracked_client(body) as client:
        stream = await open_stream(client)
        with pytest.warns(ResourceWarning, match="not closed"):
            del stream
            gc.collect()


# -- timeouts ----------------------------------------------------------------------------------


class Pings(httpx.AsyncByteStream):
    """Sends a first chunk, then only keep-alive comments, a bounded number of times."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse(chunk("", role="assistant"), done=False)
        for _ in range(200):
            await anyio.sleep(0.01)
            yield b": ping\n\n"


def pinging_client(**kwargs: Any) -> chatsdk.AsyncChatClient:
    return mock_client(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Pings()
        ),
        **kwargs,
    )


async def test_pings_do_not_reset_the_idle_timeout() -> None:
    async with pinging_client(timeout=0.1) as client:
        stream = await open_stream(client)
        with pytest.raises(chatsdk.APITimeoutError, match="keep-alive"):
            await stream.final()
        assert stream.response.is_closed


async def test_deadline_covers_the_whole_stream() -> None:
    async with pinging_client(timeout=30) as client:
        stream = await open_stream(client, deadline=0.1)
        with pytest.raises(chatsdk.APITimeoutError, match="deadline"):
            await stream.final()
