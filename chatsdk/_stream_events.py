"""Stream chunks in, typed events out: the fold behind ``stream.events()``. Pure, no I/O.

An :class:`EventBuilder` is fed each decoded chunk (already checked by the stream's accumulator)
and returns the events it brings, in order, choice by choice: deltas as they come, then when a
choice's ``finish_reason`` arrives its ``*.done`` events (content, reasoning, refusal, each tool
call by index) and ``choice.done``. :meth:`EventBuilder.end` closes choices the stream left
without a ``finish_reason`` (their ``*.done`` events, no ``choice.done``).

Example::

    builder = EventBuilder(None)
    builder.add({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})
    # [ContentDeltaEvent(choice=0, delta='Hi', snapshot='Hi', parsed=None)]
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from . import _json
from ._event_types import (
    ChoiceDoneEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    StreamEvent,
    ToolArgumentsDeltaEvent,
    ToolArgumentsDoneEvent,
    UsageEvent,
)
from ._exceptions import StreamError
from ._models import CompletionUsage
from ._structured import OutputFormat, partial_json

__all__ = ["EventBuilder", "events", "parse_arguments"]


def parse_arguments(arguments: str, index: int, call_id: str | None, name: str | None) -> Any:
    """A tool call's arguments decoded (empty text is ``{}``); :class:`StreamError` naming the
    call when they are not JSON."""
    if not arguments.strip():
        return {}
    try:
        return _json.loads(arguments)
    except ValueError as exc:
        raise StreamError(
            f"The arguments of tool call {index} ({name or 'no name'}, id "
            f"{call_id or 'none'}) are not valid JSON: {exc}: {_json.quote(arguments)}",
            type="invalid_tool_arguments",
            code="invalid_tool_arguments",
            param=name,
            body=arguments,
        ) from exc


class _Call:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments = ""


class _Choice:
    __slots__ = ("calls", "content", "done", "reasoning", "refusal")

    def __init__(self) -> None:
        self.content: str | None = None
        self.reasoning: str | None = None
        self.refusal: str | None = None
        self.calls: dict[int, _Call] = {}
        self.done = False


class EventBuilder:
    """Turns decoded chunks into :data:`StreamEvent` objects; ``fmt`` parses the content."""

    __slots__ = ("_choices", "_format")

    def __init__(self, fmt: OutputFormat | None) -> None:
        self._format = fmt
        self._choices: dict[int, _Choice] = {}

    def add(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """The events one chunk brings, in order."""
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice()
            delta = choice.get("delta")
            if delta and not state.done:
                self._delta(index, state, delta, events)
            finish_reason = choice.get("finish_reason")
            if finish_reason is not None and not state.done:
                self._finish(index, state, events, finish_reason)
                events.append(ChoiceDoneEvent(index, finish_reason))
        usage = chunk.get("usage")
        if usage:
            events.append(UsageEvent(CompletionUsage(usage)))
        return events

    def end(self) -> list[StreamEvent]:
        """The ``*.done`` events of choices that never got a ``finish_reason``."""
        events: list[StreamEvent] = []
        for index, state in self._choices.items():
            if not state.done:
                self._finish(index, state, events, None)
        return events

    def _delta(
        self, index: int, state: _Choice, delta: dict[str, Any], events: list[StreamEvent]
    ) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            state.reasoning = (state.reasoning or "") + reasoning
            events.append(ReasoningDeltaEvent(index, reasoning, state.reasoning))
        content = delta.get("content")
        if content and isinstance(content, str):
            # Empty pieces (the role chunk's "") bring no event; a reply of tool calls only
            # has no content.done.
            state.content = (state.content or "") + content
            parsed = partial_json(state.content) if self._format is not None else None
            events.append(ContentDeltaEvent(index, content, state.content, parsed))
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            state.refusal = (state.refusal or "") + refusal
            events.append(RefusalDeltaEvent(index, refusal, state.refusal))
        for piece in delta.get("tool_calls") or ():
            if isinstance(piece, dict):
                self._tool_piece(index, state, piece, events)

    def _tool_piece(
        self, index: int, state: _Choice, piece: dict[str, Any], events: list[StreamEvent]
    ) -> None:
        calls = state.calls
        position = piece.get("index")
        if type(position) is not int or position < 0:
            # As the accumulator reads it: by id, else the latest call, else a new one.
            call_id = piece.get("id")
            found = [i for i, c in calls.items() if call_id and c.id == call_id]
            if found:
                position = found[0]
            elif call_id:
                position = max(calls) + 1 if calls else 0
            else:
                position = next(reversed(calls)) if calls else 0
        call = calls.get(position)
        if call is None:
            call = calls[position] = _Call()
        if piece.get("id") and call.id is None:
            call.id = str(piece["id"])
        function = piece.get("function")
        if not isinstance(function, dict):
            return
        if function.get("name") and call.name is None:
            call.name = str(function["name"])
        pieces = function.get("arguments")
        if pieces:
            pieces = pieces if isinstance(pieces, str) else str(pieces)
            call.arguments += pieces
            events.append(
                ToolArgumentsDeltaEvent(
                    index,
                    position,
                    call.id,
                    call.name,
                    pieces,
                    call.arguments,
                    partial_json(call.arguments),
                )
            )

    def _finish(
        self, index: int, state: _Choice, events: list[StreamEvent], finish_reason: str | None
    ) -> None:
        state.done = True
        if state.content is not None:
            parsed = None
            if self._format is not None:
                parsed = self._format.parse(state.content, finish_reason, state.refusal)
            events.append(ContentDoneEvent(index, state.content, parsed))
        if state.reasoning is not None:
            events.append(ReasoningDoneEvent(index, state.reasoning))
        if state.refusal is not None:
            events.append(RefusalDoneEvent(index, state.refusal))
        for position in sorted(state.calls):
            call = state.calls[position]
            parsed = parse_arguments(call.arguments, position, call.id, call.name)
            events.append(
                ToolArgumentsDoneEvent(index, position, call.id, call.name, call.arguments, parsed)
            )


async def events(
    next_payload: Callable[[], Awaitable[dict[str, Any] | None]], fmt: OutputFormat | None
) -> AsyncGenerator[StreamEvent, None]:
    """``stream.events()``: the events of each chunk ``next_payload`` gives, until ``None``."""
    builder = EventBuilder(fmt)
    while (payload := await next_payload()) is not None:
        for event in builder.add(payload):
            yield event
    for event in builder.end():
        yield event
