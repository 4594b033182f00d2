"""Replies of the wrong shape, from a mock transport that sends exactly the hostile bytes.

Whatever a server puts in a chunk or a whole reply, the call ends with the answer or a typed
``chatsdk.APIError`` naming the bad field: never an ``AttributeError``, a ``RecursionError``, text
that cannot be encoded, or a Python ``repr`` in place of the text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import MESSAGES, chunk, completion, mock_client, sse, sse_response

import chatsdk
from chatsdk import _json

pytestmark = pytest.mark.anyio

KEY = "sk-hostile-key-0123456789"
DEEP = "[" * 100_000


def raw_events(*data: str, done: bool = True) -> bytes:
    """SSE bytes whose data lines are exactly the given texts."""
    body = "".join(f"data: {line}\n\n" for line in data)
    if done:
        body += "data: [DONE]\n\n"
    return body.encode()


def stream_client(body: bytes) -> chatsdk.AsyncChatClient:
    return mock_client(lambda request: sse_response(body), api_key=KEY)


def buffered_client(body: bytes, status: int = 200) -> chatsdk.AsyncChatClient:
    return mock_client(
        lambda request: httpx.Response(
            status, content=body, headers={"content-type": "application/json"}
        ),
        api_key=KEY,
    )


def with_choice(**choice: Any) -> str:
    base: dict[str, Any] = {"index": 0, "delta": {"content": "x"}, "finish_reason": None}
    base.update(choice)
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [base]})


BAD_CHUNKS = [
    (json.dumps({"choices": "abc"}), "choices"),
    (json.dumps({"choices": {"index": 0}}), "choices"),
    (json.dumps({"choices": [1]}), "choices[0]"),
    (json.dumps({"choices": [{"index": 0}, "x"]}), "choices[1]"),
    (with_choice(delta="hello"), "choices[0].delta"),
    (with_choice(delta=["hello"]), "choices[0].delta"),
    (with_choice(delta=7), "choices[0].delta"),
    (with_choice(index="zero"), "choices[0].index"),
    (with_choice(index=None), "choices[0].index"),
    (with_choice(index=-1), "choices[0].index"),
    (with_choice(index=1.5), "choices[0].index"),
    (with_choice(index=True), "choices[0].index"),
    (with_choice(delta={"content": 5}), "choices[0].delta.content"),
    (with_choice(delta={"content": {"text": "x"}}), "choices[0].delta.content"),
    (with_choice(delta={"content": ["x"]}), "choices[0].delta.content[0]"),
    (with_choice(delta={"content": "x", "role": ["assistant"]}), "choices[0].delta.role"),
    (with_choice(delta={"reasoning_content": 3}), "choices[0].delta.reasoning_content"),
    (with_choice(delta={"tool_calls": "call"}), "choices[0].delta.tool_calls"),
    (with_choice(delta={"tool_calls": [[]]}), "choices[0].delta.tool_calls[0]"),
    (
        with_choice(delta={"tool_calls": [{"index": 0, "function": "f"}]}),
        "choices[0].delta.tool_calls[0].function",
    ),
    (
        with_choice(delta={"tool_calls": [{"index": "first"}]}),
        "choices[0].delta.tool_calls[0].index",
    ),
    (
        with_choice(delta={"tool_calls": [{"index": 0, "function": {"arguments": 1}}]}),
        "choices[0].delta.tool_calls[0].function.arguments",
    ),
    (with_choice(logprobs="none"), "choices[0].logprobs"),
    (with_choice(usage=[1]), "choices[0].usage"),
    (with_choice(finish_reason=1), "choices[0].finish_reason"),
    (json.dumps({"choices": [], "usage": "12 tokens"}), "usage"),
    (json.dumps({"choices": [], "usage": 12}), "usage"),
]


@pytest.mark.parametrize(("data", "field"), BAD_CHUNKS)
async def test_a_chunk_of_the_wrong_shape_is_a_stream_error_naming_the_field(
    data: str, field: str
) -> None:
    body = raw_events(json.dumps(chunk("", role="assistant")), data)
    async with stream_client(body) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError) as caught:
            await stream.final()
    error = caught.value
    assert (error.type, error.code, error.param) == ("invalid_data", "invalid_data", field)
    assert f"{field} is " in error.message
    assert stream.response.is_closed


async def test_a_bad_field_quoting_the_key_is_redacted() -> None:
    body = raw_events(with_choice(delta=f"Bearer {KEY}"))
    async with stream_client(body) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError) as caught:
            await stream.final()
    assert KEY not in str(caught.value)
    assert "choices[0].delta" in str(caught.value)


async def test_digit_strings_where_indexes_belong_are_read_as_integers() -> None:
    body = raw_events(
        with_choice(index="0", delta={"role": "assistant", "content": "Hel"}),
        with_choice(index="0", delta={"content": "lo"}, finish_reason="stop"),
    )
    async with stream_client(body) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            pieces = [piece async for piece in stream.text()]
        assert pieces == ["Hel", "lo"]
        reply = await (
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        ).final()
    assert [(c.index, c.message.content) for c in reply.choices] == [(0, "Hello")]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("deep", [DEEP, nested(100_000), nested(300)])
async def test_json_nested_deep_in_a_chunk_is_a_stream_error(deep: str) -> None:
    body = raw_events('{"choices": [], "x": ' + deep + "}")
    async with stream_client(body) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError) as caught:
            await stream.final()
    assert caught.value.type == "invalid_data"
    assert "nested deeper than" in caught.value.message


async def test_json_nested_deep_in_an_error_event_is_a_stream_error() -> None:
    body = f'event: error\ndata: {{"error": {nested(100_000)}}}\n\n'.encode()
    async with stream_client(body) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError) as caught:
            await stream.final()
    assert caught.value.type == "error_event"


@pytest.mark.parametrize("deep", [DEEP, nested(100_000), nested(300)])
async def test_json_nested_deep_in_an_error_body_is_a_status_error(deep: str) -> None:
    body = ('{"error": {"message": "busy", "x": ' + deep + "}}").encode()
    async with buffered_client(body, status=400) as client:
        with pytest.raises(chatsdk.BadRequestError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert caught.value.status_code == 400


@pytest.mark.parametrize("deep", [DEEP, nested(100_000), nested(300)])
async def test_json_nested_deep_in_a_whole_reply_is_a_status_error(deep: str) -> None:
    body = ('{"choices": [], "x": ' + deep + "}").encode()
    async with buffered_client(body) as client:
        with pytest.raises(chatsdk.APIStatusError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert "not with a chat completion" in caught.value.message


def called_deep(frames: int, function: Callable[[], Any]) -> Any:
    """``function()`` called from ``frames`` frames down, as from deep in an application."""
    if frames == 0:
        return function()
    return called_deep(frames - 1, function)


async def test_json_nested_within_the_cap_is_kept_and_copied_far_from_the_stack_limit() -> None:
    reply = completion("ok", x_nest=json.loads(nested(250)))
    async with buffered_client(json.dumps(reply).encode()) as client:
        got = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert called_deep(500, got.to_dict) == reply


def reply_with(**choice: Any) -> bytes:
    reply = completion("x")
    reply["choices"][0].update(choice)
    return json.dumps(reply).encode()


BAD_REPLIES = [
    (json.dumps({"choices": "x"}).encode(), "choices"),
    (json.dumps({"choices": ["x"]}).encode(), "choices[0]"),
    (reply_with(message="hello"), "choices[0].message"),
    (reply_with(message=["hello"]), "choices[0].message"),
    (reply_with(index="first"), "choices[0].index"),
    (reply_with(index=-2), "choices[0].index"),
    (reply_with(message={"role": "assistant", "content": 5}), "choices[0].message.content"),
    (
        reply_with(message={"role": "assistant", "content": None, "tool_calls": {"a": 1}}),
        "choices[0].message.tool_calls",
    ),
    (reply_with(logprobs=[1]), "choices[0].logprobs"),
    (json.dumps(completion("x", usage="lots")).encode(), "usage"),
]


@pytest.mark.parametrize(("body", "field"), BAD_REPLIES)
async def test_a_whole_reply_of_the_wrong_shape_is_a_status_error_naming_the_field(
    body: bytes, field: str
) -> None:
    async with buffered_client(body) as client:
        with pytest.raises(chatsdk.APIStatusError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    error = caught.value
    assert (error.status_code, error.type, error.code) == (200, "invalid_data", "invalid_data")
    assert error.param == field
    assert f"{field} is " in error.message


async def test_a_whole_reply_of_the_wrong_shape_to_a_stream_request_is_a_stream_error() -> None:
    body = reply_with(message="hello")
    async with buffered_client(body) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError) as caught:
            await stream.final()
    assert (caught.value.type, caught.value.param) == ("invalid_data", "choices[0].message")


# -- tool calls are keyed by their index ---------------------------------------------------------


def tool_delta(
    index: object, *, id: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id is not None:
        call["id"] = id
        call["type"] = "function"
        call["function"]["name"] = name
    return chunk(tool_calls=[call])


async def final_of(*events: dict[str, Any]) -> chatsdk.ChatCompletion:
    async with stream_client(sse(*events, chunk(finish_reason="tool_calls"))) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        return await stream.final()


def calls_of(reply: chatsdk.ChatCompletion) -> list[tuple[str | None, str | None]]:
    """The calls in order (final() drops the stream's index, as a buffered reply has none)."""
    calls = reply.choices[0].message.tool_calls or []
    assert all(c.index is None for c in calls)
    return [(c.id, c.function.arguments if c.function else None) for c in calls]


async def test_an_index_sent_as_a_string_merges_into_the_call_it_names() -> None:
    reply = await final_of(
        tool_delta(0, id="call_a", name="a"),
        tool_delta(1, id="call_b", name="b"),
        tool_delta("0", args='{"x":'),
        tool_delta("1", args='{"y":'),
        tool_delta("0", args="1}"),
        tool_delta("1", args="2}"),
    )
    assert calls_of(reply) == [("call_a", '{"x":1}'), ("call_b", '{"y":2}')]


async def test_indexes_that_start_at_one_or_skip_make_only_the_calls_sent() -> None:
    reply = await final_of(
        tool_delta(1, id="call_a", name="a", args="{}"),
        tool_delta(3, id="call_b", name="b", args="[]"),
    )
    assert calls_of(reply) == [("call_a", "{}"), ("call_b", "[]")]


async def test_an_index_of_fifty_thousand_makes_one_call() -> None:
    reply = await final_of(
        tool_delta(50_000, id="call_far", name="far", args='{"a"'),
        tool_delta(50_000, args=":1}"),
    )
    assert calls_of(reply) == [("call_far", '{"a":1}')]
    assert len(json.dumps(reply.to_dict())) < 1_000


# -- content as a list of parts -------------------------------------------------------------------


def parts(*texts: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text} for text in texts]


