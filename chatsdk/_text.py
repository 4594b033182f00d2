"""``stream.text()``: choice 0's content deltas, read straight from each decoded chunk's JSON.

Example::

    async for piece in TextIterator(next_payload):   # next_payload: the stream's own reader
        print(piece, end="", flush=True)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["TextIterator"]


class TextIterator:
    """Content deltas of choice 0 as ``str``, empty ones skipped, until the stream ends."""

    __slots__ = ("_next_payload",)

    def __init__(self, next_payload: Callable[[], Awaitable[dict[str, Any] | None]]) -> None:
        self._next_payload = next_payload

    def __aiter__(self) -> TextIterator:
        return self

    async def __anext__(self) -> str:
        next_payload = self._next_payload
        while True:
            payload = await next_payload()
            if payload is None:
                raise StopAsyncIteration
            for choice in payload.get("choices") or ():
                if choice.get("index", 0) == 0:
                    delta = choice.get("delta")
                    if delta:
                        content = delta.get("content")
                        if content:
                            return str(content)
