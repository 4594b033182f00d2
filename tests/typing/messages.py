"""Checked by mypy --strict in tests/test_typing.py: message params as a type checker sees them."""

from __future__ import annotations

from typing_extensions import assert_type

import chatsdk

SYSTEM: chatsdk.SystemMessageParam = {"role": "system", "content": "Answer in one word."}
DEVELOPER: chatsdk.DeveloperMessageParam = {"role": "developer", "content": "Be brief."}
USER_TEXT: chatsdk.UserMessageParam = {"role": "user", "content": "Hello!", "name": "ann"}
USER_PARTS: chatsdk.UserMessageParam = {
    "role": "user",
    "content": [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-abc123"}},
    ],
}
ASSISTANT: chatsdk.AssistantMessageParam = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ],
}
TOOL: chatsdk.ToolMessageParam = {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
PARTS: list[chatsdk.ContentPartParam] = [{"type": "text", "text": "Describe it."}]


async def conversation(client: chatsdk.AsyncChatClient) -> None:
    messages: list[chatsdk.MessageParam] = [SYSTEM, DEVELOPER, USER_TEXT, USER_PARTS]
    messages += [ASSISTANT, TOOL, {"role": "user", "content": PARTS}]
    reply = await client.chat.completions.create(model="m", messages=messages)
    message = reply.choices[0].message
    messages.append(message)  # a reply's message goes back in as it is
    messages.append(message.to_param())
    assert_type(message.to_param(), chatsdk.AssistantMessageParam)
    assert_type(reply.request_id, str | None)
    assert_type(reply.attempts, int)
    stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
    async with stream:
        final = await stream.final()
    messages.append(final.choices[0].message)
    # Inline literals are checked against the role types without an annotation.
    await client.chat.completions.create(
        model="m",
        messages=[
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "Hi"},
        ],
    )
