"""Reliability: retries, timeouts and the deadline, connection reuse and release, cancellation,
secrets, and bounds on hostile input. Mostly against the real local server over loopback; a mock
transport where an exact wire shape is needed. See docs/reliability.md."""

from __future__ import annotations

import gc
import logging
import os
import ssl
import subprocess
import sys
import textwrap
import traceback
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from helpers import (
    busy_connections,
    chunk,
    completion,
    open_fds,
    pool_is_closed,
    pool_of,
    requests_in,
    settled_task_count,
    sse,
    text_stream,
)

import chatsdk
from chatsdk._body import MAX_REPLY_BYTES
from chatsdk._sse import MAX_EVENT_CHARS
from chatsdk.testing import ECHO_PREFIX, Faults, serve

pytestmark = pytest.mark.anyio

KEY = "sk-live-0123456789abcdefSECRET"
MODEL = "chatsdk-test"
# Retries come at once: what is tested is whether and how often a request is retried. How long
# the client waits is the policy's arithmetic (test_retry.py) and is checked on a virtual clock
# (test_retry_clock.py), so no test here sleeps through a backoff.
FAST = chatsdk.RetryPolicy(initial_delay=0, max_delay=0)
# A bound on a hang, never a measure of speed: each fault below stalls for far longer, and each
# timeout that should end it is far shorter.
GUARD = 10.0


def user(text: str) -> list[chatsdk.MessageParam]:
    return [{"role": "user", "content": text}]


def echo(text: str) -> str:
    return ECHO_PREFIX + text


async def ask(client: chatsdk.AsyncChatClient, text: str, **options: Any) -> str:
    reply = await client.chat.completions.create(model=MODEL, messages=user(text), **options)
    content = reply.choices[0].message.content
    assert isinstance(content, str)
    return content


async def open_stream(
    client: chatsdk.AsyncChatClient, text: str, **options: Any
) -> chatsdk.AsyncChatStream:
    stream: chatsdk.AsyncChatStream = await client.chat.completions.create(
        model=MODEL, messages=user(text), stream=True, **options
    )
    return stream


async def ask_streamed(client: chatsdk.AsyncChatClient, text: str, **options: Any) -> str:
    stream = await open_stream(client, text, **options)
    async with stream:
        return "".join([piece async for piece in stream.text()])


def mock(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Any:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("base_url", "http://api.test/v1")
    kwargs.setdefault("retry", FAST)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return chatsdk.AsyncChatClient(http_client=http, **kwargs)


class Script:
    """A mock handler answering from a list (the last answer repeats); records every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def error_reply(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": "try later"}}, headers=headers)


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


class CountingBackend:
    """Wraps httpcore's network backend to count TCP connections opened."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.connects = 0

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        self.connects += 1
        return await self.inner.connect_tcp(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def counting_http_client() -> tuple[httpx.AsyncClient, CountingBackend]:
    transport = httpx.AsyncHTTPTransport()
    backend = CountingBackend(transport._pool._network_backend)
    transport._pool._network_backend = backend  # type: ignore[assignment]
    return httpx.AsyncClient(transport=transport), backend


# == Retries ======================================================================================


@pytest.mark.parametrize("streamed", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried(status: int, streamed: bool) -> None:
    async with serve(faults=Faults(status=status, retry_after=0, times=1)) as server:
        async with server.client(retry=FAST, max_retries=1) as client:
            if streamed:
                stream = await open_stream(client, "again")
                async with stream:
                    text = "".join([t async for t in stream.text()])
                assert stream.attempts == 2
            else:
                text = await ask(client, "again")
    assert text == echo("again")
    assert len(server.chat_requests) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, chatsdk.BadRequestError),
        (401, chatsdk.AuthenticationError),
        (403, chatsdk.PermissionDeniedError),
        (404, chatsdk.NotFoundError),
        (422, chatsdk.UnprocessableEntityError),
    ],
)
async def test_final_statuses_are_never_retried(
    status: int, error: type[chatsdk.APIStatusError], streamed: bool
) -> None:
    async with serve(faults=Faults(status=status, retry_after=0)) as server:
        async with server.client(retry=FAST, max_retries=3) as client:
            with pytest.raises(error) as info:
                await client.chat.completions.create(
                    model=MODEL, messages=user("no"), stream=streamed
                )
    assert info.value.status_code == status
    assert info.value.attempts == 1
    assert len(server.chat_requests) == 1


