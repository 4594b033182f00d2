"""Client limits on a virtual clock: rates kept, the server's budget followed, one cool-down.

Under trio with a ``MockClock`` that jumps ahead whenever every task waits, and an in-memory
transport that notes the virtual time of each request, so every figure is exact and costs no
real time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
import trio
import trio.testing
from helpers import MESSAGES, chunk, completion, sse

import chatsdk

pytestmark = pytest.mark.anyio

NO_WAIT = chatsdk.RetryPolicy(max_retries=3, initial_delay=0, max_delay=0)


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


Answer = Callable[[httpx.Request, int], httpx.Response]


class Server:
    """A transport handler: ``answer(request, number)`` for each request, its time noted."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.times: list[float] = []
        self.statuses: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(trio.current_time())
        response = self.answer(request, len(self.times))
        self.statuses.append(response.status_code)
        return response

    def times_of(self, status: int) -> list[float]:
        return [t for t, s in zip(self.times, self.statuses, strict=True) if s == status]


def ok(request: httpx.Request, number: int) -> httpx.Response:
    if json.loads(request.content).get("stream"):
        body = sse(chunk("hi", role="assistant"), chunk(finish_reason="stop"))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    return httpx.Response(200, json=completion("ok"))


def client(server: Server, **kwargs: Any) -> chatsdk.AsyncChatClient:
    kwargs.setdefault("retry", NO_WAIT)
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return chatsdk.AsyncChatClient(
        api_key="sk-test", base_url="http://api.test/v1", http_client=http, **kwargs
    )


async def ask(c: chatsdk.AsyncChatClient, **params: Any) -> chatsdk.ChatCompletion:
    reply: chatsdk.ChatCompletion = await c.chat.completions.create(
        model="m", messages=MESSAGES, **params
    )
    return reply


async def ask_many(c: chatsdk.AsyncChatClient, n: int, **params: Any) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(lambda: ask(c, **params))


async def test_requests_per_minute_spread_the_calls_out() -> None:
    server = Server(ok)
    # 60 a minute: one a second, a burst of one.
    async with client(server, rate_limit=chatsdk.RateLimit(requests_per_minute=60)) as c:
        await ask_many(c, 6)
    assert server.times == pytest.approx([0, 1, 2, 3, 4, 5])


async def test_streams_keep_the_rate_too() -> None:
    server = Server(ok)
    async with client(server, rate_limit=chatsdk.RateLimit(requests_per_minute=120)) as c:
        for _ in range(3):
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            assert (await stream.final()).choices[0].message.content == "hi"
    assert server.times == pytest.approx([0, 0.5, 1.0])


@pytest.mark.parametrize("total_tokens", [5, 150])
async def test_tokens_per_minute_are_corrected_from_usage(total_tokens: int) -> None:
    def answer(request: httpx.Request, number: int) -> httpx.Response:
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": total_tokens}
        return httpx.Response(200, json=completion("ok", usage=usage))

    server = Server(answer)
    # 100 tokens a second, a burst of 50; each request is estimated at over 200 (max_tokens),
    # which empties the bucket; the reply's usage gives back all but what it cost.
    async with client(server, rate_limit=chatsdk.RateLimit(tokens_per_minute=6000)) as c:
        for _ in range(3):
            await ask(c, max_tokens=200)
    # After each reply the bucket holds 50 less what it cost; the next needs 50 again.
    expected_gap = total_tokens / 100
    assert [b - a for a, b in zip(server.times, server.times[1:], strict=False)] == pytest.approx(
        [expected_gap, expected_gap]
    )


async def test_the_servers_remaining_budget_holds_the_next_call_until_its_reset() -> None:
    def answer(request: httpx.Request, number: int) -> httpx.Response:
        headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
        if number > 1:
            headers = {"x-ratelimit-remaining-tokens": "10", "x-ratelimit-reset-tokens": "250ms"}
        return httpx.Response(200, json=completion("ok"), headers=headers)

    server = Server(answer)
    async with client(server, rate_limit=chatsdk.RateLimit()) as c:
        for _ in range(3):
            await ask(c)
    # Six minutes for the requests; then a quarter second, as 10 tokens are too few for one.
    assert server.times == pytest.approx([0, 360, 360.25])


async def test_after_a_429_every_call_waits_out_the_same_cool_down() -> None:
    def answer(request: httpx.Request, number: int) -> httpx.Response:
        if number == 2:
            return httpx.Response(429, json={"error": {}}, headers={"retry-after": "3"})
        return ok(request, number)

    server = Server(answer)
    async with client(server, max_concurrency=2, rate_limit=chatsdk.RateLimit()) as c:
        await ask_many(c, 6)
    # The 429 came back at 0; nothing else was sent before 3, when the retry and the four calls
    # still waiting went out together (each on its own schedule, they would have gone at 0).
    assert server.times == pytest.approx([0, 0, 3, 3, 3, 3, 3])
    assert server.statuses.count(429) == 1


