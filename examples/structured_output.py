"""Structured output: the answer as a pydantic model, its partial object printed as it streams.

    pip install 'chatsdk[structured]'
    OPENAI_API_KEY=sk-... python examples/structured_output.py "Tell me about Paris."
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/structured_output.py  # chatsdk serve

``response_format=City`` sends City's JSON schema in strict mode. While the answer streams, each
``content.delta`` event carries ``parsed``, the object the JSON so far adds up to (a dict, from
jiter's partial mode), so a page can fill in fields as they arrive; ``content.done`` (and
``stream.final()``'s ``message.parsed``) give the validated ``City``. A refusal leaves
``parsed`` ``None``; JSON that does not validate raises ``chatsdk.OutputParseError``.

The local test server echoes text unless told otherwise; a test scripts a JSON reply with
``chatsdk.testing.serve(replies=['{"name": "Paris", ...}'])``.
"""

from __future__ import annotations

import os
import sys

import anyio
import pydantic

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")


class City(pydantic.BaseModel):
    name: str
    country: str
    population: int | None
    landmarks: list[str]


async def main(question: str) -> None:
    async with chatsdk.AsyncChatClient() as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": question}],
            response_format=City,
            stream=True,
        )
        async with stream:
            shown = None
            async for event in stream.events():
                if event.type == "content.delta" and event.parsed != shown:
                    shown = event.parsed
                    print("partial:", shown, flush=True)
                elif event.type == "content.done":
                    print(f"answer: {event.parsed!r}")  # the validated City
                elif event.type == "refusal.done":
                    print("refused:", event.refusal)


if __name__ == "__main__":
    try:
        anyio.run(main, " ".join(sys.argv[1:]) or "Tell me about Paris.")
    except chatsdk.OutputParseError as exc:
        sys.exit(f"the answer is not a City: {exc.message}")
