"""The local server rehearsing production: rate limits, a model list, pacing, a fault mix, a log.

Rate limits run on a clock the test moves by hand, so no test waits for a minute to pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from chatsdk.testing import FAULT_KINDS, FaultMix, RateLimits, count_tokens, serve
from chatsdk.testing._limits import format_reset

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # The server runs its own loop in a thread; the test's loop only sends requests.
    return "asyncio"


def body(model: str = "chatsdk-test", text: str = "one two three", **more: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **more}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reset_durations_are_written_as_openai_writes_them() -> None:
    assert format_reset(0) == "0ms"
    assert format_reset(0.02) == "20ms"
    assert format_reset(1) == "1s"
    assert format_reset(1.5) == "1.5s"
    assert format_reset(59.9414) == "59.941s"
    assert format_reset(360) == "6m0s"
    assert format_reset(61.25) == "1m1.25s"
    assert format_reset(3600) == "1h0m0s"


async def test_requests_per_minute_are_limited_with_openai_headers() -> None:
    clock = Clock()
    async with serve(rate_limits=RateLimits(rpm=2, clock=clock)) as server:
        url = f"{server.base_url}/chat/completions"
        async with httpx.AsyncClient() as http:
            first = await http.post(url, json=body())
            second = await http.post(url, json=body())
            third = await http.post(url, json=body())
            clock.now += 30  # half a minute: one request's worth comes back
            fourth = await http.post(url, json=body())
            fifth = await http.post(url, json=body())
    assert [r.status_code for r in (first, second, third, fourth, fifth)] == [
        200,
        200,
        429,
        200,
        429,
    ]
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-reset-requests"] == "30s"
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert second.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert third.headers["retry-after"] == "30"
    assert third.headers["retry-after-ms"] == "30000"
    assert third.headers["x-ratelimit-remaining-requests"] == "0"
    error = third.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert "Limit 2" in error["message"] and "try again in 30s" in error["message"]
    assert "x-ratelimit-limit-tokens" not in first.headers


async def test_tokens_per_minute_count_prompt_and_answer() -> None:
    clock = Clock()
    text = "one two three"
    # The echo answer: the prefix's tokens plus the question's.
    cost = count_tokens(text) + count_tokens("(chatsdk local test server) You said: " + text)
    async with serve(rate_limits=RateLimits(tpm=cost * 2 - 1, clock=clock)) as server:
        url = f"{server.base_url}/chat/completions"
        async with httpx.AsyncClient() as http:
            first = await http.post(url, json=body(text=text))
            second = await http.post(url, json=body(text=text))
            clock.now += 60
            third = await http.post(url, json=body(text=text))
            huge = await http.post(url, json=body(text="word " * cost * 2))
    assert first.status_code == 200
    assert first.json()["usage"]["total_tokens"] == cost
    assert first.headers["x-ratelimit-remaining-tokens"] == str(cost - 1)
    assert second.status_code == 429
    assert second.json()["error"]["type"] == "tokens"
    assert int(second.headers["retry-after"]) >= 1
    assert third.status_code == 200
    assert huge.status_code == 429 and "Request too large" in huge.json()["error"]["message"]
    assert "retry-after" not in huge.headers  # waiting would not help


def test_rate_limits_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="rpm"):
        RateLimits(rpm=0)
    with pytest.raises(ValueError, match="tpm"):
        RateLimits(tpm=1.5)  # type: ignore[arg-type]


async def test_a_model_list_is_served_and_other_models_get_a_404() -> None:
    async with serve(models=("small", "large")) as server:
        async with httpx.AsyncClient() as http:
            listed = await http.get(f"{server.base_url}/models")
            known = await http.post(f"{server.base_url}/chat/completions", json=body("large"))
            unknown = await http.post(f"{server.base_url}/chat/completions", json=body("huge"))
    assert [m["id"] for m in listed.json()["data"]] == ["small", "large"]
    assert known.status_code == 200
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "message": "The model `huge` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }


async def test_without_a_model_list_any_model_is_answered() -> None:
    async with serve() as server, httpx.AsyncClient() as http:
        reply = await http.post(f"{server.base_url}/chat/completions", json=body("anything"))
    assert reply.status_code == 200


async def test_first_token_delay_holds_the_stream_back() -> None:
    async with serve(first_token_delay=60) as server, httpx.AsyncClient() as http:
        async with http.stream(
            "POST", f"{server.base_url}/chat/completions", json=body(stream=True), timeout=10
        ) as response:
            assert response.status_code == 200  # the headers come at once
            with anyio.move_on_after(0.3) as waited:  # the first chunk is a minute away
                await response.aread()
            assert waited.cancelled_caught


async def test_tokens_per_second_paces_the_tokens_after_the_first_chunk() -> None:
    async with serve(tokens_per_second=0.01) as server, httpx.AsyncClient() as http:
        received = b""
        async with http.stream(
            "POST", f"{server.base_url}/chat/completions", json=body(stream=True), timeout=10
        ) as response:
            pieces = response.aiter_raw()
            while b"\n\n" not in received:  # the role chunk comes at once
                received += await pieces.__anext__()
            with anyio.move_on_after(0.3) as waited:  # the first token is 100 s away
                received += await pieces.__anext__()
            assert waited.cancelled_caught
    assert received.count(b"data: ") == 1 and b'"role":"assistant"' in received


def test_the_fault_mix_is_seeded_and_draws_from_its_kinds() -> None:
    mix = FaultMix(rate=0.3, seed=5)
    drawn = [mix.kind_for(i) for i in range(2000)]
    assert drawn == [FaultMix(rate=0.3, seed=5).kind_for(i) for i in range(2000)]
    assert drawn != [FaultMix(rate=0.3, seed=6).kind_for(i) for i in range(2000)]
    failed = [k for k in drawn if k is not None]
    assert 450 < len(failed) < 750  # 30 % of 2000, give or take; the draw is fixed by the seed
    assert set(failed) == set(FAULT_KINDS)
    assert all(FaultMix(rate=0).kind_for(i) is None for i in range(100))
    only = FaultMix(rate=1, kinds=("429",))
    faults = only(0, {})
    assert faults is not None and faults.status == 429 and faults.retry_after == 1
    with pytest.raises(ValueError, match="kinds"):
        FaultMix(rate=0.1, kinds=("404",))
    with pytest.raises(ValueError, match="rate"):
        FaultMix(rate=1.5)


async def test_the_fault_mix_fails_requests_on_the_wire() -> None:
    kinds = ["429", "500", "malformed"]
    async with serve(faults=FaultMix(rate=1, kinds=kinds, seed=1)) as server:
        async with httpx.AsyncClient() as http:
            replies = [
                await http.post(f"{server.base_url}/chat/completions", json=body())
                for _ in range(12)
            ]
    mix = FaultMix(rate=1, kinds=kinds, seed=1)
    for index, reply in enumerate(replies):
        kind = mix.kind_for(index)
        if kind == "malformed":
            assert reply.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                reply.json()
        else:
            assert reply.status_code == int(str(kind))
    assert {mix.kind_for(i) for i in range(12)} == set(kinds)


async def test_the_request_log_has_a_line_per_request(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    async with serve(models=("small",), log=str(log)) as server:
        async with httpx.AsyncClient() as http:
            await http.post(f"{server.base_url}/chat/completions", json=body("small"))
            await http.post(f"{server.base_url}/chat/completions", json=body("big", stream=True))
            await http.get(f"{server.base_url}/models")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["path"], x["model"], x["stream"], x["status"]) for x in lines] == [
        ("/v1/chat/completions", "small", False, 200),
        ("/v1/chat/completions", "big", True, 404),
        ("/v1/models", None, False, 200),
    ]
    assert [x["request_id"] for x in lines] == [r.request_id for r in server.requests]
    assert all(x["seconds"] >= 0 and x["time"] > 0 for x in lines)
    assert [r.status for r in server.requests] == [200, 404, 200]