async def test_default_max_retries_is_two_and_attempts_are_reported() -> None:
    assert chatsdk.RetryPolicy().max_retries == 2
    async with serve(faults=Faults(status=503, retry_after=0)) as server:
        async with server.client(retry=FAST) as client:
            assert client.max_retries == 2
            with pytest.raises(chatsdk.InternalServerError) as info:
                await ask(client, "down")
    assert len(server.chat_requests) == 3
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)


async def test_per_request_max_retries_overrides_the_client_both_ways() -> None:
    async with serve(faults=Faults(status=500, retry_after=0)) as server:
        async with server.client(max_retries=0) as client:
            with pytest.raises(chatsdk.InternalServerError) as info:
                await ask(client, "more", max_retries=3)
            assert info.value.attempts == 4
            assert len(server.chat_requests) == 4
        async with server.client(retry=FAST, max_retries=5) as client:
            with pytest.raises(chatsdk.InternalServerError) as info:
                await ask(client, "fewer", max_retries=0)
            assert info.value.attempts == 1
            assert len(server.chat_requests) == 5


async def test_x_should_retry_has_the_last_word() -> None:
    script = Script(
        error_reply(400, **{"x-should-retry": "true"}), httpx.Response(200, json=completion("ok"))
    )
    async with mock(script, max_retries=2) as client:
        assert await ask(client, "x") == "ok"
    assert len(script.requests) == 2
    script = Script(error_reply(503, **{"x-should-retry": "false"}))
    async with mock(script, max_retries=2) as client:
        with pytest.raises(chatsdk.InternalServerError) as info:
            await ask(client, "x")
    assert info.value.attempts == 1
    assert len(script.requests) == 1


async def test_a_retry_wait_that_would_pass_the_deadline_is_not_started() -> None:
    async with serve(faults=Faults(status=429, retry_after=30)) as server:
        async with server.client(retry=FAST, max_retries=3) as client:
            # The server asks for 30 s: waiting it out would pass the guard.
            with anyio.fail_after(GUARD), pytest.raises(chatsdk.APIError) as info:
                await ask(client, "x", deadline=2)
    assert info.value.attempts == 1
    assert len(server.chat_requests) == 1


# -- the stream rule: retried before its first token, never after ------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        Faults(disconnect_after=0, times=1),
        Faults(disconnect_after=1, times=1),  # only the role chunk (empty content) arrived
        Faults(error_after=1, error_type="server_error", times=1),
        Faults(stall_after=1, stall_for=5, times=1),
        Faults(status=503, retry_after=0, times=1),
    ],
    ids=["cut-at-once", "cut-after-role", "error-event", "stall", "status"],
)
async def test_stream_is_retried_before_its_first_token(faults: Faults) -> None:
    async with serve(faults=faults) as server:
        async with server.client(retry=FAST, max_retries=1, timeout=0.3) as client:
            stream = await open_stream(client, "one two three")
            async with stream:
                chunks = [c async for c in stream]
            assert stream.attempts == 2
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == echo("one two three")
    # Exactly one whole answer: no piece of the failed attempt was handed on.
    assert sum(1 for c in chunks if c.choices and c.choices[0].finish_reason) == 1
    assert len(server.chat_requests) == 2


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        (Faults(disconnect_after=3), chatsdk.StreamError),
        (Faults(error_after=3, error_type="rate_limit_exceeded"), chatsdk.StreamError),
        (Faults(error_after=3, error_type="server_error"), chatsdk.StreamError),
        (Faults(stall_after=3, stall_for=5), chatsdk.APITimeoutError),
        (Faults(stall_after=3, stall_for=5, stall_ping=0.05), chatsdk.APITimeoutError),
        (Faults(disconnect_after=99), chatsdk.StreamError),  # every token sent, no finish
    ],
    ids=["cut", "rate-limit-event", "server-error-event", "stall", "stall-pinging", "cut-late"],
)
async def test_stream_is_never_replayed_after_its_first_token(
    faults: Faults, error: type[chatsdk.APIError]
) -> None:
    text = "alpha beta gamma delta epsilon"
    async with serve(faults=faults) as server:
        async with server.client(retry=FAST, max_retries=3, timeout=0.3) as client:
            stream = await open_stream(client, text)
            received: list[str] = []
            with pytest.raises(error) as info:
                async with stream:
                    async for piece in stream.text():
                        received.append(piece)
    assert len(server.chat_requests) == 1
    assert info.value.attempts == 1
    # What was shown is what partial_text holds: a non-empty prefix of the answer. (With every
    # token sent but no finish_reason, the client cannot know it is whole, so it raises too.)
    shown = "".join(received)
    assert shown and info.value.partial_text == shown
    assert echo(text).startswith(shown)
    assert stream.response.is_closed


