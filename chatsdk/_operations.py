"""Spans of what holds calls (a tool loop, a tool's run), once :func:`instrument` is on.

A chat call's span (``_telemetry``) is a child of whatever span is current when it starts. A tool
loop opens one ``invoke_agent`` span and makes it current only around its own awaits (never
across a ``yield``, so that a generator read from several tasks keeps its context straight);
each tool it runs gets an ``execute_tool`` span, as the GenAI conventions name them.

Example::

    operation = start_operation("invoke_agent chatsdk.run_tools", {...})
    with current(operation):
        reply = await create(...)            # its chat span is the operation's child
    end(operation, None)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._telemetry import instruments, mark_failed

__all__ = ["agent_attributes", "current", "end", "start_operation", "tool_span"]


def start_operation(name: str, attributes: dict[str, Any]) -> Any:
    """An INTERNAL span named ``name`` started now (a child of the current span), or ``None``
    when not instrumented."""
    found = instruments()
    if found is None:
        return None
    kind = found.trace.SpanKind.INTERNAL
    return found.tracer.start_span(name, kind=kind, attributes=attributes)


@contextmanager
def current(span: Any) -> Iterator[None]:
    """``span`` is the current span inside the block (nothing happens for ``None``)."""
    found = instruments()
    if span is None or found is None:
        yield
        return
    token = found.context.attach(found.trace.set_span_in_context(span))
    try:
        yield
    finally:
        found.context.detach(token)


def end(span: Any, error: BaseException | None, **attributes: Any) -> None:
    """End ``span`` (``None``: nothing), with ``error`` as its status when there is one."""
    if span is None or not span.is_recording():
        return
    if attributes:
        span.set_attributes(attributes)
    if error is not None:
        mark_failed(span, error)
    span.end()


class _ToolRun:
    """What a tool's span learns while it runs: its result, and whether that is an error."""

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def result(self, text: str, error: BaseException | str | None) -> None:
        found = instruments()
        if self.span is None or found is None:
            return
        if found.capture_content:
            self.span.set_attribute("gen_ai.tool.call.result", text)
        if isinstance(error, BaseException):
            mark_failed(self.span, error)
        elif error is not None:  # refused before it ran: unknown name, invalid arguments
            mark_failed(self.span, error, text)


@contextmanager
def tool_span(name: str, call_id: str | None, arguments: str | None) -> Iterator[_ToolRun]:
    """The ``execute_tool {name}`` span of one tool call, current while the tool runs."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": "function",
    }
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    found = instruments()
    if found is not None and found.capture_content and arguments is not None:
        attributes["gen_ai.tool.call.arguments"] = arguments
    span = start_operation(f"execute_tool {name}", attributes)
    run = _ToolRun(span)
    try:
        with current(span):
            yield run
    except BaseException as exc:
        end(span, exc)
        raise
    end(span, None)


def agent_attributes(model: str, max_rounds: int, tools: list[str]) -> dict[str, Any]:
    """The attributes of a tool loop's ``invoke_agent`` span."""
    return {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "chatsdk.run_tools",
        "gen_ai.request.model": model,
        "chatsdk.max_rounds": max_rounds,
        "chatsdk.tools": tools,
    }
