"""How long the client waits, read off a virtual clock: backoff, server hints, the deadline.

These tests run under trio with a ``MockClock`` that jumps ahead whenever every task is waiting,
and an in-memory transport, so a 30 s wait costs no real time and every figure is exact. The
transport records the virtual time of each request; the gaps between them are the waits.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
import trio
import trio.testing
from helpers import MESSAGES, chunk, completion, sse, text_stream

import chatsdk

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


class Recorder:
    """A transport handler answering from a list (the last answer repeats), noting when."""

    def __init__(self, *answers: Callable[[], httpx.Response]) -> None:
        self.answers = list(answers)
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(trio.current_time())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer()

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


def client(handler: Recorder, **kwargs: Any) -> chatsdk.AsyncChatClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return chatsdk.AsyncChatClient(
        api_key="sk-test", base_url="http://api.test/v1", http_client=http, **kwargs
    )


def status(code: int, **headers: str) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(code, json={"error": {"message": "later"}}, headers=headers)


def ok() -> httpx.Response:
    return httpx.Response(200, json=completion("ok"))


async def ask(c: chatsdk.AsyncChatClient, **options: Any) -> str:
    reply = await c.chat.completions.create(model="m", messages=MESSAGES, **options)
    return str(reply.choices[0].message.content)


def refused() -> httpx.Response:
    raise httpx.ConnectError("refused")


async def test_backoff_is_exponential_and_capped_without_jitter() -> None:
    policy = chatsdk.RetryPolicy(max_retries=7, jitter=0)
    handler = Recorder(refused)
    async with client(handler, retry=policy) as c:
        with pytest.raises(chatsdk.APIConnectionError) as info:
            await ask(c)
    assert info.value.attempts == 8
    expected = [min(policy.initial_delay * 2**n, policy.max_delay) for n in range(7)]
    assert handler.gaps == pytest.approx(expected)
    assert handler.gaps[-1] == handler.gaps[-2] == policy.max_delay  # capped


async def test_jitter_only_shortens_each_wait_by_its_share() -> None:
    policy = chatsdk.RetryPolicy(max_retries=7)
    handler = Recorder(refused)
    async with client(handler, retry=policy) as c:
        with pytest.raises(chatsdk.APIConnectionError):
            await ask(c)
    for n, gap in enumerate(handler.gaps):
        backoff = min(policy.initial_delay * 2**n, policy.max_delay)
        assert backoff * (1 - policy.jitter) - 1e-9 <= gap <= backoff + 1e-9


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"retry-after-ms": "250"}, 0.25, 0.25),
        ({"retry-after": "2"}, 2.0, 2.0),
        ({"retry-after": "30"}, 30.0, 30.0),
        ({"retry-after-ms": "40", "retry-after": "9"}, 0.04, 0.04),
        # An HTTP date is read against the wall clock: a second either way.
        ({"retry-after": "<date +4 s>"}, 3.0, 5.0),
        ({"retry-after": "3600"}, 0.375, 0.5),  # past the cap: backoff instead
    ],
)
async def test_server_retry_hints_are_really_waited(
    headers: dict[str, str], low: float, high: float
) -> None:
    if headers.get("retry-after", "").startswith("<date "):
        headers = {"retry-after": http_date(4)}
    handler = Recorder(status(429, **headers), ok)
    async with client(handler, max_retries=1) as c:
        assert await ask(c) == "ok"
    [gap] = handler.gaps
    assert low - 1e-6 <= gap <= high + 1e-6


async def test_a_retry_wait_that_would_pass_the_deadline_is_not_started() -> None:
    handler = Recorder(status(429, **{"retry-after": "30"}))
    async with client(handler, max_retries=3) as c:
        started = trio.current_time()
        with pytest.raises(chatsdk.RateLimitError) as info:
            await ask(c, deadline=2)
        assert trio.current_time() == started  # gave up at once: no wait begun
    assert info.value.attempts == 1
    assert len(handler.times) == 1


async def test_deadline_covers_every_retry() -> None:
    handler = Recorder(status(500, **{"retry-after": "0.125"}))  # exact in binary
    async with client(handler, max_retries=1000) as c:
        started = trio.current_time()
        with pytest.raises(chatsdk.APIError) as info:
            await ask(c, deadline=1)
        assert trio.current_time() - started < 1
    # Sent at 0, 0.125, ..., 0.875: the wait for the next would reach the deadline.
    assert info.value.attempts == len(handler.times) == 8


class Stalling(httpx.AsyncByteStream):
    """A body that sends ``head`` and then nothing for ``seconds``."""

    def __init__(self, head: bytes, seconds: float) -> None:
        self.head = head
        self.seconds = seconds
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        await anyio.sleep(self.seconds)
        yield b""

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize("streamed", [False, True], ids=["buffered", "streamed"])
async def test_deadline_ends_a_call_exactly_when_it_passes(streamed: bool) -> None:
    head = sse(chunk("Hel", role="assistant"), done=False) if streamed else b'{"choices": ['
    body = Stalling(head, seconds=3600)
    content_type = "text/event-stream" if streamed else "application/json"

    def stalled() -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, stream=body)

    handler = Recorder(stalled)
    async with client(handler, max_retries=2, timeout=None) as c:
        started = trio.current_time()
        with pytest.raises(chatsdk.APITimeoutError, match=r"deadline of 0\.4 s") as info:
            if streamed:
                stream = await c.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True, deadline=0.4
                )
                await stream.final()
            else:
                await ask(c, deadline=0.4)
        assert trio.current_time() - started == pytest.approx(0.4)
    assert info.value.attempts == 1  # a passed deadline is never retried
    assert body.closed


async def test_idle_timeout_fires_after_the_read_timeout_despite_pings() -> None:
    class Pinging(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield text_stream(["a"], finish=False, done=False)
            while True:
                await anyio.sleep(0.1)
                yield b": ping\n\n"

    def pinging() -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Pinging())

    handler = Recorder(pinging)
    async with client(handler, max_retries=0, timeout=1.0) as c:
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        started = trio.current_time()
        with pytest.raises(chatsdk.APITimeoutError, match=r"No stream event for 1\.0 s"):
            await stream.final()
        # The idle clock is the event loop's own: pings every 0.1 s do not reset it.
        assert 1.0 <= trio.current_time() - started <= 1.2
