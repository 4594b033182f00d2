"""Reply shapes (checked against the OpenAPI spec), reply plugging and request recording."""

from __future__ import annotations

import itertools
import json
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from chatsdk.testing import (
    ECHO_PREFIX,
    Reply,
    ToolCallReply,
    count_tokens,
    serve,
    split_pieces,
)

# One TLS context for all clients: building one per client costs ~30 ms, and every
# connection here is plain HTTP on loopback anyway.
TLS = ssl.create_default_context()
pytestmark = pytest.mark.anyio

Validate = Callable[[str, Any], None]
Body = Callable[..., dict[str, Any]]


def _content_by_choice(chunks: list[dict[str, Any]], key: str = "content") -> dict[int, str]:
    text: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            piece = choice["delta"].get(key)
            if piece is not None:
                text[choice["index"]] = text.get(choice["index"], "") + piece
    return text


def _finish_reasons(chunks: list[dict[str, Any]]) -> dict[int, str]:
    return {
        c["index"]: c["finish_reason"]
        for chunk in chunks for c in chunk["choices"] if c["finish_reason"] is not None
    }


async def test_buffered_reply_matches_the_spec(spec_validate: Validate, chat_body: Body) -> None:
    async with serve() as server, httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=chat_body("hello there"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    spec_validate("CreateChatCompletionResponse", data)
    assert data["id"].startswith("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert data["model"] == "test-model"
    assert isinstance(data["created"], int)
    assert data["system_fingerprint"]
    (choice,) = data["choices"]
    assert choice["index"] == 0
    assert choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == ECHO_PREFIX + "hello there"
    usage = data["usage"]
    assert usage["prompt_tokens"] == 2
    assert usage["completion_tokens"] == count_tokens(ECHO_PREFIX + "hello there")
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_stream_matches_the_spec(
    spec_validate: Validate, chat_body: Body, parse_sse: Any
) -> None:
    async with serve(replies="one two three") as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=chat_body(stream=True))
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content.endswith(b"data: [DONE]\n\n")
    events = parse_sse(response.content)
    assert events.done and events.data.count("[DONE]") == 1
    chunks = events.chunks
    for chunk in chunks:
        spec_validate("CreateChatCompletionStreamResponse", chunk)
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "test-model"
        assert "usage" not in chunk
        assert all(c["logprobs"] is None for c in chunk["choices"])
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert pieces == ["one", " two", " three"]
    assert chunks[-1]["choices"][0] == {
        "index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


async def test_n_choices_buffered_and_streamed(chat_body: Body, parse_sse: Any) -> None:
    async with serve(replies="same text") as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        buffered = (await http.post("/chat/completions", json=chat_body(n=3))).json()
        streamed = await http.post("/chat/completions", json=chat_body(n=3, stream=True))
    assert [c["index"] for c in buffered["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in buffered["choices"]} == {"same text"}
    assert buffered["usage"]["completion_tokens"] == 3 * 2
    chunks = parse_sse(streamed.content).chunks
    assert _content_by_choice(chunks) == {0: "same text", 1: "same text", 2: "same text"}
    assert _finish_reasons(chunks) == {0: "stop", 1: "stop", 2: "stop"}
    roles = [c["choices"][0]["index"] for c in chunks if "role" in c["choices"][0]["delta"]]
    assert roles == [0, 1, 2]


@pytest.mark.parametrize("stop", ["!", ["zzz", "!", " world"]])
async def test_stop_cuts_at_the_first_stop_string(
    stop: Any, chat_body: Body, parse_sse: Any
) -> None:
    async with serve(replies="Hello world! Goodbye") as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        buffered = (await http.post("/chat/completions", json=chat_body(stop=stop))).json()
        streamed = await http.post("/chat/completions", json=chat_body(stop=stop, stream=True))
    expected = "Hello" if isinstance(stop, list) else "Hello world"
    assert buffered["choices"][0]["message"]["content"] == expected
    assert buffered["choices"][0]["finish_reason"] == "stop"
    chunks = parse_sse(streamed.content).chunks
    assert _content_by_choice(chunks) == {0: expected}
    assert _finish_reasons(chunks) == {0: "stop"}


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
async def test_token_limit_cuts_with_length(param: str, chat_body: Body, parse_sse: Any) -> None:
    async with serve(replies="one two three four") as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        buffered = (await http.post("/chat/completions", json=chat_body(**{param: 2}))).json()
        streamed = await http.post(
            "/chat/completions",
            json=chat_body(stream=True, stream_options={"include_usage": True}, **{param: 2}),
        )
        roomy = (await http.post("/chat/completions", json=chat_body(**{param: 4}))).json()
    assert buffered["choices"][0]["message"]["content"] == "one two"
    assert buffered["choices"][0]["finish_reason"] == "length"
    assert buffered["usage"]["completion_tokens"] == 2
    chunks = parse_sse(streamed.content).chunks
    assert _content_by_choice(chunks) == {0: "one two"}
    assert _finish_reasons(chunks) == {0: "length"}
    assert chunks[-1]["usage"]["completion_tokens"] == 2
    assert roomy["choices"][0]["finish_reason"] == "stop"
    assert roomy["choices"][0]["message"]["content"] == "one two three four"


async def test_include_usage_adds_a_final_usage_chunk(
    spec_validate: Validate, chat_body: Body, parse_sse: Any
) -> None:
    body = chat_body("count these four words", n=2, stream=True,
                     stream_options={"include_usage": True})
    async with serve(replies="a b c") as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=body)
    events = parse_sse(response.content)
    assert events.done
    *content_chunks, final = events.chunks
    for chunk in events.chunks:
        spec_validate("CreateChatCompletionStreamResponse", chunk)
    assert all(c["usage"] is None for c in content_chunks)
    assert final["choices"] == []
    assert final["usage"]["prompt_tokens"] == 4
    assert final["usage"]["completion_tokens"] == 6
    assert final["usage"]["total_tokens"] == 10


async def test_scripted_replies_in_order_then_a_clear_error(chat_body: Body) -> None:
    async with serve(replies=["first", Reply("second")]) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        answers = [await http.post("/chat/completions", json=chat_body()) for _ in range(3)]
    assert [a.json()["choices"][0]["message"]["content"] for a in answers[:2]] == [
        "first", "second"]
    assert answers[2].status_code == 500
    error = answers[2].json()["error"]
    assert error["code"] == "replies_exhausted"
    assert "2 given" in error["message"] and "itertools.cycle" in error["message"]


async def test_cycled_replies_repeat(chat_body: Body) -> None:
    async with serve(replies=itertools.cycle(["a", "b"])) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        answers = [await http.post("/chat/completions", json=chat_body()) for _ in range(5)]
    assert [a.json()["choices"][0]["message"]["content"] for a in answers] == list("ababa")


async def test_sync_and_async_reply_functions(chat_body: Body) -> None:
    seen: list[list[Any]] = []

    def shout(messages: list[Any]) -> str:
        seen.append(messages)
        content: str = messages[-1]["content"]
        return content.upper()

    async def count(messages: list[Any]) -> str:
        return f"{len(messages)} messages"

    async with serve(replies=shout) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        loud = (await http.post("/chat/completions", json=chat_body("quiet"))).json()
        server.set_replies(count)
        counted = (await http.post("/chat/completions", json=chat_body())).json()
    assert loud["choices"][0]["message"]["content"] == "QUIET"
    assert seen == [[{"role": "user", "content": "quiet"}]]
    assert counted["choices"][0]["message"]["content"] == "1 messages"


async def test_failing_reply_function_answers_500(chat_body: Body) -> None:
    def broken(messages: list[Any]) -> str:
        raise ValueError("no reply today")

    async with serve(replies=broken) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=chat_body())
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert "no reply today" in response.json()["error"]["message"]


async def test_echo_without_a_user_message_says_so(chat_body: Body) -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": "be brief"}]}
    async with serve() as server, httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        data = (await http.post("/chat/completions", json=body)).json()
    assert data["choices"][0]["message"]["content"].startswith("(chatsdk local test server)")


async def test_tool_call_stream_and_buffered(
    spec_validate: Validate, chat_body: Body, parse_sse: Any
) -> None:
    call = ToolCallReply("get_weather", {"city": "Paris", "unit": "C"}, id="call_1")
    async with serve(replies=call) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        buffered = (await http.post("/chat/completions", json=chat_body())).json()
        streamed = await http.post("/chat/completions", json=chat_body(stream=True))
    spec_validate("CreateChatCompletionResponse", buffered)
    message = buffered["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [{"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'}}]
    assert buffered["choices"][0]["finish_reason"] == "tool_calls"

    chunks = parse_sse(streamed.content).chunks
    for chunk in chunks:
        spec_validate("CreateChatCompletionStreamResponse", chunk)
    deltas = [c["choices"][0]["delta"]["tool_calls"][0]
              for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert deltas[0] == {"index": 0, "id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": ""}}
    assert len(deltas) > 2
    assert all(set(d) == {"index", "function"} and set(d["function"]) == {"arguments"}
               for d in deltas[1:])
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert json.loads(arguments) == {"city": "Paris", "unit": "C"}
    assert _finish_reasons(chunks) == {0: "tool_calls"}


async def test_two_tool_calls_from_a_dict_reply(chat_body: Body, parse_sse: Any) -> None:
    reply = {"content": None, "tool_calls": [
        {"name": "a", "arguments": "{}"}, ToolCallReply("b", '{"x": 1}')]}
    async with serve(replies=[reply]) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        streamed = await http.post("/chat/completions", json=chat_body(stream=True))
    chunks = parse_sse(streamed.content).chunks
    firsts = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
              if "id" in c["choices"][0]["delta"].get("tool_calls", [{}])[0]]
    assert [(f["index"], f["function"]["name"]) for f in firsts] == [(0, "a"), (1, "b")]
    assert firsts[0]["id"] != firsts[1]["id"]
    assert all(f["id"].startswith("call_") for f in firsts)


async def test_reasoning_content_comes_before_content(chat_body: Body, parse_sse: Any) -> None:
    reply = Reply(reasoning_content="think hard", content="42")
    async with serve(replies=reply) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        buffered = (await http.post("/chat/completions", json=chat_body())).json()
        streamed = await http.post("/chat/completions", json=chat_body(stream=True))
    assert buffered["choices"][0]["message"]["reasoning_content"] == "think hard"
    assert buffered["choices"][0]["message"]["content"] == "42"
    assert buffered["usage"]["completion_tokens_details"]["reasoning_tokens"] == 2
    chunks = parse_sse(streamed.content).chunks
    kinds = [next(iter(c["choices"][0]["delta"]), None) for c in chunks[1:-1]]
    assert kinds == ["reasoning_content", "reasoning_content", "content"]
    assert _content_by_choice(chunks, "reasoning_content") == {0: "think hard"}


async def test_cjk_and_emoji_survive_streaming(chat_body: Body, parse_sse: Any) -> None:
    text = "你好，世界！ こんにちは 🙂👍🏽 family: 👨‍👩‍👧 done"
    async with serve() as server, httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        streamed = await http.post("/chat/completions", json=chat_body(text, stream=True))
        buffered = (await http.post("/chat/completions", json=chat_body(text))).json()
    chunks = parse_sse(streamed.content).chunks
    assert _content_by_choice(chunks) == {0: ECHO_PREFIX + text}
    assert len(chunks) > len(ECHO_PREFIX.split()) + 8  # CJK characters are pieces of their own
    assert buffered["choices"][0]["message"]["content"] == ECHO_PREFIX + text
    assert '"content":"好"'.encode() in streamed.content  # raw UTF-8, not \u escapes


def test_split_pieces_rule() -> None:
    assert split_pieces("Hello big  world ") == ["Hello", " big", "  world", " "]
    assert split_pieces("你好 ok") == ["你", "好", " ok"]
    assert split_pieces("") == []
    for text in ["a b", "  lead", "tail  ", "日本語 text 🙂\n\nnext", "👨‍👩‍👧"]:
        assert "".join(split_pieces(text)) == text
    assert count_tokens("one two three") == 3


async def test_models_route(spec_validate: Validate) -> None:
    async with serve(models=("a", "b")) as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.get("/models")
    assert response.status_code == 200
    data = response.json()
    spec_validate("ListModelsResponse", data)
    assert [m["id"] for m in data["data"]] == ["a", "b"]


async def test_requests_are_recorded(chat_body: Body) -> None:
    async with serve(api_key="sk-1") as server, httpx.AsyncClient(
        verify=TLS,
        base_url=server.base_url,
        headers={"authorization": "Bearer sk-1", "x-trace": "t1"},
    ) as http:
        await http.post("/chat/completions?debug=1", json=chat_body("recorded", temperature=0.5))
        await http.get("/models")
        await http.post("/chat/completions", content=b"{oops")
    first, second, third = server.requests
    assert (first.method, first.path, first.query) == ("POST", "/v1/chat/completions", "debug=1")
    assert first.headers["authorization"] == "Bearer sk-1"
    assert first.headers["x-trace"] == "t1"
    assert first.body == chat_body("recorded", temperature=0.5)
    assert json.loads(first.raw_body) == first.body
    assert (second.method, second.path, second.body) == ("GET", "/v1/models", None)
    assert third.body is None and third.raw_body == b"{oops"
    assert server.chat_requests == [first, third]
