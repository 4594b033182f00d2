"""The API key appears nowhere: in no error's text, request id or cause, and in no log line of
chatsdk, httpx or httpcore, even when a hostile server echoes it back in every place it can."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator

import httpx
import pytest
from helpers import MESSAGES, chunk, sse
from raw_http import raw_server, response

import chatsdk

pytestmark = pytest.mark.anyio

KEY = "sk-proj-0123456789abcdefSECRET"
OTHER = "azure-key-9876543210SECRET"  # a key sent in a header of the caller's own
FAST = chatsdk.RetryPolicy(initial_delay=0, max_delay=0)
GUARD = 10  # seconds: a hang guard only


def texts(exc: BaseException) -> Iterator[str]:
    """Every text an error shows: str, repr, args, request id, body, the chain behind it, and
    the traceback as printed."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            break
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        yield str(getattr(current, "request_id", ""))
        yield str(getattr(current, "body", ""))
        current = current.__cause__ or current.__context__
    yield "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def assert_no_secret(*shown: object) -> None:
    for text in shown:
        for secret in (KEY, OTHER):
            assert secret not in str(text)
            assert secret[5:-6] not in str(text)


def client(base_url: str, **kwargs: object) -> chatsdk.AsyncChatClient:
    return chatsdk.AsyncChatClient(api_key=KEY, base_url=base_url, retry=FAST, **kwargs)  # type: ignore[arg-type]


def echoing(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    """A reply that quotes both secrets in its status line, request id, a header and the body."""
    return response(
        f"{status} refused {KEY}",
        body,
        {
            "content-type": content_type,
            "x-request-id": f"req_{KEY}_{OTHER}",
            "x-echo": f"Bearer {KEY}; api-key={OTHER}",
        },
    )


ERROR_BODY = json.dumps(
    {"error": {"message": f"Incorrect API key provided: {KEY} / {OTHER}", "type": "auth"}}
).encode()


async def test_a_status_error_never_shows_the_key() -> None:
    async with raw_server(echoing("401", ERROR_BODY)) as server:
        async with client(server.base_url) as c:
            with pytest.raises(chatsdk.AuthenticationError) as info:
                await c.chat.completions.create(
                    model="m", messages=MESSAGES, extra_headers={"api-key": OTHER}
                )
    assert info.value.args == (info.value.message,)
    assert "<redacted>" in str(info.value)
    assert_no_secret(*texts(info.value))


async def test_a_200_that_is_not_a_completion_never_shows_the_key() -> None:
    body = f"<html>proxy says hello to {KEY} and {OTHER}</html>".encode()
    async with raw_server(echoing("200", body, "text/html")) as server:
        async with client(server.base_url, default_headers={"X-Api-Key": OTHER}) as c:
            with pytest.raises(chatsdk.APIStatusError) as info:
                await c.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.args == (info.value.message,)
    assert_no_secret(*texts(info.value))


async def test_a_stream_error_never_shows_the_key() -> None:
    body = sse(
        chunk("", role="assistant"),
        chunk("Hel"),
        sse(
            {"error": {"message": f"key {KEY} or {OTHER} was revoked", "type": "auth"}}, done=False
        ).decode(),
        done=False,
    )
    async with raw_server(echoing("200", body, "text/event-stream")) as server:
        async with client(server.base_url) as c:
            stream = await c.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, extra_headers={"Api-Key": OTHER}
            )
            assert_no_secret(repr(stream))
            with pytest.raises(chatsdk.StreamError) as info:
                await stream.final()
            assert_no_secret(repr(stream))
    assert info.value.partial_text == "Hel"
    assert info.value.args == (info.value.message,)
    assert_no_secret(*texts(info.value))


async def test_a_local_protocol_error_is_not_retried_and_never_shows_the_key() -> None:
    sent: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        # What httpx raises when h11 refuses a header: it quotes the value.
        sent.append(request)
        raise httpx.LocalProtocolError(f"Illegal header value b'Bearer {KEY}\\n'")

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    async with client("http://api.test/v1", http_client=http, max_retries=3) as c, http:
        with pytest.raises(chatsdk.APIConnectionError) as info:
            await c.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sent) == 1, "a request that is not valid HTTP is not sent again"
    assert info.value.attempts == 1
    assert isinstance(info.value.__cause__, httpx.LocalProtocolError)
    assert_no_secret(*texts(info.value))


@pytest.mark.httpx_only("checks httpcore's own log lines, which aiohttp does not write")
async def test_no_log_line_of_chatsdk_httpx_or_httpcore_shows_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root: chatsdk, httpx and httpcore all reach it
    caplog.set_level(logging.DEBUG, logger="chatsdk")
    busy = echoing("503", ERROR_BODY)
    ok = echoing("200", sse(chunk("Hi", role="assistant"), chunk(finish_reason="stop")))
    ok = ok.replace(b"application/json", b"text/event-stream")
    async with raw_server(busy, ok) as server:
        async with client(server.base_url, max_retries=1, default_headers={"api-key": OTHER}) as c:
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with stream:
                assert (await stream.final()).choices[0].message.content == "Hi"
    names = {record.name.split(".")[0] for record in caplog.records}
    assert {"chatsdk", "httpx", "httpcore"} <= names
    assert any("receive_response_headers" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert_no_secret(record.getMessage())
    assert_no_secret(caplog.text)


def test_a_password_in_base_url_is_refused_and_not_quoted() -> None:
    with pytest.raises(ValueError, match="user name or password") as info:
        chatsdk.AsyncChatClient(api_key=KEY, base_url=f"https://user:{OTHER}@api.test/v1")
    assert_no_secret(*texts(info.value))
    with pytest.raises(ValueError, match="user name or password") as info:
        chatsdk.AsyncChatClient(api_key=KEY, base_url=f"ftp://user:{OTHER}@api.test/v1")
    assert_no_secret(*texts(info.value))


def test_the_key_is_not_in_the_client_repr() -> None:
    c = chatsdk.AsyncChatClient(api_key=KEY, base_url="http://api.test/v1")
    assert_no_secret(repr(c), str(c), repr(c.chat.completions))


async def test_a_short_placeholder_key_is_redacted_as_a_word_and_leaves_other_words_whole() -> None:
    # "k" as the key of a local server: redacted where it stands alone, never out of "chunk".
    body = sse(
        chunk("", role="assistant"), {"error": {"message": "bad key k (chunk 2)"}}, done=False
    )
    async with raw_server(response("200", body, {"content-type": "text/event-stream"})) as server:
        async with chatsdk.AsyncChatClient(api_key="k", base_url=server.base_url) as c:
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            with pytest.raises(chatsdk.StreamError) as info:
                await stream.final()
    assert "bad key <redacted> (chunk 2)" in info.value.message
    assert " k " not in info.value.message
