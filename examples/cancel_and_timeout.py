"""Stopping a stream early, cancelling it from outside, and bounding a call with ``deadline=``.

    OPENAI_API_KEY=sk-... python examples/cancel_and_timeout.py
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/cancel_and_timeout.py   # chatsdk serve

Each way of stopping ends in ``async with stream``, which closes the HTTP response, so the
connection goes back to the pool (or is closed) instead of leaking:

1. ``break`` out of the loop after a few pieces;
2. ``anyio.move_on_after`` (any cancel scope works the same) cancels the reading;
3. ``deadline=`` bounds the whole call, stream included, and raises ``APITimeoutError`` with what
   arrived in ``partial_text``; ``timeout=`` bounds connecting and each wait for data.
"""

from __future__ import annotations

import os

import anyio

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")
QUESTION = "Tell me a long story about a lighthouse keeper, in at least three hundred words."
MESSAGES: list[chatsdk.MessageParam] = [{"role": "user", "content": QUESTION}]
CANCEL_AFTER = 0.5  # seconds
DEADLINE = 1.0  # seconds


async def main() -> None:
    async with chatsdk.AsyncChatClient() as client:
        # 1. Stop reading when you have enough.
        pieces: list[str] = []
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            async for text in stream.text():
                pieces.append(text)
                if len(pieces) == 3:
                    break
        print(f"1. break: kept {''.join(pieces)!r}; released: {stream.response.is_closed}")

        # 2. Cancel from outside with a cancel scope.
        pieces = []
        opened: chatsdk.AsyncChatStream | None = None
        with anyio.move_on_after(CANCEL_AFTER) as scope:
            opened = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True
            )
            async with opened:
                async for text in opened.text():
                    pieces.append(text)
        outcome = "cancelled" if scope.cancelled_caught else "finished first"
        released = opened is None or opened.response.is_closed
        print(
            f"2. move_on_after({CANCEL_AFTER}): {outcome} after {len(pieces)} pieces; "
            f"released: {released}"
        )

        # 3. A deadline for the whole call; timeout= bounds each wait for the server.
        opened = None
        try:
            opened = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, deadline=DEADLINE, timeout=10.0
            )
            async with opened:
                async for _ in opened.text():
                    pass
            print(f"3. deadline={DEADLINE}: the answer finished in time")
        except chatsdk.APITimeoutError as exc:
            released = opened is None or opened.response.is_closed
            print(
                f"3. deadline={DEADLINE}: {type(exc).__name__}: {exc.message} "
                f"(kept {len(exc.partial_text)} characters); released: {released}"
            )


if __name__ == "__main__":
    anyio.run(main)