@pytest.mark.parametrize(
    "error_type",
    [
        "rate_limit_exceeded",
        "rate_limit_error",
        "overloaded",
        "overloaded_error",
        "server_error",
        "internal_error",
        "api_error",
        "service_unavailable",
    ],
)
async def test_in_stream_error_before_any_token_is_retried_by_type(error_type: str) -> None:
    async with serve(faults=Faults(error_after=1, error_type=error_type, times=1)) as server:
        async with server.client(retry=FAST, max_retries=1) as client:
            stream = await open_stream(client, "retry me")
            completion_ = await stream.final()
            assert stream.attempts == 2
    assert completion_.choices[0].message.content == echo("retry me")
    assert len(server.chat_requests) == 2


@pytest.mark.parametrize(
    "error_type", ["invalid_request_error", "context_length_exceeded", "content_filter"]
)
async def test_in_stream_error_of_a_final_type_is_not_retried(error_type: str) -> None:
    faults = Faults(error_after=1, error_type=error_type)
    async with serve(faults=faults) as server:
        async with server.client(retry=FAST, max_retries=3) as client:
            stream = await open_stream(client, "x")
            with pytest.raises(chatsdk.StreamError) as info:
                await stream.final()
    assert len(server.chat_requests) == 1
    assert info.value.partial_text == ""


@pytest.mark.parametrize(
    "faults",
    [
        Faults(error_after=1, error_type="server_error"),
        Faults(disconnect_after=0),
        Faults(stall_after=1, stall_for=5, stall_ping=0.05),
    ],
    ids=["error-event", "cut", "idle"],
)
async def test_stream_error_after_retries_reports_every_attempt(faults: Faults) -> None:
    # Only the idle case needs a short read timeout; elsewhere a busy machine must not add a
    # timeout to the failure under test.
    timeout = 0.2 if faults.stall_after is not None else 30
    async with serve(faults=faults) as server:
        async with server.client(retry=FAST, max_retries=2, timeout=timeout) as client:
            stream = await open_stream(client, "x")
            with pytest.raises(chatsdk.APIError) as info:
                await stream.final()
    assert len(server.chat_requests) == 3
    assert stream.attempts == 3
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)


async def test_attempts_appear_in_the_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="chatsdk")
    async with serve(faults=Faults(status=429, retry_after=0, times=2)) as server:
        async with server.client(retry=FAST, max_retries=2) as client:
            assert await ask(client, "log me") == echo("log me")
    messages = [r.getMessage() for r in caplog.records if r.name == "chatsdk"]
    for n in (1, 2, 3):
        assert any(f"attempt {n}" in m and "POST" in m for m in messages), messages
    retries = [m for m in messages if m.startswith("retrying")]
    assert len(retries) == 2
    assert "attempt 1 of 3 failed" in retries[0] and "attempt 2 of 3 failed" in retries[1]


# == Timeouts and the deadline ====================================================================


async def test_timeout_seconds_on_the_client_and_per_request() -> None:
    stall = Faults(stall_after=0, stall_for=0.45)  # headers, then the body waits
    async with serve(faults=stall) as server:
        async with server.client(max_retries=0, timeout=0.15) as client:
            with anyio.fail_after(GUARD), pytest.raises(chatsdk.APITimeoutError):
                await ask(client, "slow")
            # A per-request timeout replaces the client's.
            assert await ask(client, "slow", timeout=5) == echo("slow")
        async with server.client(max_retries=0, timeout=5) as client:
            with pytest.raises(chatsdk.APITimeoutError):
                await ask(client, "slow", timeout=0.15)
            with pytest.raises(chatsdk.APITimeoutError):
                await ask(client, "slow", timeout=httpx.Timeout(5, read=0.15))
        async with server.client(max_retries=0, timeout=httpx.Timeout(5, read=0.15)) as client:
            assert client.timeout.read == 0.15
            with pytest.raises(chatsdk.APITimeoutError):
                await ask_streamed(client, "slow")


