"""The shape of what a server sent, checked once where it is received. Pure, no I/O.

A chunk or a whole reply is decoded JSON, and a broken or hostile server can put anything in it:
``choices`` as a string, a ``delta`` that is a list, an ``index`` of ``"0"``, ``null`` or ``-1``.
:func:`check_chunk` and :func:`check_completion` look at every field that chatsdk itself reads (the
choices, their index, delta or message, content and the other texts, tool calls, finish reason,
logprobs and usage) and raise :class:`ShapeError` naming the first one that is wrong, e.g.
``choices[0].delta``, so that a bad reply fails here with a clear message instead of later as an
``AttributeError`` in the middle of a loop. Fields nobody reads are passed on as they came.

Two repairs are made in place, where the intent is plain: an index sent as a string of digits
becomes the integer, and ``content`` sent as a list of parts (``[{"type": "text", "text": "Hi"}]``,
as several servers do) becomes the text of those parts joined, a ``refusal`` part going to
``refusal``; parts of other kinds (an image, say) carry no text and are left out of it.

A stream's chunks are checked where each is folded into the reply
(:meth:`~chatsdk._accumulate.ChunkAccumulator.add`, which every chunk passes before it is handed
on): the ordinary chunk costs a few ``type(x) is ...`` tests of the fields the fold reads anyway,
and anything else is checked here in full, once. A whole reply is checked when it is decoded.

Example::

    check_chunk({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})   # fine
    check_chunk({"choices": [{"index": 0, "delta": "Hi"}]})
    # ShapeError: choices[0].delta is the string 'Hi' where an object or null belongs
"""

from __future__ import annotations

from typing import Any

from . import _json
from ._exceptions import StreamError

__all__ = ["ShapeError", "check_chunk", "check_completion", "check_stream_chunk", "chunk_error"]

# Delta and message fields that hold text: a string or null, nothing else.
_TEXT_FIELDS = ("reasoning_content", "reasoning", "refusal", "role")

# An index sent as text is read only up to this many digits: no choice or tool call is numbered
# past 10**18, and converting a longer string costs time for nothing.
_MAX_INDEX_DIGITS = 18


class ShapeError(ValueError):
    """A field of a reply or chunk has the wrong type; ``field`` names it (``choices[0].delta``)."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        super().__init__(f"{field} is {_kind(value)} where {expected} belongs")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) is str:
        return f"the string {_json.quote(value)}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if type(value) is list:
        return "a list"
    if type(value) is dict:
        return "an object"
    return f"a {type(value).__name__}"


def check_chunk(chunk: dict[str, Any]) -> None:
    """Check a ``chat.completion.chunk``'s fields; :class:`ShapeError` names the first bad one."""
    choices = chunk.get("choices")
    if choices is not None:  # a usage chunk may send null
        _check_choices(choices, "delta")
    _check_usage(chunk)


def check_stream_chunk(chunk: dict[str, Any]) -> None:
    """:func:`check_chunk`, a bad field raised as the :class:`StreamError` a stream raises."""
    try:
        check_chunk(chunk)
    except ShapeError as exc:
        raise chunk_error(exc, chunk) from None


def chunk_error(exc: ShapeError, chunk: object) -> StreamError:
    """The ``StreamError`` of type and code ``invalid_data`` for a chunk with a bad field."""
    return StreamError(
        f"The server sent a chunk that cannot be read: {exc}.",
        type="invalid_data",
        code="invalid_data",
        param=exc.field,
        body=chunk,
    )


def check_completion(reply: dict[str, Any]) -> None:
    """Check a whole ``chat.completion``'s fields; :class:`ShapeError` names the first bad one."""
    _check_choices(reply.get("choices"), "message")
    _check_usage(reply)


