"""A conversation round-trips: a reply's message goes back in; a stream's final() is the reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import MESSAGES, chunk, completion, mock_client, sse, text_stream

import chatsdk
from chatsdk.testing import Reply, ReplyLike, ToolCallReply, serve

pytestmark = pytest.mark.anyio

Validate = Callable[[str, Any], None]

ANSWERS: dict[str, Any] = {
    "text": "Paris is the capital.",
    "tool calls": Reply(
        tool_calls=[
            ToolCallReply("get_weather", {"city": "Paris"}, id="call_1"),
            ToolCallReply("get_time", {"zone": "CET"}, id="call_2"),
        ]
    ),
    "reasoning and text": Reply(reasoning_content="Think: capital.", content="Paris."),
    "text and a tool call": Reply(
        content="Let me look.", tool_calls=[ToolCallReply("lookup", "{}", id="call_9")]
    ),
}


def without_ids(reply: chatsdk.ChatCompletion) -> dict[str, Any]:
    data = reply.to_dict()
    del data["id"], data["created"]
    return data


@pytest.mark.parametrize("answer", list(ANSWERS))
async def test_final_equals_the_buffered_reply_field_for_field(answer: str) -> None:
    async with serve(replies=ANSWERS[answer]) as server, server.client(max_retries=0) as client:
        buffered = await client.chat.completions.create(model="m", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            streamed = await stream.final()
    assert without_ids(streamed) == without_ids(buffered)
    message = streamed.choices[0].message
    if answer == "tool calls":
        assert message.content is None  # as the buffered API has it, not ""
        assert [call.index for call in message.tool_calls or []] == [None, None]


async def test_a_reply_message_goes_back_into_messages(spec_validate: Validate) -> None:
    replies: list[ReplyLike] = [
        Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"}, id="call_1")]),
        "It is sunny.",
        "You are welcome.",
    ]
    async with serve(replies=replies) as server, server.client(max_retries=0) as client:
        messages: list[chatsdk.MessageParam] = [{"role": "user", "content": "Weather?"}]
        stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
        async with stream:
            first = await stream.final()
        messages.append(first.choices[0].message)
        messages.append({"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sun"}'})
        second = await client.chat.completions.create(model="m", messages=messages)
        messages.append(second.choices[0].message)
        messages.append({"role": "user", "content": "Thanks"})
        await client.chat.completions.create(model="m", messages=messages)
        sent = [request.body for request in server.requests]
    assert sent[1]["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert sent[2]["messages"][3] == {"role": "assistant", "content": "It is sunny."}
    for body in sent:
        spec_validate("CreateChatCompletionRequest", body)


def message(**fields: Any) -> chatsdk.ChatCompletionMessage:
    reply = chatsdk.ChatCompletion(completion(choices=[{"index": 0, "message": fields}]))
    return reply.choices[0].message


def test_to_param_keeps_only_what_the_api_takes(spec_validate: Validate) -> None:
    full = message(
        role="assistant",
        content=None,
        refusal="I can't help with that.",
        name="helper",
        annotations=[],
        reasoning_content="private thoughts",
        audio={"id": "audio_1", "data": "AAAA", "expires_at": 1, "transcript": "hi"},
        tool_calls=[
            {
                "index": 0,
                "id": "c",
                "type": "function",
                "function": {"name": "f", "arguments": "{}"},
            }
        ],
    )
    param = full.to_param()
    assert param == {
        "role": "assistant",
        "content": None,
        "refusal": "I can't help with that.",
        "name": "helper",
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
        "audio": {"id": "audio_1"},
    }
    spec_validate("ChatCompletionRequestAssistantMessage", param)
    plain = message(role="assistant", content="Hi.", refusal=None, annotations=[])
    assert plain.to_param() == {"role": "assistant", "content": "Hi."}
    # Only tool calls, and no content key at all: none is made up.
    bare = message(role="assistant", tool_calls=[{"id": "c", "type": "function", "function": {}}])
    assert "content" not in bare.to_param()
    # A new dict each time: changing it changes nothing in the reply.
    param["content"] = "changed"
    assert full.content is None


async def test_a_stream_delta_is_not_a_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing is sent")

    delta = chatsdk.ChoiceDelta({"role": "assistant", "content": "x"})
    async with mock_client(handler) as client:
        with pytest.raises(TypeError, match=r"messages\[1\].*reply's message"):
            await client.chat.completions.create(
                model="m",
                messages=[*MESSAGES, delta],  # type: ignore[list-item]
            )


async def test_replies_and_streams_carry_request_id_attempts_and_headers() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls % 2:
            return httpx.Response(500, json={"error": {"message": "busy"}})
        headers = {"x-request-id": f"req_{calls}", "X-RateLimit-Remaining-Tokens": "99"}
        if b'"stream":true' in request.content:
            headers["content-type"] = "text/event-stream"
            return httpx.Response(200, content=text_stream(["Hi"]), headers=headers)
        return httpx.Response(200, json=completion("Hi"), headers=headers)

    retry = chatsdk.RetryPolicy(initial_delay=0, max_delay=0)
    async with mock_client(handler, retry=retry, max_retries=1) as client:
        reply = await client.chat.completions.create(model="m", messages=MESSAGES)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            assert (stream.request_id, stream.attempts) == ("req_4", 2)
            assert stream.headers["x-ratelimit-remaining-tokens"] == "99"
            final = await stream.final()
    assert (reply.request_id, reply.attempts) == ("req_2", 2)
    assert reply.headers["x-ratelimit-remaining-tokens"] == "99"
    assert (final.request_id, final.attempts) == ("req_4", 2)
    assert final.headers["X-RateLimit-Remaining-Tokens"] == "99"
    # Not part of the JSON: a reply rebuilt from to_dict() is equal, without them.
    rebuilt = chatsdk.ChatCompletion(reply.to_dict())
    assert rebuilt == reply
    assert (rebuilt.request_id, rebuilt.attempts, dict(rebuilt.headers)) == (None, 0, {})


async def test_a_streamed_refusal_has_null_content_as_a_buffered_one() -> None:
    body = sse(
        chunk("", role="assistant", refusal=None),
        chunk(refusal="I can't"),
        chunk(refusal=" help with that."),
        chunk(finish_reason="stop"),
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with mock_client(handler) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            message = (await stream.final()).choices[0].message
    assert (message.content, message.refusal) == (None, "I can't help with that.")
    assert message.to_param() == {
        "role": "assistant",
        "content": None,
        "refusal": "I can't help with that.",
    }
