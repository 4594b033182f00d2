"""The one-pass pool planner, on stand-in connections, and the transport that uses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

import httpcore
import httpx
import pytest

import chatsdk
from chatsdk._pool import LinearPool, make_transport, pool_is_replaceable

if TYPE_CHECKING:
    from typing_extensions import Unpack

A = httpcore.URL("http://a.test/").origin
B = httpcore.URL("http://b.test/").origin


class Connection:
    def __init__(self, origin: Any, *, idle: bool = True, expired: bool = False) -> None:
        self.origin = origin
        self.idle = idle
        self.expired = expired
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    def is_idle(self) -> bool:
        return self.idle

    def has_expired(self) -> bool:
        return self.expired

    def is_available(self) -> bool:
        return self.idle and not self.closed

    def can_handle_request(self, origin: Any) -> bool:
        return bool(origin == self.origin)


class Request:
    def __init__(self, origin: Any, connection: Any = None) -> None:
        self.request = type("R", (), {"url": type("U", (), {"origin": origin})()})()
        self.connection = connection

    def is_queued(self) -> bool:
        return self.connection is None

    def assign_to_connection(self, connection: Any) -> None:
        self.connection = connection

    def clear_connection(self) -> None:
        self.connection = None


class Limits(TypedDict, total=False):
    max_connections: int
    max_keepalive_connections: int


class Pool(LinearPool):
    # Stand-ins, not httpcore connections and requests.
    _connections: list[Any]
    _requests: list[Any]

    def __init__(
        self, connections: list[Connection], requests: list[Request], **limits: Unpack[Limits]
    ) -> None:
        super().__init__(**limits)
        self._connections = connections
        self._requests = requests
        self.created: list[Connection] = []

    @property
    def connections(self) -> list[Any]:  # stand-ins
        return list(self._connections)

    def create_connection(self, origin: Any) -> Any:
        connection = Connection(origin, idle=False)
        self.created.append(connection)
        return connection


def plan(pool: Pool) -> list[Any]:
    return pool._assign_requests_to_connections()


def test_reuses_an_idle_connection() -> None:
    idle = Connection(A)
    request = Request(A)
    pool = Pool([idle], [request], max_connections=10)
    assert plan(pool) == []
    assert request.connection is idle
    assert pool.created == []


def test_one_idle_connection_goes_to_one_request_only() -> None:
    idle = Connection(A)
    first, second = Request(A), Request(A)
    pool = Pool([idle], [first, second], max_connections=10)
    plan(pool)
    assert first.connection is idle
    assert second.connection is pool.created[0]


def test_a_connection_given_but_not_started_is_not_given_again() -> None:
    idle = Connection(A)
    waiting = Request(A, connection=idle)
    new = Request(A)
    pool = Pool([idle], [waiting, new], max_connections=10)
    plan(pool)
    assert new.connection is not idle
    assert pool.created == [new.connection]


def test_full_pool_replaces_an_idle_connection_to_another_origin() -> None:
    busy = Connection(A, idle=False)
    idle_b = Connection(B)
    request = Request(A, connection=None)
    holder = Request(A, connection=busy)
    pool = Pool([busy, idle_b], [holder, request], max_connections=2)
    closing = plan(pool)
    assert closing == [idle_b]
    assert request.connection is pool.created[0]
    assert idle_b not in pool._connections


def test_full_pool_leaves_requests_queued() -> None:
    busy = Connection(A, idle=False)
    queued = Request(A)
    pool = Pool([busy], [Request(A, connection=busy), queued], max_connections=1)
    assert plan(pool) == []
    assert queued.is_queued()


def test_expired_and_closed_connections_leave_the_pool() -> None:
    expired = Connection(A, expired=True)
    closed = Connection(A)
    closed.closed = True
    live = Connection(A)
    pool = Pool([expired, closed, live], [], max_connections=10)
    assert plan(pool) == [expired]
    assert pool.connections == [live]


def test_surplus_idle_connections_are_closed() -> None:
    idle = [Connection(A) for _ in range(5)]
    busy = Connection(A, idle=False)
    pool = Pool(
        [*idle, busy],
        [Request(A, connection=busy)],
        max_connections=10,
        max_keepalive_connections=2,
    )
    closing = plan(pool)
    assert closing == idle[:3]
    assert pool.connections == [*idle[3:], busy]


@pytest.mark.httpx_only("reads httpcore's connection pool")
def test_the_default_client_uses_the_one_pass_pool() -> None:
    client = chatsdk.AsyncChatClient(api_key="k", base_url="http://h/v1")
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    assert type(pool) is LinearPool
    assert pool._max_connections == 1000


def test_unknown_httpcore_releases_keep_the_stock_pool() -> None:
    assert pool_is_replaceable("1.0.9")
    assert not pool_is_replaceable("1.1.0")
    assert not pool_is_replaceable("2.0.0")


@pytest.mark.anyio
@pytest.mark.parametrize("version", ["1.1.0", "2.0.0"])
async def test_the_stock_pool_serves_an_httpcore_the_planner_does_not_know(version: str) -> None:
    import anyio
    import httpcore

    from chatsdk._pool import make_client
    from chatsdk.testing import ECHO_PREFIX, serve

    limits = httpx.Limits(max_connections=10, max_keepalive_connections=5)
    http = make_client(limits=limits, timeout=httpx.Timeout(30), httpcore_version=version)
    pool = http._transport._pool  # type: ignore[attr-defined]
    assert type(pool) is httpcore.AsyncConnectionPool  # the fallback, not LinearPool
    async with serve() as server, http, server.client(http_client=http, max_retries=0) as client:
        answers: list[str] = []

        async def ask(i: int) -> None:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"q{i}"}], stream=i % 2 == 0
            )
            if isinstance(stream, chatsdk.AsyncChatStream):
                answers.append((await stream.final()).choices[0].message.content or "")
            else:
                answers.append(stream.choices[0].message.content or "")

        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(ask, i)
        assert len(pool.connections) <= 10
        assert all(c.is_idle() or c.is_closed() for c in pool.connections)
    assert sorted(answers) == sorted(f"{ECHO_PREFIX}q{i}" for i in range(40))


def test_transport_keeps_limits() -> None:
    transport = make_transport(httpx.Limits(max_connections=7, max_keepalive_connections=3))
    pool = transport._pool
    assert (pool._max_connections, pool._max_keepalive_connections) == (7, 3)


@pytest.mark.anyio
@pytest.mark.httpx_only("reads httpcore's connection pool")
async def test_many_concurrent_requests_over_the_pool() -> None:
    import anyio

    from chatsdk.testing import ECHO_PREFIX, serve

    client: chatsdk.AsyncChatClient
    async with serve() as server, server.client(max_retries=0) as client:
        answers: list[str] = []

        async def ask(i: int) -> None:
            reply = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"q{i}"}]
            )
            answers.append(reply.choices[0].message.content or "")

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(ask, i)
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) <= 100
    assert sorted(answers) == sorted(f"{ECHO_PREFIX}q{i}" for i in range(200))


@pytest.mark.httpx_only("reads httpcore's connection pool")
def test_environment_proxies_still_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    client = chatsdk.AsyncChatClient(api_key="k", base_url="https://api.test/v1")
    http = client._http
    proxied = [
        transport for pattern, transport in http._mounts.items() if pattern.scheme == "https"
    ]
    assert proxied, "HTTPS_PROXY from the environment was ignored"
    assert type(http._transport._pool) is LinearPool  # type: ignore[attr-defined]
