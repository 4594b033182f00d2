"""Typed, read-only views over the JSON the server sends.

A model wraps the decoded JSON object and builds nothing until a field is read, so a chunk whose
fields are never looked at costs no more than its ``json.loads``. Every field the server sent is
kept: the typed properties cover the API's own fields, and any other field (``x_groq``,
``delta.reasoning_content`` from a new provider, ...) is reachable by attribute at run time, by
``model["name"]`` or ``model.get("name")``, and in :meth:`Model.to_dict`.

Example::

    reply = await client.chat.completions.create(model="m", messages=messages)
    reply.choices[0].message.content
    reply.usage.total_tokens if reply.usage else None
    reply.to_dict()                       # JSON-ready, unknown fields included
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._messages import assistant_param
from ._view import Model, wrap

if TYPE_CHECKING:
    from ._messages import AssistantMessageParam

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "CompletionUsage",
    "FunctionCall",
    "ResponseInfo",
    "ToolCall",
]


class FunctionCall(Model):
    """The function a tool call names, and its JSON arguments as text.

    Example::

        function = call.function                # call: a ToolCall
        if function is not None and function.name == "get_weather":
            arguments = json.loads(function.arguments or "{}")
    """

    __slots__ = ()

    @property
    def name(self) -> str | None:
        """The function's name; in a stream, sent on the first piece of the call."""
        return self._data.get("name")

    @property
    def arguments(self) -> str | None:
        """The arguments as JSON text, exactly as the model wrote it (it may not parse)."""
        return self._data.get("arguments")


class ToolCall(Model):
    """A tool call of a message; in a delta, a piece of one (``index`` says which).

    Example::

        message = reply.choices[0].message
        for call in message.tool_calls or []:
            if call.function is not None:
                print(call.id, call.function.name, call.function.arguments)
    """

    __slots__ = ()

    @property
    def index(self) -> int | None:
        """Which call of the message a streamed piece belongs to (pieces share an index)."""
        return self._data.get("index")

    @property
    def id(self) -> str | None:
        """The call's id, to quote as ``tool_call_id`` in the ``tool`` message that answers it."""
        return self._data.get("id")

    @property
    def type(self) -> str | None:
        """The kind of tool: ``"function"``."""
        return self._data.get("type")

    @property
    def function(self) -> FunctionCall | None:
        """The function to call and its arguments."""
        function = self._data.get("function")
        return None if function is None else FunctionCall(function)


def _tool_calls(data: dict[str, Any]) -> list[ToolCall] | None:
    calls = data.get("tool_calls")
    if calls is None:
        return None
    return [ToolCall(call) for call in calls]


class _MessageFields(Model):
    __slots__ = ()

    @property
    def role(self) -> str | None:
        """``"assistant"`` on a reply; in a stream, usually only on the first chunk."""
        return self._data.get("role")

    @property
    def content(self) -> str | None:
        """The answer's text (in a delta, the piece it adds); ``None`` with tool calls only."""
        return self._data.get("content")

    @property
    def reasoning_content(self) -> str | None:
        """Reasoning text, as DeepSeek, Qwen and others send it (``reasoning`` elsewhere)."""
        return self._data.get("reasoning_content")

    @property
    def reasoning(self) -> str | None:
        """Reasoning text, as OpenRouter, Groq and vLLM send it."""
        return self._data.get("reasoning")

    @property
    def refusal(self) -> str | None:
        """The model's refusal message, when it declined to answer."""
        return self._data.get("refusal")

    @property
    def tool_calls(self) -> list[ToolCall] | None:
        """The tool calls the model asks for (pieces of them in a delta), or ``None``."""
        return _tool_calls(self._data)


class ChatCompletionMessage(_MessageFields):
    """The message of a choice in a reply (buffered, or a stream's ``final()``).

    It goes back into ``messages=`` as it is, to continue the conversation: it is sent as
    :meth:`to_param`.

    Example::

        message = reply.choices[0].message
        messages.append(message)
        if message.reasoning_content:
            print("thought:", message.reasoning_content)
    """

    __slots__ = ()

    def to_param(self) -> AssistantMessageParam:
        """The message as the API takes it back: an assistant message param (a new dict).

        ``role``, ``content`` as received (``None`` with tool calls only), ``tool_calls``
        without a stream's ``index``, and ``refusal``, ``name``, ``function_call`` and
        ``audio`` (its ``id``) only when the reply has them. Reasoning text and
        ``annotations`` are not request fields and are left out.

        Example::

            messages.append(reply.choices[0].message.to_param())
            # {"role": "assistant", "content": "Paris."}
        """
        param: AssistantMessageParam = assistant_param(self._data)  # type: ignore[assignment]
        return param


class ChoiceDelta(_MessageFields):
    """What one chunk adds to a choice: a piece of content, the role, tool-call pieces.

    Example::

        async for chunk in stream:
            for choice in chunk.choices:
                delta = choice.delta
                if delta.reasoning_content:
                    print(delta.reasoning_content, end="")
                if delta.content:
                    print(delta.content, end="")
    """

    __slots__ = ()


class _ChoiceFields(Model):
    __slots__ = ()

    @property
    def index(self) -> int:
        """Which of the ``n`` answers this is (0 when the server did not say)."""
        index: int = self._data.get("index", 0)
        return index

    @property
    def finish_reason(self) -> str | None:
        """Why the answer ended: ``"stop"``, ``"length"``, ``"tool_calls"``, ...

        In a stream, ``None`` until the choice's last chunk.
        """
        return self._data.get("finish_reason")

    @property
    def logprobs(self) -> Any:
        """Token log probabilities (a model) when ``logprobs=True`` was asked for, else ``None``."""
        return wrap(self._data.get("logprobs"))


