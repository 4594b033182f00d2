"""A tool loop: the model calls Python functions, chatsdk runs them and sends back the results.

    pip install 'chatsdk[structured]'
    OPENAI_API_KEY=sk-... python examples/tool_calls.py "Weather in Paris and Oslo?"
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/tool_calls.py   # chatsdk serve

``client.chat.completions.stream_tools(tools=[get_weather, add])`` sends the functions as strict
tool definitions (built from their signatures and docstrings), runs the calls the model asks for
(several at once), sends their results back and asks again, until the model answers. The script
prints each call as its arguments complete, each tool's result, and the answer as it streams.

The local test server answers with text unless told otherwise; a test scripts it with
``chatsdk.testing.serve(replies=[Reply(tool_calls=[ToolCallReply("get_weather", ...)]), ...])``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Literal

import anyio
import pydantic

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")


async def get_weather(
    city: Annotated[str, pydantic.Field(description="The city, e.g. Paris")],
    unit: Literal["celsius", "fahrenheit"] = "celsius",
) -> dict[str, object]:
    """The current weather in a city."""
    return {"city": city, "sky": "sunny", "temperature": 21 if unit == "celsius" else 70}


def add(a: float, b: float) -> float:
    """Add two numbers (a plain function: it runs in a worker thread)."""
    return a + b


async def main(question: str) -> None:
    messages: list[chatsdk.MessageParam] = [{"role": "user", "content": question}]
    async with chatsdk.AsyncChatClient() as client:
        async with client.chat.completions.stream_tools(
            model=MODEL, messages=messages, tools=[get_weather, add], max_rounds=4
        ) as run:
            async for event in run:
                if event.type == "tool_calls.function.arguments.done":
                    print(f"calling {event.name}({event.arguments})")
                elif event.type == "tool.result":
                    print(f"{event.name} -> {event.result}")
                elif event.type == "content.delta":
                    print(event.delta, end="", flush=True)
                elif event.type == "content.done":
                    print()
        print(f"[{run.rounds} requests, {len(run.messages)} messages in the conversation]")


if __name__ == "__main__":
    anyio.run(main, " ".join(sys.argv[1:]) or "What is the weather like in Paris?")
