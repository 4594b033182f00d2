"""``client.chat.completions``: build a chat completion request, hand it to a call, wrap the reply.

A resource holds only the function that starts a :class:`~chatsdk._call.Call` (the client's), so it
never imports the client back. A new endpoint is a module like this one.

Example::

    reply = await client.chat.completions.create(model="m", messages=messages)
    stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from ._call import Call
from ._events import decode_completion, make_status_error
from ._exceptions import APIError
from ._models import ChatCompletion
from ._options import check_json
from ._params import CreateParams, MessageParam, build_body, split_options
from ._parsed import ParsedChatCompletion, ParsedT, parse_completion
from ._parsed_stream import AsyncParsedChatStream, open_stream
from ._streaming import AsyncChatStream
from ._structured import with_output_format
from ._telemetry import start_chat

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._tool_runner import ToolRunCompletion, ToolRunStream
    from ._tools import FunctionTool

__all__ = ["Chat", "Completions", "StartCall"]

StartCall = Callable[[str, str, "dict[str, Any] | None", "dict[str, Any]", bool], Call]
"""``start(method, path, json_body, options, stream)``: a call ready to send."""


class Completions:
    """``client.chat.completions``: the chat completion endpoint.

    Example::

        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    """

    def __init__(self, start: StartCall) -> None:
        self._start = start

    # response_format= a pydantic model class: parsed is typed as the model. CreateParams has a
    # response_format too (mappings); mypy flags the shared name, and callers are checked
    # against this signature all the same.
    @overload
    async def create(  # type: ignore[misc]
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        response_format: type[ParsedT],
        stream: Literal[False] = False,
        **params: Unpack[CreateParams],
    ) -> ParsedChatCompletion[ParsedT]: ...

    @overload
    async def create(  # type: ignore[misc]
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        response_format: type[ParsedT],
        stream: Literal[True],
        **params: Unpack[CreateParams],
    ) -> AsyncParsedChatStream[ParsedT]: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        stream: Literal[False] = False,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        stream: Literal[True],
        **params: Unpack[CreateParams],
    ) -> AsyncChatStream: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        stream: bool,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion | AsyncChatStream: ...

    async def create(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        stream: bool = False,
        **params: Any,  # CreateParams, or a model class as response_format (the overloads)
    ) -> ChatCompletion | AsyncChatStream:
        """Ask for a chat completion: a whole :class:`ChatCompletion`, or with ``stream=True``
        an :class:`AsyncChatStream` of chunks.

        Body parameters are those of the API (``temperature``, ``top_p``, ``n``, ``stop``,
        ``max_tokens``, ``max_completion_tokens``, ``presence_penalty``,
        ``frequency_penalty``, ``logit_bias``, ``user``, ``stream_options``, ``tools``,
        ``tool_choice``, ``response_format``, ``seed``, ``logprobs``, ``top_logprobs``,
        ``parallel_tool_calls``, ``reasoning_effort``, ...). A parameter left out is not sent;
        ``None`` is sent as ``null`` where the API accepts it. ``response_format`` may be a
        pydantic model class: its strict JSON schema is sent and the reply is a
        :class:`ParsedChatCompletion` whose ``message.parsed`` is an instance (see
        docs/structured-output.md). Request options:

        - ``extra_headers``: headers to add (a ``None`` value removes one);
        - ``extra_query``: query parameters; ``extra_body``: fields merged into the JSON body;
        - ``timeout``: seconds, an ``httpx.Timeout`` or ``None`` (no limit), for this request;
        - ``deadline``: seconds for the whole call, retries and the whole stream included;
        - ``retry``: a :class:`RetryPolicy` for this request; ``max_retries``: overrides the
          number of retries of the client's (or this request's) policy.

        Example::

            reply = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Say hi"}],
                temperature=0,
            )
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        """
        sent, output_format = with_output_format(params)
        body_params, options = split_options(sent)
        extra_body = options.get("extra_body")
        if extra_body:
            check_json(extra_body, "extra_body")
        body = build_body(model, messages, stream, body_params, extra_body)
        call = self._start("POST", "/chat/completions", body, options, stream)
        trace = None
        if call.telemetry:
            trace = call.trace = start_chat(call.request.url, body, call.clock)
        if trace is None:
            if stream:
                return open_stream(call, await call.send(), output_format)
            reply = await _read_completion(call)
        else:
            token = trace.activate()
            try:
                if stream:
                    return open_stream(call, await call.send(), output_format)
                reply = await _read_completion(call)
            except BaseException as exc:
                trace.fail(exc, call.attempts)
                raise
            finally:
                trace.deactivate(token)
            trace.succeed(reply._data, call.attempts)
        if output_format is not None:
            return parse_completion(reply, output_format)
        return reply

    # tools= here are functions, not CreateParams' definitions; mypy flags the shared name, and
    # callers are checked against this signature all the same.
    async def run_tools(  # type: ignore[misc]
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        tools: Iterable[Callable[..., Any] | FunctionTool],
        max_rounds: int = 8,
        **params: Unpack[CreateParams],
    ) -> ToolRunCompletion:
        """Ask, run the tools the model calls, send their results, and repeat until it answers.

        ``tools`` are Python functions (sync or async) or :func:`function_tool` objects; their
        strict definitions are sent as ``tools=``. The calls of one reply run at once; a tool
        that raises, an unknown name or arguments that do not validate go back to the model as
        the tool's result text. Only choice 0 of each reply is followed. Returns the last reply
        with ``messages`` (the whole conversation) and ``rounds``; after ``max_rounds``
        requests that all called tools, raises :class:`ToolRoundsError` (its ``messages`` hold
        the conversation, the last round's tools run). Other parameters are ``create()``'s;
        ``stream`` and ``tools`` are set here. Cancelling the call cancels running tools.
        docs/tools.md has the details.

        Example::

            def get_weather(city: str) -> dict[str, object]:
                '''The current weather in a city.'''
                return {"city": city, "sky": "sunny"}

            run = await client.chat.completions.run_tools(
                model="m", messages=messages, tools=[get_weather]
            )
            print(run.choices[0].message.content)
        """
        from ._tool_runner import run_tools

        return await run_tools(
            self.create,
            model=model,
            messages=messages,
            tools=tools,
            max_rounds=max_rounds,
            params=dict(params),
        )

    def stream_tools(  # type: ignore[misc]
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        tools: Iterable[Callable[..., Any] | FunctionTool],
        max_rounds: int = 8,
        **params: Unpack[CreateParams],
    ) -> ToolRunStream:
        """``run_tools()`` streamed: the typed events of every round's stream, and a
        ``tool.result`` event for each tool call run between rounds.

        Use it in ``async with``; afterwards ``completion`` and ``messages`` hold the last reply
        and the conversation. Bad arguments raise here, before any request.

        Example::

            async with client.chat.completions.stream_tools(
                model="m", messages=messages, tools=[get_weather]
            ) as run:
                async for event in run:
                    if event.type == "content.delta":
                        print(event.delta, end="", flush=True)
        """
        from ._tool_runner import stream_tools

        return stream_tools(
            self.create,
            model=model,
            messages=messages,
            tools=tools,
            max_rounds=max_rounds,
            params=dict(params),
        )


async def _read_completion(call: Call) -> ChatCompletion:
    """Send ``call`` and read its reply whole, as a :class:`ChatCompletion` that knows its
    request id, attempts, headers and duration."""
    response, content = await call.read_whole()
    try:
        payload = decode_completion(content, response.status_code)
    except APIError as exc:
        exc.request_id = response.headers.get("x-request-id")
        raise call.seal(exc) from None
    if payload is None:
        error = make_status_error(
            response.status_code, response.reason_phrase, response.headers, content
        )
        if error.message.startswith(f"{response.status_code} "):
            error.message = (
                f"The server answered {response.status_code} but not with a chat "
                f"completion: {error.message}"
            )
        raise call.seal(error)
    call.finish(payload.get("usage"))  # under a rate limit, the token estimate corrected
    headers = response.headers
    return ChatCompletion(
        payload,
        request_id=headers.get("x-request-id"),
        attempts=call.attempts,
        headers=headers,
        duration=call.clock() - call.started_at,
    )


class Chat:
    """``client.chat``: holds ``completions``.

    Example::

        client.chat.completions.create(model="m", messages=messages)
    """

    def __init__(self, start: StartCall) -> None:
        self.completions = Completions(start)
