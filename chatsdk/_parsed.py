"""Replies to a structured-output request: each message's answer parsed as the format asked.

Pure, no I/O. A :class:`ParsedChatCompletion` is a :class:`ChatCompletion` that also holds, for
each choice, the answer decoded as JSON or validated as the pydantic model given as
``response_format``; the JSON the server sent is untouched (``to_dict()`` has no parsed values).

Example::

    reply = await client.chat.completions.create(
        model="m", messages=messages, response_format=Answer
    )
    answer: Answer | None = reply.choices[0].message.parsed
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from ._models import ChatCompletion, ChatCompletionMessage, Choice
from ._structured import OutputFormat

__all__ = [
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedT",
    "parse_completion",
]

ParsedT = TypeVar("ParsedT")


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[ParsedT]):
    """A message whose content was parsed: ``parsed`` is the answer as the format asked.

    Example::

        message = reply.choices[0].message
        if message.parsed is None:
            print("refused:", message.refusal)
        else:
            print(message.parsed.answer)
    """

    __slots__ = ("_parsed",)

    def __init__(self, data: dict[str, Any], parsed: ParsedT | None) -> None:
        self._data = data
        self._parsed = parsed

    @property
    def parsed(self) -> ParsedT | None:
        """The answer: an instance of the pydantic model, or decoded JSON for a schema given as
        a mapping; ``None`` when the model refused (``refusal`` says why)."""
        return self._parsed


class ParsedChoice(Choice, Generic[ParsedT]):
    """One answer of a :class:`ParsedChatCompletion`; its ``message`` has ``parsed``.

    Example::

        for choice in reply.choices:
            print(choice.index, choice.message.parsed)
    """

    __slots__ = ("_parsed",)

    def __init__(self, data: dict[str, Any], parsed: ParsedT | None) -> None:
        self._data = data
        self._parsed = parsed

    @property
    def message(self) -> ParsedChatCompletionMessage[ParsedT]:
        """The answer, with ``parsed``."""
        return ParsedChatCompletionMessage(self._data.get("message") or {}, self._parsed)


class ParsedChatCompletion(ChatCompletion, Generic[ParsedT]):
    """The reply to a request with ``response_format=``: every choice's message has ``parsed``.

    Returned by ``create(..., response_format=Model)`` and by ``stream.final()`` of such a
    stream; ``parsed`` is typed as ``Model``. Content that does not parse or validate raised
    :class:`OutputParseError` before this was made.

    Example::

        class Answer(pydantic.BaseModel):
            answer: int

        reply = await client.chat.completions.create(
            model="m", messages=messages, response_format=Answer
        )
        print(reply.choices[0].message.parsed)   # Answer(answer=4)
    """

    __slots__ = ("_parsed",)

    def __init__(
        self,
        data: dict[str, Any],
        parsed: list[ParsedT | None],
        *,
        request_id: str | None = None,
        attempts: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(data, request_id=request_id, attempts=attempts, headers=headers)
        self._parsed = parsed

    @property
    def choices(self) -> list[ParsedChoice[ParsedT]]:  # type: ignore[override]
        """The answers, each with its parsed message."""
        choices = self._data.get("choices") or ()
        return [
            ParsedChoice(data, parsed) for data, parsed in zip(choices, self._parsed, strict=True)
        ]


def parse_completion(reply: ChatCompletion, fmt: OutputFormat) -> ParsedChatCompletion[Any]:
    """The reply with each choice's answer parsed; raises :class:`OutputParseError`."""
    payload = reply._data
    parsed: list[Any] = []
    for choice in payload.get("choices") or ():
        message = choice.get("message") or {}
        if message.get("content") is None and message.get("tool_calls"):
            parsed.append(None)  # a turn that calls tools has no answer yet
            continue
        parsed.append(
            fmt.parse(message.get("content"), choice.get("finish_reason"), message.get("refusal"))
        )
    return ParsedChatCompletion(
        payload,
        parsed,
        request_id=reply.request_id,
        attempts=reply.attempts,
        headers=reply.headers,
    )
