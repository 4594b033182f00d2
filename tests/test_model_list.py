"""client.models.list(): GET /models, typed, with the errors, retries and redaction of any call."""

from __future__ import annotations

import anyio
import httpx
import pytest
from helpers import mock_client

import chatsdk
from chatsdk.testing import serve

pytestmark = pytest.mark.anyio

KEY = "sk-wrong-key-1234567890"


async def test_models_of_the_local_server() -> None:
    async with serve() as server, server.client(max_retries=0) as client:
        models = await client.models.list()
    assert isinstance(models, chatsdk.ModelList)
    assert [model.id for model in models] == ["chatsdk-test"]
    assert len(models) == 1 and models.object == "list"
    first = models.data[0]
    assert (first.object, first.owned_by) == ("model", "chatsdk")
    assert first.created > 0
    assert models.attempts == 1
    assert models.request_id == server.requests[0].request_id
    assert server.requests[0].method == "GET" and server.requests[0].path == "/v1/models"


async def test_a_wrong_key_is_an_authentication_error_without_the_key() -> None:
    async with serve(api_key="right-key") as server:
        async with server.client(api_key=KEY, max_retries=0) as client:
            with pytest.raises(chatsdk.AuthenticationError) as info:
                await client.models.list()
    assert KEY not in str(info.value) and KEY not in repr(info.value.body)
    assert info.value.status_code == 401


async def test_failures_are_retried_and_counted() -> None:
    answers = [
        httpx.Response(503, json={"error": {"message": "busy"}}),
        httpx.Response(
            200,
            json={"object": "list", "data": [{"id": "a", "max_model_len": 8192}]},
            headers={"x-request-id": "req_2"},
        ),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET" and request.url.path == "/v1/models"
        assert request.url.params["tag"] == "x" and request.headers["x-extra"] == "1"
        return answers.pop(0)

    retry = chatsdk.RetryPolicy(initial_delay=0, max_delay=0)
    async with mock_client(handler, retry=retry) as client:
        models = await client.models.list(
            max_retries=1, extra_query={"tag": "x"}, extra_headers={"X-Extra": "1"}
        )
    assert (models.attempts, models.request_id) == (2, "req_2")
    assert models.data[0].get("max_model_len") == 8192  # fields beyond the API's are kept


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"object": "list"}, "'data' is not a list"),
        ({"data": ["a"]}, r"data\[0\] is not an object"),
        ({"data": [{"name": "a"}]}, r"data\[0\].id is not a string"),
        ([], "not a JSON object"),
    ],
)
async def test_an_answer_that_is_not_a_model_list_is_an_api_error(
    body: object, problem: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.APIStatusError, match=problem):
            await client.models.list()


async def test_a_server_without_the_endpoint_is_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"message": "no such route"}})

    async with mock_client(handler) as client:
        with pytest.raises(chatsdk.NotFoundError):
            await client.models.list()


async def test_the_deadline_bounds_the_listing() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with chatsdk.AsyncChatClient(api_key="k", base_url="http://t/v1", http_client=http) as c:
        with anyio.fail_after(10):  # a hang guard only
            with pytest.raises(chatsdk.APITimeoutError, match="deadline"):
                await c.models.list(deadline=0.01)
