"""Checked by mypy --strict with the rest of tests/: typed events, parsed answers, tool runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pydantic
from typing_extensions import assert_type

import chatsdk

MESSAGES: list[chatsdk.MessageParam] = [{"role": "user", "content": "Hi"}]


class Answer(pydantic.BaseModel):
    answer: int


async def parsed(client: chatsdk.AsyncChatClient) -> None:
    reply = await client.chat.completions.create(
        model="m", messages=MESSAGES, response_format=Answer
    )
    assert_type(reply, chatsdk.ParsedChatCompletion[Answer])
    assert_type(reply.choices[0].message.parsed, Answer | None)
    assert_type(reply.choices[0].message.content, str | None)
    as_text = await client.chat.completions.create(
        model="m", messages=MESSAGES, response_format={"type": "text"}
    )
    assert_type(as_text, chatsdk.ChatCompletion)
    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, response_format=Answer, stream=True
    )
    assert_type(stream, chatsdk.AsyncParsedChatStream[Answer])
    async with stream as entered:
        assert_type(entered, chatsdk.AsyncParsedChatStream[Answer])
        final = await entered.final()
    assert_type(final, chatsdk.ParsedChatCompletion[Answer])
    assert_type(final.choices[0].message.parsed, Answer | None)


async def events(stream: chatsdk.AsyncChatStream) -> None:
    iterator = stream.events()
    assert_type(iterator, AsyncIterator[chatsdk.StreamEvent])
    async for event in iterator:
        if event.type == "content.delta":
            assert_type(event, chatsdk.ContentDeltaEvent)
            assert_type(event.snapshot, str)
        elif event.type == "tool_calls.function.arguments.done":
            assert_type(event.name, str | None)
        elif event.type == "usage":
            assert_type(event.usage, chatsdk.CompletionUsage)
            assert_type(event.choice, None)
        event.delta  # type: ignore[union-attr]  # noqa: B018


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


async def tools(client: chatsdk.AsyncChatClient) -> None:
    run = await client.chat.completions.run_tools(
        model="m", messages=MESSAGES, tools=[get_weather, chatsdk.function_tool(get_weather)]
    )
    assert_type(run, chatsdk.ToolRunCompletion)
    assert_type(run.rounds, int)
    async with client.chat.completions.stream_tools(
        model="m", messages=MESSAGES, tools=[get_weather]
    ) as streamed:
        async for item in streamed:
            if item.type == "tool.result":
                assert_type(item.result, str)
