"""The typed events ``stream.events()`` yields: small frozen records, one class per ``type``.

Pure, no I/O. Each event has ``type`` (a string literal, so that ``if event.type == ...``
narrows the union for a type checker) and ``choice``, the index of the answer it belongs to
(``None`` only on :class:`UsageEvent`, which belongs to the whole reply).

Example::

    async for event in stream.events():
        if event.type == "content.delta":
            print(event.delta, end="")
        elif event.type == "tool_calls.function.arguments.done":
            print(event.name, event.parsed_arguments)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ._models import CompletionUsage

__all__ = [
    "ChoiceDoneEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "ReasoningDeltaEvent",
    "ReasoningDoneEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "StreamEvent",
    "ToolArgumentsDeltaEvent",
    "ToolArgumentsDoneEvent",
    "ToolResultEvent",
    "UsageEvent",
]


@dataclass(frozen=True, slots=True)
class ContentDeltaEvent:
    """A piece of a choice's answer: ``delta`` is the new text, ``snapshot`` all of it so far.

    With ``response_format=``, ``parsed`` is the partial object the text adds up to so far (a
    dict, from jiter's partial mode; ``None`` until there is one); otherwise ``None``.

    Example::

        if event.type == "content.delta":
            print(event.delta, end="", flush=True)
    """

    choice: int
    delta: str
    snapshot: str
    parsed: Any = None
    type: Literal["content.delta"] = field(default="content.delta", init=False)


@dataclass(frozen=True, slots=True)
class ContentDoneEvent:
    """A choice's whole answer, once the choice ended.

    With ``response_format=``, ``parsed`` is the validated answer (the pydantic model or the
    decoded JSON; ``None`` on a refusal); otherwise ``None``.

    Example::

        if event.type == "content.done":
            print("answer:", event.content)
    """

    choice: int
    content: str
    parsed: Any = None
    type: Literal["content.done"] = field(default="content.done", init=False)


@dataclass(frozen=True, slots=True)
class ReasoningDeltaEvent:
    """A piece of a choice's reasoning (``reasoning_content`` or ``reasoning`` in the chunks).

    Example::

        if event.type == "reasoning.delta":
            print(event.delta, end="", file=sys.stderr)
    """

    choice: int
    delta: str
    snapshot: str
    type: Literal["reasoning.delta"] = field(default="reasoning.delta", init=False)


@dataclass(frozen=True, slots=True)
class ReasoningDoneEvent:
    """A choice's whole reasoning, once the choice ended.

    Example::

        if event.type == "reasoning.done":
            log.info("thought: %s", event.reasoning)
    """

    choice: int
    reasoning: str
    type: Literal["reasoning.done"] = field(default="reasoning.done", init=False)


@dataclass(frozen=True, slots=True)
class RefusalDeltaEvent:
    """A piece of a choice's refusal message.

    Example::

        if event.type == "refusal.delta":
            print(event.delta, end="")
    """

    choice: int
    delta: str
    snapshot: str
    type: Literal["refusal.delta"] = field(default="refusal.delta", init=False)


@dataclass(frozen=True, slots=True)
class RefusalDoneEvent:
    """A choice's whole refusal message, once the choice ended.

    Example::

        if event.type == "refusal.done":
            print("declined:", event.refusal)
    """

    choice: int
    refusal: str
    type: Literal["refusal.done"] = field(default="refusal.done", init=False)


@dataclass(frozen=True, slots=True)
class ToolArgumentsDeltaEvent:
    """A piece of a tool call's arguments.

    ``index`` is the call's place in the message, ``id`` and ``name`` its id and function (as
    soon as the server sent them), ``arguments_delta`` the new text, ``arguments`` all of it so
    far and ``parsed_arguments`` the partial object it adds up to (``None`` until there is one,
    or without jiter, from the ``structured`` extra).

    Example::

        if event.type == "tool_calls.function.arguments.delta":
            print(event.name, event.parsed_arguments)
    """

    choice: int
    index: int
    id: str | None
    name: str | None
    arguments_delta: str
    arguments: str
    parsed_arguments: Any = None
    type: Literal["tool_calls.function.arguments.delta"] = field(
        default="tool_calls.function.arguments.delta", init=False
    )


@dataclass(frozen=True, slots=True)
class ToolArgumentsDoneEvent:
    """A tool call's whole arguments, once its choice ended: ``parsed_arguments`` is the
    decoded JSON (arguments that are not JSON raise :class:`StreamError` naming the call).

    Example::

        if event.type == "tool_calls.function.arguments.done":
            result = tools[event.name](**event.parsed_arguments)
    """

    choice: int
    index: int
    id: str | None
    name: str | None
    arguments: str
    parsed_arguments: Any
    type: Literal["tool_calls.function.arguments.done"] = field(
        default="tool_calls.function.arguments.done", init=False
    )


@dataclass(frozen=True, slots=True)
class ChoiceDoneEvent:
    """A choice ended: ``finish_reason`` says why (``"stop"``, ``"length"``, ``"tool_calls"``).

    It comes after the choice's other ``*.done`` events.

    Example::

        if event.type == "choice.done" and event.finish_reason == "length":
            print("[cut short]")
    """

    choice: int
    finish_reason: str
    type: Literal["choice.done"] = field(default="choice.done", init=False)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """The token counts of the whole reply (sent when ``stream_options={"include_usage":
    True}`` asked for them); ``choice`` is ``None``.

    Example::

        if event.type == "usage":
            print(event.usage.total_tokens, "tokens")
    """

    usage: CompletionUsage
    choice: None = None
    type: Literal["usage"] = field(default="usage", init=False)


@dataclass(frozen=True, slots=True)
class ToolResultEvent:
    """What a tool returned in ``stream_tools()``, as the text sent back to the model.

    ``id`` and ``name`` are those of the call; ``is_error`` is true when the tool raised, was
    unknown or got arguments that did not validate (``result`` then says so).

    Example::

        if event.type == "tool.result":
            print(f"{event.name} -> {event.result}")
    """

    choice: int
    id: str
    name: str
    result: str
    is_error: bool = False
    type: Literal["tool.result"] = field(default="tool.result", init=False)


StreamEvent = (
    ContentDeltaEvent
    | ContentDoneEvent
    | ReasoningDeltaEvent
    | ReasoningDoneEvent
    | RefusalDeltaEvent
    | RefusalDoneEvent
    | ToolArgumentsDeltaEvent
    | ToolArgumentsDoneEvent
    | ChoiceDoneEvent
    | UsageEvent
)
"""Any event ``stream.events()`` yields; compare ``event.type`` to narrow it.

Example::

    async def show(events: AsyncIterator[chatsdk.StreamEvent]) -> None:
        async for event in events:
            if event.type == "content.delta":
                print(event.delta, end="")
"""
