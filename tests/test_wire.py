"""The wire, through respx: the exact requests chatsdk sends and how it reads the API's replies.

respx replaces httpx's transports for the length of ``respx.mock``, so a client that builds its
own HTTP client is faked as it is: no ``http_client=`` and nothing of chatsdk's is patched. It
runs under trio as well as asyncio (nothing in respx's mocked transport is asyncio-specific), so
these tests run on both backends like the rest of the suite.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from itertools import pairwise
from types import MappingProxyType
from typing import Any

import httpx
import pytest
import respx
from helpers import MESSAGES, chunk, completion, pieces, sse

import chatsdk

pytestmark = pytest.mark.anyio

BASE_URL = "http://api.test/v1"
URL = f"{BASE_URL}/chat/completions"
KEY = "sk-wire-test"
REPLY = completion("Hi!")

# The keyword arguments of create() that shape how a request is sent rather than its body.
REQUEST_OPTIONS = {
    "extra_headers",
    "extra_query",
    "extra_body",
    "timeout",
    "deadline",
    "retry",
    "max_retries",
}
BODY_PARAMS = sorted(set(chatsdk.CreateParams.__optional_keys__) - REQUEST_OPTIONS)

Validate = Callable[[str, Any], None]


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    # Each test checks how often its routes were called, so respx's own end-of-test check that
    # every route was called is off; a request that matches no route still fails the test.
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def client(**kwargs: Any) -> chatsdk.AsyncChatClient:
    kwargs.setdefault("max_retries", 0)
    return chatsdk.AsyncChatClient(api_key=KEY, base_url=BASE_URL, **kwargs)


def chat_route(api: respx.MockRouter, *responses: httpx.Response) -> respx.Route:
    """``POST /chat/completions``, answering ``responses`` in turn (or one plain completion)."""
    route = api.post("/chat/completions")
    if len(responses) > 1:
        return route.mock(side_effect=list(responses))
    return route.mock(return_value=responses[0] if responses else httpx.Response(200, json=REPLY))


def sent(route: respx.Route) -> dict[str, Any]:
    """The JSON body of the route's last request."""
    body: dict[str, Any] = json.loads(route.calls.last.request.content)
    return body


def event_stream(body: bytes, *cuts: int, request_id: str | None = None) -> httpx.Response:
    """A ``text/event-stream`` reply whose body arrives cut at the given byte offsets."""
    bounds = [0, *cuts, len(body)]
    parts = [body[start:end] for start, end in pairwise(bounds)]
    headers = {"content-type": "text/event-stream"}
    if request_id is not None:
        headers["x-request-id"] = request_id
    return httpx.Response(200, headers=headers, content=pieces(parts))


# -- what is sent ------------------------------------------------------------------------------


async def test_buffered_request_headers_and_body(
    api: respx.MockRouter, spec_validate: Validate
) -> None:
    route = chat_route(api)
    async with client() as c:
        await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=False)
    request = route.calls.last.request
    assert route.call_count == 1
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"chatsdk/{chatsdk.__version__}"
    assert int(request.headers["content-length"]) == len(request.content)
    # Each header once: a second Authorization or Accept would be up to the server to pick from.
    names = [name.lower() for name, _ in request.headers.multi_items()]
    assert len(names) == len(set(names))
    # stream=False is the default, so it is left out rather than sent as false.
    assert sent(route) == {"model": "gpt-4o-mini", "messages": MESSAGES}
    spec_validate("CreateChatCompletionRequest", sent(route))


