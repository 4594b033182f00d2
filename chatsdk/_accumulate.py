"""Folding stream chunks into one ``chat.completion`` reply. Pure: dicts in, a dict out.

Example::

    acc = ChunkAccumulator()
    for payload in decoded_chunks:
        acc.add(payload)
    acc.result()["choices"][0]["message"]["content"]
"""

from __future__ import annotations

from typing import Any

from ._shapes import check_stream_chunk

__all__ = ["ChunkAccumulator"]

# Fields of a chunk that describe the chunk itself, not the reply they build.
_CHUNK_ONLY_FIELDS = frozenset({"choices", "object", "usage"})

# Delta fields whose pieces are concatenated, in the order they arrive.
_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")


class _ToolCallState:
    __slots__ = ("arguments", "fields", "function_fields")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.function_fields: dict[str, Any] = {}
        self.arguments: list[str] = []

    def add(self, delta: dict[str, Any]) -> None:
        for key, value in delta.items():
            if key == "index" or value is None or value == "":
                continue
            if key == "function":
                if isinstance(value, dict):
                    self._add_function(value)
            elif key not in self.fields:
                # id and type come once; servers that repeat them send the same value again.
                self.fields[key] = value

    def _add_function(self, function: dict[str, Any]) -> None:
        for key, value in function.items():
            if key == "arguments":
                if value:
                    self.arguments.append(value if isinstance(value, str) else str(value))
            elif value is not None and value != "" and key not in self.function_fields:
                self.function_fields[key] = value

    def result(self) -> dict[str, Any]:
        # As a buffered reply has it: no ``index``, which only places a stream's pieces.
        call: dict[str, Any] = {"id": self.fields.get("id", "")}
        call["type"] = self.fields.get("type", "function")
        call.update((k, v) for k, v in self.fields.items() if k not in call)
        function = {"name": self.function_fields.get("name", "")}
        function.update(self.function_fields)
        function["arguments"] = "".join(self.arguments)
        call["function"] = function
        return call


class _ChoiceState:
    __slots__ = ("content", "extra", "finish_reason", "logprobs", "role", "texts", "tool_calls")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] | None = None
        self.texts: dict[str, list[str]] = {}
        # Keyed by the index each piece names, never by position: calls numbered 1, 3 and 50000
        # are three calls, with nothing made up between them.
        self.tool_calls: dict[int, _ToolCallState] = {}
        self.finish_reason: str | None = None
        self.logprobs: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}

    def add_tool_calls(self, deltas: list[Any]) -> None:
        calls = self.tool_calls
        for delta in deltas:
            if not isinstance(delta, dict):
                continue
            index = delta.get("index")
            if type(index) is not int or index < 0:
                index = self._index_without_position(delta.get("id"))
            call = calls.get(index)
            if call is None:
                call = calls[index] = _ToolCallState()
            call.add(delta)

    def _index_without_position(self, call_id: Any) -> int:
        # A delta without an index continues the call it names by id, or else the latest call;
        # a new id starts a new call, numbered after the highest so far.
        calls = self.tool_calls
        if call_id:
            for index, call in calls.items():
                if call.fields.get("id") == call_id:
                    return index
            return max(calls) + 1 if calls else 0
        return next(reversed(calls)) if calls else 0

    def add_logprobs(self, logprobs: dict[str, Any]) -> None:
        if self.logprobs is None:
            self.logprobs = {}
        for key, value in logprobs.items():
            if isinstance(value, list):
                self.logprobs.setdefault(key, []).extend(value)
            else:
                self.logprobs[key] = value

    def result(self, index: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role or "assistant"}
        content = "".join(self.content) if self.content is not None else None
        if not content and (self.tool_calls or self.texts.get("refusal")):
            # A buffered reply's content is null when the answer is only tool calls or a
            # refusal; a stream opens with ``"content": ""`` either way.
            content = None
        message["content"] = content
        for field in _TEXT_FIELDS[1:]:
            pieces = self.texts.get(field)
            if pieces is not None:
                message[field] = "".join(pieces)
        # The API's reply schema requires refusal, null when there was none.
        message.setdefault("refusal", None)
        message.update(self.extra)
        if self.tool_calls:
            calls = self.tool_calls
            message["tool_calls"] = [calls[index].result() for index in sorted(calls)]
        return {
            "index": index,
            "message": message,
            "finish_reason": self.finish_reason,
            "logprobs": self.logprobs,
        }


