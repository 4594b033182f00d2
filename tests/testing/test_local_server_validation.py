"""Request validation, authentication and routing of the local server."""

from __future__ import annotations

import re
import ssl
from typing import Any

import httpx
import pytest

from chatsdk.testing import serve

# One TLS context for all clients: building one per client costs ~30 ms, and every
# connection here is plain HTTP on loopback anyway.
TLS = ssl.create_default_context()
pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "hi"}]


def _body(**params: Any) -> dict[str, Any]:
    return {"model": "m", "messages": USER, **params}


# (request body, expected param, expected code, a fragment of the message)
INVALID: list[tuple[Any, str | None, str | None, str]] = [
    ({"messages": USER}, "model", "missing_required_parameter",
     "Missing required parameter: 'model'."),
    ({"model": "m"}, "messages", "missing_required_parameter",
     "Missing required parameter: 'messages'."),
    ({"model": 3, "messages": USER}, "model", "invalid_type", "got an integer"),
    ({"model": "m", "messages": "hi"}, "messages", "invalid_type",
     "Invalid type for 'messages': expected an array, but got a string instead."),
    ({"model": "m", "messages": []}, "messages", "empty_array", "empty array"),
    ({"model": "m", "messages": ["hi"]}, "messages.0", "invalid_type", "expected an object"),
    ({"model": "m", "messages": [{"content": "x"}]}, "messages.0.role",
     "missing_required_parameter", "Missing required parameter: 'messages.0.role'."),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages.0.content",
     "invalid_type", "expected a string or an array"),
    (_body(temperature="hot"), "temperature", "invalid_type", "expected a decimal"),
    (_body(temperature=2.5), "temperature", "decimal_above_max_value", "Expected a value <= 2"),
    (_body(temperature=-0.1), "temperature", "decimal_below_min_value", "Expected a value >= 0"),
    (_body(top_p=1.5), "top_p", "decimal_above_max_value", "Expected a value <= 1"),
    (_body(presence_penalty=-3), "presence_penalty", "decimal_below_min_value", ">= -2"),
    (_body(frequency_penalty=2.1), "frequency_penalty", "decimal_above_max_value", "<= 2"),
    (_body(logit_bias=[1]), "logit_bias", "invalid_type", "expected an object"),
    (_body(logit_bias={"50256": 101}), "logit_bias", "invalid_value", "between -100 and 100"),
    (_body(logit_bias={"50256": "x"}), "logit_bias", "invalid_value", "between -100 and 100"),
    (_body(logit_bias={"abc": 1}), "logit_bias", "invalid_value", "Invalid key in 'logit_bias'"),
    (_body(stop=3), "stop", "invalid_type", "a string or an array of strings"),
    (_body(stop=["a", 1]), "stop", "invalid_type", "a string or an array of strings"),
    (_body(stop=["a", "b", "c", "d", "e"]), "stop", "array_above_max_length",
     "maximum length 4"),
    (_body(n=0), "n", "integer_below_min_value", "Expected a value >= 1, but got 0"),
    (_body(n=129), "n", "integer_above_max_value", "Expected a value <= 128"),
    (_body(n=1.5), "n", "invalid_type", "expected an integer, but got a decimal"),
    (_body(n=True), "n", "invalid_type", "but got a boolean"),
    (_body(max_tokens=0), "max_tokens", "integer_below_min_value", ">= 1"),
    (_body(max_tokens="10"), "max_tokens", "invalid_type", "expected an integer"),
    (_body(max_completion_tokens=-1), "max_completion_tokens", "integer_below_min_value", ">= 1"),
    (_body(stream="yes"), "stream", "invalid_type", "expected a boolean, but got a string"),
    (_body(stream_options={"include_usage": True}), "stream_options", "invalid_value",
     "only allowed when 'stream' is enabled"),
    (_body(stream=True, stream_options={"include_usage": "yes"}),
     "stream_options.include_usage", "invalid_type", "expected a boolean"),
]


