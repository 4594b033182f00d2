"""Checked by mypy --strict in tests/test_typing.py: what type checkers see of the API."""

from __future__ import annotations

from typing_extensions import assert_type

import chatsdk

MESSAGES: list[chatsdk.MessageParam] = [{"role": "user", "content": "Hi"}]


async def buffered(client: chatsdk.AsyncChatClient) -> None:
    reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert_type(reply, chatsdk.ChatCompletion)
    assert_type(reply.choices[0].message.content, str | None)
    assert_type(reply.usage, chatsdk.CompletionUsage | None)
    explicit = await client.chat.completions.create(model="m", messages=MESSAGES, stream=False)
    assert_type(explicit, chatsdk.ChatCompletion)


async def streamed(client: chatsdk.AsyncChatClient) -> None:
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert_type(stream, chatsdk.AsyncChatStream)
    async with stream:
        async for chunk in stream:
            assert_type(chunk, chatsdk.ChatCompletionChunk)
            assert_type(chunk.choices[0].delta.content, str | None)
        async for text in stream.text():
            assert_type(text, str)
    assert_type(await stream.final(), chatsdk.ChatCompletion)


async def either(client: chatsdk.AsyncChatClient, flag: bool) -> None:
    result = await client.chat.completions.create(model="m", messages=MESSAGES, stream=flag)
    assert_type(result, chatsdk.ChatCompletion | chatsdk.AsyncChatStream)


async def mistakes(client: chatsdk.AsyncChatClient) -> None:
    # Each line must be an error; --strict reports an ignore that is not needed.
    await client.chat.completions.create(model="m", messages=MESSAGES, temprature=1)  # type: ignore[call-overload]
    await client.chat.completions.create(model="m", messages=MESSAGES, n="2")  # type: ignore[call-overload]
    await client.chat.completions.create(messages=MESSAGES)  # type: ignore[call-overload]
    reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    reply.choices[0].message.contents  # type: ignore[attr-defined]  # noqa: B018
