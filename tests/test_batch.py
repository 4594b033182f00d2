"""``chatsdk.run_batch`` and the Batch API line formats, faked at the transport."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from helpers import completion

import chatsdk

pytestmark = pytest.mark.anyio


def line(i: int, **body: Any) -> dict[str, Any]:
    return {
        "custom_id": f"r{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": f"n{i}"}], **body},
    }


def client_for(handler: Any) -> chatsdk.AsyncChatClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return chatsdk.AsyncChatClient(
        api_key="sk-test", base_url="http://testserver/v1", http_client=http, max_retries=0
    )


async def echo(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    text = body["messages"][-1]["content"]
    return httpx.Response(200, json=completion("re: " + text), headers={"x-request-id": text})


async def test_every_request_gets_its_result() -> None:
    requests = [line(i) for i in range(5)] + [chatsdk.BatchRequest.from_dict(line(5))]
    async with client_for(echo) as client, chatsdk.run_batch(client, requests) as results:
        got = {r.custom_id: r async for r in results}
    assert sorted(got) == [f"r{i}" for i in range(6)]
    for cid, result in got.items():
        assert result.ok and result.status_code == 200
        assert result.content == f"re: n{cid[1:]}"
        assert result.request_id == f"n{cid[1:]}"  # the reply's x-request-id
        assert result.total_tokens == 5
        out = result.to_dict()
        assert out["custom_id"] == cid and out["error"] is None
        assert out["response"]["body"]["choices"][0]["message"]["content"] == result.content
        assert chatsdk.BatchResult.from_dict(json.loads(json.dumps(out))).content == result.content


async def test_body_fields_are_sent_as_given() -> None:
    seen: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=completion())

    request = line(0, temperature=0, metadata={"k": "v"}, store=False)
    async with client_for(record) as client, chatsdk.run_batch(client, [request]) as results:
        assert [r.ok async for r in results] == [True]
    assert seen == [request["body"]]


async def test_no_more_than_concurrency_requests_are_in_flight() -> None:
    in_flight = most = 0
    full = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == 3:
            full.set()
        await full.wait()  # the first three wait for each other: three at once, proven
        await anyio.lowlevel.checkpoint()
        in_flight -= 1
        return await echo(request)

    async with client_for(handler) as client:
        with anyio.fail_after(10):
            async with chatsdk.run_batch(
                client, (line(i) for i in range(10)), concurrency=3
            ) as results:
                count = len([r async for r in results])
    assert count == 10
    assert most == 3


async def test_failures_are_results_with_an_error() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["messages"][-1]["content"]
        if text == "n1":
            error = {"error": {"message": "nope", "type": "invalid_request_error", "code": "bad"}}
            return httpx.Response(400, json=error, headers={"x-request-id": "req_1"})
        if text == "n2":
            raise httpx.ConnectError("refused")
        if text == "n3":
            return httpx.Response(200, content=b'{"id": "chatcmpl-1", "obj')
        return await echo(request)

    async with client_for(handler) as client:
        async with chatsdk.run_batch(client, [line(i) for i in range(4)]) as results:
            got = {r.custom_id: r async for r in results}
    assert got["r0"].ok
    bad = got["r1"]
    assert not bad.ok and bad.status_code == 400 and bad.request_id == "req_1"
    assert bad.error is not None and bad.error["code"] == "bad" and "nope" in bad.error["message"]
    assert bad.to_dict()["response"]["body"]["error"]["message"] == "nope"
    gone = got["r2"]
    assert gone.error is not None and gone.error["code"] == "connection_error"
    assert gone.to_dict()["response"] is None
    cut = got["r3"]  # a 200 whose body is no chat completion
    assert cut.error is not None and cut.error["code"] == "invalid_response"
    assert cut.status_code == 200


async def test_leaving_the_block_cancels_what_is_in_flight() -> None:
    started = cancelled = 0
    never = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal started, cancelled
        started += 1
        if json.loads(request.content)["messages"][-1]["content"] == "n0":
            return await echo(request)
        try:
            await never.wait()
        except anyio.get_cancelled_exc_class():
            cancelled += 1
            raise
        raise AssertionError("not reached")

    async with client_for(handler) as client:
        with anyio.fail_after(10):
            async with chatsdk.run_batch(
                client, [line(i) for i in range(6)], concurrency=4
            ) as results:
                async for result in results:
                    assert result.custom_id == "r0"
                    break
    # Whatever had started besides r0 (four or five requests in all) was cancelled.
    assert started >= 4 and cancelled == started - 1


async def test_bad_arguments_name_the_parameter() -> None:
    async with client_for(echo) as client:
        with pytest.raises(ValueError, match="concurrency"):
            chatsdk.run_batch(client, [], concurrency=0)
        with pytest.raises(TypeError, match="requests must be an iterable"):
            chatsdk.run_batch(client, line(0))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="'url'"):
            async with chatsdk.run_batch(client, [{**line(0), "url": "/v1/x"}]) as results:
                async for _ in results:
                    pass


def test_parse_lists_every_bad_line() -> None:
    lines: list[str | bytes] = [
        json.dumps(line(0)),
        "",
        "[1, 2]",
        json.dumps({**line(1), "method": "GET"}),
        json.dumps(line(0)),
        json.dumps(line(2, stream=True)),
        json.dumps({**line(3), "body": {"messages": []}}),
        json.dumps({**line(4), "extra": 1}),
        json.dumps(line(5)).encode(),
    ]
    with pytest.raises(chatsdk.BatchInputError) as caught:
        chatsdk.parse_batch_requests(lines)
    problems = dict(caught.value.problems)
    assert sorted(problems) == [3, 4, 5, 6, 7, 8]
    assert "JSON object" in problems[3]
    assert "'method'" in problems[4]
    assert "repeats line 1" in problems[5]
    assert "stream" in problems[6]
    assert "model" in problems[7]
    assert "extra" in problems[8]
    assert "line 3:" in str(caught.value)
    good = chatsdk.parse_batch_requests([json.dumps(line(0)), json.dumps(line(1)).encode()])
    assert [(r.custom_id, r.line) for r in good] == [("r0", 1), ("r1", 2)]


def test_shards_are_stable_and_bounded() -> None:
    # SHA-256 of the id, not hash(): the same on every machine and every run.
    assert chatsdk.batch_shard_of("q1", 7) == 4
    assert chatsdk.batch_shard_of("row-42", 10) == 2
    assert {chatsdk.batch_shard_of(f"id{i}", 4) for i in range(100)} == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="shards"):
        chatsdk.batch_shard_of("q1", 0)
