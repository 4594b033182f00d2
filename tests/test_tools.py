"""function_tool() and the tool loop: scripted replies at the transport, asyncio and trio."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

import anyio
import httpx
import pydantic
import pytest
from helpers import MESSAGES, chunk, completion, mock_client, sse, sse_response

import chatsdk

pytestmark = pytest.mark.anyio


def call(id: str, name: str, arguments: Any) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": text}}


def calls_reply(*calls: dict[str, Any]) -> dict[str, Any]:
    reply = completion(None)  # type: ignore[arg-type]
    reply["choices"][0]["message"]["tool_calls"] = list(calls)
    reply["choices"][0]["finish_reason"] = "tool_calls"
    return reply


def as_stream(reply: dict[str, Any]) -> bytes:
    """A whole reply as the chunks of a stream (tool calls with their index)."""
    message = reply["choices"][0]["message"]
    chunks: list[dict[str, Any] | str] = [chunk("", role="assistant")]
    if message.get("content"):
        chunks += [chunk(word) for word in message["content"].split("|")]
    for index, tool_call in enumerate(message.get("tool_calls") or ()):
        chunks.append(chunk(tool_calls=[dict(tool_call, index=index)]))
    chunks.append(chunk(finish_reason=reply["choices"][0]["finish_reason"]))
    return sse(*chunks)


class Script:
    """Answers each request with the next reply (JSON or SSE, as asked) and keeps the bodies."""

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        reply = self.replies.pop(0)
        if body.get("stream"):
            return sse_response(as_stream(reply))
        return httpx.Response(200, json=reply)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def weather(
    city: Annotated[str, pydantic.Field(description="A city name")],
    unit: Literal["C", "F"] = "C",
) -> dict[str, Any]:
    """The current weather in a city."""
    return {"city": city, "sky": "sunny", "unit": unit}


def test_function_tool_builds_a_strict_definition(
    spec_validate: Callable[[str, Any], None],
) -> None:
    param = chatsdk.function_tool(weather).to_param()
    assert param == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "A city name", "title": "City"},
                    "unit": {"type": "string", "enum": ["C", "F"], "title": "Unit"},
                },
                "required": ["city", "unit"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    spec_validate("ChatCompletionTool", param)


def test_function_tool_refuses_what_it_cannot_describe() -> None:
    def untyped(city):  # type: ignore[no-untyped-def]
        return city

    def star(*cities: str) -> None:
        pass

    with pytest.raises(TypeError, match="'city' has no type annotation"):
        chatsdk.function_tool(untyped)
    with pytest.raises(TypeError, match=r"\*args"):
        chatsdk.function_tool(star)
    with pytest.raises(TypeError, match="not a tool name"):
        chatsdk.function_tool(add, name="add numbers")


def test_arguments_are_validated_by_the_signature() -> None:
    tool = chatsdk.function_tool(add)
    assert tool.arguments('{"a": 1, "b": 2}') == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="b"):
        tool.arguments('{"a": 1}')


async def test_run_tools_runs_the_calls_and_returns_the_answer() -> None:
    script = Script(
        calls_reply(call("c1", "add", {"a": 2, "b": 3}), call("c2", "weather", {"city": "Oslo"})),
        completion("5, and sunny in Oslo."),
    )
    async with mock_client(script) as client:
        run = await client.chat.completions.run_tools(
            model="m", messages=MESSAGES, tools=[add, weather], temperature=0
        )
    assert run.choices[0].message.content == "5, and sunny in Oslo."
    assert run.rounds == 2
    assert run.attempts == 1  # the last request's
    first, second = script.bodies
    assert [t["function"]["name"] for t in first["tools"]] == ["add", "weather"]
    assert first["temperature"] == 0 and "stream" not in first
    assistant, result_1, result_2 = second["messages"][1:]
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            call("c1", "add", {"a": 2, "b": 3}),
            call("c2", "weather", {"city": "Oslo"}),
        ],
    }
    assert result_1 == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    assert result_2["tool_call_id"] == "c2"
    assert json.loads(result_2["content"]) == {"city": "Oslo", "sky": "sunny", "unit": "C"}
    assert run.messages == [
        *second["messages"],
        {"role": "assistant", "content": "5, and sunny in Oslo."},
    ]


async def test_calls_of_one_turn_run_at_once_and_sync_tools_in_a_thread() -> None:
    # Each tool waits for the other to start: they finish only if they run concurrently.
    started = {"a": anyio.Event(), "b": anyio.Event()}
    main_thread = threading.get_ident()
    threads: list[int] = []

    async def first() -> str:
        """First."""
        started["a"].set()
        await started["b"].wait()
        return "a"

    async def second() -> str:
        """Second."""
        started["b"].set()
        await started["a"].wait()
        return "b"

    def blocking() -> str:
        """Runs in a worker thread."""
        threads.append(threading.get_ident())
        return "c"

    script = Script(
        calls_reply(call("1", "first", {}), call("2", "second", {}), call("3", "blocking", {})),
        completion("done"),
    )
    async with mock_client(script) as client:
        with anyio.fail_after(10):
            run = await client.chat.completions.run_tools(
                model="m", messages=MESSAGES, tools=[first, second, blocking]
            )
    assert [m["content"] for m in run.messages if m["role"] == "tool"] == ["a", "b", "c"]
    assert threads and threads[0] != main_thread


async def test_errors_go_back_to_the_model_as_the_result() -> None:
    def broken(x: int) -> int:
        """Always fails."""
        raise RuntimeError("disk on fire")

    script = Script(
        calls_reply(
            call("1", "broken", {"x": 1}),
            call("2", "nowhere", {}),
            call("3", "add", {"a": "one", "b": 2}),
            call("4", "add", "{not json"),
        ),
        completion("Sorry."),
    )
    async with mock_client(script) as client:
        run = await client.chat.completions.run_tools(
            model="m", messages=MESSAGES, tools=[broken, add]
        )
    results = [m["content"] for m in script.bodies[1]["messages"] if m["role"] == "tool"]
    assert results[0] == "Error: broken raised RuntimeError: disk on fire"
    assert results[1].startswith("Error: there is no tool named 'nowhere'")
    assert "['add', 'broken']" in results[1]
    assert (
        results[2].startswith("Error: the arguments for add are not valid:") and "a" in results[2]
    )
    assert results[3].startswith("Error: the arguments for add are not valid:")
    assert run.choices[0].message.content == "Sorry."


async def test_max_rounds_raises_with_the_conversation() -> None:
    script = Script(*[calls_reply(call(f"c{n}", "add", {"a": n, "b": 1})) for n in range(3)])
    async with mock_client(script) as client:
        with pytest.raises(chatsdk.ToolRoundsError) as caught:
            await client.chat.completions.run_tools(
                model="m", messages=MESSAGES, tools=[add], max_rounds=3
            )
    error = caught.value
    assert isinstance(error, chatsdk.APIError) and error.rounds == 3
    assert len(script.bodies) == 3
    # The last round's tools ran: the conversation ends with their result, ready to send.
    assert error.messages[-1] == {"role": "tool", "tool_call_id": "c2", "content": "3"}
    assert len(error.messages) == 1 + 3 * 2


async def test_bad_arguments_raise_before_any_request() -> None:
    script = Script()
    async with mock_client(script) as client:
        with pytest.raises(ValueError, match="max_rounds"):
            await client.chat.completions.run_tools(
                model="m", messages=MESSAGES, tools=[add], max_rounds=0
            )
        with pytest.raises(TypeError, match=r"tools\[0\]"):
            await client.chat.completions.run_tools(
                model="m",
                messages=MESSAGES,
                tools=[{"type": "function"}],  # type: ignore[list-item]
            )
    assert script.bodies == []


async def test_cancelling_the_run_cancels_running_tools() -> None:
    started = anyio.Event()
    cancelled: list[bool] = []

    async def slow() -> str:
        """Waits until cancelled."""
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise
        return "never"

    script = Script(calls_reply(call("1", "slow", {})))
    async with mock_client(script) as client:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(
                    lambda: client.chat.completions.run_tools(
                        model="m", messages=MESSAGES, tools=[slow]
                    )
                )
                await started.wait()
                group.cancel_scope.cancel()
    assert cancelled == [True]


async def test_stream_tools_yields_events_across_rounds() -> None:
    script = Script(
        calls_reply(call("c1", "add", {"a": 1, "b": 1})),
        completion("It is| 2."),
    )
    async with mock_client(script) as client:
        async with client.chat.completions.stream_tools(
            model="m", messages=MESSAGES, tools=[add]
        ) as run:
            events = [event async for event in run]
    assert [e.type for e in events] == [
        "tool_calls.function.arguments.delta",
        "tool_calls.function.arguments.done",
        "choice.done",
        "tool.result",
        "content.delta",
        "content.delta",
        "content.done",
        "choice.done",
    ]
    assert events[3] == chatsdk.ToolResultEvent(0, "c1", "add", "2")
    assert all(body["stream"] is True for body in script.bodies)
    assert run.completion is not None and run.completion.choices[0].message.content == "It is 2."
    assert run.messages[-1] == {"role": "assistant", "content": "It is 2."}
    assert run.rounds == 2


class HangingBody(httpx.AsyncByteStream):
    """A stream body that sends its parts, then waits; records whether it was closed."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        await anyio.sleep_forever()

    async def aclose(self) -> None:
        self.closed = True


