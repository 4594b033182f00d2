"""``run_tools()`` and ``stream_tools()``: ask, run the tools the model calls, answer, repeat.

Each round sends the conversation with the tools' definitions; when the reply (its choice 0)
calls tools, they run (several calls of one turn at once, in an anyio task group; a plain
function in a worker thread, an ``async def`` one on the event loop), their results go back as
``tool`` messages, and the next round asks again. A tool that raises, an unknown name and
arguments that do not validate become the tool's result text, for the model to read; only
cancellation and errors of the API stop the run. Cancelling the run cancels the tools it awaits
(a function running in a worker thread finishes first: threads cannot be interrupted).

Example::

    run = await client.chat.completions.run_tools(
        model="m", messages=messages, tools=[get_weather]
    )
    print(run.choices[0].message.content)
    messages = run.messages                  # the whole conversation, ready to continue
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from ._event_types import StreamEvent, ToolResultEvent
from ._exceptions import APIError, ToolRoundsError
from ._models import ChatCompletion, ChatCompletionMessage, ToolCall
from ._operations import agent_attributes, current, end, start_operation, tool_span
from ._params import MessageParam
from ._tools import FunctionTool, as_tools

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["ToolRunCompletion", "ToolRunStream", "run_tools", "stream_tools"]

Create = Callable[..., Awaitable[Any]]


class ToolRunCompletion(ChatCompletion):
    """The last reply of ``run_tools()`` (the answer, without tool calls), with the whole
    conversation in ``messages`` and the number of requests in ``rounds``.

    Example::

        run = await client.chat.completions.run_tools(model="m", messages=messages, tools=[f])
        print(run.choices[0].message.content, "after", run.rounds, "rounds")
        run.messages.append({"role": "user", "content": "And tomorrow?"})
    """

    __slots__ = ("messages", "rounds")

    def __init__(self, reply: ChatCompletion, messages: list[dict[str, Any]], rounds: int) -> None:
        super().__init__(
            reply._data,
            request_id=reply.request_id,
            attempts=reply.attempts,
            headers=reply.headers,
        )
        self.messages = messages
        """The conversation: the messages given, then each assistant turn and tool result."""
        self.rounds = rounds
        """How many requests the run made."""


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import pydantic_core

    try:
        return pydantic_core.to_json(value).decode()
    except pydantic_core.PydanticSerializationError:
        return str(value)


async def _run_one(tools: dict[str, FunctionTool], call: ToolCall) -> tuple[str, bool]:
    """The result text of one call, and whether it is an error."""
    function = call.function
    name = (function.name if function is not None else None) or ""
    arguments = function.arguments if function is not None else None
    with tool_span(name, call.id, arguments) as traced:
        text, error = await _outcome(tools, name, arguments)
        traced.result(text, error)
    return text, error is not None


async def _outcome(
    tools: dict[str, FunctionTool], name: str, arguments: str | None
) -> tuple[str, BaseException | str | None]:
    """The result text of a call, and what went wrong: the tool's exception, or why it was
    not run (``unknown_tool``, ``invalid_arguments``)."""
    tool = tools.get(name)
    if tool is None:
        return f"Error: there is no tool named {name!r}; the tools are {sorted(tools)}.", (
            "unknown_tool"
        )
    try:
        kwargs = tool.arguments(arguments or "")
    except ValueError as exc:
        return f"Error: the arguments for {name} are not valid: {exc}", "invalid_arguments"
    try:
        if tool.is_async:
            result = await tool.function(**kwargs)
        else:
            result = await anyio.to_thread.run_sync(functools.partial(tool.function, **kwargs))
    except Exception as exc:
        return f"Error: {name} raised {type(exc).__name__}: {exc}", exc
    return _as_text(result), None


async def run_calls(
    tools: dict[str, FunctionTool], calls: list[ToolCall]
) -> list[tuple[str, bool]]:
    """Every call's result, in the calls' order; the calls run at once."""
    results: list[tuple[str, bool]] = [("", False)] * len(calls)

    async def run(position: int, call: ToolCall) -> None:
        results[position] = await _run_one(tools, call)

    async with anyio.create_task_group() as group:
        for position, call in enumerate(calls):
            group.start_soon(run, position, call)
    return results


def _tool_messages(calls: list[ToolCall], results: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": call.id or "", "content": text}
        for call, (text, _) in zip(calls, results, strict=True)
    ]


class _Run:
    """What every round shares: the tools, the conversation, the request's other parameters."""

    def __init__(
        self,
        create: Create,
        model: str,
        messages: Iterable[MessageParam],
        tools: object,
        max_rounds: int,
        params: dict[str, Any],
    ) -> None:
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise ValueError(f"max_rounds must be an integer of at least 1, not {max_rounds!r}.")
        for name in ("stream", "tools"):
            if name in params:
                raise TypeError(f"run_tools() sets {name} itself; leave {name}= out.")
        if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
            raise TypeError("messages must be a list of message mappings.")
        self.tools = as_tools(tools)
        self.definitions = [tool.to_param() for tool in self.tools.values()]
        # A reply's message given back as it is goes in as the param it stands for.
        self.messages = [
            dict(m.to_param()) if isinstance(m, ChatCompletionMessage) else dict(m)
            for m in messages
        ]
        self.create = create
        self.model = model
        self.max_rounds = max_rounds
        self.params = params

    async def ask(self, stream: bool) -> Any:
        extra = {"stream": True} if stream else {}
        return await self.create(
            model=self.model,
            messages=self.messages,
            tools=self.definitions,
            **extra,
            **self.params,
        )

    def calls_of(self, reply: ChatCompletion) -> list[ToolCall]:
        """Record the reply's message; its tool calls (empty: the run is over)."""
        if not reply.choices:
            raise APIError("The server answered with no choices; there is nothing to continue.")
        message = reply.choices[0].message
        self.messages.append(dict(message.to_param()))
        return message.tool_calls or []

    def attributes(self) -> dict[str, Any]:
        """The attributes of the run's span."""
        return agent_attributes(self.model, self.max_rounds, sorted(self.tools))

    def too_many(self, reply: ChatCompletion) -> ToolRoundsError:
        return ToolRoundsError(
            f"The model still calls tools after max_rounds={self.max_rounds} requests; the "
            "conversation so far is in .messages.",
            messages=self.messages,
            completion=reply,
            rounds=self.max_rounds,
        )


