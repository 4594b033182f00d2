"""backend="aiohttp": the same replies, errors and connection reuse as httpx's transport.

Raw socket servers on 127.0.0.1 send exactly the bytes each case needs; aiohttp runs on asyncio
only, so these tests do too (and one checks what trio gets).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest
from helpers import MESSAGES, completion, text_stream
from raw_http import RawServer, Reply, response

import chatsdk
from chatsdk.testing import ECHO_PREFIX, serve

pytest.importorskip("aiohttp", reason="backend='aiohttp' needs the aiohttp extra")

pytestmark = pytest.mark.anyio
KEY = "sk-backend-test-key-123456"
GUARD = 10  # seconds: a hang guard only


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only


class CountingServer(RawServer):
    """A :class:`RawServer` that counts the connections made to it."""

    connections = 0

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        self.connections += 1
        try:
            await super().handle(stream)
        except anyio.ClosedResourceError:
            pass  # the reply hung up itself


@asynccontextmanager
async def counting_server(*replies: Reply) -> AsyncIterator[CountingServer]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    server = CountingServer(list(replies), listener.extra(anyio.abc.SocketAttribute.local_port))
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.handle)
        yield server
        group.cancel_scope.cancel()


def client_for(server: RawServer, **kwargs: object) -> chatsdk.AsyncChatClient:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("backend", "aiohttp")
    return chatsdk.AsyncChatClient(
        api_key=KEY,
        base_url=server.base_url,
        **kwargs,  # type: ignore[arg-type]
    )


def sse_reply(*pieces: str) -> bytes:
    return response(body=text_stream(pieces), headers={"content-type": "text/event-stream"})


async def test_replies_and_streams_arrive_whole() -> None:
    async with serve() as server, server.client(backend="aiohttp", max_retries=0) as client:
        assert type(client._http._transport).__name__ == "AiohttpTransport"
        reply = await client.chat.completions.create(model="m", messages=MESSAGES)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            streamed = "".join([text async for text in stream.text()])
    assert reply.choices[0].message.content == f"{ECHO_PREFIX}Hello!"
    assert streamed == f"{ECHO_PREFIX}Hello!"


async def test_chatsdk_headers_are_sent_as_they_are_and_no_others_of_aiohttp() -> None:
    async with counting_server(response(body=json.dumps(completion()).encode())) as server:
        async with client_for(server) as client:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    head = server.requests[0].split(b"\r\n\r\n")[0].decode().lower()
    assert f"authorization: bearer {KEY.lower()}" in head
    assert f"user-agent: chatsdk/{chatsdk.__version__}" in head
    assert "aiohttp" not in head
    assert head.count("accept-encoding:") == 1


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
async def test_a_cookie_the_server_sets_is_sent_back_on_either_backend(backend: str) -> None:
    # A load balancer's affinity cookie, say: kept for the client's life on both backends.
    body = json.dumps(completion()).encode()
    sets = response(body=body, headers={"set-cookie": "affinity=node-7; Path=/"})
    async with counting_server(sets, response(body=body)) as server:
        async with client_for(server, backend=backend) as client:
            for _ in range(2):
                await client.chat.completions.create(model="m", messages=MESSAGES)
    first, second = (r.split(b"\r\n\r\n")[0].decode().lower() for r in server.requests)
    assert "cookie:" not in first
    assert second.count("cookie:") == 1
    assert "cookie: affinity=node-7" in second


async def test_the_backends_http_client_refuses_auth_redirects_and_use_after_close() -> None:
    async with counting_server(response(body=json.dumps(completion()).encode())) as server:
        client = client_for(server)
        async with client:
            http = client._http
            request = http.build_request("GET", server.base_url)
            with pytest.raises(ValueError, match="takes no auth and follows no redirects"):
                await http.send(request, auth=httpx.BasicAuth("user", "pass"))
            with pytest.raises(ValueError, match="follows no redirects"):
                await http.send(request, follow_redirects=True)
            reply = await http.send(request)  # not streamed: the body is read
            assert reply.content == json.dumps(completion()).encode()
        with pytest.raises(RuntimeError, match="client has been closed"):
            await http.send(request)


async def test_the_connection_is_reused_after_a_stream_ends() -> None:
    async with counting_server(sse_reply("a", "b"), sse_reply("c")) as server:
        async with client_for(server) as client:
            for _ in range(2):
                stream = await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True
                )
                await stream.final()
    assert server.connections == 1


async def test_max_connections_bounds_the_connections_and_every_request_is_served() -> None:
    async with counting_server(sse_reply("ok")) as server:
        async with client_for(server, max_connections=3) as client:
            answers: list[str] = []

            async def ask() -> None:
                stream = await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True
                )
                answers.append((await stream.final()).choices[0].message.content or "")

            with anyio.fail_after(GUARD):
                async with anyio.create_task_group() as tg:
                    for _ in range(20):
                        tg.start_soon(ask)
            assert client._http._transport.in_flight == 0  # type: ignore[attr-defined]
    assert answers == ["ok"] * 20
    assert server.connections <= 3


async def test_a_stream_left_part_way_closes_its_connection() -> None:
    async def endless(stream: anyio.abc.ByteStream) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        event = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        event += b'"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n'
        while True:
            await stream.send(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            await anyio.sleep(0.01)

    async with counting_server(endless, sse_reply("after")) as server:
        async with client_for(server) as client:
            with anyio.fail_after(GUARD):
                stream = await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True
                )
                async with stream:
                    async for text in stream.text():
                        assert text == "x"
                        break
                again = await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True
                )
                assert (await again.final()).choices[0].message.content == "after"
    assert server.connections == 2  # the abandoned one was not given to the next request


async def test_a_server_that_hangs_up_is_a_broken_connection_not_a_timeout() -> None:
    async def hang_up(stream: anyio.abc.ByteStream) -> None:
        await stream.aclose()

    async with counting_server(hang_up) as server, client_for(server) as client:
        with pytest.raises(chatsdk.APIConnectionError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert not isinstance(caught.value, chatsdk.APITimeoutError)
    assert "Connection broken while reading the reply" in caught.value.message
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)


async def test_a_body_cut_short_is_a_broken_connection() -> None:
    async def cut(stream: anyio.abc.ByteStream) -> None:
        await stream.send(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"id":')
        await stream.aclose()

    async with counting_server(cut) as server, client_for(server) as client:
        with pytest.raises(chatsdk.APIConnectionError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert not isinstance(caught.value, chatsdk.APITimeoutError)
    assert "Connection broken while reading the reply" in caught.value.message


async def test_a_refused_connection_is_a_connection_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there now
    client = chatsdk.AsyncChatClient(
        api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", backend="aiohttp", max_retries=0
    )
    async with client:
        with pytest.raises(chatsdk.APIConnectionError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert not isinstance(caught.value, chatsdk.APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_silent_server_is_a_read_timeout() -> None:
    async def silent(stream: anyio.abc.ByteStream) -> None:
        await anyio.sleep_forever()

    async with counting_server(silent) as server:
        async with client_for(server, timeout=httpx.Timeout(GUARD, read=0.2)) as client:
            with anyio.fail_after(GUARD), pytest.raises(chatsdk.APITimeoutError) as caught:
                await client.chat.completions.create(model="m", messages=MESSAGES)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_waiting_past_the_pool_timeout_is_a_pool_timeout() -> None:
    async with counting_server(sse_reply("a")) as server:
        timeout = httpx.Timeout(GUARD, pool=0.05)
        async with client_for(server, max_connections=1, timeout=timeout) as client:
            with anyio.fail_after(GUARD):
                held = await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True
                )
                with pytest.raises(chatsdk.APITimeoutError) as caught:
                    await client.chat.completions.create(model="m", messages=MESSAGES)
                await held.aclose()
    assert isinstance(caught.value.__cause__, httpx.PoolTimeout)


async def test_a_compressed_reply_is_inflated_by_chatsdk() -> None:
    body = gzip.compress(json.dumps(completion("squeezed")).encode())
    reply = response(body=body, headers={"content-encoding": "gzip"})
    async with counting_server(reply) as server, client_for(server) as client:
        answer = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert answer.choices[0].message.content == "squeezed"


async def test_redirects_are_not_followed() -> None:
    reply = response("302 Found", headers={"location": "http://elsewhere.test/v1"})
    async with counting_server(reply) as server, client_for(server) as client:
        with pytest.raises(chatsdk.APIStatusError, match="redirects are not followed"):
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(server.requests) == 1


def test_backend_must_be_known() -> None:
    with pytest.raises(ValueError, match=r"backend must be 'httpx' .* or 'aiohttp'"):
        chatsdk.AsyncChatClient(api_key="k", base_url="http://h/v1", backend="curl")


def test_backend_and_http_client_do_not_go_together() -> None:
    with pytest.raises(ValueError, match="backend='aiohttp' and http_client"):
        chatsdk.AsyncChatClient(
            api_key="k", base_url="http://h/v1", backend="aiohttp", http_client=httpx.AsyncClient()
        )


def test_aiohttp_under_trio_is_refused_naming_the_backend() -> None:
    import trio

    async def make() -> None:
        chatsdk.AsyncChatClient(api_key="k", base_url="http://h/v1", backend="aiohttp")

    with pytest.raises(ValueError, match="backend='aiohttp' runs on asyncio only"):
        trio.run(make)


def test_import_chatsdk_does_not_import_aiohttp() -> None:
    code = (
        "import sys, chatsdk\n"
        "chatsdk.AsyncChatClient(api_key='k', base_url='http://h/v1')\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp was imported'\n"
        "chatsdk.AsyncChatClient(api_key='k', base_url='http://h/v1', backend='aiohttp')\n"
        "assert 'aiohttp' in sys.modules\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "CHATSDK_BACKEND"}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env)


def test_without_aiohttp_the_backend_says_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"  # as if it were not installed
        "import chatsdk\n"
        "try:\n"
        "    chatsdk.AsyncChatClient(api_key='k', base_url='http://h/v1', backend='aiohttp')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "backend='aiohttp' needs aiohttp: pip install 'chatsdk[aiohttp]'" in out