@pytest.mark.parametrize(
    ("body", "param", "code", "fragment"), INVALID, ids=[f"{c[1]}-{c[3][:24]}" for c in INVALID]
)
async def test_invalid_request_is_rejected(
    body: Any, param: str | None, code: str | None, fragment: str
) -> None:
    async with serve() as server, httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["code"] == code
    assert fragment in error["message"]


async def test_unknown_role_message_matches_the_api() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "a"},
                                       {"role": "doctor", "content": "b"}]}
    async with serve() as server, httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post("/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": {
        "message": "'doctor' is not one of ['system', 'assistant', 'user', 'tool', 'developer']"
                   " - 'messages.1.role'",
        "type": "invalid_request_error",
        "param": "messages.1.role",
        "code": None,
    }}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [(b"{not json", "could not parse the JSON body"),
     (b"[1, 2]", "expected an object, but got an array"),
     (b"", "expected an object, but got null")],
)
async def test_body_that_is_not_a_json_object(raw: bytes, fragment: str) -> None:
    async with serve() as server, httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        response = await http.post(
            "/chat/completions", content=raw, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", None)
    assert fragment in error["message"]


async def test_boundary_and_null_values_are_accepted() -> None:
    body = _body(temperature=2, top_p=0, presence_penalty=-2, frequency_penalty=2,
                 logit_bias={"1": -100, "2": 100}, stop=["a", "b", "c", "d"], n=2,
                 max_tokens=1, stream=False, seed=None, user=None, tools=None)
    nulls = _body(temperature=None, top_p=None, stop=None, n=None, max_tokens=None,
                  stream=None, logit_bias=None, stream_options=None)
    async with serve() as server, httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        first = await http.post("/chat/completions", json=body)
        second = await http.post("/chat/completions", json=nulls)
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert len(first.json()["choices"]) == 2


@pytest.mark.parametrize(
    ("headers", "message"),
    [({}, "You didn't provide an API key"),
     ({"authorization": "Bearer sk-wrong"}, "Incorrect API key provided: sk-***"),
     ({"authorization": "Basic sk-secret"}, "Incorrect API key provided")],
)
async def test_api_key_is_enforced(headers: dict[str, str], message: str) -> None:
    async with serve(api_key="sk-secret") as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        chat = await http.post("/chat/completions", json=_body(), headers=headers)
        models = await http.get("/models", headers=headers)
    for response in (chat, models):
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error", "invalid_api_key", None)
        assert message in error["message"]
    assert "sk-secret" not in chat.text and "sk-wrong" not in chat.text


async def test_right_api_key_is_accepted() -> None:
    async with serve(api_key="sk-secret") as server, httpx.AsyncClient(
        verify=TLS, base_url=server.base_url, headers={"authorization": "Bearer sk-secret"}
    ) as http:
        response = await http.post("/chat/completions", json=_body())
    assert response.status_code == 200


async def test_unknown_path_and_wrong_method() -> None:
    async with serve() as server, httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        missing = await http.post("/completions", json=_body())
        root = await http.get(server.url + "/chat/completions")
        wrong = await http.get("/chat/completions")
        wrong_models = await http.post("/models", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/completions)"
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert root.status_code == 404
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["type"] == "invalid_request_error"
    assert wrong_models.status_code == 405
    assert wrong_models.headers["allow"] == "GET"


async def test_every_response_has_a_request_id() -> None:
    async with serve(api_key="k") as server, \
            httpx.AsyncClient(verify=TLS, base_url=server.base_url) as http:
        auth = {"authorization": "Bearer k"}
        responses = [
            await http.post("/chat/completions", json=_body(), headers=auth),
            await http.post("/chat/completions", json=_body(stream=True), headers=auth),
            await http.post("/chat/completions", json={"model": "m"}, headers=auth),
            await http.post("/chat/completions", json=_body()),
            await http.get("/models", headers=auth),
            await http.get("/nowhere"),
            await http.get("/chat/completions"),
        ]
    ids = [r.headers.get("x-request-id", "") for r in responses]
    assert [r.status_code for r in responses] == [200, 200, 400, 401, 200, 404, 405]
    assert all(re.fullmatch(r"req_[0-9a-f]{24}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert [r.request_id for r in server.requests] == ids