class Choice(_ChoiceFields):
    """One answer of a buffered reply.

    Example::

        reply = await client.chat.completions.create(model="m", messages=messages, n=2)
        for choice in reply.choices:
            print(choice.index, choice.finish_reason, choice.message.content)
    """

    __slots__ = ()

    @property
    def message(self) -> ChatCompletionMessage:
        """The answer: its content, reasoning and tool calls."""
        return ChatCompletionMessage(self._data.get("message") or {})


class ChunkChoice(_ChoiceFields):
    """One choice's part of a stream chunk.

    Example::

        async for chunk in stream:
            for choice in chunk.choices:
                if choice.finish_reason is not None:
                    print("choice", choice.index, "ended:", choice.finish_reason)
    """

    __slots__ = ()

    @property
    def delta(self) -> ChoiceDelta:
        """What this chunk adds to the choice."""
        return ChoiceDelta(self._data.get("delta") or {})


class CompletionUsage(Model):
    """Token counts; details such as ``prompt_tokens_details`` are reachable as fields.

    Example::

        if reply.usage is not None:
            print(reply.usage.prompt_tokens, "in,", reply.usage.completion_tokens, "out")
    """

    __slots__ = ()

    @property
    def prompt_tokens(self) -> int:
        """Tokens in the request's messages (0 when the server did not say)."""
        value: int = self._data.get("prompt_tokens", 0)
        return value

    @property
    def completion_tokens(self) -> int:
        """Tokens the model generated, over every choice (0 when the server did not say)."""
        value: int = self._data.get("completion_tokens", 0)
        return value

    @property
    def total_tokens(self) -> int:
        """Prompt and completion tokens together (0 when the server did not say)."""
        value: int = self._data.get("total_tokens", 0)
        return value


class _ReplyFields(Model):
    __slots__ = ()

    @property
    def id(self) -> str:
        """The reply's id ("" when the server sent none); every chunk of a stream shares it."""
        value: str = self._data.get("id", "")
        return value

    @property
    def object(self) -> str:
        """``"chat.completion"``, or ``"chat.completion.chunk"`` for a stream chunk."""
        value: str = self._data.get("object", "")
        return value

    @property
    def created(self) -> int:
        """When the reply was created, in Unix seconds (0 when the server did not say)."""
        value: int = self._data.get("created", 0)
        return value

    @property
    def model(self) -> str:
        """The model that answered, as the server names it (often more exact than asked)."""
        value: str = self._data.get("model", "")
        return value

    @property
    def system_fingerprint(self) -> str | None:
        """The server's configuration fingerprint, when it sends one."""
        return self._data.get("system_fingerprint")

    @property
    def usage(self) -> CompletionUsage | None:
        """Token counts, when the server sent them (a stream: on its last chunk, when asked to
        with ``stream_options={"include_usage": True}``)."""
        usage = self._data.get("usage")
        return None if usage is None else CompletionUsage(usage)


class ResponseInfo(Model):
    """The HTTP reply behind a result: ``request_id``, ``attempts``, ``headers``, ``duration``.

    Not part of the JSON: ``to_dict()`` and ``==`` leave them out.

    Example::

        reply = await client.chat.completions.create(model="m", messages=messages)
        print(reply.request_id, reply.attempts, reply.headers.get("x-ratelimit-remaining-tokens"))
    """

    __slots__ = ("attempts", "duration", "headers", "request_id")

    def __init__(
        self,
        data: dict[str, Any],
        *,
        request_id: str | None = None,
        attempts: int = 0,
        headers: Mapping[str, str] | None = None,
        duration: float | None = None,
    ) -> None:
        self._data = data
        #: The server's ``x-request-id`` (quote it in a support request), or ``None``.
        self.request_id = request_id
        #: How many times the request was sent to get this (1 when not retried; 0 when the
        #: object was made by hand).
        self.attempts = attempts
        #: The HTTP reply's headers (``httpx.Headers``: names in any case).
        self.headers: Mapping[str, str] = {} if headers is None else headers
        #: Seconds from sending the request, retries included, to the reply read whole (a stream's
        #: ``final()``: to its end, see ``stream.metrics``); ``None`` for one made by hand.
        self.duration = duration


class ChatCompletion(_ReplyFields, ResponseInfo):
    """A whole reply: ``choices[i].message``, ``usage``, the reply's metadata, and the HTTP
    reply's ``request_id``, ``attempts``, ``headers`` and ``duration``.

    Example::

        reply = await client.chat.completions.create(model="m", messages=messages)
        print(reply.choices[0].message.content, reply.choices[0].finish_reason)
        print(reply.request_id, reply.attempts, f"{reply.duration:.2f} s")
    """

    __slots__ = ()

    @property
    def choices(self) -> list[Choice]:
        """The answers, one per ``n`` (one by default)."""
        return list(map(Choice, self._data.get("choices") or ()))


class ChatCompletionChunk(_ReplyFields):
    """One event of a stream: ``choices[i].delta`` holds what it adds.

    ``choices`` is empty on the usage chunk some servers send last.

    Example::

        async for chunk in stream:
            for choice in chunk.choices:
                print(choice.index, choice.delta.content)
    """

    __slots__ = ("_choices",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._choices: list[ChunkChoice] | None = None

    @property
    def choices(self) -> list[ChunkChoice]:
        """What this chunk adds to each choice; empty on a usage-only chunk."""
        # Built once: stream loops read chunk.choices several times per chunk.
        choices = self._choices
        if choices is None:
            choices = self._choices = list(map(ChunkChoice, self._data.get("choices") or ()))
        return choices
