"""Ask one question and print the whole answer once it has arrived.

Run it against any OpenAI-compatible API::

    OPENAI_API_KEY=sk-... python examples/buffered.py "What is an SSE stream?"

or against the local test server (no key, no network)::

    chatsdk serve --port 8000 &
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/buffered.py

The client reads OPENAI_API_KEY and OPENAI_BASE_URL itself; CHATSDK_MODEL picks the model.
"""

from __future__ import annotations

import os
import sys

import anyio

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")


async def main(question: str) -> None:
    async with chatsdk.AsyncChatClient() as client:
        reply = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": question}],
        )
    print(reply.choices[0].message.content)
    if reply.usage is not None:
        finish = reply.choices[0].finish_reason
        print(f"[{reply.usage.total_tokens} tokens, finish_reason={finish}]")


if __name__ == "__main__":
    anyio.run(main, " ".join(sys.argv[1:]) or "Say hello in five words.")
