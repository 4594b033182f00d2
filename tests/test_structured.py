"""response_format=: the strict schema sent, the parsed answer, its errors, partial objects."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, Literal

import httpx
import pydantic
import pytest
from helpers import MESSAGES, chunk, completion, mock_client, sse, sse_response

import chatsdk
from chatsdk._structured import strict_schema

pytestmark = pytest.mark.anyio


class City(pydantic.BaseModel):
    name: str
    population: int | None = None


class Answer(pydantic.BaseModel):
    city: City
    tags: list[str]
    mood: Literal["happy", "sad"]


ANSWER = {"city": {"name": "Paris", "population": None}, "tags": ["a"], "mood": "happy"}


def replying(
    content: str | None, bodies: list[dict[str, Any]], **message: Any
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        reply = completion(content)  # type: ignore[arg-type]
        reply["choices"][0]["message"].update(message)
        if "finish_reason" in message:
            reply["choices"][0]["finish_reason"] = message.pop("finish_reason")
            reply["choices"][0]["message"].pop("finish_reason")
        return httpx.Response(200, json=reply)

    return handler


async def test_a_model_class_sends_a_strict_schema_the_spec_accepts(
    spec_validate: Callable[[str, Any], None],
) -> None:
    bodies: list[dict[str, Any]] = []
    async with mock_client(replying(json.dumps(ANSWER), bodies)) as client:
        reply = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format=Answer
        )
    spec_validate("CreateChatCompletionRequest", bodies[0])
    sent = bodies[0]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Answer" and sent["json_schema"]["strict"] is True
    schema = sent["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["city", "tags", "mood"]
    city = schema["$defs"]["City"]
    assert city["additionalProperties"] is False
    assert city["required"] == ["name", "population"]  # optional: required, may be null
    assert "default" not in city["properties"]["population"]
    parsed = reply.choices[0].message.parsed
    assert parsed == Answer.model_validate(ANSWER)
    assert isinstance(reply, chatsdk.ParsedChatCompletion)
    assert "parsed" not in reply.to_dict()["choices"][0]["message"]  # the JSON stays as sent
    assert reply.attempts == 1  # what the HTTP reply said is kept too


async def test_a_json_schema_mapping_gives_decoded_json() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    bodies: list[dict[str, Any]] = []
    async with mock_client(replying('{"a": [1, 2]}', bodies)) as client:
        reply = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format=fmt
        )
    assert bodies[0]["response_format"] == fmt
    assert isinstance(reply, chatsdk.ParsedChatCompletion)  # typed ChatCompletion: a mapping
    assert reply.choices[0].message.parsed == {"a": [1, 2]}


@pytest.mark.parametrize("kind", ["text", "json_object"])
async def test_text_and_json_object_formats_are_left_as_text(kind: str) -> None:
    bodies: list[dict[str, Any]] = []
    async with mock_client(replying("plain", bodies)) as client:
        reply = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format={"type": kind}
        )
    assert type(reply) is chatsdk.ChatCompletion
    assert bodies[0]["response_format"] == {"type": kind}


async def test_a_refusal_leaves_parsed_none() -> None:
    handler = replying(None, [], refusal="I can't help with that.")
    async with mock_client(handler) as client:
        reply = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format=Answer
        )
    message = reply.choices[0].message
    assert message.parsed is None and message.refusal == "I can't help with that."


@pytest.mark.parametrize(
    ("content", "finish_reason", "cause", "says"),
    [
        ('{"city": ', "stop", pydantic.ValidationError, "does not match Answer"),
        (
            '{"city": {"name": "P"}, "tags": [], "mood": "angry"}',
            "stop",
            pydantic.ValidationError,
            "does not match Answer",
        ),
        ('{"city": {"name": "Par', "length", type(None), "finish_reason 'length'"),
    ],
)
async def test_unusable_content_raises_output_parse_error(
    content: str, finish_reason: str, cause: type[BaseException], says: str
) -> None:
    handler = replying(content, [], finish_reason=finish_reason)
    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.OutputParseError) as caught:
            await client.chat.completions.create(
                model="m", messages=MESSAGES, response_format=Answer
            )
    error = caught.value
    assert isinstance(error, chatsdk.APIError)
    assert error.content == content and error.finish_reason == finish_reason
    assert says in error.message
    assert type(error.__cause__) is cause or isinstance(error.__cause__, cause)


async def test_not_json_for_a_mapping_format_chains_the_json_error() -> None:
    handler = replying("not json", [])
    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.OutputParseError) as caught:
            await client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                response_format={"type": "json_schema", "json_schema": {"name": "x"}},
            )
    assert caught.value.content == "not json"
    assert isinstance(caught.value.__cause__, ValueError)


async def test_bad_response_format_is_a_type_error_naming_it() -> None:
    async with mock_client(replying("{}", [])) as client:
        with pytest.raises(TypeError, match="response_format"):
            await client.chat.completions.create(model="m", messages=MESSAGES, response_format=dict)
        with pytest.raises(TypeError, match="response_format"):
            await client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                response_format="json",  # type: ignore[call-overload]
            )


def test_a_free_form_mapping_cannot_be_strict() -> None:
    class Loose(pydantic.BaseModel):
        counts: dict[str, int]

    with pytest.raises(TypeError, match="free-form"):
        strict_schema(Loose.model_json_schema(), "response_format=Loose")


async def test_streamed_partial_objects_then_the_validated_answer() -> None:
    text = json.dumps(ANSWER)
    cuts = [0, 12, 22, 40, len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(cuts)]
    body = sse(*[chunk(p) for p in pieces], chunk(finish_reason="stop"))
    async with mock_client(lambda request: sse_response(body)) as client:
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format=Answer, stream=True
        )
        async with stream:
            events = [event async for event in stream.events()]
            final = await stream.final()
    partials = [e.parsed for e in events if e.type == "content.delta"]
    # jiter's partial mode: an open string is kept, a key without its value is left out.
    assert partials == [
        {"city": {}},
        {"city": {"name": "Par"}},
        {"city": {"name": "Paris"}},
        ANSWER,
    ]
    done = [e for e in events if e.type == "content.done"]
    assert done[0].parsed == Answer.model_validate(ANSWER)
    assert isinstance(stream, chatsdk.AsyncParsedChatStream)
    assert isinstance(final, chatsdk.ParsedChatCompletion)
    assert final.choices[0].message.parsed == Answer.model_validate(ANSWER)
    assert final.attempts == 1


async def test_a_stream_without_a_format_is_a_plain_stream() -> None:
    body = sse(chunk("hi"), chunk(finish_reason="stop"))
    async with mock_client(lambda request: sse_response(body)) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            final = await stream.final()
    assert type(stream) is chatsdk.AsyncChatStream
    assert type(final) is chatsdk.ChatCompletion


async def test_a_stream_cut_by_length_raises_output_parse_error() -> None:
    body = sse(chunk('{"city": {"na'), chunk(finish_reason="length"))
    async with mock_client(lambda request: sse_response(body)) as client:
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format=Answer, stream=True
        )
        with pytest.raises(chatsdk.OutputParseError, match="length"):
            async with stream:
                async for _ in stream.events():
                    pass


async def test_a_reply_that_calls_tools_has_no_parsed_answer_yet() -> None:
    tool_call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    handler = replying(None, [], tool_calls=[tool_call], finish_reason="tool_calls")
    async with mock_client(handler) as client:
        reply = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format=Answer
        )
    assert reply.choices[0].message.parsed is None
    assert reply.choices[0].message.tool_calls is not None
