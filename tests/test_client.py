"""The request path: what is sent, how replies and errors come back, retries, options."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from helpers import MESSAGES, completion, mock_client, sse_response, text_stream

import chatsdk

pytestmark = pytest.mark.anyio


class Recorder:
    """A transport handler that records requests and answers from a list, then repeats the last."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses) or [httpx.Response(200, json=completion())]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses[min(len(self.requests), len(self.responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


async def create(client: chatsdk.AsyncChatClient, **kwargs: Any) -> chatsdk.ChatCompletion:
    kwargs.setdefault("model", "m")
    kwargs.setdefault("messages", MESSAGES)
    reply: chatsdk.ChatCompletion = await client.chat.completions.create(**kwargs)
    return reply


# -- what is sent -----------------------------------------------------------------------------


async def test_minimal_body_sends_no_nulls() -> None:
    recorder = Recorder()
    async with mock_client(recorder) as client:
        await create(client)
    assert recorder.bodies == [{"model": "m", "messages": MESSAGES}]
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url == "http://testserver/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("chatsdk/")


async def test_every_parameter_is_sent_as_given() -> None:
    recorder = Recorder()
    params: dict[str, Any] = {
        "temperature": 0.5,
        "top_p": 0.9,
        "n": 2,
        "stop": ["\n", "END"],
        "max_tokens": 10,
        "presence_penalty": -1.5,
        "frequency_penalty": 2,
        "logit_bias": {50256: -100, "42": 5},
        "user": "u-1",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "seed": 7,
        "logprobs": True,
        "top_logprobs": 3,
        "max_completion_tokens": 20,
        "parallel_tool_calls": False,
    }
    async with mock_client(recorder) as client:
        await create(client, **params)
    expected = dict(params, model="m", messages=MESSAGES, logit_bias={"50256": -100, "42": 5})
    assert recorder.bodies == [expected]


async def test_none_is_sent_as_null_where_the_api_accepts_it() -> None:
    recorder = Recorder()
    async with mock_client(recorder) as client:
        await create(client, temperature=None, max_tokens=None, stop=None)
    assert recorder.bodies[0] == {
        "model": "m",
        "messages": MESSAGES,
        "temperature": None,
        "max_tokens": None,
        "stop": None,
    }


async def test_extra_headers_query_and_body_merge_in() -> None:
    recorder = Recorder()
    async with mock_client(recorder, default_headers={"X-Team": "a"}) as client:
        await create(
            client,
            extra_headers={"X-Trace": "t1", "X-Team": None},
            extra_query={"api-version": "2024-01-01"},
            extra_body={"top_k": 40, "temperature": 0.1},
            temperature=1.0,
        )
    request = recorder.requests[0]
    assert request.headers["x-trace"] == "t1"
    assert "x-team" not in request.headers
    assert request.url.params["api-version"] == "2024-01-01"
    assert recorder.bodies[0]["top_k"] == 40
    assert recorder.bodies[0]["temperature"] == 0.1


async def test_default_headers_sent() -> None:
    recorder = Recorder()
    async with mock_client(recorder, default_headers={"X-Team": "a"}) as client:
        await create(client)
    assert recorder.requests[0].headers["x-team"] == "a"


async def test_no_key_no_authorization_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    recorder = Recorder()
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    client = chatsdk.AsyncChatClient(base_url="http://local/v1", http_client=http)
    await create(client)
    assert "authorization" not in recorder.requests[0].headers
    await http.aclose()


async def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env-host:9/v1/")
    recorder = Recorder()
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    client = chatsdk.AsyncChatClient(http_client=http)
    await create(client)
    assert recorder.requests[0].url == "http://env-host:9/v1/chat/completions"
    assert recorder.requests[0].headers["authorization"] == "Bearer sk-env"
    await http.aclose()


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert str(chatsdk.AsyncChatClient(api_key="k").base_url) == "https://api.openai.com/v1"


def test_key_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    client = chatsdk.AsyncChatClient(api_key="sk-secret-123", base_url="http://h/v1")
    assert "sk-secret-123" not in repr(client)
    assert "http://h/v1" in repr(client)


async def test_own_http_client_left_open() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(Recorder()))
    async with chatsdk.AsyncChatClient(api_key="k", base_url="http://h/v1", http_client=http):
        pass
    assert not http.is_closed
    await http.aclose()


