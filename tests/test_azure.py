"""AsyncAzureChatClient against a stand-in that checks what Azure OpenAI checks."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from helpers import completion, text_stream

import chatsdk

pytestmark = pytest.mark.anyio

ENDPOINT = "https://my-resource.openai.azure.com"
VERSION = "2024-10-21"
KEY = "azure-key-0123456789abcdef"
TOKENS = ("entra-token-first-0123456789", "entra-token-second-0123456789")


def azure(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    """Azure's checks, in its order, with its error bodies: api-version, credential, deployment."""

    def error(status: int, code: str, message: str) -> httpx.Response:
        return httpx.Response(status, json={"error": {"code": code, "message": message}})

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if "api-version" not in request.url.params:
            return error(404, "404", "Resource not found")
        bearer = request.headers.get("authorization", "")
        if request.headers.get("api-key") != KEY and bearer.removeprefix("Bearer ") not in TOKENS:
            return error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                "to provide a valid key for an active subscription and use a correct regional "
                "API endpoint for your resource.",
            )
        if path == "/openai/models" and request.method == "GET":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "gpt-4o-mini"}]})
        if path.startswith("/openai/deployments/") and path.endswith("/chat/completions"):
            if path.split("/")[3] != "chat-prod":
                return error(
                    404,
                    "DeploymentNotFound",
                    "The API deployment for this resource does not exist. If you created the "
                    "deployment within the last 5 minutes, please wait a moment and try again."
                    # Not Azure's: an echo of the credential, which must not reach the error.
                    f" (sent: {bearer or request.headers.get('api-key')})",
                )
            headers = {"apim-request-id": "azure-req-1", "x-request-id": "azure-req-1"}
            if json.loads(request.content).get("stream"):
                headers["content-type"] = "text/event-stream"
                return httpx.Response(200, content=text_stream(["Hi"]), headers=headers)
            return httpx.Response(200, json=completion("Hi"), headers=headers)
        return error(404, "404", "Resource not found")

    return handle


def client(seen: list[httpx.Request], **kwargs: object) -> chatsdk.AsyncAzureChatClient:
    kwargs.setdefault("azure_endpoint", ENDPOINT + "/")
    kwargs.setdefault("api_version", VERSION)
    kwargs.setdefault("max_retries", 0)
    http = httpx.AsyncClient(transport=httpx.MockTransport(azure(seen)))
    return chatsdk.AsyncAzureChatClient(http_client=http, **kwargs)  # type: ignore[arg-type]


MESSAGES: list[chatsdk.MessageParam] = [{"role": "user", "content": "Hi"}]


async def test_a_key_a_deployment_and_the_api_version() -> None:
    seen: list[httpx.Request] = []
    async with client(seen, api_key=KEY, azure_deployment="chat-prod") as azure_client:
        reply = await azure_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await azure_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        async with stream:
            assert [text async for text in stream.text()] == ["Hi"]
        models = await azure_client.models.list()
    assert reply.choices[0].message.content == "Hi" and reply.request_id == "azure-req-1"
    assert [model.id for model in models] == ["gpt-4o-mini"]
    urls = [str(request.url) for request in seen]
    chat = f"{ENDPOINT}/openai/deployments/chat-prod/chat/completions?api-version={VERSION}"
    assert urls == [chat, chat, f"{ENDPOINT}/openai/models?api-version={VERSION}"]
    assert all(r.headers["api-key"] == KEY and "authorization" not in r.headers for r in seen)


async def test_without_a_deployment_the_model_names_it() -> None:
    seen: list[httpx.Request] = []
    async with client(seen, api_key=KEY) as azure_client:
        await azure_client.chat.completions.create(model="chat-prod", messages=MESSAGES)
        with pytest.raises(chatsdk.NotFoundError) as info:
            await azure_client.chat.completions.create(model="gpt/4 o", messages=MESSAGES)
    assert seen[1].url.raw_path.startswith(b"/openai/deployments/gpt%2F4%20o/chat/completions?")
    assert info.value.code == "DeploymentNotFound"
    assert "deployment for this resource does not exist" in info.value.message


async def test_a_token_provider_is_asked_before_every_attempt_and_redacted() -> None:
    seen: list[httpx.Request] = []
    tokens = iter(TOKENS)

    async def provider() -> str:
        return next(tokens)

    async with client(seen, azure_ad_token_provider=provider, azure_deployment="x") as c:
        await c.models.list()
        with pytest.raises(chatsdk.NotFoundError) as info:
            await c.chat.completions.create(model="m", messages=MESSAGES)
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {t}" for t in TOKENS]
    assert all("api-key" not in r.headers for r in seen)
    error = info.value
    assert "No API key" not in error.message
    for token in TOKENS:
        assert token not in str(error) and token not in repr(error.body) and token not in repr(c)


async def test_a_wrong_key_is_refused_as_azure_words_it() -> None:
    seen: list[httpx.Request] = []
    async with client(seen, api_key="wrong-key-abcdefgh", azure_deployment="chat-prod") as c:
        with pytest.raises(chatsdk.AuthenticationError, match="Access denied") as info:
            await c.chat.completions.create(model="m", messages=MESSAGES)
    assert "wrong-key-abcdefgh" not in str(info.value)


async def test_settings_come_from_azure_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("OPENAI_API_VERSION", VERSION)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-azure")
    seen: list[httpx.Request] = []
    http = httpx.AsyncClient(transport=httpx.MockTransport(azure(seen)))
    async with chatsdk.AsyncAzureChatClient(azure_deployment="chat-prod", http_client=http) as c:
        await c.chat.completions.create(model="m", messages=MESSAGES)
    assert seen[0].headers["api-key"] == KEY and "authorization" not in seen[0].headers
    assert seen[0].url.params["api-version"] == VERSION


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"api_version": None}, ValueError, "api_version"),
        ({"azure_endpoint": None}, ValueError, "azure_endpoint"),
        ({"api_key": None}, ValueError, "AZURE_OPENAI_API_KEY"),
        ({"api_key": KEY, "azure_ad_token_provider": lambda: "t"}, ValueError, "not both"),
        ({"azure_ad_token_provider": "token"}, TypeError, "azure_ad_token_provider"),
        ({"azure_deployment": ""}, ValueError, "azure_deployment"),
    ],
)
def test_missing_or_bad_settings_name_what_to_do(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    settings: dict[str, object] = {"azure_endpoint": ENDPOINT, "api_version": VERSION}
    settings["api_key"] = KEY
    settings.update(kwargs)
    with pytest.raises(error, match=match):
        chatsdk.AsyncAzureChatClient(**settings)  # type: ignore[arg-type]


async def test_a_provider_that_returns_no_token_is_a_type_error() -> None:
    seen: list[httpx.Request] = []
    async with client(seen, azure_ad_token_provider=lambda: None, azure_deployment="x") as c:
        with pytest.raises(TypeError, match="azure_ad_token_provider returned NoneType"):
            await c.models.list()
    assert seen == []