async def run_tools(
    create: Create,
    *,
    model: str,
    messages: Iterable[MessageParam],
    tools: object,
    max_rounds: int,
    params: dict[str, Any],
) -> ToolRunCompletion:
    """The loop of ``client.chat.completions.run_tools()``."""
    run = _Run(create, model, messages, tools, max_rounds, params)
    span = start_operation("invoke_agent chatsdk.run_tools", run.attributes())
    rounds = 0
    try:
        with current(span):
            for rounds in range(1, max_rounds + 1):
                reply: ChatCompletion = await run.ask(stream=False)
                calls = run.calls_of(reply)
                if not calls:
                    end(span, None, **{"chatsdk.rounds": rounds})
                    return ToolRunCompletion(reply, run.messages, rounds)
                run.messages += _tool_messages(calls, await run_calls(run.tools, calls))
            raise run.too_many(reply)
    except BaseException as exc:
        end(span, exc, **{"chatsdk.rounds": rounds})
        raise


class ToolRunStream:
    """The events of every round of ``stream_tools()``: each request's stream events, then a
    ``tool.result`` event per tool call it ran.

    Read it in ``async with``; afterwards ``completion`` is the last reply and ``messages`` the
    whole conversation, as on :class:`ToolRunCompletion`. Leaving early closes the open request
    and cancels running tools.

    Example::

        async with client.chat.completions.stream_tools(
            model="m", messages=messages, tools=[get_weather]
        ) as run:
            async for event in run:
                if event.type == "content.delta":
                    print(event.delta, end="")
                elif event.type == "tool.result":
                    print(f"[{event.name}: {event.result}]")
        messages = run.messages
    """

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._events = self._rounds()
        self.completion: ChatCompletion | None = None
        """The last reply, once the run has ended (``None`` before)."""
        self.rounds = 0
        """How many requests the run has made so far."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation so far: the messages given, each assistant turn, each tool result.

        Example::

            messages = run.messages   # after the run, ready to continue the conversation
        """
        return self._run.messages

    def __aiter__(self) -> AsyncGenerator[StreamEvent | ToolResultEvent, None]:
        return self._events

    async def _rounds(self) -> AsyncGenerator[StreamEvent | ToolResultEvent, None]:
        run = self._run
        # Current only around the run's own awaits, never across a yield (see _operations).
        span = start_operation("invoke_agent chatsdk.run_tools", run.attributes())
        error: BaseException | None = None
        try:
            for rounds in range(1, run.max_rounds + 1):
                self.rounds = rounds
                with current(span):
                    stream = await run.ask(stream=True)
                async with stream:
                    async for event in stream.events():
                        yield event
                    reply: ChatCompletion = await stream.final()
                calls = run.calls_of(reply)
                if not calls:
                    self.completion = reply
                    return
                with current(span):
                    results = await run_calls(run.tools, calls)
                run.messages += _tool_messages(calls, results)
                for call, (text, is_error) in zip(calls, results, strict=True):
                    name = call.function.name if call.function is not None else None
                    yield ToolResultEvent(0, call.id or "", name or "", text, is_error)
            self.completion = reply
            raise run.too_many(reply)
        except GeneratorExit:  # closed early by its reader: not an error
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            end(span, error, **{"chatsdk.rounds": self.rounds})

    async def aclose(self) -> None:
        """Stop the run: close its open request; safe to call more than once.

        Example::

            await run.aclose()   # what leaving ``async with`` does
        """
        await self._events.aclose()

    async def __aenter__(self) -> ToolRunStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def stream_tools(
    create: Create,
    *,
    model: str,
    messages: Iterable[MessageParam],
    tools: object,
    max_rounds: int,
    params: dict[str, Any],
) -> ToolRunStream:
    """The streaming loop of ``client.chat.completions.stream_tools()``."""
    return ToolRunStream(_Run(create, model, messages, tools, max_rounds, params))
