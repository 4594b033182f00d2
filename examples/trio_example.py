"""The same client code under trio: chatsdk runs on anyio, so asyncio and trio both work.

Run it with::

    pip install trio
    OPENAI_API_KEY=sk-... python examples/trio_example.py
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/trio_example.py   # chatsdk serve
"""

from __future__ import annotations

import os

import trio

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")


async def main() -> None:
    async with chatsdk.AsyncChatClient() as client:
        reply = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hello from trio!"}]
        )
        print("buffered:", reply.choices[0].message.content)

        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Stream to trio, please."}],
            stream=True,
        )
        print("streamed: ", end="", flush=True)
        async with stream:
            async for text in stream.text():
                print(text, end="", flush=True)
        print()


if __name__ == "__main__":
    trio.run(main)
