"""stream.events(): literal chunk sequences in, the typed events of docs/events.md out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from helpers import MESSAGES, chunk, mock_client, sse, sse_response

import chatsdk
from chatsdk._stream_events import EventBuilder

pytestmark = pytest.mark.anyio


def tool_piece(
    index: int, arguments: str, *, id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    piece: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        piece["id"] = id
        piece["type"] = "function"
        piece["function"]["name"] = name
    return piece


def fold(*chunks: dict[str, Any]) -> list[chatsdk.StreamEvent]:
    builder = EventBuilder(None)
    events = [event for c in chunks for event in builder.add(c)]
    return events + builder.end()


def test_content_deltas_then_done_then_choice_done() -> None:
    events = fold(
        chunk("", role="assistant"),
        chunk("Hel"),
        chunk("lo"),
        chunk(finish_reason="stop"),
    )
    assert events == [
        chatsdk.ContentDeltaEvent(0, "Hel", "Hel"),
        chatsdk.ContentDeltaEvent(0, "lo", "Hello"),
        chatsdk.ContentDoneEvent(0, "Hello"),
        chatsdk.ChoiceDoneEvent(0, "stop"),
    ]
    assert [e.type for e in events] == [
        "content.delta",
        "content.delta",
        "content.done",
        "choice.done",
    ]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_in_either_field(field: str) -> None:
    first: dict[str, Any] = {field: "Think"}
    second: dict[str, Any] = {field: "ing."}
    events = fold(
        chunk(**first),
        chunk(**second),
        chunk("42"),
        chunk(finish_reason="stop"),
    )
    assert events == [
        chatsdk.ReasoningDeltaEvent(0, "Think", "Think"),
        chatsdk.ReasoningDeltaEvent(0, "ing.", "Thinking."),
        chatsdk.ContentDeltaEvent(0, "42", "42"),
        chatsdk.ContentDoneEvent(0, "42"),
        chatsdk.ReasoningDoneEvent(0, "Thinking."),
        chatsdk.ChoiceDoneEvent(0, "stop"),
    ]


def test_refusal() -> None:
    events = fold(
        chunk(role="assistant", refusal=""),
        chunk(refusal="I can't "),
        chunk(refusal="help."),
        chunk(finish_reason="stop"),
    )
    assert events == [
        chatsdk.RefusalDeltaEvent(0, "I can't ", "I can't "),
        chatsdk.RefusalDeltaEvent(0, "help.", "I can't help."),
        chatsdk.RefusalDoneEvent(0, "I can't help."),
        chatsdk.ChoiceDoneEvent(0, "stop"),
    ]


def test_interleaved_tool_calls_by_index() -> None:
    events = fold(
        chunk(tool_calls=[tool_piece(0, "", id="call_a", name="weather")]),
        chunk(tool_calls=[tool_piece(1, '{"a"', id="call_b", name="add")]),
        chunk(tool_calls=[tool_piece(0, '{"city": "Pa')]),
        chunk(tool_calls=[tool_piece(1, ": 1}")]),
        chunk(tool_calls=[tool_piece(0, 'ris"}')]),
        chunk(finish_reason="tool_calls"),
    )
    deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert [(e.index, e.id, e.name, e.arguments_delta, e.arguments) for e in deltas] == [
        (1, "call_b", "add", '{"a"', '{"a"'),
        (0, "call_a", "weather", '{"city": "Pa', '{"city": "Pa'),
        (1, "call_b", "add", ": 1}", '{"a": 1}'),
        (0, "call_a", "weather", 'ris"}', '{"city": "Paris"}'),
    ]
    # The partial object of each snapshot (jiter's partial mode).
    assert [e.parsed_arguments for e in deltas] == [
        {},
        {"city": "Pa"},
        {"a": 1},
        {"city": "Paris"},
    ]
    assert events[-3:] == [
        chatsdk.ToolArgumentsDoneEvent(
            0, 0, "call_a", "weather", '{"city": "Paris"}', {"city": "Paris"}
        ),
        chatsdk.ToolArgumentsDoneEvent(0, 1, "call_b", "add", '{"a": 1}', {"a": 1}),
        chatsdk.ChoiceDoneEvent(0, "tool_calls"),
    ]


def test_tool_arguments_not_json_at_done_name_the_call() -> None:
    builder = EventBuilder(None)
    builder.add(chunk(tool_calls=[tool_piece(0, '{"city": ', id="call_x", name="weather")]))
    with pytest.raises(chatsdk.StreamError) as caught:
        builder.add(chunk(finish_reason="tool_calls"))
    assert "call_x" in caught.value.message and "weather" in caught.value.message
    assert caught.value.type == "invalid_tool_arguments"


def test_two_choices_keep_their_own_order_and_usage_last() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    events = fold(
        chunk("A", index=0),
        chunk("B", index=1),
        chunk("a", index=0, finish_reason="stop"),
        chunk("b", index=1),
        chunk(index=1, finish_reason="length"),
        {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage},
    )
    assert [(e.type, e.choice) for e in events] == [
        ("content.delta", 0),
        ("content.delta", 1),
        ("content.delta", 0),
        ("content.done", 0),
        ("choice.done", 0),
        ("content.delta", 1),
        ("content.done", 1),
        ("choice.done", 1),
        ("usage", None),
    ]
    second = [e for e in events if e.choice == 1 and e.type == "content.done"]
    assert second == [chatsdk.ContentDoneEvent(1, "Bb")]
    last = events[-1]
    assert last.type == "usage" and last.usage.total_tokens == 7


def test_a_choice_without_finish_reason_is_closed_at_the_end() -> None:
    events = fold(chunk("Hi"))
    assert events == [chatsdk.ContentDeltaEvent(0, "Hi", "Hi"), chatsdk.ContentDoneEvent(0, "Hi")]


def test_event_type_narrows_for_type_checkers() -> None:
    # mypy --strict checks this file: .delta is only reachable after the comparison.
    texts = []
    for event in fold(chunk("x"), chunk(finish_reason="stop")):
        if event.type == "content.delta":
            texts.append(event.delta)
        elif event.type == "choice.done":
            texts.append(event.finish_reason)
    assert texts == ["x", "stop"]


async def test_events_on_a_live_stream_then_final() -> None:
    body = sse(
        chunk("", role="assistant"),
        chunk(reasoning_content="hm"),
        chunk("Hi"),
        chunk(tool_calls=[tool_piece(0, '{"q": 1}', id="c1", name="f")]),
        chunk(finish_reason="tool_calls"),
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return sse_response([body[:40], body[40:]])

    async with mock_client(handler) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            events = [event async for event in stream.events()]
            final = await stream.final()
    assert [e.type for e in events] == [
        "reasoning.delta",
        "content.delta",
        "tool_calls.function.arguments.delta",
        "content.done",
        "reasoning.done",
        "tool_calls.function.arguments.done",
        "choice.done",
    ]
    message = final.choices[0].message
    assert message.content == "Hi" and message.reasoning_content == "hm"
    assert message.tool_calls is not None and message.tool_calls[0].id == "c1"


async def test_bad_tool_arguments_on_a_live_stream_raise_stream_error() -> None:
    body = sse(
        chunk(tool_calls=[tool_piece(0, "{nope", id="c9", name="lookup")]),
        chunk(finish_reason="tool_calls"),
    )
    async with mock_client(lambda request: sse_response(body)) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatsdk.StreamError, match="c9"):
            async with stream:
                async for _ in stream.events():
                    pass


def test_tool_call_pieces_without_an_index_follow_their_id() -> None:
    # Some servers leave out "index": a piece with a new id starts a call, one without an id
    # continues the latest, as the stream's final() reads them.
    first = {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x"'}}
    second = {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    events = fold(
        chunk(tool_calls=[first]),
        chunk(tool_calls=[{"id": "a", "function": {"arguments": ": 1}"}}]),
        chunk(tool_calls=[second]),
        chunk(finish_reason="tool_calls"),
    )
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.index, e.id, e.name, e.parsed_arguments) for e in done] == [
        (0, "a", "f", {"x": 1}),
        (1, "b", "g", {}),
    ]