class ChunkAccumulator:
    """Accumulates decoded chunks into a ``chat.completion`` dict.

    Choices are kept by ``index`` in whatever order they interleave; content, reasoning and refusal
    pieces are concatenated; tool-call pieces are merged by index with ``id`` and ``name`` taken
    once and ``arguments`` concatenated; usage is taken from a usage-only chunk or from a choice.
    """

    __slots__ = ("_choices", "_errored", "_fields", "_size", "_usage", "chunks", "has_output")

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._fields: dict[str, Any] = {}
        self._size = -1
        self._usage: Any = None
        self._errored = False
        self.chunks = 0  #: chunks folded in
        #: True once any chunk carried content, reasoning or a tool call: the point after which a
        #: broken stream can no longer be retried without repeating output.
        self.has_output = False

    @property
    def usage(self) -> Any:
        """The ``usage`` the server sent so far (its last), or ``None``."""
        return self._usage

    def add(self, chunk: dict[str, Any]) -> None:
        """Fold one decoded ``chat.completion.chunk`` object in.

        This is where a stream's chunk is checked (every chunk passes here before it is handed
        on): a field of the wrong type raises :class:`StreamError` of type ``invalid_data`` naming
        it. The ordinary chunk costs a few type tests of the fields read to fold it; any other is
        checked in full by :func:`._shapes.check_chunk`, once.
        """
        self.chunks += 1
        choices = chunk.get("choices")
        usage = chunk.get("usage")
        if (type(choices) is not list and choices is not None) or (
            usage is not None and type(usage) is not dict
        ):
            check_stream_chunk(chunk)  # raises
        if usage:
            self._usage = usage
            self._add_fields(chunk)
        elif len(chunk) != self._size:
            # The reply's fields (id, model, x_groq, ...) are read again only when the number of
            # fields changes, and with usage or a finish_reason: servers repeat the same values
            # in every chunk between.
            self._size = len(chunk)
            self._add_fields(chunk)
        if not choices:
            return
        checked = False
        for choice in choices:
            if type(choice) is not dict:
                check_stream_chunk(chunk)  # raises
            index = choice.get("index", 0)
            if type(index) is not int or index < 0:
                check_stream_chunk(chunk)  # reads a string of digits as the integer, or raises
                checked = True
                index = choice["index"]
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _ChoiceState()
            delta = choice.get("delta")
            if delta:
                if type(delta) is not dict:
                    check_stream_chunk(chunk)  # raises
                content = delta.get("content")
                if content and len(delta) == 1 and type(content) is str:
                    # The common case, a piece of content and nothing else, takes no loop.
                    if state.content is None:
                        state.content = [content]
                    else:
                        state.content.append(content)
                    self.has_output = True
                else:
                    if not checked:
                        check_stream_chunk(chunk)
                        checked = True
                    self._add_delta(state, delta)
            elif delta is not None and type(delta) is not dict:
                check_stream_chunk(chunk)  # raises
            finish_reason = choice.get("finish_reason")
            if finish_reason is not None:
                if type(finish_reason) is not str:
                    check_stream_chunk(chunk)  # raises
                state.finish_reason = finish_reason
                self._add_fields(chunk)
                if finish_reason == "error":
                    self._errored = True
            logprobs = choice.get("logprobs")
            if logprobs is not None:
                if type(logprobs) is not dict:
                    check_stream_chunk(chunk)  # raises
                if logprobs:
                    state.add_logprobs(logprobs)
            choice_usage = choice.get("usage")
            if choice_usage is not None:
                if type(choice_usage) is not dict:
                    check_stream_chunk(chunk)  # raises
                if choice_usage:
                    self._usage = choice_usage

    def _add_fields(self, chunk: dict[str, Any]) -> None:
        fields = self._fields
        for key, value in chunk.items():
            if value is not None and key not in _CHUNK_ONLY_FIELDS:
                fields[key] = value

    def _add_delta(self, state: _ChoiceState, delta: dict[str, Any]) -> None:
        texts = state.texts
        for key, value in delta.items():
            if value is None:
                continue
            if key == "content":
                if isinstance(value, str):
                    if state.content is None:
                        state.content = []
                    state.content.append(value)
                    if value:
                        self.has_output = True
                else:
                    state.extra[key] = value
            elif key in _TEXT_FIELDS:
                if isinstance(value, str):
                    texts.setdefault(key, []).append(value)
                    if value:
                        self.has_output = True
                else:
                    state.extra[key] = value
            elif key == "role":
                if state.role is None and value:
                    state.role = value
            elif key == "tool_calls":
                if value:
                    state.add_tool_calls(value)
                    self.has_output = True
            else:
                state.extra[key] = value

    @property
    def errored(self) -> bool:
        """True once a choice finished with ``finish_reason: "error"``."""
        return self._errored

    def is_complete(self) -> bool:
        """True when at least one choice was seen and every choice seen has a finish_reason."""
        return bool(self._choices) and all(
            state.finish_reason is not None for state in self._choices.values()
        )

    def text(self, index: int = 0) -> str:
        """The content received so far for choice ``index``."""
        state = self._choices.get(index)
        if state is None or state.content is None:
            return ""
        return "".join(state.content)

    def result(self) -> dict[str, Any]:
        """The accumulated reply as a ``chat.completion`` object."""
        reply: dict[str, Any] = {
            "id": self._fields.get("id", ""),
            "object": "chat.completion",
            "created": self._fields.get("created", 0),
            "model": self._fields.get("model", ""),
        }
        reply.update((k, v) for k, v in self._fields.items() if k not in reply)
        reply["choices"] = [self._choices[i].result(i) for i in sorted(self._choices)]
        if self._usage is not None:
            reply["usage"] = self._usage
        return reply
