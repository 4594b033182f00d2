"""client.with_options(): a client with other settings on the same connection pool."""

from __future__ import annotations

import httpx
import pytest
from helpers import MESSAGES, pool_of

import chatsdk
from chatsdk.testing import serve

pytestmark = pytest.mark.anyio


async def test_a_derived_client_shares_the_pool_and_not_its_closing() -> None:
    async with serve(replies="ok") as server:
        parent = server.client(max_retries=0)
        derived = parent.with_options(
            timeout=5, max_retries=2, api_key="other-key", default_headers={"X-Trace": "1"}
        )
        assert (derived.timeout.read, derived.max_retries) == (5, 2)
        assert (parent.timeout.read, parent.max_retries) == (600, 0)
        await parent.chat.completions.create(model="m", messages=MESSAGES)
        await derived.chat.completions.create(model="m", messages=MESSAGES)
        await derived.models.list()
        # One pool, and on httpx's transport one connection, reused by both clients.
        pool = pool_of(parent)
        assert pool_of(derived) is pool
        if not hasattr(pool, "in_flight"):  # the aiohttp transport does not list its connections
            assert len(pool.connections) == 1
        first, second, third = server.requests
        assert "x-trace" not in first.headers
        assert second.headers["x-trace"] == third.headers["x-trace"] == "1"
        assert first.headers["authorization"] == "Bearer test"
        assert second.headers["authorization"] == "Bearer other-key"

        await derived.aclose()  # the pool is the parent's: still open
        async with derived:
            pass
        await parent.chat.completions.create(model="m", messages=MESSAGES)
        assert len(server.requests) == 4

        await parent.aclose()
        with pytest.raises(chatsdk.APIConnectionError, match="with_options"):
            await derived.chat.completions.create(model="m", messages=MESSAGES)


async def test_headers_merge_and_none_removes_one() -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"object": "list", "data": []})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with chatsdk.AsyncChatClient(
        api_key="k", base_url="http://t/v1", http_client=http, default_headers={"X-A": "a"}
    ) as client:
        derived = client.with_options(default_headers={"x-a": None, "X-B": "b"})
        again = derived.with_options(default_headers={"X-C": "c"}, base_url="http://u/v2")
        await client.models.list()
        await again.models.list()
    assert seen[0]["x-a"] == "a" and "x-b" not in seen[0]
    assert "x-a" not in seen[1] and (seen[1]["x-b"], seen[1]["x-c"]) == ("b", "c")
    assert str(again.base_url) == "http://u/v2"


def test_bad_settings_are_refused_naming_them() -> None:
    client = chatsdk.AsyncChatClient(api_key="k", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(TypeError, match="timeout"):
        client.with_options(timeout=-1)
    with pytest.raises(TypeError, match="retry"):
        client.with_options(retry="often")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="base_url"):
        client.with_options(base_url="ftp://x")
    with pytest.raises(TypeError, match="api_key"):
        client.with_options(api_key=42)  # type: ignore[arg-type]
    same = client.with_options()
    assert same is not client and same.retry == client.retry
