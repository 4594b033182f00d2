"""What the local server answers: reply objects, reply sources and the token rule."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ECHO_PREFIX",
    "Reply",
    "ReplyLike",
    "RepliesExhausted",
    "ReplySource",
    "ReplySpec",
    "ToolCallReply",
    "count_tokens",
    "echo_reply",
    "read_replies",
    "split_pieces",
]

ECHO_PREFIX = "(chatsdk local test server) You said: "
"""How the default reply begins: it says plainly where it comes from, so that nobody mistakes a
test run for a model. The last user message follows it.

Example::

    async with chatsdk.testing.serve() as server, server.client() as client:
        reply = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello"}]
        )
        assert reply.choices[0].message.content == ECHO_PREFIX + "hello"
"""

# Ideographs, kana, hangul, full-width forms and the CJK extension planes: scripts written without
# spaces. Each such character is its own piece, so CJK text streams in several chunks too.
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f"
# A piece is a word with its leading whitespace, or one CJK character with its leading whitespace;
# trailing whitespace is a piece of its own. Joining the pieces gives back the text exactly.
_PIECE = re.compile(rf"\s*(?:[{_CJK}]|[^\s{_CJK}]+)|\s+")


def split_pieces(text: str) -> list[str]:
    """Split *text* into stream pieces; ``"".join(split_pieces(t)) == t`` always holds.

    >>> split_pieces("Hello big world")
    ['Hello', ' big', ' world']
    >>> split_pieces("你好 🙂")
    ['你', '好', ' 🙂']
    """
    return _PIECE.findall(text)


def count_tokens(text: str) -> int:
    """The server's token rule: one token per piece of :func:`split_pieces`.

    >>> count_tokens("Hello big world")
    3
    """
    return len(split_pieces(text))


@dataclass(frozen=True)
class ToolCallReply:
    """A reply that calls a function tool instead of answering with text.

    ``arguments`` may be a JSON string or a mapping (encoded with ``json.dumps``); ``id`` is
    made up when not given.

    Example::

        ToolCallReply("get_weather", {"city": "Paris"})
        ToolCallReply("get_weather", '{"city": "Paris"}', id="call_1")
    """

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """``arguments`` as the JSON text the server sends."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass(frozen=True)
class Reply:
    """A full reply: optional reasoning (DeepSeek-style ``reasoning_content``), text, tool calls.

    ``Reply("hi")`` is the same as the plain string ``"hi"``. With tool calls and no content the
    message's ``content`` is ``null``.

    Example::

        Reply(reasoning_content="Let me think.", content="42")
        Reply(tool_calls=[ToolCallReply("add", {"a": 1, "b": 2})])
    """

    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: Sequence[ToolCallReply] = field(default_factory=tuple)


ReplyLike = str | Reply | ToolCallReply | Mapping[str, Any]
"""One reply: a string, a :class:`Reply`, a :class:`ToolCallReply`, or a dict spelling either of
the last two (``{"name", "arguments"[, "id"]}`` is a tool call; ``{"content",
"reasoning_content", "tool_calls"}`` is a Reply).

Example::

    replies: list[ReplyLike] = [
        "Hello!",
        Reply(reasoning_content="2 + 2 = 4", content="4"),
        ToolCallReply("add", {"a": 2, "b": 2}),
        {"name": "add", "arguments": '{"a": 2, "b": 2}'},
    ]
"""
ReplyFunction = Callable[[list[Any]], ReplyLike | Awaitable[ReplyLike]]
ReplySpec = (
    str | Reply | ToolCallReply | Sequence[ReplyLike] | Iterator[ReplyLike] | ReplyFunction | None
)
"""What ``serve(replies=...)`` accepts: ``None`` (echo), one reply used for every request, a list
consumed in order, any iterator (e.g. ``itertools.cycle``) or a function of the messages, plain
or async, that returns a reply.

Example::

    serve(replies="Same answer every time")
    serve(replies=["First answer", "Second answer"])
    serve(replies=itertools.cycle(["yes", "no"]))
    serve(replies=lambda messages: f"You sent {len(messages)} messages")
"""


class RepliesExhausted(Exception):
    """Raised inside the server when a scripted list of replies has run out."""


def to_reply(item: ReplyLike) -> Reply:
    """Normalise one reply item into a :class:`Reply`."""
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return Reply(content=item)
    if isinstance(item, ToolCallReply):
        return Reply(tool_calls=(item,))
    if isinstance(item, Mapping):
        if "name" in item:
            return Reply(tool_calls=(_tool_call_from_mapping(item),))
        calls = tuple(
            c if isinstance(c, ToolCallReply) else _tool_call_from_mapping(c)
            for c in item.get("tool_calls") or ()
        )
        return Reply(
            content=item.get("content"),
            reasoning_content=item.get("reasoning_content"),
            tool_calls=calls,
        )
    raise TypeError(f"cannot use {type(item).__name__} as a reply; use str, Reply or ToolCallReply")


def read_replies(path: str) -> list[Reply]:
    """The replies of a JSONL file (``chatsdk serve --replies``): one :data:`ReplyLike` a line,
    as JSON; ``ValueError`` names the first bad line."""
    replies: list[Reply] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                replies.append(to_reply(json.loads(line)))
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"line {number} is not a reply ({exc})") from None
    if not replies:
        raise ValueError("no replies in the file")
    return replies


def _tool_call_from_mapping(m: Mapping[str, Any]) -> ToolCallReply:
    return ToolCallReply(name=m["name"], arguments=m.get("arguments", "{}"), id=m.get("id"))


def message_text(message: Any) -> str:
    """The text of a request message: string content, or the text parts of a content list."""
    if not isinstance(message, Mapping):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


def echo_reply(messages: list[Any]) -> str:
    """The default reply: the last user message, announced as coming from the test server."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return ECHO_PREFIX + message_text(message)
    return "(chatsdk local test server) No user message received."


class ReplySource:
    """Turns a :data:`ReplySpec` into one :class:`Reply` per request (called on the server loop)."""

    def __init__(self, spec: ReplySpec = None) -> None:
        self._function: ReplyFunction | None = None
        self._iterator: Iterator[ReplyLike] | None = None
        self._fixed: Reply | None = None
        self._given = 0
        self._served = 0
        if spec is None:
            self._function = echo_reply
        elif isinstance(spec, (str, Reply, ToolCallReply)):
            self._fixed = to_reply(spec)
        elif isinstance(spec, Mapping):
            self._fixed = to_reply(spec)
        elif isinstance(spec, Sequence):
            items = [to_reply(i) for i in spec]  # fail early on a bad item
            self._given = len(items)
            self._iterator = iter(items)
        elif isinstance(spec, Iterator):
            self._given = -1
            self._iterator = spec
        elif callable(spec):
            self._function = spec
        elif isinstance(spec, Iterable):
            items = [to_reply(i) for i in spec]
            self._given = len(items)
            self._iterator = iter(items)
        else:
            raise TypeError(f"unsupported replies: {spec!r}")

    async def next(self, messages: list[Any]) -> Reply:
        self._served += 1
        if self._fixed is not None:
            return self._fixed
        if self._iterator is not None:
            try:
                return to_reply(next(self._iterator))
            except StopIteration:
                given = "the iterator" if self._given < 0 else f"{self._given} given"
                raise RepliesExhausted(
                    f"chatsdk.testing: the scripted replies are exhausted ({given}; this is "
                    f"reply {self._served}). Pass more replies, or itertools.cycle([...]) to "
                    "repeat them."
                ) from None
        assert self._function is not None
        result = self._function(messages)
        if inspect.isawaitable(result):
            result = await result
        return to_reply(result)
