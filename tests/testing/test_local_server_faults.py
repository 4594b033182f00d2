"""Fault injection: error statuses, broken and slow streams, per-request faults."""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from chatsdk.testing import Faults, serve

# One TLS context for all clients: building one per client costs ~30 ms, and every
# connection here is plain HTTP on loopback anyway.
TLS = ssl.create_default_context()
# For stalls: a client that gives up after 0.2 s without a byte.
SHORT_READ = httpx.Timeout(5, read=0.2)
pytestmark = pytest.mark.anyio

Body = Callable[..., dict[str, Any]]
REPLY = "one two three four five"  # 7 chunks: role, 5 pieces, finish
CHUNKS = 7


async def _read_stream(
    http: httpx.AsyncClient, body: dict[str, Any]
) -> tuple[bytes, BaseException | None]:
    """Read a streamed answer; returns the bytes received and the error that ended it, if any."""
    received = b""
    try:
        async with http.stream("POST", "/chat/completions", json=body) as response:
            assert response.status_code == 200
            async for piece in response.aiter_raw():
                received += piece
    except (httpx.RemoteProtocolError, httpx.ReadTimeout) as exc:
        return received, exc
    return received, None


@pytest.mark.parametrize(
    ("status", "etype", "code"),
    [(429, "requests", "rate_limit_exceeded"), (500, "server_error", None),
     (503, "server_error", "overloaded"), (400, "invalid_request_error", None)],
)
async def test_status_fault_answers_the_api_error_format(
    status: int, etype: str, code: str | None, chat_body: Body
) -> None:
    async with serve(faults=Faults(status=status, retry_after=2)) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=chat_body(stream=True))
    assert response.status_code == status
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-request-id"].startswith("req_")
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (etype, code, None)
    assert "simulated" in error["message"].lower()


async def test_status_fault_overrides_and_no_retry_after(chat_body: Body) -> None:
    faults = Faults(status=529, error_message="Overloaded", error_type="overloaded_error",
                    error_code="overloaded")
    async with serve(faults=faults) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=chat_body())
    assert response.status_code == 529
    assert "retry-after" not in response.headers
    assert response.json() == {"error": {"message": "Overloaded", "type": "overloaded_error",
                                         "param": None, "code": "overloaded"}}


async def test_times_limits_faults_to_the_first_requests(chat_body: Body) -> None:
    async with serve(faults=Faults(status=503, retry_after=0.5, times=2)) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        responses = [await http.post("/chat/completions", json=chat_body()) for _ in range(3)]
    assert [r.status_code for r in responses] == [503, 503, 200]
    assert responses[0].headers["retry-after"] == "0.5"


@pytest.mark.parametrize("after", [0, 2, 100])
async def test_disconnect_breaks_the_stream(after: int, chat_body: Body, parse_sse: Any) -> None:
    async with serve(replies=REPLY, faults=Faults(disconnect_after=after)) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        received, error = await _read_stream(http, chat_body(stream=True))
    assert isinstance(error, httpx.RemoteProtocolError)
    events = parse_sse(received)
    assert len(events.data) == min(after, CHUNKS - 1)  # never the finish_reason chunk
    assert not events.done
    assert all(c["finish_reason"] is None for ch in events.chunks for c in ch["choices"])


async def test_disconnect_breaks_a_buffered_reply(chat_body: Body) -> None:
    async with serve(faults=Faults(disconnect_after=0)) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/chat/completions", json=chat_body())
        server.faults = None
        healthy = await http.post("/chat/completions", json=chat_body())
    assert healthy.status_code == 200


async def test_error_event_mid_stream(chat_body: Body, parse_sse: Any) -> None:
    faults = Faults(error_after=3, error_type="rate_limit_exceeded", error_code="rate_limit")
    async with serve(replies=REPLY, faults=faults) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        received, error = await _read_stream(http, chat_body(stream=True))
    assert error is None  # the stream ends cleanly, just without [DONE]
    events = parse_sse(received)
    assert not events.done
    *chunks, last = events.chunks
    assert len(chunks) == 3
    assert last == {"error": {"message": last["error"]["message"],
                              "type": "rate_limit_exceeded", "param": None,
                              "code": "rate_limit"}}
    assert last["error"]["message"]


async def test_error_event_defaults_to_server_error(chat_body: Body, parse_sse: Any) -> None:
    async with serve(faults=Faults(error_after=0)) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        received, _ = await _read_stream(http, chat_body(stream=True))
    (event,) = parse_sse(received).chunks
    assert event["error"]["type"] == "server_error"


async def test_malformed_chunk_then_the_stream_goes_on(chat_body: Body, parse_sse: Any) -> None:
    async with serve(replies=REPLY, faults=Faults(malformed_after=1)) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        received, error = await _read_stream(http, chat_body(stream=True))
    assert error is None
    events = parse_sse(received)
    assert events.data[1] == "{not json"
    assert b"\n\ndata: {not json\n\n" in received
    assert events.done
    assert len(events.data) == CHUNKS + 2  # chunks, the malformed one, [DONE]