async def test_timeout_none_means_no_limit_at_all() -> None:
    # Silent for longer than the client's timeout, then pings only: fine with timeout=None.
    faults = Faults(stall_after=2, stall_for=0.35, stall_ping=0.05)
    async with serve(faults=faults) as server:
        async with server.client(max_retries=0, timeout=0.1) as client:
            with pytest.raises(chatsdk.APITimeoutError):
                await ask_streamed(client, "patient")
            assert await ask_streamed(client, "patient", timeout=None) == echo("patient")
        async with server.client(max_retries=0, timeout=None) as client:
            assert client.timeout == httpx.Timeout(None)
            assert await ask_streamed(client, "patient") == echo("patient")
    async with serve(faults=Faults(stall_after=0, stall_for=0.35)) as server:
        async with server.client(max_retries=0, timeout=0.1) as client:
            with pytest.raises(chatsdk.APITimeoutError):
                await ask(client, "patient")
            assert await ask(client, "patient", timeout=None) == echo("patient")


async def test_local_server_buffered_stall_with_pings_still_answers() -> None:
    async with serve(faults=Faults(stall_after=0, stall_for=0.3, stall_ping=0.05)) as server:
        async with server.client(max_retries=0, timeout=None) as client:
            assert await ask(client, "patient") == echo("patient")


async def test_idle_timeout_is_not_reset_by_pings_or_comments() -> None:
    faults = Faults(stall_after=3, stall_for=10, stall_ping=0.03)
    async with serve(faults=faults) as server:
        async with server.client(max_retries=0, timeout=0.25) as client:
            with anyio.fail_after(GUARD):
                with pytest.raises(chatsdk.APITimeoutError, match="No stream event") as info:
                    await ask_streamed(client, "one two three four")
    assert info.value.partial_text and echo("one two three four").startswith(
        info.value.partial_text
    )


async def test_keepalive_comments_between_events_do_not_trip_the_idle_timeout() -> None:
    async with serve(faults=Faults(keepalive=True, delay=0.02)) as server:
        async with server.client(max_retries=0, timeout=0.5) as client:
            assert await ask_streamed(client, "a b c d e f") == echo("a b c d e f")


async def test_deadline_bounds_a_buffered_request_and_a_stream() -> None:
    faults = Faults(stall_after=2, stall_for=30, stall_ping=0.02)  # pings keep reads alive
    async with serve(faults=faults) as server:
        async with server.client(max_retries=0, timeout=30, deadline=0.15) as client:
            assert client.deadline == 0.15
            with anyio.fail_after(GUARD), pytest.raises(chatsdk.APITimeoutError, match="deadline"):
                await ask(client, "x")
            stream = await open_stream(client, "x")
            with anyio.fail_after(GUARD), pytest.raises(chatsdk.APITimeoutError, match="deadline"):
                await stream.final()
            assert stream.response.is_closed
        async with server.client(max_retries=0, timeout=30) as client:
            assert client.deadline is None
            with anyio.fail_after(GUARD), pytest.raises(chatsdk.APITimeoutError, match="deadline"):
                await ask_streamed(client, "x", deadline=0.15)


async def test_deadline_and_timeout_are_checked() -> None:
    async with serve() as server:
        for bad in (0, -1, "5", True):
            with pytest.raises(TypeError):
                server.client(retry=FAST, deadline=bad)
        with pytest.raises(TypeError):
            server.client(retry=FAST, timeout="5")
        async with server.client(retry=FAST) as client:
            with pytest.raises(TypeError):
                await ask(client, "x", deadline=-2)


# == Connections: reuse, release, cancellation ====================================================


