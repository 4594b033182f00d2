"""Every request body the client builds validates against the API's own schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest
from helpers import completion, mock_client, sse_response, text_stream

import chatsdk

pytestmark = pytest.mark.anyio

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

CASES: dict[str, dict[str, Any]] = {
    "minimal": {},
    "sampling": {"temperature": 0.2, "top_p": 0.5, "n": 3, "seed": 1},
    "stop string": {"stop": "END"},
    "stop list": {"stop": ["a", "b", "c", "d"]},
    "limits": {"max_tokens": 5, "max_completion_tokens": 9},
    "penalties": {"presence_penalty": -2, "frequency_penalty": 2.0},
    "logit bias": {"logit_bias": {50256: -100, 15: 100}},
    "user": {"user": "user-1"},
    "nulls": {"temperature": None, "top_p": None, "n": None, "stop": None, "max_tokens": None},
    "tools": {"tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": True},
    "named tool": {
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    },
    "json mode": {"response_format": {"type": "json_object"}},
    "logprobs": {"logprobs": True, "top_logprobs": 2},
    "streaming": {"stream": True, "stream_options": {"include_usage": True}},
    "reasoning": {"reasoning_effort": "low", "store": False, "metadata": {"k": "v"}},
}

MESSAGES: list[chatsdk.MessageParam] = [
    {"role": "developer", "content": "Be brief."},
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Hello!"},
    {"role": "assistant", "content": "Hi."},
    {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
]


@pytest.mark.parametrize("case", list(CASES))
async def test_request_body_matches_spec(
    case: str, spec_validate: Callable[[str, Any], None]
) -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if body.get("stream"):
            return sse_response(text_stream(["ok"]))
        return httpx.Response(200, json=completion())

    params = dict(CASES[case])
    stream: bool = params.pop("stream", False)
    async with mock_client(handler) as client:
        result = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=stream, **params
        )
        if stream:
            await result.final()  # type: ignore[union-attr]
    spec_validate("CreateChatCompletionRequest", bodies[0])


def test_spec_check_can_fail(spec_validate: Callable[[str, Any], None]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        spec_validate("CreateChatCompletionRequest", {"model": "m", "messages": []})


def test_test_fixtures_match_reply_schemas(spec_validate: Callable[[str, Any], None]) -> None:
    spec_validate("CreateChatCompletionResponse", completion())
    from helpers import chunk

    spec_validate("CreateChatCompletionStreamResponse", chunk("x"))


async def test_accumulated_final_matches_reply_schema(
    spec_validate: Callable[[str, Any], None],
) -> None:
    async with mock_client(lambda request: sse_response(text_stream(["a", "b"]))) as client:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        final = await stream.final()
    reply = final.to_dict()
    spec_validate("CreateChatCompletionResponse", reply)
