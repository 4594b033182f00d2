"""Ask many questions at once, at most LIMIT in flight and RPM a minute, with an anyio task group.

    OPENAI_API_KEY=sk-... python examples/many_questions.py
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/many_questions.py   # chatsdk serve

One client is shared by every task (its connection pool is made for that); its
``max_concurrency`` bounds how many requests are open at the same time and its ``rate_limit``
how many are sent a minute, and after a 429 every task waits out the same cool-down (see
docs/rate-limits.md). Answers are printed in the order of the questions, whatever order they
finish in.
"""

from __future__ import annotations

import os

import anyio

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")
LIMIT = 4
RPM = 600  # ten a second: set it to your account's limit
QUESTIONS = [f"What is {n} squared?" for n in range(1, 11)]


async def main() -> None:
    answers: list[str | None] = [None] * len(QUESTIONS)
    rate_limit = chatsdk.RateLimit(requests_per_minute=RPM)

    async with chatsdk.AsyncChatClient(max_concurrency=LIMIT, rate_limit=rate_limit) as client:

        async def ask(index: int, question: str) -> None:
            reply = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": question}]
            )
            answers[index] = reply.choices[0].message.content

        async with anyio.create_task_group() as tg:
            for index, question in enumerate(QUESTIONS):
                tg.start_soon(ask, index, question)

    for question, answer in zip(QUESTIONS, answers, strict=True):
        print(f"{question} -> {answer}")


if __name__ == "__main__":
    anyio.run(main)