async def test_a_stream_request_differs_only_in_accept_and_the_stream_flag(
    api: respx.MockRouter, spec_validate: Validate
) -> None:
    streamed_reply = event_stream(sse(chunk("x", finish_reason="stop")))
    route = chat_route(api, httpx.Response(200, json=REPLY), streamed_reply)
    async with client() as c:
        await c.chat.completions.create(model="m", messages=MESSAGES)
        stream = await c.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        await stream.final()
    buffered, streamed = (call.request for call in route.calls)
    assert streamed.headers["accept"] == "text/event-stream"
    assert buffered.headers["accept"] == "application/json"
    others = ("content-length", "accept")
    assert {k: v for k, v in streamed.headers.items() if k not in others} == {
        k: v for k, v in buffered.headers.items() if k not in others
    }
    assert sent(route) == {
        "model": "m",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    spec_validate("CreateChatCompletionRequest", sent(route))


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

TOOL_PARAMS: dict[str, Any] = {
    "tools": TOOLS,
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "response_format": {"type": "json_object"},
}

# (keyword arguments to create(), the body fields expected besides model and messages)
BODIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "tuples and read-only mappings become plain JSON": (
        {
            "stop": ("END", "\n\n"),
            "logit_bias": MappingProxyType({50256: -100}),
            "metadata": MappingProxyType({"run": "wire"}),
            "modalities": ("text",),
        },
        {
            "stop": ["END", "\n\n"],
            "logit_bias": {"50256": -100},
            "metadata": {"run": "wire"},
            "modalities": ["text"],
        },
    ),
    "tools as given": (TOOL_PARAMS, TOOL_PARAMS),
    "None is null, left out is absent": (
        {"temperature": None, "seed": None, "stop": None, "logit_bias": None, "n": 1},
        {"temperature": None, "seed": None, "stop": None, "logit_bias": None, "n": 1},
    ),
    "extra_body adds fields, overrides named ones and may send null": (
        {
            "temperature": 1.0,
            "extra_body": {"temperature": 0.25, "top_k": 40, "service_tier": None},
        },
        {"temperature": 0.25, "top_k": 40, "service_tier": None},
    ),
}


@pytest.mark.parametrize("case", list(BODIES))
async def test_body_is_exactly_what_was_asked(
    case: str, api: respx.MockRouter, spec_validate: Validate
) -> None:
    params, expected = BODIES[case]
    route = chat_route(api)
    async with client() as c:
        await c.chat.completions.create(model="m", messages=MESSAGES, **params)
    assert sent(route) == {"model": "m", "messages": MESSAGES, **expected}
    spec_validate("CreateChatCompletionRequest", sent(route))


async def test_messages_from_any_iterable_of_mappings_and_text_as_utf8(
    api: respx.MockRouter, spec_validate: Validate
) -> None:
    route = chat_route(api)
    text = "日本語で 😀 «ok»"
    messages = (
        MappingProxyType({"role": role, "content": content})
        for role, content in [("system", "Be brief."), ("user", text)]
    )
    async with client() as c:
        # Any mapping is sent (the types ask for the role TypedDicts; run time is lenient).
        await c.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert sent(route)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": text},
    ]
    # Sent as UTF-8, not as \u escapes.
    assert text.encode() in route.calls.last.request.content
    spec_validate("CreateChatCompletionRequest", sent(route))


def spec_takes_null(spec_validate: Validate, name: str) -> bool:
    jsonschema = pytest.importorskip("jsonschema")  # what spec_validate raises; no type stubs
    try:
        spec_validate(
            "CreateChatCompletionRequest", {"model": "m", "messages": MESSAGES, name: None}
        )
    except jsonschema.ValidationError:
        return False
    return True


# The spec contradicts itself here: the request's own property says ``nullable: true``, the base
# schema it is combined with (allOf) says integer only, so no null validates. chatsdk follows the
# request's property and sends null.
SPEC_SAYS_BOTH = {"top_logprobs"}
NULL_MARKS: dict[str, pytest.MarkDecorator] = {}


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=NULL_MARKS.get(name, ())) for name in BODY_PARAMS]
)
async def test_none_is_sent_as_null_exactly_where_the_spec_accepts_null(
    name: str, api: respx.MockRouter, spec_validate: Validate
) -> None:
    route = chat_route(api)
    params: dict[str, Any] = {name: None}
    async with client() as c:
        if name in SPEC_SAYS_BOTH or spec_takes_null(spec_validate, name):
            await c.chat.completions.create(model="m", messages=MESSAGES, **params)
            assert sent(route) == {"model": "m", "messages": MESSAGES, name: None}
        else:
            with pytest.raises(TypeError, match=f"leave {name} out"):
                await c.chat.completions.create(model="m", messages=MESSAGES, **params)
            assert not route.called