async def test_sequential_streams_reuse_a_handful_of_connections() -> None:
    http, backend = counting_http_client()
    async with serve() as server, http:
        client = server.client(retry=FAST, http_client=http, max_retries=0)
        for i in range(200):
            text = f"stream {i} of many"
            stream = await open_stream(client, text)
            if i % 3 == 0:
                result = (await stream.final()).choices[0].message.content
            elif i % 3 == 1:
                async with stream:
                    result = "".join([t async for t in stream.text()])
            else:
                async with stream:
                    result = "".join(
                        [c.choices[0].delta.content or "" async for c in stream if c.choices]
                    )
            assert result == echo(text)
            assert stream.response.is_closed
        for i in range(50):
            assert await ask(client, f"buffered {i}") == echo(f"buffered {i}")
        assert backend.connects <= 5, f"{backend.connects} connections for 250 requests"
        assert busy_connections(http._transport._pool) == []  # type: ignore[attr-defined]
    assert len(server.chat_requests) == 250


class AfterDone(httpx.AsyncByteStream):
    """A stream whose body goes on after [DONE]: silence, or endless junk."""

    def __init__(self, junk: bool) -> None:
        self.junk = junk
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield text_stream(["all", " here"])
        if self.junk:
            for _ in range(100_000):
                yield b": junk after done\n\n" * 64
        await anyio.sleep(30)

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize("junk", [False, True], ids=["silent", "junk"])
async def test_drain_after_done_is_short_and_bounded(junk: bool) -> None:
    body = AfterDone(junk)
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)
    async with mock(lambda request: response, max_retries=0) as client:
        stream = await open_stream(client, "x")
        # The body then stalls for 30 s, or sends megabytes of junk: the drain must stop short.
        with anyio.fail_after(GUARD):
            assert [t async for t in stream.text()] == ["all", " here"]
    assert body.closed


@needs_proc
async def test_five_hundred_abandoned_streams_leave_nothing_behind(anyio_backend: str) -> None:
    fds_before = open_fds()
    async with serve() as server:
        tasks_before = await settled_task_count(anyio_backend)
        client = server.client(max_retries=0)
        pool = pool_of(client)
        for i in range(500):
            stream = await open_stream(client, f"abandon {i} now please")
            if i % 2:
                async with stream:
                    async for first in stream:
                        assert first.choices[0].delta.role == "assistant"
                        break
            else:
                await stream.__anext__()
                await stream.aclose()
            assert stream.response.is_closed
        assert busy_connections(pool) == []
        assert requests_in(pool) == 0
        assert await settled_task_count(anyio_backend) == tasks_before
        # The pool still works, and one client still reuses its connection.
        for i in range(3):
            assert await ask_streamed(client, f"after {i}") == echo(f"after {i}")
        assert busy_connections(pool) == []
        await client.aclose()
        assert pool_is_closed(pool)
        assert await settled_task_count(anyio_backend) == tasks_before
    assert open_fds() <= fds_before + 2


async def test_cancelling_a_task_mid_stream_closes_its_response(anyio_backend: str) -> None:
    async with serve(faults=Faults(stall_after=3, stall_for=30)) as server:
        tasks_before = await settled_task_count(anyio_backend)
        async with server.client(max_retries=0) as client:
            pool = pool_of(client)
            streams: list[chatsdk.AsyncChatStream] = []
            all_streaming = anyio.Event()

            async def consume() -> None:
                stream = await open_stream(client, "cancel me in the middle")
                streams.append(stream)
                counted = False
                async for piece in stream.text():
                    if piece and not counted:
                        counted = True
                        streaming.append(stream)
                        if len(streaming) == 10:
                            all_streaming.set()

            streaming: list[chatsdk.AsyncChatStream] = []
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(consume)
                with anyio.fail_after(10):
                    await all_streaming.wait()  # every stream is stalled mid-answer
                tg.cancel_scope.cancel()
            assert len(streams) == 10
            assert all(s.response.is_closed for s in streams)
            assert busy_connections(pool) == []
            assert await settled_task_count(anyio_backend) == tasks_before
            server.faults = None
            assert await ask_streamed(client, "still fine") == echo("still fine")


async def test_cancelling_during_a_retry_wait_or_a_request_leaves_the_pool_clean() -> None:
    async with serve(faults=Faults(status=503, retry_after=30)) as server:
        async with server.client(retry=FAST, max_retries=2) as client:
            pool = pool_of(client)
            with anyio.move_on_after(0.3) as scope:
                await ask(client, "x")
            assert scope.cancelled_caught
            assert len(server.chat_requests) == 1
            assert busy_connections(pool) == []
            server.faults = Faults(delay=30)
            with anyio.move_on_after(0.2) as scope:
                await ask(client, "y")
            assert scope.cancelled_caught
            assert busy_connections(pool) == []
            server.faults = None
            assert await ask(client, "z") == echo("z")