async def test_leaving_stream_tools_early_closes_the_open_request() -> None:
    body = HangingBody([sse(chunk("", role="assistant"), chunk("Hel"), done=False)])
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    async with mock_client(handler) as client:
        with anyio.fail_after(10):
            async with client.chat.completions.stream_tools(
                model="m", messages=MESSAGES, tools=[add]
            ) as run:
                async for event in run:
                    assert event.type == "content.delta"
                    break
    assert body.closed
    assert len(requests) == 1
    assert run.completion is None


class Place(pydantic.BaseModel):
    city: str
    country: str | None = None


def test_a_model_parameter_becomes_a_strict_nested_schema() -> None:
    def visit(place: Place, days: int = 1) -> str:
        """Plan a visit."""
        return f"{place.city} for {days} days"

    tool = chatsdk.function_tool(visit)
    parameters = tool.to_param()["function"]["parameters"]
    assert parameters["required"] == ["place", "days"]
    place = parameters["$defs"]["Place"]
    assert place["additionalProperties"] is False
    assert place["required"] == ["city", "country"]
    kwargs = tool.arguments('{"place": {"city": "Oslo", "country": null}, "days": 2}')
    assert kwargs == {"place": Place(city="Oslo"), "days": 2}
    assert visit(**kwargs) == "Oslo for 2 days"


def test_an_annotation_that_cannot_be_resolved_is_a_clear_error() -> None:
    class Local(pydantic.BaseModel):
        x: int

    def use(value: Local) -> None:
        """Takes a class the module cannot see (annotations are strings here)."""

    with pytest.raises(TypeError, match=r"'Local' is not defined.*module level"):
        chatsdk.function_tool(use)