async def test_keepalive_comments_between_chunks(chat_body: Body, parse_sse: Any) -> None:
    async with serve(replies=REPLY, faults=Faults(keepalive=True)) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        received, _ = await _read_stream(http, chat_body(stream=True))
    assert received.count(b": keep-alive\n\n") == CHUNKS
    assert parse_sse(received).done
    assert not received.startswith(b":")  # between chunks, not before the first


async def test_stall_times_out_a_reading_client(chat_body: Body, parse_sse: Any) -> None:
    async with serve(replies=REPLY, faults=Faults(stall_after=2)) as server, \
            httpx.AsyncClient(
                verify=TLS, base_url=server.base_url, timeout=SHORT_READ) as http:
        with anyio.fail_after(5):
            received, error = await _read_stream(http, chat_body(stream=True))
    assert isinstance(error, httpx.ReadTimeout)
    assert len(parse_sse(received).data) == 2


async def test_stall_with_pings_then_the_stream_resumes(chat_body: Body, parse_sse: Any) -> None:
    faults = Faults(stall_after=1, stall_for=0.3, stall_ping=0.02)
    async with serve(replies=REPLY, faults=faults) as server, \
            httpx.AsyncClient(
                verify=TLS, base_url=server.base_url, timeout=SHORT_READ) as http:
        received, error = await _read_stream(http, chat_body(stream=True))
    assert error is None  # the pings kept the 0.2 s read timeout from firing
    events = parse_sse(received)
    assert events.done
    assert len(events.comments) >= 3 and set(events.comments) == {"ping"}
    assert received.index(b": ping") > received.index(b"data: ")


async def test_buffered_stall_times_out(chat_body: Body) -> None:
    async with serve(faults=Faults(stall_after=0)) as server, \
            httpx.AsyncClient(
                verify=TLS, base_url=server.base_url, timeout=SHORT_READ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/chat/completions", json=chat_body())


async def test_stopping_the_server_ends_a_stall_quickly(chat_body: Body) -> None:
    server = serve(faults=Faults(stall_after=1, stall_ping=0.05))
    await server.__aenter__()
    try:
        async with httpx.AsyncClient(verify=TLS, base_url=server.base_url, timeout=10) as http:
            async with http.stream("POST", "/chat/completions",
                                   json=chat_body(stream=True)) as response:
                pieces = response.aiter_raw()
                first = await pieces.__anext__()
                assert first.startswith(b"data: ")
                started = time.monotonic()
                await server.__aexit__(None, None, None)
                stop_seconds = time.monotonic() - started
                with pytest.raises(httpx.RemoteProtocolError):
                    async for _ in pieces:
                        pass
    finally:
        await server.__aexit__(None, None, None)  # a no-op once stopped
    assert stop_seconds < 2


async def test_delay_slows_every_chunk(chat_body: Body, parse_sse: Any) -> None:
    async with serve(replies=REPLY, faults=Faults(delay=0.03)) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        started = time.monotonic()
        received, _ = await _read_stream(http, chat_body(stream=True))
        streamed = time.monotonic() - started
        started = time.monotonic()
        buffered = await http.post("/chat/completions", json=chat_body())
        waited = time.monotonic() - started
    assert parse_sse(received).done
    assert streamed >= 0.03 * CHUNKS * 0.9
    assert buffered.status_code == 200
    assert waited >= 0.03 * 0.9


async def test_per_request_faults_function(chat_body: Body) -> None:
    seen: list[tuple[int, Any]] = []

    def faults(index: int, body: Any) -> Faults | None:
        seen.append((index, body))
        return Faults(status=500) if index % 2 == 0 else None

    async with serve(faults=faults) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        statuses = [
            (await http.post("/chat/completions", json=chat_body(str(i)))).status_code
            for i in range(4)
        ]
        await http.get("/models")  # not a chat request: the function is not called
    assert statuses == [500, 200, 500, 200]
    assert [i for i, _ in seen] == [0, 1, 2, 3]
    assert [b["messages"][0]["content"] for _, b in seen] == ["0", "1", "2", "3"]


def _seeded(seed: int) -> Callable[[int, Any], Faults | None]:
    def faults(index: int, body: Any) -> Faults | None:
        rng = random.Random(seed * 1_000_003 + index)  # per index, so order does not matter
        return Faults(status=rng.choice([429, 503])) if rng.random() < 0.5 else None

    return faults


async def test_seeded_faults_are_reproducible(chat_body: Body) -> None:
    runs = []
    for seed in (7, 7, 8):
        async with serve(faults=_seeded(seed)) as server, \
                httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
            runs.append([(await http.post("/chat/completions", json=chat_body())).status_code
                         for _ in range(12)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert {200, 429, 503} >= set(runs[0]) and len(set(runs[0])) > 1


async def test_failing_faults_function_answers_500(chat_body: Body) -> None:
    def faults(index: int, body: Any) -> Faults | None:
        raise RuntimeError("bad dice")

    async with serve(faults=faults) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=chat_body())
    assert response.status_code == 500
    assert "bad dice" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "kwargs",
    [{"delay": -1}, {"disconnect_after": -1}, {"status": 99}, {"stall_ping": 0}, {"times": -2}],
)
def test_faults_reject_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Faults"):
        Faults(**kwargs)


def test_stall_is_bounded() -> None:
    assert Faults(stall_after=0, stall_for=3600).stall_seconds == 60