async def test_aclose_is_shielded_from_a_cancelled_scope() -> None:
    async with serve(faults=Faults(stall_after=3, stall_for=30)) as server:
        async with server.client(max_retries=0) as client:
            pool = pool_of(client)
            stream = await open_stream(client, "shield this close")
            await stream.__anext__()
            with anyio.CancelScope() as scope:
                scope.cancel()
                await stream.aclose()
            assert stream.response.is_closed
            assert busy_connections(pool) == []


async def test_an_exception_in_the_body_of_async_with_closes_the_stream() -> None:
    async with serve(faults=Faults(stall_after=3, stall_for=30)) as server:
        async with server.client(max_retries=0) as client:
            pool = pool_of(client)
            stream = await open_stream(client, "boom")
            with pytest.raises(LookupError):
                async with stream:
                    async for _ in stream:
                        raise LookupError("user code failed")
            assert stream.response.is_closed
            assert busy_connections(pool) == []


def test_no_cleanup_in_del_needs_an_event_loop() -> None:
    assert "__del__" not in vars(chatsdk.AsyncChatClient)
    script = textwrap.dedent(
        """
        import gc, warnings
        import anyio, httpx, chatsdk
        warnings.simplefilter("always")
        kept = []
        async def main():
            body = (b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\\n\\n')
            http = httpx.AsyncClient(transport=httpx.MockTransport(
                lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"},
                                         content=body)))
            client = chatsdk.AsyncChatClient(api_key="k", base_url="http://x/v1",
                                             http_client=http)
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], stream=True)
            await stream.__anext__()
            kept.append(stream)
        anyio.run(main, backend=BACKEND)
        kept.clear()   # the loop is gone: an unclosed stream is collected now
        gc.collect()
        print("survived")
        """
    )
    for backend in ("asyncio", "trio"):
        result = subprocess.run(
            [sys.executable, "-c", script.replace("BACKEND", repr(backend))],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "survived" in result.stdout
        assert "not closed" in result.stderr  # a ResourceWarning, nothing more
        for sign in ("Traceback", "Exception ignored", "RuntimeError", "never awaited"):
            assert sign not in result.stderr, result.stderr


# == Security =====================================================================================


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text)
        assert KEY[-12:] not in str(text)


def exception_texts(exc: BaseException) -> Iterator[object]:
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        yield str(current)
        yield repr(current)
        yield current.args
        yield getattr(current, "message", "")
        yield getattr(current, "body", "")
        current = current.__cause__ or current.__context__
        seen += 1
    yield "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


