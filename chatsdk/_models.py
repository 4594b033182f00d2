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

from typing import TYPE_CHECKING, Any

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "CompletionUsage",
    "FunctionCall",
    "Model",
    "ToolCall",
]


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Model(value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


class Model:
    """A read-only view of one JSON object from the API.

    ``model.field`` reads a field (objects come back as models), ``model["field"]`` and
    ``model.get("field")`` read the raw JSON value, and ``to_dict()`` gives a deep copy that
    ``json.dumps`` accepts and that rebuilds an equal model.
    """

    __slots__ = ("_data",)

    _data: dict[str, Any]

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the JSON object, every field the server sent included."""
        result: dict[str, Any] = _copy(self._data)
        return result

    def get(self, key: str, default: Any = None) -> Any:
        """The raw JSON value of ``key``, or ``default`` when the server did not send it."""
        return self._data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Model):
            return type(self) is type(other) and self._data == other._data
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    if not TYPE_CHECKING:
        # At run time any field the server sent is an attribute, so provider extensions are
        # reachable without a new release; type checkers see only the typed properties.
        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            try:
                value = self._data[name]
            except KeyError:
                raise AttributeError(
                    f"{type(self).__name__} has no field {name!r}; the server sent "
                    f"{sorted(self._data)}"
                ) from None
            return _wrap(value)


class FunctionCall(Model):
    """The function a tool call names, and its JSON arguments as text."""

    __slots__ = ()

    @property
    def name(self) -> str | None:
        return self._data.get("name")

    @property
    def arguments(self) -> str | None:
        return self._data.get("arguments")


class ToolCall(Model):
    """A tool call of a message; in a delta, a piece of one (``index`` says which)."""

    __slots__ = ()

    @property
    def index(self) -> int | None:
        return self._data.get("index")

    @property
    def id(self) -> str | None:
        return self._data.get("id")

    @property
    def type(self) -> str | None:
        return self._data.get("type")

    @property
    def function(self) -> FunctionCall | None:
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
        return self._data.get("role")

    @property
    def content(self) -> str | None:
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
        return self._data.get("refusal")

    @property
    def tool_calls(self) -> list[ToolCall] | None:
        return _tool_calls(self._data)


class ChatCompletionMessage(_MessageFields):
    """The message of a choice in a buffered reply."""

    __slots__ = ()


class ChoiceDelta(_MessageFields):
    """What one chunk adds to a choice: a piece of content, the role, tool-call pieces."""

    __slots__ = ()


class _ChoiceFields(Model):
    __slots__ = ()

    @property
    def index(self) -> int:
        index: int = self._data.get("index", 0)
        return index

    @property
    def finish_reason(self) -> str | None:
        return self._data.get("finish_reason")

    @property
    def logprobs(self) -> Any:
        return _wrap(self._data.get("logprobs"))


class Choice(_ChoiceFields):
    """One answer of a buffered reply."""

    __slots__ = ()

    @property
    def message(self) -> ChatCompletionMessage:
        return ChatCompletionMessage(self._data.get("message") or {})


class ChunkChoice(_ChoiceFields):
    """One choice's part of a stream chunk."""

    __slots__ = ()

    @property
    def delta(self) -> ChoiceDelta:
        return ChoiceDelta(self._data.get("delta") or {})


class CompletionUsage(Model):
    """Token counts; details such as ``prompt_tokens_details`` are reachable as fields."""

    __slots__ = ()

    @property
    def prompt_tokens(self) -> int:
        value: int = self._data.get("prompt_tokens", 0)
        return value

    @property
    def completion_tokens(self) -> int:
        value: int = self._data.get("completion_tokens", 0)
        return value

    @property
    def total_tokens(self) -> int:
        value: int = self._data.get("total_tokens", 0)
        return value


class _ReplyFields(Model):
    __slots__ = ()

    @property
    def id(self) -> str:
        value: str = self._data.get("id", "")
        return value

    @property
    def object(self) -> str:
        value: str = self._data.get("object", "")
        return value

    @property
    def created(self) -> int:
        value: int = self._data.get("created", 0)
        return value

    @property
    def model(self) -> str:
        value: str = self._data.get("model", "")
        return value

    @property
    def system_fingerprint(self) -> str | None:
        return self._data.get("system_fingerprint")

    @property
    def usage(self) -> CompletionUsage | None:
        usage = self._data.get("usage")
        return None if usage is None else CompletionUsage(usage)


class ChatCompletion(_ReplyFields):
    """A whole reply: ``choices[i].message``, ``usage``, and the reply's metadata.

    Example::

        reply = await client.chat.completions.create(model="m", messages=messages)
        print(reply.choices[0].message.content, reply.choices[0].finish_reason)
    """

    __slots__ = ()

    @property
    def choices(self) -> list[Choice]:
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
        # Built once: stream loops read chunk.choices several times per chunk.
        choices = self._choices
        if choices is None:
            choices = self._choices = list(map(ChunkChoice, self._data.get("choices") or ()))
        return choices
