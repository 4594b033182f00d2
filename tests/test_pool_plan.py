"""The pool's plan over many events: its limit, its queue order, no leak, and flat cost per event.

The stand-ins play httpcore's part: a request is appended then planned; when its reply is closed
it is removed and the pool plans again (``AsyncConnectionPool.handle_async_request`` and
``PoolByteStream.aclose``).
"""

from __future__ import annotations

from typing import Any

import anyio
import httpcore
import pytest
from test_pool import Connection, Pool, Request, plan

import chatsdk
from chatsdk.testing import ECHO_PREFIX, serve

A = httpcore.URL("http://a.test/").origin


class CountingConnection(Connection):
    """A connection that counts how often the planner asks it anything."""

    asked = 0

    def is_closed(self) -> bool:
        CountingConnection.asked += 1
        return super().is_closed()

    def is_idle(self) -> bool:
        CountingConnection.asked += 1
        return super().is_idle()

    def has_expired(self) -> bool:
        CountingConnection.asked += 1
        return super().has_expired()

    def is_available(self) -> bool:
        CountingConnection.asked += 1
        return super().is_available()

    def can_handle_request(self, origin: Any) -> bool:
        CountingConnection.asked += 1
        return super().can_handle_request(origin)


class CountingPool(Pool):
    def create_connection(self, origin: Any) -> Any:
        connection = CountingConnection(origin, idle=False)
        self.created.append(connection)
        return connection


def arrive(pool: Pool, request: Request) -> None:
    pool._requests.append(request)
    plan(pool)
    if request.connection is not None:
        request.connection.idle = False  # it sends at once


def finish(pool: Pool, request: Request) -> None:
    request.connection.idle = True  # the reply was read to its end
    pool._requests.remove(request)
    plan(pool)


def started(pool: Pool, requests: list[Request]) -> list[Request]:
    """Requests that just got a connection start sending on it."""
    out = []
    for request in requests:
        if request.connection is not None and request.connection.idle:
            request.connection.idle = False
            out.append(request)
    return out


def test_the_limit_holds_and_queued_requests_are_served_in_arrival_order() -> None:
    pool = Pool([], [], max_connections=3, max_keepalive_connections=3)
    requests = [Request(A) for _ in range(10)]
    for request in requests:
        arrive(pool, request)
    assert [r.connection is not None for r in requests] == [True] * 3 + [False] * 7
    served = requests[:3]
    active = list(served)
    while active:
        done = active.pop(0)
        waiting = [r for r in requests if r.connection is None]
        finish(pool, done)
        newly = started(pool, waiting)
        assert len(newly) <= 1
        served += newly
        active += newly
        assert len(pool.connections) <= 3
    assert served == requests  # first come, first served
    assert len(pool.created) == 3  # the three connections were reused, never more
    # Nothing left behind: no request, no queue, the connections idle and kept.
    assert len(pool._requests) == 0
    assert not pool._requests.queue  # type: ignore[attr-defined]
    assert pool.connections == pool.created
    assert all(c.is_idle() for c in pool.connections)


def test_a_request_that_leaves_the_queue_is_not_served() -> None:
    pool = Pool([], [], max_connections=1)
    first, gone, last = Request(A), Request(A), Request(A)
    for request in (first, gone, last):
        arrive(pool, request)
    pool._requests.remove(gone)  # cancelled, or its pool timeout passed, while queued
    plan(pool)
    finish(pool, first)
    assert gone.connection is None
    assert last.connection is first.connection
    assert len(pool._requests) == 1


def test_a_request_whose_connection_was_unavailable_goes_back_to_the_head() -> None:
    pool = Pool([], [], max_connections=2)
    first, second, third = Request(A), Request(A), Request(A)
    for request in (first, second, third):
        arrive(pool, request)
    broken = first.connection
    # The connection was found closed when the request was sent on it: httpcore clears the
    # request's connection and plans again.
    broken.closed = True
    first.clear_connection()
    plan(pool)
    assert broken not in pool.connections
    assert first.connection is not None and first.connection is not broken
    assert third.connection is None  # first is served before the later one


def asked_while_streams_come_and_go(open_streams: int) -> int:
    """How often the planner asks connections anything while five streams end and five start,
    with ``open_streams`` open."""
    pool = CountingPool([], [], max_connections=open_streams + 10, max_keepalive_connections=5)
    requests = [Request(A) for _ in range(open_streams)]
    for request in requests:
        arrive(pool, request)
    CountingConnection.asked = 0
    for _ in range(5):  # one stream ends, another starts on its connection
        done = requests.pop(0)
        finish(pool, done)
        fresh = Request(A)
        arrive(pool, fresh)
        assert fresh.connection is done.connection
        requests.append(fresh)
    assert len(pool.connections) == open_streams
    return CountingConnection.asked


def test_planning_asks_the_same_of_the_pool_however_many_streams_are_open() -> None:
    # Each event looks at the connection it concerns and the few idle ones, not at every open
    # connection: the same for 10 open streams as for 2,000.
    assert asked_while_streams_come_and_go(2000) == asked_while_streams_come_and_go(10)


@pytest.mark.anyio
@pytest.mark.httpx_only("reads httpcore's connection pool")
async def test_max_connections_bounds_the_connections_a_client_opens() -> None:
    async with serve() as server, server.client(max_retries=0, max_connections=4) as client:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 4
        answers: list[str] = []

        async def ask(i: int) -> None:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"q{i}"}], stream=True
            )
            answers.append((await stream.final()).choices[0].message.content or "")
            assert len(pool.connections) <= 4

        async with anyio.create_task_group() as tg:
            for i in range(30):
                tg.start_soon(ask, i)
        assert len(pool.connections) <= 4
        assert len(pool._requests) == 0
    assert sorted(answers) == sorted(f"{ECHO_PREFIX}q{i}" for i in range(30))


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True, None])
def test_max_connections_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(TypeError, match="max_connections must be an int >= 1"):
        chatsdk.AsyncChatClient(api_key="k", base_url="http://h/v1", max_connections=bad)  # type: ignore[arg-type]


def test_max_connections_and_http_client_do_not_go_together() -> None:
    import httpx

    with pytest.raises(ValueError, match="max_connections and http_client"):
        chatsdk.AsyncChatClient(
            api_key="k", base_url="http://h/v1", http_client=httpx.AsyncClient(), max_connections=5
        )
