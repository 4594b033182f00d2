"""What the caller passes is checked where it is passed: a bad key, header, URL or setting is a
clear typed error naming the parameter, raised before anything is sent, and never quoting a
secret. Headers override case-insensitively; a 404 from a misplaced base_url says what to change.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from helpers import MESSAGES, completion
from raw_http import raw_server, response

import chatsdk

KEY = "sk-settings-0123456789SECRET"


class Recorder:
    """A transport handler that records each request and answers with a completion."""

    def __init__(self, reply: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.reply = reply

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply or httpx.Response(200, json=completion("Hi!"))


def mocked(recorder: Recorder, **kwargs: Any) -> chatsdk.AsyncChatClient:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("base_url", "http://api.test/v1")
    kwargs.setdefault("max_retries", 0)
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return chatsdk.AsyncChatClient(http_client=http, **kwargs)


# -- 9. api_key is checked at construction -----------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        KEY + "\n",
        KEY + "\r\n",
        " " + KEY,
        KEY[:8] + " " + KEY[8:],
        KEY + "\t",
        KEY + "é",
        KEY + "\x00",
    ],
    ids=["newline", "crlf", "leading-space", "inner-space", "tab", "non-ascii", "nul"],
)
def test_an_api_key_http_cannot_carry_is_refused_without_quoting_it(key: str) -> None:
    with pytest.raises(ValueError, match="api_key") as info:
        chatsdk.AsyncChatClient(api_key=key, base_url="http://api.test/v1")
    assert KEY not in str(info.value) and KEY[3:-6] not in repr(info.value)
    assert "strip" in str(info.value)


def test_a_key_from_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY + "\n")
    with pytest.raises(ValueError, match="api_key") as info:
        chatsdk.AsyncChatClient(base_url="http://api.test/v1")
    assert KEY not in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("place", ["default_headers", "extra_headers"])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("api-key", KEY + "\n"),
        ("X-Team", "blue\r\nX-Injected: 1"),
        ("X-Team", "bleu é"),
        ("Bad Name", "v"),
        ("X-Team", " padded "),
    ],
    ids=["newline", "injection", "non-ascii", "bad-name", "padded"],
)
async def test_a_header_http_cannot_carry_is_refused_before_sending(
    place: str, name: str, value: str
) -> None:
    recorder = Recorder()
    headers = {name: value}
    with pytest.raises(ValueError, match=place) as info:
        if place == "default_headers":
            mocked(recorder, default_headers=headers)
        else:
            async with mocked(recorder) as client:
                await client.chat.completions.create(
                    model="m", messages=MESSAGES, extra_headers=headers
                )
    assert recorder.requests == []
    assert KEY not in str(info.value)


# -- 10. headers override case-insensitively ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["authorization", "Authorization", "AUTHORIZATION"])
@pytest.mark.parametrize("place", ["default_headers", "extra_headers"])
async def test_an_authorization_header_replaces_the_bearer_key(name: str, place: str) -> None:
    recorder = Recorder()
    headers = {name: "Token other-scheme"}
    client_kwargs: dict[str, Any] = (
        {"default_headers": headers} if place == "default_headers" else {}
    )
    create_kwargs: dict[str, Any] = {"extra_headers": headers} if place == "extra_headers" else {}
    async with mocked(recorder, **client_kwargs) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES, **create_kwargs)
    assert recorder.requests[0].headers.get_list("authorization") == ["Token other-scheme"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name", ["authorization", "Authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"]
)
@pytest.mark.parametrize("place", ["default_headers", "extra_headers"])
async def test_a_none_header_removes_it_in_any_case(name: str, place: str) -> None:
    recorder = Recorder()
    headers = {name: None, "USER-AGENT": None}
    client_kwargs: dict[str, Any] = (
        {"default_headers": headers} if place == "default_headers" else {}
    )
    create_kwargs: dict[str, Any] = {"extra_headers": headers} if place == "extra_headers" else {}
    async with mocked(recorder, **client_kwargs) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES, **create_kwargs)
    sent = recorder.requests[0].headers
    assert "authorization" not in sent
    assert sent.get("user-agent", "").startswith("python-httpx"), "httpx's own default, not ours"


# -- 11. base_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://me:pw-SECRET@api.test/v1", "https://me@api.test/v1", "http://:pw-SECRET@h/v1"]
)
def test_userinfo_in_base_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="base_url must not carry a user name or password") as e:
        chatsdk.AsyncChatClient(api_key=KEY, base_url=url)
    assert "pw-SECRET" not in str(e.value) and "me@" not in str(e.value)
    assert "Basic auth" in str(e.value)


def test_a_base_url_httpx_cannot_parse_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="base_url"):
        chatsdk.AsyncChatClient(api_key=KEY, base_url="http://[::1/v1")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("base", "words"),
    [
        ("/v1/chat/completions", "set it to the API's base, 'http://127.0.0.1:{port}/v1'"),
        ("", "set base_url to 'http://127.0.0.1:{port}/v1'"),
        ("/api", "set base_url to 'http://127.0.0.1:{port}/api/v1'"),
    ],
    ids=["endpoint", "no-path", "no-version"],
)
async def test_a_404_from_a_misplaced_base_url_says_what_to_change(base: str, words: str) -> None:
    not_found = response(
        "404 Not Found", b'{"detail": "Not Found"}', {"content-type": "application/json"}
    )
    async with raw_server(not_found) as server:
        url = f"http://127.0.0.1:{server.port}{base}"
        async with chatsdk.AsyncChatClient(api_key=KEY, base_url=url, max_retries=0) as client:
            with pytest.raises(chatsdk.NotFoundError) as info:
                await client.chat.completions.create(model="m", messages=MESSAGES)
    assert words.format(port=server.port) in info.value.message
    assert info.value.args == (info.value.message,)


@pytest.mark.anyio
async def test_openais_404_for_an_endpoint_as_base_url_gets_the_hint() -> None:
    body = {
        "error": {
            "message": "Invalid URL (POST /v1/chat/completions/chat/completions)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    recorder = Recorder(httpx.Response(404, json=body))
    async with mocked(recorder, base_url="https://api.test/v1/chat/completions/") as client:
        with pytest.raises(chatsdk.NotFoundError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.message.startswith("Invalid URL")
    assert "set it to the API's base, 'https://api.test/v1'" in info.value.message


@pytest.mark.anyio
@pytest.mark.parametrize("code", ["model_not_found", "DeploymentNotFound"])
async def test_a_404_with_an_error_code_gets_no_base_url_hint(code: str) -> None:
    body = {"error": {"message": "The model 'x' does not exist", "code": code}}
    recorder = Recorder(httpx.Response(404, json=body))
    async with mocked(recorder, base_url="http://api.test") as client:
        with pytest.raises(chatsdk.NotFoundError) as info:
            await client.chat.completions.create(model="x", messages=MESSAGES)
    assert info.value.message == "The model 'x' does not exist"


# -- 12. bad settings fail at construction -----------------------------------------------------


def test_a_sync_httpx_client_is_refused_at_construction() -> None:
    recorder = Recorder()
    with httpx.Client(transport=httpx.MockTransport(recorder)) as sync_http:
        with pytest.raises(TypeError, match=r"http_client must be an httpx\.AsyncClient"):
            chatsdk.AsyncChatClient(api_key=KEY, http_client=sync_http)  # type: ignore[arg-type]
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"timeout": 0}, "timeout must be a positive"),
        ({"timeout": -1.5}, "timeout must be a positive"),
        ({"timeout": httpx.Timeout(5, read=0)}, "timeout must have limits > 0"),
        ({"timeout": httpx.Timeout(5, connect=-1)}, "timeout must have limits > 0"),
        ({"deadline": 0}, "deadline must be a positive"),
        ({"deadline": -3}, "deadline must be a positive"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
    ],
)
def test_a_bad_setting_fails_at_construction_with_its_name(
    kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(TypeError, match=words):
        chatsdk.AsyncChatClient(api_key=KEY, base_url="http://api.test/v1", **kwargs)


def test_timeouts_that_are_none_or_positive_are_kept() -> None:
    client = chatsdk.AsyncChatClient(
        api_key=KEY, base_url="http://api.test/v1", timeout=httpx.Timeout(None, connect=5)
    )
    assert client.timeout.connect == 5 and client.timeout.read is None


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _itself() -> Any:
    loop: dict[str, Any] = {}
    loop["again"] = loop
    return loop


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra_body", "error", "words"),
    [
        ({1: "a", "1": "b"}, ValueError, "extra_body has the key '1' twice"),
        ({"opts": {"2": 0, 2: 1}}, ValueError, r"extra_body\['opts'\] has the key '2' twice"),
        ({"tags": {"a", "b"}}, TypeError, r"extra_body\['tags'\] is a set"),
        ({"x": [1, float("nan")]}, TypeError, r"extra_body\['x'\]\[1\] is nan"),
        ({(1, 2): "x"}, TypeError, "extra_body has a key JSON cannot carry"),
        ({"deep": _nested(5000)}, ValueError, "extra_body nests deeper than 100 levels"),
        ({"loop": _itself()}, ValueError, "extra_body nests deeper than 100 levels"),
    ],
    ids=["duplicate", "nested-duplicate", "set", "nan", "tuple-key", "deep", "cycle"],
)
async def test_an_extra_body_json_cannot_carry_is_refused_naming_it(
    extra_body: dict[Any, Any], error: type[Exception], words: str
) -> None:
    recorder = Recorder()
    async with mocked(recorder) as client:
        with pytest.raises(error, match=words):
            await client.chat.completions.create(
                model="m", messages=MESSAGES, extra_body=extra_body
            )
    assert recorder.requests == []


@pytest.mark.anyio
async def test_a_body_nested_too_deep_for_json_is_a_value_error_naming_the_field() -> None:
    recorder = Recorder()
    schema = {"type": "json_schema", "json_schema": {"name": "n", "schema": _nested(100_000)}}
    async with mocked(recorder) as client:
        with pytest.raises(ValueError, match="response_format is nested too deeply"):
            await client.chat.completions.create(
                model="m", messages=MESSAGES, response_format=schema
            )
    assert recorder.requests == []


@pytest.mark.anyio
async def test_a_fine_extra_body_is_sent_as_given() -> None:
    recorder = Recorder()
    async with mocked(recorder) as client:
        await client.chat.completions.create(
            model="m", messages=MESSAGES, extra_body={"top_k": 5, "opts": {"a": [1, 2.5, None]}}
        )
    sent = json.loads(recorder.requests[0].content)
    assert (sent["top_k"], sent["opts"]) == (5, {"a": [1, 2.5, None]})


# -- 13. no key for the OpenAI host ------------------------------------------------------------


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.usefixtures("no_env_key")
@pytest.mark.parametrize("kwargs", [{}, {"base_url": "https://api.openai.com/v1"}, {"api_key": ""}])
def test_no_key_for_the_openai_host_fails_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as info:
        chatsdk.AsyncChatClient(**kwargs)
    assert "OPENAI_API_KEY" in str(info.value) and "api_key=" in str(info.value)


@pytest.mark.usefixtures("no_env_key")
def test_a_credential_header_counts_as_a_key_for_the_openai_host() -> None:
    client = chatsdk.AsyncChatClient(default_headers={"Authorization": f"Bearer {KEY}"})
    assert client.api_key is None


@pytest.mark.anyio
@pytest.mark.usefixtures("no_env_key")
async def test_a_local_server_that_needs_no_key_works_without_one() -> None:
    reply = response(
        "200 OK", json.dumps(completion("local")).encode(), {"content-type": "application/json"}
    )
    async with raw_server(reply) as server:
        async with chatsdk.AsyncChatClient(base_url=server.base_url) as client:
            answer = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert answer.choices[0].message.content == "local"
    assert b"authorization" not in server.requests[0].lower()


# -- a closed client ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("owned", [True, False], ids=["owned", "given"])
async def test_a_closed_client_says_so_with_a_typed_error(owned: bool) -> None:
    recorder = Recorder()
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    if owned:
        client = chatsdk.AsyncChatClient(api_key=KEY, base_url="http://api.test/v1")
        await client.aclose()
    else:
        client = chatsdk.AsyncChatClient(
            api_key=KEY, base_url="http://api.test/v1", http_client=http
        )
    await http.aclose()
    for stream in (False, True):
        with pytest.raises(chatsdk.APIConnectionError, match="is closed"):
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=stream)
    assert recorder.requests == []
