"""The typed events ``stream.events()`` yields: small frozen records, one class per ``type``.

Pure, no I/O. Each event has ``type`` (a string literal, so that ``if event.type == ...``
narrows the union for a type checker) and ``choice``, the index of the answer it belongs to
(``None`` only on :class:`UsageEvent`, which belongs to the whole reply). Events are read-only,
compare by value and print their fields. They are plain slotted classes rather than dataclasses:
a dataclass is generated code, and making a dozen of them would add milliseconds to
``import chatsdk``.

Example::

    async for event in stream.events():
        if event.type == "content.delta":
            print(event.delta, end="")
        elif event.type == "tool_calls.function.arguments.done":
            print(event.name, event.parsed_arguments)
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

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


class _Event:
    """Read-only fields (the slots), compared and printed by value."""

    __slots__ = ()
    # The fields in the order __init__ takes them (slots are sorted by name).
    _fields: ClassVar[tuple[str, ...]] = ()

    def _set(self, *values: Any) -> None:
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    def __hash__(self) -> int:
        return hash((type(self), *(repr(getattr(self, n)) for n in self._fields)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({fields})"


class ContentDeltaEvent(_Event):
    """A piece of a choice's answer: ``delta`` is the new text, ``snapshot`` all of it so far.

    With ``response_format=``, ``parsed`` is the partial object the text adds up to so far (a
    dict, from jiter's partial mode; ``None`` until there is one); otherwise ``None``.

    Example::

        if event.type == "content.delta":
            print(event.delta, end="", flush=True)
    """

    _fields = ("choice", "delta", "snapshot", "parsed")
    __slots__ = _fields

    type: Literal["content.delta"] = "content.delta"
    choice: int
    delta: str
    snapshot: str
    parsed: Any

    def __init__(self, choice: int, delta: str, snapshot: str, parsed: Any = None) -> None:
        self._set(choice, delta, snapshot, parsed)


class ContentDoneEvent(_Event):
    """A choice's whole answer, once the choice ended.

    With ``response_format=``, ``parsed`` is the validated answer (the pydantic model or the
    decoded JSON; ``None`` on a refusal); otherwise ``None``.

    Example::

        if event.type == "content.done":
            print("answer:", event.content)
    """

    _fields = ("choice", "content", "parsed")
    __slots__ = _fields

    type: Literal["content.done"] = "content.done"
    choice: int
    content: str
    parsed: Any

    def __init__(self, choice: int, content: str, parsed: Any = None) -> None:
        self._set(choice, content, parsed)


class ReasoningDeltaEvent(_Event):
    """A piece of a choice's reasoning (``reasoning_content`` or ``reasoning`` in the chunks).

    Example::

        if event.type == "reasoning.delta":
            print(event.delta, end="", file=sys.stderr)
    """

    _fields = ("choice", "delta", "snapshot")
    __slots__ = _fields

    type: Literal["reasoning.delta"] = "reasoning.delta"
    choice: int
    delta: str
    snapshot: str

    def __init__(self, choice: int, delta: str, snapshot: str) -> None:
        self._set(choice, delta, snapshot)


class ReasoningDoneEvent(_Event):
    """A choice's whole reasoning, once the choice ended.

    Example::

        if event.type == "reasoning.done":
            log.info("thought: %s", event.reasoning)
    """

    _fields = ("choice", "reasoning")
    __slots__ = _fields

    type: Literal["reasoning.done"] = "reasoning.done"
    choice: int
    reasoning: str

    def __init__(self, choice: int, reasoning: str) -> None:
        self._set(choice, reasoning)


class RefusalDeltaEvent(_Event):
    """A piece of a choice's refusal message.

    Example::

        if event.type == "refusal.delta":
            print(event.delta, end="")
    """

    _fields = ("choice", "delta", "snapshot")
    __slots__ = _fields

    type: Literal["refusal.delta"] = "refusal.delta"
    choice: int
    delta: str
    snapshot: str

    def __init__(self, choice: int, delta: str, snapshot: str) -> None:
        self._set(choice, delta, snapshot)


class RefusalDoneEvent(_Event):
    """A choice's whole refusal message, once the choice ended.

    Example::

        if event.type == "refusal.done":
            print("declined:", event.refusal)
    """

    _fields = ("choice", "refusal")
    __slots__ = _fields

    type: Literal["refusal.done"] = "refusal.done"
    choice: int
    refusal: str

    def __init__(self, choice: int, refusal: str) -> None:
        self._set(choice, refusal)


class ToolArgumentsDeltaEvent(_Event):
    """A piece of a tool call's arguments.

    ``index`` is the call's place in the message, ``id`` and ``name`` its id and function (as
    soon as the server sent them), ``arguments_delta`` the new text, ``arguments`` all of it so
    far and ``parsed_arguments`` the partial object it adds up to (``None`` until there is one,
    or without jiter, from the ``structured`` extra).

    Example::

        if event.type == "tool_calls.function.arguments.delta":
            print(event.name, event.parsed_arguments)
    """

    _fields = (
        "choice",
        "index",
        "id",
        "name",
        "arguments_delta",
        "arguments",
        "parsed_arguments",
    )
    __slots__ = _fields

    type: Literal["tool_calls.function.arguments.delta"] = "tool_calls.function.arguments.delta"
    choice: int
    index: int
    id: str | None
    name: str | None
    arguments_delta: str
    arguments: str
    parsed_arguments: Any

    def __init__(
        self,
        choice: int,
        index: int,
        id: str | None,
        name: str | None,
        arguments_delta: str,
        arguments: str,
        parsed_arguments: Any = None,
    ) -> None:
        self._set(choice, index, id, name, arguments_delta, arguments, parsed_arguments)


class ToolArgumentsDoneEvent(_Event):
    """A tool call's whole arguments, once its choice ended: ``parsed_arguments`` is the
    decoded JSON (arguments that are not JSON raise :class:`StreamError` naming the call).

    Example::

        if event.type == "tool_calls.function.arguments.done":
            result = tools[event.name](**event.parsed_arguments)
    """

    _fields = ("choice", "index", "id", "name", "arguments", "parsed_arguments")
    __slots__ = _fields

    type: Literal["tool_calls.function.arguments.done"] = "tool_calls.function.arguments.done"
    choice: int
    index: int
    id: str | None
    name: str | None
    arguments: str
    parsed_arguments: Any

    def __init__(
        self,
        choice: int,
        index: int,
        id: str | None,
        name: str | None,
        arguments: str,
        parsed_arguments: Any,
    ) -> None:
        self._set(choice, index, id, name, arguments, parsed_arguments)


class ChoiceDoneEvent(_Event):
    """A choice ended: ``finish_reason`` says why (``"stop"``, ``"length"``, ``"tool_calls"``).

    It comes after the choice's other ``*.done`` events.

    Example::

        if event.type == "choice.done" and event.finish_reason == "length":
            print("[cut short]")
    """

    _fields = ("choice", "finish_reason")
    __slots__ = _fields

    type: Literal["choice.done"] = "choice.done"
    choice: int
    finish_reason: str

    def __init__(self, choice: int, finish_reason: str) -> None:
        self._set(choice, finish_reason)


class UsageEvent(_Event):
    """The token counts of the whole reply (sent when ``stream_options={"include_usage":
    True}`` asked for them); ``choice`` is ``None``.

    Example::

        if event.type == "usage":
            print(event.usage.total_tokens, "tokens")
    """

    _fields = ("usage", "choice")
    __slots__ = _fields

    type: Literal["usage"] = "usage"
    usage: CompletionUsage
    choice: None

    def __init__(self, usage: CompletionUsage, choice: None = None) -> None:
        self._set(usage, choice)


class ToolResultEvent(_Event):
    """What a tool returned in ``stream_tools()``, as the text sent back to the model.

    ``id`` and ``name`` are those of the call; ``is_error`` is true when the tool raised, was
    unknown or got arguments that did not validate (``result`` then says so).

    Example::

        if event.type == "tool.result":
            print(f"{event.name} -> {event.result}")
    """

    _fields = ("choice", "id", "name", "result", "is_error")
    __slots__ = _fields

    type: Literal["tool.result"] = "tool.result"
    choice: int
    id: str
    name: str
    result: str
    is_error: bool

    def __init__(
        self, choice: int, id: str, name: str, result: str, is_error: bool = False
    ) -> None:
        self._set(choice, id, name, result, is_error)


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