def _check_choices(choices: object, body: str) -> None:
    """Choices whose ``body`` is a chunk's ``delta`` or a reply's ``message``."""
    if type(choices) is not list:
        raise ShapeError("choices", choices, "a list")
    for position, choice in enumerate(choices):
        path = f"choices[{position}]"
        if type(choice) is not dict:
            raise ShapeError(path, choice, "an object")
        index = choice.get("index", 0)
        if type(index) is not int or index < 0:
            choice["index"] = _index(index, f"{path}.index")
        message = choice.get(body)
        if type(message) is dict:
            _check_message(message, f"{path}.{body}")
        elif message is not None:
            raise ShapeError(f"{path}.{body}", message, "an object or null")
        finish_reason = choice.get("finish_reason")
        if finish_reason is not None and type(finish_reason) is not str:
            raise ShapeError(f"{path}.finish_reason", finish_reason, "a string or null")
        _check_choice_extras(choice, path)


def _check_usage(reply: dict[str, Any]) -> None:
    usage = reply.get("usage")
    if usage is not None and type(usage) is not dict:
        raise ShapeError("usage", usage, "an object or null")


def _check_choice_extras(choice: dict[str, Any], path: str) -> None:
    for name in ("logprobs", "usage"):
        value = choice.get(name)
        if value is not None and type(value) is not dict:
            raise ShapeError(f"{path}.{name}", value, "an object or null")


def _index(value: object, field: str) -> int:
    """An index that is not a plain integer >= 0: the integer a string of digits spells."""
    if (
        type(value) is str
        and 0 < len(value) <= _MAX_INDEX_DIGITS
        and value.isascii()
        and value.isdigit()
    ):
        return int(value)
    raise ShapeError(field, value, "an integer >= 0")


def _check_message(message: dict[str, Any], path: str) -> None:
    """A delta or a message: its texts, content and tool calls."""
    content = message.get("content")
    if content is not None and type(content) is not str:
        if type(content) is not list:
            raise ShapeError(f"{path}.content", content, "a string, null or a list of parts")
        message["content"] = _join_parts(message, content, f"{path}.content")
    for name in _TEXT_FIELDS:
        value = message.get(name)
        if value is not None and type(value) is not str:
            raise ShapeError(f"{path}.{name}", value, "a string or null")
    calls = message.get("tool_calls")
    if calls is not None:
        if type(calls) is not list:
            raise ShapeError(f"{path}.tool_calls", calls, "a list or null")
        for position, call in enumerate(calls):
            _check_tool_call(call, f"{path}.tool_calls[{position}]")


def _join_parts(message: dict[str, Any], parts: list[Any], path: str) -> str:
    texts: list[str] = []
    refusals: list[str] = []
    for position, part in enumerate(parts):
        if type(part) is not dict:
            raise ShapeError(f"{path}[{position}]", part, "a content part object")
        for name, pieces in (("text", texts), ("refusal", refusals)):
            value = part.get(name)
            if type(value) is str:
                pieces.append(value)
            elif value is not None:
                raise ShapeError(f"{path}[{position}].{name}", value, "a string")
    if refusals and message.get("refusal") is None:
        message["refusal"] = "".join(refusals)
    return "".join(texts)


def _check_tool_call(call: object, path: str) -> None:
    if type(call) is not dict:
        raise ShapeError(path, call, "an object")
    index = call.get("index")
    if index is not None and (type(index) is not int or index < 0):
        call["index"] = _index(index, f"{path}.index")
    for name in ("id", "type"):
        value = call.get(name)
        if value is not None and type(value) is not str:
            raise ShapeError(f"{path}.{name}", value, "a string or null")
    function = call.get("function")
    if function is None:
        return
    if type(function) is not dict:
        raise ShapeError(f"{path}.function", function, "an object or null")
    function_name = function.get("name")
    if function_name is not None and type(function_name) is not str:
        raise ShapeError(f"{path}.function.name", function_name, "a string or null")
    arguments = function.get("arguments")
    if arguments is not None and type(arguments) is not str:
        if type(arguments) is not dict:
            raise ShapeError(f"{path}.function.arguments", arguments, "a string or null")
        # Some servers send the arguments as an object instead of its JSON text: the text is
        # what the API promises and what a stream's pieces concatenate.
        function["arguments"] = _json.dumps(arguments)