async def test_content_parts_in_a_stream_are_text_for_text_and_final() -> None:
    body = sse(
        chunk(role="assistant", content_parts=parts("Hel", "lo")),
        chunk(content_parts=[{"type": "image_url", "image_url": {"url": "x"}}, *parts(", world")]),
        chunk(finish_reason="stop"),
    )
    body = body.replace(b'"content_parts"', b'"content"')
    async with stream_client(body) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            pieces = [piece async for piece in stream.text()]
        assert pieces == ["Hello", ", world"]
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        reply = await stream.final()
    assert reply.choices[0].message.content == "Hello, world"


async def test_content_parts_in_a_whole_reply_are_its_text() -> None:
    body = reply_with(
        message={
            "role": "assistant",
            "content": [*parts("Hello", "!"), {"type": "refusal", "refusal": "no"}],
        }
    )
    async with buffered_client(body) as client:
        reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    message = reply.choices[0].message
    assert (message.content, message.refusal) == ("Hello!", "no")


# -- lone surrogates ------------------------------------------------------------------------------


async def test_lone_surrogates_in_a_stream_become_replacement_characters() -> None:
    body = raw_events(
        with_choice(delta={"role": "assistant", "content": "a"}).replace('"a"', '"a\\ud800b"'),
        with_choice(delta={"content": "c"}, finish_reason="stop").replace(
            '"c"', '"\\udfffc\\ud83d\\ude00"'
        ),
    )
    async with stream_client(body) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            pieces = [piece async for piece in stream.text()]
        assert pieces == ["a\ufffdb", "\ufffdc\U0001f600"]
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        reply = await stream.final()
    text = reply.choices[0].message.content or ""
    assert text.encode("utf-8") == "a\ufffdb\ufffdc\U0001f600".encode()


async def test_lone_surrogates_in_a_whole_reply_and_an_error_body_are_replaced() -> None:
    body = json.dumps(completion("x")).replace('"x"', '"\\ud800"').encode()
    async with buffered_client(body) as client:
        reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == "\ufffd"
    error_body = b'{"error": {"message": "bad \\udc00 input", "type": "x"}}'
    async with buffered_client(error_body, status=400) as client:
        with pytest.raises(chatsdk.BadRequestError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert caught.value.message == "bad \ufffd input"
    str(caught.value).encode("utf-8")


@pytest.mark.parametrize("padding", [0, 1_000])
def test_the_json_helper_takes_256_levels_and_refuses_257(padding: int) -> None:
    pad = '"' + "x" * padding + '", '
    assert _json.loads("[" + pad + nested(255) + "]") == [
        "x" * padding,
        json.loads(nested(255)),
    ]
    with pytest.raises(ValueError, match="nested deeper than 256 levels"):
        _json.loads("[" + pad + nested(256) + "]")