async def test_owned_http_client_closed() -> None:
    client = chatsdk.AsyncChatClient(api_key="k", base_url="http://h/v1")
    async with client:
        pass
    assert client._http.is_closed


@pytest.mark.httpx_only("reads httpcore's connection pool")
def test_default_pool_carries_a_thousand_connections() -> None:
    client = chatsdk.AsyncChatClient(api_key="k", base_url="http://h/v1")
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections >= 1000


# -- bad input gets a typed error before anything is sent --------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"temprature": 1}, TypeError, "Did you mean 'temperature'"),
        ({"top_k": 1}, TypeError, "extra_body"),
        ({"temperature": "hot"}, TypeError, "temperature must be a number"),
        ({"n": 1.5}, TypeError, "n must be an integer"),
        ({"n": True}, TypeError, "n must be an integer"),
        ({"stop": 3}, TypeError, "stop must be a string"),
        ({"stop": []}, TypeError, "stop must be a string"),
        ({"logit_bias": {"abc": 1}}, TypeError, "token ids"),
        ({"logit_bias": {1: 0.5}}, TypeError, "must be an integer"),
        ({"tools": None}, TypeError, "leave tools out"),
        ({"user": 5}, TypeError, "user must be a string"),
        ({"model": ""}, TypeError, "model must be a non-empty string"),
        ({"messages": "hi"}, TypeError, "messages must be a list"),
        ({"messages": []}, ValueError, "messages is empty"),
        ({"messages": [{"content": "x"}]}, ValueError, "has no 'role'"),
        ({"messages": ["hi"]}, TypeError, "messages\\[0\\] must be a mapping"),
        ({"temperature": float("nan")}, TypeError, "cannot be sent as JSON"),
        ({"timeout": "5"}, TypeError, "timeout must be seconds"),
        ({"max_retries": -1}, TypeError, "max_retries must be"),
        ({"deadline": 0}, TypeError, "deadline must be"),
    ],
)
async def test_bad_input(kwargs: dict[str, Any], error: type[Exception], words: str) -> None:
    recorder = Recorder()
    async with mock_client(recorder) as client:
        with pytest.raises(error, match=words):
            await create(client, **kwargs)
    assert recorder.requests == []


def test_bad_base_url() -> None:
    with pytest.raises(ValueError, match="base_url must be an http"):
        chatsdk.AsyncChatClient(api_key="k", base_url="api.openai.com")


# -- replies -----------------------------------------------------------------------------------


async def test_buffered_reply_fields() -> None:
    reply_body = completion("Hi there", system_fingerprint="fp_1", x_groq={"id": "g1"})
    async with mock_client(Recorder(httpx.Response(200, json=reply_body))) as client:
        reply = await create(client)
    assert reply.id == "chatcmpl-1"
    assert reply.object == "chat.completion"
    assert reply.created == 1700000000
    assert reply.model == "test-model"
    assert reply.system_fingerprint == "fp_1"
    assert reply.choices[0].index == 0
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "Hi there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 2)
    assert reply.usage.total_tokens == 5
    assert reply.x_groq.id == "g1"  # type: ignore[attr-defined]
    assert reply.to_dict() == reply_body
    assert chatsdk.ChatCompletion(reply.to_dict()) == reply
    with pytest.raises(AttributeError, match="no field 'nope'"):
        _ = reply.nope  # type: ignore[attr-defined]


async def test_to_dict_is_a_copy() -> None:
    async with mock_client(Recorder()) as client:
        reply = await create(client)
    data = reply.to_dict()
    data["choices"][0]["message"]["content"] = "changed"
    assert reply.choices[0].message.content == "Hello!"


# -- status errors -----------------------------------------------------------------------------