async def test_the_key_is_never_in_repr_or_str_of_the_client() -> None:
    client = chatsdk.AsyncChatClient(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    async with client:
        assert client.api_key == KEY
        assert_no_key(repr(client), str(client), repr(client.chat), repr(client.chat.completions))


async def test_the_key_is_never_in_an_exception() -> None:
    errors: list[BaseException] = []
    info: pytest.ExceptionInfo[chatsdk.APIError]
    wrong = KEY[:-1] + "X"
    async with serve(api_key=wrong) as server:
        async with server.client(retry=FAST, api_key=KEY, max_retries=0) as client:
            with pytest.raises(chatsdk.AuthenticationError) as info:
                await ask(client, "x")
            errors.append(info.value)
    async with serve(api_key=KEY, faults=Faults(status=500, retry_after=0)) as server:
        async with server.client(
            retry=FAST, max_retries=1, default_headers={"api-key": KEY}
        ) as client:
            with pytest.raises(chatsdk.InternalServerError) as info:
                await ask(client, "x")
            errors.append(info.value)
            server.faults = Faults(disconnect_after=3)
            with pytest.raises(chatsdk.StreamError) as info:
                await ask_streamed(client, "one two three four")
            errors.append(info.value)
            server.faults = Faults(stall_after=0, stall_for=5)
            with pytest.raises(chatsdk.APITimeoutError) as info:
                await ask(client, "x", timeout=0.1, max_retries=0)
            errors.append(info.value)
        port = server.port
    # Nothing listens any more: connection refused.
    async with chatsdk.AsyncChatClient(
        api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0
    ) as client:
        with pytest.raises(chatsdk.APIConnectionError) as info:
            await ask(client, "x")
        errors.append(info.value)
    for error in errors:
        assert_no_key(*exception_texts(error))


async def test_debug_logs_redact_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: chatsdk, httpx, httpcore
    caplog.set_level(logging.DEBUG, logger="chatsdk")
    async with serve(api_key=KEY, faults=Faults(status=429, retry_after=0, times=1)) as server:
        async with server.client(
            retry=FAST, max_retries=1, default_headers={"api-key": KEY}
        ) as client:
            assert await ask(client, "x") == echo("x")
            assert await ask_streamed(client, "y") == echo("y")
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    attempts = [r.getMessage() for r in caplog.records if "headers=" in r.getMessage()]
    assert len(attempts) == 3, "every attempt is logged with its headers"
    for message in attempts:
        assert "'authorization': '<redacted>'" in message.lower()
        assert "'api-key': '<redacted>'" in message.lower()
    for record in caplog.records:
        assert_no_key(record.getMessage(), record.args, record.msg)
    assert_no_key(caplog.text)


def test_chatsdk_log_env_logs_to_stderr_with_redaction() -> None:
    script = textwrap.dedent(
        """
        import anyio, httpx, chatsdk
        KEY = KEYVALUE
        async def main():
            answers = [httpx.Response(503, headers={"retry-after-ms": "1"},
                                      json={"error": {"message": "busy"}}),
                       httpx.Response(200, json={"id": "c", "object": "chat.completion",
                           "created": 1, "model": "m", "choices": [{"index": 0,
                           "message": {"role": "assistant", "content": "hi"},
                           "finish_reason": "stop"}]})]
            http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: answers.pop(0)))
            client = chatsdk.AsyncChatClient(api_key=KEY, base_url="http://api.test/v1",
                                             http_client=http, default_headers={"api-key": KEY})
            reply = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}])
            print(reply.choices[0].message.content)
        anyio.run(main)
        """
    ).replace("KEYVALUE", repr(KEY))
    env = dict(os.environ, CHATSDK_LOG="debug")
    env.pop("OPENAI_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hi"
    assert "attempt 1" in result.stderr and "attempt 2" in result.stderr
    assert "retrying" in result.stderr
    assert "'authorization': '<redacted>'" in result.stderr
    assert "'api-key': '<redacted>'" in result.stderr
    assert_no_key(result.stderr, result.stdout)


def redirecting_handler(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.test":
            return httpx.Response(
                307, headers={"location": "http://elsewhere.test/v1/chat/completions"}
            )
        return httpx.Response(200, json=completion("from elsewhere"))

    return handler


async def test_a_redirect_is_not_followed_by_the_default_client() -> None:
    seen: list[httpx.Request] = []
    async with mock(redirecting_handler(seen), max_retries=2) as client:
        assert client._http.follow_redirects is False
        with pytest.raises(chatsdk.APIStatusError, match="redirect") as info:
            await ask(client, "x")
    assert [r.url.host for r in seen] == ["api.test"]
    assert info.value.attempts == 1
    assert_no_key(*exception_texts(info.value))


async def test_authorization_is_not_sent_to_another_host_on_a_followed_redirect() -> None:
    seen: list[httpx.Request] = []
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(redirecting_handler(seen)), follow_redirects=True
    )
    async with http:
        client = chatsdk.AsyncChatClient(
            api_key=KEY, base_url="http://api.test/v1", http_client=http, max_retries=0
        )
        try:
            await ask(client, "x")
        except chatsdk.APIStatusError:
            pass  # not following at all is as good
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    for request in seen[1:]:
        assert request.url.host == "elsewhere.test"
        assert "authorization" not in request.headers
        assert_no_key(str(list(request.headers.items())))


async def test_api_key_header_is_not_sent_to_another_host_on_a_redirect() -> None:
    seen: list[httpx.Request] = []
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(redirecting_handler(seen)), follow_redirects=True
    )
    async with http:
        client = chatsdk.AsyncChatClient(
            base_url="http://api.test/v1",
            http_client=http,
            default_headers={"api-key": KEY},
            max_retries=0,
        )
        try:
            await ask(client, "x")
        except chatsdk.APIStatusError:
            pass
    assert seen[0].headers["api-key"] == KEY
    for request in seen[1:]:
        assert_no_key(str(list(request.headers.items())))


@pytest.mark.httpx_only(
    "reads httpcore's SSL context (aiohttp verifies certificates by default too)"
)
async def test_tls_verification_is_on_by_default() -> None:
    async with chatsdk.AsyncChatClient(api_key=KEY) as client:
        assert client.base_url.scheme == "https"
        context = pool_of(client)._ssl_context
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True


# == Bounds on hostile input ======================================================================


class HugeLine(httpx.AsyncByteStream):
    """One SSE data line of ``total`` bytes, sent in 64 KiB pieces; counts what was pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse(chunk("", role="assistant"), done=False)
        yield b"data: "
        piece = b"x" * 65536
        while self.sent < self.total:
            self.sent += len(piece)
            yield piece
        yield b"\n\n"

    async def aclose(self) -> None:
        self.closed = True


async def test_a_many_megabyte_sse_line_raises_before_it_is_all_read() -> None:
    body = HugeLine(20 * 1024 * 1024)
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)
    async with mock(lambda request: response, max_retries=2) as client:
        stream = await open_stream(client, "x")
        with pytest.raises(chatsdk.StreamError, match="memory") as info:
            await stream.final()
    assert str(MAX_EVENT_CHARS) in str(info.value)
    assert MAX_EVENT_CHARS <= body.sent < 12 * 1024 * 1024  # stopped near the bound
    assert body.closed


class Endless(httpx.AsyncByteStream):
    """Never ends: content chunks, or only comments."""

    def __init__(self, comments: bool) -> None:
        self.comments = comments
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse(chunk("", role="assistant"), done=False)
        for _ in range(10_000_000):
            if self.comments:
                yield b": still here\n" * 1000
            else:
                yield sse(chunk("more "), done=False)
                await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        self.closed = True


async def test_an_endless_stream_of_content_is_bounded_by_the_deadline() -> None:
    body = Endless(comments=False)
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)
    async with mock(lambda request: response, max_retries=2, timeout=30) as client:
        stream = await open_stream(client, "x", deadline=0.2)
        with anyio.fail_after(GUARD):
            with pytest.raises(chatsdk.APITimeoutError, match="deadline") as info:
                await stream.final()
    assert info.value.partial_text.startswith("more more ")
    assert body.closed


async def test_an_endless_stream_of_comments_is_bounded_without_any_timeout() -> None:
    body = Endless(comments=True)
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)
    async with mock(lambda request: response, max_retries=0, timeout=None) as client:
        stream = await open_stream(client, "x")
        with anyio.fail_after(20):
            with pytest.raises(chatsdk.StreamError, match="memory"):
                await stream.final()
    assert body.closed


class BigBody(httpx.AsyncByteStream):
    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"choices": [{"index": 0, "message": {"content": "'
        piece = b"y" * (1024 * 1024)
        while self.sent < self.total:
            self.sent += len(piece)
            yield piece
        yield b'"}, "finish_reason": "stop"}]}'


async def test_an_oversized_buffered_reply_raises_before_it_is_all_read() -> None:
    body = BigBody(MAX_REPLY_BYTES + 8 * 1024 * 1024)
    response = httpx.Response(200, headers={"content-type": "application/json"}, stream=body)
    async with mock(lambda request: response, max_retries=0, timeout=30) as client:
        with pytest.raises(chatsdk.APIError):
            await ask(client, "x")
    assert body.sent < body.total


async def test_closed_streams_are_collected_without_a_warning() -> None:
    async with serve() as server:
        async with server.client(max_retries=0) as client:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for i in range(20):
                    stream = await open_stream(client, f"q {i}")
                    if i % 2:
                        await stream.final()  # read to the end
                    else:
                        async with stream:  # abandoned after one chunk
                            await stream.__anext__()
                del stream
                gc.collect()
            # chatsdk's own warning is only for a stream nobody closed.
            assert [w for w in caught if "AsyncChatStream" in str(w.message)] == []
            assert await ask(client, "ok") == echo("ok")