async def test_extra_headers_replace_and_remove_the_clients_own(api: respx.MockRouter) -> None:
    route = chat_route(api)
    async with client(default_headers={"X-Team": "blue"}) as c:
        await c.chat.completions.create(
            model="m",
            messages=MESSAGES,
            extra_headers={"User-Agent": "my-app/2", "Authorization": None, "X-Trace": "t-1"},
        )
    headers = route.calls.last.request.headers
    assert headers.get_list("user-agent") == ["my-app/2"]
    assert "authorization" not in headers
    assert (headers["x-trace"], headers["x-team"]) == ("t-1", "blue")


@pytest.mark.parametrize(
    ("client_kwargs", "create_kwargs", "name", "expected"),
    [
        pytest.param(
            {}, {"extra_headers": {"authorization": None}}, "authorization", [], id="remove"
        ),
        pytest.param(
            {},
            {"extra_headers": {"accept": "application/x-ndjson"}},
            "accept",
            ["application/x-ndjson"],
            id="replace",
        ),
        pytest.param(
            {"default_headers": {"user-agent": "my-app/2"}},
            {},
            "user-agent",
            ["my-app/2"],
            id="default",
        ),
    ],
)
async def test_header_names_are_case_insensitive(
    client_kwargs: dict[str, Any],
    create_kwargs: dict[str, Any],
    name: str,
    expected: list[str],
    api: respx.MockRouter,
) -> None:
    route = chat_route(api)
    async with client(**client_kwargs) as c:
        await c.chat.completions.create(model="m", messages=MESSAGES, **create_kwargs)
    assert route.calls.last.request.headers.get_list(name) == expected


async def test_extra_query_is_encoded_into_the_url(api: respx.MockRouter) -> None:
    route = chat_route(api)
    async with client() as c:
        await c.chat.completions.create(
            model="m",
            messages=MESSAGES,
            extra_query={"api-version": "2024-10-21", "tag": ["a", "b"], "q": "x y&z"},
        )
    url = route.calls.last.request.url
    assert url.path == "/v1/chat/completions"
    assert url.params.multi_items() == [
        ("api-version", "2024-10-21"),
        ("tag", "a"),
        ("tag", "b"),
        ("q", "x y&z"),
    ]
    assert url.query == b"api-version=2024-10-21&tag=a&tag=b&q=x+y%26z"


async def test_a_base_url_with_a_query_keeps_its_path() -> None:
    with respx.mock() as router:
        route = router.post(host="api.test").mock(return_value=httpx.Response(200, json=REPLY))
        try:
            c = chatsdk.AsyncChatClient(api_key=KEY, base_url=f"{BASE_URL}?api-version=1")
        except ValueError:
            return  # refusing such a base_url is a fine answer too
        async with c:
            await c.chat.completions.create(model="m", messages=MESSAGES)
    url = route.calls.last.request.url
    assert (url.path, url.params.get("api-version")) == ("/v1/chat/completions", "1")


async def test_a_retry_sends_the_same_request_again(api: respx.MockRouter) -> None:
    busy = httpx.Response(
        429, json={"error": {"message": "slow down"}}, headers={"retry-after-ms": "0"}
    )
    route = chat_route(api, busy, httpx.Response(200, json=REPLY))
    async with client(max_retries=1) as c:
        await c.chat.completions.create(
            model="m", messages=MESSAGES, temperature=0, extra_query={"v": "1"}
        )
    first, second = (call.request for call in route.calls)
    assert second.content == first.content
    assert second.url == first.url
    assert second.headers.multi_items() == first.headers.multi_items()


async def test_a_client_made_before_respx_starts_is_faked_too() -> None:
    # respx patches httpx's transport classes, not instances: the client's own connection pool,
    # made before the mock started, is covered, and so is an http_client passed in.
    c = client()
    own_http = httpx.AsyncClient()
    passed_in = client(http_client=own_http)
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/chat/completions").mock(return_value=httpx.Response(200, json=REPLY))
        async with c, passed_in:
            await c.chat.completions.create(model="m", messages=MESSAGES)
            await passed_in.chat.completions.create(model="m", messages=MESSAGES)
    await own_http.aclose()
    assert route.call_count == 2


async def test_a_request_no_route_matches_fails_the_test(api: respx.MockRouter) -> None:
    # respx answers a request that matches no route by raising AssertionError from the transport;
    # chatsdk lets it through rather than turning it into a connection error to retry.
    route = api.post("/completions")
    async with client(max_retries=3) as c:
        with pytest.raises(AssertionError, match="not mocked"):
            await c.chat.completions.create(model="m", messages=MESSAGES)
    assert not route.called