STATUS_CLASSES = [
    (400, chatsdk.BadRequestError),
    (401, chatsdk.AuthenticationError),
    (403, chatsdk.PermissionDeniedError),
    (404, chatsdk.NotFoundError),
    (409, chatsdk.ConflictError),
    (422, chatsdk.UnprocessableEntityError),
    (429, chatsdk.RateLimitError),
    (500, chatsdk.InternalServerError),
    (503, chatsdk.InternalServerError),
    (418, chatsdk.APIStatusError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_maps_to_class_with_fields(status: int, cls: type[Exception]) -> None:
    body = {
        "error": {
            "message": "'doctor' is not one of ['system', 'assistant', 'user'] - 'messages.0.role'",
            "type": "invalid_request_error",
            "param": "messages.0.role",
            "code": None,
        }
    }
    response = httpx.Response(status, json=body, headers={"x-request-id": "req_42"})
    async with mock_client(Recorder(response)) as client:
        with pytest.raises(cls) as info:
            await create(client)
    error = info.value
    assert isinstance(error, chatsdk.APIStatusError)
    assert type(error) is cls
    assert error.status_code == status
    assert error.message.startswith("'doctor' is not one of")
    assert (error.type, error.param, error.code) == (
        "invalid_request_error",
        "messages.0.role",
        None,
    )
    assert error.body == body
    assert error.request_id == "req_42"
    assert str(status) in str(error) and "req_42" in str(error)


async def test_integer_error_code() -> None:
    response = httpx.Response(429, json={"error": {"message": "slow", "code": 1302}})
    async with mock_client(Recorder(response)) as client:
        with pytest.raises(chatsdk.RateLimitError) as info:
            await create(client)
    assert info.value.code == 1302


async def test_non_json_error_body_still_explains() -> None:
    response = httpx.Response(502, text="<html><body>Bad Gateway</body></html>")
    async with mock_client(Recorder(response)) as client:
        with pytest.raises(chatsdk.InternalServerError) as info:
            await create(client)
    assert "502 Bad Gateway" in info.value.message
    assert "<html>" in info.value.message


async def test_fastapi_detail_body() -> None:
    detail = [{"loc": ["body", "model"], "msg": "field required", "type": "value_error.missing"}]
    response = httpx.Response(422, json={"detail": detail})
    async with mock_client(Recorder(response)) as client:
        with pytest.raises(chatsdk.UnprocessableEntityError, match="field required"):
            await create(client)


async def test_string_error_body() -> None:
    response = httpx.Response(400, json={"error": "model not found", "code": 404})
    async with mock_client(Recorder(response)) as client:
        with pytest.raises(chatsdk.BadRequestError, match="model not found"):
            await create(client)


async def test_401_without_key_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    response = httpx.Response(401, json={"error": {"message": "No key"}})
    http = httpx.AsyncClient(transport=httpx.MockTransport(Recorder(response)))
    client = chatsdk.AsyncChatClient(base_url="http://h/v1", http_client=http)
    with pytest.raises(chatsdk.AuthenticationError, match="OPENAI_API_KEY"):
        await create(client)
    await http.aclose()


async def test_redirect_is_not_followed() -> None:
    response = httpx.Response(307, headers={"location": "http://elsewhere/v1/chat/completions"})
    recorder = Recorder(response)
    async with mock_client(recorder) as client:
        with pytest.raises(chatsdk.APIStatusError, match="redirect"):
            await create(client)
    assert len(recorder.requests) == 1


async def test_200_that_is_not_a_completion() -> None:
    async with mock_client(Recorder(httpx.Response(200, text="hello"))) as client:
        with pytest.raises(chatsdk.APIStatusError, match="not with a chat completion"):
            await create(client)


async def test_connection_error_is_typed_and_chained() -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    async with mock_client(recorder) as client:
        with pytest.raises(chatsdk.APIConnectionError) as info:
            await create(client)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert not isinstance(info.value, chatsdk.APITimeoutError)


async def test_timeout_is_typed() -> None:
    async with mock_client(Recorder(httpx.ReadTimeout("slow"))) as client:
        with pytest.raises(chatsdk.APITimeoutError):
            await create(client)


# -- retries -----------------------------------------------------------------------------------


def fast(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": "try later"}}, headers=headers)


async def test_retries_429_then_succeeds_honouring_retry_after_ms() -> None:
    recorder = Recorder(fast(429, **{"retry-after-ms": "1"}), fast(503, **{"retry-after": "0"}))
    recorder.responses.append(httpx.Response(200, json=completion("ok")))
    async with mock_client(recorder, max_retries=2) as client:
        reply = await create(client)
    assert reply.choices[0].message.content == "ok"
    assert len(recorder.requests) == 3


async def test_gives_up_after_max_retries_and_counts_attempts() -> None:
    recorder = Recorder(fast(500, **{"retry-after-ms": "0"}))
    async with mock_client(recorder, max_retries=2) as client:
        with pytest.raises(chatsdk.InternalServerError) as info:
            await create(client)
    assert len(recorder.requests) == 3
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)


async def test_per_request_max_retries() -> None:
    recorder = Recorder(fast(500, **{"retry-after-ms": "0"}))
    async with mock_client(recorder, max_retries=5) as client:
        with pytest.raises(chatsdk.InternalServerError):
            await create(client, max_retries=1)
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_final_statuses_are_not_retried(status: int) -> None:
    recorder = Recorder(fast(status, **{"retry-after-ms": "0"}))
    async with mock_client(recorder, max_retries=3) as client:
        with pytest.raises(chatsdk.APIStatusError):
            await create(client)
    assert len(recorder.requests) == 1


async def test_x_should_retry_false_is_honoured() -> None:
    recorder = Recorder(fast(503, **{"x-should-retry": "false"}))
    async with mock_client(recorder, max_retries=3) as client:
        with pytest.raises(chatsdk.InternalServerError):
            await create(client)
    assert len(recorder.requests) == 1


async def test_connection_errors_are_retried() -> None:
    recorder = Recorder(httpx.ConnectError("refused"), httpx.Response(200, json=completion()))
    async with mock_client(recorder, max_retries=1) as client:
        await create(client)
    assert len(recorder.requests) == 2


async def test_stream_status_error_retried_before_stream_starts() -> None:
    recorder = Recorder(fast(429, **{"retry-after-ms": "0"}), sse_response(text_stream(["ok"])))
    async with mock_client(recorder, max_retries=1) as client:
        stream = await create(client, stream=True)
        assert [t async for t in stream.text()] == ["ok"]  # type: ignore[attr-defined]
        assert stream.attempts == 2


async def test_stream_error_event_before_first_token_is_retried() -> None:
    rate_limited = sse_response(
        b'data: {"error": {"message": "busy", "type": "rate_limit_error"}}\n\n'
    )
    recorder = Recorder(rate_limited, sse_response(text_stream(["fine"])))
    async with mock_client(recorder, max_retries=1) as client:
        stream = await create(client, stream=True)
        final = await stream.final()  # type: ignore[attr-defined]
    assert final.choices[0].message.content == "fine"
    assert len(recorder.requests) == 2


async def test_stream_error_after_first_token_is_not_retried() -> None:
    broken = sse_response(
        text_stream(["partial"], finish=False, done=False)
        + b'data: {"error": {"message": "busy", "type": "rate_limit_error"}}\n\n'
    )
    recorder = Recorder(broken, sse_response(text_stream(["never"])))
    async with mock_client(recorder, max_retries=3) as client:
        stream = await create(client, stream=True)
        with pytest.raises(chatsdk.StreamError) as info:
            await stream.final()  # type: ignore[attr-defined]
    assert info.value.partial_text == "partial"
    assert len(recorder.requests) == 1


async def test_stream_cut_before_first_token_is_retried() -> None:
    cut = sse_response(text_stream([], finish=False, done=False))
    recorder = Recorder(cut, sse_response(text_stream(["whole"])))
    async with mock_client(recorder, max_retries=1) as client:
        stream = await create(client, stream=True)
        assert [t async for t in stream.text()] == ["whole"]  # type: ignore[attr-defined]
    assert len(recorder.requests) == 2


async def test_invalid_request_error_in_stream_is_not_retried() -> None:
    bad = sse_response(
        b'data: {"error": {"message": "too long", "type": "invalid_request_error"}}\n\n'
    )
    recorder = Recorder(bad, sse_response(text_stream(["never"])))
    async with mock_client(recorder, max_retries=3) as client:
        stream = await create(client, stream=True)
        with pytest.raises(chatsdk.StreamError, match="too long"):
            await stream.final()  # type: ignore[attr-defined]
    assert len(recorder.requests) == 1


async def test_key_quoted_by_the_server_is_redacted() -> None:
    response = httpx.Response(401, json={"error": {"message": "Incorrect API key: sk-test"}})
    async with mock_client(Recorder(response)) as client:
        with pytest.raises(chatsdk.AuthenticationError) as info:
            await create(client)
    assert "sk-test" not in str(info.value)
    assert "<redacted>" in info.value.message
