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
from ._streaming import AsyncChatStream
from ._telemetry import start_chat

if TYPE_CHECKING:
    from typing_extensions import Unpack

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
        **params: Unpack[CreateParams],
    ) -> ChatCompletion | AsyncChatStream:
        """Ask for a chat completion: a whole :class:`ChatCompletion`, or with ``stream=True``
        an :class:`AsyncChatStream` of chunks.

        Body parameters are those of the API (``temperature``, ``top_p``, ``n``, ``stop``,
        ``max_tokens``, ``max_completion_tokens``, ``presence_penalty``,
        ``frequency_penalty``, ``logit_bias``, ``user``, ``stream_options``, ``tools``,
        ``tool_choice``, ``response_format``, ``seed``, ``logprobs``, ``top_logprobs``,
        ``parallel_tool_calls``, ``reasoning_effort``, ...). A parameter left out is not sent;
        ``None`` is sent as ``null`` where the API accepts it. Request options:

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
        body_params, options = split_options(params)
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
                return AsyncChatStream(call, await call.send())
            return await _read_completion(call)
        token = trace.activate()
        try:
            if stream:
                return AsyncChatStream(call, await call.send())
            reply = await _read_completion(call)
        except BaseException as exc:
            trace.fail(exc, call.attempts)
            raise
        finally:
            trace.deactivate(token)
        trace.succeed(reply._data, call.attempts)
        return reply


async def _read_completion(call: Call) -> ChatCompletion:
    """Send ``call`` and read its reply whole, as a :class:`ChatCompletion` that knows its
    request id, attempts and headers."""
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
    headers = response.headers
    return ChatCompletion(
        payload, request_id=headers.get("x-request-id"), attempts=call.attempts, headers=headers
    )


class Chat:
    """``client.chat``: holds ``completions``.

    Example::

        client.chat.completions.create(model="m", messages=messages)
    """

    def __init__(self, start: StartCall) -> None:
        self.completions = Completions(start)
