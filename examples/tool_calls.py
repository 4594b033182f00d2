"""Tool calls: stream the call's arguments as they arrive, run the tool, send back its result.

    OPENAI_API_KEY=sk-... python examples/tool_calls.py
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/tool_calls.py   # chatsdk serve

The request offers a ``get_weather`` tool (``tools=[...]``). While the reply streams, each piece of
the arguments is printed; ``stream.final()`` then gives the whole reply with the pieces merged:
``choices[0].message.tool_calls[i].function.name`` and ``.arguments``. The tool's result goes back
as a ``role: "tool"`` message, and a second request gets the answer.

The local test server answers with text unless told otherwise; a test scripts it with
``chatsdk.testing.serve(replies=[ToolCallReply("get_weather", {"city": "Paris"}), "Sunny."])``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio

import chatsdk

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "sky": "sunny", "celsius": 21}


async def main() -> None:
    messages: list[chatsdk.MessageParam] = [
        {"role": "user", "content": "What is the weather like in Paris?"}
    ]
    async with chatsdk.AsyncChatClient() as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=messages, tools=TOOLS, stream=True
        )
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    for piece in choice.delta.tool_calls or ():
                        if piece.function is not None and piece.function.name:
                            print(f"calling {piece.function.name}: ", end="", flush=True)
                        if piece.function is not None and piece.function.arguments:
                            print(piece.function.arguments, end="", flush=True)
            reply = await stream.final()  # the whole reply, tool-call pieces merged
        message = reply.choices[0].message
        if not message.tool_calls:
            print("no tool call; the answer:", message.content)
            return
        print()

        messages.append(message)  # sent back as message.to_param()
        for call in message.tool_calls:
            assert call.function is not None and call.function.name == "get_weather"
            arguments = json.loads(call.function.arguments or "{}")
            result = get_weather(**arguments)
            print(f"{call.function.name}({arguments}) -> {result}")
            messages.append(
                {"role": "tool", "tool_call_id": call.id or "", "content": json.dumps(result)}
            )

        answer = await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        print("answer:", answer.choices[0].message.content)


if __name__ == "__main__":
    anyio.run(main)
