"""Print an answer token by token as it streams in, with ``stream.text()``.

    OPENAI_API_KEY=sk-... python examples/streaming.py "Write a haiku about rivers."
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/streaming.py   # chatsdk serve

``async with stream`` closes the connection however the loop ends: at the end of the answer, on
``break``, on an error or on cancellation.
"""

from __future__ import annotations

import os
import sys

import anyio

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")


async def main(question: str) -> None:
    async with chatsdk.AsyncChatClient() as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": question}],
            stream=True,
        )
        async with stream:
            async for text in stream.text():
                print(text, end="", flush=True)
        print()


if __name__ == "__main__":
    anyio.run(main, " ".join(sys.argv[1:]) or "Count from one to ten in words.")
