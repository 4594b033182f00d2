"""``max_concurrency``: calls beyond it wait for a slot; a stream keeps its slot until closed.

Under asyncio and trio, with an in-memory transport; what is checked is how many requests the
server has seen at each point, never how long anything took.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from helpers import MESSAGES, completion, mock_client, sse_response, text_stream

import chatsdk

pytestmark = pytest.mark.anyio


class Counting:
    """A transport handler counting requests, and those in the server at once."""

    def __init__(self) -> None:
        self.seen = 0
        self.inside = 0
        self.most_inside = 0
        self.arrived = anyio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        self.arrived.set()
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        for _ in range(3):  # give every other task its turn while this one is "working"
            await anyio.lowlevel.checkpoint()
        self.inside -= 1
        if b'"stream":true' in request.content.replace(b" ", b""):
            return sse_response(text_stream(["a", "b"]))
        return httpx.Response(200, json=completion("ok"))


async def test_buffered_calls_beyond_the_limit_wait_their_turn() -> None:
    server = Counting()
    async with mock_client(server, max_concurrency=3) as c:  # type: ignore[arg-type]
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(lambda: c.chat.completions.create(model="m", messages=MESSAGES))
    assert server.seen == 12
    assert server.most_inside == 3


async def test_without_a_limit_the_same_calls_all_go_at_once() -> None:
    server = Counting()
    async with mock_client(server) as c:  # type: ignore[arg-type]
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(lambda: c.chat.completions.create(model="m", messages=MESSAGES))
    assert server.most_inside > 3  # so the test above can see a limit being kept


async def test_a_stream_holds_its_slot_until_it_is_closed() -> None:
    server = Counting()
    async with mock_client(server, max_concurrency=2) as c:  # type: ignore[arg-type]
        first = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        second = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        answers: list[str] = []

        async def third() -> None:
            reply = await c.chat.completions.create(model="m", messages=MESSAGES)
            answers.append(str(reply.choices[0].message.content))

        async with anyio.create_task_group() as tg:
            tg.start_soon(third)
            await anyio.wait_all_tasks_blocked()
            assert server.seen == 2  # both slots are held by the open streams
            assert (await second.final()).choices[0].message.content == "ab"  # read to its end
            with anyio.fail_after(10):
                while server.seen < 3:
                    server.arrived = anyio.Event()
                    await server.arrived.wait()
        assert answers == ["ok"]
        await first.aclose()


async def test_a_stream_that_fails_to_open_gives_its_slot_back() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "no"}})

    async with mock_client(refuse, max_concurrency=1) as c:
        for _ in range(3):  # each would wait for ever if the slot had been kept
            with anyio.fail_after(10), pytest.raises(chatsdk.BadRequestError):
                await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            with anyio.fail_after(10), pytest.raises(chatsdk.BadRequestError):
                await c.chat.completions.create(model="m", messages=MESSAGES)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_concurrency": 0}, ValueError, "max_concurrency must be at least 1"),
        ({"max_concurrency": "8"}, TypeError, "max_concurrency must be an integer"),
        ({"max_concurrency": True}, TypeError, "max_concurrency must be an integer"),
        ({"rate_limit": {"requests_per_minute": 60}}, TypeError, "rate_limit must be a chatsdk"),
        ({"rate_limit": 60}, TypeError, "rate_limit must be a chatsdk.RateLimit"),
    ],
)
def test_bad_limits_are_refused_at_construction_by_name(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        chatsdk.AsyncChatClient(api_key="sk-test", base_url="http://127.0.0.1:1/v1", **kwargs)


async def test_clients_made_by_with_options_share_the_limits() -> None:
    server = Counting()
    async with mock_client(server, max_concurrency=1) as c:  # type: ignore[arg-type]
        derived = c.with_options(timeout=30)
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            with pytest.raises(chatsdk.APITimeoutError):
                await derived.chat.completions.create(model="m", messages=MESSAGES, deadline=0.05)
        assert server.seen == 1  # the derived client's call waited for the one slot
        await derived.chat.completions.create(model="m", messages=MESSAGES)
    assert server.seen == 2


async def test_the_azure_client_keeps_the_limits_too() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        chatsdk.AsyncAzureChatClient(
            azure_endpoint="https://r.openai.azure.com",
            api_version="v",
            api_key="k",
            max_concurrency=0,
        )
    server = Counting()
    async with chatsdk.AsyncAzureChatClient(
        azure_endpoint="https://r.openai.azure.com",
        api_version="2024-10-21",
        api_key="k",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(server)),
        max_concurrency=1,
        rate_limit=chatsdk.RateLimit(requests_per_minute=6000),
    ) as c:
        stream = await c.chat.completions.create(model="d", messages=MESSAGES, stream=True)
        async with stream:
            with pytest.raises(chatsdk.APITimeoutError):
                await c.chat.completions.create(model="d", messages=MESSAGES, deadline=0.05)
        assert server.seen == 1