# -- replies -----------------------------------------------------------------------------------

TOOL_REPLY: dict[str, Any] = {
    "id": "chatcmpl-wire",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_wire",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        },
        {
            "index": 1,
            "message": {
                "role": "assistant",
                "content": "Sunny in Paris.",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        },
    ],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 9,
        "total_tokens": 21,
        "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 4,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
}


async def test_buffered_reply_with_tool_calls_and_two_choices(
    api: respx.MockRouter, spec_validate: Validate
) -> None:
    spec_validate("CreateChatCompletionResponse", TOOL_REPLY)
    chat_route(api, httpx.Response(200, json=TOOL_REPLY))
    async with client() as c:
        reply = await c.chat.completions.create(model="m", messages=MESSAGES, n=2, tools=TOOLS)
    assert isinstance(reply, chatsdk.ChatCompletion)
    assert (reply.id, reply.model, reply.system_fingerprint) == (
        "chatcmpl-wire",
        "gpt-4o-mini-2024-07-18",
        "fp_wire",
    )
    first, second = reply.choices
    assert (first.index, first.finish_reason, first.message.content) == (0, "tool_calls", None)
    calls = first.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert (calls[0].id, calls[0].type) == ("call_1", "function")
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Paris"}
    assert (second.index, second.finish_reason) == (1, "stop")
    assert second.message.content == "Sunny in Paris."
    assert second.message.tool_calls is None
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (12, 9)
    assert reply.usage["completion_tokens_details"]["reasoning_tokens"] == 4
    assert reply.to_dict() == TOOL_REPLY


def stream_chunks() -> list[dict[str, Any]]:
    usage = {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    return [
        chunk("", role="assistant"),
        chunk("Bonjour"),
        chunk(", 世界"),
        chunk("!"),
        chunk(finish_reason="stop"),
        {**chunk(), "choices": [], "usage": usage},
    ]


async def test_streamed_reply_read_with_text(
    api: respx.MockRouter, spec_validate: Validate
) -> None:
    events = stream_chunks()
    for event in events:
        spec_validate("CreateChatCompletionStreamResponse", event)
    body = sse(*events)
    cut_in_a_character = body.index("世".encode()) + 1
    chat_route(api, event_stream(body, 9, cut_in_a_character, len(body) - 3, request_id="req_s"))
    async with client() as c:
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            assert stream.request_id == "req_s"
            assert [piece async for piece in stream.text()] == ["Bonjour", ", 世界", "!"]
    assert stream.response.is_closed


async def test_streamed_reply_read_with_final(
    api: respx.MockRouter, spec_validate: Validate
) -> None:
    # A body given as bytes works as well as an async iterator of pieces.
    chat_route(
        api,
        httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=sse(*stream_chunks())
        ),
    )
    async with client() as c:
        stream = await c.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        final = await stream.final()
    assert isinstance(final, chatsdk.ChatCompletion)
    assert final.choices[0].message.content == "Bonjour, 世界!"
    assert final.choices[0].message.role == "assistant"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (4, 3)
    assert stream.response.is_closed
    spec_validate("CreateChatCompletionResponse", final.to_dict())


ERROR_BODY = {
    "error": {
        "message": "Invalid value for 'temperature': must be at most 2.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "decimal_above_max_value",
    }
}


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
async def test_400_error_reply_becomes_bad_request_error(
    stream: bool, api: respx.MockRouter, spec_validate: Validate
) -> None:
    spec_validate("ErrorResponse", ERROR_BODY)
    route = chat_route(api, httpx.Response(400, json=ERROR_BODY, headers={"x-request-id": "req_e"}))
    async with client(max_retries=2) as c:
        with pytest.raises(chatsdk.BadRequestError) as info:
            await c.chat.completions.create(
                model="m", messages=MESSAGES, stream=stream, temperature=3
            )
    error = info.value
    assert (error.status_code, error.param, error.code) == (
        400,
        "temperature",
        "decimal_above_max_value",
    )
    assert error.type == "invalid_request_error"
    assert error.message == "Invalid value for 'temperature': must be at most 2."
    assert (error.request_id, error.body, error.attempts) == ("req_e", ERROR_BODY, 1)
    assert route.call_count == 1  # a 400 is final: not retried
