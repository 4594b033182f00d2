"""Ask many questions at once, at most LIMIT in flight, with an anyio task group.

    OPENAI_API_KEY=sk-... python examples/many_questions.py
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/many_questions.py   # chatsdk serve

One client is shared by every task (its connection pool is made for that); a
``CapacityLimiter`` bounds how many requests are open at the same time. Answers are printed in
the order of the questions, whatever order they finish in.
"""

from __future__ import annotations

import os

import anyio

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")
LIMIT = 4
QUESTIONS = [f"What is {n} squared?" for n in range(1, 11)]


async def main() -> None:
    answers: list[str | None] = [None] * len(QUESTIONS)
    limiter = anyio.CapacityLimiter(LIMIT)

    async with chatsdk.AsyncChatClient() as client:

        async def ask(index: int, question: str) -> None:
            async with limiter:
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