async def test_a_herd_of_429s_is_held_back_not_retried_call_by_call() -> None:
    def answer(request: httpx.Request, number: int) -> httpx.Response:
        if trio.current_time() < 2:
            return httpx.Response(429, json={"error": {"message": "slow down"}})
        return ok(request, number)

    server = Server(answer)
    # No Retry-After: half a second of backoff each time.
    steady = chatsdk.RetryPolicy(max_retries=10, initial_delay=0.5, max_delay=0.5, jitter=0)
    async with client(server, rate_limit=chatsdk.RateLimit(), retry=steady) as c:
        await ask_many(c, 8)
    # Every call answered at 2, when the refusals stopped: together, as the cool-down ended.
    assert server.times_of(200) == [2.0] * 8
    # Each call retrying on its own would have been refused at 0, 0.5, 1 and 1.5: 32 429s. Held
    # back together, the client sent one request at each end of the cool-down (and, at 0, at
    # most the eight that were out before the first refusal came back).
    refused = server.times_of(429)
    assert set(refused) <= {0.0, 0.5, 1.0, 1.5}
    assert len([t for t in refused if t > 0]) == 3
    assert len(refused) <= 11


async def test_waiting_for_a_slot_is_bounded_by_the_deadline() -> None:
    server = Server(ok)
    async with client(server, max_concurrency=1) as c:
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            started = trio.current_time()
            with pytest.raises(chatsdk.APITimeoutError, match=r"deadline of 2\.0 s"):
                await ask(c, deadline=2)
            assert trio.current_time() - started == pytest.approx(2)
        assert len(server.times) == 1  # the second call never went out
        await ask(c)  # the stream's slot is free again
    assert len(server.times) == 2


async def test_a_call_cancelled_while_waiting_for_a_slot_does_not_keep_one() -> None:
    server = Server(ok)
    async with client(server, max_concurrency=1) as c:
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with anyio.move_on_after(5):
            await ask(c)
        assert len(server.times) == 1
        await stream.aclose()
        with anyio.fail_after(1):
            await ask(c)
            await ask(c)
    assert len(server.times) == 3


class Timed(httpx.AsyncByteStream):
    """A stream's body whose events come after the given virtual delays."""

    def __init__(self, parts: list[tuple[float, bytes]]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for delay, part in self.parts:
            await anyio.sleep(delay)
            yield part


@pytest.mark.parametrize("with_usage", [True, False])
async def test_stream_metrics_on_the_loops_clock(with_usage: bool) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 30, "total_tokens": 33}
    last = chunk(finish_reason="stop")
    if with_usage:
        last["usage"] = usage
    parts = [
        (0.25, sse(chunk("", role="assistant"), done=False)),  # no content yet
        (0.5, sse(chunk("Hel"), done=False)),  # first token at 0.75
        (1.0, sse(chunk("lo"), chunk("!"), done=False)),
        (0.25, sse(last)),  # the end at 2.0
    ]

    def answer(request: httpx.Request, number: int) -> httpx.Response:
        if number == 1:
            return httpx.Response(429, json={"error": {}}, headers={"retry-after": "1"})
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Timed(parts)
        )

    server = Server(answer)
    async with client(server) as c:
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert stream.metrics.duration is None
        assert stream.metrics.time_to_first_token is None
        reply = await stream.final()
    metrics = stream.metrics
    assert reply.duration == metrics.duration  # the whole reply took as long as its stream
    # Sent at 0, retried at 1 after the 429: every time counts from the first send.
    assert metrics.time_to_first_token == pytest.approx(1.75)
    assert metrics.duration == pytest.approx(3.0)
    assert metrics.chunks == 5
    if with_usage:
        assert metrics.completion_tokens == 30
        assert metrics.tokens_per_second == pytest.approx(30 / 1.25)
    else:
        assert metrics.completion_tokens is None
        assert metrics.tokens_per_second is None


async def test_a_buffered_reply_has_its_duration() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.75)
        return httpx.Response(200, json=completion("ok"))

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    async with chatsdk.AsyncChatClient(
        api_key="sk-test", base_url="http://api.test/v1", http_client=http
    ) as c:
        reply = await ask(c)
    assert reply.duration == pytest.approx(0.75)
    assert chatsdk.ChatCompletion(completion("x")).duration is None


async def test_a_rate_limit_error_inside_a_stream_holds_every_call_too() -> None:
    refused = sse({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}})

    def answer(request: httpx.Request, number: int) -> httpx.Response:
        if number == 1:
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=refused
            )
        return ok(request, number)

    server = Server(answer)
    policy = chatsdk.RetryPolicy(initial_delay=2, max_delay=2, jitter=0)
    async with client(server, rate_limit=chatsdk.RateLimit(), retry=policy) as c:
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(stream.final)
            await anyio.wait_all_tasks_blocked()  # the stream has met the error and waits
            assert len(server.times) == 1
            await ask(c)
    assert server.times == pytest.approx([0, 2, 2])
    assert stream.attempts == 2
