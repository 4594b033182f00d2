"""End to end over a real loopback socket, against the local server."""

from __future__ import annotations

import pytest

import chatsdk
from chatsdk.testing import ECHO_PREFIX, serve

pytestmark = pytest.mark.anyio

QUESTION: list[chatsdk.MessageParam] = [{"role": "user", "content": "你好, world 🙂"}]
EXPECTED = f"{ECHO_PREFIX}你好, world 🙂"


async def test_buffered_and_streamed_answers_agree() -> None:
    async with serve() as server, server.client(max_retries=0) as client:
        reply = await client.chat.completions.create(model="m", messages=QUESTION)
        stream = await client.chat.completions.create(model="m", messages=QUESTION, stream=True)
        async with stream:
            pieces = [text async for text in stream.text()]
    assert reply.choices[0].message.content == EXPECTED
    assert reply.usage is not None and reply.usage.total_tokens > 0
    assert len(pieces) > 1
    assert "".join(pieces) == EXPECTED
    assert server.requests[1].body["stream"] is True
    assert server.requests[0].headers["authorization"] == "Bearer test"


async def test_stream_options_n_and_final() -> None:
    async with serve() as server, server.client(max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="m",
            messages=QUESTION,
            stream=True,
            n=2,
            stream_options={"include_usage": True},
        )
        final = await stream.final()
    assert [choice.index for choice in final.choices] == [0, 1]
    assert all(choice.message.content == EXPECTED for choice in final.choices)
    assert all(choice.finish_reason == "stop" for choice in final.choices)
    assert final.usage is not None and final.usage.completion_tokens > 0


async def test_max_tokens_gives_length() -> None:
    async with serve() as server, server.client(max_retries=0) as client:
        final = await (
            await client.chat.completions.create(
                model="m", messages=QUESTION, stream=True, max_tokens=2
            )
        ).final()
    assert final.choices[0].finish_reason == "length"
    assert len(final.choices[0].message.content or "") < len(EXPECTED)


async def test_server_validation_error_is_typed() -> None:
    async with serve() as server, server.client(max_retries=0) as client:
        with pytest.raises(chatsdk.BadRequestError) as info:
            await client.chat.completions.create(
                model="m",
                messages=[{"role": "doctor", "content": "hi"}],  # type: ignore[list-item]
            )
    error = info.value
    assert error.status_code == 400
    assert error.param == "messages.0.role"
    assert error.type == "invalid_request_error"
    assert error.message.startswith("'doctor' is not one of")
    assert error.request_id and error.request_id.startswith("req_")


async def test_wrong_key_is_authentication_error() -> None:
    async with serve(api_key="sk-right") as server:
        async with chatsdk.AsyncChatClient(
            api_key="sk-wrong", base_url=server.base_url, max_retries=0
        ) as client:
            with pytest.raises(chatsdk.AuthenticationError) as info:
                await client.chat.completions.create(model="m", messages=QUESTION)
    assert "sk-wrong" not in str(info.value)


async def test_connection_refused_is_connection_error() -> None:
    async with serve() as server:
        base_url = server.base_url
    async with chatsdk.AsyncChatClient(api_key="k", base_url=base_url, max_retries=0) as client:
        with pytest.raises(chatsdk.APIConnectionError):
            await client.chat.completions.create(model="m", messages=QUESTION)
