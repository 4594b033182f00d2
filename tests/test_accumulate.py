"""Folding chunks into a reply, on literal chunk dicts."""

from __future__ import annotations

from typing import Any

from helpers import chunk

from chatsdk._accumulate import ChunkAccumulator


def fold(*chunks: dict[str, Any]) -> dict[str, Any]:
    acc = ChunkAccumulator()
    for item in chunks:
        acc.add(item)
    return acc.result()


def tool_delta(**fields: Any) -> dict[str, Any]:
    return chunk(tool_calls=[fields])


def test_content_concatenated_and_metadata_kept() -> None:
    reply = fold(
        chunk("", role="assistant"), chunk("Hel"), chunk("lo"), chunk(finish_reason="stop")
    )
    assert reply["id"] == "chatcmpl-1"
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "test-model"
    assert reply["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]


def test_choices_interleaved_in_any_order() -> None:
    reply = fold(
        chunk("b1", index=1, role="assistant"),
        chunk("a1", index=0, role="assistant"),
        chunk("b2", index=1),
        chunk("a2", index=0),
        chunk(index=1, finish_reason="length"),
        chunk(index=0, finish_reason="stop"),
    )
    assert [c["index"] for c in reply["choices"]] == [0, 1]
    assert [c["message"]["content"] for c in reply["choices"]] == ["a1a2", "b1b2"]
    assert [c["finish_reason"] for c in reply["choices"]] == ["stop", "length"]


def test_tool_calls_merged_by_index_with_repeated_ids() -> None:
    reply = fold(
        tool_delta(
            index=0, id="call_1", type="function", function={"name": "get", "arguments": ""}
        ),
        tool_delta(index=0, id="call_1", function={"name": "get", "arguments": '{"ci'}),
        tool_delta(index=0, id="", function={"arguments": 'ty": "Paris"}'}),
        tool_delta(
            index=1, id="call_2", type="function", function={"name": "put", "arguments": "{}"}
        ),
        chunk(finish_reason="tool_calls"),
    )
    calls = reply["choices"][0]["message"]["tool_calls"]
    assert calls == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get", "arguments": '{"city": "Paris"}'},
        },
        {
            "id": "call_2",
            "type": "function",
            "function": {"name": "put", "arguments": "{}"},
        },
    ]
    assert reply["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_calls_without_index() -> None:
    reply = fold(
        tool_delta(id="a", function={"name": "f", "arguments": "{"}),
        tool_delta(function={"arguments": "}"}),
        tool_delta(id="b", function={"name": "g", "arguments": "[]"}),
        tool_delta(id="a", function={"arguments": ""}),
    )
    calls = reply["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("a", "f", "{}"),
        ("b", "g", "[]"),
    ]


def test_reasoning_fields_accumulated() -> None:
    reply = fold(
        chunk(role="assistant", reasoning_content="Think"),
        chunk(reasoning_content="ing"),
        chunk(reasoning="r1"),
        chunk(reasoning="r2"),
        chunk("Answer"),
        chunk(finish_reason="stop"),
    )
    message = reply["choices"][0]["message"]
    assert message["reasoning_content"] == "Thinking"
    assert message["reasoning"] == "r1r2"
    assert message["content"] == "Answer"


def test_usage_from_usage_only_chunk_with_empty_or_null_choices() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    choices: list[Any] | None
    for choices in ([], None):
        final = dict(chunk(), choices=choices, usage=usage)
        reply = fold(chunk("x"), chunk(finish_reason="stop"), final)
        assert reply["usage"] == usage
        assert len(reply["choices"]) == 1


def test_usage_from_inside_a_choice() -> None:
    usage = {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}
    last = chunk(finish_reason="stop")
    last["choices"][0]["usage"] = usage
    assert fold(chunk("x"), last)["usage"] == usage


def test_unknown_fields_kept() -> None:
    first = dict(chunk("a", role="assistant"), x_groq={"id": "req_1"})
    reply = fold(first, chunk(finish_reason="stop"))
    assert reply["x_groq"] == {"id": "req_1"}


def test_logprobs_content_extended() -> None:
    a = chunk("a")
    a["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": -0.1}]}
    b = chunk("b")
    b["choices"][0]["logprobs"] = {"content": [{"token": "b", "logprob": -0.2}]}
    logprobs = fold(a, b)["choices"][0]["logprobs"]
    assert [item["token"] for item in logprobs["content"]] == ["a", "b"]


def test_completeness_needs_every_choice_finished() -> None:
    acc = ChunkAccumulator()
    assert not acc.is_complete()
    acc.add(chunk("a", index=0))
    acc.add(chunk("b", index=1))
    acc.add(chunk(index=0, finish_reason="stop"))
    assert not acc.is_complete()
    acc.add(chunk(index=1, finish_reason="stop"))
    assert acc.is_complete()


def test_has_output_only_after_real_content() -> None:
    acc = ChunkAccumulator()
    acc.add(chunk("", role="assistant"))
    assert not acc.has_output
    acc.add(chunk("x"))
    assert acc.has_output
    assert acc.text(0) == "x"
    assert acc.text(5) == ""


def test_error_finish_reason_flagged() -> None:
    acc = ChunkAccumulator()
    acc.add(chunk(finish_reason="error"))
    assert acc.errored


def test_no_content_gives_null_content() -> None:
    reply = fold(tool_delta(index=0, id="c", function={"name": "f", "arguments": "{}"}))
    assert reply["choices"][0]["message"]["content"] is None
